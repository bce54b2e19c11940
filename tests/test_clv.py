"""Tests for retention_utils.models.clv: hand-computed values on tiny tables.

BTYD models are used with hand-set parameters (``params_`` assigned, no fit) so that P(alive),
P(purchase) and expected spend can be written down in closed form:

* BG/NBD (Fader, Hardie & Lee 2005a; P(alive) from FHL 2008 note 021), r = 1, alpha = 2, a = 2, b = 3;
  x = 1, t_x = 2, T = 6: odds(dead) = a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
  = 2/3 * (8/4)**2 = 8/3, so P(alive) = 3/11; x = 0: P(alive) = 1.
* Gamma-Gamma (Fader & Hardie 2013 note), p = 2, q = 3, v = 10: E[M | x = 1, m = 20] =
  (p v + p x m) / (p x + q - 1) = 60 / 4 = 15; a one-time buyer gets p v / (q - 1) = 10.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from retention_utils.models import clv
from retention_utils.models.btyd import DAYS_PER_MONTH, BetaGeoFitter, GammaGammaFitter

# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def bg():
    m = BetaGeoFitter()
    m.params_ = {"r": 1.0, "alpha": 2.0, "a": 2.0, "b": 3.0}
    return m


@pytest.fixture
def gg():
    m = GammaGammaFitter()
    m.params_ = {"p": 2.0, "q": 3.0, "v": 10.0}
    return m


@pytest.fixture
def summary():
    return pd.DataFrame(
        {"frequency": [1, 0], "recency": [2.0, 0.0], "T": [6.0, 6.0], "monetary_value": [20.0, 0.0]},
        index=pd.Index(["b", "a"], name="customer_id"),
    )


class LinearModel:
    """Stub transaction model: E[X(t)] = 0.5 t."""

    def expected_purchases(self, t):
        return 0.5 * np.asarray(t, dtype="float64")


class StubFitted:
    """Stub with what parameter_table reads: params_, summary, log_likelihood_."""

    params_ = {"r": 0.25, "alpha": 4.0}
    log_likelihood_ = -100.0
    summary = pd.DataFrame({"se(coef)": [0.01, 0.5]}, index=["r", "alpha"])


# ---------------------------------------------------------------------------------------------
# units, fitting, parameters
# ---------------------------------------------------------------------------------------------


def test_time_units_per_month():
    assert clv.time_units_per_month("days") == 30.4375
    assert clv.time_units_per_month("weeks") == pytest.approx(30.4375 / 7)
    with pytest.raises(ValueError, match="time_unit"):
        clv.time_units_per_month("months")


def test_parameter_table_hand_values():
    t = clv.parameter_table({"X": StubFitted()}, {"X": {"r": 0.243, "log-likelihood": -100.5}})
    assert list(t.index) == [("X", "r"), ("X", "alpha"), ("X", "log-likelihood")]
    assert list(t.columns) == ["estimate", "se", "published", "difference"]
    assert t.loc[("X", "r"), "difference"] == pytest.approx(0.007)
    assert t.loc[("X", "alpha"), "se"] == 0.5 and math.isnan(t.loc[("X", "alpha"), "published"])
    assert t.loc[("X", "log-likelihood"), "difference"] == pytest.approx(0.5)
    assert math.isnan(t.loc[("X", "log-likelihood"), "se"])


def test_fit_models_gamma_gamma_uses_repeat_buyers_only():
    s = pd.DataFrame({"frequency": [0, 2, 1], "recency": [0.0, 3.0, 1.0], "T": [5.0, 5.0, 5.0],
                      "monetary_value": [0.0, 35.0, 12.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a boundary warning must be kept, not printed
        out = clv.fit_models(s, ["Gamma-Gamma"])
    m = out["Gamma-Gamma"]
    assert m.n_used_ == 2 and m.n_excluded_ == 1 and m.excluded_rows_ == [0]
    assert isinstance(m.fit_warnings_, list)
    with pytest.raises(ValueError, match="unknown model"):
        clv.fit_models(s, ["BG/NBD", "Pareto"])
    with pytest.raises(ValueError, match="monetary_value"):
        clv.fit_models(s.drop(columns="monetary_value"), ["Gamma-Gamma"])


# ---------------------------------------------------------------------------------------------
# holdout checks
# ---------------------------------------------------------------------------------------------


def test_frequency_groups_labels_and_order():
    g = clv.frequency_groups(pd.Series([0, 1, 2, 6, 7, 30], index=list("abcdef")), [0, 1, 2, 7])
    assert list(g.astype(str)) == ["0", "1", "2-6", "2-6", "7+", "7+"]
    assert list(g.cat.categories) == ["0", "1", "2-6", "7+"] and g.cat.ordered
    assert list(g.index) == list("abcdef")


@pytest.mark.parametrize("edges", [[1, 2], [0, 2, 2], [0, 3, 1], [0, 1.5]])
def test_frequency_groups_bad_edges(edges):
    with pytest.raises(ValueError, match="edges"):
        clv.frequency_groups(pd.Series([0, 1]), edges)


def test_frequency_groups_bad_frequency_names_rows():
    with pytest.raises(ValueError, match=r"offending rows \['y'\]"):
        clv.frequency_groups(pd.Series([0, 1.5], index=["x", "y"]), [0, 1])
    with pytest.raises(ValueError, match=r"\['x'\]"):
        clv.frequency_groups(pd.Series([-1, 1], index=["x", "y"]), [0, 1])


@pytest.fixture
def holdout():
    s = pd.DataFrame({"frequency": [0, 0, 1, 3, 8], "frequency_holdout": [0, 2, 1, 4, 10]},
                     index=pd.Index(["c1", "c2", "c3", "c4", "c5"], name="customer_id"))
    p = pd.DataFrame({"M": [0.5, 0.5, 1.0, 2.0, 9.0]}, index=s.index)
    return s, p


def test_holdout_by_frequency_hand_values(holdout):
    s, p = holdout
    t = clv.holdout_by_frequency(s, p, [0, 1, 2])
    assert list(t.index) == ["0", "1", "2+"]
    assert list(t["customers"]) == [2, 1, 2]
    np.testing.assert_allclose(t["actual"], [1.0, 1.0, 7.0])
    np.testing.assert_allclose(t["M"], [0.5, 1.0, 5.5])
    # an empty group is kept with 0 customers and NaN means
    t2 = clv.holdout_by_frequency(s, p, [0, 1, 2, 5, 10])
    assert list(t2.index) == ["0", "1", "2-4", "5-9", "10+"]
    assert list(t2["customers"]) == [2, 1, 1, 1, 0]
    np.testing.assert_allclose(t2["actual"].iloc[2:4], [4.0, 10.0])
    assert t2.loc["10+", ["actual", "M"]].isna().all()
    with pytest.raises(ValueError, match="same index"):
        clv.holdout_by_frequency(s, p.iloc[::-1], [0, 1])


def test_holdout_accuracy_hand_values():
    y = pd.Series([0.0, 2.0, 1.0, 4.0], index=list("abcd"))
    p = pd.DataFrame({"A": [1.0, 1.0, 1.0, 4.0], "B": [0.0, 0.0, 0.0, 0.0]}, index=y.index)
    t = clv.holdout_accuracy(y, p)
    assert t.loc["A", "actual_total"] == 7 and t.loc["A", "predicted_total"] == 7
    assert t.loc["A", "total_error"] == 0
    assert t.loc["A", "mae"] == pytest.approx(0.5)
    assert t.loc["A", "rmse"] == pytest.approx(math.sqrt(0.5))
    assert t.loc["A", "correlation"] == pytest.approx(math.sqrt(6.75 / 8.75))
    assert t.loc["B", "total_error"] == -1
    assert t.loc["B", "mae"] == pytest.approx(1.75)
    assert t.loc["B", "rmse"] == pytest.approx(math.sqrt(21 / 4))
    assert math.isnan(t.loc["B", "correlation"])  # constant prediction
    with pytest.raises(ValueError, match="non-finite"):
        clv.holdout_accuracy(y, p.assign(A=[1.0, np.nan, 1.0, 1.0]))


def test_holdout_predictions_equal_conditional_expectation(bg):
    s = pd.DataFrame({"frequency": [1, 0], "recency": [2.0, 0.0], "T": [6.0, 3.0], "duration_holdout": [10.0, 10.0]},
                     index=["b", "a"])
    out = clv.holdout_predictions({"BG/NBD": bg}, s)
    assert list(out.columns) == ["BG/NBD"] and list(out.index) == ["b", "a"]
    np.testing.assert_allclose(out["BG/NBD"], bg.expected_purchases(10.0, s["frequency"], s["recency"], s["T"]))


# ---------------------------------------------------------------------------------------------
# tracking
# ---------------------------------------------------------------------------------------------


def _tracking_tx():
    """A: first purchase day 0, repeats on days 2 (two orders, one purchase day) and 5; B: first day 3,
    repeat day 9; C: first day 8 (after the calibration end, day 6: not in the cohort), repeat day 9."""
    day0 = pd.Timestamp("2020-01-01")
    rows = [("A", 0), ("A", 2), ("A", 2), ("A", 5), ("B", 3), ("B", 9), ("C", 8), ("C", 9)]
    return pd.DataFrame({"customer_id": [c for c, _ in rows],
                         "order_ts": [day0 + pd.Timedelta(days=d, hours=10 + i) for i, (_, d) in enumerate(rows)]})


def test_repeat_purchase_tracking_hand_values():
    out = clv.repeat_purchase_tracking(_tracking_tx(), LinearModel(), "2020-01-01", "2020-01-07", "2020-01-10",
                                       time_unit="days", step_days=3)
    # rows every 3 days (offsets 2, 5, 8) plus the calibration end (6) and the end (9)
    assert list(out.index) == list(pd.to_datetime(["2020-01-03", "2020-01-06", "2020-01-07", "2020-01-09", "2020-01-10"]))
    assert list(out["days"]) == [3, 3, 1, 2, 1]
    assert list(out["elapsed"]) == [3.0, 6.0, 7.0, 9.0, 10.0]
    assert list(out["holdout"]) == [False, False, False, True, True]
    assert list(out["actual_cumulative"]) == [1, 2, 2, 2, 3]
    assert list(out["actual"]) == [1, 1, 0, 0, 1]
    # a row stands for the end of its day: 0.5 * sum over the cohort (first days 0 and 3) of the age
    # max(offset + 1 - first, 0), e.g. offset 2: A is 3 days old, B not yet a customer -> 0.5 * 3
    np.testing.assert_allclose(out["expected_cumulative"], [1.5, 4.5, 5.5, 7.5, 8.5])
    np.testing.assert_allclose(out["expected"], [1.5, 3.0, 1.0, 2.0, 1.0])
    weeks = clv.repeat_purchase_tracking(_tracking_tx(), LinearModel(), "2020-01-01", "2020-01-07", "2020-01-10",
                                         time_unit="weeks", step_days=3)
    np.testing.assert_allclose(weeks["expected_cumulative"], np.array([1.5, 4.5, 5.5, 7.5, 8.5]) / 7)
    np.testing.assert_allclose(weeks["elapsed"], np.array([3.0, 6.0, 7.0, 9.0, 10.0]) / 7)


def test_repeat_purchase_tracking_errors():
    tx = _tracking_tx()
    with pytest.raises(ValueError, match="outside 2020-01-02..2020-01-10"):
        clv.repeat_purchase_tracking(tx, LinearModel(), "2020-01-02", "2020-01-07", "2020-01-10", "days")
    with pytest.raises(ValueError, match="start <= calibration_end < end"):
        clv.repeat_purchase_tracking(tx, LinearModel(), "2020-01-01", "2020-01-10", "2020-01-10", "days")
    with pytest.raises(ValueError, match="step_days"):
        clv.repeat_purchase_tracking(tx, LinearModel(), "2020-01-01", "2020-01-07", "2020-01-10", "days", 0)


def test_tracking_matches_summary_on_cdnow_sample():
    """At the calibration end the actual cumulative count is the summary's total frequency and the
    expected one is sum_i E[X(T_i + 1 day)] of a fitted BG/NBD: the summary's T runs to the start of
    the last calibration day (FHL's T = 38.86 weeks for 1 January), a tracking row stands for the end
    of its day (the R BTYD / lifetimes tracking convention)."""
    from retention_utils.data.datasets import load_cdnow
    from retention_utils.tables.summary import calibration_holdout_split

    ds = load_cdnow(sample=True)
    split = calibration_holdout_split(ds.transactions, "1997-10-01", "1998-06-30", "weeks")
    s = split.summary
    m = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    out = clv.repeat_purchase_tracking(ds.transactions, m, "1997-01-01", "1997-09-30", "1998-06-30", "weeks")
    assert len(out) == 78 and out["elapsed"].iloc[38] == 39.0
    at_cal = out.loc["1997-09-30"]
    assert at_cal["actual_cumulative"] == s["frequency"].sum()
    assert at_cal["expected_cumulative"] == pytest.approx(float(np.sum(m.expected_purchases(s["T"].to_numpy() + 1 / 7))), rel=1e-12)
    assert out["actual_cumulative"].iloc[-1] == s["frequency"].sum() + s["frequency_holdout"].sum()


# ---------------------------------------------------------------------------------------------
# per-customer values
# ---------------------------------------------------------------------------------------------


def test_customer_value_table_hand_values(bg, gg, summary):
    v = clv.customer_value_table(summary, bg, gg, horizon_months=1, discount_rate=0.0, time_unit="days")
    assert list(v.index) == ["a", "b"]  # sorted
    assert list(v.columns) == list(clv.VALUE_COLUMNS)
    assert v.loc["b", "p_alive"] == pytest.approx(3 / 11)
    assert v.loc["a", "p_alive"] == 1.0
    h = DAYS_PER_MONTH
    assert v.loc["b", "p_purchase"] == pytest.approx(3 / 11 * (1 - (8 / (8 + h)) ** 2))
    assert v.loc["a", "p_purchase"] == pytest.approx(1 - (8 / (8 + h)) ** 1)
    assert v.loc["b", "expected_spend"] == pytest.approx(15.0)
    assert v.loc["a", "expected_spend"] == pytest.approx(10.0)
    # no discounting, one month: CLV = expected spend * expected purchases in the month
    np.testing.assert_allclose(v["clv"], v["expected_spend"] * v["expected_purchases"], rtol=1e-12)
    # E[Y | data] = P(alive) E[Y | alive]: CLV given alive times P(alive) is CLV
    np.testing.assert_allclose(v["clv_if_alive"] * v["p_alive"], v["clv"], rtol=1e-10)
    np.testing.assert_allclose(v["value_at_risk"], v["clv_if_alive"] - v["clv"])
    assert v.loc["a", "value_at_risk"] == 0.0  # BG/NBD: a one-time buyer is alive
    # discounting at 1 % a month over two months lowers CLV, never below zero
    d = clv.customer_value_table(summary, bg, gg, horizon_months=2, discount_rate=0.01, time_unit="weeks")
    assert ((d["clv"] > 0) & (d["clv"] < d["expected_spend"] * d["expected_purchases"])).all()


def test_customer_value_table_errors(bg, gg, summary):
    with pytest.raises(ValueError, match="horizon_months"):
        clv.customer_value_table(summary, bg, gg, 0, 0.01, "days")
    with pytest.raises(ValueError, match="discount_rate"):
        clv.customer_value_table(summary, bg, gg, 6, -0.1, "days")
    with pytest.raises(ValueError, match="monetary_value"):
        clv.customer_value_table(summary.drop(columns="monetary_value"), bg, gg, 6, 0.01, "days")


def test_p_alive_by_group_hand_values():
    values = pd.DataFrame({"p_alive": [0.2, 0.9, 0.6, 1.0], "clv": [10.0, 30.0, 20.0, 40.0]}, index=list("wxyz"))
    group = pd.Series(pd.Categorical(["A", "A", "B", "C"], categories=["C", "A", "B", "D"], ordered=True),
                      index=list("wxyz"), name="segment")
    t = clv.p_alive_by_group(values, group, p_alive_low=0.5)
    assert list(t.index) == ["C", "A", "B"] and t.index.name == "segment"
    assert list(t["customers"]) == [1, 2, 1]
    np.testing.assert_allclose(t["mean_p_alive"], [1.0, 0.55, 0.6])
    np.testing.assert_allclose(t["median_p_alive"], [1.0, 0.55, 0.6])
    np.testing.assert_allclose(t["share_low"], [0.0, 0.5, 0.0])
    np.testing.assert_allclose(t["mean_clv"], [40.0, 20.0, 20.0])
    np.testing.assert_allclose(t["clv_share"], [0.4, 0.4, 0.2])
    with pytest.raises(ValueError, match="no label for 1"):
        clv.p_alive_by_group(values, group.iloc[:3], 0.5)


# ---------------------------------------------------------------------------------------------
# at-risk customers
# ---------------------------------------------------------------------------------------------


def _values(p_alive, clv_if_alive, index):
    p, c = np.asarray(p_alive, float), np.asarray(clv_if_alive, float)
    v = pd.DataFrame({col: 1.0 for col in clv.VALUE_COLUMNS}, index=pd.Index(index, name="customer_id"))
    v["p_alive"], v["clv_if_alive"], v["clv"] = p, c, p * c
    v["value_at_risk"] = c - p * c
    return v


@pytest.fixture
def flagged_inputs():
    values = _values([0.9, 0.3, 0.95, 0.6, 0.99], [100, 200, 300, 400, 500], ["c1", "c2", "c3", "c4", "c5"])
    earlier = pd.Series({"c1": 0.95, "c2": 0.4, "c3": 0.99, "c4": 0.9})  # c5 first seen later
    return values, earlier


def test_flag_at_risk_hand_values(flagged_inputs):
    values, earlier = flagged_inputs
    f = clv.flag_at_risk(values, earlier, high_value_quantile=0.6, p_alive_low=0.5, p_alive_drop=0.2)
    # 0.6 quantile of 100..500 (linear): 300 + 0.4 * 100
    assert f.attrs["high_value_threshold"] == pytest.approx(340.0)
    assert list(f.index[f["high_value"]]) == ["c4", "c5"]
    assert list(f.index[f["low"]]) == ["c2"]
    assert list(f.index[f["falling"]]) == ["c4"]  # 0.9 -> 0.6; c2 fell by only 0.1
    assert list(f.index[f["at_risk"]]) == ["c4"]
    assert f.loc["c4", "p_alive_change"] == pytest.approx(-0.3)
    assert math.isnan(f.loc["c5", "p_alive_earlier"]) and not f.loc["c5", "falling"]
    g = clv.flag_at_risk(values, earlier, high_value_quantile=0.6, p_alive_low=0.7, p_alive_drop=0.2)
    assert list(g.index[g["at_risk"]]) == ["c4"] and g.loc["c4", "low"] and g.loc["c4", "falling"]


def test_flag_at_risk_errors(flagged_inputs):
    values, earlier = flagged_inputs
    with pytest.raises(ValueError, match="high_value_quantile"):
        clv.flag_at_risk(values, earlier, high_value_quantile=1.0)
    with pytest.raises(ValueError, match="p_alive_drop"):
        clv.flag_at_risk(values, earlier, p_alive_drop=0.0)
    with pytest.raises(ValueError, match=r"p_alive_earlier must be in \[0, 1\]; offending rows \['c2'\]"):
        clv.flag_at_risk(values, earlier.replace(0.4, 1.2))


def test_at_risk_table_rows_order_and_columns(flagged_inputs, tmp_path):
    values, earlier = flagged_inputs
    f = clv.flag_at_risk(values, earlier, high_value_quantile=0.2, p_alive_low=0.5, p_alive_drop=0.05)
    # high value (>= 180): c2..c5; at risk: c2 (low, falling 0.4 -> 0.3), c4 (falling)
    context = pd.DataFrame({"n_orders": [3, 5, 7, 9, 11], "revenue": [10.0, 20.0, 30.0, 40.0, 50.0],
                            "days_since_last_order": [1, 2, 3, 4, 5], "segment": ["At risk"] * 5},
                           index=values.index)
    t = clv.at_risk_table(f, context, "2017-12-31", "2017-09-30", "BG/NBD + Gamma-Gamma", 6, 0.01)
    assert list(t.columns) == list(clv.AT_RISK_COLUMNS)
    # value at risk: c2 = 0.7 * 200 = 140, c4 = 0.4 * 400 = 160 -> c4 first
    assert list(t["customer_id"]) == ["c4", "c2"] and list(t["rank"]) == [1, 2]
    assert list(t["reason"]) == ["falling", "low, falling"]
    np.testing.assert_allclose(t["value_at_risk"], [160.0, 140.0])
    assert list(t["n_orders"]) == [9, 5] and t["as_of"].iloc[0] == "2017-12-31"
    assert t["earlier_date"].iloc[0] == "2017-09-30" and t["horizon_months"].iloc[0] == 6
    with pytest.raises(ValueError, match="context has no row"):
        clv.at_risk_table(f, context.drop(index="c4"), "2017-12-31", "2017-09-30", "m", 6, 0.01)


def test_at_risk_ties_broken_by_customer_id():
    values = _values([0.1, 0.1], [100, 100], ["z", "y"])
    f = clv.flag_at_risk(values, pd.Series(dtype=float), high_value_quantile=0.0)
    context = pd.DataFrame({"n_orders": [1, 1], "revenue": [1.0, 1.0], "days_since_last_order": [1, 1],
                            "segment": ["Lost", "Lost"]}, index=values.index)
    t = clv.at_risk_table(f, context, "2017-12-31", "2017-09-30", "m", 6, 0.01)
    assert list(t["customer_id"]) == ["y", "z"] and list(t["reason"]) == ["low", "low"]
    assert t["p_alive_earlier"].isna().all()


def test_write_and_read_at_risk_table(flagged_inputs, tmp_path):
    values, earlier = flagged_inputs
    values.index = ["00586", "c2", "c3", "c4", "c5"]
    values.index.name = "customer_id"
    f = clv.flag_at_risk(values, pd.Series({"c4": 0.9}), high_value_quantile=0.0, p_alive_low=0.95)
    context = pd.DataFrame({"n_orders": 1, "revenue": 1.0, "days_since_last_order": 1, "segment": "Lost"},
                           index=values.index)
    t = clv.at_risk_table(f, context, "2017-12-31", "2017-09-30", "m", 6, 0.01)
    path = clv.write_at_risk_table(t, tmp_path / "sub" / "clv_at_risk.csv")
    back = clv.read_at_risk_table(path)
    assert "00586" in set(back["customer_id"])  # ids stay strings with their leading zeros
    pd.testing.assert_frame_equal(back, t, check_dtype=False, rtol=1e-9)
    assert back["p_alive_earlier"].isna().sum() == t["p_alive_earlier"].isna().sum() > 0
    with pytest.raises(ValueError, match="columns must be"):
        clv.write_at_risk_table(t.drop(columns="segment"), tmp_path / "x.csv")


# ---------------------------------------------------------------------------------------------
# retention_utils.models.btyd on a flat likelihood ridge (fix made for this notebook; see _optimise)
# ---------------------------------------------------------------------------------------------


def _pareto_ridge_data(seed, n=200, mu=0.0002):
    """Pareto/NBD data with one common dropout rate mu (per day): the likelihood rises towards
    s, beta -> infinity with s / beta ~ mu, a ridge on which L-BFGS-B stopped "ABNORMAL"ly and the fit
    used to raise BTYDFitError (The Complete Journey in notebook 06 has the same shape)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(1.5, 1 / 10, n)
    T = rng.uniform(200, 270, n)
    life = rng.exponential(1 / mu, n)
    x, tx = np.zeros(n), np.zeros(n)
    for i in range(n):
        t, k, last = 0.0, 0, 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > min(T[i], life[i]):
                break
            k, last = k + 1, t
        x[i], tx[i] = k, last
    return x, np.round(tx), np.round(T)


@pytest.mark.parametrize("seed", [11, 19])  # 11: only the refinement stopped; 19: the best start stopped too
def test_pareto_nbd_fits_on_a_likelihood_ridge(seed):
    from retention_utils.models.btyd import ParetoNBDFitter

    x, tx, T = _pareto_ridge_data(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ParetoNBDFitter().fit(x, tx, T)
    p = m.params_
    assert np.isfinite(list(p.values())).all() and p["s"] > 10  # far along the ridge
    assert 0.5 * 0.0002 < p["s"] / p["beta"] < 2 * 0.0002  # the common dropout rate is recovered
    assert m.log_likelihood(x, tx, T).sum() == pytest.approx(m.log_likelihood_, abs=1e-6)


def test_parameter_intervals_on_the_log_scale_by_hand():
    t = clv.parameter_intervals({"X": StubFitted()})
    assert list(t.index) == [("X", "r"), ("X", "alpha")]
    z = 1.959963984540054
    # r = 0.25, se 0.01: relative se 0.04, interval 0.25 * exp(-/+ z * 0.04)
    assert t.loc[("X", "r"), "lower"] == pytest.approx(0.25 * math.exp(-z * 0.04))
    assert t.loc[("X", "r"), "upper"] == pytest.approx(0.25 * math.exp(z * 0.04))
    assert t.loc[("X", "alpha"), "relative_se"] == pytest.approx(0.125)
    assert not t["weakly_identified"].any()

    class Weak(StubFitted):
        summary = pd.DataFrame({"se(coef)": [0.01, 3.0]}, index=["r", "alpha"])

    w = clv.parameter_intervals({"W": Weak()})
    assert w.loc[("W", "alpha"), "weakly_identified"] and not w.loc[("W", "r"), "weakly_identified"]
    assert w.loc[("W", "alpha"), "lower"] > 0
