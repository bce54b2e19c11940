"""Churn as time-to-event: durations and censoring, covariate checks, lifelines wrappers, validation.

Churn definition
----------------
In non-contractual retail nobody announces that they left, so churn is defined by inactivity. With a
threshold of ``tau`` days (:func:`churn_threshold`, a stated high percentile of the inter-purchase
gaps), a customer whose last purchase day up to the cutoff is ``L`` has the **churn date** ``L + tau``:
the day on which ``tau`` full days have passed without a purchase (days ``L + 1 .. L + tau``).

* **churned** (event = 1) when ``L + tau <= cutoff``: the churn date has been observed;
* **right-censored** (event = 0) at the cutoff otherwise: nobody whose last purchase is within
  ``tau`` days of the cutoff (``cutoff - L < tau``) can be labelled churned.

The event is the *final* lapse: a customer who went ``tau`` days without buying and came back is not
churned (:func:`churn_threshold` reports how many did, the price of a given ``tau``).

Durations (days) and the cutoff
-------------------------------
The ``cutoff`` is the last observed calendar day, inclusive. ``start`` is the day the customer
becomes at risk (the first purchase day, or a landmark after it) and ``end`` the event date. Then
(:func:`censor_at_cutoff`)

* ``end <= cutoff``: event observed, ``duration = end - start``;
* ``end > cutoff`` or no end (``NaT``): censored, ``duration = cutoff - start``.

Only ``min(end, cutoff)`` and ``end <= cutoff`` enter, which is what is known on the cutoff day;
:func:`churn_durations` also reads transactions on or before the cutoff only, so durations at a cutoff
never use the future (a tested property: adding or changing later transactions changes nothing).
Example (the test): starts 2013-10-08/09/10, ends 2013-10-10/12/15, cutoff 2013-10-12 give durations
2, 3, 2 days and events 1, 1, 0 (an end on the cutoff day is observed).

Rules for bad durations: a missing start, a start after the cutoff or an end before the start raise
:class:`DurationError` naming the customers. **Zero durations**: a customer whose risk period starts on
the cutoff day (or, with a landmark, whose churn or censoring falls on or before the landmark) has no
time at risk; :func:`churn_durations` drops them and counts them by reason; :func:`check_durations`,
run before every fit, refuses any duration <= 0 (a Weibull model cannot take log 0, and a zero-time
event would mean the dates are wrong).

Landmark and covariates
-----------------------
Covariates must be known at the start of the risk period. The models therefore use a landmark: the
risk period starts ``window_days`` after the first purchase; covariates come from the first window
``[first, first + window_days)`` only (:func:`first_window_features`, :func:`campaigns_in_window`),
plus static demographics with a missing indicator (:func:`demographic_covariates`). Customers who
churned or were censored by the landmark are not at risk there and are counted.

Models and validation
---------------------
Kaplan-Meier and log-rank tests (:func:`km_by_group`, :func:`logrank_by_group`), Cox proportional
hazards (:func:`fit_cox`) after :func:`check_covariates` (constant, non-finite, perfectly collinear
or separating columns raise :class:`CovariateError` naming them, never lifelines' bare "convergence
halted"), the proportional-hazards test (:func:`ph_test`) acted on by stratifying on binned violators
(:func:`plan_strata`), a Weibull AFT model (:func:`fit_weibull_aft`). Held-out customers
(:func:`split_customers`) are scored by :func:`concordance` (the caller states the score's direction),
:func:`calibration_at_horizon` (predicted vs Kaplan-Meier survival by risk group) and
:func:`brier_score_at` (IPCW Brier score at the horizon).

Scoring at a calendar cutoff
----------------------------
The churn model above runs from each customer's own landmark, with covariates frozen at the end of
the first month, and its event (``tau`` days without a purchase) is not "buys in the next ``t``
days": it cannot be read at one calendar date for everybody. To rank customers on a calendar date,
:func:`next_purchase_table` restarts the clock at the cutoff: the duration is the time from the
cutoff to the next purchase (censored at the end of the follow-up), with covariates known that day
(time since the last purchase, purchase days, revenue, tenure); a Cox model fitted on an earlier
cutoff scores a later one by :func:`next_purchase_score` (higher = next purchase sooner). Churn in
the sense above is the same silence lasting ``tau`` days.

Sources: Kaplan & Meier (1958); Cox (1972); Grambsch & Therneau (1994) for the Schoenfeld-residual PH
test; Harrell et al. (1996) for the C-index; Graf et al. (1999) for the IPCW Brier score; the
lifelines 0.30 documentation (https://lifelines.readthedocs.io) for every fitter used here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DAY, DateLike
from ..schema import to_day as _day
from ..tables import eda
from ..tables.summary import canonical_order

DURATION = "duration"
EVENT = "churned"
#: shown in error messages: at most this many customer ids
MAX_NAMED = 10

#: ordered demographic bands of The Complete Journey used as covariates (band codes 0, 1, ...)
DEMOGRAPHIC_BANDS: tuple[str, ...] = ("age", "income", "household_size", "kids_count")


class DurationError(ValueError):
    """Durations that cannot enter a survival model (missing, negative, zero, start after the cutoff).

    ``customers`` holds every offending customer id; the message names the first :data:`MAX_NAMED`.
    """

    def __init__(self, message: str, customers: Sequence[Any] = ()):
        super().__init__(message)
        self.customers = tuple(customers)


class CovariateError(ValueError):
    """A covariate table that would make a survival fit fail or diverge.

    ``columns`` lists the culprits; ``reasons`` maps each culprit to its problem.
    """

    def __init__(self, message: str, columns: Sequence[str] = (), reasons: Mapping[str, str] | None = None):
        super().__init__(message)
        self.columns = tuple(columns)
        self.reasons = dict(reasons or {})


class SurvivalFitError(RuntimeError):
    """A lifelines fit failed although the covariates passed :func:`check_covariates`."""


def _name(ids: Sequence[Any] | pd.Index) -> str:
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:MAX_NAMED])
    more = f" and {len(ids) - MAX_NAMED:,} more" if len(ids) > MAX_NAMED else ""
    return f"{len(ids):,} customer(s): {shown}{more}"


# ------------------------------------------------------------------------------------------------
# churn threshold
# ------------------------------------------------------------------------------------------------

GAP_BASES = ("customer_max", "all_gaps")


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


# ------------------------------------------------------------------------------------------------
# durations and censoring
# ------------------------------------------------------------------------------------------------


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


def check_durations(table: pd.DataFrame, duration_col: str = DURATION, event_col: str = EVENT) -> None:
    """Raise :class:`DurationError` unless every duration is a finite number > 0 and every event flag
    is 0 or 1; the message names the customers (index values) and the rule broken.

    Zero durations are refused: a customer with no time at risk must be left out before fitting
    (:func:`churn_durations` drops and counts them). Raises :class:`retention_utils.schema.SchemaError`
    for missing columns.
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
    if zero.any():
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
    """

    table: pd.DataFrame
    tau_days: int
    cutoff: pd.Timestamp
    origin_days: int
    n_customers: int
    n_churned_by_origin: int
    n_censored_by_origin: int
    n_rows_after_cutoff: int

    @property
    def churn_share(self) -> float:
        """Share of the customers at risk at the origin whose churn was observed."""
        return float(self.table[EVENT].mean())


def churn_durations(tx: pd.DataFrame, tau_days: int, cutoff: DateLike, origin_days: int = 0) -> ChurnDurations:
    """Time to churn (module docstring) for every customer, as known on ``cutoff``.

    Only transactions on or before the ``cutoff`` day are read. The risk period starts at the origin
    ``first purchase day + origin_days`` (0: the first purchase; > 0: a landmark, so that covariates
    from the first ``origin_days`` days are known at its start). Durations run from the origin to the
    churn date (``last purchase day + tau_days``, when on or before the cutoff) or to the cutoff.

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
    return ChurnDurations(
        table=table,
        tau_days=int(tau_days),
        cutoff=cut,
        origin_days=int(origin_days),
        n_customers=len(first),
        n_churned_by_origin=n_churn0,
        n_censored_by_origin=n_cens0,
        n_rows_after_cutoff=int((~keep).sum()),
    )


