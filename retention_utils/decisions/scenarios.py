"""Scenario rules, priority, rank and budget of the retention playbook.

A playbook at an as-of date ``A`` (the last day whose transactions are known; the outcome horizon is
the ``horizon_days`` days after it) puts each customer in **at most one** list. The rules read one
table of signals per customer (:data:`SIGNAL_COLUMNS`, built by
:func:`retention_utils.decisions.playbook.build_playbook` from the package's models; a test can write
it by hand) and are applied in this **priority order**, a customer going to the first list whose rule
holds:

1. ``welcome`` - first order in the last ``welcome_days`` days up to ``A`` and no second order yet
   (``tenure_days < welcome_days`` and ``n_orders == 1``). Score: ``1 - p_second_order``, the
   probability of no second order within the horizon (welcome model). A new customer is welcomed
   before anything else: the other models know next to nothing about them.
2. ``winback`` - lapsed and valuable: ``days_since_last_order >= tau_days``, or ``p_alive <
   p_alive_low`` *and* ``risk >= 0.5`` (the BG/NBD and the repurchase model agree: BG/NBD alone reads a
   short silence of a very frequent buyer as death, while 04's model still expects an order), and high
   past value: ``revenue`` up to ``A`` at or above its ``high_value_quantile``
   quantile over all customers (numpy linear interpolation). Score: ``1 - p_alive``. Before maintenance because a
   lapsed customer's value is already being lost.
3. ``maintenance`` - active (not lapsed, as defined above) and at least one signal worsened
   since the earlier date ``A - horizon_days``: repurchase risk up by ``risk_rise`` or more (04's
   model), P(alive) down by ``p_alive_drop`` or more (06's BG/NBD), or the next-purchase hazard
   (05's Cox model of the time to the next purchase) at most ``hazard_ratio_drop`` times its earlier
   value. Score: ``risk`` = 1 - P(order within the horizon).
4. ``seasonal`` - active and with spend in a department whose forecast rises
   (``seasonal_value > 0``). Score: ``seasonal_affinity``, the share of the customer's recent spend in
   the rising departments.

Expected value (currency over the horizon; every list is ranked by it, the value lost without action
for the first three, the extra spend that follows the rising departments for the seasonal list):

* welcome: ``(1 - p_second_order) * value_if_retained``;
* winback: ``(1 - p_alive) * value_if_retained`` (06's ``value_at_risk`` over the horizon);
* maintenance: ``risk * value_if_retained``;
* seasonal: ``seasonal_value``.

``value_if_retained`` is the expected spend over the horizon given that the customer is still active
(BG/NBD expected purchases given alive x Gamma-Gamma expected spend; :mod:`.signals`). Rank within a
list: expected value descending, then score descending, then ``customer_id`` ascending (so ties never
depend on row order).

Budget (:func:`apply_budget`): ``"per_scenario"`` keeps the first ``budget`` rows of every list;
``"total"`` keeps the ``budget`` rows with the largest expected value over all lists together (each
customer is in one list, so this is the split of one total budget that maximises the expected value
contacted), ties as in the rank.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .. import schema as S

#: The scenarios in priority order (a customer goes to the first whose rule holds).
SCENARIOS: tuple[str, ...] = ("welcome", "winback", "maintenance", "seasonal")

#: a low P(alive) makes a customer lapsed only when the repurchase risk is at least this (more likely gone
#: than back within the horizon): the two models must agree
LAPSED_RISK: float = 0.5
#: What each scenario's score is.
SCORE_MEANING: dict[str, str] = {
    "welcome": "P(no second order within the horizon), welcome model",
    "winback": "1 - P(alive), BG/NBD",
    "maintenance": "repurchase risk: 1 - P(order within the horizon), repurchase model",
    "seasonal": "share of recent spend in the departments forecast to rise",
}
#: What each scenario's expected value is (currency over the horizon).
VALUE_MEANING: dict[str, str] = {
    "welcome": "P(no second order) x value if retained",
    "winback": "(1 - P(alive)) x value if retained",
    "maintenance": "risk x value if retained",
    "seasonal": "expected extra spend in the rising departments",
}
#: Columns of the signal table the rules read (index ``customer_id``); see the module docstring.
SIGNAL_COLUMNS: tuple[str, ...] = (
    "n_orders", "tenure_days", "days_since_last_order", "revenue", "risk", "risk_earlier", "p_alive", "p_alive_earlier",
    "hazard_ratio", "value_if_retained", "p_second_order", "seasonal_affinity", "seasonal_value",
)
BUDGET_MODES: tuple[str, ...] = ("per_scenario", "total")


class PlaybookError(ValueError):
    """A playbook input or parameter that cannot give meaningful lists; the message names the cause
    and the parameter to change."""


@dataclass(frozen=True)
class PlaybookRules:
    """Thresholds of the scenario rules (module docstring). Days are calendar days; probabilities in
    [0, 1]. ``tau_days`` is the churn threshold of notebook 05 (:func:`retention_utils.models.survival.churn_threshold`)."""

    tau_days: int
    welcome_days: int = 90
    risk_rise: float = 0.10
    p_alive_drop: float = 0.20
    hazard_ratio_drop: float = 0.5
    p_alive_low: float = 0.5
    high_value_quantile: float = 0.5

    def __post_init__(self) -> None:
        for name in ("tau_days", "welcome_days"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise PlaybookError(f"{name} must be a whole number of days >= 1, got {v!r}")
        for name in ("risk_rise", "p_alive_drop", "p_alive_low"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise PlaybookError(f"{name} must be in (0, 1], got {v!r}")
        if not 0 < self.hazard_ratio_drop < 1:
            raise PlaybookError(f"hazard_ratio_drop must be in (0, 1), got {self.hazard_ratio_drop!r}")
        if not 0 <= self.high_value_quantile < 1:
            raise PlaybookError(f"high_value_quantile must be in [0, 1), got {self.high_value_quantile!r}")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check_signals(signals: pd.DataFrame) -> None:
    S.require_columns(signals, SIGNAL_COLUMNS, table="signals")
    if not signals.index.is_unique:
        raise PlaybookError("signals: customer ids (the index) must be unique")
    for col in ("n_orders", "tenure_days", "days_since_last_order", "revenue", "risk", "p_alive", "value_if_retained"):
        bad = signals[col].isna() | ~np.isfinite(signals[col].to_numpy(dtype="float64"))
        if bad.any():
            raise PlaybookError(f"signals: column {col!r} is missing or not finite for customers "
                                f"{list(signals.index[bad][:5])}")


def high_value_threshold(signals: pd.DataFrame, rules: PlaybookRules) -> float:
    """The past ``revenue`` at its ``high_value_quantile`` over all customers (currency)."""
    return float(np.quantile(signals["revenue"].to_numpy(dtype="float64"), rules.high_value_quantile))


def eligibility(signals: pd.DataFrame, rules: PlaybookRules) -> pd.DataFrame:
    """Which rule holds for each customer, before the priority order.

    ``signals``: DataFrame indexed by ``customer_id`` with :data:`SIGNAL_COLUMNS` (floats; NaN allowed
    in ``risk_earlier``, ``p_alive_earlier``, ``hazard_ratio`` (no earlier value: that signal cannot
    have worsened), ``p_second_order`` (only for new customers) and the seasonal columns (NaN = no
    seasonal signal)). Returns a bool DataFrame with one column per scenario of :data:`SCENARIOS`
    plus the maintenance triggers ``risk_rising``, ``p_alive_falling``, ``hazard_falling`` and
    ``lapsed``, ``high_value``; ``attrs["high_value_threshold"]``. Raises :class:`PlaybookError` for
    missing columns, duplicate ids or missing core values.
    """
    _check_signals(signals)
    s = signals
    threshold = high_value_threshold(s, rules)
    out = pd.DataFrame(index=s.index)
    out["welcome"] = (s["tenure_days"] < rules.welcome_days) & (s["n_orders"] == 1) & s["p_second_order"].notna()
    out["lapsed"] = (s["days_since_last_order"] >= rules.tau_days) | ((s["p_alive"] < rules.p_alive_low)
                                                                     & (s["risk"] >= LAPSED_RISK))
    active = ~out["lapsed"]
    out["high_value"] = s["revenue"] >= threshold
    out["winback"] = out["lapsed"] & out["high_value"]
    out["risk_rising"] = (s["risk"] - s["risk_earlier"] >= rules.risk_rise - 1e-12).fillna(False)
    out["p_alive_falling"] = (s["p_alive_earlier"] - s["p_alive"] >= rules.p_alive_drop - 1e-12).fillna(False)
    out["hazard_falling"] = (s["hazard_ratio"] <= rules.hazard_ratio_drop).fillna(False)
    out["maintenance"] = active & (out["risk_rising"] | out["p_alive_falling"] | out["hazard_falling"])
    out["seasonal"] = active & (s["seasonal_value"].fillna(0.0) > 0)
    out = out.astype(bool)
    out.attrs["high_value_threshold"] = threshold
    return out


def scenario_values(signals: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(scores, expected_values)``: two float DataFrames indexed like ``signals`` with one column per
    scenario (module docstring formulas); NaN where the inputs are missing."""
    s = signals
    v = s["value_if_retained"].astype("float64")
    score = pd.DataFrame({
        "welcome": 1.0 - s["p_second_order"],
        "winback": 1.0 - s["p_alive"],
        "maintenance": s["risk"],
        "seasonal": s["seasonal_affinity"],
    }, index=s.index).astype("float64")
    value = pd.DataFrame({
        "welcome": score["welcome"] * v,
        "winback": score["winback"] * v,
        "maintenance": score["maintenance"] * v,
        "seasonal": s["seasonal_value"],
    }, index=s.index).astype("float64")
    return score, value


