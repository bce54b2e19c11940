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