# ------------------------------------------------------------------------------------------------
# covariates known at the origin
# ------------------------------------------------------------------------------------------------


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


def campaigns_in_window(
    exposure: pd.DataFrame, first_purchase: pd.Series, window_days: int, name: str = "campaigns_first_window"
) -> pd.Series:
    """Number of distinct campaigns each customer received that ran during the first window.

    ``exposure``: one row per (customer, campaign) with ``customer_id``, ``campaign_id``,
    ``start_date``, ``end_date`` (:func:`retention_utils.models.prediction.campaign_exposure`). A campaign
    counts when its period ``[start_date, end_date]`` overlaps ``[first, first + window_days - 1]``
    (days), so only campaigns already running before the landmark count. Returns float64 counts on
    ``first_purchase``'s index (0 for customers without campaigns).
    """
    S.require_columns(exposure, [S.CUSTOMER_ID, "campaign_id", "start_date", "end_date"], table="campaign exposure")
    f = pd.to_datetime(first_purchase).dt.normalize().rename("_first")
    e = exposure.merge(f, left_on=S.CUSTOMER_ID, right_index=True, how="inner")
    lo = e["_first"]
    hi = lo + pd.Timedelta(days=int(window_days) - 1)
    hit = (pd.to_datetime(e["start_date"]).dt.normalize() <= hi) & (pd.to_datetime(e["end_date"]).dt.normalize() >= lo)
    n = e[hit].groupby(S.CUSTOMER_ID)["campaign_id"].nunique()
    return n.reindex(first_purchase.index, fill_value=0).astype("float64").rename(name)


