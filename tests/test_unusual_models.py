"""Models on unusual data (issue 10, item 11): BTYD at extreme parameters, the repeat-purchase tracking
convention against lifetimes' published CDNOW values, stratified Cox with one stratum column and unseen
strata, Kaplan-Meier with zero durations, and the left-truncation count."""

import warnings

import numpy as np
import pandas as pd
import pytest

from retention_utils.data.datasets import load_cdnow
from retention_utils.models import btyd as B
from retention_utils.models import clv
from retention_utils.models import survival as SV
from retention_utils.tables import durations as DU
from retention_utils.tables.summary import calibration_holdout_split

from .conftest import make_tx

# customers: one-time buyer, light, regular, heavy (frequency, recency, T in days)
X = np.array([0.0, 1.0, 5.0, 40.0])
TX = np.array([0.0, 3.0, 30.0, 88.0])
T = np.array([1.0, 30.0, 60.0, 90.0])
M = np.array([0.0, 10.0, 20.0, 5.0])


def _model(cls, **params):
    m = cls()
    m.params_ = dict(params)
    return m


EXTREME = [
    # BG/NBD and MBG/NBD: (r, alpha, a, b): b in the thousands to millions with a << 1 (the two-week fit),
    # a in the millions (dropout after the first repeat almost sure), a + b < 1, huge r and alpha
    *[(cls, dict(r=r, alpha=al, a=a, b=b)) for cls in (B.BetaGeoFitter, B.ModifiedBetaGeoFitter)
      for r, al, a, b in [(616795.57, 3018168.45, 0.000595, 38338.46), (0.5, 2.0, 1e-4, 1e6), (0.5, 2.0, 1e6, 0.5),
                          (0.5, 2.0, 0.3, 0.4), (1e-4, 1e-4, 1e3, 1e8), (1e8, 1e8, 1.0, 1e3)]],
    *[(B.ParetoNBDFitter, dict(r=r, alpha=al, s=s, beta=be))
      for r, al, s, be in [(61110.7, 299006.8, 0.000142, 249682.5), (1e-4, 1e8, 1e8, 1e-4), (0.5, 2.0, 1.0, 3.0)]],
]


