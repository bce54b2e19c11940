"""Thread pools: one context manager that limits them and always restores them.

Small problems (a few thousand customers) gain nothing from several BLAS or OpenMP threads, and on a
busy machine threads that spin while waiting for a descheduled sibling make them many times slower
(measured in ``benchmarks/bench_contention.py``). Model code that runs many small fits wraps them in
:func:`thread_limits`; nothing in the package changes a thread pool for the rest of the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def thread_limits(n_threads: int = 1, user_api: str | None = None) -> Iterator[None]:
    """Limit the BLAS and/or OpenMP thread pools to ``n_threads`` inside the ``with`` block, restoring
    the previous limits on exit (also on an exception).

    ``user_api``: ``"blas"``, ``"openmp"`` or ``None`` (both). Uses ``threadpoolctl.threadpool_limits``
    (https://github.com/joblib/threadpoolctl), which only sees libraries already loaded: numpy's and
    scipy's BLAS are loaded here; scikit-learn's OpenMP runtime is loaded when ``user_api`` includes
    OpenMP. Raises ``ValueError`` for ``n_threads < 1`` or an unknown ``user_api``.
    """
    if int(n_threads) < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}")
    if user_api not in (None, "blas", "openmp"):
        raise ValueError(f"user_api must be 'blas', 'openmp' or None, not {user_api!r}")
    import scipy.linalg  # noqa: F401  - loads scipy's BLAS so that it is limited too

    if user_api in (None, "openmp"):
        import sklearn.ensemble  # noqa: F401  - loads scikit-learn's OpenMP runtime
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n_threads), user_api=user_api):
        yield
