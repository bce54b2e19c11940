"""Estimators on a synthetic household panel with a known effect (made here), Qini/budget evaluation
against hand-computed values and econml, and the pseudonymised export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_utils.causal import estimate as E
from retention_utils.causal import export as X
from retention_utils.causal import panel as P
from retention_utils.causal import uplift as U
from retention_utils.data.datasets import CJ_ORDERED_BANDS, Dataset
from retention_utils.privacy import pseudonymise

START, END = "2017-01-02", "2017-10-08"  # 40 whole weeks from a Monday
TRUE_EFFECT = {"A": 5.0, "B": 0.0}       # dollars per household per week during the campaign
CAMPAIGNS = [("1", "A", 12), ("2", "A", 20), ("3", "A", 28), ("4", "B", 14), ("5", "B", 24)]  # start week


def _synthetic(seed: int = 7, n: int = 1500) -> Dataset:
    """Households shop Poisson(λᵢ) times a week, $20 (lognormal) a visit. λ rises with an observed income
    band, and so does the chance of being chosen (confounded assignment, unconfounded given the band); each chosen household gets one of five 4-week
    campaigns with staggered starts. Type A adds one extra $5 order in each campaign week (+5 spend and
    +1 visit per week); type B does nothing."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(START)
    band = rng.integers(0, 5, n)  # an observed household attribute (income band) drives both
    lam = 0.5 + 0.5 * band + rng.gamma(2.0, 0.25, n)
    chosen = rng.random(n) < 1 / (1 + np.exp(-(-1.2 + 0.8 * band)))
    camp = np.where(chosen, rng.integers(0, len(CAMPAIGNS), n), -1)
    rows = []
    for i in range(n):
        h = f"h{i:04d}"
        for w in range(40):
            for v in range(rng.poisson(lam[i])):
                day = start + pd.Timedelta(days=7 * w + int(rng.integers(0, 7)))
                rows.append((h, f"{h}-{w}-{v}", day, "p1", 1.0, float(rng.lognormal(np.log(20), 0.4))))
        if camp[i] >= 0:
            cid, ctype, wk = CAMPAIGNS[camp[i]]
            for j in range(4):
                if TRUE_EFFECT[ctype]:
                    day = start + pd.Timedelta(days=7 * (wk - 1 + j))
                    rows.append((h, f"{h}-c{j}", day, "p2", 1.0, TRUE_EFFECT[ctype]))
    tx = pd.DataFrame(rows, columns=["customer_id", "order_id", "order_ts", "product_id", "quantity", "revenue"])
    desc = pd.DataFrame([(c, t, start + pd.Timedelta(days=7 * (w - 1)), start + pd.Timedelta(days=7 * (w - 1) + 27))
                         for c, t, w in CAMPAIGNS], columns=["campaign_id", "campaign_type", "start_date", "end_date"])
    exp = pd.DataFrame([(CAMPAIGNS[c][0], f"h{i:04d}") for i, c in enumerate(camp) if c >= 0],
                       columns=["campaign_id", "customer_id"])
    cust = pd.DataFrame({"customer_id": [f"h{i:04d}" for i in range(n)]})
    for col, order in CJ_ORDERED_BANDS.items():
        codes = band if col == "income" else rng.integers(0, len(order), n)
        cust[col] = pd.Categorical.from_codes(codes, categories=order, ordered=True)
    return Dataset("synthetic", tx, customers=cust, tables={"campaigns": exp, "campaign_descriptions": desc})


@pytest.fixture(scope="module")
def synth():
    ds = _synthetic()
    data = P.campaign_data(ds)
    cs = {t: P.campaign_cross_section(ds.transactions, data, t, START, END, pre_weeks=4, seed=0, customers=ds.customers)
          for t in ("A", "B")}
    return ds, data, cs


@pytest.mark.parametrize("ctype", ["A", "B"])
def test_adjusted_estimators_recover_the_truth_and_the_naive_difference_does_not(synth, ctype):
    _, _, cs = synth
    tab, cov = cs[ctype].table, cs[ctype].covariates
    truth = TRUE_EFFECT[ctype]
    naive = E.naive_difference(tab, P.SPEND)
    assert not naive.covers(truth) and naive.estimate > truth + 5  # heavy shoppers were chosen
    ov = E.overlap(tab, cov, trim=0.05, seed=0)
    ra = E.regression_adjustment(tab[ov.keep], P.SPEND, cov)
    dr = E.aipw(tab, P.SPEND, cov, keep=ov.keep, seed=0)
    assert ra.covers(truth), ra
    assert dr.covers(truth), dr
    assert dr.ci_high - dr.ci_low < 8  # informative, not a vacuous interval
    visits = E.aipw(tab, P.VISITS, cov, keep=ov.keep, seed=0)
    assert visits.covers(truth / 5.0), visits  # the extra $5 order is one visit a week
    # weighting balances the main confounder
    assert abs(ov.balance.loc["income", "smd_before"]) > 0.3
    assert abs(ov.balance.loc["income", "smd_after"]) < 0.1


