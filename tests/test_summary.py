import numpy as np
import pandas as pd
import pytest

from retention_utils.data.datasets import _lifetimes_data_file, load_cdnow, read_cdnow_raw
from retention_utils.tables import summary

from .conftest import make_tx


def test_unsorted_log_hand_values():
    # one customer, rows in descending date order
    tx = make_tx([
        ("c", "o3", "2014-05-21", "p", 1, 25.0),
        ("c", "o2", "2014-04-09", "p", 1, 20.0),
        ("c", "o1", "2014-03-14", "p", 1, 10.0),
    ])
    s = summary.customer_summary(tx, observation_end="2014-12-31").loc["c"]
    assert s["frequency"] == 2
    assert s["recency"] == 68.0  # 17 + 30 + 21 days
    assert s["T"] == 292.0
    assert s["monetary_value"] == 22.5  # mean of the repeat purchases 20 and 25
    assert s["n_orders"] == 3
    assert s["revenue"] == 55.0
    assert s["average_order_value"] == pytest.approx(55 / 3)
    assert s["days_since_last_order"] == 224
    assert s["tenure_days"] == 292


def test_same_day_orders_merge():
    tx = make_tx([
        ("c", "o1", "2012-01-06 09:00", "p", 1, 5.0),
        ("c", "o2", "2012-01-06 17:30", "q", 1, 7.0),
    ])
    s = summary.customer_summary(tx, observation_end="2012-12-31").loc["c"]
    assert (s["frequency"], s["recency"], s["T"], s["monetary_value"]) == (0, 0.0, 360.0, 0.0)
    assert s["n_orders"] == 2  # the segmentation convention counts distinct orders


def test_weeks_unit():
    tx = make_tx([("c", "o1", "1997-01-01", "p", 1, 1.0)])
    s = summary.btyd_summary(tx, observation_end="1997-09-30", time_unit="weeks").loc["c"]
    assert s["T"] == pytest.approx(272 / 7)


def test_row_order_does_not_matter():
    rng = np.random.default_rng(0)
    n = 400
    tx = make_tx([
        (f"c{rng.integers(0, 30)}", f"o{i}", pd.Timestamp("2020-01-01") + pd.Timedelta(hours=int(rng.integers(0, 8000))),
         "p", 1.0, float(rng.gamma(2, 3.3)))
        for i in range(n)
    ])
    a = summary.customer_summary(tx, observation_end="2020-12-31")
    b = summary.customer_summary(tx.sample(frac=1, random_state=1), observation_end="2020-12-31")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_transactions_after_observation_end_refused():
    tx = make_tx([("c", "o1", "2014-03-14", "p", 1, 1.0)])
    with pytest.raises(ValueError, match="after observation_end"):
        summary.customer_summary(tx, observation_end="2014-03-01")


def test_unknown_time_unit():
    tx = make_tx([("c", "o1", "2014-03-14", "p", 1, 1.0)])
    with pytest.raises(ValueError, match="time_unit"):
        summary.btyd_summary(tx, time_unit="months")


def test_calibration_holdout_split_hand_case():
    tx = make_tx([
        ("a", "1", "2020-01-05", "p", 1, 10.0),
        ("a", "2", "2020-01-20", "p", 1, 30.0),
        ("a", "3", "2020-02-03", "p", 1, 8.0),   # holdout
        ("a", "4", "2020-02-03", "q", 1, 4.0),   # same holdout day
        ("a", "5", "2020-02-10", "p", 1, 6.0),   # holdout
        ("b", "6", "2020-01-31", "p", 1, 3.0),   # last calibration day
        ("n", "7", "2020-02-05", "p", 1, 9.0),   # first seen in the holdout: excluded
        ("a", "8", "2020-04-01", "p", 1, 99.0),  # after the holdout: ignored
    ])
    ch = summary.calibration_holdout_split(tx, cutoff="2020-02-01", holdout_end="2020-02-29")
    s = ch.summary
    assert list(s.index) == ["a", "b"]
    assert ch.n_new_in_holdout == 1
    assert ch.n_after_holdout_rows == 1
    assert ch.calibration_end == pd.Timestamp("2020-01-31")
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "recency"] == 15 and s.loc["a", "T"] == 26
    assert s.loc["a", "monetary_value"] == 30.0
    assert s.loc["b", "T"] == 0 and s.loc["b", "days_since_last_order"] == 0
    assert s.loc["a", "frequency_holdout"] == 2 and s.loc["b", "frequency_holdout"] == 0
    assert s.loc["a", "revenue_holdout"] == 18.0
    assert s.loc["a", "monetary_value_holdout"] == 9.0
    assert (s["duration_holdout"] == 29).all()


def test_calibration_features_ignore_the_future():
    base = [("a", "1", "2020-01-05", "p", 1, 10.0), ("a", "2", "2020-01-20", "p", 1, 30.0)]
    t1 = make_tx(base + [("a", "3", "2020-02-03", "p", 1, 8.0)])
    t2 = make_tx(base + [("a", "3", "2020-02-01", "p", 1, 500.0), ("a", "9", "2020-03-01", "p", 1, 1.0)])
    cols = list(summary.SEGMENTATION_COLUMNS + summary.BTYD_COLUMNS)
    s1 = summary.calibration_holdout_split(t1, "2020-02-01", "2020-02-03").summary[cols]
    s2 = summary.calibration_holdout_split(t2, "2020-02-01", "2020-02-03").summary[cols]
    pd.testing.assert_frame_equal(s1, s2)


def test_holdout_end_after_the_data_refused_and_ambiguous_dates_refused():
    tx = make_tx([("a", "1", "2020-01-05", "p", 1, 1.0), ("a", "2", "2020-02-05", "p", 1, 1.0)])
    with pytest.raises(ValueError, match="after the last transaction"):
        summary.calibration_holdout_split(tx, "2020-02-01", "2020-06-30")
    with pytest.raises(Exception, match="day-first"):
        summary.customer_summary(tx, observation_end="05/04/2020")


def test_cdnow_sample_matches_published_summary():
    """Weeks 1-39 of the CDNOW 1/10 sample against the summary shipped with lifetimes
    (x, t_x, T, zbar of Fader, Hardie & Lee 2005, rounded to 2 decimals)."""
    tx = load_cdnow(sample=True).transactions
    ch = summary.calibration_holdout_split(tx, "1997-10-01", "1998-06-30", time_unit="weeks")
    sample_id = read_cdnow_raw(sample=True).groupby("customer_id")["sample_id"].first()
    ours = ch.summary.assign(ID=sample_id.reindex(ch.summary.index)).sort_values("ID")
    ref = pd.read_csv(_lifetimes_data_file("cdnow_customers_summary_with_transactions.csv"))
    assert len(ours) == len(ref) == 2357
    np.testing.assert_array_equal(ours["ID"], ref["ID"])
    np.testing.assert_array_equal(ours["frequency"], ref["x"])
    np.testing.assert_allclose(ours["recency"], ref["t_x"], atol=0.005)
    np.testing.assert_allclose(ours["T"], ref["T"], atol=0.005)
    np.testing.assert_allclose(ours["monetary_value"], ref["zbar"], atol=0.0051)  # published rounds half up
    assert ours["duration_holdout"].iloc[0] == 39.0
