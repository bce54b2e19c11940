import numpy as np
import pandas as pd
import pytest

from retention_utils import scoring
from retention_utils.models import survival as SV
from retention_utils.tables import covariates as CV
from retention_utils.tables import durations as DU

from .conftest import make_tx

D = pd.Timestamp


def _tx(rows):
    """rows: (customer, day 'YYYY-MM-DD', revenue) -> canonical transactions, one order per row."""
    return make_tx(
        (c, f"o{i}", f"{d} 10:00", "p1" if i % 2 else "p2", 1.0, r) for i, (c, d, r) in enumerate(rows)
    )


# ------------------------------------------------------------------------------------------------
# durations and censoring
# ------------------------------------------------------------------------------------------------


def test_censoring_at_cutoff_issue_example():
    idx = pd.Index(["a", "b", "c"], name="customer_id")
    start = pd.Series(pd.to_datetime(["2013-10-08", "2013-10-09", "2013-10-10"]), index=idx)
    end = pd.Series(pd.to_datetime(["2013-10-10", "2013-10-12", "2013-10-15"]), index=idx)
    out = DU.censor_at_cutoff(start, end, "2013-10-12")
    assert out["duration"].tolist() == [2.0, 3.0, 2.0]
    assert out["event"].tolist() == [1, 1, 0]  # an end on the cutoff day is observed; 10-15 is the future
    assert out.loc["c", "end"] == D("2013-10-12")


def test_censoring_ignores_time_of_day_and_missing_end_is_censored():
    idx = pd.Index(["a", "b"])
    start = pd.Series(pd.to_datetime(["2013-10-08 23:00", "2013-10-09 01:00"]), index=idx)
    end = pd.Series(pd.to_datetime(["2013-10-10 00:30", None]), index=idx)
    out = DU.censor_at_cutoff(start, end, "2013-10-12 18:00")
    assert out["duration"].tolist() == [2.0, 3.0]
    assert out["event"].tolist() == [1, 0]


def test_negative_duration_names_the_customer():
    idx = pd.Index(["ok", "bad"])
    start = pd.Series(pd.to_datetime(["2013-10-08", "2013-10-09"]), index=idx)
    end = pd.Series(pd.to_datetime(["2013-10-10", "2013-10-05"]), index=idx)
    with pytest.raises(DU.DurationError, match="negative durations.*'bad'") as err:
        DU.censor_at_cutoff(start, end, "2013-10-12")
    assert err.value.customers == ("bad",)


def test_missing_start_and_start_after_cutoff_are_named():
    idx = pd.Index(["a", "b"])
    end = pd.Series(pd.to_datetime(["2013-10-10", "2013-10-11"]), index=idx)
    with pytest.raises(DU.DurationError, match="missing start.*'b'"):
        DU.censor_at_cutoff(pd.Series(pd.to_datetime(["2013-10-01", None]), index=idx), end, "2013-10-12")
    with pytest.raises(DU.DurationError, match="after the cutoff.*'a'"):
        DU.censor_at_cutoff(pd.Series(pd.to_datetime(["2013-10-20", "2013-10-01"]), index=idx), end, "2013-10-12")


def test_check_durations_rules():
    t = pd.DataFrame({"duration": [3.0, -1.0, np.nan, 0.0], "churned": [1, 0, 1, 0]}, index=["a", "b", "c", "d"])
    with pytest.raises(DU.DurationError, match="missing or infinite.*'c'"):
        DU.check_durations(t)
    with pytest.raises(DU.DurationError, match="negative durations.*'b'"):
        DU.check_durations(t.drop(index="c"))
    with pytest.raises(DU.DurationError, match="zero durations.*'d'"):
        DU.check_durations(t.drop(index=["b", "c"]))
    with pytest.raises(DU.DurationError, match="0/1.*'a'"):
        DU.check_durations(pd.DataFrame({"duration": [1.0], "churned": [2]}, index=["a"]))
    DU.check_durations(t.loc[["a"]])