@pytest.mark.parametrize("ctype", ["A", "B"])
def test_staggered_did_recovers_the_truth_with_flat_pre_trends(synth, ctype):
    ds, data, _ = synth
    panel = P.household_week_panel(ds.transactions, START, END)
    coh = P.first_contact_cohorts(data, panel["customer_id"].unique(), START)
    sample, counts = P.did_sample(panel, coh, ctype, pre_weeks=4)
    assert counts["first_contact_other_type"] > 0 and counts["never_contacted"] > 0
    res = E.staggered_did(sample, "spend", pre_weeks=4, post_weeks=4)
    assert res.overall.covers(TRUE_EFFECT[ctype]), res.overall
    assert res.n_cohorts == (3 if ctype == "A" else 2)
    pre = res.event_study.loc[-4:-2]
    assert ((pre["ci_low"] <= 0) & (pre["ci_high"] >= 0)).sum() >= 2  # no pre-trend by construction
    post = res.event_study.loc[0:3, "att"]
    assert np.allclose(post, TRUE_EFFECT[ctype], atol=4.0)


def test_placebo_dates_before_the_campaigns_give_no_effect(synth):
    ds, data, _ = synth
    pl = P.campaign_cross_section(ds.transactions, data, "A", START, END, pre_weeks=4, shift_weeks=6, seed=0,
                                  customers=ds.customers)
    assert (pl.table["window_end"] < pl.table["campaign_id"].map(
        data.campaigns.set_index("campaign_id")["start_date"])).all()
    ov = E.overlap(pl.table, pl.covariates, trim=0.05, seed=0)
    est = E.aipw(pl.table, P.SPEND, pl.covariates, keep=ov.keep, seed=0)
    assert est.covers(0.0), est


def test_dr_scores_and_cate_rank_treated_effects(synth):
    _, _, cs = synth
    tab, cov = cs["A"].table, cs["A"].covariates
    train, held = U.split_households(tab, 0.4, seed=0)
    model = U.fit_cate(tab.loc[train], P.SPEND, [c for c in cov if not c.startswith("campaign=")],
                       [c for c in cov if c.startswith("campaign=")], seed=0, n_estimators=100)
    eff = model.effect(tab.loc[held])
    assert abs(eff["effect"].mean() - TRUE_EFFECT["A"]) < 3
    gamma = U.dr_scores(tab.loc[held], P.SPEND, cov, seed=0)
    se = gamma.std(ddof=1) / np.sqrt(len(gamma))
    assert abs(gamma.mean() - TRUE_EFFECT["A"]) < 2.5 * se  # mean of DR scores = ATE on held-out


# ------------------------------------------------------------------------------------------------
# Qini and budgets: hand-computed
# ------------------------------------------------------------------------------------------------


def test_qini_curve_and_auc_by_hand():
    score, dr = [4, 3, 2, 1], [10.0, 0.0, 5.0, -3.0]
    c = U.qini_curve(score, dr)
    assert list(c["targeted"]) == [0, 1, 2, 3, 4]
    assert list(c["incremental"]) == [0, 10, 10, 15, 12]
    assert list(c["random"]) == [0, 3, 6, 9, 12]
    # (inc - random) / 4 = 0, 1.75, 1, 1.5, 0; trapezoids of width 0.25
    assert U.qini_auc(score, dr) == pytest.approx(0.25 * (0.875 + 1.375 + 1.25 + 0.75))
    assert U.qini_auc([1, 2, 3, 4], dr) < 0  # the reversed ranking is worse than random
    # ties: one step across the tied group (expected value of random tie-breaking)
    t = U.qini_curve([4, 3, 3, 1], dr)
    assert list(t["targeted"]) == [0, 1, 3, 4] and list(t["incremental"]) == [0, 10, 15, 12]


