"""Data preparation for campaign effects: windows, the household-week panel, the cross-section with
pre-period confounders, first-contact cohorts and coupon redemption.

This is the part written by hand; every estimate downstream (:mod:`retention_utils.causal.estimate`)
reads the tables built here.

Campaign tables (The Complete Journey)
--------------------------------------
* ``campaigns``: one row per (household, campaign) the household **received** (6,589 rows).
* ``campaign_descriptions``: one row per campaign: ``campaign_type`` (``"Type A"``, ``"Type B"``,
  ``"Type C"``), ``start_date``, ``end_date`` (27 campaigns, three starting in 2016).
* ``coupons``: which products each coupon (``coupon_upc``) of a campaign discounts.
* ``coupon_redemptions``: (household, coupon, campaign, ``redemption_date``) for redeemed coupons.

Time conventions
----------------
Days are calendar days (``order_ts`` normalised to midnight). A campaign's **anchor** ``s`` is its
``start_date`` (or, for the placebo, ``start_date - 7 * shift_weeks`` days). The **outcome window**
is ``[s, w]`` with ``w = min(end_date, observation_end)`` (both ends included; for the placebo
``w = min(end_date - 7 * shift_weeks, start_date - 1 day)``, so it closes before the real start). The
**pre-period** is ``[s - 7 * pre_weeks, s)``: every confounder is computed strictly before the anchor
(a tested property). Outcomes are per week: total over the window divided by ``(w - s + 1) / 7``.

The panel's weeks are 7-day blocks from ``observation_start`` (week 1 = its first 7 days); a last
block shorter than 7 days is left out (2017-12-31 in The Complete Journey).

Cross-section (one row per household, per campaign type)
--------------------------------------------------------
For a campaign type ``T``, a campaign is *usable* when its pre-period starts on or after
``observation_start`` and its outcome window holds at least 7 days. Then:

* **treated**: a household that received a usable campaign of type ``T``; its row is anchored at the
  earliest such campaign. Other campaigns running in the same window are allowed and counted
  (``concurrent_campaigns``): the effect is that of receiving a type-``T`` campaign as the retailer sent it.
* **control**: a household that never received a type-``T`` campaign, anchored at a usable campaign
  ``c`` of type ``T`` during whose outcome window it received no campaign at all ("clean"). Among the
  campaigns where it is clean and active, ``c`` is drawn at random (seeded) with probability proportional
  to the number of treated households of ``c``, so the anchor dates of controls follow those of the
  treated (pseudo event dates).
* **population**: households with at least one order in the pre-period (active); the others are
  counted and left out, since nothing before the anchor describes them.
* **placebo** (``shift_weeks > 0``): the same construction with every anchor moved back; a row is kept
  only when the household received no campaign during the fake window.

Each household appears at most once, so the rows are independent units and the libraries' standard
errors apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DAY, DateLike
from ..tables.covariates import campaign_exposure, demographic_covariates
from ..tables.summary import canonical_order

TREATED = "treated"
ANCHOR = "anchor"
WINDOW_END = "window_end"
CAMPAIGN_ID = "campaign_id"
CAMPAIGN_TYPE = "campaign_type"
SPEND = "spend_per_week"
VISITS = "visits_per_week"
WEEK = "week"
COHORT = "cohort"

#: Pre-period features of :func:`pre_period_features` (besides department shares, discount shares and
#: demographics, which depend on the data).
BASE_FEATURES: tuple[str, ...] = (
    "pre_spend_per_week", "pre_visits_per_week", "pre_active_weeks", "pre_days_since_last_order",
    "pre_spend_last_4w_per_week", "pre_basket_value", "pre_campaigns",
)


class NoCampaignDataError(S.InsufficientDataError):
    """The dataset has no campaign tables (``campaigns`` and ``campaign_descriptions``), so nothing says
    which household received which campaign when (CDNOW, a shop's own order log). An
    :class:`retention_utils.schema.InsufficientDataError`, like every notebook's first-cell check."""


@dataclass
class CampaignData:
    """The campaign tables in canonical form (see :func:`campaign_data`).

    ``exposure``: one row per (household, campaign) received: ``customer_id``, ``campaign_id`` (str),
    ``campaign_type`` (str), ``start_date``, ``end_date`` (datetime64). ``campaigns``: one row per
    campaign: ``campaign_id``, ``campaign_type``, ``start_date``, ``end_date``, ``households`` (int,
    number of receivers), sorted by start date. ``coupons`` (``coupon_upc``, ``product_id``,
    ``campaign_id``) and ``redemptions`` (``customer_id``, ``coupon_upc``, ``campaign_id``,
    ``redemption_date``) or ``None`` when the dataset lacks them.
    """

    exposure: pd.DataFrame
    campaigns: pd.DataFrame
    coupons: pd.DataFrame | None = None
    redemptions: pd.DataFrame | None = None

    @property
    def types(self) -> list[str]:
        return sorted(self.campaigns[CAMPAIGN_TYPE].unique())


def require_campaign_data(ds: Any) -> CampaignData:
    """Notebook 09's first-cell check: the campaign tables of ``ds`` (:func:`campaign_data`), or
    :class:`NoCampaignDataError` with one sentence when the dataset has none."""
    return campaign_data(ds)


def campaign_data(ds: Any) -> CampaignData:
    """Campaign tables of a loaded :class:`retention_utils.data.datasets.Dataset` (``ds.tables``).

    Raises :class:`NoCampaignDataError` (one line, naming the dataset) when ``campaigns`` or
    ``campaign_descriptions`` is absent; :class:`retention_utils.schema.SchemaError` for missing
    columns, campaign ids without a description, or a campaign whose end precedes its start.
    """
    tables = getattr(ds, "tables", {}) or {}
    missing = [t for t in ("campaigns", "campaign_descriptions") if t not in tables]
    if missing:
        raise NoCampaignDataError(
            f"dataset {getattr(ds, 'name', '?')!r} has no campaign tables ({', '.join(missing)}): nothing says which "
            "household received which campaign when, so campaign effects cannot be estimated.")

    desc = tables["campaign_descriptions"]
    S.require_columns(desc, (CAMPAIGN_ID, CAMPAIGN_TYPE, "start_date", "end_date"), table="campaign_descriptions")
    desc = desc.assign(campaign_id=desc[CAMPAIGN_ID].astype(str), campaign_type=desc[CAMPAIGN_TYPE].astype(str),
                       start_date=pd.to_datetime(desc["start_date"]).dt.normalize(),
                       end_date=pd.to_datetime(desc["end_date"]).dt.normalize())
    bad = desc["end_date"] < desc["start_date"]
    if bad.any():
        raise S.SchemaError(f"campaign_descriptions: campaign(s) {sorted(desc.loc[bad, CAMPAIGN_ID])[:5]} end before they start")
    exp = campaign_exposure(tables["campaigns"], desc)
    exp = exp.merge(desc[[CAMPAIGN_ID, CAMPAIGN_TYPE]], on=CAMPAIGN_ID, how="left")
    exp = exp[[S.CUSTOMER_ID, CAMPAIGN_ID, CAMPAIGN_TYPE, "start_date", "end_date"]]
    n = exp.groupby(CAMPAIGN_ID).size()
    camp = desc[[CAMPAIGN_ID, CAMPAIGN_TYPE, "start_date", "end_date"]].assign(
        households=lambda d: d[CAMPAIGN_ID].map(n).fillna(0).astype("int64"))
    camp = camp.sort_values(["start_date", CAMPAIGN_ID], kind="stable", key=_id_key).reset_index(drop=True)
    coupons = tables.get("coupons")
    red = tables.get("coupon_redemptions")
    if red is not None:
        S.require_columns(red, (S.CUSTOMER_ID, CAMPAIGN_ID, "redemption_date"), table="coupon_redemptions")
        red = red.assign(customer_id=red[S.CUSTOMER_ID].astype(str), campaign_id=red[CAMPAIGN_ID].astype(str),
                         redemption_date=pd.to_datetime(red["redemption_date"]).dt.normalize())
    if coupons is not None:
        S.require_columns(coupons, ("coupon_upc", S.PRODUCT_ID, CAMPAIGN_ID), table="coupons")
        coupons = coupons.astype({"coupon_upc": str, S.PRODUCT_ID: str, CAMPAIGN_ID: str})
    return CampaignData(exp, camp, coupons, red)


def _id_key(s: pd.Series) -> pd.Series:
    """Sort key: numeric ids in numeric order (``"2" < "10"``), dates as they are."""
    if s.name == CAMPAIGN_ID:
        num = pd.to_numeric(s, errors="coerce")
        return num if num.notna().all() else s
    return s


# ------------------------------------------------------------------------------------------------
# windows and the household-week panel
# ------------------------------------------------------------------------------------------------


def campaign_windows(campaigns: pd.DataFrame, observation_start: DateLike, observation_end: DateLike,
                     pre_weeks: int = 8, shift_weeks: int = 0) -> pd.DataFrame:
    """Anchor, outcome window and pre-period of each campaign, and whether it can be analysed.

    ``campaigns``: ``campaign_id``, ``campaign_type``, ``start_date``, ``end_date`` (one row per
    campaign, e.g. :attr:`CampaignData.campaigns`). ``shift_weeks > 0`` gives the placebo windows (module
    docstring). Returns the input columns plus ``anchor``, ``window_end``, ``window_days`` (int),
    ``window_weeks`` (float, days / 7), ``pre_start`` (datetime64), ``usable`` (bool) and ``reason``
    (``""`` when usable, else why not), in the input order. Raises ``ValueError`` for
    ``pre_weeks < 1`` or ``shift_weeks < 0``.
    """
    if int(pre_weeks) < 1:
        raise ValueError(f"pre_weeks must be at least 1, got {pre_weeks}")
    if int(shift_weeks) < 0:
        raise ValueError(f"shift_weeks must be >= 0, got {shift_weeks}")
    obs_start, obs_end = S.to_day(observation_start, "observation_start"), S.to_day(observation_end, "observation_end")
    out = campaigns.copy()
    start = pd.to_datetime(out["start_date"]).dt.normalize()
    end = pd.to_datetime(out["end_date"]).dt.normalize()
    shift = pd.Timedelta(days=7 * int(shift_weeks))
    out[ANCHOR] = start - shift
    wend = (end - shift).where(end - shift < start - DAY, start - DAY) if shift_weeks else end
    out[WINDOW_END] = wend.where(wend < obs_end, obs_end)
    out["window_days"] = ((out[WINDOW_END] - out[ANCHOR]) / DAY + 1).astype("int64")
    out["window_weeks"] = out["window_days"] / 7.0
    out["pre_start"] = out[ANCHOR] - pd.Timedelta(days=7 * int(pre_weeks))
    reason = np.where(out["pre_start"] < obs_start, f"pre-period of {int(pre_weeks)} weeks starts before the data",
                      np.where(out["window_days"] < 7, "outcome window shorter than 7 days inside the data", ""))
    out["reason"] = reason
    out["usable"] = out["reason"] == ""
    return out


def n_panel_weeks(observation_start: DateLike, observation_end: DateLike) -> int:
    """Number of whole 7-day weeks from ``observation_start`` to ``observation_end`` (inclusive days)."""
    start, end = S.to_day(observation_start, "observation_start"), S.to_day(observation_end, "observation_end")
    return ((end - start).days + 1) // 7


def week_index(days: pd.Series, observation_start: DateLike) -> pd.Series:
    """1-based week of each day: week 1 is ``[observation_start, observation_start + 6 days]``."""
    start = S.to_day(observation_start, "observation_start")
    return ((pd.to_datetime(days).dt.normalize() - start) / DAY).astype("int64") // 7 + 1


def household_week_panel(tx: pd.DataFrame, observation_start: DateLike, observation_end: DateLike) -> pd.DataFrame:
    """Balanced household-week panel of spend and visits.

    ``tx``: canonical transactions (cleaned). Weeks: 7-day blocks from ``observation_start`` (module
    docstring); rows outside the whole weeks are left out. Returns one row per (household seen in the
    whole weeks, week): ``customer_id`` (str), ``week`` (int64, 1..n), ``week_start`` (datetime64),
    ``spend`` (float64, sum of ``revenue``), ``visits`` (int64, distinct orders), zeros where the
    household bought nothing; sorted by (customer_id, week). Raises ``ValueError`` when the period
    holds no whole week.
    """
    S.require_columns(tx, (S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.REVENUE))
    start = S.to_day(observation_start, "observation_start")
    n = n_panel_weeks(start, observation_end)
    if n < 1:
        raise ValueError(f"observation period {start.date()}..{S.to_day(observation_end).date()} holds no whole week")
    day = tx[S.ORDER_TS].dt.normalize()
    keep = (day >= start) & (day < start + pd.Timedelta(days=7 * n))
    rows = canonical_order(tx.loc[keep, [S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.PRODUCT_ID, S.REVENUE]])
    rows = rows.assign(week=week_index(rows[S.ORDER_TS], start))
    g = rows.groupby([S.CUSTOMER_ID, WEEK], sort=True)
    agg = pd.DataFrame({"spend": g[S.REVENUE].sum(), "visits": g[S.ORDER_ID].nunique()})
    customers = np.sort(rows[S.CUSTOMER_ID].unique())
    full = pd.MultiIndex.from_product([customers, np.arange(1, n + 1)], names=[S.CUSTOMER_ID, WEEK])
    out = agg.reindex(full, fill_value=0).reset_index()
    out["spend"] = out["spend"].astype("float64")
    out["visits"] = out["visits"].astype("int64")
    out.insert(2, "week_start", start + pd.to_timedelta(7 * (out[WEEK] - 1), unit="D"))
    return out


# ------------------------------------------------------------------------------------------------
# pre-period features and window outcomes
# ------------------------------------------------------------------------------------------------


def _days(tx: pd.DataFrame) -> pd.Series:
    return tx[S.ORDER_TS].dt.normalize()


def top_departments(tx: pd.DataFrame, products: pd.DataFrame, before: DateLike, n: int = 8) -> list[str]:
    """The ``n`` departments with the largest spend strictly before ``before`` (ties by name), the
    department-mix features of :func:`pre_period_features`. Empty when ``products`` has no
    ``department``."""
    before = S.to_day(before, "before")  # dates first: one rule, refused early
    if products is None or S.DEPARTMENT not in products:
        return []
    cut = S.to_day(before, "before")
    past = tx.loc[_days(tx) < cut, [S.PRODUCT_ID, S.REVENUE]]
    dept = past[S.PRODUCT_ID].map(products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT])
    tot = past[S.REVENUE].groupby(dept).sum()
    tot = tot[tot > 0]
    return sorted(tot.index, key=lambda d: (-tot[d], d))[: int(n)]


