"""Engines: time and peak memory of the transaction-level tables, as ratios measured in one run.

What is timed (one fresh process per measurement, so each peak RSS is its own):
the cleaning report, the customer summary (segmentation + BTYD) and the cohort counts, from the
source file to pandas tables, on

1. The Complete Journey: the pandas path (clean_transactions + customer_summary + cohort_retention on
   the validated table) against the DuckDB path (the same tables from its canonical parquet).
   Goal: DuckDB at most 1.5x the pandas time.
2. The synthetic log (make bigdata): DuckDB on 10 M and on 100 M lines. Goals: 100 M in at most 60 s
   and 4 GB peak RSS on the 2-core reference machine; 10 M -> 100 M at most 12x the time.
3. With --spark: Spark local[2] on the 10 M log (time reported; parity, not speed, is its goal here).

    .venv/bin/python benchmarks/bench_engines.py                 # 1, and 2 when data/big exists
    .venv/bin/python benchmarks/bench_engines.py --spark         # + 3
    .venv/bin/python benchmarks/bench_engines.py --big data/big --ten data/big10m

The 10 M log is written next to the 100 M one (``<big>10m``) the first time. The load average is
printed with every measurement: other work on the machine slows every number, ratios less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES_BIG = {"exclude_departments": ["FUEL"], "max_quantity": 1000}


def _one(kind: str, path: str, engine: str) -> dict:
    """Run one measurement in this process; returns seconds per stage and peak RSS."""
    import pandas as pd

    out: dict = {"kind": kind, "engine": engine}
    t0 = time.perf_counter()
    if kind == "cj":
        from retention_utils.data.datasets import load_config, load_dataset

        cfg = load_config("complete_journey")
        ds = load_dataset(cfg)
        p = cfg["parameters"]
        start, end, rules, products = p["OBSERVATION_START"], p["OBSERVATION_END"], cfg["cleaning"], ds.products
        tx = ds.transactions
        t0 = time.perf_counter()  # loading is common to both paths and not timed
    else:
        import json as _json

        manifest = _json.loads((Path(path) / "manifest.json").read_text())
        start, end, rules = manifest["start"], manifest["end"], RULES_BIG
    if engine == "pandas":
        from retention_utils.data.cleaning import clean_transactions
        from retention_utils.tables import cohorts, summary

        clean, report = clean_transactions(tx, products, rules, start, end)
        t1 = time.perf_counter()
        s = summary.customer_summary(clean, end)
        c = cohorts.cohort_retention(clean, "M")
    else:
        from retention_utils import engines as E
        from retention_utils.engines import tables as T

        eng = E.connect(engine, threads=2, memory_limit="3GB" if engine == "duckdb" else "4g")
        if kind == "cj":
            log = E.read_log(eng, path, products)
        else:
            log = E.read_log(eng, Path(path) / "transactions", Path(path) / "products.parquet")
        stages = E.Stages()
        cl = E.clean(log, rules, start, end, stages=stages)
        report = cl.report
        t1 = time.perf_counter()
        s = T.customer_summary(cl, end)
        c = T.cohort_retention(cl, "M")
        out["stages"] = {k: round(v, 2) for k, v in stages.seconds.items()}
        eng.close()
    t2 = time.perf_counter()
    out.update(
        seconds=round(t2 - t0, 2), clean_seconds=round(t1 - t0, 2), tables_seconds=round(t2 - t1, 2),
        rows_in=report.rows_in, customers=len(s), cohorts=len(c.sizes), reconciles=report.reconciles(),
        peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        loadavg=round(os.getloadavg()[0], 2),
    )
    del pd
    return out


def _measure(kind: str, path: str, engine: str) -> dict:
    cmd = [sys.executable, __file__, "--one", kind, path, engine]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    r = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  {kind:>5} {engine:>6}: {r['seconds']:7.1f} s (clean {r['clean_seconds']:.1f}, tables {r['tables_seconds']:.1f}); "
          f"peak RSS {r['peak_rss_gb']:.2f} GB; {r['rows_in']:,} lines, {r['customers']:,} customers; "
          f"load average {r['loadavg']}", flush=True)
    if "stages" in r:
        print("         stages: " + ", ".join(f"{k} {v}" for k, v in r["stages"].items()), flush=True)
    return r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=3, metavar=("KIND", "PATH", "ENGINE"), help=argparse.SUPPRESS)
    ap.add_argument("--big", default=str(ROOT / "data" / "big"), help="the 100 M-line log (make bigdata)")
    ap.add_argument("--ten", default=None, help="the 10 M-line log (default: <big>10m, written if missing)")
    ap.add_argument("--spark", action="store_true", help="also time Spark local[2] on the 10 M log")
    ap.add_argument("--skip-cj", action="store_true")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(*args.one)))
        return 0
    print(f"engines benchmark (2 threads; load average now {os.getloadavg()[0]:.2f})")
    if not args.skip_cj:
        from retention_utils import schema as S
        from retention_utils.data.datasets import load_dataset

        tmp = Path(tempfile.mkdtemp(prefix="bench-engines-"))
        tx = load_dataset("complete_journey").transactions
        cj = tmp / "complete_journey.parquet"
        tx.assign(**{S.ORDER_TS: tx[S.ORDER_TS].astype("datetime64[us]")}).to_parquet(cj, index=False)
        print("The Complete Journey (1.47 M lines): cleaning report + customer summary + cohort counts")
        pandas_r = _measure("cj", str(cj), "pandas")
        duck_r = _measure("cj", str(cj), "duckdb")
        ratio = duck_r["seconds"] / pandas_r["seconds"]
        print(f"  DuckDB / pandas time: {ratio:.2f}x (goal <= 1.5x): {'met' if ratio <= 1.5 else 'NOT met'}")
    big = Path(args.big)
    if not (big / "manifest.json").exists():
        print(f"no synthetic log at {big}: run `make bigdata` (100 M lines) for the scale benchmark")
        return 0
    n_big = json.loads((big / "manifest.json").read_text())["n_lines"]
    ten = Path(args.ten) if args.ten else big.with_name(big.name + "10m")
    if not (ten / "manifest.json").exists():
        from retention_utils.data.synthetic import write_synthetic_log

        print(f"writing the 10 M-line log to {ten} ...", flush=True)
        write_synthetic_log(ten, 10_000_000, seed=42)
    n_ten = json.loads((ten / "manifest.json").read_text())["n_lines"]
    print(f"Synthetic log, DuckDB: {n_ten:,} and {n_big:,} lines")
    r10 = _measure("synth", str(ten), "duckdb")
    r100 = _measure("synth", str(big), "duckdb")
    growth = r100["seconds"] / r10["seconds"]
    print(f"  {n_big / 1e6:.0f} M lines: {r100['seconds']:.1f} s (goal <= 60 s: {'met' if r100['seconds'] <= 60 else 'NOT met'}), "
          f"peak RSS {r100['peak_rss_gb']:.2f} GB (goal <= 4 GB: {'met' if r100['peak_rss_gb'] <= 4 else 'NOT met'})")
    print(f"  10 M -> {n_big / 1e6:.0f} M time: {growth:.1f}x (goal <= 12x: {'met' if growth <= 12 else 'NOT met'})")
    if args.spark:
        print("Spark local[2], 10 M lines")
        _measure("synth", str(ten), "spark")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
