"""Hand-computed tests of the campaign-effect data preparation (retention_utils.causal.panel)."""

from __future__ import annotations

import pandas as pd
import pytest

from retention_utils.causal import panel as P
from retention_utils.data.datasets import Dataset
from tests.conftest import make_tx


def _camps(rows):
    return pd.DataFrame(rows, columns=["campaign_id", "campaign_type", "start_date", "end_date"]).assign(
        start_date=lambda d: pd.to_datetime(d["start_date"]), end_date=lambda d: pd.to_datetime(d["end_date"]))


def _data(exposure_rows, camp_rows, redemptions=None):
    camps = _camps(camp_rows)
    ds = Dataset("toy", make_tx([("x", "o", "2017-01-01", "p", 1, 1.0)]), tables={
        "campaigns": pd.DataFrame(exposure_rows, columns=["campaign_id", "customer_id"]),
        "campaign_descriptions": camps,
        **({"coupon_redemptions": redemptions} if redemptions is not None else {}),
    })
    return P.campaign_data(ds)


def test_no_campaign_tables_is_a_named_one_line_error():
    ds = Dataset("cdnow", make_tx([("x", "o", "2017-01-01", "p", 1, 1.0)]))
    with pytest.raises(P.NoCampaignDataError, match="'cdnow' has no campaign tables") as err:
        P.campaign_data(ds)
    assert "\n" not in str(err.value)


def test_windows_boundaries_usability_and_placebo_shift():
    c = _camps([("1", "A", "2017-03-01", "2017-03-20"), ("2", "A", "2017-01-10", "2017-01-30")])
    w = P.campaign_windows(c, "2017-01-01", "2017-03-10", pre_weeks=4)
    r1, r2 = w.iloc[0], w.iloc[1]
    assert r1["anchor"] == pd.Timestamp("2017-03-01")
    assert r1["window_end"] == pd.Timestamp("2017-03-10")  # clipped at the observation end
    assert r1["window_days"] == 10 and r1["window_weeks"] == pytest.approx(10 / 7)
    assert r1["pre_start"] == pd.Timestamp("2017-02-01") and r1["usable"]
    assert not r2["usable"] and "pre-period" in r2["reason"]  # 2016-12-13 is before the data
    # placebo: anchor one week earlier, window closes the day before the real start
    p = P.campaign_windows(c, "2017-01-01", "2017-03-10", pre_weeks=4, shift_weeks=1).iloc[0]
    assert p["anchor"] == pd.Timestamp("2017-02-22") and p["window_end"] == pd.Timestamp("2017-02-28")
    assert p["window_days"] == 7 and p["pre_start"] == pd.Timestamp("2017-01-25")


def test_weekly_panel_is_balanced_and_drops_the_partial_week():
    tx = make_tx([
        ("a", "o1", "2017-01-01 10:00", "p", 1, 2.0), ("a", "o1", "2017-01-01 10:00", "q", 1, 3.0),
        ("a", "o2", "2017-01-08 09:00", "p", 1, 4.0), ("b", "o3", "2017-01-14 23:00", "p", 1, 1.0),
        ("b", "o4", "2017-01-15 08:00", "p", 1, 9.0),  # day 15 = a third, partial week: left out
    ])
    pan = P.household_week_panel(tx, "2017-01-01", "2017-01-15")
    assert list(pan["customer_id"]) == ["a", "a", "b", "b"] and list(pan["week"]) == [1, 2, 1, 2]
    assert list(pan["spend"]) == [5.0, 4.0, 0.0, 1.0] and list(pan["visits"]) == [1, 1, 0, 1]


def test_pre_period_features_use_only_days_strictly_before_the_anchor():
    rows = [
        ("c", "o0", "2017-01-31", "p", 1, 7.0),   # before the 4-week pre-period
        ("c", "o1", "2017-02-01", "p", 1, 5.0),   # first pre-period day (anchor - 28)
        ("c", "o2", "2017-02-28", "p", 1, 10.0),  # last pre-period day
        ("c", "o3", "2017-03-01", "p", 1, 100.0),  # the anchor day: outcome, not confounder
    ]
    anchor = pd.DataFrame({"customer_id": ["c"], "anchor": [pd.Timestamp("2017-03-01")]})
    f = P.pre_period_features(make_tx(rows), anchor, pre_weeks=4).iloc[0]
    assert f["pre_spend_per_week"] == pytest.approx(15 / 4)
    assert f["pre_visits_per_week"] == pytest.approx(2 / 4)
    assert f["pre_active_weeks"] == 2  # back-weeks 0 (Feb 22-28) and 3 (Feb 1-7)
    assert f["pre_days_since_last_order"] == 1
    assert f["pre_basket_value"] == pytest.approx(7.5)
    # changing or adding anything on or after the anchor leaves every feature unchanged
    later = make_tx(rows[:3] + [("c", "o3", "2017-03-01", "p", 1, 1e6), ("c", "o9", "2017-04-01", "p", 1, 3.0)])
    pd.testing.assert_series_equal(P.pre_period_features(later, anchor, pre_weeks=4).iloc[0], f)


