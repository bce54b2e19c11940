"""Percentile bootstrap intervals of a mean over users (households), shared by the metrics and the
evaluation protocol of :mod:`retention_utils.recommend` (re-exported by
:mod:`retention_utils.recommend.metrics`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .ranking import _check_k

__all__ = ["BootstrapCI", "bootstrap_ci", "bootstrap_cis", "resample_counts", "resample_indices"]


class BootstrapCI(NamedTuple):
    """Percentile bootstrap interval returned by :func:`bootstrap_ci`."""

    estimate: float  # mean of the (non-NaN) input values
    low: float  # alpha/2 quantile of the bootstrap means
    high: float  # 1 - alpha/2 quantile of the bootstrap means
    n: int  # number of non-NaN values resampled
    n_boot: int
    alpha: float


# --------------------------------------------------------------------------------------
def resample_indices(n: int, n_boot: int, seed: int | None) -> list[tuple[int, np.ndarray]]:
    """Resampled indices in blocks ``(first resample, indices of shape (resamples, n))``."""
    rng = np.random.default_rng(seed)
    step = max(1, min(n_boot, (1 << 22) // n))  # bounded memory; depends only on n
    return [(b0, rng.integers(0, n, size=(min(n_boot, b0 + step) - b0, n))) for b0 in range(0, n_boot, step)]


def bootstrap_ci(
    per_user_values: Any,
    n_boot: int = 1000,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Percentile bootstrap confidence interval of the mean over users (Efron & Tibshirani 1993).

    Parameters
    ----------
    per_user_values : 1-D array-like or Series of numbers / bools
        One value per user, e.g. ``per_user_metrics(...)["ndcg"]``. NaN values (users for which
        the metric is undefined, such as ``repeat_recall``) are dropped first.
    n_boot : int
        Number of bootstrap resamples (positive).
    seed : int or None
        Seed of the ``numpy.random.default_rng`` generator; a fixed seed makes the result
        deterministic.
    alpha : float
        Two-sided level in (0, 1): the interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles
        of the resampled means.

    Returns
    -------
    BootstrapCI
        ``(estimate, low, high, n, n_boot, alpha)``; all NaN bounds if there is no value.

    Raises
    ------
    ValueError
        Not 1-D, non-numeric, bad ``n_boot`` or ``alpha``.
    """
    values = np.asarray(per_user_values)
    if values.ndim != 1:
        raise ValueError(f"per_user_values must be 1-D, got shape {values.shape}")
    if values.dtype == object or not (
        np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_)
    ):
        raise ValueError(f"per_user_values must be numeric, got dtype {values.dtype}")
    n_boot = _check_boot(n_boot, alpha)
    values = values.astype(np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        nan = float("nan")
        return BootstrapCI(nan, nan, nan, 0, n_boot, float(alpha))
    means = np.empty(n_boot, dtype=np.float64)
    for b0, idx in resample_indices(n, n_boot, seed):
        means[b0 : b0 + len(idx)] = values[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(float(values.mean()), float(low), float(high), n, n_boot, float(alpha))


def resample_counts(n: int, n_boot: int = 1000, seed: int | None = 0) -> np.ndarray:
    """How often each of ``n`` values is drawn in each resample of :func:`resample_indices`, shape
    (n_boot, n), float64 (integer counts): the same resamples as :func:`bootstrap_ci` with this seed."""
    out = np.empty((int(n_boot), int(n)))
    for b0, idx in resample_indices(int(n), int(n_boot), seed):
        rows = np.repeat(np.arange(len(idx)), n) * n
        out[b0 : b0 + len(idx)] = np.bincount(rows + idx.ravel(), minlength=len(idx) * n).reshape(len(idx), n)
    return out


def _check_boot(n_boot: Any, alpha: Any) -> int:
    """``n_boot`` as an int (positive) after checking ``alpha`` is a number in (0, 1)."""
    if isinstance(alpha, bool) or not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return _check_k(n_boot, "n_boot")


def bootstrap_cis(
    values: np.ndarray, n_boot: int = 1000, seed: int | None = 0, alpha: float = 0.05, counts: np.ndarray | None = None
) -> list[BootstrapCI]:
    """:func:`bootstrap_ci` of every column of ``values`` (shape (n, m), numeric, no NaN) at once, on
    the same resamples: the resampled means are one matrix product ``counts @ values / n`` with
    ``counts`` from :func:`resample_counts` (pass it to reuse it across calls). Equal to
    :func:`bootstrap_ci` per column up to floating-point rounding of the sums (about 1e-16 relative).
    Raises ``ValueError`` for NaN values, a non-2-D input or a ``counts`` of the wrong shape."""
    n_boot = _check_boot(n_boot, alpha)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be 2-D (values x columns), got shape {v.shape}")
    if np.isnan(v).any():
        raise ValueError("bootstrap_cis: values contain NaN; use bootstrap_ci per column (it drops them)")
    n = v.shape[0]
    if n == 0:
        nan = float("nan")
        return [BootstrapCI(nan, nan, nan, 0, int(n_boot), float(alpha))] * v.shape[1]
    w = resample_counts(n, n_boot, seed) if counts is None else counts
    if w.shape != (int(n_boot), n):
        raise ValueError(f"counts has shape {w.shape}, expected {(int(n_boot), n)}")
    means = (w @ v) / n
    q = np.quantile(means, [alpha / 2, 1 - alpha / 2], axis=0)
    return [
        BootstrapCI(float(v[:, j].mean()), float(q[0, j]), float(q[1, j]), n, int(n_boot), float(alpha))
        for j in range(v.shape[1])
    ]
