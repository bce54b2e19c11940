"""The retention playbook end to end: signals at an as-of date, scenario lists, budget, reasons,
products (:func:`build_playbook`, :func:`contact_lists`).

``build_playbook(prep, as_of, settings)`` reads the transactions known at ``as_of`` only
(:func:`retention_utils.decisions.signals.known_at` of the data prepared once by
:func:`retention_utils.decisions.signals.prepare`), computes every signal
(:mod:`.signals`, :mod:`.welcome`, :mod:`.seasonal`), and assigns the scenarios
(:func:`retention_utils.decisions.scenarios.assign_scenarios`). ``contact_lists`` cuts the lists to the
budget (optionally re-ranked by the campaign-effect hook) and adds reasons and products for the
customers kept. A scenario whose model cannot be built on the data (too few new customers for the
welcome model, no department rising) is left empty with a one-line note, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import privacy
from .. import schema as S
from ..schema import DAY, DateLike
from . import reasons as RS
from . import recommendations as RC
from . import seasonal as SE
from . import signals as SG
from . import welcome as WE
from .exports import PLAYBOOK_COLUMNS, rank_by_incremental_value
from .scenarios import (
    SCENARIOS,
    SCORE_MEANING,
    SIGNAL_COLUMNS,
    VALUE_MEANING,
    PlaybookError,
    PlaybookRules,
    apply_budget,
    assign_scenarios,
    eligibility,
)


class PlaybookUnavailable(PlaybookError, S.InsufficientDataError):
    """The dataset lacks what the playbook needs (e.g. a product catalogue); one-line message. An
    :class:`retention_utils.schema.InsufficientDataError`, like every notebook's first-cell check."""


def require_playbook_data(ds: Any, dataset: str, observation_start: DateLike | None = None,
                          backtest_as_of: DateLike | None = None, horizon_days: int = 30,
                          min_repeat_customers: int = 10) -> None:
    """Notebook 08's first-cell check, in this order; raises :class:`PlaybookUnavailable` (an
    :class:`retention_utils.schema.InsufficientDataError`) with one sentence:

    1. a product catalogue with departments and more than one product: every list row carries
       recommended products, welcome recommends from the first basket's departments and the seasonal
       scenario forecasts departments (CDNOW has one pseudo-product and no catalogue);
    2. with ``backtest_as_of``: at least ``min_repeat_customers`` customers who bought on two different
       days by then (the churn threshold tau and the BTYD models need repeat purchases);
    3. with ``observation_start`` too: the repurchase model of notebook 04 can be trained and validated
       by then (:func:`retention_utils.tables.cutoffs.require_cutoffs` with the playbook's fixed plan).
    """
    start = None if observation_start is None else S.to_day(observation_start, "observation_start")
    as_of = None if backtest_as_of is None else S.to_day(backtest_as_of, "backtest_as_of")
    tx = ds.transactions
    n = int(tx[S.PRODUCT_ID].nunique())
    p = ds.products
    if n < 2 or p is None or S.DEPARTMENT not in p:
        raise PlaybookUnavailable(
            f"{dataset}: the retention playbook needs a product catalogue with departments ({n} distinct product(s), "
            f"{'no product table' if p is None else 'no department column'}): every scenario recommends products "
            "and the seasonal scenario forecasts departments; run it on a dataset with products (e.g. complete_journey).")
    if as_of is None:
        return
    known = tx[tx[S.ORDER_TS] < as_of + DAY]
    days = known.assign(_d=known[S.ORDER_TS].dt.normalize()).groupby(S.CUSTOMER_ID)["_d"].nunique()
    repeat = int((days >= 2).sum())
    if repeat < min_repeat_customers:
        raise PlaybookUnavailable(
            f"{dataset}: the retention playbook needs at least {min_repeat_customers} customers who bought on two "
            f"different days by its backtest date {as_of.date()} (the churn threshold and the BTYD models rest on repeat "
            f"purchases); the data has {repeat}: use a longer log or a later OBSERVATION_END.")
    if start is not None:
        from ..tables.cutoffs import require_cutoffs

        st = SG.RepurchaseSettings()
        try:
            require_cutoffs(known, start, as_of, horizon_days, st.step_days, st.min_history_days, n_folds=1)
        except S.InsufficientDataError as err:
            msg = str(err).strip()
            raise PlaybookUnavailable(f"{dataset}: the retention playbook's repurchase model at {as_of.date()}: "
                                      + (msg if msg.endswith(".") else msg + ".")) from None


