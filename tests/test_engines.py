"""Engine parity on DuckDB: every transaction-level table from the engine equals the pandas result on
The Complete Journey and CDNOW (full data), on the synthetic log (every cleaning rule at work) and on
hand-built tables with the tricky return-netting cases. Spark: tests/test_engines_spark.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention_utils import schema as S
from retention_utils.data import synthetic
from retention_utils.data.cleaning import clean_transactions
from retention_utils.data.datasets import load_cdnow, load_config, load_dataset
from retention_utils.engines import backend as B
from retention_utils.engines import tables as T
from retention_utils.engines.clean import clean, read_log
from retention_utils.models.btyd import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from retention_utils.recommend.models import Interactions
from retention_utils.recommend.split import basket_items
from retention_utils.tables import cohorts as CO
from retention_utils.tables import eda as E
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

# ibis 12 calls DuckDB 2's deprecated fetch_arrow_table(); harmless
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")


@pytest.fixture(scope="module")
def duck():
    eng = B.connect("duckdb", threads=2)
    yield eng
    eng.close()


def _to_parquet(tx: pd.DataFrame, path) -> str:
    tx.assign(**{S.ORDER_TS: tx[S.ORDER_TS].astype("datetime64[us]")}).to_parquet(path, index=False)
    return str(path)


class Case:
    """A dataset cleaned by pandas and by an engine, with the config's window."""

    def __init__(self, name, eng, tmp):
        self.cfg = load_config(name)
        ds = load_dataset(self.cfg)
        p = self.cfg["parameters"]
        self.start, self.end = p["OBSERVATION_START"], p["OBSERVATION_END"]
        self.products = ds.products
        self.clean, self.report = clean_transactions(ds.transactions, ds.products, self.cfg["cleaning"], self.start, self.end)
        path = _to_parquet(ds.transactions, tmp / f"{name}.parquet")
        self.log = read_log(eng, path, ds.products)
        self.cl = clean(self.log, self.cfg["cleaning"], self.start, self.end)


@pytest.fixture(scope="module")
def cj(duck, tmp_path_factory):
    return Case("complete_journey", duck, tmp_path_factory.mktemp("cj"))


@pytest.fixture(scope="module")
def cdnow(duck, tmp_path_factory):
    return Case("cdnow", duck, tmp_path_factory.mktemp("cdnow"))


# --- The Complete Journey, full data -----------------------------------------------------------


@pytest.mark.slow
def test_cj_cleaning_report_identical(cj):
    assert_reports_equal(cj.report, cj.cl.report)
    # the published accounting (README): fuel, fuel-like quantities, the one-day stub, 17 unknown ids
    assert cj.cl.report.removed.loc["outside_window", "rows"] == 534
    assert cj.cl.report.removed.loc["quantity_outlier", "rows"] == 1676
    assert cj.cl.report.flags["unknown_product_ids"] == 17


@pytest.mark.slow
def test_cj_customer_summary_and_calibration(cj):
    expected = SM.customer_summary(cj.clean, cj.end)
    assert_table_equal(expected, T.customer_summary(cj.cl, cj.end), SUMMARY_MONEY)
    e = SM.calibration_holdout_split(cj.clean, "2017-09-30", time_unit="weeks")
    g = T.calibration_holdout_split(cj.cl, "2017-09-30", time_unit="weeks")
    assert_table_equal(e.summary, g.summary, SUMMARY_MONEY)
    assert (e.n_new_in_holdout, e.n_after_holdout_rows, e.holdout_end) == (g.n_new_in_holdout, g.n_after_holdout_rows, g.holdout_end)


@pytest.mark.slow
@pytest.mark.parametrize("period, partial, start, end", [("M", "drop", None, None), ("W", "flag", "2017-03-01", "2017-10-15")])
def test_cj_cohorts(cj, period, partial, start, end):
    assert_cohorts_equal(CO.cohort_retention(cj.clean, period, start, end, partial),
                         T.cohort_retention(cj.cl, period, start, end, partial))


@pytest.mark.slow
def test_cj_eda_tables(cj):
    e, g = E.overview(cj.clean), T.overview(cj.cl)
    pd.testing.assert_series_equal(e, g)
    orders = E.orders(cj.clean)
    for col in ("lines", "units", "revenue"):
        exp = E.describe_distribution(orders[col])
        np.testing.assert_allclose(T.basket_statistics(cj.cl)[col].to_numpy(), exp.to_numpy(), rtol=1e-9, atol=1e-6)
    gaps = E.inter_purchase_days(cj.clean).value_counts().sort_index()
    hist = T.inter_purchase_histogram(cj.cl)
    assert gaps.index.tolist() == hist.index.tolist() and gaps.tolist() == hist.tolist()
    for by in ("orders", "days"):
        assert E.repeat_purchase_rate(cj.clean, by) == T.repeat_purchase_rate(cj.cl, by)
    assert_table_equal(E.activity_by_period(cj.clean, "W"), T.activity_by_period(cj.cl, "W"), ("revenue",))
    assert_table_equal(E.department_mix(cj.clean, cj.products), T.department_mix(cj.cl), ("revenue",))


