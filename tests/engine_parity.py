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


def check_dataframe_columns_without_a_default_conversion(eng):
    """DataFrame sources that pandas reads but the default pandas -> engine conversion could not: a
    customer column with no value (every line ``null_customer_id``), an empty object-dtype products
    table and one whose departments are all missing, and zoned stamps, read as local wall-clock
    time as ``schema.parse_timestamps`` reads them (00:30 in Berlin is the evening before in UTC).
    Returns the small log (two identical lines, one duplicate)."""
    import pytest

    from retention_utils import schema as S
    from retention_utils.data.cleaning import clean_transactions
    from retention_utils.engines.clean import clean, read_log

    tx = S.validate_transactions(pd.DataFrame({
        S.CUSTOMER_ID: ["a", "a", "b"], S.ORDER_ID: ["o1", "o1", "o2"],
        S.ORDER_TS: pd.to_datetime(["2023-01-02 00:30", "2023-01-02 00:30", "2023-01-03 23:30"]),
        S.PRODUCT_ID: ["p", "p", "g"], S.QUANTITY: [1.0, 1.0, 2.0], S.REVENUE: [1.0, 1.0, 3.0],
    }))

    def same(t, products=None, rules=None):
        _, report = clean_transactions(t, products, rules)
        got = clean(read_log(eng, t, products), rules)
        assert_reports_equal(report, got.report)
        return got.report

    assert same(tx).removed.loc["exact_duplicate", "rows"] == 1
    nobody = tx.assign(**{S.CUSTOMER_ID: pd.Series([None] * 3, dtype=object)})
    assert same(nobody).removed.loc["null_customer_id", "rows"] == 3
    fuel = {"exclude_departments": ["FUEL"]}
    empty = pd.DataFrame({S.PRODUCT_ID: pd.Series([], dtype=object), S.DEPARTMENT: pd.Series([], dtype=object)})
    assert same(tx, empty, fuel).flags["unknown_product_lines"] == 2
    no_department = pd.DataFrame({S.PRODUCT_ID: ["p", "g"], S.DEPARTMENT: [None, None]})
    assert same(tx, no_department, fuel).removed.loc["non_merchandise", "rows"] == 0
    zoned = tx.assign(**{S.ORDER_TS: tx[S.ORDER_TS].dt.tz_localize("Europe/Berlin")})
    first = clean(read_log(eng, zoned)).customers().to_pandas().set_index(S.CUSTOMER_ID)
    assert first.loc["a", "first_order_ts"] == pd.Timestamp("2023-01-02 00:30")
    assert str(first.loc["b", "first_day"])[:10] == "2023-01-03"
    if eng.name == "spark":  # Spark keeps microseconds: nanoseconds are refused, not rounded
        ns = tx.copy()
        ns.loc[1, S.ORDER_TS] += pd.Timedelta(1, "ns")
        with pytest.raises(S.SchemaError, match=r"column 'order_ts': timestamps with nanoseconds.*floor\('us'\)"):
            read_log(eng, ns)
    return tx


def check_text_ids_written_as_decimals(eng, tmp_path):
    """Text ids written as integer-valued decimals (a spreadsheet's "17850.0") are the integer's
    digits on the engine as in pandas (``schema.as_id``), and the report counts them the same way
    (``normalised``). Hand-computed: customer "17850.0", " 17850 " and "17850.00" are one customer
    with "17850", so 2 customers; 2 distinct decimal texts in 2 rows; product "7.0" is "7"; "7.5"
    stays itself."""
    from retention_utils import schema as S
    from retention_utils.data.cleaning import clean_transactions
    from retention_utils.engines.clean import clean, read_log

    raw = pd.DataFrame({
        S.CUSTOMER_ID: ["17850.0", " 17850 ", "17850.00", "9"], S.ORDER_ID: ["o1", "o2", "o3", "o4"],
        S.ORDER_TS: pd.to_datetime(["2023-01-02 10:00", "2023-01-03 10:00", "2023-01-04 10:00", "2023-01-04 11:00"]),
        S.PRODUCT_ID: ["7.0", "7", "7.5", "7"], S.QUANTITY: [1.0] * 4, S.REVENUE: [1.0, 2.0, 3.0, 4.0],
    })
    path = tmp_path / "decimal_ids.parquet"
    raw.astype({S.ORDER_TS: "datetime64[us]"}).to_parquet(path, index=False)  # Spark reads no nanoseconds
    _, report = clean_transactions(S.validate_transactions(raw))
    assert report.customers_in == 2
    assert report.normalised == {S.CUSTOMER_ID: {"ids": 2, "rows": 2}, S.PRODUCT_ID: {"ids": 1, "rows": 1}}
    for source in (str(path), raw):
        cl = clean(read_log(eng, source))
        assert cl.report.normalised == report.normalised
        assert_reports_equal(report, cl.report)
        assert sorted(cl.customers().to_pandas()["customer_id"]) == ["17850", "9"]