@dataclass(frozen=True)
class PlaybookSettings:
    """Every choice of the playbook (notebook 08's parameters). Days are calendar days."""

    horizon_days: int = 30
    welcome_days: int = 90
    welcome_burn_in_days: int = 60
    welcome_C: float = 0.1
    welcome_top_departments: int = 5
    tau_percentile: float = 0.9
    tau_basis: str = "customer_max"
    risk_rise: float = 0.10
    p_alive_drop: float = 0.20
    hazard_ratio_drop: float = 0.5
    p_alive_low: float = 0.5
    high_value_quantile: float = 0.5
    repurchase: SG.RepurchaseSettings = field(default_factory=SG.RepurchaseSettings)
    tifu: RC.TIFUSettings = field(default_factory=RC.TIFUSettings)
    forecast_weeks: int = 13
    season_length_weeks: int = 1
    forecast_departments: int = 10
    rising_min_growth: float = 0.02
    skill_origins: int = 2
    affinity_weeks: int = 13
    holiday_calendar: str = "US"
    n_products: int = 5
    n_repeat: int = 3
    n_explore: int = 2
    popularity_days: int = 90
    seed: int = 0


@dataclass
class Playbook:
    """Result of :func:`build_playbook`: the as-of day, settings and rules, the known transactions,
    the ``signals`` table (:data:`retention_utils.decisions.scenarios.SIGNAL_COLUMNS` plus context),
    the ``eligibility`` flags, the full ranked lists ``assigned`` (raw ids, before the budget), the
    fitted parts (repurchase risk, BTYD values, hazard ratios, RFM segments, welcome model and cohort,
    weekly revenue, forecast, rising departments, customer affinity) and one ``notes`` line per scenario
    that could not be built."""

    as_of: pd.Timestamp
    settings: PlaybookSettings
    rules: PlaybookRules
    tx_known: pd.DataFrame
    products: pd.DataFrame | None
    signals: pd.DataFrame
    eligibility: pd.DataFrame
    assigned: pd.DataFrame
    repurchase: SG.RepurchaseRisk
    values: SG.Values
    segments: pd.Series
    welcome_model: WE.WelcomeModel | None
    welcome_cohort: pd.DataFrame
    welcome_scores: pd.DataFrame
    weekly: pd.DataFrame | None
    forecast: SE.Forecast | None
    rising: pd.Series
    affinity: pd.DataFrame
    notes: dict[str, str] = field(default_factory=dict)
    skill: pd.DataFrame | None = None

    @property
    def earlier(self) -> pd.Timestamp:
        """The earlier date the worsening signals compare with (``as_of - horizon_days``)."""
        return self.as_of - pd.Timedelta(days=self.settings.horizon_days)