def _churn_rows():
    # tau = 10 days, cutoff 2020-01-31 (inclusive)
    return [
        ("a", "2020-01-01", 10.0), ("a", "2020-01-05", 5.0),  # last 01-05 -> churn 01-15 <= cutoff: churned
        ("b", "2020-01-02", 8.0), ("b", "2020-01-21", 4.0),  # last 01-21 -> churn 01-31 = cutoff: churned
        ("c", "2020-01-03", 7.0), ("c", "2020-01-22", 1.0),  # last 01-22: within tau of the end -> censored
        ("d", "2020-01-31", 3.0),  # first purchase on the cutoff day: no time at risk
    ]


def test_churn_durations_by_hand():
    res = DU.churn_durations(_tx(_churn_rows()), tau_days=10, cutoff="2020-01-31")
    t = res.table
    assert list(t.index) == ["a", "b", "c"]
    assert t["duration"].tolist() == [14.0, 29.0, 28.0]  # 01-01..01-15, 01-02..01-31, 01-03..cutoff
    assert t["churned"].tolist() == [1, 1, 0]
    assert t.loc["a", "churn_date"] == D("2020-01-15") and pd.isna(t.loc["c", "churn_date"])
    assert res.n_customers == 4 and res.n_censored_by_origin == 1 and res.n_churned_by_origin == 0
    # nobody whose last purchase is within tau of the cutoff is churned
    assert not ((D("2020-01-31") - t["last_purchase"]).dt.days < 10)[t["churned"] == 1].any()


def test_churn_durations_never_use_the_future():
    base = _churn_rows()
    later = base + [("a", "2020-02-03", 9.0), ("c", "2020-02-01", 2.0), ("z", "2020-02-02", 1.0)]
    r0 = DU.churn_durations(_tx(base), 10, "2020-01-31")
    r1 = DU.churn_durations(_tx(later), 10, "2020-01-31")
    pd.testing.assert_frame_equal(r0.table, r1.table)
    assert r1.n_rows_after_cutoff == 3
    # at the later cutoff, 'a' came back and is no longer churned
    r2 = DU.churn_durations(_tx(later), 10, "2020-02-05")
    assert r2.table.loc["a", "churned"] == 0


def test_churn_durations_landmark_origin():
    res = DU.churn_durations(_tx(_churn_rows()), 10, "2020-01-31", origin_days=14)
    # a churns on 01-15 = landmark 01-15: not at risk there; d has no time at risk
    assert list(res.table.index) == ["b", "c"]
    assert res.table["duration"].tolist() == [15.0, 14.0]
    assert res.n_churned_by_origin == 1 and res.n_censored_by_origin == 1


def test_churn_threshold_by_hand():
    tx = _tx([("a", "2020-01-01", 1.0), ("a", "2020-01-11", 1.0), ("a", "2020-01-31", 1.0),
              ("b", "2020-01-01", 1.0), ("b", "2020-01-06", 1.0), ("c", "2020-01-01", 1.0)])
    # gaps: a 10, 20 (longest 20); b 5 (longest 5); c none
    th = DU.churn_threshold(tx, 0.5, "customer_max")
    assert th.tau_days == 20 and th.n_values == 2
    assert th.share_customers_returned_after_lapse == pytest.approx(1 / 3)
    th = DU.churn_threshold(tx, 0.5, "all_gaps")
    assert th.tau_days == 10 and th.share_gaps_at_least_tau == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="percentile"):
        DU.churn_threshold(tx, 1.0)


# ------------------------------------------------------------------------------------------------
# covariates
# ------------------------------------------------------------------------------------------------


def test_first_window_features_by_hand():
    tx = _tx([("a", "2020-01-01", 10.0), ("a", "2020-01-04", 20.0), ("a", "2020-02-10", 5.0),
              ("b", "2020-01-10", 4.0), ("b", "2020-01-12", 6.0)])
    f = DU.first_window_features(tx, window_days=30, cutoff="2020-01-11")
    assert f.loc["a", "n_orders"] == 2 and f.loc["a", "revenue"] == 30.0
    assert f.loc["a", "days_since_last_order"] == 26.0  # window ends 01-30; last purchase 01-04
    assert f.loc["a", "active_span_days"] == 3.0
    assert f.loc["b", "n_orders"] == 1  # the 01-12 purchase is after the cutoff


