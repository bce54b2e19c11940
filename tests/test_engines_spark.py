"""Engine parity on Spark in local mode (``local[2]``): the same tables as tests/test_engines.py
(DuckDB), on The Complete Journey (full data: report, customer summary, cohorts), CDNOW (full data:
report, calibration/holdout in weeks), a small synthetic log and the hand-built netting cases.

Spark needs Java 17+. Without it these tests skip with that reason on a user's machine; under CI
(``CI=true``) they run and fail, so a CI machine without Java cannot pass silently (``.ci/run`` installs it).
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from retention_utils import schema as S
from retention_utils.data import synthetic
from retention_utils.data.cleaning import clean_transactions
from retention_utils.data.datasets import load_config, load_dataset
from retention_utils.engines import backend as B
from retention_utils.engines import tables as T
from retention_utils.engines.clean import clean, read_log
from retention_utils.tables import cohorts as CO
from retention_utils.tables import summary as SM

from .conftest import make_tx
from .engine_parity import (
    SUMMARY_MONEY,
    assert_cohorts_equal,
    assert_reports_equal,
    assert_table_equal,
    check_dataframe_columns_without_a_default_conversion,
    check_product_ids_read_as_the_loader_reads_them,
    check_text_ids_written_as_decimals,
)
from .test_engines import NETTING_ROWS, _to_parquet

UNAVAILABLE = B.spark_unavailable_reason()
pytestmark = [
    pytest.mark.skipif(UNAVAILABLE is not None and os.environ.get("CI") != "true", reason=f"Spark: {UNAVAILABLE}"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


@pytest.fixture(scope="module")
def spark_engine():
    eng = B.connect("spark", threads=2, memory_limit="3g")  # local[2]; raises EngineError without Java 17+
    yield eng
    eng.close()


@pytest.fixture
def spark(spark_engine):
    yield spark_engine
    spark_engine.clear()  # unpersist this test's tables


def test_spark_is_local_2(spark):
    assert spark.spark.sparkContext.master == "local[2]"


@pytest.mark.slow
def test_cj_full_parity(spark, tmp_path):
    cfg = load_config("complete_journey")
    ds = load_dataset(cfg)
    p = cfg["parameters"]
    clean_df, report = clean_transactions(ds.transactions, ds.products, cfg["cleaning"], p["OBSERVATION_START"], p["OBSERVATION_END"])
    cl = clean(read_log(spark, _to_parquet(ds.transactions, tmp_path / "cj.parquet"), ds.products),
               cfg["cleaning"], p["OBSERVATION_START"], p["OBSERVATION_END"])
    assert_reports_equal(report, cl.report)
    assert_table_equal(SM.customer_summary(clean_df, p["OBSERVATION_END"]), T.customer_summary(cl, p["OBSERVATION_END"]),
                       SUMMARY_MONEY)
    assert_cohorts_equal(CO.cohort_retention(clean_df, "M"), T.cohort_retention(cl, "M"))


@pytest.mark.slow
def test_cdnow_full_parity(spark, tmp_path):
    cfg = load_config("cdnow")
    ds = load_dataset(cfg)
    clean_df, report = clean_transactions(ds.transactions, None, cfg["cleaning"])
    cl = clean(read_log(spark, _to_parquet(ds.transactions, tmp_path / "cdnow.parquet")), cfg["cleaning"])
    assert_reports_equal(report, cl.report)
    e = SM.calibration_holdout_split(clean_df, "1997-10-01", "1998-06-30", "weeks")
    g = T.calibration_holdout_split(cl, "1997-10-01", "1998-06-30", "weeks")
    assert_table_equal(e.summary, g.summary, SUMMARY_MONEY)


def test_synthetic_parity(spark, tmp_path):
    info = synthetic.write_synthetic_log(tmp_path / "log", 12_000, seed=3, lines_per_file=4_000)
    tx = S.validate_transactions(pd.read_parquet(info.transactions))
    prod = pd.read_parquet(info.products)
    prod[S.PRODUCT_ID] = S.as_id(prod[S.PRODUCT_ID])
    rules = {"exclude_departments": ["FUEL"], "max_quantity": 1000}
    _, report = clean_transactions(tx, prod, rules, info.start, info.end)
    cl = clean(read_log(spark, info.transactions, info.products), rules, info.start, info.end)
    assert_reports_equal(report, cl.report)


def test_netting_cases(spark):
    """Both netting paths (one return: window query; several: pandas), a duplicate, a null customer.
    (Duplicates kept are covered by CDNOW above.)"""
    tx = make_tx(NETTING_ROWS)
    rules = {"drop_exact_duplicates": True, "drop_non_positive": True}
    clean_df, report = clean_transactions(tx, None, rules, "2023-01-01", "2023-01-31")
    cl = clean(read_log(spark, tx), rules, "2023-01-01", "2023-01-31")
    assert_reports_equal(report, cl.report)
    got = cl.lines().order_by(B.POS).to_pandas().drop(columns=[B.POS, "_units"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(clean_df, S.validate_transactions(got), check_exact=False, atol=1e-12)


def test_product_ids_of_the_products_table_are_read_as_the_loader_reads_them(spark, tmp_path):
    """Spark's regular expressions take ``$1``, not ``\\1``: "5.0" must still read as 5."""
    check_product_ids_read_as_the_loader_reads_them(spark, tmp_path)


def test_input_positions_unique_across_files(spark, tmp_path):
    """Each line's input position (file number, row) is unique and in the files' sorted order; Spark
    spells a file's path differently in its listing and in a row's metadata (file:/// vs file:/)."""
    info = synthetic.write_synthetic_log(tmp_path / "log", 3_000, seed=5, lines_per_file=1_000)
    t = spark.read_parquet(info.transactions)
    pos = t.select(B.POS).to_pandas()[B.POS].to_numpy()
    assert len(set(pos)) == len(pos) == 3_000 and pos.min() == 0
    assert sorted(set(pos >> 40)) == list(range(info.n_files))


def test_dataframe_columns_without_a_default_conversion_run_as_in_pandas(spark):
    """Value-less object columns, zoned stamps; nanoseconds refused (Spark keeps microseconds)."""
    check_dataframe_columns_without_a_default_conversion(spark)


def test_text_ids_written_as_decimals_are_read_as_the_loader_reads_them(spark, tmp_path):
    """"17850.0" is customer 17850 on the engine as in pandas, and the report counts it."""
    check_text_ids_written_as_decimals(spark, tmp_path)