def build_playbook(prep: SG.Prepared, as_of: DateLike, settings: PlaybookSettings | None = None) -> Playbook:
    """Signals and ranked scenario lists at ``as_of`` (module docstring). ``prep``:
    :func:`retention_utils.decisions.signals.prepare` of a cleaned dataset with the same horizon as
    ``settings``. Raises :class:`PlaybookError` when a core model cannot be fitted (the message names the
    parameter to change)."""
    as_of = S.to_day(as_of, "as_of")  # dates first: one rule, refused early
    st = settings or PlaybookSettings()
    if prep.horizon_days != st.horizon_days:
        raise PlaybookError(f"the data was prepared for a {prep.horizon_days}-day horizon, the settings say {st.horizon_days}")
    a = S.to_day(as_of, "as_of")
    h = int(st.horizon_days)
    tx, orders = prep.lines_at(a), prep.orders_at(a)
    start = prep.observation_start
    notes: dict[str, str] = {}
    tau = SG.churn_tau(orders, st.tau_percentile, st.tau_basis)
    rules = PlaybookRules(tau, st.welcome_days, st.risk_rise, st.p_alive_drop, st.hazard_ratio_drop, st.p_alive_low,
                          st.high_value_quantile)
    rep = SG.repurchase_risk(prep, a, st.repurchase, st.seed)
    vals = SG.btyd_values(orders, a, h)
    hz, _ = SG.hazard_ratio(orders, a, h)
    summ = vals.summary
    seg = SG.rfm_segments(summ)

    # welcome
    firsts = WE.first_orders(orders)
    cohort = WE.welcome_cohort(orders, a, st.welcome_days, firsts)
    wmodel, wscores = None, pd.DataFrame(index=cohort.index)
    try:
        wmodel = WE.fit_welcome_model(tx, orders, prep.products, prep.customers, start, a, h, st.welcome_burn_in_days,
                                      st.welcome_top_departments, st.welcome_C, st.seed, firsts=firsts)
        if len(cohort):
            p, X, contrib = WE.score_cohort(wmodel, tx, cohort, prep.products, prep.customers)
            wscores = X.join(p).join(contrib.add_prefix("contrib:"))
        else:
            notes["welcome"] = f"no customer placed a first order in the {st.welcome_days} days up to {a.date()}"
    except PlaybookError as err:
        notes["welcome"] = str(err)

    # seasonal
    weekly = fc = skill = None
    unskilled: list[str] = []
    rising = pd.Series(dtype="float64", name="growth")
    affinity = SE.customer_affinity(tx, prep.products, a, rising, 1)
    try:
        weekly = SE.weekly_department_revenue(tx, prep.products, a, st.forecast_departments)
        fc = SE.forecast_departments(weekly, st.forecast_weeks, st.season_length_weeks)
        rising = SE.rising_departments(fc, st.rising_min_growth)
        if st.skill_origins > 0:  # a rise only counts where the forecast beat last week's value on the history
            skill = SE.forecast_skill(weekly, st.forecast_weeks, st.season_length_weeks, st.skill_origins)
            if len(skill):
                unskilled = [d for d in rising.index if not bool(skill["skilled"].get(d, False))]
                rising = rising.drop(unskilled)
        if len(rising):
            affinity = SE.customer_affinity(tx, prep.products, a, rising, st.forecast_weeks, st.affinity_weeks)
        elif skill is not None and len(skill) and len(unskilled):
            notes["seasonal"] = (f"the departments forecast to rise ({', '.join(unskilled)}) are ones where the forecast did "
                                 "not beat last week's value on the history: no seasonal list")
        else:
            notes["seasonal"] = (f"no department's forecast rises by {st.rising_min_growth:.0%} or more over the next "
                                 f"{st.forecast_weeks} weeks")
    except PlaybookError as err:
        notes["seasonal"] = str(err)

    f = rep.features
    sig = pd.DataFrame(index=summ.index)
    sig["n_orders"] = summ["n_orders"].astype("float64")
    sig["tenure_days"] = summ["tenure_days"].astype("float64")
    sig["days_since_last_order"] = summ["days_since_last_order"].astype("float64")
    sig["revenue"] = summ["revenue"]
    sig["risk"] = rep.risk.reindex(sig.index)
    sig["risk_earlier"] = rep.risk_earlier.reindex(sig.index)
    sig = sig.join(vals.table)
    sig["hazard_ratio"] = hz.reindex(sig.index)
    sig["p_second_order"] = wscores["p_second_order"].reindex(sig.index) if "p_second_order" in wscores else np.nan
    sig["seasonal_affinity"] = affinity["seasonal_affinity"].reindex(sig.index).astype("float64")
    sig["seasonal_value"] = affinity["seasonal_value"].reindex(sig.index).astype("float64")
    for c in ("gap_mean_days", "revenue_recent", "revenue_earlier", "average_order_value", "basket_products_mean",
              "campaigns_received", "campaigns_running"):
        if c in f:
            sig[c] = f[c].reindex(sig.index)
    sig["segment"] = seg.reindex(sig.index).astype(str)
    assert all(c in sig for c in SIGNAL_COLUMNS)
    assigned = assign_scenarios(sig, rules)
    for sc in SCENARIOS:
        if sc not in notes and not (assigned["scenario"] == sc).any():
            notes[sc] = f"no customer meets the {sc} rule at {a.date()}"
    return Playbook(a, st, rules, tx, prep.products, sig, eligibility(sig, rules), assigned, rep, vals, seg, wmodel,
                    cohort, wscores, weekly, fc, rising, affinity, notes, skill)


RECOMMENDATION_MODEL = {
    "welcome": "cold start: most-bought products of the first basket's departments",
    "winback": "P-TopFreq (buy again)",
    "maintenance": "TIFU-KNN (repeat + explore)",
    "seasonal": "buy again in the rising departments, padded with their popular products",
}


def _reason_columns(reasons: pd.Series, index: pd.Index) -> pd.DataFrame:
    r = reasons.reindex(index)
    cols = {}
    for i in range(RS.MAX_REASONS):
        cols[f"reason_{i + 1}"] = [x[i] if isinstance(x, list) and len(x) > i else "" for x in r]
    return pd.DataFrame(cols, index=index)


