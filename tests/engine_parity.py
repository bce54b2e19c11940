"""Shared checks of the engine-parity tests (tests/test_engines*.py): each engine's table equals the
pandas result (counts and days exact, money to the cent, the cleaning report identical)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CENT = 0.005  # "equal to the cent": sums in another order differ in the last bits, never by half a cent


def assert_reports_equal(pandas_report, engine_report):
    """The reconciliation table, changes, flags and distinct counts are identical (no tolerance)."""
    pd.testing.assert_frame_equal(pandas_report.to_frame(), engine_report.to_frame())
    pd.testing.assert_frame_equal(pandas_report.removed, engine_report.removed)
    pd.testing.assert_frame_equal(pandas_report.changed, engine_report.changed, check_exact=False, atol=1e-9)
    assert pandas_report.flags == engine_report.flags
    for k in ("rows_in", "rows_kept", "revenue_in_units", "revenue_kept_units", "customers_in", "customers_kept",
              "orders_in", "orders_kept"):
        assert getattr(pandas_report, k) == getattr(engine_report, k), k
    assert engine_report.reconciles()


def assert_table_equal(expected: pd.DataFrame, got: pd.DataFrame, money: tuple[str, ...] = ()):
    """Same index, columns and dtypes; integer and date columns exact; float columns exact but for
    ``money`` columns (to the cent) and derived ratios (relative 1e-9)."""
    assert list(expected.columns) == list(got.columns)
    pd.testing.assert_index_equal(expected.index, got.index)
    for c in expected.columns:
        e, g = expected[c], got[c]
        assert e.dtype == g.dtype, (c, e.dtype, g.dtype)
        if pd.api.types.is_float_dtype(e):
            if c in money:
                np.testing.assert_allclose(g.to_numpy(), e.to_numpy(), rtol=0, atol=CENT, err_msg=c)
            else:
                np.testing.assert_allclose(g.to_numpy(), e.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=c)
        else:
            pd.testing.assert_series_equal(e, g, check_names=False)


SUMMARY_MONEY = ("revenue", "average_order_value", "monetary_value", "revenue_holdout", "monetary_value_holdout")


def assert_cohorts_equal(expected, got):
    pd.testing.assert_series_equal(expected.sizes, got.sizes, check_names=False)
    pd.testing.assert_frame_equal(expected.active, got.active)
    pd.testing.assert_frame_equal(expected.retention, got.retention)
    pd.testing.assert_frame_equal(expected.partial, got.partial)
    assert expected.window == got.window


def check_product_ids_read_as_the_loader_reads_them(eng, tmp_path):
    """Integer product ids in a parquet log against text or float ids in the products table: the
    engine reads the products' ids as ``schema.as_id`` does (the loader's rule), so its report equals
    the pandas report on the as_id'd table. Hand-computed: log ids 9, 7, 5, 3, 12, one line each.
    ``"09"`` and ``"+3"`` are no integer's digits (unlisted), ``"abc"`` matches nothing (no error),
    ``" 7 "`` and ``"5.0"`` are 7 and 5; the floats 9.0 and 12.0 are 9 and 12, 7.5 matches nothing."""
    from retention_utils import schema as S
    from retention_utils.data.cleaning import clean_transactions
    from retention_utils.engines.clean import clean, read_log

    raw = pd.DataFrame({
        S.CUSTOMER_ID: ["a"] * 5, S.ORDER_ID: ["o1"] * 5,
        S.ORDER_TS: pd.to_datetime(["2023-01-02 10:00"] * 5).astype("datetime64[us]"),
        S.PRODUCT_ID: np.array([9, 7, 5, 3, 12], dtype="int64"), S.QUANTITY: [1.0] * 5, S.REVENUE: [1.0] * 5,
    })
    path = tmp_path / "int_ids.parquet"
    raw.to_parquet(path, index=False)
    tx = S.validate_transactions(raw.assign(**{S.ORDER_TS: raw[S.ORDER_TS].astype("datetime64[ns]")}))
    cases = [  # products, (unknown lines, non-merchandise lines)
        (pd.DataFrame({S.PRODUCT_ID: ["09", " 7 ", "5.0", "abc", "+3", "12"],
                       S.DEPARTMENT: ["FUEL", "FUEL", "FUEL", "FUEL", "FUEL", "DELI"]}), (2, 2)),
        (pd.DataFrame({S.PRODUCT_ID: [9.0, 7.5, 12.0], S.DEPARTMENT: ["FUEL", "DELI", "DELI"]}), (3, 1)),
    ]
    rules = {"exclude_departments": ["FUEL"]}
    for products, (unknown, excluded) in cases:
        _, report = clean_transactions(tx, products.assign(**{S.PRODUCT_ID: S.as_id(products[S.PRODUCT_ID])}), rules)
        got = clean(read_log(eng, str(path), products), rules).report
        assert got.flags["unknown_product_lines"] == unknown
        assert got.removed.loc["non_merchandise", "rows"] == excluded
        assert_reports_equal(report, got)
