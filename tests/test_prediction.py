"""Repurchase prediction: labels and features computed by hand, leakage, time splits, metrics."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from retention_utils import scoring
from retention_utils.models import prediction as P
from retention_utils.tables import cutoffs as CT
from retention_utils.tables import summary

from .conftest import make_tx

T0 = pd.Timestamp("2020-01-11")
H = 10  # label window [2020-01-11, 2020-01-21)


def three_customer_log():
    """A: three orders before t0 and one in the horizon; B: one order before t0 and one after the
    horizon; C: first seen inside the horizon (excluded, counted)."""
    return make_tx([
        ("A", "a1", "2020-01-01 10:00", "p", 1, 4.0),
        ("A", "a1", "2020-01-01 10:00", "q", 1, 6.0),
        ("A", "a2", "2020-01-03 18:00", "p", 3, 20.0),
        ("A", "a3", "2020-01-09 09:00", "r", 1, 50.0),
        ("A", "a4", "2020-01-15 12:00", "p", 1, 99.0),
        ("B", "b1", "2020-01-03 08:00", "p", 2, 50.0),
        ("B", "b2", "2020-01-25 08:00", "q", 1, 5.0),
        ("C", "c1", "2020-01-12 08:00", "p", 1, 7.0),
    ])


PRODUCTS = pd.DataFrame({"product_id": ["p", "q", "r"], "category": ["X", "Y", "X"]})
CUSTOMERS = pd.DataFrame({
    "customer_id": ["A", "Z"],
    "age": pd.Categorical(["25-34", "45-54"], categories=["19-24", "25-34", "35-44", "45-54"], ordered=True),
    "marital_status": ["Married", "Unmarried"],
})
CAMPAIGNS = pd.DataFrame({
    "customer_id": ["A", "A", "B"],
    "start_date": pd.to_datetime(["2020-01-05", "2020-01-11", "2020-01-02"]),  # the second starts at t0
    "end_date": pd.to_datetime(["2020-01-20", "2020-01-30", "2020-01-04"]),
})


def history(tx, **kw):
    args = {"products": PRODUCTS, "customers": CUSTOMERS, "campaigns": CAMPAIGNS,
            "observation_end": "2020-01-31", "trend_window_days": 5}
    args.update(kw)
    return CT.CustomerHistory(tx, **args)


# ------------------------------------------------------------------------------------------------
# labels and features by hand
# ------------------------------------------------------------------------------------------------


def test_labels_by_hand():
    lab = history(three_customer_log()).labels(T0, H)
    assert lab.labels.to_dict() == {"A": 1, "B": 0}  # B's next order (01-25) is after the horizon
    assert lab.n_new_in_horizon == 1  # C, first seen 01-12: excluded and counted
    assert lab.positive_rate == 0.5
    # a customer first seen after the horizon is neither in the population nor counted as new in it
    later = pd.concat([three_customer_log(), make_tx([("D", "d1", "2020-01-28", "p", 1, 3.0)])], ignore_index=True)
    lab = history(later).labels(T0, H)
    assert (lab.labels.to_dict(), lab.n_new_in_horizon) == ({"A": 1, "B": 0}, 1)


def test_labels_agree_with_foundation_split():
    tx = three_customer_log()
    lab = history(tx).labels(T0, H)
    ch = summary.calibration_holdout_split(tx, T0, T0 + pd.Timedelta(days=H - 1))
    assert (ch.summary["frequency_holdout"] > 0).astype("int64").to_dict() == lab.labels.to_dict()
    assert ch.n_new_in_holdout == lab.n_new_in_horizon


def test_features_by_hand():
    f = history(three_customer_log()).features(T0)
    assert list(f.index) == ["A", "B"]  # C is not in the population at t0
    a, b = f.loc["A"], f.loc["B"]
    # A: orders 01-01 ($10, products p+q, 2 units), 01-03 ($20, p, 3 units), 01-09 ($50, r, 1 unit)
    assert a["n_orders"] == 3
    assert a["revenue"] == 80.0
    assert a["average_order_value"] == pytest.approx(80 / 3)
    assert a["days_since_last_order"] == 1  # 01-10 (t0 - 1 day) - 01-09
    assert a["tenure_days"] == 9
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (2, 8.0, 9.0, 35.0)
    assert a["purchase_rate"] == pytest.approx(3 / 10)
    assert a["gap_mean_days"] == 4.0  # gaps 2 and 6 days
    assert a["gap_std_days"] == pytest.approx(math.sqrt(8))
    assert a["last_gap_days"] == 6.0
    assert a["last_gap_ratio"] == 1.5
    assert a["overdue_ratio"] == 0.25
    # W = 5: recent [01-06, 01-11) holds $50; earlier [01-01, 01-06) holds $10 + $20
    assert (a["orders_recent"], a["revenue_recent"], a["revenue_earlier"]) == (1, 50.0, 30.0)
    assert a["spend_trend"] == 0.25
    assert a["basket_products_mean"] == pytest.approx(4 / 3)
    assert a["basket_units_mean"] == 2.0
    assert a["category_breadth"] == 2  # X (p, r) and Y (q)
    assert (a["campaigns_received"], a["campaigns_running"]) == (1, 1)  # the t0 campaign does not count
    assert (a["age"], a["marital_status=Married"], a["has_demographics"]) == (1.0, 1.0, 1.0)
    # B: one order 01-03 ($50, p, 2 units)
    assert (b["n_orders"], b["days_since_last_order"], b["tenure_days"], b["frequency"]) == (1, 7, 7, 0)
    assert b["purchase_rate"] == 1 / 8
    assert np.isnan(b["gap_mean_days"]) and np.isnan(b["gap_std_days"]) and np.isnan(b["last_gap_days"])
    assert (b["revenue_recent"], b["revenue_earlier"], b["spend_trend"]) == (0.0, 50.0, -1.0)
    assert (b["category_breadth"], b["campaigns_received"], b["campaigns_running"]) == (1, 1, 0)
    assert np.isnan(b["age"]) and b["marital_status=Married"] == 0.0 and b["has_demographics"] == 0.0


def test_panel_stacks_cutoffs_and_counts_exclusions():
    h = history(three_customer_log())
    panel = h.panel([pd.Timestamp("2020-01-21"), T0], H)
    assert list(panel.table.index.get_level_values(CT.CUTOFF).unique()) == [T0, pd.Timestamp("2020-01-21")]
    assert panel.at(T0)[CT.LABEL].to_dict() == {"A": 1, "B": 0}
    # at 01-21: A, B and C are known; only B orders in [01-21, 01-31)
    assert panel.at(pd.Timestamp("2020-01-21"))[CT.LABEL].to_dict() == {"A": 0, "B": 1, "C": 0}
    assert panel.counts["new_in_horizon_excluded"].tolist() == [1, 0]


def test_incomplete_horizon_and_future_cutoff_refused():
    h = history(three_customer_log())
    with pytest.raises(ValueError, match="incomplete"):
        h.labels("2020-01-25", 10)  # ends 02-04, after the observation end 01-31
    with pytest.raises(ValueError, match="after the observation end"):
        h.features("2020-02-05")


# ------------------------------------------------------------------------------------------------
# leakage: nothing at or after t0 moves a feature
# ------------------------------------------------------------------------------------------------


def random_log(seed=0, n=300):
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2020-01-01")
    rows = []
    for i in range(n):
        ts = start + pd.Timedelta(minutes=int(rng.integers(0, 60 * 24 * 60)))
        rows.append((f"c{rng.integers(0, 25)}", f"o{i}", ts, "pqr"[rng.integers(0, 3)],
                     float(rng.integers(1, 4)), float(rng.integers(1, 100))))
    # rows exactly on the boundary: one at t0 - 1 s (before), one at t0 00:00 (after)
    rows.append(("c1", "edge_before", pd.Timestamp("2020-02-01") - pd.Timedelta(seconds=1), "p", 1.0, 13.0))
    rows.append(("c2", "edge_at", pd.Timestamp("2020-02-01"), "q", 1.0, 17.0))
    return make_tx(rows)


LEAK_T0 = pd.Timestamp("2020-02-01")


def features_of(tx, campaigns=CAMPAIGNS):
    return history(tx, campaigns=campaigns, observation_end="2020-03-31", trend_window_days=7).features(LEAK_T0)


def test_leakage_bulk_changes_after_t0_leave_features_unchanged():
    tx = random_log()
    base = features_of(tx)
    after = tx[P.S.ORDER_TS] >= LEAK_T0
    assert after.sum() > 50 and (~after).sum() > 50

    changed = tx.copy()
    changed.loc[after, "revenue"] *= 7.5
    changed.loc[after, "quantity"] += 3
    changed.loc[after, "product_id"] = "q"
    changed.loc[after, "customer_id"] = "c0"  # even moved to another customer
    pd.testing.assert_frame_equal(features_of(changed), base, check_exact=True)

    deleted = tx[~after]
    pd.testing.assert_frame_equal(features_of(deleted), base, check_exact=True)

    extra = pd.concat([tx, make_tx([
        ("c3", "new1", "2020-02-01 00:00", "r", 5, 500.0),  # exactly at t0
        ("newcomer", "new2", "2020-02-02", "p", 1, 1.0),  # a customer first seen after t0
    ])], ignore_index=True)
    pd.testing.assert_frame_equal(features_of(extra), base, check_exact=True)

    later_campaign = pd.concat([CAMPAIGNS, pd.DataFrame({
        "customer_id": ["c1", "c2"], "start_date": pd.to_datetime(["2020-02-01", "2020-03-01"]),
        "end_date": pd.to_datetime(["2020-02-10", "2020-03-10"])})], ignore_index=True)
    pd.testing.assert_frame_equal(features_of(tx, later_campaign), base, check_exact=True)


def test_leakage_each_row_after_t0_deleted_or_changed():
    tx = random_log(seed=1, n=120)
    base = features_of(tx)
    after = np.flatnonzero((tx[P.S.ORDER_TS] >= LEAK_T0).to_numpy())
    assert len(after) > 20
    for i in after:
        pd.testing.assert_frame_equal(features_of(tx.drop(index=i)), base, check_exact=True)
        ch = tx.copy()
        ch.loc[i, "revenue"] = 1e6
        pd.testing.assert_frame_equal(features_of(ch), base, check_exact=True)


def test_leakage_test_is_sensitive_to_rows_before_t0():
    # the same check does see a change one second before t0: the test above is not vacuous
    tx = random_log()
    base = features_of(tx)
    ch = tx.copy()
    ch.loc[ch["order_id"] == "edge_before", "revenue"] = 1e6
    assert not features_of(ch).equals(base)
    moved = tx.copy()
    moved.loc[moved["order_id"] == "edge_at", "order_ts"] = LEAK_T0 - pd.Timedelta(seconds=1)
    assert not features_of(moved).equals(base)


# ------------------------------------------------------------------------------------------------
# cutoffs and time-based splits
# ------------------------------------------------------------------------------------------------


def test_plan_cutoffs_and_splits_by_hand():
    cs = CT.plan_cutoffs("2017-01-01", "2017-12-31", 30, 30, 90)
    assert cs[-1] == pd.Timestamp("2017-12-02")  # 2018-01-01 - 30 days: horizon ends 12-31
    assert cs[0] == pd.Timestamp("2017-04-06") and len(cs) == 9
    sp = CT.time_splits(cs, 30, n_folds=2)
    assert sp.test == pd.Timestamp("2017-12-02")
    assert sp.valid == pd.Timestamp("2017-11-02")
    assert sp.scoring_date == pd.Timestamp("2018-01-01")
    assert sp.folds[0].valid == pd.Timestamp("2017-10-03") and sp.folds[0].train == tuple(cs[:6])
    assert sp.folds[1].train == tuple(cs[:7])
    for f in sp.folds:  # no training label window reaches the validation cutoff
        assert all(c + pd.Timedelta(days=30) <= f.valid for c in f.train)
    assert sp.train_for(sp.test) == tuple(cs[:8])


def test_cdnow_39_week_horizon_has_no_honest_split():
    cs = CT.plan_cutoffs("1997-01-01", "1998-06-30", 273, 273, 90)
    assert cs == [pd.Timestamp("1997-10-01")]  # the classic weeks 1-39 / 40-78 split
    with pytest.raises(ValueError, match="shorten the horizon"):
        CT.time_splits(cs, 273, n_folds=2)
    with pytest.raises(ValueError, match="no earlier cutoff"):
        CT.time_splits(CT.plan_cutoffs("1997-01-01", "1998-06-30", 273, 91, 0), 273, n_folds=1)


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------


def test_lift_by_decile_hand_vector():
    y = [1, 1, 0, 1, 0, 0, 1, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    lt = scoring.lift_table(y, s, n_bins=5)
    assert lt["customers"].tolist() == [2, 2, 2, 2, 2]
    assert lt["positives"].tolist() == [2, 1, 0, 1, 0]
    assert lt["lift"].tolist() == pytest.approx([2.5, 1.25, 0.0, 1.25, 0.0])
    assert lt["cumulative_gain"].tolist() == pytest.approx([0.5, 0.75, 0.75, 1.0, 1.0])
    assert lt["cumulative_lift"].tolist() == pytest.approx([2.5, 1.875, 1.25, 1.25, 1.0])


def test_lift_splits_tied_scores_exactly():
    # sorted: score 3 (1 customer, positive), score 2 (3 customers, 1 positive), score 1 (2, 1 positive)
    y = [1, 1, 0, 0, 1, 0]
    s = [3, 2, 2, 2, 1, 1]
    lt = scoring.lift_table(y, s, n_bins=3)
    assert lt["positives"].tolist() == pytest.approx([1 + 1 / 3, 2 / 3, 1.0])
    assert lt["lift"].tolist() == pytest.approx([4 / 3, 2 / 3, 1.0])
    # the input order of tied rows does not matter
    perm = [5, 2, 0, 4, 3, 1]
    pd.testing.assert_frame_equal(scoring.lift_table(np.take(y, perm), np.take(s, perm), 3), lt)


def test_roc_auc_bootstrap_hand_value_and_paired_gain():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])  # 3 of 4 positive-negative pairs ordered: AUC 0.75
    bs = scoring.bootstrap_roc_auc(y, {"m": s, "same": s}, n_boot=200, seed=0, reference="same")
    assert bs.loc["m", "roc_auc"] == 0.75
    assert bs.loc["m", "gain"] == 0 and bs.loc["m", "gain_ci_low"] == 0 and bs.loc["m", "gain_ci_high"] == 0
    assert 0 <= bs.loc["m", "ci_low"] <= 0.75 <= bs.loc["m", "ci_high"] <= 1


def test_weighted_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 1)  # many ties
    w = rng.integers(0, 4, 200).astype(float)
    order = np.argsort(s, kind="stable")
    ss = s[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    ours = scoring._weighted_auc(starts, y[order].astype(float), 1.0 - y[order], w[order][None, :])[0]
    assert ours == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)


def test_evaluate_and_thresholds_by_hand():
    y = [0, 0, 1, 1, 1]
    p = [0.1, 0.6, 0.4, 0.7, 0.9]
    # thresholds: 0.9 -> F1 0.5; 0.7 -> 0.8; 0.6 -> P 2/3 R 2/3; 0.4 -> P 3/4 R 1 -> F1 6/7; 0.1 -> 0.75
    assert scoring.f1_threshold(y, p) == 0.4
    m = scoring.evaluate(y, p, threshold=0.4)
    assert (m["precision"], m["recall"], m["specificity"]) == (0.75, 1.0, 0.5)
    assert m["f1"] == pytest.approx(6 / 7)
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.09 + 0.01) / 5)
    assert m["positive_rate"] == 0.6


def test_recency_rule_and_poisson_by_hand():
    days = [1, 2, 3, 10, 20, 30]
    y = [1, 1, 0, 1, 0, 0]
    rule = P.RecencyRule().fit(days, y)
    # d = 2: TPR 2/3, FPR 0 (J 0.667); d = 10: TPR 1, FPR 1/3 (J 0.667): the smaller d wins the tie
    assert rule.d_ == 2
    assert (rule.p_within_, rule.p_beyond_) == (1.0, 0.25)
    assert rule.predict_proba([0, 2, 3]).tolist() == [1.0, 1.0, 0.25]
    assert P.poisson_repurchase_probability([0.1, 0.0], 10).tolist() == pytest.approx([1 - math.exp(-1), 0.0])


def test_calibrator_isotonic_and_sigmoid_learn_the_rates():
    p = np.r_[np.full(100, 0.2), np.full(100, 0.8)]
    y = np.r_[np.zeros(50), np.ones(50), np.zeros(10), np.ones(90)]
    assert P.Calibrator("isotonic").fit(p, y).predict([0.2, 0.8]).tolist() == pytest.approx([0.5, 0.9])
    assert P.Calibrator("sigmoid").fit(p, y).predict([0.2, 0.8]).tolist() == pytest.approx([0.5, 0.9], abs=1e-3)
    with pytest.raises(ValueError):
        P.Calibrator("beta")


# ------------------------------------------------------------------------------------------------
# end to end on a small synthetic log, and the risk table
# ------------------------------------------------------------------------------------------------


def synthetic_log(seed=0, n_customers=300, days=200):
    """Customers buy as Poisson processes with individual rates; a third stop buying at a random day."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2021-01-01")
    for c in range(n_customers):
        rate = rng.gamma(1.5, 1 / 15)
        stop = rng.integers(30, days) if rng.random() < 1 / 3 else days
        t = rng.exponential(1 / rate)
        k = 0
        while t < stop:
            rows.append((f"c{c:03d}", f"c{c}-{k}", start + pd.Timedelta(hours=float(t * 24)), "p", 1.0,
                         float(rng.gamma(2, 10))))
            t += rng.exponential(1 / rate)
            k += 1
    return make_tx(rows)


