"""Reasons in readable words: why a customer is on a list, from the drivers of the model behind it.

Each listed customer gets two or three short reasons (most important first), written from the
customer's own numbers:

* **the trigger**: the rule that put them on the list (for maintenance the signal that worsened:
  "repurchase risk up from 12 % to 45 % since 2017-09-01", "P(alive) down from 0.98 to 0.61",
  "next order expected later: purchase hazard 0.4x its level on 2017-09-01"; for win-back the lapse
  and P(alive); for welcome the days since the first order);
* **the model's drivers for that customer**. For the repurchase model (a tree ensemble) a driver's
  weight is the drop in the customer's predicted risk when the feature group is set to the median
  customer's values, all else kept (:func:`driver_effects`, a one-group-at-a-time counterfactual; groups
  in :data:`DRIVER_GROUPS` keep derived features together, e.g. days since the last order with the
  overdue ratio). For the welcome model (logistic regression) it is the exact contribution
  ``coef * z`` on the log-odds scale (:meth:`retention_utils.decisions.welcome.WelcomeModel.contributions`).
  For the BTYD models behind win-back the drivers are recency, frequency and value themselves. For
  the seasonal list, the customer's share in the rising department and its forecast growth.

Every reason is a sentence fragment built by a template function of this module (tested on hand
values): e.g. ``lapse_text(41, 9.2)`` = ``"no order for 41 days (usual gap 9)"``,
``spend_change_text(62.0, 100.0, 56)`` = ``"spend down 38 % vs the previous 56 days"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import schema as S

#: Feature groups of the repurchase model used as drivers (features absent from a model are skipped;
#: demographics are never given as a reason).
DRIVER_GROUPS: dict[str, tuple[str, ...]] = {
    "recency": ("days_since_last_order", "overdue_ratio"),
    "spend trend": ("revenue_recent", "revenue_earlier", "spend_trend", "orders_recent"),
    "frequency": ("n_orders", "frequency", "purchase_rate", "gap_mean_days", "gap_std_days", "last_gap_days",
                  "last_gap_ratio"),
    "order value": ("revenue", "average_order_value", "monetary_value"),
    "basket": ("basket_products_mean", "basket_units_mean", "category_breadth"),
    "tenure": ("tenure_days",),
    "campaigns": ("campaigns_received", "campaigns_running"),
}
MAX_REASONS = 3


def money(x: float) -> str:
    """``1,234`` for amounts of 100 or more, ``12.50`` below."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def pct(x: float) -> str:
    """A share as a whole percentage, ``"38 %"`` (no ``-0 %``)."""
    v = round(100 * x)
    return f"{0 if v == 0 else v} %"


def lapse_text(days: float, usual_gap: float | None) -> str:
    """``"no order for 41 days (usual gap 9)"``; without a usual gap (one purchase day),
    ``"no order for 41 days (one purchase day so far)"``."""
    d = int(round(days))
    if usual_gap is None or not np.isfinite(usual_gap):
        return f"no order for {d} days (one purchase day so far)"
    return f"no order for {d} days (usual gap {round(usual_gap):.0f})"


def spend_change_text(recent: float, earlier: float, window_days: int) -> str:
    """Spend in the last ``window_days`` days against the ``window_days`` before: ``"spend down 38 %
    vs the previous 30 days"``, ``"spend up 12 % ..."``, ``"no spend in the last 30 days (120 in the 30
    before)"``, ``"no spend in the last 60 days"``."""
    w = int(window_days)
    if recent <= 0 and earlier <= 0:
        return f"no spend in the last {2 * w} days"
    if recent <= 0:
        return f"no spend in the last {w} days ({money(earlier)} in the {w} before)"
    if earlier <= 0:
        return f"spend {money(recent)} in the last {w} days, none in the {w} before"
    change = recent / earlier - 1
    word = "down" if change < 0 else "up"
    return f"spend {word} {pct(abs(change))} vs the previous {w} days"


def risk_text(now: float, before: float, since: str) -> str:
    """``"repurchase risk up from 12 % to 45 % since 2017-09-01"``."""
    return f"repurchase risk up from {pct(before)} to {pct(now)} since {since}"


