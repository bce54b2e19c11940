"""Command line: the transaction-level tables of a dataset config on an engine.

    python -m retention_utils.engines run --dataset big --engine duckdb --output-dir /tmp/big-tables
    spark-submit --master spark://host:7077 .venv/lib/python3.11/site-packages/.../retention_utils/engines/__main__.py \\
        run --dataset /path/to/configs/big.yaml --engine spark --output-dir /shared/big-tables
    python -m retention_utils.engines check       # which engines can run here (Java for Spark)

``run`` prints the stage log and the cleaning report, and with ``--output-dir`` writes
``cleaning_report.csv``, ``customer_summary.parquet`` (customer ids replaced by keyed pseudonyms, see
:mod:`retention_utils.privacy`), ``cohort_active.csv`` and ``btyd_triples.csv``.
Under ``spark-submit`` the session spark-submit made is used as it is (``--master`` comes from
spark-submit). Absolute imports only, so the file also runs as a script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m retention_utils.engines")
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="clean and build the customer tables of a dataset on an engine")
    run.add_argument("--dataset", required=True, help="config name (configs/NAME.yaml) or a YAML path")
    run.add_argument("--engine", choices=["pandas", "duckdb", "spark"], default=None,
                     help="default: the config's engine: key, else chosen by the source's size")
    run.add_argument("--output-dir", default=None)
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--memory-limit", default="3GB")
    run.add_argument("--master", default=None, help="Spark master URL (not needed under spark-submit)")
    run.add_argument("--time-unit", default="days", choices=["days", "weeks"])
    run.add_argument("--calibration-end", default=None)
    sub.add_parser("check", help="which engines can run on this machine")
    args = ap.parse_args(argv)

    from retention_utils import engines as E
    from retention_utils.privacy import PrivacyError

    try:
        return _run(args, E)
    except (ValueError, FileNotFoundError, LookupError, TypeError, PrivacyError, E.EngineError) as err:
        first = str(err).strip() or type(err).__name__
        print(f"error: {first}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, E) -> int:  # noqa: N803 - the engines package, imported once in main()
    if args.cmd == "check":
        reason = E.spark_unavailable_reason()
        spark = f"available (Java {E.java_version()})" if reason is None else reason
        print(f"duckdb: available; spark: {spark}")
        return 0
    kwargs: dict = {"threads": args.threads, "memory_limit": args.memory_limit}
    if args.engine == "spark":
        import os

        if args.master:
            kwargs["master"] = args.master
        elif "SPARK_ENV_LOADED" in os.environ:  # under spark-submit: its session, its --master
            from pyspark.sql import SparkSession

            kwargs = {"session": SparkSession.builder.getOrCreate()}
    from retention_utils.data.datasets import load_config
    from retention_utils.privacy import MIN_CELL, complementary_cells, pseudonym_key, pseudonymise

    cfg = load_config(args.dataset)
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, not {args.threads}")
    import re

    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)", str(args.memory_limit).strip(), flags=re.I):
        raise ValueError(f"--memory-limit {args.memory_limit!r} is not a size such as 3GB or 512MB")
    if args.output_dir:
        if Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
            raise ValueError(f"--output-dir {args.output_dir} is a file, not a folder")
        key = pseudonym_key(cfg)  # before any work: a shop's data without a key stops here
    res = E.customer_tables(cfg, engine=args.engine, time_unit=args.time_unit,
                            calibration_end=args.calibration_end, progress=True, connect_kwargs=kwargs)
    print(res.report.summary())
    print(f"customers: {len(res.summary):,}; engine {res.engine}; stages (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in res.seconds.items()))
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        res.report.to_frame().to_csv(out / "cleaning_report.csv", float_format="%.10g")
        summary = res.summary.copy()
        summary.index = pd_index(pseudonymise(summary.index.to_series(), key))
        summary.to_parquet(out / "customer_summary.parquet")
        active = res.cohorts.active.copy()
        sizes = res.cohorts.sizes.reindex(active.index).fillna(0)
        # a cohort of fewer than MIN_CELL customers is a small cell; a lone one gets a complement (the
        # customer count is printed above, so its size would be that count less the others)
        small = complementary_cells(sizes < MIN_CELL, sizes)
        active.loc[small] = float("nan")
        active.insert(0, "cohort_size", res.cohorts.sizes.reindex(active.index).where(~small))
        active.to_csv(out / "cohort_active.csv", float_format="%.10g")
        if small.any():
            print(f"cohort_active.csv: {int(small.sum())} cohort(s) left empty (under {MIN_CELL} customers, or the "
                  "smallest other cohort when one alone was)")
        res.btyd_triples.to_csv(out / "btyd_triples.csv", index=False, float_format="%.10g")
        print(f"wrote {out}/")
    return 0


def pd_index(values):
    import pandas as pd

    return pd.Index(values.to_numpy(), name="customer")


if __name__ == "__main__":
    sys.exit(main())