def test_first_window_transactions_by_hand():
    tx = _tx([("a", "2020-01-01", 10.0), ("a", "2020-01-30", 20.0), ("a", "2020-01-31", 5.0),
              ("b", "2020-01-10", 4.0), ("b", "2020-01-12", 6.0), ("b", "2020-02-08", 7.0)])
    w = DU.first_window_transactions(tx, window_days=30, cutoff="2020-02-05")
    # a: 01-01 .. 01-30 is the window (01-31 is day 30, outside); b: 01-10 .. 02-08, but 02-08 is after the cutoff
    assert list(zip(w["customer_id"], w["revenue"], strict=True)) == [("a", 10.0), ("a", 20.0), ("b", 4.0), ("b", 6.0)]
    assert w.index.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="window_days"):
        DU.first_window_transactions(tx, 0, "2020-02-05")


def test_campaigns_in_window_overlap_rule():
    exp = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "campaign_id": ["1", "2", "3", "1"],
                        "start_date": pd.to_datetime(["2019-12-01", "2020-01-30", "2020-01-31", "2019-12-01"]),
                        "end_date": pd.to_datetime(["2020-01-01", "2020-03-01", "2020-03-01", "2019-12-31"])})
    first = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-01"]), index=["a", "b", "c"])
    n = CV.campaigns_in_window(exp, first, window_days=30)  # window 01-01 .. 01-30
    assert n.tolist() == [2.0, 0.0, 0.0]