def p_alive_text(now: float, before: float | None = None) -> str:
    """``"P(alive) down from 0.98 to 0.61"`` or ``"P(alive) 0.61"``."""
    if before is None or not np.isfinite(before):
        return f"P(alive) {now:.2f}"
    return f"P(alive) down from {before:.2f} to {now:.2f}"


def hazard_text(ratio: float, since: str) -> str:
    """``"next order expected later: purchase hazard 0.4x its level on 2017-09-01"``."""
    return f"next order expected later: purchase hazard {ratio:.1f}x its level on {since}"


def frequency_text(n_orders: float, tenure_days: float) -> str:
    """``"23 orders in 270 days (one every 12)"``."""
    n, t = int(n_orders), int(tenure_days) + 1
    return f"{n} orders in {t} days (one every {t / n:.0f})" if n > 0 else "no order yet"


def value_text(revenue: float, tenure_days: float, top_share: float | None = None) -> str:
    """``"spent 2,310 in 270 days (top 5 % by value)"``."""
    s = f"spent {money(revenue)} in {int(tenure_days) + 1} days"
    if top_share is not None and np.isfinite(top_share):
        s += f" (top {max(1, math.ceil(100 * top_share))} % by value)"
    return s


def basket_text(products_mean: float) -> str:
    return f"baskets of {products_mean:.0f} products on average"


def campaigns_text(received: float, running: float | None) -> str:
    r = int(received)
    return f"{r} campaign{'s' if r != 1 else ''} received" + (f", {int(running)} running" if running and running > 0 else "")


