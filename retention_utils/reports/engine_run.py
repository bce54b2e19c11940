"""The report runner on a log that outgrows memory: the transaction-level tables on an engine.

``make reports DATASET=big ENGINE=duckdb`` (or ``reports run --engine duckdb``): when the engine is not
pandas (:func:`retention_utils.engines.choose_engine`: the ``--engine`` option, else the config's
``engine:``, else DuckDB when the source would not fit in memory), the runner does not load the log
into pandas. It computes every transaction-level table once on the engine
(:func:`retention_utils.engines.customer_tables`: validation, cleaning with its reconciled report,
customer summaries, calibration/holdout split, cohorts, basket statistics, BTYD triples), prints the
stage log, writes the tables as parquet under ``<out>/tables/`` and a page ``engine_tables.html``, and
lists each notebook as *skipped* with its reason: the config's ``skip_notebooks:`` reason, or, for a
notebook not yet ported to these tables, that it reads every line with pandas. Nothing is lost
silently: the index shows every notebook and why it did not run.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .. import formatting as F
from .html import PAGE_CSS

#: reason given for a notebook that the config does not name in ``skip_notebooks:``
NOT_PORTED = ("reads every line with pandas (load_clean), which a log this size does not fit; its transaction-level "
              "tables are in engine_tables.html and tables/*.parquet")


def _first(resolved: Mapping[Path, Mapping[str, Any]], name: str, default: Any) -> Any:
    for params in resolved.values():
        if name in params and params[name] is not None:
            return params[name]
    return default


def engine_tables_run(cfg: Mapping[str, Any], engine: str, resolved: Mapping[Path, Mapping[str, Any]],
                      out_dir: Path, log: Any) -> tuple[Any, dict[str, Any]]:
    """Compute the tables on ``engine``, write ``tables/*.parquet`` and ``engine_tables.html`` into
    ``out_dir``; returns ``(tables, records)`` (:class:`retention_utils.engines.CustomerTables` and the
    headline numbers for the index). The calibration split uses the ``CALIBRATION_END`` and
    ``TIME_UNIT`` the selected notebooks declare (06), cohorts their ``COHORT_PERIOD`` (01)."""
    from ..engines import customer_tables

    t0 = time.perf_counter()
    print(f"[engine] {engine}: transaction-level tables of {cfg['name']} ...", file=log, flush=True)
    tables = customer_tables(dict(cfg), engine=engine, time_unit=_first(resolved, "TIME_UNIT", "days"),
                             calibration_end=_first(resolved, "CALIBRATION_END", None),
                             cohort_period=_first(resolved, "COHORT_PERIOD", "M"), progress=True)
    folder = out_dir / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    tables.summary.to_parquet(folder / "customer_summary.parquet")
    tables.cohorts.retention.set_axis(tables.cohorts.retention.columns.astype(str), axis=1).to_parquet(folder / "cohort_retention.parquet")
    tables.btyd_triples.to_parquet(folder / "btyd_triples.parquet")
    tables.basket_statistics.to_parquet(folder / "basket_statistics.parquet")
    if tables.calibration is not None:
        tables.calibration.summary.to_parquet(folder / "calibration_holdout.parquet")
    rep = tables.report
    records = {"engine": engine, "lines_in": int(rep.rows_in), "lines_kept": int(rep.rows_kept),
               "customers": int(len(tables.summary)), "revenue_kept": float(rep.revenue_kept),
               "repeat_customers": int((tables.summary["frequency"] > 0).sum()),
               "distinct_btyd_triples": int(len(tables.btyd_triples)), "seconds": round(time.perf_counter() - t0, 1)}
    sections = [
        ("Cleaning report", f"<pre>{html.escape(rep.summary())}</pre>"),
        ("Overview", F.table(tables.overview.to_frame("value")).to_html()),
        ("Basket statistics", F.table(tables.basket_statistics).to_html()),
        ("Cohort retention (share of each cohort active, by period since acquisition)",
         F.table(tables.cohorts.retention, decimals=3).to_html()),
        ("Stages (seconds)", F.table(pd.Series(tables.seconds, name="seconds").to_frame(), decimals=1).to_html()),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>{b}" for h, b in sections)
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(str(cfg.get('title', cfg['name'])))}: "
            f"engine tables</title>{PAGE_CSS}</head><body style='font-family: system-ui, sans-serif; margin: 2rem'>"
            f"<h1>Transaction-level tables on {html.escape(engine)}</h1><p>{records['lines_in']:,} lines in, "
            f"{records['lines_kept']:,} kept, {records['customers']:,} customers; tables written to <code>tables/</code> "
            f"as parquet.</p>{body}</body></html>")
    (out_dir / "engine_tables.html").write_text(page, encoding="utf-8")
    print(f"[engine] {engine}: tables written to {folder} in {records['seconds']:.1f} s", file=log, flush=True)
    return tables, records


def skipped_reason(cfg: Mapping[str, Any], name: str) -> str:
    """Why a notebook does not run on an engine: the config's ``skip_notebooks:`` reason, else
    :data:`NOT_PORTED`."""
    return str((cfg.get("skip_notebooks") or {}).get(name) or NOT_PORTED)


def skipped_notebooks(cfg: Mapping[str, Any], paths: Sequence[Path]) -> dict[str, str]:
    """Notebook stem -> reason, for every selected notebook and every notebook the config names in
    ``skip_notebooks:`` (none runs in pandas on an engine yet), in notebook order."""
    names = sorted({p.stem for p in paths} | set(cfg.get("skip_notebooks") or {}))
    return {n: skipped_reason(cfg, n) for n in names}
