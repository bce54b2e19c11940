"""Benchmark: wall time of notebook 04 (repurchase prediction) against loading + cleaning its data.

Run:  python benchmarks/bench_prediction.py [--dataset complete_journey] [--per-cell]

Executes ``notebooks/04_repurchase_prediction.ipynb`` with its default parameters (papermill's engine,
nbclient, in a fresh kernel; nothing is written to the repository except the risk-score CSV the
notebook writes to ``reports/``) and, in the same process and run, times
``retention_utils.data.cleaning.load_clean`` alone. Prints both wall times and their ratio: the notebook's
cost in units of "loading the data once", which moves less with a busy or slow machine than seconds do.
The issue's target for The Complete Journey is a notebook under 90 s on the 2-core reference machine.
``--per-cell`` also prints the slowest cells.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOTEBOOK = ROOT / "notebooks" / "04_repurchase_prediction.ipynb"


def time_load(dataset: str, start: str, end: str) -> float:
    from retention_utils.data.cleaning import load_clean

    t0 = time.perf_counter()
    load_clean(dataset, start, end)
    return time.perf_counter() - t0


def time_notebook(parameters: dict) -> tuple[float, list[tuple[float, int, str]]]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    # inject the parameters after the parameters cell, as papermill does
    src = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell("import datetime\n" + src))
    client = NotebookClient(nb, kernel_name="python3", timeout=1800, record_timing=True,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    t0 = time.perf_counter()
    client.execute()
    total = time.perf_counter() - t0
    cells = []
    for i, c in enumerate(nb.cells):
        tm = c.metadata.get("execution", {})
        if c.cell_type == "code" and "iopub.execute_input" in tm and "shell.execute_reply" in tm:
            from datetime import datetime

            a = datetime.fromisoformat(tm["iopub.execute_input"].replace("Z", "+00:00"))
            b = datetime.fromisoformat(tm["shell.execute_reply"].replace("Z", "+00:00"))
            cells.append(((b - a).total_seconds(), i, c.source.splitlines()[0][:70]))
    return total, sorted(cells, reverse=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="complete_journey")
    parser.add_argument("--per-cell", action="store_true")
    args = parser.parse_args(argv)

    from retention_utils.data.datasets import load_config

    cfg = load_config(args.dataset)
    params = {**(cfg.get("parameters") or {}), **((cfg.get("notebooks") or {}).get(NOTEBOOK.stem) or {})}
    params["DATASET"] = args.dataset  # values injected with repr(): a date becomes datetime.date(...)
    start = params.get("OBSERVATION_START")
    end = params.get("OBSERVATION_END")

    load_s = time_load(args.dataset, start, end)
    nb_s, cells = time_notebook(params)
    print(f"dataset {args.dataset}: load_clean {load_s:.1f} s; notebook 04 {nb_s:.1f} s "
          f"(ratio {nb_s / load_s:.1f}x load_clean; target < 90 s on the 2-core reference machine)")
    if args.per_cell:
        for sec, i, first in cells[:8]:
            print(f"  cell {i:2d}: {sec:6.1f} s  {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