@pytest.mark.slow
def test_cj_item_counts_and_cooccurrence(cj):
    data = Interactions.from_baskets(basket_items(cj.clean))
    coo = data.counts.tocoo()
    expected = pd.DataFrame({
        S.CUSTOMER_ID: np.asarray(data.users)[coo.row].astype(str),
        S.PRODUCT_ID: np.asarray(data.items)[coo.col].astype(str),
        "baskets": coo.data.astype("int64"),
    }).sort_values([S.CUSTOMER_ID, S.PRODUCT_ID], kind="stable").reset_index(drop=True)
    got = T.customer_item_counts(cj.cl)
    pd.testing.assert_frame_equal(expected, got.astype({S.CUSTOMER_ID: object, S.PRODUCT_ID: object}))
    # co-occurrence X'X on the products bought by >= 800 households (a few dozen)
    space = data.item_space(800)
    x = data.counts[:, space].toarray()
    xtx = x.T @ x
    items = np.asarray(data.items)[space].astype(str)
    got = T.item_cooccurrence(cj.cl, min_support=800)
    assert len(got) == len(items) * (len(items) + 1) // 2
    pos = {it: k for k, it in enumerate(items)}
    for i, j, v in got.itertuples(index=False):
        assert i <= j and xtx[pos[i], pos[j]] == v


# --- CDNOW, full data --------------------------------------------------------------------------


def test_cdnow_report_with_duplicates_kept(cdnow):
    assert_reports_equal(cdnow.report, cdnow.cl.report)
    assert cdnow.cl.report.flags == {"exact_duplicate_lines_kept": 255, "non_positive_lines_kept": 80}


def test_cdnow_summaries_in_weeks(cdnow):
    assert_table_equal(SM.customer_summary(cdnow.clean, cdnow.end, "weeks"),
                       T.customer_summary(cdnow.cl, cdnow.end, "weeks"), SUMMARY_MONEY)
    e = SM.calibration_holdout_split(cdnow.clean, "1997-10-01", "1998-06-30", "weeks")
    g = T.calibration_holdout_split(cdnow.cl, "1997-10-01", "1998-06-30", "weeks")
    assert_table_equal(e.summary, g.summary, SUMMARY_MONEY)
    assert e.n_new_in_holdout == g.n_new_in_holdout == 0
    assert_cohorts_equal(CO.cohort_retention(cdnow.clean, "M"), T.cohort_retention(cdnow.cl, "M"))


def test_cdnow_btyd_triples_fit_equals_full_fit(cdnow):
    """BTYD at scale: the fit on the engine's distinct (x, t_x, T) rows with counts as weights equals the
    fit on every customer (BG/NBD and Pareto/NBD), and gamma-gamma on distinct (x, m) rows likewise."""
    full = SM.calibration_holdout_split(cdnow.clean, "1997-10-01", "1998-06-30", "weeks").summary
    cal_end = "1997-09-30"
    cal_tx = cdnow.clean[cdnow.clean[S.ORDER_TS] <= pd.Timestamp(cal_end)]
    tri = T.btyd_triples(_small_clean(cdnow, cal_tx), cal_end, "weeks")
    assert tri["n"].sum() == len(full) and len(tri) < len(full) / 2
    expected = full.groupby(["frequency", "recency", "T"]).size()
    got = tri.set_index(["frequency", "recency", "T"])["n"]
    np.testing.assert_array_equal(expected.to_numpy(), got.to_numpy())
    for cls in (BetaGeoFitter, ParetoNBDFitter):
        a = cls().fit(full["frequency"], full["recency"], full["T"])
        b = cls().fit(tri["frequency"], tri["recency"], tri["T"], weights=tri["n"])
        assert b.params_ == pytest.approx(a.params_, rel=1e-6)
        assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, abs=1e-6)
        assert b.n_customers_ == len(full) and b.n_unique_rows_ == len(tri)
    buyers = full[full["frequency"] > 0]
    pairs = buyers.groupby(["frequency", "monetary_value"]).size().rename("n").reset_index()
    a = GammaGammaFitter().fit(buyers["frequency"], buyers["monetary_value"])
    b = GammaGammaFitter().fit(pairs["frequency"], pairs["monetary_value"], weights=pairs["n"])
    assert len(pairs) < len(buyers)
    # gamma-gamma sums its rows as given (no internal collapsing): equal to the optimiser's tolerance
    assert b.params_ == pytest.approx(a.params_, rel=1e-5)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, abs=1e-6)


def _small_clean(case, tx):
    return clean(read_log(case.log.engine, tx), case.cfg["cleaning"])


# --- the synthetic log: every rule at work ------------------------------------------------------


