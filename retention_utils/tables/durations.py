"""Churn durations from the transaction log: the churn threshold, censoring at a cutoff, the first
window after acquisition, and the time from a cutoff to the next purchase. The survival models of
:mod:`retention_utils.models.survival` fit these tables; the definitions (churn date, censoring, zero
durations, landmarks) are stated in that module's docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DAY, DateLike
from ..schema import to_day as _day
from . import eda
from .summary import canonical_order

DURATION = "duration"


EVENT = "churned"


#: shown in error messages: at most this many customer ids
MAX_NAMED = 10


class DurationError(ValueError):
    """Durations that cannot enter a survival model (missing, negative, zero, start after the cutoff).

    ``customers`` holds every offending customer id; the message names the first :data:`MAX_NAMED`.
    """

    def __init__(self, message: str, customers: Sequence[Any] = ()):
        super().__init__(message)
        self.customers = tuple(customers)


def _name(ids: Sequence[Any] | pd.Index) -> str:
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:MAX_NAMED])
    more = f" and {len(ids) - MAX_NAMED:,} more" if len(ids) > MAX_NAMED else ""
    return f"{len(ids):,} customer(s): {shown}{more}"


@dataclass(frozen=True)
class ChurnThreshold:
    """Result of :func:`churn_threshold`.

    Attributes
    ----------
    tau_days : the threshold (int, days): an observed gap, the ``percentile`` of the ``basis``.
    percentile : in (0, 1).
    basis : ``"customer_max"`` (each repeat customer's longest gap counts once) or ``"all_gaps"``
        (every gap counts, so frequent buyers dominate).
    n_values : number of gaps (or of repeat customers) the percentile was taken over.
    share_gaps_at_least_tau : share of all gaps >= ``tau_days``.
    share_customers_returned_after_lapse : share of all customers who had a gap >= ``tau_days`` and
        bought again: customers who would have been called churned and came back.
    """

    tau_days: int
    percentile: float
    basis: str
    n_values: int
    share_gaps_at_least_tau: float
    share_customers_returned_after_lapse: float


def churn_threshold(tx: pd.DataFrame, percentile: float = 0.9, basis: str = "customer_max") -> ChurnThreshold:
    """Churn threshold ``tau`` (days) from the inter-purchase gaps of canonical transactions.

    Gaps are days between consecutive purchase days of a customer (same-day orders merged;
    :func:`retention_utils.tables.eda.inter_purchase_days`), so every gap is >= 1 day. ``tau`` is the
    ``percentile`` of the gaps (``basis="all_gaps"``) or of each repeat customer's longest gap
    (``basis="customer_max"``), taken as an observed value (numpy ``method="higher"``), so with
    ``customer_max`` at most ``1 - percentile`` of the repeat customers ever came back after a lapse of
    ``tau`` days or more. Gaps longer than the observation window cannot be seen, so both bases
    understate long gaps.

    Raises ``ValueError`` for a percentile outside (0, 1), an unknown basis, or no repeat purchases.
    """
    gaps = eda.inter_purchase_days(tx)
    return _threshold_from_gaps(gaps, tx[S.CUSTOMER_ID].nunique(), percentile, basis)


def _threshold_from_gaps(gaps: pd.Series, n_customers: int, percentile: float, basis: str) -> ChurnThreshold:
    if not 0 < percentile < 1:
        raise ValueError(f"percentile must be in (0, 1), not {percentile!r}")
    if basis not in GAP_BASES:
        raise ValueError(f"basis must be one of {GAP_BASES}, not {basis!r}")
    if gaps.empty:
        raise ValueError("no customer bought on two different days: there are no inter-purchase gaps")
    longest = gaps.groupby(level=0).max()
    values = longest if basis == "customer_max" else gaps
    tau = int(np.quantile(values.to_numpy(), percentile, method="higher"))
    return ChurnThreshold(
        tau_days=tau,
        percentile=float(percentile),
        basis=basis,
        n_values=len(values),
        share_gaps_at_least_tau=float((gaps >= tau).mean()),
        share_customers_returned_after_lapse=float((longest >= tau).sum() / n_customers),
    )


def threshold_table(
    tx: pd.DataFrame, cutoff: DateLike, percentiles: Sequence[float] = (0.8, 0.9, 0.95, 0.99)
) -> pd.DataFrame:
    """Candidate thresholds side by side: for each basis and percentile, ``tau_days``, the share of
    customers churned at ``cutoff`` under it and the share who lapsed that long and came back.

    Index (``basis``, ``percentile``); columns ``tau_days`` (int), ``share_churned``,
    ``share_returned_after_lapse`` (floats in [0, 1]). Reads transactions on or before ``cutoff``.
    """
    cut = _day(cutoff)
    tx = tx[tx[S.ORDER_TS] < cut + DAY]
    last = tx[S.ORDER_TS].dt.normalize().groupby(tx[S.CUSTOMER_ID]).max()
    gaps = eda.inter_purchase_days(tx)
    rows = []
    for basis in GAP_BASES:
        for p in percentiles:
            th = _threshold_from_gaps(gaps, len(last), p, basis)
            churned = float((last + pd.Timedelta(days=th.tau_days) <= cut).mean())
            rows.append((basis, float(p), th.tau_days, churned, th.share_customers_returned_after_lapse))
    out = pd.DataFrame(rows, columns=["basis", "percentile", "tau_days", "share_churned", "share_returned_after_lapse"])
    return out.set_index(["basis", "percentile"])


def censor_at_cutoff(start: pd.Series, end: pd.Series, cutoff: DateLike) -> pd.DataFrame:
    """Durations and event flags as known on ``cutoff`` (module docstring, "Durations").

    Parameters
    ----------
    start : Series of datetime-like, indexed by customer id: the day the customer becomes at risk.
    end : Series of datetime-like on the same index: the event date, ``NaT`` when there is none.
    cutoff : the last observed day (inclusive); times of day are dropped everywhere.

    Returns
    -------
    DataFrame on the sorted index with columns ``start``, ``end`` (the observed end: the event date
    or the cutoff; datetime64), ``duration`` (float64, days, >= 0) and ``event`` (int64, 1 = event
    observed on or before the cutoff). Zero durations (start on the cutoff day) are kept here.

    Raises
    ------
    DurationError
        missing start, start after the cutoff (not yet at risk) or end before start (negative
        duration), naming the customers.
    ValueError
        when ``start`` and ``end`` are not on the same index.
    """
    if not start.index.equals(end.index):
        if start.index.sort_values().equals(end.index.sort_values()):
            end = end.reindex(start.index)
        else:
            raise ValueError("start and end must have the same index (one row per customer)")
    cut = _day(cutoff)
    s = pd.to_datetime(start).dt.normalize()
    e = pd.to_datetime(end).dt.normalize()
    miss = s.isna()
    if miss.any():
        raise DurationError(f"missing start dates (durations would be missing) for {_name(s.index[miss])}", s.index[miss])
    late = s > cut
    if late.any():
        raise DurationError(
            f"start after the cutoff {cut.date()} (not yet at risk) for {_name(s.index[late])}; "
            "keep only customers who started on or before the cutoff",
            s.index[late],
        )
    neg = e.notna() & (e < s)
    if neg.any():
        raise DurationError(f"end before start (negative durations) for {_name(s.index[neg])}", s.index[neg])
    observed = e.notna() & (e <= cut)
    stop = e.where(observed, cut)
    out = pd.DataFrame(
        {"start": s, "end": stop, DURATION: ((stop - s) / DAY).astype("float64"), "event": observed.astype("int64")}
    )
    return out.sort_index()


def check_durations(
    table: pd.DataFrame, duration_col: str = DURATION, event_col: str = EVENT, allow_zero: bool = False
) -> None:
    """Raise :class:`DurationError` unless every duration is a finite number > 0 (>= 0 with
    ``allow_zero``) and every event flag is 0 or 1; the message names the customers (index values) and
    the rule broken.

    Zero durations are refused by default: the Weibull model cannot take log 0 and a Cox risk set at
    time 0 is empty, so a customer with no time at risk must be left out before those fits
    (:func:`churn_durations` drops and counts them). Non-parametric estimators (Kaplan-Meier, log-rank)
    accept them (``allow_zero=True``). Raises :class:`retention_utils.schema.SchemaError` for missing
    columns.
    """
    S.require_columns(table, [duration_col, event_col], table="durations")
    d = pd.to_numeric(table[duration_col], errors="coerce").astype("float64")
    bad = d.isna() | ~np.isfinite(d.to_numpy())
    if bad.any():
        raise DurationError(f"{duration_col!r}: missing or infinite durations for {_name(table.index[bad])}", table.index[bad])
    neg = d < 0
    if neg.any():
        raise DurationError(f"{duration_col!r}: negative durations for {_name(table.index[neg])}", table.index[neg])
    zero = d == 0
    if zero.any() and not allow_zero:
        raise DurationError(
            f"{duration_col!r}: zero durations (no time at risk) for {_name(table.index[zero])}; leave such "
            "customers out (rule: churn_durations drops them and counts them)",
            table.index[zero],
        )
    ev = table[event_col]
    bad_ev = ~ev.isin([0, 1])
    if bad_ev.any():
        raise DurationError(f"{event_col!r}: event flags other than 0/1 for {_name(table.index[bad_ev])}", table.index[bad_ev])


@dataclass(frozen=True)
class ChurnDurations:
    """Result of :func:`churn_durations`.

    Attributes
    ----------
    table : one row per customer at risk at the origin, indexed by ``customer_id`` (str, sorted):
        ``first_purchase``, ``last_purchase`` (last purchase day on or before the cutoff),
        ``origin`` (first purchase + ``origin_days``), ``churn_date`` (``last_purchase + tau``; NaT
        unless churned), ``duration`` (float64, days from the origin to the churn date or the
        cutoff, > 0), ``churned`` (int64 0/1).
    tau_days, cutoff, origin_days : the settings.
    n_customers : customers with a purchase on or before the cutoff.
    n_churned_by_origin : churned on or before the origin (not at risk there; left out).
    n_censored_by_origin : cutoff on or before the origin, not churned (no time at risk; left out).
        With ``origin_days=0`` these are the customers first seen on the cutoff day.
    n_rows_after_cutoff : transaction rows after the cutoff, ignored.
    window_start : the first day of the data window, when given to :func:`churn_durations`.
    n_possibly_left_truncated : customers of ``table`` first seen within ``tau_days`` of
        ``window_start`` (0 without it): those who may have been buying before the data begins
        (left truncation; rule in :func:`churn_durations`).
    """

    table: pd.DataFrame
    tau_days: int
    cutoff: pd.Timestamp
    origin_days: int
    n_customers: int
    n_churned_by_origin: int
    n_censored_by_origin: int
    n_rows_after_cutoff: int
    window_start: pd.Timestamp | None = None
    n_possibly_left_truncated: int = 0

    @property
    def churn_share(self) -> float:
        """Share of the customers at risk at the origin whose churn was observed."""
        return float(self.table[EVENT].mean())


def churn_durations(
    tx: pd.DataFrame, tau_days: int, cutoff: DateLike, origin_days: int = 0, window_start: DateLike | None = None
) -> ChurnDurations:
    """Time to churn (module docstring) for every customer, as known on ``cutoff``.

    Only transactions on or before the ``cutoff`` day are read. The risk period starts at the origin
    ``first purchase day + origin_days`` (0: the first purchase; > 0: a landmark, so that covariates
    from the first ``origin_days`` days are known at its start). Durations run from the origin to the
    churn date (``last purchase day + tau_days``, when on or before the cutoff) or to the cutoff.

    **Left truncation (stated rule).** The first purchase is the first one *in the data*. When a log
    starts in the middle of customers' relationships (a shop's export from a fixed date), a customer
    who was buying before it enters the data late, and the duration runs from that entry, not from
    acquisition; the true entry time is unknown, so lifelines' late entry (``entry=``) cannot be used
    honestly. Who may be affected is counted: with ``window_start`` (the first day of the data window),
    ``n_possibly_left_truncated`` is the number of customers at risk whose first purchase falls within
    ``tau_days`` of it (a customer active before the window, not churned by its start, buys again
    within ``tau_days`` by the definition of ``tau``). Customers first seen later were new.

    Returns a :class:`ChurnDurations`. Customers with no time at risk after the origin (duration <= 0)
    are left out and counted by reason, the stated zero-duration rule.

    Raises ``ValueError`` for ``tau_days < 1`` or ``origin_days < 0``; :class:`DurationError` if a
    duration comes out missing or negative (cannot happen on validated transactions).
    """
    if int(tau_days) != tau_days or tau_days < 1:
        raise ValueError(f"tau_days must be a whole number of days >= 1, not {tau_days!r}")
    if int(origin_days) != origin_days or origin_days < 0:
        raise ValueError(f"origin_days must be a whole number of days >= 0, not {origin_days!r}")
    S.require_columns(tx, [S.CUSTOMER_ID, S.ORDER_TS])
    cut = _day(cutoff)
    keep = tx[S.ORDER_TS] < cut + DAY
    day = tx.loc[keep, S.ORDER_TS].dt.normalize()
    g = day.groupby(tx.loc[keep, S.CUSTOMER_ID].astype(str), sort=True)
    first, last = g.min(), g.max()
    if first.empty:
        raise ValueError(f"no transactions on or before the cutoff {cut.date()}")
    origin = first + pd.Timedelta(days=int(origin_days))
    churn_date = last + pd.Timedelta(days=int(tau_days))
    base = censor_at_cutoff(first, churn_date, cut)
    dur = base[DURATION] - float(origin_days)
    table = pd.DataFrame(
        {
            "first_purchase": first,
            "last_purchase": last,
            "origin": origin,
            "churn_date": churn_date.where(base["event"] == 1),
            DURATION: dur,
            EVENT: base["event"],
        }
    ).sort_index()
    table.index.name = S.CUSTOMER_ID
    at_risk = table[DURATION] > 0
    n_churn0 = int((~at_risk & (table[EVENT] == 1)).sum())
    n_cens0 = int((~at_risk & (table[EVENT] == 0)).sum())
    table = table[at_risk]
    check_durations(table)
    w0 = None if window_start is None else _day(window_start)
    n_trunc = 0 if w0 is None else int((table["first_purchase"] < w0 + pd.Timedelta(days=int(tau_days))).sum())
    return ChurnDurations(
        table=table,
        tau_days=int(tau_days),
        cutoff=cut,
        origin_days=int(origin_days),
        n_customers=len(first),
        n_churned_by_origin=n_churn0,
        n_censored_by_origin=n_cens0,
        n_rows_after_cutoff=int((~keep).sum()),
        window_start=w0,
        n_possibly_left_truncated=n_trunc,
    )


def first_window_transactions(tx: pd.DataFrame, window_days: int, cutoff: DateLike) -> pd.DataFrame:
    """The transaction rows of each customer's first window: purchase day in ``[first purchase day,
    first purchase day + window_days)``, reading rows on or before ``cutoff`` only.

    Everything computed from these rows is known at the landmark (the first purchase day +
    ``window_days``); :func:`first_window_features` and the first-window clusters of notebook 05
    (:func:`retention_utils.models.clustering.cluster_features`) are built on them. Returns the rows with the
    columns of ``tx`` (``customer_id`` as str), in canonical order
    (:func:`retention_utils.tables.summary.canonical_order`), on a fresh RangeIndex. Raises ``ValueError``
    for ``window_days < 1``.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, not {window_days!r}")
    S.require_columns(tx, [S.CUSTOMER_ID, S.ORDER_TS])
    cut = _day(cutoff)
    t = canonical_order(tx[tx[S.ORDER_TS] < cut + DAY]).reset_index(drop=True)
    t = t.assign(**{S.CUSTOMER_ID: t[S.CUSTOMER_ID].astype(str)})
    day = t[S.ORDER_TS].dt.normalize()
    first = day.groupby(t[S.CUSTOMER_ID]).transform("min")
    return t[(day - first) < pd.Timedelta(days=int(window_days))].reset_index(drop=True)