def demographic_covariates(
    customers: pd.DataFrame | None, index: pd.Index, columns: Sequence[str] = DEMOGRAPHIC_BANDS
) -> pd.DataFrame:
    """Ordered demographic bands as numeric codes with missing indicators, on ``index``.

    Each ordered categorical column becomes its band code (0 = lowest band, float64). Customers
    without a row in ``customers`` get ``demographics_missing = 1`` and the median code of the
    covered customers (so the indicator carries the difference between covered and not covered);
    a band missing for a covered customer gets the same fill and a ``<column>_missing`` indicator,
    created only when that happens (identical indicators would be perfectly collinear).

    Returns a DataFrame on ``index`` (float64 columns). With ``customers=None`` (e.g. CDNOW) it has no
    columns. Raises :class:`retention_utils.schema.SchemaError` for absent columns, ``ValueError`` for
    a column that is not an ordered categorical.
    """
    out = pd.DataFrame(index=index)
    if customers is None:
        return out
    S.require_columns(customers, [S.CUSTOMER_ID, *columns], table="customers")
    cust = customers.drop_duplicates(S.CUSTOMER_ID).assign(**{S.CUSTOMER_ID: lambda d: d[S.CUSTOMER_ID].astype(str)})
    cust = cust.set_index(S.CUSTOMER_ID)
    covered = pd.Series(index.isin(cust.index), index=index)
    for col in columns:
        v = cust[col]
        if not (isinstance(v.dtype, pd.CategoricalDtype) and v.cat.ordered):
            raise ValueError(f"customers column {col!r} is not an ordered categorical (dtype {v.dtype})")
        code = pd.Series(np.where(v.cat.codes >= 0, v.cat.codes, np.nan), index=cust.index).reindex(index)
        known = code.dropna()
        fill = float(np.floor(known.median())) if len(known) else 0.0
        band_missing = covered & code.isna()
        out[col] = code.fillna(fill).astype("float64")
        if band_missing.any():
            out[f"{col}_missing"] = band_missing.astype("float64")
    out["demographics_missing"] = (~covered).astype("float64")
    return out


def band_labels(customers: pd.DataFrame | None, index: pd.Index, column: str, missing: str = "(no demographics)") -> pd.Series:
    """Demographic band of each customer on ``index`` as an ordered categorical (the bands' order, then
    ``missing`` for customers without demographics), for Kaplan-Meier curves by band."""
    if customers is None:
        return pd.Series(pd.Categorical([missing] * len(index), categories=[missing], ordered=True), index=index, name=column)
    S.require_columns(customers, [S.CUSTOMER_ID, column], table="customers")
    cust = customers.drop_duplicates(S.CUSTOMER_ID)
    col = cust[column]
    cats = [str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.dropna().astype(str).unique())
    v = pd.Series(col.astype(object).to_numpy(), index=cust[S.CUSTOMER_ID].astype(str).to_numpy())
    lab = v.reindex(index)
    lab = lab.where(lab.notna(), missing).astype(str)
    return pd.Series(pd.Categorical(lab.to_numpy(), categories=[*cats, missing], ordered=True), index=index, name=column)


# ------------------------------------------------------------------------------------------------
# covariate validation
# ------------------------------------------------------------------------------------------------


def _dependency(X: np.ndarray, j: int, basis: list[int], base: np.ndarray, names: Sequence[str]) -> str | None:
    """If column j lies in span(base, X[:, basis]), return a description; else None."""
    A = np.column_stack([base, X[:, basis]]) if basis else base
    y = X[:, j]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    scale = max(float(np.linalg.norm(y - y.mean())), 1e-300)
    if float(np.linalg.norm(resid)) <= 1e-8 * scale:
        c = coef[base.shape[1]:]
        parts = [f"{c[k]:+.4g}*{names[b]}" for k, b in enumerate(basis) if abs(c[k]) > 1e-8]
        return " ".join(parts) if parts else "(baseline only)"
    return None


