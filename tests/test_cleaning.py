import numpy as np
import pandas as pd
import pytest

from retention_utils import schema as S
from retention_utils.data.cleaning import REASONS, CleaningRules, clean_transactions

from .conftest import make_tx


def _reasons(report):
    return {r: int(n) for r, n in report.removed["rows"].items() if n}


def test_cancellation_nets_against_its_sale():
    tx = make_tx([
        ("c", "A1", "2011-12-09 09:15", "X", 80995, 80995 * 2.08),
        ("c", "C1", "2011-12-09 09:27", "X", -80995, -80995 * 2.08),
        ("c", "A2", "2011-12-10 10:00", "Y", 2, 5.0),
    ])
    clean, rep = clean_transactions(tx)
    assert clean[S.ORDER_ID].tolist() == ["A2"]
    assert _reasons(rep) == {"cancellation": 1, "cancelled_sale": 1}
    assert rep.removed.loc["cancellation", "revenue_units"] + rep.removed.loc["cancelled_sale", "revenue_units"] == 0
    assert rep.orders_in == 3 and rep.orders_kept == 1
    assert clean[S.REVENUE].sum() == 5.0
    assert rep.reconciles()


def test_cancellation_pairs_with_latest_earlier_sale_only():
    tx = make_tx([
        ("c", "o1", "2020-01-01", "X", 2, 4.0),
        ("c", "o2", "2020-01-05", "X", 2, 4.4),
        ("c", "r1", "2020-01-06", "X", -2, -4.4),
        ("c", "r2", "2020-01-06", "Z", -1, -3.0),   # no earlier sale of Z
        ("c", "o3", "2020-01-07", "X", 2, 4.0),     # later sale: not a candidate
    ])
    clean, rep = clean_transactions(tx)
    assert clean[S.ORDER_ID].tolist() == ["o1", "o3"]
    assert _reasons(rep) == {"cancellation": 1, "cancelled_sale": 1, "unmatched_return": 1}
    assert rep.row_reason.tolist() == ["", "cancelled_sale", "cancellation", "unmatched_return", ""]
    assert rep.reconciles()


def test_rule_order_duplicates_nulls_window_nonpositive():
    tx = make_tx([
        ("a", "1", "2020-01-01", "p", 1, 2.0),
        ("a", "1", "2020-01-01", "p", 1, 2.0),      # exact duplicate
        (None, "2", "2020-01-02", "p", 1, 3.0),     # null customer
        ("b", "3", "2020-01-03", "p", 0, 1.0),      # quantity 0
        ("b", "4", "2020-01-04", "p", 1, 0.0),      # revenue 0
        ("b", "5", "2021-01-01", "p", 1, 7.0),      # after the window
    ])
    clean, rep = clean_transactions(tx, end="2020-12-31")
    assert _reasons(rep) == {"null_customer_id": 1, "exact_duplicate": 1, "outside_window": 1, "non_positive": 2}
    assert len(clean) == 1
    assert rep.rows_in == 6 and rep.rows_kept == 1
    assert rep.revenue_in_units == 15_000_000 and rep.revenue_kept_units == 2_000_000
    assert rep.removed["orders_lost"].sum() == rep.orders_in - rep.orders_kept
    assert rep.reconciles()


def test_keep_rules_flag_instead():
    tx = make_tx([
        ("a", "1", "2020-01-01", "p", 1, 2.0),
        ("a", "1", "2020-01-01", "p", 1, 2.0),
        ("b", "3", "2020-01-03", "p", 1, 0.0),
    ])
    clean, rep = clean_transactions(tx, rules={"drop_exact_duplicates": False, "drop_non_positive": False})
    assert len(clean) == 3
    assert rep.flags == {"exact_duplicate_lines_kept": 1, "non_positive_lines_kept": 1}


def test_non_merchandise_and_quantity_outlier_need_products():
    tx = make_tx([
        ("a", "1", "2020-01-01", "gas", 10, 30.0),
        ("a", "2", "2020-01-01", "milk", 1, 1.5),
        ("a", "3", "2020-01-01", "misc", 12000, 40.0),
        ("a", "4", "2020-01-01", "ghost", 1, 2.0),   # not in the product table: kept, counted
    ])
    products = pd.DataFrame({"product_id": ["gas", "milk", "misc"], "department": ["FUEL", "DAIRY", "MISCELLANEOUS"]})
    rules = CleaningRules(exclude_departments=("FUEL", "KIOSK-GAS"), max_quantity=1000)
    with pytest.raises(ValueError, match="products table"):
        clean_transactions(tx, rules=rules)
    clean, rep = clean_transactions(tx, products, rules)
    assert clean[S.PRODUCT_ID].tolist() == ["milk", "ghost"]
    assert _reasons(rep) == {"non_merchandise": 1, "quantity_outlier": 1}
    assert rep.flags["unknown_product_lines"] == 1 and rep.flags["unknown_product_ids"] == 1


def test_unknown_rule_key_refused():
    with pytest.raises(ValueError, match="unknown key"):
        CleaningRules.from_config({"drop_fuel": True})