def first_window_features(tx: pd.DataFrame, window_days: int, cutoff: DateLike) -> pd.DataFrame:
    """Behaviour in each customer's first ``window_days`` days: covariates known at the landmark.

    The window is ``[first purchase day, first purchase day + window_days)``, read from transactions
    on or before ``cutoff`` only (so nothing after the landmark or the cutoff enters).

    Returns a DataFrame indexed by ``customer_id`` (str, sorted), float64 columns: ``n_orders``
    (distinct orders), ``n_purchase_days``, ``revenue`` (currency), ``log_revenue`` (``log1p``),
    ``average_order_value``, ``days_since_last_order`` (from the last purchase day in the window to the
    window's last day, 0 .. window_days - 1: the R of RFM at the landmark), ``active_span_days`` (last
    minus first purchase day in the window), ``units`` (quantity), ``distinct_products``,
    ``log_distinct_products``; and when the columns exist, ``discount_share`` = loyalty discount /
    (revenue + loyalty discount) (``retail_disc``). The columns ``n_orders``, ``revenue`` and
    ``days_since_last_order`` make it a valid input to :func:`retention_utils.models.segments.rfm_scores`.
    A customer whose window is cut short by the cutoff gets features from the part observed; such a
    customer is not at risk at the landmark, and :func:`churn_durations` leaves them out.

    Raises ``ValueError`` for ``window_days < 1``.
    """
    S.require_columns(tx, [S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.PRODUCT_ID, S.QUANTITY, S.REVENUE])
    w = first_window_transactions(tx, window_days, cutoff)
    w = w.assign(_day=w[S.ORDER_TS].dt.normalize())
    g = w.groupby(S.CUSTOMER_ID, sort=True)
    first_day = g["_day"].min()
    last_day = g["_day"].max()
    out = pd.DataFrame(
        {
            "n_orders": g[S.ORDER_ID].nunique().astype("float64"),
            "n_purchase_days": g["_day"].nunique().astype("float64"),
            "revenue": g[S.REVENUE].sum(),
        }
    )
    out["log_revenue"] = np.log1p(out["revenue"].clip(lower=0))
    out["average_order_value"] = out["revenue"] / out["n_orders"]
    window_last = first_day + pd.Timedelta(days=int(window_days) - 1)
    out["days_since_last_order"] = ((window_last - last_day) / DAY).astype("float64")
    out["active_span_days"] = ((last_day - first_day) / DAY).astype("float64")
    out["units"] = g[S.QUANTITY].sum()
    out["distinct_products"] = g[S.PRODUCT_ID].nunique().astype("float64")
    out["log_distinct_products"] = np.log1p(out["distinct_products"])
    if S.RETAIL_DISC in w:
        disc = g[S.RETAIL_DISC].sum()
        total = out["revenue"] + disc
        out["discount_share"] = (disc / total.where(total > 0)).fillna(0.0)
    out.index.name = S.CUSTOMER_ID
    return out.sort_index()


