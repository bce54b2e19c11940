"""Wall time of each notebook on a dataset through the report runner, next to the time of loading and
cleaning that dataset measured in the same run (the ratio says how much a notebook adds to its data).

    python benchmarks/bench_notebooks.py [--dataset complete_journey] [--notebooks 02 03] [--target 60]

Prints one row per notebook: seconds, ratio to load+clean, and whether it is under the target (seconds;
the issues ask < 60 s for 02/03, < 90 s for 04 on this 2-core machine). Not a test: numbers depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from retention_utils.data.cleaning import load_clean
from retention_utils.data.datasets import load_config
from retention_utils.reports import run_reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="complete_journey")
    ap.add_argument("--notebooks", nargs="*", default=None)
    ap.add_argument("--target", type=float, default=60.0, help="seconds per notebook")
    args = ap.parse_args(argv)

    cfg = load_config(args.dataset)
    p = cfg.get("parameters", {})
    t0 = time.perf_counter()
    load_clean(args.dataset, p.get("OBSERVATION_START"), p.get("OBSERVATION_END"))
    ref = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        res = run_reports(args.dataset, args.notebooks, output_dir=Path(out), log=sys.stderr)
    print(f"load + clean {cfg['name']}: {ref:.1f} s (reference)")
    print(f"{'notebook':32s} {'seconds':>8s} {'x load+clean':>13s}  under {args.target:.0f} s")
    worst = True
    for r in res.runs:
        ok = r.status == "ok" and r.seconds < args.target
        worst &= ok
        print(f"{r.name:32s} {r.seconds:8.1f} {r.seconds / ref:13.1f}  {'yes' if ok else 'NO'}"
              + ("" if r.status == "ok" else f" ({r.status}: {r.error})"))
    return 0 if worst else 1


if __name__ == "__main__":
    sys.exit(main())