def assign_scenarios(signals: pd.DataFrame, rules: PlaybookRules) -> pd.DataFrame:
    """Every customer in at most one list, ranked (module docstring: priority, rank, ties).

    Returns one row per listed customer, columns ``customer_id`` (str), ``scenario`` (str),
    ``priority`` (int, 1 = welcome), ``rank`` (int, 1 = first to contact within the scenario),
    ``score`` and ``expected_value`` (float), sorted by priority then rank; customers in no list are
    absent. ``attrs``: ``eligible`` (customers whose rule holds per scenario before the priority
    order, dict of int) and ``high_value_threshold``.
    """
    elig = eligibility(signals, rules)
    score, value = scenario_values(signals)
    taken = pd.Series(False, index=signals.index)
    parts = []
    for prio, sc in enumerate(SCENARIOS, 1):
        mine = elig[sc] & ~taken
        taken |= mine
        ids = signals.index[mine]
        df = pd.DataFrame({
            S.CUSTOMER_ID: ids.astype(str),
            "scenario": sc,
            "priority": prio,
            "score": score.loc[ids, sc].to_numpy(dtype="float64"),
            "expected_value": value.loc[ids, sc].to_numpy(dtype="float64"),
        })
        df = rank_rows(df)
        parts.append(df)
    out = pd.concat(parts, ignore_index=True)
    out.attrs["eligible"] = {sc: int(elig[sc].sum()) for sc in SCENARIOS}
    out.attrs["high_value_threshold"] = elig.attrs["high_value_threshold"]
    return out