def test_input_not_modified_and_report_table_adds_up():
    tx = make_tx([("a", "1", "2020-01-01", "p", 1, 2.0), ("a", "2", "2020-01-02", "p", 0, 0.0)])
    before = tx.copy()
    _, rep = clean_transactions(tx)
    pd.testing.assert_frame_equal(tx, before)
    t = rep.to_frame()
    assert list(t.index[: len(REASONS)]) == list(REASONS)
    assert t.loc[list(REASONS) + ["kept"], "rows"].sum() == t.loc["input", "rows"]
    assert np.isclose(t.loc[list(REASONS) + ["kept"], "revenue"].sum(), t.loc["input", "revenue"])


def test_partial_return_reduces_its_sale():
    tx = make_tx([
        ("c", "o1", "2020-01-01", "X", 3, 30.0),
        ("c", "r1", "2020-01-02", "X", -1, -10.0),
        ("c", "o2", "2020-01-03", "Y", 1, 5.0),
    ])
    clean, rep = clean_transactions(tx)
    assert clean[S.QUANTITY].tolist() == [2.0, 1.0]
    assert clean[S.REVENUE].tolist() == [20.0, 5.0]
    assert _reasons(rep) == {"return_netted": 1}
    assert rep.removed.loc["return_netted", "revenue"] == 0.0  # its amount moved into the sale
    assert rep.changed.loc["reduced_by_return", "rows"] == 1
    assert rep.changed.loc["reduced_by_return", "revenue"] == -10.0
    assert rep.revenue_kept == 25.0 and rep.revenue_in == 25.0
    assert rep.reconciles()


def test_partial_refund_keeps_the_net_amount_and_units():
    tx = make_tx([("c", "o1", "2020-01-01", "X", 1, 10.0), ("c", "r1", "2020-01-02", "X", -1, -8.0)])
    clean, rep = clean_transactions(tx)
    assert clean[[S.QUANTITY, S.REVENUE]].values.tolist() == [[1.0, 2.0]]
    assert rep.reconciles()


def test_returns_in_pieces_cancel_the_sale():
    tx = make_tx([
        ("c", "o1", "2020-01-01", "X", 0.3, 3.0),
        ("c", "r1", "2020-01-02", "X", -0.1, -1.0),
        ("c", "r2", "2020-01-03", "X", -(0.1 + 0.1), -2.0),  # float noise in the quantity
    ])
    clean, rep = clean_transactions(tx)
    assert clean.empty
    assert _reasons(rep) == {"return_netted": 2, "cancelled_sale": 1}
    assert rep.reconciles() and rep.revenue_in == 0.0


def test_return_after_the_window_does_not_touch_a_sale_inside_it():
    tx = make_tx([("c", "o1", "2020-12-30", "X", 2, 20.0), ("c", "r1", "2021-01-05", "X", -2, -20.0)])
    clean, rep = clean_transactions(tx, end="2020-12-31")
    assert clean[S.ORDER_ID].tolist() == ["o1"]
    assert _reasons(rep) == {"outside_window": 1}


def test_sub_cent_revenue_books_exactly():
    tx = make_tx([("c", f"o{i}", "2020-01-01", "X", 1, 0.015) for i in range(1000)])
    _, rep = clean_transactions(tx)
    assert rep.revenue_in == pytest.approx(15.0, abs=1e-9) and rep.revenue_kept == pytest.approx(15.0, abs=1e-9)


@pytest.mark.parametrize("bad", [{"exclude_departments": "FUEL"}, {"drop_non_positive": "false"},
                                 {"max_quantity": "1000"}])
def test_config_values_of_the_wrong_type_refused(bad):
    with pytest.raises(ValueError, match=list(bad)[0]):
        CleaningRules.from_config(bad)


def test_return_with_a_positive_revenue_is_refused_with_what_to_do():
    """A refund recorded as a positive amount (quantity -1, revenue +1) could not be netted and add
    up (the report did not reconcile: 5.00 in, 3.00 kept, 0.00 removed); it stops the cleaning with
    the two ways out, and each of them works. Outside the window or without a customer it is not
    netted, so it is not an error there."""
    rows = [("a", "o1", "2023-01-02 10:00", "p", 2.0, 4.0), ("a", "o2", "2023-01-03 10:00", "p", -1.0, 1.0)]
    tx = make_tx(rows)
    with pytest.raises(ValueError, match=r"1 return line\(s\) with a positive revenue.*net_returns: false"):
        clean_transactions(tx, None, None, "2023-01-01", "2023-01-31")
    _, report = clean_transactions(tx, None, {"net_returns": False}, "2023-01-01", "2023-01-31")
    assert report.reconciles() and report.removed.loc["non_positive", "rows"] == 1 and report.rows_kept == 1
    fixed = tx.assign(revenue=tx["revenue"].where(tx["quantity"] >= 0, -tx["revenue"].abs()))
    _, report = clean_transactions(fixed, None, None, "2023-01-01", "2023-01-31")
    assert report.removed.loc["return_netted", "rows"] == 1 and report.revenue_kept == 3.0
    _, report = clean_transactions(tx, None, None, "2023-01-01", "2023-01-02")  # the return is outside
    assert report.rows_kept == 1
    nobody = make_tx([rows[0], (None, "o2", "2023-01-03 10:00", "p", -1.0, 1.0)])
    assert clean_transactions(nobody, None, None, "2023-01-01", "2023-01-31")[1].rows_kept == 1
