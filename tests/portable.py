"""The notebook tests under a matrix of BLAS kernels and thread counts (``make test-portable``).

The stored notebook outputs must pass nbval (with the tolerances of
``retention_utils.reports.nbcheck``) whatever the machine's CPU, OpenBLAS kernel and thread count.
On one machine the kernel can be forced with ``OPENBLAS_CORETYPE`` and the threads with
``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``; this script runs the notebook tests once per
combination of the default kernel and a second one with 2 and 1 threads, prints the kernel and thread
count that threadpoolctl reports in each (so a run that did not really switch kernels shows it), and
exits non-zero if any combination fails. The second kernel is ``Haswell``, or ``SandyBridge`` where
the machine's own is Haswell already (OpenBLAS picks Haswell on AMD Zen, so forcing it changed nothing). Extra arguments go to pytest (e.g. ``notebooks/01_eda.ipynb``
to run one notebook; default: every notebook).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matrix(own_kernel: str) -> list[tuple[str, dict[str, str]]]:
    """The combinations: the machine's kernel and a second one, each with 2 and 1 threads."""
    second = "SandyBridge" if own_kernel.lower() == "haswell" else "Haswell"
    out = []
    for kernel in (None, second):
        for n in ("2", "1"):
            env = {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, **({"OPENBLAS_CORETYPE": kernel} if kernel else {})}
            out.append((f"{kernel or 'default'} kernel, {n} thread{'s' if n != '1' else ''}", env))
    return out

PROBE = (
    "import numpy, scipy.linalg, threadpoolctl\n"
    "info = [i for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas']\n"
    "print('; '.join(sorted({f\"{i['prefix']} {i.get('architecture')} x{i['num_threads']}\" for i in info})))\n"
)
OWN = (
    "import numpy, scipy.linalg, threadpoolctl\n"
    "print(next((i.get('architecture') or '' for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas'), ''))\n"
)


def main(argv: list[str]) -> int:
    targets = [a for a in argv if not a.startswith("-")] or ["notebooks"]
    options = [a for a in argv if a.startswith("-")]
    failed = []
    own = subprocess.run([sys.executable, "-c", OWN], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    combos = matrix(own)
    for label, env_extra in combos:
        env = dict(os.environ)  # the machine's own OPENBLAS_* settings stay as they are
        env.update(env_extra)
        probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, cwd=ROOT)
        print(f"== {label}: threadpoolctl reports {probe.stdout.strip() or probe.stderr.strip()}", flush=True)
        cmd = [sys.executable, "-m", "pytest", *targets, "--nbval", "--nbval-current-env",
               "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-p", "no:cacheprovider", "-q", *options]
        code = subprocess.run(cmd, env=env, cwd=ROOT).returncode
        print(f"== {label}: {'passed' if code == 0 else f'FAILED (exit {code})'}", flush=True)
        if code != 0:
            failed.append(label)
    if failed:
        print(f"FAILED under: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(combos)} combinations passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