def test_budget_weights_and_incremental_by_hand():
    dr = [10.0, 0.0, 5.0, -3.0]
    assert U.incremental_at_budget([4, 3, 2, 1], dr, 2).incremental == pytest.approx(10.0)
    assert list(U.budget_weights([4, 3, 3, 1], 2)) == [1.0, 0.5, 0.5, 0.0]
    assert U.incremental_at_budget([4, 3, 3, 1], dr, 2).incremental == pytest.approx(12.5)
    assert U.incremental_at_budget([4, 3, 2, 1], dr, 4).incremental == pytest.approx(12.0)
    with pytest.raises(ValueError, match="budget k"):
        U.budget_weights([1, 2], 3)
    tab = U.compare_targeting({"good": [4, 3, 2, 1], "bad": [1, 2, 3, 4]}, dr, 2, reference="bad")
    assert tab.loc["good", "incremental"] == 10 and tab.loc["bad", "incremental"] == 2
    assert tab.loc["good", "minus_reference"] == pytest.approx(8.0)


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # econml: 0/0 at k = 0
def test_qini_points_match_econml_calc_uplift():
    from econml.validate.utils import calc_uplift

    rng = np.random.default_rng(0)
    score = rng.normal(size=5)
    dr = rng.normal(size=5) * 3
    pct = np.array([0, 25, 50, 75, 100])
    np.random.seed(0)  # noqa: NPY002 - econml draws its bootstrap multipliers from the global generator
    _, _, curve = calc_uplift(score.reshape(-1, 1), score.reshape(-1, 1), dr.reshape(-1, 1), pct, "qini", n_bootstrap=10)
    ours = U.qini_curve(score, dr).set_index("targeted")["qini"]
    # percentile p of the 5 scores is the (p/25 + 1)-th smallest: econml's group holds the top 5 - p/25
    for p, v in zip(pct, curve["value"], strict=True):
        assert ours.loc[5 - p // 25] == pytest.approx(v)


# ------------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------------


def _effects():
    return pd.DataFrame({"effect": [1.0, 3.0, 2.0], "ci_low": [0.0, 1.0, 1.5], "ci_high": [2.0, 5.0, 2.5]},
                        index=pd.Index(["11", "22", "33"], name="customer_id"))


def test_export_is_pseudonymised_ranked_and_round_trips(tmp_path):
    t = X.household_effects_table(_effects(), "k", "Type A", "2018-01-01", "econml ForestDRLearner")
    assert list(t.columns) == list(X.HOUSEHOLD_EFFECT_COLUMNS)
    assert list(t["customer_id"]) == list(pseudonymise(pd.Series(["22", "33", "11"]), "k"))
    assert not set(t["customer_id"]) & {"11", "22", "33"}
    assert list(t["effect_rank"]) == [1, 2, 3] and list(t["effect_spend_per_week"]) == [3.0, 2.0, 1.0]
    csv, pq = X.write_household_effects(t, tmp_path / "causal")
    back = X.read_household_effects(csv)
    pd.testing.assert_frame_equal(back, t, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(pq), t)
    X.write_household_effects(t, tmp_path / "causal")  # our own files may be replaced


@pytest.mark.parametrize("name", ["household_effects.csv", "household_effects.parquet"])
def test_export_never_overwrites_a_file_it_did_not_write(tmp_path, name):
    t = X.household_effects_table(_effects(), "k", "Type A", "2018-01-01", "m")
    (tmp_path / name).write_text("customer_id,something_else\n1,2\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="was not written by"):
        X.write_household_effects(t, tmp_path)
    assert (tmp_path / name).read_text(encoding="utf-8").startswith("customer_id,something_else")


def test_credibility_verdicts_by_hand():
    idx = ["fails", "supported", "none", "wide", "disagree", "missing"]
    effect = pd.DataFrame({"estimate": [6.0, 8.0, 1.0, 6.0, 6.0, 6.0], "ci_low": [3.0, 5.0, -2.0, 3.0, 3.0, 3.0],
                           "ci_high": [9.0, 11.0, 4.0, 9.0, 9.0, 9.0]}, index=idx)
    placebo = pd.DataFrame({"estimate": [7.9, 0.5, 0.2, 1.0, 0.5, np.nan], "ci_low": [2.6, -2.0, -1.0, -17.0, -2.0, np.nan],
                            "ci_high": [13.1, 3.0, 1.5, 19.0, 3.0, np.nan]}, index=idx)
    did = pd.DataFrame({"ci_low": [-4.0, 2.0, -3.0, 0.0, 7.0, 0.0], "ci_high": [4.0, 12.0, 5.0, 10.0, 12.0, 10.0]}, index=idx)
    base = pd.Series([40.0, 32.0, 20.0, 30.0, 30.0, 30.0], index=idx)
    v = E.credibility_verdicts(effect, placebo, did, base)
    assert v["placebo"].tolist() == ["fails", "passes", "passes", "too wide", "passes", "not estimable"]
    assert v["did_agrees"].tolist() == [False, True, True, True, False, True]
    assert v["verdict"].tolist() == ["not credible", "supported", "no effect shown", "inconclusive", "inconclusive", "inconclusive"]
    assert v.loc["fails", "share_of_baseline"] == pytest.approx(0.15)
    assert v.loc["supported", "share_of_baseline"] == pytest.approx(0.25)