@pytest.fixture(scope="module")
def synth(duck, tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "log"
    info = synthetic.write_synthetic_log(root, 150_000, seed=7, lines_per_file=40_000)
    raw = pd.read_parquet(info.transactions)
    tx = S.validate_transactions(raw)
    prod = pd.read_parquet(info.products)
    prod[S.PRODUCT_ID] = S.as_id(prod[S.PRODUCT_ID])
    rules = {"exclude_departments": ["FUEL"], "max_quantity": 1000}
    clean_df, report = clean_transactions(tx, prod, rules, info.start, info.end)
    cl = clean(read_log(duck, info.transactions, info.products), rules, info.start, info.end)
    return info, clean_df, report, cl


def test_synthetic_log_shape(synth, tmp_path):
    info, _, report, _ = synth
    assert info.n_lines == 150_000 and info.n_files >= 3
    manifest = json.loads((info.root / "manifest.json").read_text())
    assert manifest["n_lines"] == 150_000 and manifest["seed"] == 7
    # a few bad rows of every kind the cleaning handles
    for reason in ("null_customer_id", "exact_duplicate", "outside_window", "cancellation", "cancelled_sale",
                   "return_netted", "unmatched_return", "non_merchandise", "quantity_outlier", "non_positive"):
        assert 0 < report.removed.loc[reason, "rows"] < 0.05 * info.n_lines, reason
    assert report.changed.loc["reduced_by_return", "rows"] > 0
    # seeded: the same arguments write the same data
    again = synthetic.write_synthetic_log(tmp_path / "again", 150_000, seed=7, lines_per_file=40_000)
    pd.testing.assert_frame_equal(pd.read_parquet(info.transactions), pd.read_parquet(again.transactions))
    other = synthetic.write_synthetic_log(tmp_path / "other", 150_000, seed=8, lines_per_file=40_000)
    assert not pd.read_parquet(other.transactions).equals(pd.read_parquet(info.transactions))


def test_synthetic_activity_is_heavy_tailed(synth):
    _, clean_df, _, _ = synth
    orders = clean_df.groupby(S.CUSTOMER_ID)[S.ORDER_ID].nunique()
    assert orders.quantile(0.99) >= 8 * orders.median()
    repeat_items = clean_df.groupby([S.CUSTOMER_ID, S.PRODUCT_ID]).size()
    assert (repeat_items >= 2).mean() > 0.2


def test_synthetic_parity(synth):
    info, clean_df, report, cl = synth
    assert_reports_equal(report, cl.report)
    assert_table_equal(SM.customer_summary(clean_df, info.end), T.customer_summary(cl, info.end), SUMMARY_MONEY)
    assert_cohorts_equal(CO.cohort_retention(clean_df, "M"), T.cohort_retention(cl, "M"))
    # the clean lines themselves (reduced sales carry their reduced quantity and revenue)
    lines = cl.lines().order_by(B.POS).to_pandas().drop(columns=[B.POS, "_units"])
    lines = S.validate_transactions(lines)
    pd.testing.assert_frame_equal(clean_df.reset_index(drop=True), lines.reset_index(drop=True), check_exact=False, atol=1e-9)


def test_generator_errors(tmp_path):
    with pytest.raises(ValueError, match="at least 100"):
        synthetic.write_synthetic_log(tmp_path / "x", 10)
    synthetic.write_synthetic_log(tmp_path / "y", 1_000)
    with pytest.raises(FileExistsError, match="overwrite"):
        synthetic.write_synthetic_log(tmp_path / "y", 1_000)


# --- hand-built tables: return netting, duplicates, errors --------------------------------------

NETTING_ROWS = [
    # customer, order, ts, product, quantity, revenue
    ("a", "o1", "2023-01-02 10:00", "p", 2.0, 10.0),
    ("a", "o2", "2023-01-02 10:00", "p", 2.0, 10.0),  # same time as o1: the latest in input order is hit
    ("a", "r1", "2023-01-03 09:00", "p", -2.0, -10.0),  # full cancellation of o2's line
    ("a", "r2", "2023-01-04 09:00", "p", -1.0, -5.0),  # partial return: o1 becomes 1 unit, 5.0
    ("a", "r3", "2023-01-05 09:00", "p", -1.0, -5.0),  # the rest of o1: cancelled_sale
    ("a", "r4", "2023-01-06 09:00", "p", -1.0, -1.0),  # nothing open any more: unmatched
    ("b", "o3", "2023-01-02 11:00", "q", 0.1 + 0.2, 3.0),
    ("b", "r5", "2023-01-03 11:00", "q", -0.3, -3.0),  # 0.1 + 0.2 matches 0.3 within the tolerance
    ("c", "o4", "2023-01-02 12:00", "q", 3.0, 9.0),
    ("c", "r6", "2023-01-05 12:00", "q", -3.0, -4.0),  # full quantity, partial refund: a price adjustment
    ("d", "o5", "2023-01-02 12:00", "q", 1.0, 4.0),
    ("d", "o5", "2023-01-02 12:00", "q", 1.0, 4.0),  # exact duplicate
    ("d", "r7", "2023-01-01 12:00", "q", -1.0, -4.0),  # before the sale: unmatched
    ("e", "o6", "2023-01-02 12:00", "x", 2.0, 4.0),
    ("e", "r8", "2023-01-03 12:00", "x", -1.0, -2.0),  # single return, partial: engine's window path
    (None, "o7", "2023-01-02 12:00", "x", 1.0, 1.0),
    ("f", "o8", "2023-01-02 12:00", "y", 0.0, 1.0),
    ("f", "o9", "2023-02-10 12:00", "y", 1.0, 1.0),  # outside the window
]


@pytest.mark.parametrize("drop_dups", [True, False])
def test_netting_cases_equal_pandas(duck, drop_dups):
    tx = make_tx(NETTING_ROWS)
    rules = {"drop_exact_duplicates": drop_dups, "drop_non_positive": drop_dups}
    clean_df, report = clean_transactions(tx, None, rules, "2023-01-01", "2023-01-31")
    cl = clean(read_log(duck, tx), rules, "2023-01-01", "2023-01-31")
    assert_reports_equal(report, cl.report)
    got = cl.lines().order_by(B.POS).to_pandas().drop(columns=[B.POS, "_units"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(clean_df, S.validate_transactions(got), check_exact=False, atol=1e-12)
    # hand-computed: the cases above
    r = cl.report.removed["rows"]
    assert (r["cancellation"], r["cancelled_sale"], r["return_netted"], r["unmatched_return"]) == (2, 3, 4, 2)
    assert cl.report.changed.loc["reduced_by_return", "rows"] == 2  # c's price adjustment, e's partial return
    assert cl.report.changed.loc["reduced_by_return", "revenue"] == pytest.approx(-4.0 - 2.0)


def test_distinct_products_with_returns_departments_and_outliers(duck):
    """distinct_products is counted from the row-wise rules, less the returned pairs, plus the returned
    pairs kept after netting: hand-computed on the netting cases with an excluded department and a
    quantity outlier, over the whole window and before a calibration cutoff."""
    extra = [
        ("a", "o10", "2023-01-03 10:00", "s", 1.0, 1.0),  # a's product p is cancelled in full: s is a's only one
        ("a", "o11", "2023-01-03 10:00", "g", 1.0, 30.0),  # fuel: excluded
        ("a", "o12", "2023-01-03 10:00", "t", 5000.0, 10.0),  # a quantity outlier
        ("e", "o13", "2023-01-02 12:00", "g", 1.0, 1.0),  # fuel
        ("e", "o14", "2023-01-02 13:00", "s", 0.0, 1.0),  # non-positive
    ]
    tx = make_tx(NETTING_ROWS + extra)
    products = pd.DataFrame({S.PRODUCT_ID: list("pqxyst") + ["g"], S.DEPARTMENT: ["GROCERY"] * 6 + ["FUEL"]})
    rules = {"exclude_departments": ["FUEL"], "max_quantity": 1000}
    clean_df, _ = clean_transactions(tx, products, rules, "2023-01-01", "2023-01-31")
    cl = clean(read_log(duck, tx, products), rules, "2023-01-01", "2023-01-31")
    got = T.customer_summary(cl, "2023-01-31")["distinct_products"]
    # a: p cancelled, s kept; b: q cancelled (no line left); c: q reduced; d: q (and its duplicate); e: x reduced
    assert got.to_dict() == {"a": 1, "c": 1, "d": 1, "e": 1}
    pd.testing.assert_series_equal(got, SM.customer_summary(clean_df, "2023-01-31")["distinct_products"])
    cal = T.calibration_holdout_split(cl, "2023-01-03").summary["distinct_products"]
    assert cal.to_dict() == {"c": 1, "d": 1, "e": 1}  # a's p lines of Jan 2 are cancelled later
    pd.testing.assert_series_equal(cal, SM.calibration_holdout_split(clean_df, "2023-01-03").summary["distinct_products"])
    # counted when the summary asks for it instead of during cleaning: the same
    lazy = clean(read_log(duck, tx, products), rules, "2023-01-01", "2023-01-31", count_products=False)
    assert lazy.product_counts is None
    pd.testing.assert_series_equal(T.customer_summary(lazy, "2023-01-31")["distinct_products"], got)


def test_exact_duplicates_in_triples_and_pairs_equal_pandas(duck):
    # outside any returned product: a line three times (two duplicates), a line twice (one
    # duplicate), a near copy with another revenue and the same line in another order (neither is a
    # duplicate)
    line = ("g", "o10", "2023-01-02 12:00", "z", 1.0, 2.0)
    rows = [line, ("g", "o10", "2023-01-02 12:00", "w", 1.0, 2.0), line,
            ("g", "o10", "2023-01-02 12:00", "z", 1.0, 2.5), ("g", "o10", "2023-01-02 12:00", "w", 1.0, 2.0), line,
            ("g", "o11", "2023-01-02 12:00", "z", 1.0, 2.0)]
    tx = make_tx(rows)
    clean_df, report = clean_transactions(tx, None, None, "2023-01-01", "2023-01-31")
    cl = clean(read_log(duck, tx), None, "2023-01-01", "2023-01-31")
    assert_reports_equal(report, cl.report)
    assert cl.report.removed.loc["exact_duplicate", "rows"] == 3 and cl.report.rows_kept == 4
    got = cl.lines().order_by(B.POS).to_pandas()
    assert list(got[B.POS]) == [0, 1, 3, 6]  # the first copy of each line is kept


@pytest.mark.parametrize("collide", ["two", "all"])
def test_row_hash_collisions_never_make_duplicates(duck, monkeypatch, collide):
    """The duplicate pre-filter counts one 64-bit hash: lines that collide are only candidates. With a
    hash that puts two different lines together or every line together, the result is still exactly
    the pandas one."""
    import ibis

    line = ("g", "o10", "2023-01-02 12:00", "z", 1.0, 2.0)
    rows = [line, ("g", "o10", "2023-01-02 12:00", "w", 1.0, 2.0), line,
            ("h", "o12", "2023-01-03 12:00", "z", 1.0, 2.0), ("h", "o13", "2023-01-03 12:00", "v", 3.0, 1.5)]
    tx = make_tx(rows)
    if collide == "two":  # o12 and o13 (different lines) share a hash; o10's lines hash apart
        monkeypatch.setattr(B.Engine, "row_hash", lambda self, order, *rest: order.isin(["o12", "o13"]).ifelse(
            ibis.literal(1, "int64"), ibis.literal(2, "int64") + rest[1].length().cast("int64")))
    else:
        monkeypatch.setattr(B.Engine, "row_hash", lambda self, *cols: ibis.literal(7, "int64"))
    clean_df, report = clean_transactions(tx, None, None, "2023-01-01", "2023-01-31")
    cl = clean(read_log(duck, tx), None, "2023-01-01", "2023-01-31")
    assert_reports_equal(report, cl.report)
    assert cl.report.removed.loc["exact_duplicate", "rows"] == 1
    assert list(cl.lines().order_by(B.POS).to_pandas()[B.POS]) == [0, 1, 3, 4]


def test_engine_validation_errors(duck):
    tx = make_tx(NETTING_ROWS)
    bad = tx.copy()
    bad.loc[3, S.QUANTITY] = np.inf
    with pytest.raises(S.SchemaError, match="quantity.*infinite"):
        clean(read_log(duck, bad))
    shared = tx.copy()
    shared.loc[0, S.ORDER_ID] = "o3"  # o3 belongs to customer b
    with pytest.raises(S.SchemaError, match="more than one customer"):
        clean(read_log(duck, shared))
    with pytest.raises(ValueError, match="needs a products table"):
        clean(read_log(duck, tx), {"exclude_departments": ["FUEL"]})
    with pytest.raises(ValueError, match="after end"):
        clean(read_log(duck, tx), None, "2023-02-01", "2023-01-01")
    with pytest.raises(S.SchemaError, match="missing required column"):
        read_log(duck, tx.drop(columns=[S.REVENUE]))
    cl = clean(read_log(duck, tx))
    with pytest.raises(ValueError, match="after observation_end"):
        T.customer_summary(cl, "2023-01-03")
    with pytest.raises(ValueError, match="time_unit"):
        T.customer_summary(cl, time_unit="months")


def test_return_with_a_positive_revenue_is_refused_as_in_pandas(duck):
    rows = [("a", "o1", "2023-01-02 10:00", "p", 2.0, 4.0), ("a", "o2", "2023-01-03 10:00", "p", -1.0, 1.0),
            (None, "o3", "2023-01-03 10:00", "p", -1.0, 1.0)]  # no customer: not counted
    tx = make_tx(rows)
    with pytest.raises(ValueError, match=r"1 return line\(s\) with a positive revenue.*net_returns: false"):
        clean(read_log(duck, tx), None, "2023-01-01", "2023-01-31")
    rules = {"net_returns": False}
    _, report = clean_transactions(tx, None, rules, "2023-01-01", "2023-01-31")
    assert_reports_equal(report, clean(read_log(duck, tx), rules, "2023-01-01", "2023-01-31").report)


def test_parquet_source_errors(duck, tmp_path):
    with pytest.raises(FileNotFoundError, match="no parquet file"):
        read_log(duck, tmp_path / "nothing")
    text_ts = make_tx(NETTING_ROWS).astype({S.ORDER_TS: str})
    text_ts.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(S.SchemaError, match="timestamp column"):
        read_log(duck, tmp_path / "t.parquet")


def test_cdnow_sample_published_summary(duck):
    """The engine's BTYD summary of the CDNOW 1/10 sample reproduces the published numbers the pandas
    path reproduces (2,357 customers; 1,411 with no repeat purchase in weeks 1-39)."""
    tx = load_cdnow(sample=True).transactions
    cl = clean(read_log(duck, tx), {"drop_exact_duplicates": False, "drop_non_positive": False}, None, "1997-09-30")
    s = T.btyd_summary(cl, "1997-09-30", "weeks")
    assert len(s) == 2357 and int((s["frequency"] == 0).sum()) == 1411


def test_input_positions_follow_the_files(duck, tmp_path):
    info = synthetic.write_synthetic_log(tmp_path / "log", 3_000, seed=5, lines_per_file=1_000)
    t = duck.read_parquet(info.transactions).order_by(B.POS).to_pandas()
    expected = pd.read_parquet(info.transactions)  # pandas/pyarrow read order
    assert t[B.POS].is_unique and sorted(set(t[B.POS].to_numpy() >> 40)) == list(range(info.n_files))
    pd.testing.assert_frame_equal(t.drop(columns=[B.POS]).reset_index(drop=True), expected, check_dtype=False)


def test_runner_on_an_engine_writes_tables_and_says_why_each_notebook_is_skipped(tmp_path, capsys):
    """`reports run --engine duckdb` on a synthetic log: the tables on the engine, each notebook listed as
    skipped with its reason (the config's, or not ported), exit code 0, nothing loaded into pandas."""
    import json

    import yaml

    from retention_utils import reports

    root = tmp_path / "big"
    synthetic.write_synthetic_log(root, 30_000, seed=3, lines_per_file=10_000)
    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "big.yaml").read_text())
    cfg["source"]["path"], cfg["source"]["products"] = str(root / "transactions"), str(root / "products.parquet")
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = reports.main(["run", "--dataset", str(path), "--engine", "duckdb", "--output-dir", str(tmp_path / "out")])
    assert code == 0
    assert "engine tables ok; no notebook run, 9 skipped (reasons in the index)" in capsys.readouterr().err
    out = tmp_path / "out" / "big"
    data = json.loads((out / "records.json").read_text())
    status = {n["name"]: (n["status"], n["error"]) for n in data["notebooks"]}
    assert status["00_engine_tables"][0] == "ok"
    assert status["02_customer_profiles"] == ("skipped", cfg["skip_notebooks"]["02_customer_profiles"])
    assert status["01_eda"][0] == "skipped" and "pandas" in status["01_eda"][1]
    recs = data["notebooks"][0]["records"]
    assert recs["lines_in"] >= 30_000 and 0 < recs["lines_kept"] <= recs["lines_in"] and recs["customers"] > 0
    assert (out / "tables" / "customer_summary.parquet").is_file() and (out / "engine_tables.html").is_file()
    assert "skipped (reasons below)" in (out / "index.html").read_text()


def test_engines_cli_stops_with_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    from retention_utils.engines.__main__ import main

    from . import fixtures_shops as FS

    assert main(["run", "--dataset", "cdnow", "--engine", "duckdb", "--memory-limit", "lots"]) == 2
    assert "is not a size such as 3GB" in capsys.readouterr().err
    monkeypatch.delenv("RETENTION_PSEUDONYM_KEY", raising=False)
    cfg = FS.write_online_retail(tmp_path)
    out = tmp_path / "tables"
    assert main(["run", "--dataset", str(cfg), "--engine", "duckdb", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: online_retail: customer ids are personal data") and not out.exists()


def test_drop_frees_a_materialized_table():
    import ibis

    with B.connect("duckdb", threads=1, memory_limit="1GB") as eng:
        t = eng.materialize(ibis.memtable(pd.DataFrame({"a": range(5)})), "x")
        u = eng.materialize(ibis.memtable(pd.DataFrame({"b": range(3)})), "y")

        def names():
            return sorted(r[0] for r in eng.con.con.execute("SELECT table_name FROM duckdb_tables()").fetchall())

        assert [n.split("_")[0] for n in names()] == ["x", "y"]
        eng.drop(t, None)
        assert [n.split("_")[0] for n in names()] == ["y"] and u.count().execute() == 3


def test_build_on_right_turns_one_optimizer_off_and_restores_the_setting():
    """The semi-join of the lines with the returned pairs runs with DuckDB's build-side choice off; the
    connection's own setting (here one optimizer already off) is back afterwards, also after an error."""
    with B.connect("duckdb", threads=1, memory_limit="1GB") as eng:
        def setting():
            return eng.con.con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]

        eng.con.raw_sql("SET disabled_optimizers = 'top_n'")
        with eng.build_on_right():
            assert sorted(setting().split(",")) == ["build_side_probe_side", "top_n"]
        assert setting() == "top_n"
        with pytest.raises(RuntimeError, match="inside"), eng.build_on_right():
            raise RuntimeError("inside")
        assert setting() == "top_n"


def test_sum_int_is_the_exact_int64_sum_near_the_validated_bound():
    """``Engine.sum_int`` keeps a 64-bit state: at the bound validate() allows (9e18 micro-units in all)
    it is still the exact integer sum, per group, with nulls skipped."""
    import ibis

    big = 3 * 10**18
    df = pd.DataFrame({"g": [1, 1, 1, 2, 2], "x": pd.array([big, big, big - 7, -5, None], dtype="Int64")})
    with B.connect("duckdb", threads=1, memory_limit="1GB") as eng:
        t = ibis.memtable(df)
        got = eng.con.execute(t.group_by("g").aggregate(s=eng.sum_int(t["x"])).order_by("g"))
    assert got["s"].tolist() == [9 * 10**18 - 7, -5] and str(got["s"].dtype) == "int64"


def test_a_return_worth_nothing_reduces_its_sale_on_both_paths(duck):
    """A return of revenue 0 nets a unit off its sale (return_netted) without changing any revenue: the
    clean sale has quantity 1 on both paths, with or without another customer's revenue-changing return
    (pandas wrote the reduced quantities only when some revenue had changed: found by fuzzing)."""
    rows = [("a", "o1", "2023-01-02 10:00", "p", 2.0, 10.0), ("a", "o2", "2023-01-03 10:00", "p", -1.0, 0.0)]
    other = [("b", "o3", "2023-01-02 10:00", "q", 2.0, 4.0), ("b", "o4", "2023-01-03 10:00", "q", -1.0, -2.0)]
    for case in (rows, rows + other):
        tx = make_tx(case)
        clean_df, report = clean_transactions(tx)
        cl = clean(read_log(duck, tx))
        assert_reports_equal(report, cl.report)
        assert clean_df.loc[clean_df[S.ORDER_ID] == "o1", S.QUANTITY].tolist() == [1.0]
        got = cl.lines().to_pandas()
        assert got.loc[got[S.ORDER_ID] == "o1", S.QUANTITY].tolist() == [1.0]
        assert E.overview(clean_df)["units"] == T.overview(cl)["units"] == (1.0 if case is rows else 2.0)


def test_nothing_kept_raises_the_empty_table_error_as_pandas(duck):
    """When the rules keep no line, the engine's summaries, overview and repeat rate raise the pandas
    path's SchemaError (they returned an empty frame or failed with a TypeError)."""
    tx = make_tx([("a", "o1", "2023-01-02 10:00", "p", 1.0, 0.0)])
    rules = {"drop_non_positive": True}
    clean_df, _ = clean_transactions(tx, None, rules)
    cl = clean(read_log(duck, tx), rules, None, "2023-01-31")
    with pytest.raises(S.SchemaError, match="empty"):
        SM.customer_summary(clean_df, "2023-01-31")
    for f in (lambda: T.customer_summary(cl, "2023-01-31"), lambda: T.segmentation_summary(cl, "2023-01-31"),
              lambda: T.btyd_summary(cl), lambda: T.overview(cl), lambda: T.repeat_purchase_rate(cl)):
        with pytest.raises(S.SchemaError, match="the table is empty"):
            f()


def test_unlisted_and_excluded_products_are_looked_up_in_small_tables(duck):
    """Lines are checked against the unlisted product ids and the excluded department's ids (no join
    with the products table): hand-computed flags and reasons equal the pandas report, with and
    without unlisted products, and with an excluded department that lists no product."""
    rows = [
        ("a", "o1", "2023-01-02 10:00", "p", 1.0, 1.0),  # listed
        ("a", "o1", "2023-01-02 10:00", "u", 1.0, 2.0),  # unlisted, kept
        ("b", "o2", "2023-01-03 10:00", "u", 2.0, 3.0),  # unlisted, kept
        ("b", "o2", "2023-01-03 10:00", "g", 1.0, 30.0),  # fuel: non_merchandise
        ("c", "o3", "2023-01-04 10:00", "v", 5000.0, 1.0),  # unlisted, a quantity outlier (still counted)
        ("c", "o4", "2023-01-05 10:00", "p", 1.0, 1.0),
    ]
    tx = make_tx(rows)
    products = pd.DataFrame({S.PRODUCT_ID: ["p", "g", "w"], S.DEPARTMENT: ["GROCERY", "FUEL", "FUEL"]})
    rules = {"exclude_departments": ["FUEL"], "max_quantity": 1000}
    _, report = clean_transactions(tx, products, rules, "2023-01-01", "2023-01-31")
    cl = clean(read_log(duck, tx, products), rules, "2023-01-01", "2023-01-31")
    pl = cl.product_lists
    assert sorted(pl.unlisted.to_pandas()[S.PRODUCT_ID]) == ["u", "v"]
    assert sorted(pl.excluded.to_pandas()[S.PRODUCT_ID]) == ["g", "w"]
    assert cl.report.flags["unknown_product_lines"] == 3 and cl.report.flags["unknown_product_ids"] == 2
    assert cl.report.removed.loc["non_merchandise", "rows"] == 1
    assert cl.report.removed.loc["quantity_outlier", "rows"] == 1
    assert_reports_equal(cl.report, report)
    reasons = cl.lines(kept=False).to_pandas().sort_values("_pos")["reason"].tolist()
    assert reasons == ["", "", "", "non_merchandise", "quantity_outlier", ""]

    # every product listed: no unlisted table, no `unknown` column in the groups; FUEL lists nothing
    listed = pd.DataFrame({S.PRODUCT_ID: list("pugv"), S.DEPARTMENT: ["GROCERY", "GROCERY", "DELI", "GROCERY"]})
    _, report2 = clean_transactions(tx, listed, rules, "2023-01-01", "2023-01-31")
    cl2 = clean(read_log(duck, tx, listed), rules, "2023-01-01", "2023-01-31")
    assert cl2.product_lists.unlisted is None and cl2.product_lists.excluded is None
    assert "unknown" not in cl2.groups.columns
    assert cl2.report.flags["unknown_product_lines"] == 0 and cl2.report.removed.loc["non_merchandise", "rows"] == 0
    assert_reports_equal(cl2.report, report2)


@pytest.mark.parametrize("folder", ["spill", "sp\\ill 'x'"])
def test_a_table_kept_on_disk_is_read_back_and_its_file_removed(tmp_path, monkeypatch, folder):
    """``materialize(on_disk=True)`` writes a parquet file in the spill folder (its path taken
    literally: backslash, space, quote; a relative one made absolute at connect), reads it by a
    view, and removes the file on ``drop`` and on ``close`` (a spill folder given by the user
    stays). An expression that reads a pandas table is kept as a temporary table all the same."""
    import ibis

    df = pd.DataFrame({"a": [3, 1, 2], "b": ["x", None, "z"]})
    src = tmp_path / "src.parquet"
    df.to_parquet(src, index=False)
    monkeypatch.chdir(tmp_path)
    spill = tmp_path / folder
    with B.connect("duckdb", threads=1, memory_limit="1GB", temp_directory=folder) as eng:
        monkeypatch.chdir("/")  # the folder was made absolute when the engine started
        raw = eng.con.read_parquet(str(src))
        t = eng.materialize(raw, "wide", on_disk=True)
        u = eng.materialize(raw.filter(raw["a"] > 1), "other", on_disk=True)
        files = sorted(p.name for p in spill.glob("*.parquet"))
        assert [f.split("_")[0] for f in files] == ["other", "wide"]
        pd.testing.assert_frame_equal(t.order_by("a").to_pandas(), df.sort_values("a").reset_index(drop=True))
        eng.drop(t)
        assert [p.name.split("_")[0] for p in spill.glob("*.parquet")] == ["other"]
        assert u.count().execute() == 2
        m = eng.materialize(ibis.memtable(df), "mem", on_disk=True)
        assert m.count().execute() == 3 and not list(spill.glob("mem_*"))
    assert spill.is_dir() and not list(spill.glob("*.parquet"))


def test_source_columns_named_like_the_engines_own_are_refused(duck):
    tx = make_tx([("a", "o1", "2023-01-02 10:00", "p", 1.0, 1.0)]).assign(_unlisted=1, _code="x")
    with pytest.raises(S.SchemaError, match=r"\['_unlisted', '_code'\] start with '_'.*rename them"):
        read_log(duck, tx)


def test_numeric_department_codes_with_excluded_departments_run_as_in_pandas(duck):
    """A products table whose department column holds numbers: an excluded name matches none of them
    (pandas compares numbers with the name); the engine used to fail converting the name to a number."""
    tx = make_tx([("a", "o1", "2023-01-02 10:00", "p", 1.0, 1.0), ("a", "o1", "2023-01-02 10:00", "g", 1.0, 9.0)])
    products = pd.DataFrame({S.PRODUCT_ID: ["p", "g"], S.DEPARTMENT: [1, 2]})
    rules = {"exclude_departments": ["FUEL"]}
    _, report = clean_transactions(tx, products, rules)
    cl = clean(read_log(duck, tx, products), rules)
    assert cl.report.rows_kept == 2 and cl.report.removed.loc["non_merchandise", "rows"] == 0
    assert_reports_equal(cl.report, report)


def test_product_ids_of_the_products_table_are_read_as_the_loader_reads_them(duck, tmp_path):
    """Text and float product ids against a log of integer ids: as_id's rule, no conversion error."""
    check_product_ids_read_as_the_loader_reads_them(duck, tmp_path)


def test_dataframe_columns_without_a_default_conversion_run_as_in_pandas(duck, tmp_path):
    """See check_dataframe_columns_without_a_default_conversion; DuckDB keeps nanoseconds (lines 1 ns
    apart are not duplicates); a duration column and a zoned parquet column are refused."""
    tx = check_dataframe_columns_without_a_default_conversion(duck)
    ns = tx.copy()
    ns.loc[1, S.ORDER_TS] += pd.Timedelta(1, "ns")
    _, report = clean_transactions(ns)
    assert report.removed.loc["exact_duplicate", "rows"] == 0
    assert_reports_equal(report, clean(read_log(duck, ns)).report)
    with pytest.raises(S.SchemaError, match=r"column 'waited': durations \(timedelta64\).*total_seconds"):
        read_log(duck, tx.assign(waited=pd.to_timedelta([1, 2, 3], unit="s")))
    tx.assign(**{S.ORDER_TS: tx[S.ORDER_TS].dt.tz_localize("Europe/Berlin")}).to_parquet(tmp_path / "zoned.parquet")
    with pytest.raises(S.SchemaError, match="needs local time without a zone.*tz_localize"):
        read_log(duck, tmp_path / "zoned.parquet")



def test_dataframe_sources_the_engine_cannot_read_are_refused_by_column(duck):
    """Breaker's findings: each refused with a SchemaError naming the column and what to do, or read
    as the pandas path reads it."""
    tx = check_dataframe_columns_without_a_default_conversion(duck)
    refused = {
        r"'_pos' is the engines' own": tx.assign(_pos=[7, 8, 9]),
        r"\['quantity'\] appear more than once": pd.concat([tx, tx[[S.QUANTITY]]], axis=1),
        r"column names must be text, found \[0\]": tx.assign(**{"x": 1}).rename(columns={"x": 0}),
        r"column 'seen': zoned timestamps with nanoseconds": tx.assign(
            seen=(tx[S.ORDER_TS] + pd.Timedelta(1, "ns")).dt.tz_localize("UTC")),
        r"column\(s\) \['note'\]: the engines cannot read this pandas type.*astype\(str\)": tx.assign(
            note=pd.Series([1, "one", 2.5], dtype=object)),
    }
    for match, frame in refused.items():
        with pytest.raises(S.SchemaError, match=match):
            read_log(duck, frame)
    # read as pandas reads them: an Arrow zoned order_ts is local wall-clock time; float16 amounts
    arrow = tx.assign(**{S.ORDER_TS: tx[S.ORDER_TS].dt.tz_localize("Europe/Berlin").astype(
        "timestamp[us, tz=Europe/Berlin][pyarrow]")})
    first = clean(read_log(duck, arrow)).customers().to_pandas().set_index(S.CUSTOMER_ID)
    assert first.loc["a", "first_order_ts"] == pd.Timestamp("2023-01-02 00:30")  # not 2023-01-01 23:30 (UTC)
    half = tx.astype({S.QUANTITY: "float16"})
    assert_reports_equal(clean_transactions(S.validate_transactions(half))[1], clean(read_log(duck, half)).report)
    # a canonical column with no value: validation names the missing values, as in pandas
    with pytest.raises(S.SchemaError, match="missing timestamps: 3 row"):
        clean(read_log(duck, tx.assign(**{S.ORDER_TS: pd.Series([None] * 3, dtype=object)})))
    with pytest.raises(S.SchemaError, match="'revenue' has missing or infinite values: 3 row"):
        clean(read_log(duck, tx.assign(**{S.REVENUE: pd.Series([None] * 3, dtype=object)})))
    with pytest.raises(S.SchemaError, match=r"the table is empty \(0 rows\)"):
        clean(read_log(duck, pd.DataFrame(columns=list(tx.columns))))


def test_text_ids_written_as_decimals_are_read_as_the_loader_reads_them(duck, tmp_path):
    """"17850.0" is customer 17850 on the engine as in pandas, and the report counts it."""
    check_text_ids_written_as_decimals(duck, tmp_path)