def next_purchase_training_cutoff(start: DateLike, calibration_end: DateLike, holdout_end: DateLike) -> pd.Timestamp:
    """Where to train a next-purchase model that will score customers at ``calibration_end``:
    ``calibration_end`` minus the holdout length or half the calibration period (days, rounded down),
    whichever is shorter, so that the training cutoff has history before it and a follow-up after it,
    both inside the calibration period."""
    start, cal_end, hold_end = (S.to_day(x, w) for x, w in ((start, "start"), (calibration_end, "calibration_end"), (holdout_end, "holdout_end")))
    holdout_days = (hold_end - cal_end).days
    follow_up = min(holdout_days, ((cal_end - start).days + 1) // 2)
    return cal_end - pd.Timedelta(days=follow_up)


def next_purchase_table(tx: pd.DataFrame, cutoff: DateLike, follow_up_end: DateLike | None = None) -> pd.DataFrame:
    """Each customer's state on a calendar ``cutoff`` and, with ``follow_up_end``, the days from the
    cutoff to the next purchase: a survival table whose clock is the current silence, for scoring
    customers at a calendar date (the churn model of :func:`churn_durations` runs from a landmark after
    each customer's own first purchase and cannot be read at one calendar date for everybody).

    Covariates, from rows on or before the ``cutoff`` day only (days are calendar days, money in the
    data's currency), for every customer with a purchase on or before it:

    * ``last_purchase`` (datetime64), ``days_since_last_purchase`` = cutoff - last purchase day (>= 0),
      ``purchase_days`` (distinct purchase days, >= 1), ``revenue``, ``tenure_days`` = cutoff - first
      purchase day;
    * the model covariates :data:`NEXT_PURCHASE_COVARIATES`: ``log1p(days_since_last_purchase)``,
      ``log(purchase_days)``, ``log1p(max(revenue, 0))``, ``log1p(tenure_days)``.

    With ``follow_up_end`` (after the cutoff; rows up to it are read): ``next_purchase`` (the first
    purchase day in ``(cutoff, follow_up_end]``, NaT if none), ``duration`` (float64 days from the
    cutoff to it, or to ``follow_up_end`` when censored; always >= 1) and ``purchased`` (int64 1/0),
    by the censoring rule of :func:`censor_at_cutoff` with ``start = cutoff`` for everybody.

    Returns a DataFrame indexed by ``customer_id`` (str, sorted); every column above is float64 except
    the dates and ``purchased``. Raises ``ValueError`` when ``follow_up_end`` is not after ``cutoff`` or
    nobody bought by the cutoff; :class:`retention_utils.schema.SchemaError` for missing columns.
    """
    S.require_columns(tx, [S.CUSTOMER_ID, S.ORDER_TS, S.REVENUE])
    cut = _day(cutoff)
    end = None if follow_up_end is None else _day(follow_up_end)
    if end is not None and end <= cut:
        raise ValueError(f"follow_up_end {end.date()} must be after the cutoff {cut.date()}")
    day = tx[S.ORDER_TS].dt.normalize()
    cid = tx[S.CUSTOMER_ID].astype(str)
    past = day <= cut
    if not past.any():
        raise ValueError(f"no purchase on or before the cutoff {cut.date()}")
    g = day[past].groupby(cid[past], sort=True)
    first, last = g.min(), g.max()
    rows = canonical_order(tx[past])
    revenue = rows[S.REVENUE].groupby(rows[S.CUSTOMER_ID].astype(str), sort=True).sum().astype("float64")
    out = pd.DataFrame(
        {
            "last_purchase": last,
            "days_since_last_purchase": ((cut - last) / DAY).astype("float64"),
            "purchase_days": g.nunique().astype("float64"),
            "revenue": revenue,
            "tenure_days": ((cut - first) / DAY).astype("float64"),
        }
    )
    out["log_days_since_last_purchase"] = np.log1p(out["days_since_last_purchase"])
    out["log_purchase_days"] = np.log(out["purchase_days"])
    out["log_revenue"] = np.log1p(out["revenue"].clip(lower=0))
    out["log_tenure_days"] = np.log1p(out["tenure_days"])
    if end is not None:
        future = (day > cut) & (day <= end)
        nxt = day[future].groupby(cid[future]).min().reindex(out.index)
        cens = censor_at_cutoff(pd.Series(cut, index=out.index), nxt, end)
        out["next_purchase"] = nxt
        out[DURATION] = cens[DURATION]
        out[PURCHASED] = cens["event"]
    out.index.name = S.CUSTOMER_ID
    return out.sort_index()


GAP_BASES = ("customer_max", "all_gaps")


#: event column of :func:`next_purchase_table`: 1 = the next purchase was observed in the follow-up
PURCHASED = "purchased"