def driver_effects(model, rows: pd.DataFrame, reference: pd.DataFrame,
                   groups: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """Drop in predicted risk (= rise in P(repurchase)) when a feature group is set to the median of
    ``reference`` (module docstring). ``model``: a :class:`retention_utils.models.prediction.FittedModel`;
    ``rows``/``reference``: its feature rows. Returns a float DataFrame ``rows.index`` x group (positive:
    the customer's values of that group raise the risk)."""
    groups = groups or DRIVER_GROUPS
    base = model.predict_proba(rows).to_numpy()
    med = reference[model.features].astype("float64").median()
    out = {}
    for g, feats in groups.items():
        fs = [f for f in feats if f in model.features]
        if not fs or rows.empty:
            continue
        x = rows.copy()
        x[fs] = np.broadcast_to(med[fs].to_numpy(), (len(x), len(fs)))
        out[g] = model.predict_proba(x).to_numpy() - base
    return pd.DataFrame(out, index=rows.index)


def _driver_text(group: str, r: pd.Series, window_days: int) -> str | None:
    if group == "recency":
        return lapse_text(r["days_since_last_order"], r.get("gap_mean_days"))
    if group == "spend trend":
        return spend_change_text(r["revenue_recent"], r["revenue_earlier"], window_days)
    if group == "frequency":
        return frequency_text(r["n_orders"], r["tenure_days"])
    if group == "order value":
        return f"average order {money(r['average_order_value'])}"
    if group == "basket" and "basket_products_mean" in r:
        return basket_text(r["basket_products_mean"])
    if group == "tenure":
        return f"customer for {int(r['tenure_days']) + 1} days"
    if group == "campaigns" and "campaigns_received" in r:
        return campaigns_text(r["campaigns_received"], r.get("campaigns_running"))
    return None


def _fill(reasons: list[str], extra: Sequence[str]) -> list[str]:
    for e in extra:
        if len(reasons) >= MAX_REASONS:
            break
        if e and e not in reasons:
            reasons.append(e)
    return reasons[:MAX_REASONS]


def maintenance_reasons(rows: pd.DataFrame, triggers: pd.DataFrame, effects: pd.DataFrame, earlier: str,
                        window_days: int) -> pd.Series:
    """Reasons (list of str) per customer: the worsened signals (risk, P(alive), hazard), then the
    model's strongest positive drivers (:func:`driver_effects`), then recency, up to three.
    ``rows``: signals joined with the repurchase features (``days_since_last_order``,
    ``gap_mean_days``, ``revenue_recent``, ``revenue_earlier``, ``n_orders``, ``tenure_days``, ...);
    ``triggers``: bool ``risk_rising``, ``p_alive_falling``, ``hazard_falling``."""
    out = {}
    for cid, r in rows.iterrows():
        t = triggers.loc[cid]
        rs = []
        if t["risk_rising"]:
            rs.append(risk_text(r["risk"], r["risk_earlier"], earlier))
        if t["p_alive_falling"]:
            rs.append(p_alive_text(r["p_alive"], r["p_alive_earlier"]))
        if t["hazard_falling"] and len(rs) < 2:
            rs.append(hazard_text(r["hazard_ratio"], earlier))
        drivers = []
        if cid in effects.index:
            e = effects.loc[cid]
            for g in e[e > 0.005].sort_values(ascending=False, kind="stable").index:
                drivers.append(_driver_text(g, r, window_days))
        out[cid] = _fill(rs, [*drivers, lapse_text(r["days_since_last_order"], r.get("gap_mean_days")),
                              spend_change_text(r["revenue_recent"], r["revenue_earlier"], window_days)])
    return pd.Series(out, dtype=object)


def winback_reasons(rows: pd.DataFrame, tau_days: int, value_rank_share: pd.Series) -> pd.Series:
    """Win-back reasons: the lapse (beyond ``tau`` days or not), P(alive), and past value with its rank
    (``value_rank_share``: the customer's top share by past revenue, e.g. 0.05 = top 5 %)."""
    out = {}
    for cid, r in rows.iterrows():
        lapse = lapse_text(r["days_since_last_order"], r.get("gap_mean_days"))
        if r["days_since_last_order"] >= tau_days:
            lapse += f", past the churn threshold of {int(tau_days)}"
        out[cid] = _fill([lapse], [p_alive_text(r["p_alive"]),
                                   value_text(r["revenue"], r["tenure_days"], value_rank_share.get(cid))])
    return pd.Series(out, dtype=object)


_WELCOME_TEXT = {
    "log_basket_value": lambda x, r: f"first basket {money(np.expm1(x))}",
    "n_products": lambda x, r: f"{x:.0f} products in the first basket",
    "n_departments": lambda x, r: f"first basket from {x:.0f} department{'s' if x != 1 else ''}",
    "coupon": lambda x, r: "no coupon on the first order" if x == 0 else "used a coupon on the first order",
    "discount_share": lambda x, r: f"{pct(x)} of the first basket on loyalty discount",
    "weekend": lambda x, r: "first order at the weekend" if x == 1 else "first order on a weekday",
    "hour": lambda x, r: f"first order at {x:.0f}h",
}


def welcome_reasons(rows: pd.DataFrame, features: pd.DataFrame, contributions: pd.DataFrame, as_of) -> pd.Series:
    """Welcome reasons: days since the first order with no second order yet, then the first-order
    features that lower the probability of a second order most (negative contributions), up to three.
    ``rows``: the cohort's first orders (``first_day``)."""
    a = S.to_day(as_of, "as_of")
    out = {}
    for cid in rows.index:
        days = int((a - rows.loc[cid, "first_day"]).days)
        rs = [f"first order {days} day{'s' if days != 1 else ''} ago, no second order yet"]
        c = contributions.loc[cid]
        texts = []
        for f in c[c < -0.05].sort_values(kind="stable").index:
            if f in _WELCOME_TEXT:
                texts.append(_WELCOME_TEXT[f](features.loc[cid, f], None))
            elif f.startswith("share="):
                v = features.loc[cid, f]
                texts.append(f"nothing from {f[6:]} in the first basket" if v == 0 else f"{pct(v)} of the first basket in {f[6:]}")
        out[cid] = _fill(rs, texts or [_WELCOME_TEXT["log_basket_value"](features.loc[cid, "log_basket_value"], None)])
    return pd.Series(out, dtype=object)


def seasonal_reasons(rows: pd.DataFrame, growth: pd.Series, weeks: int) -> pd.Series:
    """Seasonal reasons: the customer's share of recent spend in their top rising department (with the
    lift over the average customer), that department's forecast growth, the overall affinity."""
    out = {}
    for cid, r in rows.iterrows():
        d = r["top_department"]
        rs = [f"{pct(r['top_department_share'])} of recent spend in {d} ({r['lift']:.1f}x the average customer)",
              f"{d} revenue forecast {'+' if growth[d] >= 0 else ''}{pct(growth[d])} over the next {int(weeks)} weeks"]
        out[cid] = _fill(rs, [f"{pct(r['seasonal_affinity'])} of recent spend in the rising departments"])
    return pd.Series(out, dtype=object)