def test_pipeline_end_to_end_uses_time_order_and_beats_chance():
    tx = synthetic_log()
    h = CT.CustomerHistory(tx, observation_end="2021-07-19", trend_window_days=20)
    cs = CT.plan_cutoffs("2021-01-01", "2021-07-19", 20, 20, 60)
    sp = CT.time_splits(cs, 20, n_folds=2)
    panel = h.panel(sp.cutoffs, 20)
    feats = CT.model_feature_columns(panel, [c for c in sp.cutoffs if c != sp.test])
    assert "basket_products_mean" not in feats  # constant (one product): dropped
    est, grid = P.model_candidates(seed=0)["logistic regression"]
    tuned = P.tune_time_cv("lr", est, {"logisticregression__C": [0.1, 1.0]}, panel, sp, feats)
    assert tuned.cv_results.shape[0] == 2
    assert set(tuned.fold_predictions) == {f.valid for f in sp.folds}
    scored, fitted = P.finalize(tuned, panel, sp, calibration="none")
    res = P.results_table([*P.baselines(panel, sp, bgnbd=False), scored], panel, sp)
    assert res.loc["lr", "n"] == len(panel.at(sp.test))
    assert res.loc["lr", "roc_auc"] > 0.7
    # the last fold's model never saw a label window that reaches the validation cutoff
    assert fitted.estimator is tuned.last_model
    dep = P.deploy(tuned, "none", panel, sp)
    f = h.features(sp.scoring_date)
    table = P.risk_score_table(dep.predict_proba(f), f, sp.scoring_date, 20, "lr")
    assert table["risk_rank"].tolist() == list(range(1, len(f) + 1))
    assert table["risk_score"].is_monotonic_decreasing
    assert table["risk_decile"].min() == 1 and table["risk_decile"].max() == 10


