"""Retention playbook (retention_utils.decisions): rules, ranks and budgets worked out by hand, reasons
text, forecasts and MASE by hand, backtest measures, exports and privacy, the campaign-effect hook, and
no leakage on a synthetic shop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from retention_utils import privacy
from retention_utils import schema as S
from retention_utils.decisions import backtest as BT
from retention_utils.decisions import exports as EX
from retention_utils.decisions import playbook as PB
from retention_utils.decisions import reasons as RS
from retention_utils.decisions import recommendations as RC
from retention_utils.decisions import seasonal as SE
from retention_utils.decisions import signals as SG
from retention_utils.decisions import welcome as WE
from retention_utils.decisions.scenarios import (
    PlaybookError,
    PlaybookRules,
    apply_budget,
    assign_scenarios,
    eligibility,
    list_sizes,
)
from retention_utils.tables.summary import segmentation_summary

from .conftest import make_tx
from .decisions_synthetic import END, START, raw_id, synthetic_dataset

NAN = np.nan
COLS = ["n_orders", "tenure_days", "days_since_last_order", "revenue", "risk", "risk_earlier", "p_alive",
        "p_alive_earlier", "hazard_ratio", "value_if_retained", "p_second_order", "seasonal_affinity", "seasonal_value"]
# one row per customer; every scenario and rank below is worked out by hand in test_assignment_by_hand
HAND = {
    "A": (1, 5, 5, 20, .4, NAN, .9, NAN, NAN, 10, .3, NAN, NAN),
    "B": (1, 10, 10, 30, .4, NAN, .9, NAN, NAN, 50, .8, NAN, NAN),
    "C": (9, 200, 40, 500, .9, .8, .2, .6, NAN, 100, NAN, NAN, NAN),
    "D": (3, 200, 40, 30, .9, .8, .2, .6, NAN, 100, NAN, NAN, NAN),
    "E": (8, 200, 5, 300, .5, .2, .9, .95, 1.0, 40, NAN, NAN, NAN),
    "F": (8, 200, 5, 250, .3, .25, .9, .9, .4, 100, NAN, NAN, NAN),
    "G": (8, 200, 5, 200, .1, .1, .95, .95, 1.0, 30, NAN, .4, 5.0),
    "H": (8, 200, 5, 400, .4, .2, .9, .9, 1.0, 10, NAN, .5, 8.0),
    "I": (8, 200, 10, 600, .6, .1, .3, .9, 1.0, 50, NAN, .5, 9.0),
    "J": (8, 200, 5, 150, .2, .2, .95, .95, 1.0, 20, NAN, .2, 5.0),
    "K": (8, 200, 5, 150, .2, .2, .95, .95, 1.0, 20, NAN, .2, 5.0),
}
RULES = PlaybookRules(tau_days=30, welcome_days=20, risk_rise=0.1, p_alive_drop=0.2, hazard_ratio_drop=0.5,
                      p_alive_low=0.5, high_value_quantile=0.5)


def hand_signals() -> pd.DataFrame:
    return pd.DataFrame.from_dict(HAND, orient="index", columns=COLS).rename_axis(S.CUSTOMER_ID)


# ------------------------------------------------------------------------------------------------
# scenario rules, priority, rank, budget
# ------------------------------------------------------------------------------------------------


def test_assignment_by_hand():
    # revenue median (q = 0.5 of 20, 30, 30, 150, 150, 200, 250, 300, 400, 500, 600) = 200: C and I are
    # high value. A, B new with one order -> welcome (expected values 0.7 * 10 = 7 and 0.2 * 50 = 10).
    # C lapsed by tau (40 >= 30), I by P(alive) 0.3 < 0.5 -> win-back (0.8 * 100 = 80, 0.7 * 50 = 35);
    # D lapsed but low value -> nowhere. E (risk +0.3), F (hazard 0.4 <= 0.5), H (risk +0.2) -> maintenance
    # (0.5 * 40 = 20, 0.3 * 100 = 30, 0.4 * 10 = 4); H is also seasonal, maintenance comes first; I's risk
    # rose too but win-back comes first. G, J, K seasonal with values 5, 5, 5: ties broken by score
    # (0.4 > 0.2), then id (J < K).
    out = assign_scenarios(hand_signals(), RULES)
    got = {sc: list(g.sort_values("rank")[S.CUSTOMER_ID]) for sc, g in out.groupby("scenario")}
    assert got == {"welcome": ["B", "A"], "winback": ["C", "I"], "maintenance": ["F", "E", "H"], "seasonal": ["G", "J", "K"]}
    assert "D" not in set(out[S.CUSTOMER_ID])
    assert out[S.CUSTOMER_ID].is_unique
    ev = out.set_index(S.CUSTOMER_ID)["expected_value"]
    assert ev.to_dict() == pytest.approx({"B": 10, "A": 7, "C": 80, "I": 35, "F": 30, "E": 20, "H": 4, "G": 5, "J": 5, "K": 5})
    assert list(out["priority"]) == [1, 1, 2, 2, 3, 3, 3, 4, 4, 4]
    assert out.attrs["eligible"] == {"welcome": 2, "winback": 2, "maintenance": 3, "seasonal": 4}
    assert out.attrs["high_value_threshold"] == 200
    e = eligibility(hand_signals(), RULES)
    assert e.loc["E", "risk_rising"] and not e.loc["E", "hazard_falling"]
    assert e.loc["F", "hazard_falling"] and not e.loc["F", "risk_rising"]
    assert e.loc["I", "risk_rising"] and e.loc["I", "lapsed"]


def test_assignment_from_a_hand_made_log():
    # four customers, log up to 2017-03-31; recency, orders and revenue come from the log itself
    rows = [
        ("new", "n1", "2017-03-25 10:00", "x", 1, 12.0),                      # first order 6 days before the end
        ("gone", "g1", "2017-01-02 10:00", "x", 1, 400.0), ("gone", "g2", "2017-01-05 10:00", "x", 1, 300.0),
        ("slip", "s1", "2017-03-01 10:00", "x", 1, 50.0), ("slip", "s2", "2017-03-20 10:00", "x", 1, 60.0),
        ("fine", "f1", "2017-03-29 10:00", "x", 1, 20.0), ("fine", "f2", "2017-03-30 10:00", "x", 1, 20.0),
    ]
    summ = segmentation_summary(make_tx(rows), "2017-03-31")
    assert summ.loc["gone", "days_since_last_order"] == 85 and summ.loc["new", "tenure_days"] == 6
    models = pd.DataFrame({  # what the models would say, injected
        "risk": [.5, .9, .6, .1], "risk_earlier": [NAN, .8, .2, .1], "p_alive": [1, .1, .9, .99],
        "p_alive_earlier": [NAN, .5, .9, .99], "hazard_ratio": [NAN, 1, 1, 1], "value_if_retained": [20, 300, 100, 40],
        "p_second_order": [.4, NAN, NAN, NAN], "seasonal_affinity": [NAN, NAN, NAN, .3], "seasonal_value": [NAN, NAN, NAN, 2.0],
    }, index=pd.Index(["new", "gone", "slip", "fine"], name=S.CUSTOMER_ID))
    sig = summ[["n_orders", "tenure_days", "days_since_last_order", "revenue"]].astype("float64").join(models)
    rules = PlaybookRules(tau_days=60, welcome_days=30, high_value_quantile=0.5)
    out = assign_scenarios(sig, rules).set_index(S.CUSTOMER_ID)
    # new: one order 6 days ago -> welcome; gone: 85 >= 60 days and revenue 700 >= median 85 -> win-back;
    # slip: risk 0.2 -> 0.6 -> maintenance; fine: nothing worsened, affinity -> seasonal
    assert out["scenario"].to_dict() == {"new": "welcome", "gone": "winback", "slip": "maintenance", "fine": "seasonal"}
    assert out.loc["gone", "expected_value"] == pytest.approx(0.9 * 300)
    assert out.loc["slip", "expected_value"] == pytest.approx(0.6 * 100)


def test_budgets():
    out = assign_scenarios(hand_signals(), RULES)
    per = apply_budget(out, 1)
    assert list(per[S.CUSTOMER_ID]) == ["B", "C", "F", "G"]
    total = apply_budget(out, 3, "total")  # the three largest expected values over all lists: 80, 35, 30
    assert list(total[S.CUSTOMER_ID]) == ["C", "I", "F"]
    assert list(total["rank"]) == [1, 2, 1]
    assert list_sizes(apply_budget(out, 0)) == {"welcome": 0, "winback": 0, "maintenance": 0, "seasonal": 0}
    assert len(apply_budget(out, 100)) == len(out)
    for bad in (-1, 2.5, True):
        with pytest.raises(PlaybookError, match="BUDGET"):
            apply_budget(out, bad)
    with pytest.raises(PlaybookError, match="BUDGET_MODE"):
        apply_budget(out, 1, "everything")


def test_rules_and_signals_are_checked():
    with pytest.raises(PlaybookError, match="tau_days"):
        PlaybookRules(tau_days=0)
    with pytest.raises(PlaybookError, match="hazard_ratio_drop"):
        PlaybookRules(tau_days=5, hazard_ratio_drop=1.5)
    with pytest.raises(S.SchemaError, match="risk"):
        assign_scenarios(hand_signals().drop(columns="risk"), RULES)
    bad = hand_signals()
    bad.loc["A", "p_alive"] = NAN
    with pytest.raises(PlaybookError, match="p_alive"):
        assign_scenarios(bad, RULES)


# ------------------------------------------------------------------------------------------------
# reasons
# ------------------------------------------------------------------------------------------------


def test_reason_texts():
    assert RS.lapse_text(41, 9.2) == "no order for 41 days (usual gap 9)"
    assert RS.lapse_text(41, NAN) == "no order for 41 days (one purchase day so far)"
    assert RS.spend_change_text(62.0, 100.0, 56) == "spend down 38 % vs the previous 56 days"
    assert RS.spend_change_text(112.0, 100.0, 30) == "spend up 12 % vs the previous 30 days"
    assert RS.spend_change_text(0.0, 120.5, 30) == "no spend in the last 30 days (120 in the 30 before)"
    assert RS.spend_change_text(0.0, 0.0, 30) == "no spend in the last 60 days"
    assert RS.risk_text(0.45, 0.12, "2017-09-01") == "repurchase risk up from 12 % to 45 % since 2017-09-01"
    assert RS.p_alive_text(0.61, 0.98) == "P(alive) down from 0.98 to 0.61"
    assert RS.p_alive_text(0.004) == "P(alive) 0.00"
    assert RS.value_text(2310.4, 269, 0.049) == "spent 2,310 in 270 days (top 5 % by value)"
    assert RS.frequency_text(23, 275) == "23 orders in 276 days (one every 12)"
    assert RS.hazard_text(0.4, "2017-09-01") == "next order expected later: purchase hazard 0.4x its level on 2017-09-01"
    assert RS.pct(-0.001) == "0 %"


def test_maintenance_reasons_put_the_trigger_first_then_drivers():
    rows = pd.DataFrame({"risk": [.45], "risk_earlier": [.12], "p_alive": [.9], "p_alive_earlier": [.95],
                         "hazard_ratio": [.3], "days_since_last_order": [41.0], "gap_mean_days": [9.2],
                         "revenue_recent": [62.0], "revenue_earlier": [100.0], "n_orders": [20.0], "tenure_days": [200.0]},
                        index=["x"])
    triggers = pd.DataFrame({"risk_rising": [True], "p_alive_falling": [False], "hazard_falling": [True]}, index=["x"])
    effects = pd.DataFrame({"recency": [0.05], "spend trend": [0.20], "frequency": [-0.1]}, index=["x"])
    r = RS.maintenance_reasons(rows, triggers, effects, "2017-09-01", 30)["x"]
    assert r == ["repurchase risk up from 12 % to 45 % since 2017-09-01",
                 "next order expected later: purchase hazard 0.3x its level on 2017-09-01",
                 "spend down 38 % vs the previous 30 days"]  # the strongest driver (spend trend), not frequency


def test_driver_effects_on_a_known_model():
    class Model:  # P(repurchase) falls with days since the last order only
        features = ["days_since_last_order", "n_orders"]

        def predict_proba(self, rows):
            return pd.Series(1 / (1 + rows["days_since_last_order"] / 10), index=rows.index)

    ref = pd.DataFrame({"days_since_last_order": [0.0, 10.0, 20.0], "n_orders": [1.0, 5.0, 9.0]})
    rows = pd.DataFrame({"days_since_last_order": [30.0], "n_orders": [9.0]}, index=["x"])
    eff = RS.driver_effects(Model(), rows, ref, {"recency": ("days_since_last_order",), "frequency": ("n_orders",)})
    assert eff.loc["x", "recency"] == pytest.approx(1 / 2 - 1 / 4)  # risk drops from 0.75 to 0.5 at the median 10 days
    assert eff.loc["x", "frequency"] == 0


# ------------------------------------------------------------------------------------------------
# seasonal
# ------------------------------------------------------------------------------------------------


def test_seasonal_naive_and_mase_by_hand():
    y = np.array([10.0, 12, 11, 13, 14])
    assert SE.seasonal_naive(y, 3, 1).tolist() == [14, 14, 14]
    assert SE.seasonal_naive(y, 3, 2).tolist() == [13, 14, 13]
    assert SE.mase_scale(y, 1) == pytest.approx((2 + 1 + 2 + 1) / 4)
    assert SE.mase_scale(y, 2) == pytest.approx((1 + 1 + 3) / 3)
    assert SE.mase([15, 13], [14, 14], 1.5) == pytest.approx(1 / 1.5)
    assert np.isnan(SE.mase([1], [1], 0.0))


def test_one_year_cannot_carry_a_52_week_season():
    SE.check_season_length(52, 1)
    with pytest.raises(PlaybookError, match="SEASON_LENGTH_WEEKS = 52 .* one year"):
        SE.check_season_length(52, 52)


def test_weekly_revenue_weeks_end_on_the_as_of_day():
    rows = [("a", f"o{i}", f"2017-01-{d:02d} 10:00", "p1" if i % 2 else "p2", 1, float(d))
            for i, d in enumerate(range(1, 31))]
    products = pd.DataFrame({S.PRODUCT_ID: ["p1", "p2"], S.DEPARTMENT: ["X", "Y"]})
    tx = make_tx(rows)
    w = SE.weekly_department_revenue(tx, products, "2017-01-29", 5)
    # 29 days known -> 4 full weeks ending on the 29th: Jan 2-8, 9-15, 16-22, 23-29 (Jan 1 left out)
    assert list(w.index.strftime("%m-%d")) == ["01-02", "01-09", "01-16", "01-23"]
    # order i on day i + 1: odd i (even days) -> p1/X, even i (odd days) -> p2/Y
    assert w.loc["2017-01-02", "X"] == 2 + 4 + 6 + 8 and w.loc["2017-01-02", "Y"] == 3 + 5 + 7
    ahead = SE.weekly_department_revenue(tx, products, "2017-01-29", 5, until="2017-02-05")
    assert len(ahead) == 5 and ahead.index[-1] == pd.Timestamp("2017-01-30")  # 4 weeks of history + 1 ahead
    assert ahead.iloc[-1].sum() == 30  # only day 30 has data in the week ahead
    with pytest.raises(PlaybookError, match="at least 4"):
        SE.weekly_department_revenue(tx, products, "2017-01-22", 5)


def test_holiday_weeks_are_marked():
    weeks = pd.DatetimeIndex(["2017-11-19", "2017-11-26"])
    h = SE.holiday_weeks(weeks, "US")
    assert h.iloc[0] == "Thanksgiving Day" and h.iloc[1] == ""
    assert (SE.holiday_weeks(weeks, "") == "").all()


# ------------------------------------------------------------------------------------------------
# backtest
# ------------------------------------------------------------------------------------------------


def backtest_log():
    rows = [
        ("a", "a1", "2017-01-01 10:00", "x", 1, 100.0), ("a", "a2", "2017-01-10 10:00", "x", 1, 100.0),  # no return
        ("b", "b1", "2017-01-06 10:00", "x", 1, 50.0), ("b", "b2", "2017-01-12 10:00", "x", 1, 30.0),     # returns
        ("c", "c1", "2017-01-10 10:00", "x", 1, 10.0),                                                     # no return
        ("z", "z1", "2017-01-30 10:00", "x", 1, 1.0),  # after the horizon: ends the data
    ]
    return make_tx(rows)


def test_outcomes_and_value_captured_by_hand():
    out = BT.outcomes(backtest_log(), "2017-01-10", 10)
    # a: 200 over 10 days -> 20 a day -> 200 over the horizon, lost; b: 50 over 5 days, returned; c: 10 over 1 day -> 100, lost
    assert out["usual_value"].to_dict() == pytest.approx({"a": 200.0, "b": 100.0, "c": 100.0})
    assert out["returned"].to_dict() == {"a": 0, "b": 1, "c": 0}
    assert out["lost_value"].to_dict() == pytest.approx({"a": 200.0, "b": 0.0, "c": 100.0})
    assert BT.value_captured(out["lost_value"], ["c"]) == pytest.approx(1 / 3)
    assert BT.value_captured(out["lost_value"], ["b", "nobody"]) == 0
    assert BT.came_back_share(out, ["a", "b"]) == 0.5
    with pytest.raises(PlaybookError, match="runs past"):
        BT.outcomes(backtest_log(), "2017-01-25", 10)


def test_random_list_expected_share_matches_seeded_draws():
    rng = np.random.default_rng(0)
    lost = pd.Series(rng.exponential(10, 200) * (rng.random(200) < 0.3), index=[f"c{i:03d}" for i in range(200)])
    draws = BT.random_draws(lost, 20, n_draws=2000, seed=1)
    assert BT.random_expected_share(20, 200) == 0.1
    assert draws.mean() == pytest.approx(0.1, abs=0.005)


def test_rfm_and_recency_lists_and_gains():
    seg = pd.Series(["At risk", "Champions", "Can't lose them", "At risk"], index=["a", "b", "c", "d"])
    rev = pd.Series([10.0, 99.0, 50.0, 10.0], index=["a", "b", "c", "d"])
    assert BT.rfm_list(seg, rev) == ["c", "a", "d"]
    assert BT.rfm_list(seg, rev, 2) == ["c", "a"]
    assert BT.recency_list(pd.Series([3, 9, 9, 1], index=["a", "b", "c", "d"]), 3) == ["b", "c", "a"]
    lost = pd.Series([0.0, 30.0, 10.0, 60.0], index=["a", "b", "c", "d"])
    g = BT.gains_curve(lost, {"r": ["d", "b", "c", "a"]}, [0, 1, 2, 4])
    assert g["r"].tolist() == pytest.approx([0, 0.6, 0.9, 1.0])
    assert g["random"].tolist() == [0, 0.25, 0.5, 1.0]


def test_welcome_labels_by_hand():
    rows = [("a", "a1", "2017-01-01 10:00", "x", 1, 5.0), ("a", "a2", "2017-01-20 10:00", "x", 1, 5.0),
            ("b", "b1", "2017-01-03 10:00", "x", 1, 5.0), ("b", "b2", "2017-02-05 10:00", "x", 1, 5.0),
            ("c", "c1", "2017-01-04 09:00", "x", 1, 5.0), ("c", "c2", "2017-01-04 18:00", "x", 1, 5.0)]
    tx = make_tx(rows)
    first = WE.first_orders(tx)
    assert first[S.ORDER_ID].to_dict() == {"a": "a1", "b": "b1", "c": "c1"}
    # second order within 30 days of the first day: a (19 days) yes, b (33 days) no, c (same day) yes
    assert WE.second_order_labels(tx, first, 30).to_dict() == {"a": 1, "b": 0, "c": 1}
    auc, cal = BT.welcome_evaluation(pd.Series([0, 1, 1, 0]), pd.Series([.1, .8, .7, .3]))
    assert auc == 1.0 and len(cal) >= 1


# ------------------------------------------------------------------------------------------------
# exports, privacy, manifest
# ------------------------------------------------------------------------------------------------


def test_checked_writer_never_overwrites_a_file_it_did_not_write(tmp_path):
    t = pd.DataFrame({"a": [1.5]})
    foreign = tmp_path / "x.csv"
    foreign.write_text("someone else's\n")
    with pytest.raises(FileExistsError, match="not written by retention_utils"):
        S.write_checked_csv(t, foreign, ["a"], "t", manifest=True)
    assert foreign.read_text() == "someone else's\n"
    ours = S.write_checked_csv(t, tmp_path / "y.csv", ["a"], "t", manifest=True)
    S.write_checked_csv(t.assign(a=2.5), ours, ["a"], "t", manifest=True)  # ours, unchanged since: overwritten
    assert ours.read_text() == "a\n2.5\n"
    manifest = json.loads((tmp_path / S.MANIFEST_NAME).read_text())
    assert manifest["written_by"] == "retention_utils" and set(manifest["files"]) == {"y.csv"}
    ours.write_text("edited by hand\n")
    with pytest.raises(FileExistsError, match="changed since"):
        S.write_checked_csv(t, ours, ["a"], "t", manifest=True)
    p = S.write_checked_parquet(t, tmp_path / "z.parquet", ["a"], "t", manifest=True)
    assert pd.read_parquet(p)["a"].tolist() == [1.5]


def test_pseudonymised_refuses_raw_ids_and_summary_suppresses_small_cells():
    key = privacy.PseudonymKey(b"k", "test")
    t = pd.DataFrame({S.CUSTOMER_ID: ["7", "8"]})
    out = EX.pseudonymised(t, key)
    assert EX.is_pseudonym(out[S.CUSTOMER_ID]).all() and "7" not in set(out[S.CUSTOMER_ID])
    assert EX.pseudonymised(t, privacy.PseudonymKey(None, "off"))[S.CUSTOMER_ID].tolist() == ["7", "8"]
    lists = pd.DataFrame({"scenario": ["welcome"] * 3 + ["seasonal"] * 12, "expected_value": [1.0] * 15})
    s = EX.summary_table(lists, {"welcome": 3, "seasonal": 40}, {"welcome": 3, "seasonal": 50}, "2017-12-31", 30, 100,
                         "per_scenario", {}, {}, min_cell=10).set_index("scenario")
    assert s.loc["welcome", "listed"] == "<10" and s.loc["welcome", "expected_value_total"] == "<10"
    assert s.loc["seasonal", "listed"] == 12 and s.loc["seasonal", "eligible"] == 50
    assert s.loc["winback", "listed"] == "<10"  # an empty list is a small cell too


def write_effects(path, ids, effects):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({S.CUSTOMER_ID: ids, "effect_weekly_spend": effects, "se": 1.0}).to_csv(path, index=False)


def test_campaign_effect_hook_reranks_by_incremental_value(tmp_path):
    key = privacy.PseudonymKey(b"k", "test")
    assigned = assign_scenarios(hand_signals(), RULES)
    pseudo = privacy.pseudonymise(pd.Series(["F", "E", "H"]), key).tolist()
    path = EX.household_effects_path(tmp_path, "shop")
    assert path == tmp_path / "shop" / "causal" / "household_effects.csv"
    write_effects(path, pseudo[1:], [7.0, 14.0])  # E: 7 a week, H: 14 a week; F has no estimate
    effects = EX.read_household_effects(path)
    ranked = EX.rank_by_incremental_value(assigned, effects, key, 14)
    m = ranked[ranked["scenario"] == "maintenance"].sort_values("rank")
    assert list(m[S.CUSTOMER_ID]) == ["H", "E", "F"]  # 28 > 14 > no estimate
    assert m["incremental_value"].tolist()[:2] == [28.0, 14.0] and np.isnan(m["incremental_value"].iloc[2])
    assert (ranked["rank_basis"] == "incremental value").all()
    plain = EX.rank_by_incremental_value(assigned, None, key, 14)
    assert (plain["rank_basis"] == "expected value").all() and plain["rank"].equals(assigned["rank"])
    write_effects(path, ["F", "E"], [1.0, 2.0])
    with pytest.raises(PlaybookError, match="not pseudonyms"):
        EX.read_household_effects(path)
    pd.DataFrame({"id": pseudo, "x": 1}).to_csv(path, index=False)
    with pytest.raises(PlaybookError, match="id_column"):
        EX.read_household_effects(path)


# ------------------------------------------------------------------------------------------------
# the whole playbook on a synthetic shop
# ------------------------------------------------------------------------------------------------

SETTINGS = PB.PlaybookSettings(horizon_days=30, welcome_days=90, welcome_burn_in_days=60, forecast_weeks=8,
                               forecast_departments=4, rising_min_growth=-1.0, seed=3)
AS_OF = END - pd.Timedelta(days=92)


@pytest.fixture(scope="module")
def shop():
    ds = synthetic_dataset()
    prep = SG.prepare(ds, START, SETTINGS.horizon_days)
    return ds, prep, PB.build_playbook(prep, AS_OF, SETTINGS)


def test_playbook_on_a_synthetic_shop(shop):
    ds, prep, pb = shop
    sizes = list_sizes(pb.assigned)
    assert all(sizes[sc] > 0 for sc in ("welcome", "maintenance", "seasonal")), (sizes, pb.notes)
    assert pb.assigned[S.CUSTOMER_ID].is_unique
    lists = PB.contact_lists(pb, 5, key=privacy.PseudonymKey(b"k", "t"))
    assert list(lists.columns) == list(EX.PLAYBOOK_COLUMNS)
    assert (lists.groupby("scenario").size() <= 5).all()
    assert (lists["reason_1"] != "").all() and (lists["recommended_products"] != "").all()
    m = lists[lists["scenario"] == "maintenance"]
    data = RC.interactions(pb.tx_known)
    items = RC.tifu_items(data, pd.Index(m[S.CUSTOMER_ID]), 3, 2, settings=SETTINGS.tifu)
    bought = set(zip(pb.tx_known[S.CUSTOMER_ID], pb.tx_known[S.PRODUCT_ID], strict=True))
    for r in items.itertuples():
        assert ((r.customer_id, r.product_id) in bought) == (r.kind == "repeat")
    per = items.groupby([S.CUSTOMER_ID, "kind"]).size().unstack(fill_value=0)
    assert (per["repeat"] <= 3).all() and (per["explore"] <= 2).all() and per["explore"].sum() > 0


def test_no_leakage_changing_the_future_moves_nothing(shop):
    ds, prep, pb = shop
    tx = ds.transactions
    later = tx[S.ORDER_TS] >= AS_OF + pd.Timedelta(days=1)
    changed = tx.copy()
    changed.loc[later, S.REVENUE] *= 3  # change every later line,
    changed = changed.drop(changed.index[later.to_numpy()][::2])  # delete half of them,
    extra = tx[later].head(50).assign(**{S.CUSTOMER_ID: "newcomer", S.ORDER_ID: lambda d: "new-" + d[S.ORDER_ID]})
    changed = pd.concat([changed, extra], ignore_index=True)  # and add a customer who arrives later
    ds2 = type(ds)(ds.name, S.validate_transactions(changed), ds.products, None, {}, [])
    pb2 = PB.build_playbook(SG.prepare(ds2, START, SETTINGS.horizon_days), AS_OF, SETTINGS)
    pd.testing.assert_frame_equal(pb.signals, pb2.signals)
    pd.testing.assert_frame_equal(pb.assigned, pb2.assigned)
    pd.testing.assert_frame_equal(PB.contact_lists(pb, 5), PB.contact_lists(pb2, 5))
    # and the features are from before the as-of day: the first customer of the list had no later row used
    assert pb.tx_known[S.ORDER_TS].max() < AS_OF + pd.Timedelta(days=1)


def test_exports_carry_no_raw_id(shop, tmp_path):
    ds, prep, pb = shop
    key = privacy.pseudonym_key({"name": "shop"}, {privacy.KEY_ENV: "secret-of-the-shop"})
    lists = PB.contact_lists(pb, 10, key=key)
    summary = EX.summary_table(lists, list_sizes(pb.assigned), pb.assigned.attrs["eligible"], "x", 30, 10, "per_scenario",
                               PB.RECOMMENDATION_MODEL, pb.notes)
    folder = EX.playbook_dir(tmp_path, "shop")
    written = EX.export_playbook(lists, summary, folder, key)
    assert {p.name for p in written} == {f"{n}.{e}" for n in ("welcome", "winback", "maintenance", "seasonal", "summary")
                                         for e in ("csv", "parquet")}
    for p in written:
        text = p.read_text(encoding="utf-8", errors="replace") if p.suffix == ".csv" else \
            pd.read_parquet(p).to_csv(index=False)
        assert "-raw" not in text, p
    back = pd.read_csv(folder / "maintenance.csv", dtype={S.CUSTOMER_ID: str})
    assert EX.is_pseudonym(back[S.CUSTOMER_ID]).all() and list(back.columns) == list(EX.PLAYBOOK_COLUMNS)
    # running again overwrites our own files; a file put there by someone else stops the export first
    EX.export_playbook(lists, summary, folder, key)
    (folder / "seasonal.parquet").write_bytes(b"not ours")
    before = (folder / "welcome.csv").read_bytes()
    with pytest.raises(FileExistsError, match="seasonal.parquet"):
        EX.export_playbook(lists.assign(score=0.5), summary, folder, key)
    assert (folder / "welcome.csv").read_bytes() == before


def test_a_dataset_without_products_stops_with_one_line():
    ds = synthetic_dataset(30)
    ds.products = None
    with pytest.raises(PB.PlaybookUnavailable, match="product catalogue") as err:
        PB.require_playbook_data(ds, "cdnow")
    assert "\n" not in str(err.value)
    ds.transactions = ds.transactions.assign(**{S.PRODUCT_ID: "CD"})
    with pytest.raises(PB.PlaybookUnavailable, match="1 distinct product"):
        PB.require_playbook_data(ds, "cdnow")


def test_order_table_sums_lines():
    tx = make_tx([("a", "o1", "2017-01-01 10:00", "x", 1, 1.25), ("a", "o1", "2017-01-01 10:00", "y", 1, 2.5),
                  ("b", "o2", "2017-01-02 10:00", "x", 1, 4.0)])
    o = SG.order_table(tx)
    assert o[S.REVENUE].tolist() == [3.75, 4.0] and o[S.CUSTOMER_ID].tolist() == ["a", "b"]
    assert raw_id(3) == "hh-0003-raw"


def test_forecast_skill_is_the_rolling_origin_backtest_per_department():
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2017-01-02", periods=40, freq="W-MON", name="week_start")
    noise = 100 + rng.normal(0, 10, 40)  # white noise around a level: smoothing beats last week's value
    weekly = pd.DataFrame({"NOISE": noise, "WALK": 100 + np.cumsum(rng.normal(0, 10, 40))}, index=weeks)
    weekly.columns.name = S.DEPARTMENT
    skill = SE.forecast_skill(weekly, 8, 1, 2)
    manual = SE.backtest(weekly, [24, 32], 8, 1).groupby(S.DEPARTMENT)[["mase_ets", "mase_naive"]].mean()
    assert skill[["mase_ets", "mase_naive"]].to_numpy() == pytest.approx(manual.to_numpy())
    assert skill["origins"].tolist() == [2, 2]
    assert skill.loc["NOISE", "skilled"]
    assert skill["skilled"].tolist() == (manual["mase_ets"] < manual["mase_naive"]).tolist()
    assert SE.forecast_skill(weekly.iloc[:15], 8, 1, 2).empty  # no origin with 8 history weeks and 8 actual weeks


def test_low_p_alive_lapses_only_when_the_repurchase_model_agrees():
    # I: P(alive) 0.3 < 0.5 with risk 0.6 -> lapsed (win-back); the same customer with risk 0.08 (04's model
    # expects an order) is active, and its risk rise (0.1 -> 0.08 is none) leaves it off maintenance too;
    # C stays lapsed by its silence (40 >= tau 30) whatever the risk
    s = hand_signals()
    s.loc["I", "risk"] = 0.08
    s.loc["C", "risk"] = 0.08
    e = eligibility(s, RULES)
    assert not e.loc["I", "lapsed"] and not e.loc["I", "winback"]
    assert e.loc["C", "lapsed"] and e.loc["C", "winback"]
    assert eligibility(hand_signals(), RULES).loc["I", "winback"]
