"""How much a busy machine slows each notebook: wall time quiet, and with one competing CPU-bound
process (``python -c "while True: pass"``), measured in one run; the ratio is the result.

    python benchmarks/bench_contention.py [--dataset complete_journey] [--notebooks 03 04] [--limit 3]

Thread pools that spin while waiting for a descheduled sibling (OpenMP barriers in k-means and
gradient boosting, multi-threaded BLAS on small matrices) once made notebook 03 twenty times slower with
one other process running; the package now runs its many small fits on one thread
(``retention_utils.runtime.thread_limits``). Goal: every ratio at most ``--limit`` (3). Exits 1 if a
notebook fails or exceeds it. Not a test: absolute times depend on the machine; each notebook is run
quiet and busy back to back so both see the same machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from retention_utils.data.datasets import load_config
from retention_utils.reports import resolve_parameters, run_notebook, select_notebooks
from retention_utils.reports.runner import NOTEBOOK_DIR


def _params(cfg: dict, nb: Path) -> dict:
    p = {**(cfg.get("parameters") or {}), **((cfg.get("notebooks") or {}).get(nb.stem) or {}), "DATASET": cfg["name"]}
    return resolve_parameters(nb, p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="complete_journey")
    ap.add_argument("--notebooks", nargs="*", default=None)
    ap.add_argument("--limit", type=float, default=3.0)
    args = ap.parse_args(argv)
    cfg = load_config(args.dataset)
    print(f"machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f}")
    print(f"{'notebook':32s} {'quiet s':>8s} {'busy s':>8s} {'ratio':>6s}")
    ok = True
    with tempfile.TemporaryDirectory() as out:
        for nb in select_notebooks(cfg, args.notebooks, NOTEBOOK_DIR):
            params = _params(cfg, nb)
            quiet = run_notebook(nb, Path(out) / "quiet", params)
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                busy = run_notebook(nb, Path(out) / "busy", params)
            finally:
                hog.kill()
                hog.wait()
            ratio = busy.seconds / quiet.seconds if quiet.seconds else float("nan")
            good = quiet.status == busy.status == "ok" and ratio <= args.limit
            ok &= good
            print(f"{nb.stem:32s} {quiet.seconds:8.1f} {busy.seconds:8.1f} {ratio:6.2f}"
                  + ("" if good else f"  <- {'over the limit' if quiet.status == busy.status == 'ok' else busy.error or quiet.error}"),
                  flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