def test_risk_table_by_hand(tmp_path):
    feats = pd.DataFrame({"days_since_last_order": [3.0, 40.0, 9.0], "n_orders": [5.0, 1.0, 2.0],
                          "revenue": [100.0, 8.5, 20.0]}, index=pd.Index(["b", "a", "c"], name="customer_id"))
    p = pd.Series([0.9, 0.2, 0.2], index=["b", "a", "c"])
    t = P.risk_score_table(p, feats, "2018-01-01", 30, "m")
    assert t["customer_id"].tolist() == ["a", "c", "b"]  # equal risk: by customer id
    assert t["risk_score"].tolist() == pytest.approx([0.8, 0.8, 0.1])
    assert t["risk_rank"].tolist() == [1, 2, 3]
    assert t["risk_decile"].tolist() == [1, 4, 7]
    path = P.write_risk_scores(t, tmp_path / "sub" / "risk.csv")
    back = pd.read_csv(path, dtype={"customer_id": str})
    assert list(back.columns) == list(P.RISK_COLUMNS)
    assert back["scoring_date"].tolist() == ["2018-01-01"] * 3
    with pytest.raises(ValueError, match="no features"):
        P.risk_score_table(pd.Series([0.5], index=["zz"]), feats, "2018-01-01", 30, "m")