@pytest.mark.parametrize("cls, params", EXTREME, ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_btyd_predictions_finite_and_non_negative_at_extreme_parameters(cls, params):
    m = _model(cls, **params)
    gg = _model(B.GammaGammaFitter, p=6.0, q=3.7, v=15.0)
    out = {
        "p_alive": m.probability_alive(X, TX, T),
        "expected_new": m.expected_purchases(np.array([0.5, 26.0, 1000.0])),
        "expected": m.expected_purchases(26.0, X, TX, T),
        "p_purchase": m.probability_of_purchases_in(26.0, X, TX, T),
        "clv": gg.customer_lifetime_value(m, X, TX, T, M, 6, time_units_per_period=30.4375),
    }
    for name, v in out.items():
        v = np.asarray(v, dtype=float)
        assert np.all(np.isfinite(v)) and np.all(v >= 0), (name, v)
    assert np.all(out["p_alive"] <= 1) and np.all(out["p_purchase"] <= 1)


def test_bg_expectation_limits_at_extreme_beta_parameters():
    # b -> inf, a << 1: nobody drops out, E[X(t)] -> the gamma-Poisson mean r t / alpha
    m = _model(B.BetaGeoFitter, r=0.5, alpha=2.0, a=1e-4, b=1e6)
    t = np.array([1.0, 30.0, 365.0])
    np.testing.assert_allclose(m.expected_purchases(t), 0.5 * t / 2.0, rtol=1e-6)
    # a -> inf, b small: dropout right after the first repeat purchase, E[X(t)] -> 1 - (alpha / (alpha + t))^r
    m = _model(B.BetaGeoFitter, r=0.5, alpha=2.0, a=1e6, b=0.5)
    np.testing.assert_allclose(m.expected_purchases(t), 1 - (2.0 / (2.0 + t)) ** 0.5, rtol=1e-5)
    # the two-week fit: p is about 1.6e-8, so E is r t / alpha less a relative 3 p (r t / alpha) / 2
    r, al, a, b = 616795.5708757146, 3018168.450457058, 0.0005953249605415024, 38338.45593836343
    got = B._bg_expected_from_alive(r, al, a, b, 30.0)
    assert got == pytest.approx(r * 30 / al * (1 - a / (a + b) * (r * 30 / al) / 2), rel=1e-9)


def test_quadrature_fallback_agrees_with_the_closed_form_where_both_work():
    for r, al, a, b, t in [(0.243, 4.41, 0.793, 2.426, 39.0), (1.43, 10.3, 0.0323, 27.7, 90.0), (0.5, 2.0, 0.3, 0.4, 20.0)]:
        closed = float(B._bg_expected_from_alive(r, al, a, b, t))
        assert B._bg_expected_quad(r, al, a, b, t) == pytest.approx(closed, rel=1e-9)
        # the quantile route, used when the Beta weight overflows, agrees as well
        assert B._bg_expected_quantile(r, al, a, b, t) == pytest.approx(closed, rel=1e-8)


def test_a_fit_in_an_implausible_region_warns_with_the_parameters():
    # 40 customers over two weeks, everybody buying at about the same rate: no heterogeneity to identify
    rng = np.random.RandomState(22)
    n = 40
    freq = rng.poisson(0.7, n).clip(0, 3).astype(float)
    T_ = rng.randint(1, 7, n).astype(float)
    rec = np.where(freq > 0, np.minimum(T_, np.ceil(T_ * rng.uniform(0.3, 1.0, n))), 0.0)
    with pytest.warns(B.BTYDImplausibleWarning, match=r"implausible region \(r=.*\): shape parameter\(s\)") as rec_w:
        m = B.BetaGeoFitter().fit(freq, rec, T_)
    msg = str(next(w.message for w in rec_w if issubclass(w.category, B.BTYDImplausibleWarning)))
    assert all(f"{k}=" in msg for k in ("r", "alpha", "a", "b"))
    assert not all(B.PLAUSIBLE_SHAPE[0] <= m.params_[k] <= B.PLAUSIBLE_SHAPE[1] for k in ("r", "a", "b"))
    pred = m.expected_purchases(7.0, freq, rec, T_)
    assert np.all(np.isfinite(pred)) and np.all(pred >= 0)
    # fit_models keeps it with the other fit warnings (notebook 06 prints them)
    s = pd.DataFrame({"frequency": freq, "recency": rec, "T": T_, "monetary_value": 5.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = clv.fit_models(s, ["BG/NBD"])
    assert any("implausible region" in w for w in fitted["BG/NBD"].fit_warnings_)


def test_plausible_fits_do_not_warn():
    cd = load_cdnow(sample=True)
    s = calibration_holdout_split(cd.transactions, "1997-10-01", "1998-06-30", "weeks").summary
    with warnings.catch_warnings():
        warnings.simplefilter("error", B.BTYDImplausibleWarning)
        B.BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])


def test_a_non_finite_prediction_is_a_named_error():
    m = _model(B.BetaGeoFitter, r=0.5, alpha=2.0, a=0.8, b=2.4)
    with pytest.raises(B.BTYDPredictionError, match=r"BetaGeoFitter.expected_purchases: non-finite or negative result at r=0.5"):
        m._check_prediction(np.array([1.0, np.nan]), "expected_purchases")
    assert issubclass(B.BTYDPredictionError, FloatingPointError)


def test_customer_value_table_finite_for_an_extreme_fit():
    m = _model(B.BetaGeoFitter, r=616795.57, alpha=3018168.45, a=0.000595, b=38338.46)
    gg = _model(B.GammaGammaFitter, p=6.45, q=119.7, v=1197.7)
    s = pd.DataFrame({"frequency": X, "recency": TX, "T": T, "monetary_value": M}, index=list("abcd"))
    v = clv.customer_value_table(s, m, gg, 6, 0.01, "days")
    assert np.isfinite(v.to_numpy()).all() and (v[["clv", "clv_if_alive", "expected_purchases"]] >= 0).all().all()


# ------------------------------------------------------------------------------------------------
# the tracking convention: lifetimes' (and the R BTYD walkthrough's) published CDNOW values
# ------------------------------------------------------------------------------------------------


def test_tracking_reproduces_lifetimes_published_pareto_nbd_values():
    """lifetimes' test_expected_cumulative_transactions_equals_r_btyd_walktrough: Pareto/NBD on the CDNOW
    1/10 sample, calibration weeks 1-39, weeks 20-25 (its published values to two decimals)."""
    cd = load_cdnow(sample=True)
    s = calibration_holdout_split(cd.transactions, "1997-10-01", "1998-06-30", "weeks").summary
    m = B.ParetoNBDFitter().fit(s["frequency"], s["recency"], s["T"])
    tr = clv.repeat_purchase_tracking(cd.transactions, m, "1997-01-01", "1997-09-30", "1998-06-30", "weeks", 7)
    weeks = tr.iloc[19:25]
    assert list(weeks.index.strftime("%Y-%m-%d")) == ["1997-05-20", "1997-05-27", "1997-06-03", "1997-06-10",
                                                       "1997-06-17", "1997-06-24"]  # day 7k - 1 from 1997-01-01
    assert weeks["elapsed"].tolist() == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
    assert weeks["actual_cumulative"].tolist() == [1359, 1414, 1484, 1517, 1573, 1672]
    np.testing.assert_allclose(weeks["expected_cumulative"], [1308.91, 1385.33, 1459.98, 1532.97, 1604.39, 1674.32],
                               atol=0.01)
    np.testing.assert_allclose(weeks["expected"], [78.31, 76.42, 74.65, 72.98, 71.41, 69.93], atol=0.01)


# ------------------------------------------------------------------------------------------------
# survival
# ------------------------------------------------------------------------------------------------


def _strata_table(n=90, seed=5):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"duration": rng.integers(1, 40, n).astype(float), "churned": rng.integers(0, 2, n),
                         "x": rng.normal(size=n), "band": np.repeat([0, 1, 2], n // 3),
                         "size": np.tile([0, 1], n // 2)}, index=[f"c{i:03d}" for i in range(n)])


def test_stratified_cox_with_one_stratum_column_named_like_a_word():
    # lifelines stores one stratum column as the string "band"; read as a list it was b, a, n, d
    t = _strata_table()
    cox = SV.fit_cox(t, ["x"], strata=["band"])
    assert cox.strata == "band" and SV.model_strata(cox) == ["band"]
    got = SV.survival_at(cox, t, 20)
    # product limit by hand: S = prod_{t_j <= 20} (1 - h0_j(band)) ** partial hazard
    ph = cox.predict_partial_hazard(t).reindex(t.index)
    bh = cox.baseline_hazard_
    for cid in ["c000", "c045", "c089"]:
        band = t.loc[cid, "band"]
        expected = np.prod(1 - bh.loc[bh.index <= 20, band].to_numpy()) ** ph[cid]
        assert got[cid] == pytest.approx(expected, rel=1e-12)
    breslow = SV.survival_at(cox, t, 20, cox_method="breslow")
    assert breslow["c045"] == pytest.approx(cox.predict_survival_function(t.loc[["c045"]], times=[20.0]).iloc[0, 0])
    assert list(SV.ph_test(cox, t).index) == ["x"]


def test_unseen_stratum_is_named_not_extrapolated():
    t = _strata_table()
    cox = SV.fit_cox(t, ["x"], strata=["band"])
    new = t.iloc[:3].assign(band=[0, 3, 3])
    for method in ("product_limit", "breslow"):
        with pytest.raises(SV.UnseenStratumError, match=r"2 row\(s\) belong to stratum \(band=3\)") as err:
            SV.survival_at(cox, new, 20, cox_method=method)
        assert err.value.strata == (3,)
    two = SV.fit_cox(t, ["x"], strata=["band", "size"])
    assert SV.model_strata(two) == ["band", "size"]
    assert SV.survival_at(two, t, 20).notna().all()
    with pytest.raises(SV.UnseenStratumError, match=r"stratum \(band=1, size=5\)"):
        SV.survival_at(two, t.iloc[:1].assign(band=1, size=5), 20)


def test_cox_prediction_beyond_the_follow_up_is_refused():
    t = _strata_table()
    cox = SV.fit_cox(t, ["x"], strata=["band"])
    longest = t["duration"].max()
    assert SV.survival_at(cox, t, longest).notna().all()
    with pytest.raises(SV.ExtrapolationError, match=rf"horizon {longest + 1:g} is beyond the longest duration .* \({longest:g}\)"):
        SV.survival_at(cox, t, longest + 1, cox_method="breslow")


def test_kaplan_meier_takes_zero_durations():
    # a customer lost on the day they entered is a valid time 0 for a non-parametric estimator
    d = pd.Series([0.0, 0.0, 1.0, 2.0, 2.0, 3.0], index=list("abcdef"))
    e = pd.Series([1, 0, 1, 1, 0, 1], index=d.index)
    km = SV.kaplan_meier(d, e)
    assert SV.km_at(km, 0)[0] == pytest.approx(5 / 6)  # 1 event among 6 at risk
    assert SV.km_at(km, 1)[0] == pytest.approx(5 / 6 * 3 / 4)  # the two at 0 leave the risk set
    assert SV.km_at(km, 2)[0] == pytest.approx(5 / 6 * 3 / 4 * 2 / 3)
    assert SV.km_at(km, 3)[0] == pytest.approx(0.0)
    with pytest.raises(DU.DurationError, match="negative durations.*'b'"):
        SV.kaplan_meier(d.where(d.index != "b", -1.0), e)
    with pytest.raises(DU.DurationError, match="zero durations"):  # still refused where it must be
        SV.fit_cox(pd.DataFrame({"duration": d, "churned": e, "x": [0.1, 0.5, -0.2, 0.3, 1.0, -1.0]}), ["x"])


def test_left_truncation_rule_counts_customers_first_seen_near_the_window_start():
    # tau = 10; window starts 2020-01-01: a (first 01-01) and b (01-05) may have bought before it;
    # c (first 01-11, on day 10 after the start) and later customers were new
    rows = [("a", "2020-01-01", 1.0), ("a", "2020-01-20", 1.0), ("b", "2020-01-05", 1.0),
            ("c", "2020-01-11", 1.0), ("c", "2020-01-15", 1.0), ("d", "2020-01-25", 1.0)]
    tx = make_tx((cid, f"o{i}", f"{day} 10:00", "p", 1.0, r) for i, (cid, day, r) in enumerate(rows))
    res = DU.churn_durations(tx, 10, "2020-01-31", window_start="2020-01-01")
    assert res.n_possibly_left_truncated == 2 and res.window_start == pd.Timestamp("2020-01-01")
    assert DU.churn_durations(tx, 10, "2020-01-31").n_possibly_left_truncated == 0  # no window start: not counted