def contact_lists(pb: Playbook, budget: int, mode: str = "per_scenario", key: privacy.PseudonymKey | None = None,
                  effects: pd.DataFrame | None = None, details: bool = True) -> pd.DataFrame:
    """The lists cut to the budget, one row per contacted customer with :data:`PLAYBOOK_COLUMNS` (raw
    ids; pseudonymise before showing or writing, :func:`retention_utils.decisions.exports.pseudonymised`).

    ``effects`` (:func:`retention_utils.decisions.exports.read_household_effects`, needs ``key``)
    re-ranks by incremental value before the budget. ``details=False`` leaves reasons and products
    empty (the backtest needs neither)."""
    st = pb.settings
    if effects is not None and key is None:
        raise PlaybookError("ranking by campaign effects needs the pseudonym key the effects are keyed with")
    ranked = rank_by_incremental_value(pb.assigned, effects, key or privacy.PseudonymKey(None, "off"), st.horizon_days)
    kept = apply_budget(ranked, budget, mode, "incremental_value" if effects is not None else "expected_value")
    out = kept.copy()
    out["as_of"] = pb.as_of.date().isoformat()
    out["horizon_days"] = int(st.horizon_days)
    out["score_meaning"] = out["scenario"].map(SCORE_MEANING)
    out["value_meaning"] = out["scenario"].map(VALUE_MEANING)
    out["value_if_retained"] = out[S.CUSTOMER_ID].map(pb.signals["value_if_retained"]).astype("float64")
    out["recommendation_model"] = out["scenario"].map(RECOMMENDATION_MODEL)
    text = pd.DataFrame("", index=out.index, columns=[
        "reason_1", "reason_2", "reason_3", "recommended_products", "repeat_products", "explore_products",
        "recommended_product_ids"])
    if details and len(out):
        ids = {sc: pd.Index(out.loc[out["scenario"] == sc, S.CUSTOMER_ID]) for sc in SCENARIOS}
        reasons = _reasons(pb, ids)
        items = _items(pb, ids)
        labels = RC.product_labels(pb.products)
        fmt = RC.format_items(items, labels)
        cid = out[S.CUSTOMER_ID]
        rc = _reason_columns(reasons, pd.Index(cid))
        for c in rc.columns:
            text[c] = rc[c].to_numpy()
        for c in fmt.columns:
            text[c] = cid.map(fmt[c]).fillna("").to_numpy()
    out = pd.concat([out, text], axis=1)
    return out[list(PLAYBOOK_COLUMNS)].reset_index(drop=True)


def _reasons(pb: Playbook, ids: dict[str, pd.Index]) -> pd.Series:
    st, sig = pb.settings, pb.signals
    parts = []
    if len(ids["welcome"]):
        w = ids["welcome"]
        contrib = pb.welcome_scores[[c for c in pb.welcome_scores if c.startswith("contrib:")]]
        contrib.columns = [c[len("contrib:"):] for c in contrib.columns]
        parts.append(RS.welcome_reasons(pb.welcome_cohort.loc[w], pb.welcome_scores.loc[w], contrib.loc[w], pb.as_of))
    if len(ids["winback"]):
        share = sig["revenue"].rank(ascending=False, method="min") / len(sig)
        parts.append(RS.winback_reasons(sig.loc[ids["winback"]], pb.rules.tau_days, share))
    if len(ids["maintenance"]):
        m = ids["maintenance"]
        feats = pb.repurchase.features
        eff = RS.driver_effects(pb.repurchase.model, feats.loc[m], feats)
        rows = sig.loc[m].join(feats.loc[m, [c for c in feats.columns if c not in sig.columns]])
        parts.append(RS.maintenance_reasons(rows, pb.eligibility.loc[m], eff, pb.earlier.date().isoformat(),
                                            st.horizon_days))
    if len(ids["seasonal"]):
        parts.append(RS.seasonal_reasons(pb.affinity.loc[ids["seasonal"]], pb.rising, st.forecast_weeks))
    return pd.concat(parts) if parts else pd.Series(dtype=object)


def _items(pb: Playbook, ids: dict[str, pd.Index]) -> pd.DataFrame:
    st = pb.settings
    parts = []
    if len(ids["welcome"]):
        parts.append(RC.cold_start_items(pb.tx_known, pb.products, pb.welcome_cohort.loc[ids["welcome"], S.ORDER_ID],
                                         pb.as_of, st.n_products, st.popularity_days))
    if any(len(ids[s]) for s in ("winback", "maintenance", "seasonal")):
        data = RC.interactions(pb.tx_known)
        parts.append(RC.buy_again_items(data, ids["winback"], st.n_products))
        parts.append(RC.tifu_items(data, ids["maintenance"], st.n_repeat, st.n_explore, settings=st.tifu))
        parts.append(RC.seasonal_items(data, pb.tx_known, pb.products, ids["seasonal"], list(pb.rising.index),
                                       pb.affinity["top_department"], pb.as_of, st.n_products, st.popularity_days))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else RC._empty()


def backtest_as_of(observation_end: DateLike, days_before_end: int) -> pd.Timestamp:
    """The default backtest as-of day: ``days_before_end`` days before the last observed day."""
    return S.to_day(observation_end, "observation_end") - pd.Timedelta(days=int(days_before_end))


__all__ = ["Playbook", "PlaybookSettings", "PlaybookUnavailable", "RECOMMENDATION_MODEL", "backtest_as_of",
           "build_playbook", "contact_lists", "require_playbook_data", "DAY"]
