"""The transaction-level tables on DuckDB and Spark: one definition (Ibis), exact parity with pandas.

When the log outgrows memory, what must scale is the work on lines: validation counts, cleaning with
its reconciled report, the customer summaries (segmentation and BTYD conventions), the
calibration/holdout split, cohort counts, basket statistics and the item counts behind item-kNN. This
package computes them on an engine and brings only customer-level tables (millions of rows at most)
back to pandas, where the models run as before.

Why Ibis: one expression API compiled to DuckDB SQL (embedded, out of core on parquet, 2 threads and
a memory limit on this machine) and to Spark SQL (a cluster, or ``local[2]`` in the tests), so each
table is written once (:mod:`.clean`, :mod:`.tables`); what differs between the backends (three
function names, reading a file's row positions, materialising) is in :mod:`.backend`. pandas stays
the engine for the bundled datasets: :func:`choose_engine` picks an engine only when the config says
so or the source is larger than about a third of the free memory.

Entry points
------------
``customer_tables(dataset, engine=...)``
    What the report runner calls: every table the notebooks that run at scale need, for a config.
``connect`` / ``read_log`` / ``clean`` / ``tables.*``
    The pieces, for your own pipeline (see the README, "When your data outgrows memory").
``python -m retention_utils.engines run --dataset big --engine duckdb --output-dir DIR``
    The same job from the command line; ``spark-submit .../retention_utils/engines/__main__.py run
    --engine spark ...`` on a cluster.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import schema as S
from ..data.cleaning import CleaningReport
from ..tables.cohorts import CohortTable
from ..tables.summary import CalibrationHoldout
from .backend import ENGINES, Engine, EngineError, connect, java_version, spark_unavailable_reason
from .clean import CleanLog, Stages, TransactionLog, clean, read_log

__all__ = [
    "ENGINES",
    "CleanLog",
    "CustomerTables",
    "Engine",
    "EngineError",
    "Stages",
    "TransactionLog",
    "choose_engine",
    "clean",
    "connect",
    "customer_tables",
    "java_version",
    "open_log",
    "read_log",
    "spark_unavailable_reason",
]

MEMORY_SHARE = 1 / 3  # a source larger than this share of the free memory (x the in-memory blow-up) -> duckdb
_PANDAS_BLOWUP = 8.0  # bytes in pandas per byte of parquet (ids as Python str, datetime64, float64)


def _source_bytes(cfg: dict[str, Any]) -> int | None:
    src = cfg.get("source") or {}
    if src.get("kind") != "file" or "path" not in src:
        return None
    p = Path(os.path.expandvars(os.path.expanduser(str(src["path"]))))
    if not p.is_absolute():
        p = Path(cfg.get("_path", ".")).parent / p
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size if p.is_file() else None


def _free_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unreadable: assume 8 GB
        return 8 << 30


def choose_engine(cfg: dict[str, Any], engine: str | None = None) -> str:
    """``"pandas"``, ``"duckdb"`` or ``"spark"`` for a dataset config.

    ``engine`` (e.g. the runner's ``ENGINE=``) wins; then the config's ``engine:`` key; then
    ``"duckdb"`` when the source file(s) would take more than :data:`MEMORY_SHARE` of the free memory
    in pandas (parquet/CSV bytes x 8); else ``"pandas"`` (the bundled datasets).
    Raises ``ValueError`` for an unknown name.
    """
    choice = engine or cfg.get("engine")
    if choice is not None:
        if choice not in ("pandas", *ENGINES):
            raise ValueError(f"engine must be 'pandas', 'duckdb' or 'spark', not {choice!r}")
        return str(choice)
    size = _source_bytes(cfg)
    if size is not None and size * _PANDAS_BLOWUP > MEMORY_SHARE * _free_memory():
        return "duckdb"
    return "pandas"


def open_log(cfg: dict[str, Any], eng: Engine) -> TransactionLog:
    """A dataset config's source on an engine. A ``file`` source with parquet is read by the engine
    directly (out of core); other sources (the bundled datasets, CSV) are loaded by pandas first.
    Column mappings (``columns:``) are applied by the pandas loader only: give an engine parquet in the
    canonical layout (``make bigdata`` writes it so)."""
    from ..data.datasets import _load_attribute_file, load_dataset

    src = dict(cfg.get("source") or {})
    base = Path(cfg.get("_path", ".")).parent

    def resolve(p: str) -> Path:
        q = Path(os.path.expandvars(os.path.expanduser(str(p))))
        return q if q.is_absolute() else (base / q).resolve()

    path = resolve(src["path"]) if src.get("kind") == "file" and "path" in src else None
    parquet = path is not None and (path.is_dir() or path.suffix.lower() in {".parquet", ".pq"})
    if parquet and not src.get("columns"):
        products = None
        if src.get("products"):
            products = _load_attribute_file(resolve(src["products"]), S.PRODUCT_ID, src.get("product_columns"), base)
        return read_log(eng, path, products)
    ds = load_dataset(cfg)
    return read_log(eng, ds.transactions, ds.products)


@dataclass
class CustomerTables:
    """What :func:`customer_tables` computed (customer-level or smaller; all pandas).

    Attributes
    ----------
    engine : the engine used (``"pandas"``, ``"duckdb"``, ``"spark"``).
    report : the :class:`~retention_utils.data.cleaning.CleaningReport` (``row_reason`` is ``None`` on
        an engine).
    summary : :func:`retention_utils.tables.summary.customer_summary` to the window's end.
    calibration : :class:`~retention_utils.tables.summary.CalibrationHoldout` when ``calibration_end``
        was given.
    cohorts : :class:`~retention_utils.tables.cohorts.CohortTable` (``cohort_period``).
    overview, basket_statistics, inter_purchase, activity, department_mix : the EDA tables of
        :mod:`retention_utils.engines.tables` (``department_mix`` ``None`` without products).
    btyd_triples : distinct (frequency, recency, T) with counts, for the BTYD fits (``time_unit``).
    seconds : stage -> seconds (the stage log).
    skipped : notebook -> reason, from the config's ``skip_notebooks:``.
    """

    engine: str
    report: CleaningReport
    summary: pd.DataFrame
    cohorts: CohortTable
    overview: pd.Series
    basket_statistics: pd.DataFrame
    inter_purchase: pd.Series
    activity: pd.DataFrame
    department_mix: pd.DataFrame | None
    btyd_triples: pd.DataFrame
    calibration: CalibrationHoldout | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def customer_tables(
    dataset: str | dict[str, Any],
    engine: str | None = None,
    start: S.DateLike | None = None,
    end: S.DateLike | None = None,
    time_unit: str = "days",
    calibration_end: S.DateLike | None = None,
    holdout_end: S.DateLike | None = None,
    cohort_period: str = "M",
    activity_period: str = "W",
    progress: bool = False,
    connect_kwargs: dict[str, Any] | None = None,
) -> CustomerTables:
    """Every transaction-level table the at-scale notebooks need, for a dataset config: the runner's
    single call for ``make reports DATASET=big ENGINE=duckdb``.

    Parameters
    ----------
    dataset : config name, YAML path or config dict.
    engine : ``"pandas"``, ``"duckdb"``, ``"spark"``, or ``None`` for :func:`choose_engine`.
    start, end : the observation window (default: the config's ``OBSERVATION_START`` / ``_END``).
    time_unit : BTYD time unit (``"days"`` / ``"weeks"``).
    calibration_end : when given, the calibration/holdout split at ``calibration_end + 1 day``
        (holdout to ``holdout_end``, default the data's last day).
    cohort_period, activity_period : ``"M"``/``"W"`` and ``"D"``/``"W"``/``"M"``.
    progress : print the stage log to stderr (``[engine] stage: 3.2 s``).
    connect_kwargs : passed to :func:`connect` (``threads``, ``memory_limit``, ``master``, ``session``...).

    Raises
    ------
    ValueError : no line left after cleaning (as :func:`retention_utils.data.cleaning.load_clean`),
        bad parameters; ``EngineError`` when the engine cannot start (e.g. Spark without Java 17+).
    """
    from ..data.datasets import load_config

    cfg = dataset if isinstance(dataset, dict) else load_config(dataset)
    params = cfg.get("parameters") or {}
    start = params.get("OBSERVATION_START") if start is None else start
    end = params.get("OBSERVATION_END") if end is None else end
    # every date is parsed before the engine starts (the one date rule: schema.to_day)
    start, end, holdout_end = (None if v is None else S.to_day(v, n)
                               for v, n in ((start, "start"), (end, "end"), (holdout_end, "holdout_end")))
    name = choose_engine(cfg, engine)
    stages = Stages(verbose=progress)
    skipped = dict(cfg.get("skip_notebooks") or {})
    cutoff = None if calibration_end is None else S.to_day(calibration_end, "calibration_end") + S.DAY
    if name == "pandas":
        return _pandas_tables(cfg, start, end, time_unit, cutoff, holdout_end, cohort_period, activity_period,
                              stages, skipped)
    from . import tables as T

    with connect(name, **(connect_kwargs or {})) as eng:
        with stages("read the source"):
            log = open_log(cfg, eng)
        cl = clean(log, cfg.get("cleaning"), start, end, stages=stages)
        if cl.report.rows_kept == 0:
            raise ValueError(f"dataset {cfg.get('name')!r}: no line is left after cleaning (window {start} .. {end}); "
                             f"{cl.report.main_cause()}:\n"
                             + cl.report.summary())
        with stages("customer summary"):
            summary = T.customer_summary(cl, end, time_unit)
        calibration = None
        if cutoff is not None:
            with stages("calibration/holdout split"):
                calibration = T.calibration_holdout_split(cl, cutoff, holdout_end, time_unit)
        with stages("cohort counts"):
            cohorts = T.cohort_retention(cl, cohort_period)
        with stages("basket statistics and activity"):
            overview = T.overview(cl)
            baskets = T.basket_statistics(cl)
            gaps = T.inter_purchase_histogram(cl)
            activity = T.activity_by_period(cl, activity_period)
            mix = T.department_mix(cl) if log.products is not None and S.DEPARTMENT in log.products.columns else None
        with stages("BTYD triples"):
            triples = T.btyd_triples(cl, end, time_unit) if cutoff is None else _triples_before(cl, cutoff, time_unit)
    return CustomerTables(name, cl.report, summary, cohorts, overview, baskets, gaps, activity, mix, triples,
                          calibration, dict(stages.seconds), skipped)


def _triples_before(cl: CleanLog, cutoff: pd.Timestamp, time_unit: str) -> pd.DataFrame:
    """BTYD triples of the calibration period (lines strictly before ``cutoff``)."""
    from . import tables as T

    k = cl.groups
    import ibis

    cal = dataclasses.replace(cl, groups=k.filter(k["_day"] < ibis.date(cutoff.date())))
    return T.btyd_triples(cal, cutoff - S.DAY, time_unit)


def _pandas_tables(cfg, start, end, time_unit, cutoff, holdout_end, cohort_period, activity_period, stages,
                   skipped) -> CustomerTables:
    from ..data.cleaning import load_clean
    from ..tables import cohorts as CO
    from ..tables import eda as E
    from ..tables import summary as SM

    with stages("load and clean (pandas)"):
        ds, report = load_clean(cfg, start, end)
    tx = ds.transactions
    with stages("customer summary"):
        summary = SM.customer_summary(tx, end, time_unit)
    calibration = None
    if cutoff is not None:
        with stages("calibration/holdout split"):
            calibration = SM.calibration_holdout_split(tx, cutoff, holdout_end, time_unit)
    with stages("cohort counts"):
        cohorts = CO.cohort_retention(tx, cohort_period)
    with stages("basket statistics and activity"):
        orders = E.orders(tx)
        baskets = pd.DataFrame({c: E.describe_distribution(orders[c]) for c in ("lines", "units", "revenue")})
        gaps = E.inter_purchase_days(tx).value_counts().sort_index().rename("count")
        gaps.index.name = "inter_purchase_days"
        activity = E.activity_by_period(tx, activity_period)
        mix = E.department_mix(tx, ds.products) if ds.products is not None and S.DEPARTMENT in ds.products else None
    with stages("BTYD triples"):
        src = calibration.summary if calibration is not None else summary
        triples = src.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    return CustomerTables("pandas", report, summary, cohorts, E.overview(tx), baskets, gaps, activity, mix, triples,
                          calibration, dict(stages.seconds), skipped)