def test_demographic_covariates_codes_fill_and_indicator():
    cust = pd.DataFrame({"customer_id": ["a", "b", "c"],
                         "age": pd.Categorical(["19-24", "45-54", "65+"], categories=["19-24", "25-34", "45-54", "65+"], ordered=True)})
    out = CV.demographic_covariates(cust, pd.Index(["a", "b", "c", "x"]), columns=["age"])
    assert out["age"].tolist() == [0.0, 2.0, 3.0, 2.0]  # x gets the median code of the covered (2)
    assert out["demographics_missing"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert CV.demographic_covariates(None, pd.Index(["a"])).shape == (1, 0)


def _cov_table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "duration": rng.integers(1, 50, n).astype(float),
                      "churned": np.tile([1, 0], n // 2)}, index=[f"c{i:02d}" for i in range(n)])
    return t


def test_constant_column_gets_the_named_error():
    t = _cov_table().assign(const=3.0)
    with pytest.raises(SV.CovariateError, match="'const' is constant") as err:
        SV.check_covariates(t, ["x1", "const", "x2"])
    assert err.value.columns == ("const",)
    with pytest.raises(SV.CovariateError, match="'const' is constant"):
        SV.fit_cox(t, ["x1", "const"])  # before lifelines ever runs


def test_collinear_nan_and_separation_are_named():
    t = _cov_table()
    t["x3"] = 2 * t["x1"] - t["x2"] + 5
    with pytest.raises(SV.CovariateError, match="'x3' is perfectly collinear") as err:
        SV.check_covariates(t, ["x1", "x2", "x3"])
    assert err.value.columns == ("x3",)
    t["gap"] = t["x1"].where(t.index != "c03")
    with pytest.raises(SV.CovariateError, match="'gap' has missing.*'c03'"):
        SV.check_covariates(t, ["x1", "gap"])
    t["rare"] = np.where(t["churned"] == 1, 0.0, (np.arange(len(t)) % 4 == 1).astype(float))
    with pytest.raises(SV.CovariateError, match="'rare': every event has its minimum"):
        SV.check_covariates(t, ["x1", "rare"])
    # a covariate constant within each stratum is absorbed by the strata
    t["s"] = np.arange(len(t)) % 2
    t["by_stratum"] = t["s"] * 3.0
    with pytest.raises(SV.CovariateError, match="'by_stratum' is perfectly collinear within strata"):
        SV.check_covariates(t, ["x1", "by_stratum"], strata=["s"])
    kept, dropped = SV.screen_covariates(t.assign(const=1.0), ["x1", "x2", "x3", "const", "rare"])
    assert kept == ["x1", "x2"] and sorted(dropped.index) == ["const", "rare", "x3"]


# ------------------------------------------------------------------------------------------------
# Kaplan-Meier, log-rank, Cox predictions
# ------------------------------------------------------------------------------------------------

KM_D = [2.0, 3.0, 3.0, 5.0, 6.0]
KM_E = [1, 1, 0, 1, 0]


def test_kaplan_meier_hand_values():
    kmf = SV.kaplan_meier(KM_D, KM_E)
    # S(2) = 4/5; S(3) = 0.8 * 3/4 (censored at 3 leaves after the event); S(5) = 0.6 * 1/2
    for t, s in [(1, 1.0), (2, 0.8), (3, 0.6), (4.9, 0.6), (5, 0.3), (6, 0.3)]:
        assert SV.km_at(kmf, t)[0] == pytest.approx(s)
    row = SV.km_summary(kmf, KM_D, KM_E, horizon=2)
    assert row["median_days"] == 5.0 and row["customers"] == 5 and row["churned"] == 3
    # exponential Greenwood band at t = 2: v = [1/(5*4)] / log(0.8)^2, S^exp(+-z sqrt(v))
    z = 1.959963984540054
    v = (1 / 20) / np.log(0.8) ** 2
    assert row["S_lower"] == pytest.approx(0.8 ** np.exp(z * np.sqrt(v)), rel=1e-6)
    assert row["S_upper"] == pytest.approx(0.8 ** np.exp(-z * np.sqrt(v)), rel=1e-6)


def test_logrank_two_groups_by_hand():
    t = pd.DataFrame({"duration": [1.0, 2.0, 3.0, 4.0], "churned": [1, 1, 1, 1]}, index=list("abcd"))
    g = pd.Series(["A", "A", "B", "B"], index=t.index, name="g")
    # O_A - E_A = 2 - (1/2 + 1/3); V = 1/4 + 2/9
    expected = (2 - 5 / 6) ** 2 / (1 / 4 + 2 / 9)
    res = SV.logrank_by_group(t, g)
    assert res["test_statistic"] == pytest.approx(expected) and res["degrees_of_freedom"] == 1
    fitted, summary = SV.km_by_group(t, g, horizon=2)
    assert list(summary.index) == ["A", "B"] and summary.loc["A", "S_horizon"] == 0.0
    assert summary.loc["B", "S_horizon"] == 1.0


def test_cox_product_limit_prediction_is_kaplan_meier_when_coefficients_vanish():
    t = pd.DataFrame({"duration": KM_D, "churned": KM_E, "x": [0.3, -1.0, 0.5, 2.0, -0.7]}, index=list("abcde"))
    cph = SV.fit_cox(t, ["x"], penalizer=1e7)  # coefficient ~ 0
    assert abs(cph.params_["x"]) < 1e-5
    s = SV.survival_at(cph, t, 5)
    assert np.allclose(s, 0.3, atol=1e-5)  # KM S(5)
    s_breslow = SV.survival_at(cph, t, 5, cox_method="breslow")
    assert np.allclose(s_breslow, np.exp(-(1 / 5 + 1 / 4 + 1 / 2)), atol=1e-5)  # exp(-Nelson-Aalen)


def test_stratified_predictions_align_by_customer():
    rng = np.random.default_rng(1)
    n = 60
    t = pd.DataFrame({"duration": rng.integers(1, 30, n).astype(float), "churned": rng.integers(0, 2, n),
                      "x": rng.normal(size=n), "s": np.repeat([1, 0], n // 2)}, index=[f"c{i:02d}" for i in range(n)])
    cph = SV.fit_cox(t, ["x"], strata=["s"])
    s1 = SV.survival_at(cph, t, 15)
    s2 = SV.survival_at(cph, t.sample(frac=1, random_state=3), 15)
    pd.testing.assert_series_equal(s1, s2.reindex(s1.index))
    lif = SV.survival_at(cph, t, 15, cox_method="breslow")
    direct = cph.predict_survival_function(t.loc[["c00"]], times=[15.0]).iloc[0, 0]
    assert lif["c00"] == pytest.approx(direct)


def test_plan_strata_bins_never_split_ties():
    ph = pd.DataFrame({"p_value": [1e-9, 0.5]}, index=["n", "y"])
    t = pd.DataFrame({"n": [1.0] * 8 + [2.0, 3.0], "y": np.arange(10.0)})
    plan = SV.plan_strata(ph, t, ["n", "y"], alpha=0.01, n_bins=4)
    assert plan.stratified == ("n",) and plan.covariates == ("y",)
    assert plan.edges["n"] == (1.5, 2.5)
    assert plan.apply(t)["n_stratum"].tolist() == [0] * 8 + [1, 2]


# ------------------------------------------------------------------------------------------------
# validation metrics
# ------------------------------------------------------------------------------------------------


def test_concordance_direction_is_explicit():
    d, e = [1.0, 2.0, 3.0], [1, 1, 1]
    assert scoring.concordance(d, e, [1, 2, 3], higher_means="longer") == 1.0
    assert scoring.concordance(d, e, [1, 2, 3], higher_means="shorter") == 0.0
    # the first is censored before anyone else's event: only the pair (2, 3) is comparable
    assert scoring.concordance(d, [0, 1, 1], [9, 1, 2], higher_means="longer") == 1.0
    with pytest.raises(ValueError, match="higher_means"):
        scoring.concordance(d, e, [1, 2, 3], higher_means="hazard")


def test_calibration_at_horizon_by_hand():
    d = pd.Series([1.0, 5.0, 4.0, 6.0], index=list("abcd"))
    e = pd.Series([1, 0, 0, 1], index=d.index)
    p = pd.Series([0.2, 0.3, 0.8, 0.9], index=d.index)
    cal = SV.calibration_at_horizon(d, e, p, horizon=3, n_groups=2)
    assert cal["customers"].tolist() == [2, 2]
    assert cal["predicted"].tolist() == pytest.approx([0.25, 0.85])
    assert cal["observed"].tolist() == pytest.approx([0.5, 1.0])  # a churns at 1; c, d survive past 3
    assert cal["churned_by_horizon"].tolist() == [1, 0]


def test_brier_score_by_hand():
    # no censoring: (0.2^2 + (1 - 0.7)^2) / 2
    assert scoring.brier_score_at([1.0, 5.0], [1, 1], [0.2, 0.7], 3) == pytest.approx(0.065)
    # censoring KM G: 1 until 2, then 1/2. a: 0.2^2 / G(1-) = 0.04; b censored before 3: 0; c: 0.3^2 / G(3) = 0.18
    assert scoring.brier_score_at([1.0, 2.0, 5.0], [1, 0, 1], [0.2, 0.5, 0.7], 3) == pytest.approx((0.04 + 0.18) / 3)
    # an event tied with a censoring at 2: G(2-) = 3/4 counts the censoring at 1 only; G(3) = 3/4 * 2/3 = 1/2
    bs = scoring.brier_score_at([1.0, 2.0, 2.0, 5.0], [0, 1, 0, 1], [0.5, 0.2, 0.5, 0.7], 3)
    assert bs == pytest.approx((0.2**2 / 0.75 + 0.3**2 / 0.5) / 4)


def test_split_customers_is_seeded_and_disjoint():
    t = _cov_table(100)
    tr, te = SV.split_customers(t, 0.3, seed=7)
    tr2, te2 = SV.split_customers(t.sample(frac=1, random_state=1), 0.3, seed=7)
    assert tr.equals(tr2) and te.equals(te2)
    assert len(te) == 30 and not set(tr) & set(te) and set(tr) | set(te) == set(t.index)
    assert t.loc[te, "churned"].sum() == 15


# ------------------------------------------------------------------------------------------------
# scoring at a calendar cutoff
# ------------------------------------------------------------------------------------------------


def _np_rows():
    return [
        ("a", "2020-01-01", 10.0), ("a", "2020-01-08", 30.0), ("a", "2020-01-12", 5.0),  # next purchase 01-12
        ("b", "2020-01-05", 4.0), ("b", "2020-01-20", 6.0),  # next purchase after the follow-up: censored
        ("c", "2020-01-10", 8.0), ("c", "2020-01-10", 2.0),  # bought on the cutoff day, never again
        ("d", "2020-01-11", 1.0),  # first seen after the cutoff: not in the table
    ]


def test_next_purchase_table_by_hand():
    t = DU.next_purchase_table(_tx(_np_rows()), cutoff="2020-01-10", follow_up_end="2020-01-15")
    assert list(t.index) == ["a", "b", "c"]
    assert t["days_since_last_purchase"].tolist() == [2.0, 5.0, 0.0]
    assert t["purchase_days"].tolist() == [2.0, 1.0, 1.0]  # c's two orders are on one day
    assert t["revenue"].tolist() == [40.0, 4.0, 10.0]
    assert t["tenure_days"].tolist() == [9.0, 5.0, 0.0]
    assert t["log_days_since_last_purchase"].tolist() == pytest.approx(np.log([3.0, 6.0, 1.0]))
    assert t["log_purchase_days"].tolist() == pytest.approx([np.log(2.0), 0.0, 0.0])
    assert t["log_revenue"].tolist() == pytest.approx(np.log([41.0, 5.0, 11.0]))
    assert t["log_tenure_days"].tolist() == pytest.approx(np.log([10.0, 6.0, 1.0]))
    assert t["duration"].tolist() == [2.0, 5.0, 5.0]  # 01-10 -> 01-12; censored at 01-15
    assert t["purchased"].tolist() == [1, 0, 0]
    assert t.loc["a", "next_purchase"] == D("2020-01-12") and pd.isna(t.loc["b", "next_purchase"])
    # covariates never read past the cutoff; without a follow-up there is no outcome
    s = DU.next_purchase_table(_tx(_np_rows()), cutoff="2020-01-10")
    pd.testing.assert_frame_equal(s, t[s.columns])
    assert "duration" not in s
    with pytest.raises(ValueError, match="after the cutoff"):
        DU.next_purchase_table(_tx(_np_rows()), "2020-01-10", "2020-01-10")


def _np_fit_table():
    # durations and events chosen by hand; x pushes the purchase sooner
    t = pd.DataFrame({"duration": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0],
                      "purchased": [1, 1, 0, 1, 0, 0],
                      "x": [2.0, 1.5, 1.0, 0.0, 0.5, -1.0]}, index=list("abcdef"))
    return t


def test_next_purchase_score_is_the_partial_hazard_and_orders_the_probability():
    t = _np_fit_table()
    cph = SV.fit_cox(t, ["x"], event_col="purchased")
    b = float(cph.params_["x"])
    assert b > 0
    new = pd.DataFrame({"x": [3.0, -2.0, 0.25]}, index=["u", "v", "w"])
    score = SV.next_purchase_score(cph, new)
    xbar = t["x"].mean()  # 4/6
    assert score.tolist() == pytest.approx(np.exp((new["x"] - xbar) * b).tolist())
    assert score.name == "next_purchase_hazard"
    # P(purchase within t) = 1 - S(t | x) ranks as the score does, at every horizon
    for horizon in (1, 2, 4):
        p = 1 - SV.survival_at(cph, new, horizon)
        assert list(p.sort_values().index) == list(score.sort_values().index) == ["v", "w", "u"]


def test_next_purchase_score_refuses_churn_models_and_strata():
    t = _np_fit_table()
    churn = SV.fit_cox(t.rename(columns={"purchased": "churned"}), ["x"])
    with pytest.raises(ValueError, match="event column is 'churned'"):
        SV.next_purchase_score(churn, t)
    strat = SV.fit_cox(t.assign(s=[0, 1, 0, 1, 0, 1]), ["x"], strata=["s"], penalizer=0.1, event_col="purchased")
    with pytest.raises(ValueError, match="stratified"):
        SV.next_purchase_score(strat, t.assign(s=0))


def test_next_purchase_training_cutoff_by_hand():
    # holdout of 92 days, calibration of 273 days: the shorter follow-up is the holdout's 92 days
    assert DU.next_purchase_training_cutoff("2017-01-01", "2017-09-30", "2017-12-31") == pd.Timestamp("2017-06-30")
    # a long holdout after a short calibration: half of the 60 calibration days (30)
    assert DU.next_purchase_training_cutoff("2020-01-01", "2020-02-29", "2020-12-31") == pd.Timestamp("2020-01-30")