def test_base_features_equal_the_foundation_customer_summary():
    tx = random_log(seed=4, n=400)
    f = features_of(tx)
    ref = summary.customer_summary(tx[tx["order_ts"] < LEAK_T0], LEAK_T0 - pd.Timedelta(days=1), "days")
    cols = ["n_orders", "revenue", "average_order_value", "days_since_last_order", "tenure_days",
            "frequency", "recency", "T", "monetary_value"]
    pd.testing.assert_frame_equal(f[cols], ref[cols].astype("float64"), rtol=1e-12)


def test_forward_classifier_scores_says_why_when_no_validation_fits():
    out = P.forward_classifier_scores(None, "2020-01-01", "2020-01-20", horizon_days=30)
    assert out.scores is None and out.labels is None
    assert out.note.startswith("no forward-in-time validation fits before the holdout")


def test_days_baseline_ranks_as_raw_recency_and_strongest_form_is_named():
    from sklearn.metrics import roc_auc_score

    tx = synthetic_log()
    h = CT.CustomerHistory(tx, observation_end="2021-07-19", trend_window_days=20)
    sp = CT.time_splits(CT.plan_cutoffs("2021-01-01", "2021-07-19", 20, 20, 60), 20, n_folds=2)
    panel = h.panel(sp.cutoffs, 20)
    base = {b.name: b for b in P.baselines(panel, sp, bgnbd=False)}
    t = panel.at(sp.test)
    days = base["days since last order"]
    # exactly the ranking of the plain days since the last order (fewer days: more likely to buy)
    assert roc_auc_score(t[CT.LABEL], days.test) == pytest.approx(roc_auc_score(t[CT.LABEL], -t["days_since_last_order"]))
    assert {b.details["family"] for b in base.values()} == {"recency", "purchase rate"}
    res = P.results_table(list(base.values()), panel, sp)
    strongest = P.strongest_baselines(res, list(base.values()))
    recency = ["recency rule", "recency curve", "days since last order"]
    assert strongest["recency"] == res.loc[recency, "roc_auc"].idxmax()
    assert strongest["purchase rate"] == "Poisson rate"