def pre_period_features(
    tx: pd.DataFrame,
    rows: pd.DataFrame,
    pre_weeks: int,
    products: pd.DataFrame | None = None,
    departments: Sequence[str] = (),
    customers: pd.DataFrame | None = None,
    exposure: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Confounders of each row, from transactions strictly before its anchor.

    ``rows``: ``customer_id`` (unique) and ``anchor`` (datetime64 day). The pre-period is
    ``[anchor - 7 * pre_weeks days, anchor)``. Columns (float64, per row, in ``rows``' order and index):

    * ``pre_spend_per_week``, ``pre_visits_per_week`` (orders), ``pre_active_weeks`` (weeks of the
      pre-period, counted back from the anchor, with an order), ``pre_days_since_last_order``
      (anchor - last order day; ``7 * pre_weeks + 1`` when none), ``pre_spend_last_4w_per_week``
      (the last 4 weeks, or the whole pre-period if shorter), ``pre_basket_value`` (spend / orders, 0
      when none);
    * ``pre_campaigns``: campaigns received (``exposure``) that ran during the pre-period
      (``start_date < anchor`` and ``end_date >= pre-period start``); 0 without ``exposure``;
    * ``pre_share_<department>`` for each of ``departments`` (share of pre-period spend; needs
      ``products``) and ``pre_discount_share`` / ``pre_coupon_share`` (loyalty / coupon discount over
      spend + that discount) when ``tx`` has ``retail_disc`` / ``coupon_disc``;
    * demographics (:func:`retention_utils.models.survival.demographic_covariates`) when
      ``customers`` is given.

    Raises :class:`retention_utils.schema.SchemaError` for missing columns, ``ValueError`` for
    duplicated ``customer_id`` in ``rows``.
    """
    S.require_columns(rows, (S.CUSTOMER_ID, ANCHOR), table="rows")
    if rows[S.CUSTOMER_ID].duplicated().any():
        raise ValueError("pre_period_features: rows must hold each customer_id once")
    pre_days = 7 * int(pre_weeks)
    anchor = pd.to_datetime(rows[ANCHOR]).dt.normalize()
    cid = rows[S.CUSTOMER_ID].astype(str)
    day = _days(tx)
    dept_of = None
    if departments and products is not None:
        dept_of = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT]
    has_disc = {c: c in tx for c in (S.RETAIL_DISC, S.COUPON_DISC)}
    frames = []
    for a, idx in cid.groupby(anchor, sort=True).groups.items():
        who = cid.loc[idx]
        lo = a - pd.Timedelta(days=pre_days)
        m = (day >= lo) & (day < a) & tx[S.CUSTOMER_ID].isin(set(who))
        t = canonical_order(tx.loc[m])
        d = _days(t)
        g = t.groupby(S.CUSTOMER_ID, sort=True)
        spend = g[S.REVENUE].sum()
        orders = g[S.ORDER_ID].nunique()
        back_week = (((a - d) / DAY).astype("int64") - 1) // 7  # 0 = the 7 days just before the anchor
        active = back_week.groupby(t[S.CUSTOMER_ID]).nunique()
        last = d.groupby(t[S.CUSTOMER_ID]).max()
        recent_weeks = min(4, int(pre_weeks))
        rec = t[back_week < recent_weeks].groupby(S.CUSTOMER_ID)[S.REVENUE].sum()
        f = pd.DataFrame(index=pd.Index(who.to_numpy(), name=S.CUSTOMER_ID))
        f["pre_spend_per_week"] = spend.reindex(f.index, fill_value=0.0) / pre_weeks
        f["pre_visits_per_week"] = orders.reindex(f.index, fill_value=0) / pre_weeks
        f["pre_active_weeks"] = active.reindex(f.index, fill_value=0)
        f["pre_days_since_last_order"] = ((a - last) / DAY).reindex(f.index).fillna(pre_days + 1)
        f["pre_spend_last_4w_per_week"] = rec.reindex(f.index, fill_value=0.0) / recent_weeks
        o = orders.reindex(f.index, fill_value=0)
        f["pre_basket_value"] = (spend.reindex(f.index, fill_value=0.0) / o.where(o > 0)).fillna(0.0)
        if exposure is not None:
            e = exposure[(exposure["start_date"] < a) & (exposure["end_date"] >= lo)]
            f["pre_campaigns"] = e.groupby(S.CUSTOMER_ID)[CAMPAIGN_ID].nunique().reindex(f.index, fill_value=0)
        else:
            f["pre_campaigns"] = 0.0
        if dept_of is not None:
            dep = t[S.PRODUCT_ID].map(dept_of)
            by = t[S.REVENUE].groupby([t[S.CUSTOMER_ID], dep]).sum().unstack(fill_value=0.0)
            tot = spend.reindex(f.index)
            for dname in departments:
                col = by[dname] if dname in by else pd.Series(0.0, index=by.index)
                f[f"pre_share_{_slug(dname)}"] = (col.reindex(f.index, fill_value=0.0) / tot.where(tot > 0)).fillna(0.0)
        for col, name in ((S.RETAIL_DISC, "pre_discount_share"), (S.COUPON_DISC, "pre_coupon_share")):
            if has_disc[col]:
                disc = g[col].sum().reindex(f.index, fill_value=0.0)
                base = spend.reindex(f.index, fill_value=0.0) + disc
                f[name] = (disc / base.where(base > 0)).fillna(0.0)
        frames.append(f)
    feats = pd.concat(frames).astype("float64")
    feats = feats.reindex(cid.to_numpy())
    if customers is not None:

        feats = feats.join(demographic_covariates(customers, feats.index))
    feats.index = rows.index
    return feats


def _slug(name: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "_" for ch in str(name)).strip("_")


def window_outcomes(
    tx: pd.DataFrame,
    rows: pd.DataFrame,
    products: pd.DataFrame | None = None,
    department_outcomes: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Spend and visits per week of each row in its outcome window ``[anchor, window_end]`` (days,
    both included).

    ``rows``: ``customer_id``, ``anchor``, ``window_end``. Returns, on ``rows``' index (float64):
    ``spend_per_week``, ``visits_per_week`` (distinct orders) and, for each ``name -> departments`` of
    ``department_outcomes`` (needs ``products``), ``spend_<name>_per_week``: spend in those departments.
    Raises ``ValueError`` for a window that ends before its anchor.
    """
    S.require_columns(rows, (S.CUSTOMER_ID, ANCHOR, WINDOW_END), table="rows")
    a_all = pd.to_datetime(rows[ANCHOR]).dt.normalize()
    w_all = pd.to_datetime(rows[WINDOW_END]).dt.normalize()
    if (w_all < a_all).any():
        raise ValueError("window_outcomes: a window_end precedes its anchor")
    department_outcomes = dict(department_outcomes or {})
    if department_outcomes and (products is None or S.DEPARTMENT not in products):
        raise ValueError("window_outcomes: department outcomes need a products table with a department column")
    dept_of = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT] if department_outcomes else None
    cid = rows[S.CUSTOMER_ID].astype(str)
    day = _days(tx)
    out = pd.DataFrame(index=rows.index, columns=[SPEND, VISITS], dtype="float64")
    for name in department_outcomes:
        out[f"spend_{name}_per_week"] = np.nan
    key = pd.MultiIndex.from_arrays([a_all, w_all])
    for (a, w), idx in pd.Series(np.arange(len(rows)), index=key).groupby(level=[0, 1], sort=True):
        pos = idx.to_numpy()
        ridx = rows.index[pos]
        who = cid.iloc[pos]
        weeks = ((w - a) / DAY + 1) / 7.0
        m = (day >= a) & (day <= w) & tx[S.CUSTOMER_ID].isin(set(who))
        t = canonical_order(tx.loc[m])
        g = t.groupby(S.CUSTOMER_ID, sort=True)
        out.loc[ridx, SPEND] = g[S.REVENUE].sum().reindex(who.to_numpy(), fill_value=0.0).to_numpy() / weeks
        out.loc[ridx, VISITS] = g[S.ORDER_ID].nunique().reindex(who.to_numpy(), fill_value=0).to_numpy() / weeks
        if department_outcomes:
            dep = t[S.PRODUCT_ID].map(dept_of)
            for name, depts in department_outcomes.items():
                s = t.loc[dep.isin(list(depts))].groupby(S.CUSTOMER_ID)[S.REVENUE].sum()
                out.loc[ridx, f"spend_{name}_per_week"] = s.reindex(who.to_numpy(), fill_value=0.0).to_numpy() / weeks
    return out.astype("float64")


# ------------------------------------------------------------------------------------------------
# the cross-section
# ------------------------------------------------------------------------------------------------


@dataclass
class CrossSection:
    """One row per household for one campaign type (module docstring).

    ``table``: indexed by ``customer_id`` (str, sorted); columns ``treated`` (int 0/1),
    ``campaign_id``, ``anchor``, ``window_end``, ``window_weeks``, ``concurrent_campaigns`` (other
    campaigns the household received whose period overlaps its window), ``redeemed`` (int 0/1: redeemed a
    coupon of its campaign in the window; 0 for controls), the outcomes of :func:`window_outcomes` and the
    confounders listed in ``covariates`` (pre-period features of :func:`pre_period_features` plus one
    indicator per anchor campaign, ``campaign=<id>``, for the season). ``counts``: households considered
    and left out, by reason. ``windows``: :func:`campaign_windows` of the type.
    """

    table: pd.DataFrame
    covariates: list[str]
    campaign_type: str
    counts: dict[str, int]
    windows: pd.DataFrame
    shift_weeks: int = 0
    outcomes: list[str] = field(default_factory=list)


def _overlaps(exposure: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> set:
    e = exposure[(exposure["start_date"] <= hi) & (exposure["end_date"] >= lo)]
    return set(e[S.CUSTOMER_ID])


def _active(tx_days: pd.Series, tx_cid: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> set:
    m = (tx_days >= lo) & (tx_days < hi)
    return set(tx_cid[m].unique())


def campaign_cross_section(
    tx: pd.DataFrame,
    data: CampaignData,
    campaign_type: str,
    observation_start: DateLike,
    observation_end: DateLike,
    pre_weeks: int = 8,
    shift_weeks: int = 0,
    seed: int = 0,
    products: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    departments: Sequence[str] = (),
    department_outcomes: Mapping[str, Sequence[str]] | None = None,
) -> CrossSection:
    """Build the cross-section of one campaign type (rules in the module docstring).

    ``tx``: cleaned canonical transactions; ``data``: :func:`campaign_data`; ``departments``: the
    department-mix features (e.g. :func:`top_departments`); ``department_outcomes``: extra outcomes of
    :func:`window_outcomes`. ``seed`` drives the controls' pseudo event dates. Raises ``ValueError``
    for an unknown type, a type without usable campaigns (naming why each is unusable), or when no
    treated or no control household remains.
    """
    observation_start = S.to_day(observation_start, "observation_start")  # dates first: one rule, refused early
    observation_end = S.to_day(observation_end, "observation_end")  # dates first: one rule, refused early
    if campaign_type not in data.types:
        raise ValueError(f"campaign_type {campaign_type!r} not in the data; types: {data.types}")
    windows = campaign_windows(data.campaigns, observation_start, observation_end, pre_weeks, shift_weeks)
    wt = windows[windows[CAMPAIGN_TYPE] == campaign_type]
    usable = wt[wt["usable"]]
    if usable.empty:
        why = "; ".join(f"{r.campaign_id}: {r.reason}" for r in wt.itertuples())
        raise ValueError(f"no usable {campaign_type} campaign with pre_weeks={pre_weeks}, shift_weeks={shift_weeks} ({why})")
    exp = data.exposure
    tx_days, tx_cid = _days(tx), tx[S.CUSTOMER_ID].astype(str)
    seen = set(tx_cid.unique())
    counts: dict[str, int] = {}

    # treated: earliest usable campaign of the type
    got = exp[exp[CAMPAIGN_TYPE] == campaign_type]
    cand = got[got[CAMPAIGN_ID].isin(set(usable[CAMPAIGN_ID]))].merge(
        usable[[CAMPAIGN_ID, ANCHOR, WINDOW_END, "pre_start"]], on=CAMPAIGN_ID)
    cand = cand.sort_values([S.CUSTOMER_ID, ANCHOR, CAMPAIGN_ID], kind="stable").drop_duplicates(S.CUSTOMER_ID)
    counts["treated_received_usable_campaign"] = int(len(cand))
    counts["treated_not_in_transactions"] = int((~cand[S.CUSTOMER_ID].isin(seen)).sum())
    cand = cand[cand[S.CUSTOMER_ID].isin(seen)]
    keep = np.zeros(len(cand), dtype=bool)
    for c, idx in cand.groupby(CAMPAIGN_ID).groups.items():
        w = usable.set_index(CAMPAIGN_ID).loc[c]
        act = _active(tx_days, tx_cid, w["pre_start"], w[ANCHOR])
        clean = seen - _overlaps(exp, w[ANCHOR], w[WINDOW_END]) if shift_weeks else seen
        pos = cand.index.get_indexer(idx)
        keep[pos] = cand.loc[idx, S.CUSTOMER_ID].isin(act & clean).to_numpy()
    counts["treated_inactive_or_contacted_in_window"] = int((~keep).sum())
    treated = cand[keep][[S.CUSTOMER_ID, CAMPAIGN_ID]]
    if treated.empty:
        raise ValueError(f"no treated household left for {campaign_type} (all inactive in the pre-period)")
    n_treated = treated.groupby(CAMPAIGN_ID).size()

    # controls: never received the type; clean and active at some usable campaign of it
    pool = sorted(seen - set(got[S.CUSTOMER_ID]))
    counts["control_candidates"] = len(pool)
    elig = {}
    for r in usable.itertuples():
        if r.campaign_id not in n_treated.index:
            continue
        ok = _active(tx_days, tx_cid, r.pre_start, r.anchor) - _overlaps(exp, r.anchor, r.window_end)
        elig[r.campaign_id] = ok
    rng = np.random.default_rng(seed)
    ctrl_rows = []
    camp_ids = list(elig)
    weights = np.array([n_treated[c] for c in camp_ids], dtype="float64")
    for h in pool:
        ok = np.array([h in elig[c] for c in camp_ids])
        u = rng.random()
        if not ok.any():
            continue
        p = weights * ok
        pick = int(np.searchsorted(np.cumsum(p) / p.sum(), u, side="right"))
        ctrl_rows.append((h, camp_ids[min(pick, len(camp_ids) - 1)]))
    counts["control_no_clean_active_window"] = len(pool) - len(ctrl_rows)
    if not ctrl_rows:
        raise ValueError(f"no control household for {campaign_type}: every candidate was contacted or inactive")
    controls = pd.DataFrame(ctrl_rows, columns=[S.CUSTOMER_ID, CAMPAIGN_ID])
    rows = pd.concat([treated.assign(treated=1), controls.assign(treated=0)], ignore_index=True)
    rows = rows.merge(usable[[CAMPAIGN_ID, ANCHOR, WINDOW_END, "window_weeks"]], on=CAMPAIGN_ID, how="left")
    rows = rows.sort_values(S.CUSTOMER_ID, kind="stable").reset_index(drop=True)

    # concurrent campaigns and redemption in the window
    e = exp.merge(rows[[S.CUSTOMER_ID, CAMPAIGN_ID, ANCHOR, WINDOW_END]].rename(columns={CAMPAIGN_ID: "_own"}),
                  on=S.CUSTOMER_ID)
    ov = e[(e["start_date"] <= e[WINDOW_END]) & (e["end_date"] >= e[ANCHOR]) & (e[CAMPAIGN_ID] != e["_own"])]
    rows["concurrent_campaigns"] = rows[S.CUSTOMER_ID].map(ov.groupby(S.CUSTOMER_ID).size()).fillna(0).astype("int64")
    rows["redeemed"] = 0
    if data.redemptions is not None and not shift_weeks:
        r = data.redemptions.merge(rows[[S.CUSTOMER_ID, CAMPAIGN_ID, ANCHOR, WINDOW_END]], on=[S.CUSTOMER_ID, CAMPAIGN_ID])
        r = r[(r["redemption_date"] >= r[ANCHOR]) & (r["redemption_date"] <= r[WINDOW_END])]
        rows["redeemed"] = (rows[S.CUSTOMER_ID].isin(set(r[S.CUSTOMER_ID])) & (rows[TREATED] == 1)).astype("int64")

    outc = window_outcomes(tx, rows, products, department_outcomes)
    feats = pre_period_features(tx, rows, pre_weeks, products, departments, customers, exp)
    season = pd.get_dummies(rows[CAMPAIGN_ID], prefix="campaign", prefix_sep="=", dtype="float64")
    season = season.iloc[:, 1:] if season.shape[1] > 1 else season.iloc[:, :0]
    table = pd.concat([rows, outc, feats, season], axis=1).set_index(S.CUSTOMER_ID)
    covariates = []
    for c in [*feats.columns, *season.columns]:  # constant columns and exact copies carry no information
        if table[c].nunique() > 1 and not any(table[c].equals(table[k]) for k in covariates):
            covariates.append(c)
    counts["treated"] = int(table[TREATED].sum())
    counts["control"] = int(len(table) - table[TREATED].sum())
    return CrossSection(table, covariates, campaign_type, counts, wt.reset_index(drop=True), int(shift_weeks),
                        list(outc.columns))


# ------------------------------------------------------------------------------------------------
# staggered design: first-contact cohorts
# ------------------------------------------------------------------------------------------------


def first_contact_cohorts(data: CampaignData, customers: Sequence[str], observation_start: DateLike) -> pd.DataFrame:
    """Each household's first campaign contact, as a cohort of the staggered design.

    ``customers``: every household of the panel. Returns a DataFrame indexed by ``customer_id`` (sorted)
    with ``first_campaign`` (str or NaN), ``first_type`` (str or NaN), ``first_start`` (datetime64 or NaT)
    and ``cohort`` (float64: :func:`week_index` of ``first_start``; NaN = never contacted, the
    never-treated controls). Ties in the first start go to the smaller campaign id.
    """
    observation_start = S.to_day(observation_start, "observation_start")  # dates first: one rule, refused early
    idx = pd.Index(sorted(map(str, customers)), name=S.CUSTOMER_ID)
    e = data.exposure.sort_values([S.CUSTOMER_ID, "start_date", CAMPAIGN_ID], kind="stable", key=_id_key)
    first = e.drop_duplicates(S.CUSTOMER_ID).set_index(S.CUSTOMER_ID).reindex(idx)
    out = pd.DataFrame(index=idx)
    out["first_campaign"] = first[CAMPAIGN_ID]
    out["first_type"] = first[CAMPAIGN_TYPE]
    out["first_start"] = first["start_date"]
    wk = pd.Series(np.nan, index=idx)
    has = first["start_date"].notna()
    wk[has] = week_index(first.loc[has, "start_date"], observation_start).astype("float64")
    out[COHORT] = wk
    return out


def did_sample(panel: pd.DataFrame, cohorts: pd.DataFrame, campaign_type: str, pre_weeks: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Panel rows for the staggered DiD of one campaign type.

    Keeps households whose first contact is a campaign of ``campaign_type`` with at least ``pre_weeks``
    panel weeks before it (``cohort > pre_weeks``) and households never contacted (``cohort`` NaN).
    Returns (``panel`` rows with a ``cohort`` column, counts of households kept and left out by reason).
    """
    c = cohorts.reindex(panel[S.CUSTOMER_ID].unique())
    typed = c["first_type"] == campaign_type
    never = c[COHORT].isna()
    early = typed & (c[COHORT] <= pre_weeks)
    keep = (typed & ~early) | never
    counts = {"treated": int((typed & ~early).sum()), "never_contacted": int(never.sum()),
              "first_contact_too_early": int(early.sum()),
              "first_contact_other_type": int((~typed & ~never).sum())}
    out = panel[panel[S.CUSTOMER_ID].isin(set(c.index[keep]))].copy()
    out[COHORT] = out[S.CUSTOMER_ID].map(c[COHORT])
    return out, counts


# ------------------------------------------------------------------------------------------------
# coupons
# ------------------------------------------------------------------------------------------------


def coupon_departments(data: CampaignData, products: pd.DataFrame, campaign_type: str | None = None) -> list[str]:
    """Departments of the products that the coupons of ``campaign_type``'s campaigns (all when
    ``None``) discount, sorted. Raises ``ValueError`` when the dataset has no coupons table."""
    if data.coupons is None:
        raise ValueError("the dataset has no coupons table")
    ids = set(data.campaigns.loc[data.campaigns[CAMPAIGN_TYPE] == campaign_type, CAMPAIGN_ID]) if campaign_type else None
    cp = data.coupons if ids is None else data.coupons[data.coupons[CAMPAIGN_ID].isin(ids)]
    dept = cp[S.PRODUCT_ID].map(products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT])
    return sorted(dept.dropna().unique())


def uncovered_department(tx: pd.DataFrame, products: pd.DataFrame, covered: Sequence[str]) -> str | None:
    """The department with the largest spend in ``tx`` that no coupon in ``covered`` touches (ties by
    name), or ``None`` when every department with spend is covered."""
    dept = tx[S.PRODUCT_ID].map(products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT])
    tot = tx[S.REVENUE].groupby(dept).sum()
    tot = tot[(tot > 0) & ~tot.index.isin(list(covered))]
    if tot.empty:
        return None
    return sorted(tot.index, key=lambda d: (-tot[d], d))[0]


def redemption_rates(table: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Redemption among treated households: ``households`` (received), ``redeemed`` (redeemed a coupon of
    the campaign in its window) and ``rate`` (= redeemed / households) per group of ``by`` (columns of
    ``table``, e.g. ``campaign_type`` or a segment). ``table``: rows with ``treated`` and ``redeemed``
    (e.g. concatenated :attr:`CrossSection.table`); controls are ignored. Sorted by the groups."""
    by = [by] if isinstance(by, str) else list(by)
    t = table[table[TREATED] == 1]
    g = t.groupby(by, sort=True, observed=True)
    out = pd.DataFrame({"households": g.size(), "redeemed": g["redeemed"].sum()}).astype("int64")
    out["rate"] = out["redeemed"] / out["households"]
    return out