def rank_rows(df: pd.DataFrame, by: str = "expected_value") -> pd.DataFrame:
    """Sort rows by ``by`` descending, ``score`` descending, ``customer_id`` ascending (NaN last) and
    number them ``rank`` = 1..n; returns a new frame with a fresh index."""
    out = df.sort_values([by, "score", S.CUSTOMER_ID], ascending=[False, False, True], kind="stable",
                         na_position="last").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out


def apply_budget(assigned: pd.DataFrame, budget: int, mode: str = "per_scenario",
                 value_column: str = "expected_value") -> pd.DataFrame:
    """Cut the lists of :func:`assign_scenarios` to a contact budget (module docstring).

    ``budget``: a whole number >= 0 of contacts, per scenario (``mode="per_scenario"``) or in all
    (``mode="total"``; the largest ``value_column`` first, NaN last). Returns the kept rows in the input's order (priority, rank), ranks unchanged.
    Raises :class:`PlaybookError` for a negative or fractional budget or an unknown mode.
    """
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise PlaybookError(f"BUDGET must be a whole number of contacts >= 0, got {budget!r}")
    if mode not in BUDGET_MODES:
        raise PlaybookError(f"BUDGET_MODE must be one of {list(BUDGET_MODES)}, got {mode!r}")
    if mode == "per_scenario":
        keep = assigned["rank"] <= int(budget)
    else:
        order = assigned.sort_values([value_column, "score", S.CUSTOMER_ID], ascending=[False, False, True],
                                     kind="stable", na_position="last")
        keep = assigned.index.isin(order.index[: int(budget)])
    out = assigned[keep].copy()
    out.attrs = dict(assigned.attrs)
    return out


def list_sizes(assigned: pd.DataFrame) -> dict[str, int]:
    """Number of rows per scenario, every scenario present (0 when empty), in priority order."""
    counts = assigned["scenario"].value_counts()
    return {sc: int(counts.get(sc, 0)) for sc in SCENARIOS}