def test_window_outcomes_include_both_ends():
    tx = make_tx([("c", "o1", "2017-03-01", "p", 1, 7.0), ("c", "o2", "2017-03-14 23:59", "p", 1, 7.0),
                  ("c", "o3", "2017-03-15", "p", 1, 50.0), ("c", "o4", "2017-02-28", "p", 1, 50.0)])
    rows = pd.DataFrame({"customer_id": ["c", "d"], "anchor": pd.to_datetime(["2017-03-01"] * 2),
                         "window_end": pd.to_datetime(["2017-03-14"] * 2)})
    out = P.window_outcomes(tx, rows)
    assert list(out["spend_per_week"]) == [7.0, 0.0]  # 14 dollars over 2 weeks; d bought nothing
    assert list(out["visits_per_week"]) == [1.0, 0.0]


def test_cross_section_assigns_treated_and_clean_controls():
    # campaign A1 (usable), B1 overlapping A1's window; pre-period = 2 weeks before 2017-03-01
    camps = [("1", "A", "2017-03-01", "2017-03-14"), ("2", "B", "2017-03-10", "2017-03-20")]
    exposure = [("1", "t"), ("1", "lazy"), ("2", "busy")]
    red = pd.DataFrame({"customer_id": ["t"], "coupon_upc": ["9"], "campaign_id": ["1"],
                        "redemption_date": pd.to_datetime(["2017-03-05"])})
    data = _data(exposure, camps, red)
    pre = [(h, f"{h}0", "2017-02-20", "p", 1, v) for h, v in (("t", 20.0), ("busy", 10.0), ("never", 10.0))]
    tx = make_tx(pre + [("lazy", "l0", "2017-01-02", "p", 1, 1.0),   # inactive in the pre-period
                        ("t", "t1", "2017-03-02", "p", 1, 30.0), ("never", "n1", "2017-03-03", "p", 1, 8.0)])
    cs = P.campaign_cross_section(tx, data, "A", "2017-01-01", "2017-03-31", pre_weeks=2, seed=0)
    tab = cs.table
    assert list(tab.index) == ["never", "t"]  # busy was contacted by B during A1's window; lazy inactive
    assert tab.loc["t", "treated"] == 1 and tab.loc["never", "treated"] == 0
    assert tab.loc["never", "campaign_id"] == "1"  # pseudo event date of the only usable campaign
    assert tab.loc["t", "spend_per_week"] == pytest.approx(15.0)  # 30 over 14 days
    assert tab.loc["t", "redeemed"] == 1 and tab.loc["never", "redeemed"] == 0
    assert cs.counts["treated_inactive_or_contacted_in_window"] == 1
    assert cs.counts["control_no_clean_active_window"] == 1
    assert "pre_spend_per_week" in cs.covariates  # differs between the two rows
    assert "pre_visits_per_week" not in cs.covariates  # constant in the rows: no information


def test_first_contact_cohorts_and_did_sample():
    camps = [("1", "A", "2017-01-16", "2017-01-29"), ("2", "B", "2017-01-02", "2017-01-15"), ("3", "A", "2017-01-30", "2017-02-12")]
    data = _data([("1", "a"), ("3", "a"), ("2", "b"), ("3", "late")], camps)
    coh = P.first_contact_cohorts(data, ["a", "b", "late", "none"], "2017-01-01")
    assert coh.loc["a", "first_campaign"] == "1" and coh.loc["a", "cohort"] == 3.0  # Jan 16 is in week 3
    assert coh.loc["b", "cohort"] == 1.0 and coh.loc["late", "cohort"] == 5.0
    assert pd.isna(coh.loc["none", "cohort"])
    panel = pd.DataFrame({"customer_id": ["a", "b", "late", "none"], "week": 1, "spend": 0.0})
    s, counts = P.did_sample(panel, coh, "A", pre_weeks=2)
    assert sorted(s["customer_id"]) == ["a", "late", "none"]
    assert counts == {"treated": 2, "never_contacted": 1, "first_contact_too_early": 0, "first_contact_other_type": 1}
    s, counts = P.did_sample(panel, coh, "A", pre_weeks=3)
    assert counts["first_contact_too_early"] == 1 and sorted(s["customer_id"]) == ["late", "none"]


def test_redemption_rates():
    t = pd.DataFrame({"treated": [1, 1, 1, 0], "redeemed": [1, 0, 0, 0], "campaign_type": ["A", "A", "B", "A"]})
    r = P.redemption_rates(t, "campaign_type")
    assert r.loc["A", "households"] == 2 and r.loc["A", "redeemed"] == 1 and r.loc["A", "rate"] == 0.5
    assert r.loc["B", "rate"] == 0.0