def check_covariates(
    table: pd.DataFrame,
    covariates: Sequence[str],
    event_col: str | None = EVENT,
    strata: Sequence[str] | None = None,
) -> None:
    """Validate a covariate table before a Cox or AFT fit; raise one :class:`CovariateError` listing
    every problem and naming the columns.

    Checks, in order (``table`` is one row per customer):

    1. every covariate (and stratum) column exists and covariates are numeric or boolean;
    2. no missing or infinite values (the message names the customers);
    3. no constant column;
    4. no perfect collinearity: a column equal to a linear combination of the baseline (an intercept,
       plus one indicator per stratum when ``strata`` are given: Cox's baseline hazard absorbs them)
       and of earlier columns (relative residual <= 1e-8 after least squares); the message gives the
       combination;
    5. with ``event_col``: no separation, i.e. a column whose value at every event equals its minimum
       (or maximum) over all rows: its coefficient would run off to -inf (+inf) (monotone partial
       likelihood) and lifelines would stop with "convergence halted".

    Raises :class:`CovariateError` (attribute ``columns``); returns ``None`` when all is well.
    """
    problems: list[str] = []
    culprits: list[str] = []

    def fail(suffix: str = "") -> NoReturn:
        raise CovariateError("; ".join(problems) + suffix, culprits, dict(zip(culprits, problems, strict=True)))

    cols = list(covariates)
    strata = list(strata or [])
    missing = [c for c in [*cols, *strata, *([event_col] if event_col else [])] if c not in table.columns]
    if missing:
        raise CovariateError(f"covariate table: missing column(s) {missing}", missing)
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise CovariateError(f"covariate(s) listed twice: {dup}", dup)
    nonnum = [c for c in cols if not (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    for c in nonnum:
        problems.append(f"column {c!r} is not numeric (dtype {table[c].dtype}); encode it as numbers")
        culprits.append(c)
    if problems:
        fail()
    X = table[cols].astype("float64")
    for c in cols:
        bad = X[c].isna() | ~np.isfinite(X[c].to_numpy())
        if bad.any():
            problems.append(f"column {c!r} has missing or infinite values for {_name(table.index[bad])}")
            culprits.append(c)
    for c in strata:
        if table[c].isna().any():
            problems.append(f"stratum column {c!r} has missing values for {_name(table.index[table[c].isna()])}")
            culprits.append(c)
    if problems:
        fail()
    for c in cols:
        if X[c].nunique() <= 1:
            v = X[c].iloc[0] if len(X) else float("nan")
            problems.append(f"column {c!r} is constant (every value is {v:g}); drop it")
            culprits.append(c)
    if problems:
        fail()
    arr = X.to_numpy()
    sd = arr.std(axis=0)
    Z = (arr - arr.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    base = np.ones((len(Z), 1))
    if strata:
        key = table[strata].astype(str).agg("|".join, axis=1)
        base = pd.get_dummies(key).to_numpy(dtype="float64")
    basis: list[int] = []
    for j, c in enumerate(cols):
        dep = _dependency(Z, j, basis, base, cols)
        if dep is None:
            basis.append(j)
        else:
            where = " within strata " + str(strata) if strata else ""
            problems.append(f"column {c!r} is perfectly collinear{where}: standardised, it equals {dep} (+ baseline)")
            culprits.append(c)
    if problems:
        fail("; drop one column of each collinear set")
    if event_col is not None:
        ev = table[event_col].to_numpy() == 1
        if ev.any():
            for c in cols:
                x = X[c].to_numpy()
                at_events = x[ev]
                for side, ref in (("minimum", x.min()), ("maximum", x.max())):
                    if np.all(at_events == ref):
                        problems.append(
                            f"column {c!r}: every event has its {side} value {ref:g} (separation: the coefficient "
                            "diverges); drop or merge rare levels"
                        )
                        culprits.append(c)
    if problems:
        fail()


def screen_covariates(
    table: pd.DataFrame, candidates: Sequence[str], event_col: str | None = EVENT, strata: Sequence[str] | None = None
) -> tuple[list[str], pd.DataFrame]:
    """Candidate covariates minus those :func:`check_covariates` refuses, with the reasons.

    Repeats the check and drops every named column of each round (for a collinear set, the column
    that is a combination of earlier ones, so the earliest of the set stays). Returns ``(kept,
    dropped)``: ``kept`` in candidate order; ``dropped`` a DataFrame indexed by ``covariate`` with a
    ``reason`` column. Missing or duplicated columns still raise :class:`CovariateError`.
    """
    kept = list(candidates)
    dropped: list[tuple[str, str]] = []
    while kept:
        try:
            check_covariates(table, kept, event_col, strata)
            break
        except CovariateError as err:
            removable = [c for c in err.columns if c in kept and c in err.reasons]
            if not removable:
                raise
            for c in removable:
                kept.remove(c)
                dropped.append((c, err.reasons[c]))
    out = pd.DataFrame(dropped, columns=["covariate", "reason"]).set_index("covariate")
    return kept, out


# ------------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank
# ------------------------------------------------------------------------------------------------


def kaplan_meier(durations: Any, events: Any, label: str = "KM", alpha: float = 0.05):
    """A fitted ``lifelines.KaplanMeierFitter`` (Kaplan & Meier 1958; lifelines' exponential
    Greenwood confidence band at level ``1 - alpha``). Durations are checked first
    (:func:`check_durations`)."""
    from lifelines import KaplanMeierFitter

    index = durations.index if isinstance(durations, pd.Series) else None  # errors then name customer ids
    d = pd.Series(np.asarray(durations, dtype="float64"), index=index)
    e = pd.Series(np.asarray(events), index=d.index)
    check_durations(pd.DataFrame({DURATION: d, EVENT: e}))
    return KaplanMeierFitter(alpha=alpha, label=label).fit(d.to_numpy(), e.to_numpy(), label=label)


def km_at(kmf: Any, t: float) -> tuple[float, float, float]:
    """Kaplan-Meier survival at time ``t`` and its confidence band, read from the step function
    (the last step at or before ``t``): ``(survival, lower, upper)``."""
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    pos = int(np.searchsorted(sf.index.to_numpy(), t, side="right")) - 1
    if pos < 0:
        return 1.0, 1.0, 1.0
    return float(sf.iloc[pos]), float(ci.iloc[pos, 0]), float(ci.iloc[pos, 1])


def km_summary(kmf: Any, durations: Any, events: Any, horizon: float | None = None) -> dict[str, float]:
    """One row of numbers for a fitted Kaplan-Meier curve: ``customers``, ``churned``,
    ``median_days`` with ``median_lower``/``median_upper`` (NaN when the curve never reaches 0.5:
    the median is "not reached"), and with ``horizon`` the survival ``S_horizon`` and its band."""
    from lifelines.utils import median_survival_times

    med = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = (float(v) for v in ci.iloc[0, :2])
    fin = lambda v: v if np.isfinite(v) else float("nan")  # noqa: E731
    row = {
        "customers": int(len(np.asarray(durations))),
        "churned": int(np.asarray(events).sum()),
        "median_days": fin(med),
        "median_lower": fin(lo),
        "median_upper": fin(hi),
    }
    if horizon is not None:
        s, sl, su = km_at(kmf, horizon)
        row.update({"S_horizon": s, "S_lower": sl, "S_upper": su})
    return row


def km_by_group(
    table: pd.DataFrame,
    group: pd.Series,
    horizon: float | None = None,
    min_customers: int = 1,
    duration_col: str = DURATION,
    event_col: str = EVENT,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Kaplan-Meier curve per group.

    ``group``: a label per customer (index = ``table``'s); categorical groups keep their order, others
    are sorted. Groups with fewer than ``min_customers`` customers are skipped (no curve, no summary
    row); empty categories likewise. Returns ``(fitted, summary)``:
    ``fitted`` maps group label (str) to a ``KaplanMeierFitter``; ``summary`` has one row per group
    (index = label) with the columns of :func:`km_summary` plus ``share_churned``.
    """
    g = group.reindex(table.index)
    labels = list(g.cat.categories) if isinstance(g.dtype, pd.CategoricalDtype) else sorted(g.dropna().unique())
    fitted: dict[str, Any] = {}
    rows = []
    for lab in labels:
        sub = table[g == lab]
        if len(sub) < max(1, min_customers):
            continue
        kmf = kaplan_meier(sub[duration_col], sub[event_col], label=str(lab))
        fitted[str(lab)] = kmf
        row = km_summary(kmf, sub[duration_col], sub[event_col], horizon)
        row["share_churned"] = row["churned"] / row["customers"]
        rows.append({"group": str(lab), **row})
    summary = pd.DataFrame(rows).set_index("group")
    summary.index.name = group.name or "group"
    return fitted, summary


def logrank_by_group(
    table: pd.DataFrame, group: pd.Series, duration_col: str = DURATION, event_col: str = EVENT
) -> dict[str, float]:
    """Log-rank test that all groups share one survival curve (lifelines
    ``statistics.multivariate_logrank_test``; two groups give the ordinary log-rank test).

    Returns ``{"groups", "test_statistic", "degrees_of_freedom", "p_value"}``. Raises ``ValueError``
    with fewer than two non-empty groups.
    """
    from lifelines.statistics import multivariate_logrank_test

    g = group.reindex(table.index).astype(str)
    if g.nunique() < 2:
        raise ValueError(f"log-rank test needs at least two groups; {group.name!r} has {g.nunique()}")
    res = multivariate_logrank_test(table[duration_col], g, table[event_col])
    return {
        "groups": int(g.nunique()),
        "test_statistic": float(res.test_statistic),
        "degrees_of_freedom": int(res.degrees_of_freedom),
        "p_value": float(res.p_value),
    }


def plot_km(fitted: Mapping[str, Any], ax: Any = None, ci: bool = True, title: str = "", xlabel: str = "days"):
    """Survival curves with their confidence bands (lifelines ``plot_survival_function``) on one Axes;
    returns the Axes. ``fitted`` maps label to a fitted ``KaplanMeierFitter``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for kmf in fitted.values():
        kmf.plot_survival_function(ax=ax, ci_show=ci, ci_alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share not churned")
    ax.set_title(title)
    return ax


# ------------------------------------------------------------------------------------------------
# Cox PH, PH test and strata, Weibull AFT
# ------------------------------------------------------------------------------------------------


def _fit_quietly(fitter: Any, df: pd.DataFrame, name: str, covariates: Sequence[str], **kw: Any) -> Any:
    """Fit a lifelines model; lifelines' convergence warnings and errors become SurvivalFitError."""
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            return fitter.fit(df, **kw)
        except (ConvergenceError, ConvergenceWarning) as err:
            raise SurvivalFitError(
                f"{name}: lifelines did not converge with covariates {list(covariates)} although they passed "
                f"check_covariates ({str(err).splitlines()[0]}); try fewer covariates or a penalizer"
            ) from err


def fit_cox(
    table: pd.DataFrame,
    covariates: Sequence[str],
    strata: Sequence[str] | None = None,
    penalizer: float = 0.0,
    duration_col: str = DURATION,
    event_col: str = EVENT,
):
    """Cox proportional-hazards model (Cox 1972; lifelines ``CoxPHFitter``, Efron ties) of time to
    churn on ``covariates``, optionally stratified (one baseline hazard per stratum, no coefficient).

    Runs :func:`check_durations` and :func:`check_covariates` first. Returns the fitted
    ``CoxPHFitter`` (``summary`` has ``coef`` = log hazard ratio per unit, ``exp(coef)`` = hazard
    ratio: > 1 means churn sooner). Raises :class:`DurationError`, :class:`CovariateError`, or
    :class:`SurvivalFitError` if lifelines still fails to converge.
    """
    from lifelines import CoxPHFitter

    check_durations(table, duration_col, event_col)
    check_covariates(table, covariates, event_col, strata)
    cols = [*covariates, *(strata or []), duration_col, event_col]
    df = table[cols].astype({c: "float64" for c in covariates})
    cph = CoxPHFitter(penalizer=penalizer)
    return _fit_quietly(
        cph, df, "Cox PH", covariates, duration_col=duration_col, event_col=event_col, strata=list(strata) if strata else None
    )


def ph_test(cph: Any, table: pd.DataFrame, time_transform: str = "rank") -> pd.DataFrame:
    """Proportional-hazards test per covariate from scaled Schoenfeld residuals (Grambsch & Therneau
    1994; lifelines ``statistics.proportional_hazard_test``, the test behind ``check_assumptions``,
    returned as a table instead of printed).

    ``table`` is the data the model was fitted on. Returns a DataFrame indexed by covariate, sorted
    by p-value then name: ``test_statistic``, ``p_value``, ``minus_log2_p``. A small p-value means the
    covariate's effect changes over time.
    """
    from lifelines.statistics import proportional_hazard_test

    cols = [c for c in table.columns if c in set(cph.params_.index) | set(cph.strata or []) | {cph.duration_col, cph.event_col}]
    res = proportional_hazard_test(cph, table[cols], time_transform=time_transform)
    s = res.summary
    out = pd.DataFrame(
        {"test_statistic": s["test_statistic"].astype(float), "p_value": s["p"].astype(float)}, index=s.index.astype(str)
    )
    out["minus_log2_p"] = -np.log2(out["p_value"].clip(lower=1e-300))
    out.index.name = "covariate"
    return out.reset_index().sort_values(["p_value", "covariate"], kind="stable").set_index("covariate")


@dataclass(frozen=True)
class StrataPlan:
    """Covariates moved from the Cox coefficients into strata, with their bin edges.

    ``edges[c]`` are the inner cut points (between training values); the stratum of a value ``x`` is
    ``searchsorted(edges, x, side="right")``, so values beyond the training range fall in the end
    bins. ``covariates`` are those left as coefficients; ``strata`` the new ``<c>_stratum`` columns.
    """

    stratified: tuple[str, ...]
    edges: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()

    @property
    def strata(self) -> list[str]:
        return [f"{c}_stratum" for c in self.stratified]

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with an int64 ``<c>_stratum`` column per stratified covariate."""
        out = table.copy()
        for c in self.stratified:
            out[f"{c}_stratum"] = np.searchsorted(np.asarray(self.edges[c]), out[c].to_numpy(), side="right").astype("int64")
        return out


def plan_strata(
    ph: pd.DataFrame,
    table: pd.DataFrame,
    covariates: Sequence[str],
    alpha: float = 0.01,
    max_strata: int = 2,
    n_bins: int = 4,
) -> StrataPlan:
    """Act on a PH test: stratify on the (at most ``max_strata``) covariates with the smallest
    p-values below ``alpha``, binned into at most ``n_bins`` bins: each cut is the midpoint between two
    adjacent distinct training values whose share below is nearest a quantile level ``1/n_bins, ...``,
    so tied values never straddle a cut and heavy ties give fewer bins (a covariate with <= ``n_bins``
    distinct values keeps one stratum per value). This is
    the remedy lifelines' ``check_assumptions`` advises for a violating covariate ("bin the variable
    and stratify"). Returns a :class:`StrataPlan` (empty when nothing violates)."""
    viol = [c for c in ph.index if ph.loc[c, "p_value"] < alpha and c in covariates][:max_strata]
    edges: dict[str, tuple[float, ...]] = {}
    for c in viol:
        x = np.sort(table[c].to_numpy(dtype="float64"))
        uniq = np.unique(x)
        mids = (uniq[1:] + uniq[:-1]) / 2
        below = np.searchsorted(x, mids, side="left") / len(x)  # share of rows under each midpoint
        if len(uniq) <= n_bins:
            picks = set(range(len(mids)))
        else:
            picks = {int(np.argmin(np.abs(below - q))) for q in np.linspace(0, 1, n_bins + 1)[1:-1]}
        edges[c] = tuple(float(mids[k]) for k in sorted(picks))
    return StrataPlan(tuple(viol), edges, tuple(c for c in covariates if c not in viol))


def fit_weibull_aft(
    table: pd.DataFrame, covariates: Sequence[str], penalizer: float = 0.0, duration_col: str = DURATION, event_col: str = EVENT
):
    """Weibull accelerated-failure-time model (lifelines ``WeibullAFTFitter``): log time to churn is
    linear in the covariates; ``exp(coef)`` of the ``lambda_`` parameters is a time ratio (> 1 = churn
    later). Same checks and errors as :func:`fit_cox`. Returns the fitted model."""
    from lifelines import WeibullAFTFitter

    check_durations(table, duration_col, event_col)
    check_covariates(table, covariates, event_col)
    df = table[[*covariates, duration_col, event_col]].astype({c: "float64" for c in covariates})
    return _fit_quietly(WeibullAFTFitter(penalizer=penalizer), df, "Weibull AFT", covariates, duration_col=duration_col, event_col=event_col)


def survival_at(model: Any, table: pd.DataFrame, horizon: float, cox_method: str = "product_limit") -> pd.Series:
    """Predicted survival ``S(horizon | x)``: the probability of not having churned ``horizon`` days
    after the origin, per row of ``table``, for a fitted lifelines Cox (stratified or not) or
    parametric/AFT model. Returns a float Series on ``table``'s index (aligned by label: lifelines
    reorders a stratified model's predictions by stratum). Higher means longer expected survival.

    For a ``CoxPHFitter``, ``cox_method`` chooses the baseline:

    * ``"product_limit"`` (default): ``S(t | x) = prod_{t_j <= t} (1 - h0_j) ** exp((x - xbar) b)``,
      with ``h0_j`` lifelines' Breslow baseline-hazard increments (``baseline_hazard_``, per stratum).
      With ``b = 0`` this is exactly the Kaplan-Meier curve (tested), the product-limit idea of
      Kalbfleisch & Prentice (2002, sec. 4.3) in its first-order form;
    * ``"breslow"``: lifelines' ``predict_survival_function``, ``exp(-H0(t) exp((x - xbar) b))``. When
      a large share of the risk set churns on the same day (CDNOW: everybody who never returns churns
      exactly ``tau - window`` days after the landmark), ``exp(-h)`` is far above ``1 - h`` and these
      predictions overstate survival.

    Other models use lifelines' ``predict_survival_function``. Raises ``ValueError`` for a non-unique
    index, an unknown ``cox_method`` or a row with no prediction (a stratum unseen in training).
    """
    from lifelines import CoxPHFitter

    if not table.index.is_unique:
        raise ValueError("survival_at: the table's index (customer ids) must be unique")
    name = f"S_{horizon:g}"
    if isinstance(model, CoxPHFitter):
        if cox_method not in ("product_limit", "breslow"):
            raise ValueError(f"cox_method must be 'product_limit' or 'breslow', not {cox_method!r}")
        if cox_method == "product_limit":
            bh = model.baseline_hazard_
            inc = bh[bh.index <= float(horizon)].clip(upper=1 - 1e-12)
            log_s0 = np.log1p(-inc).sum(axis=0)  # one value per stratum column
            ph = model.predict_partial_hazard(table).reindex(table.index).to_numpy(dtype="float64")
            strata = list(model.strata or [])
            if strata:
                keys = table[strata].itertuples(index=False, name=None)
                keys = [k[0] if len(strata) == 1 else k for k in keys]
                lookup = {(c if not isinstance(c, tuple) else tuple(c)): float(v) for c, v in log_s0.items()}
                base = np.array([lookup.get(k, np.nan) for k in keys], dtype="float64")
            else:
                base = np.full(len(table), float(log_s0.iloc[0]))
            out = pd.Series(np.exp(ph * base), index=table.index, name=name)
            if out.isna().any():
                raise ValueError(f"survival_at: no prediction for {_name(table.index[out.isna()])} (unseen stratum?)")
            return out
    sf = model.predict_survival_function(table, times=[float(horizon)])
    out = pd.Series(sf.iloc[0].to_numpy(dtype="float64"), index=sf.columns).reindex(table.index)
    if out.isna().any():
        raise ValueError(f"survival_at: no prediction for {_name(table.index[out.isna()])} (unseen stratum?)")
    return out.rename(name)


# ------------------------------------------------------------------------------------------------
# scoring at a calendar cutoff: time from the cutoff to the next purchase
# ------------------------------------------------------------------------------------------------

#: event column of :func:`next_purchase_table`: 1 = the next purchase was observed in the follow-up
PURCHASED = "purchased"
#: covariates of :func:`next_purchase_table`, all known on the cutoff day
NEXT_PURCHASE_COVARIATES: tuple[str, ...] = (
    "log_days_since_last_purchase",
    "log_purchase_days",
    "log_revenue",
    "log_tenure_days",
)


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


def next_purchase_score(model: Any, table: pd.DataFrame) -> pd.Series:
    """Score for "buys within the next t days" from a Cox model of the time to the next purchase.

    ``model``: an unstratified lifelines ``CoxPHFitter`` fitted by :func:`fit_cox` on a
    :func:`next_purchase_table` at an earlier cutoff, with ``event_col="purchased"``; ``table``: a
    :func:`next_purchase_table` at the scoring cutoff (the model's covariates, known that day).

    The score is the partial hazard ``exp((x - xbar) b)`` of the next purchase (``xbar``: the training
    means; lifelines ``predict_partial_hazard``): **higher means the next purchase comes sooner**. In
    this model ``P(no purchase within t days of the cutoff | x) = S0(t) ** score`` (Cox 1972), so for
    every horizon ``t`` the score orders customers exactly as ``P(at least one purchase within t days)
    = 1 - S0(t) ** score``; its ROC-AUC against "bought within t" is the probability's, whether or not
    the training follow-up reached ``t`` (``S0`` is only estimated up to the follow-up; for the
    probability itself use :func:`survival_at`, ``1 - S(t | x)``, when it did).

    Returns a float64 Series named ``next_purchase_hazard`` on ``table``'s index. Raises
    ``ValueError`` for a stratified model (one baseline per stratum: the partial hazard no longer
    orders the probabilities across strata) or one whose event column is not ``purchased`` (a model
    of churn would point the other way).
    """
    from lifelines import CoxPHFitter

    if not isinstance(model, CoxPHFitter):
        raise ValueError(f"next_purchase_score needs a lifelines CoxPHFitter, not {type(model).__name__}")
    if model.strata:
        raise ValueError(f"next_purchase_score: the model is stratified on {list(model.strata)}; use survival_at")
    if model.event_col != PURCHASED:
        raise ValueError(
            f"next_purchase_score: the model's event column is {model.event_col!r}, not {PURCHASED!r}; fit it on "
            "next_purchase_table(...) with event_col='purchased' (a hazard of churn would have the opposite sign)"
        )
    if not table.index.is_unique:
        raise ValueError("next_purchase_score: the table's index (customer ids) must be unique")
    ph = model.predict_partial_hazard(table).reindex(table.index)
    return pd.Series(ph.to_numpy(dtype="float64"), index=table.index, name="next_purchase_hazard")


# ------------------------------------------------------------------------------------------------
# validation on held-out customers
# ------------------------------------------------------------------------------------------------


def split_customers(table: pd.DataFrame, test_share: float = 0.3, seed: int = 0, event_col: str = EVENT) -> tuple[pd.Index, pd.Index]:
    """Split customers (rows of ``table``) into train and test, seeded and stratified by the event flag
    (so both parts keep the churn share). Returns two sorted indexes; every customer is in exactly
    one. Raises ``ValueError`` for ``test_share`` outside (0, 1)."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), not {test_share!r}")
    idx = table.index.sort_values()
    y = table.loc[idx, event_col].to_numpy()
    strat = y if np.bincount(y.astype(int)).min() >= 2 else None
    tr, te = train_test_split(np.asarray(idx), test_size=test_share, random_state=seed, stratify=strat)
    return pd.Index(sorted(tr), name=idx.name), pd.Index(sorted(te), name=idx.name)


def concordance(durations: Any, events: Any, score: Any, higher_means: str) -> float:
    """Harrell's C-index (Harrell et al. 1996; lifelines ``utils.concordance_index``): the share of
    comparable pairs the score orders correctly (0.5 = random, 1 = perfect).

    lifelines expects a score where *higher means longer survival*; ``higher_means`` must say which
    way ``score`` points: ``"longer"`` (e.g. predicted survival or median time) or ``"shorter"``
    (e.g. a hazard or partial hazard, negated here). There is no default: the direction is the usual
    silent bug. Raises ``ValueError`` for another value.
    """
    from lifelines.utils import concordance_index

    if higher_means not in ("longer", "shorter"):
        raise ValueError(f"higher_means must be 'longer' or 'shorter', not {higher_means!r}")
    s = np.asarray(score, dtype="float64")
    return float(concordance_index(np.asarray(durations, dtype="float64"), s if higher_means == "longer" else -s, np.asarray(events)))


def calibration_at_horizon(
    durations: pd.Series, events: pd.Series, predicted: pd.Series, horizon: float, n_groups: int = 10
) -> pd.DataFrame:
    """Predicted against observed survival at ``horizon`` by risk group.

    Customers are ranked by predicted ``S(horizon | x)`` (ties broken by customer id) and cut into
    ``n_groups`` groups of near-equal size; group 1 has the lowest predicted survival (highest risk).
    Per group: ``customers``, ``churned_by_horizon`` (observed events at or before the horizon),
    ``predicted`` (mean predicted survival), ``observed`` (Kaplan-Meier survival at the horizon within
    the group, which handles censoring) with ``observed_lower``/``observed_upper`` (95 % band).
    Index ``risk_group`` (1..n_groups).
    """
    df = pd.DataFrame({"d": durations, "e": events, "p": predicted}).sort_index()
    order = df.sort_values("p", kind="stable").index
    grp = pd.Series(np.arange(len(order)) * n_groups // len(order) + 1, index=order)
    df["g"] = grp.reindex(df.index)
    rows = []
    for k, sub in df.groupby("g", sort=True):
        kmf = kaplan_meier(sub["d"], sub["e"], label=str(k))
        s, lo, hi = km_at(kmf, horizon)
        rows.append(
            {
                "risk_group": int(k),
                "customers": len(sub),
                "churned_by_horizon": int(((sub["d"] <= horizon) & (sub["e"] == 1)).sum()),
                "predicted": float(sub["p"].mean()),
                "observed": s,
                "observed_lower": lo,
                "observed_upper": hi,
            }
        )
    return pd.DataFrame(rows).set_index("risk_group")


def brier_score_at(durations: Any, events: Any, predicted: Any, horizon: float) -> float:
    """Brier score of predicted survival at ``horizon`` with inverse-probability-of-censoring weights
    (Graf, Schmoor, Sauerbrei & Schumacher 1999, eq. 6):

    ``BS(t) = mean_i[ S_i(t)^2 * 1(T_i <= t, d_i = 1) / G(T_i-) + (1 - S_i(t))^2 * 1(T_i > t) / G(t) ]``

    where ``G`` is the Kaplan-Meier estimate of the censoring distribution on the same customers
    (censorings at a time where events also occur count as after the events). Customers censored before
    ``t`` contribute 0 but raise the weights of the others. 0 is perfect; predicting 0.5 for everybody
    without censoring gives 0.25. Returns a float.
    """
    d = np.asarray(durations, dtype="float64")
    e = np.asarray(events).astype(int)
    p = np.asarray(predicted, dtype="float64")
    # KM of the censoring distribution: "events" are censorings
    times, inverse = np.unique(d, return_inverse=True)
    ds = np.sort(d)
    at_risk = (len(d) - np.searchsorted(ds, times, side="left")).astype("float64")
    cens = np.bincount(inverse, weights=(e == 0).astype(float), minlength=len(times))
    G = np.cumprod(1.0 - cens / at_risk)

    def G_at(t: np.ndarray, left: bool) -> np.ndarray:
        pos = np.searchsorted(times, t, side="left" if left else "right") - 1
        return np.where(pos >= 0, G[np.clip(pos, 0, None)], 1.0)

    died = (d <= horizon) & (e == 1)
    alive = d > horizon
    w_died = np.where(died, 1.0 / G_at(d, left=True), 0.0)
    g_t = float(G_at(np.array([horizon]), left=False)[0])
    w_alive = np.where(alive, 1.0 / g_t, 0.0) if g_t > 0 else np.zeros_like(d)
    return float(np.mean(p**2 * w_died + (1 - p) ** 2 * w_alive))