def test_select_model_chooses_on_validation_and_breaks_ties_by_order():
    tx = synthetic_log()
    h = CT.CustomerHistory(tx, observation_end="2021-07-19", trend_window_days=20)
    sp = CT.time_splits(CT.plan_cutoffs("2021-01-01", "2021-07-19", 20, 20, 60), 20, n_folds=2)
    panel = h.panel(sp.cutoffs, 20)
    feats = CT.model_feature_columns(panel, [c for c in sp.cutoffs if c != sp.test])
    est, grid = P.model_candidates(seed=0)["logistic regression"]
    same = {"first": (est, {"logisticregression__C": [1.0]}), "second": (est, {"logisticregression__C": [1.0]})}
    sel = P.select_model(panel, sp, feats, candidates=same, calibration="none")
    assert sel.best == "first"  # identical validation ROC-AUC: the earlier candidate
    assert set(sel.scored) == {"first", "second"} and sel.calibration == {}
    only = P.select_model(panel, sp, feats, candidates=same, calibration="auto", finalize_all=False)
    assert set(only.scored) == {"first"} and set(only.calibration) == {"first"}
    assert list(only.cv_table().index.get_level_values("model")) == ["first", "second"]
    with pytest.raises(ValueError, match="no candidate"):
        P.select_model(panel, sp, feats, candidates={})
