"""Customer summary tables (segmentation and BTYD conventions) and the calibration/holdout split.

All functions take canonical (cleaned) transactions and return one row per customer indexed by
``customer_id`` (str), sorted. Results do not depend on the input row order: transactions are put in a
canonical order before any floating-point sum.

Two conventions, side by side in :func:`customer_summary`
--------------------------------------------------------
Segmentation (what an analyst reads; days are whole calendar days):

==========================  ==============  ====================================================
column                      dtype           meaning
==========================  ==============  ====================================================
first_order_ts              datetime64[ns]  first order
last_order_ts               datetime64[ns]  last order
n_orders                    int64           distinct ``order_id``
revenue                     float64         total revenue (currency)
average_order_value         float64         revenue / n_orders
days_since_last_order       int64           observation_end day - day of last order
tenure_days                 int64           observation_end day - day of first order
distinct_products           int64           distinct ``product_id`` bought (over all orders)
==========================  ==============  ====================================================

BTYD, buy-till-you-die (Fader, Hardie & Lee 2005; the convention of ``lifetimes`` and pymc-marketing):
orders on the same calendar day are merged into one purchase; the first purchase is not a repeat.

==========================  ==============  ====================================================
frequency                   int64           number of repeat purchase days (distinct days - 1)
recency                     float64         last purchase day - first purchase day, in ``time_unit``
T                           float64         observation_end day - first purchase day, in ``time_unit``
monetary_value              float64         mean revenue of the repeat purchase days; 0 if frequency 0
==========================  ==============  ====================================================

``time_unit`` is ``"days"`` or ``"weeks"`` (days / 7, unrounded: CDNOW's T = 38.86 weeks is 272 days).
``observation_end`` is the inclusive last observed day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DateLike, to_day

SEGMENTATION_COLUMNS = (
    "first_order_ts",
    "last_order_ts",
    "n_orders",
    "revenue",
    "average_order_value",
    "days_since_last_order",
    "tenure_days",
    "distinct_products",
)
BTYD_COLUMNS = ("frequency", "recency", "T", "monetary_value")

_unit = S.time_unit_days


def canonical_order(tx: pd.DataFrame) -> pd.DataFrame:
    """``tx`` sorted by customer, time, order, product, then revenue (stable): the order used before
    any aggregation, so that floating-point sums do not depend on the input row order."""
    cols = [c for c in (S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID, S.PRODUCT_ID, S.QUANTITY, S.REVENUE) if c in tx]
    return tx.sort_values(cols, kind="stable")


def _check(tx: pd.DataFrame, observation_end: DateLike | None) -> tuple[pd.DataFrame, pd.Timestamp]:
    S.require_columns(tx, (S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.REVENUE))
    S.require_non_empty(tx)
    if tx[S.CUSTOMER_ID].isna().any():
        raise S.SchemaError("transactions have null customer ids; clean them first (clean_transactions)")
    if not pd.api.types.is_datetime64_any_dtype(tx[S.ORDER_TS]):
        raise S.SchemaError(f"transactions: order_ts must be datetime64, not {tx[S.ORDER_TS].dtype}; parse it with "
                            "schema.parse_timestamps (or load through data.datasets.load_dataset)")
    if not pd.api.types.is_numeric_dtype(tx[S.REVENUE]) or tx[S.REVENUE].isna().any():
        bad = (tx[S.REVENUE].isna() | pd.to_numeric(tx[S.REVENUE], errors="coerce").isna()).to_numpy()
        raise S.SchemaError("transactions: revenue must be numbers without missing values (a missing amount would "
                            "count as 0); clean them first (clean_transactions, fill: in a dataset config): "
                            + S._examples(tx, bad, S.REVENUE))
    last_day = tx[S.ORDER_TS].max().normalize()
    end = last_day if observation_end is None else to_day(observation_end, "observation_end")
    late = tx[S.ORDER_TS] >= end + pd.Timedelta(days=1)
    if late.any():
        raise ValueError(
            f"{int(late.sum()):,} transaction(s) after observation_end {end.date()}; "
            "use calibration_holdout_split() or clean with an observation window: "
            + S._examples(tx, late.to_numpy(), S.ORDER_TS)
        )
    return canonical_order(tx), end


def segmentation_summary(tx: pd.DataFrame, observation_end: DateLike | None = None) -> pd.DataFrame:
    """Per-customer first/last order, orders, revenue, AOV, days since last order, tenure and distinct
    products (an order-level log with one pseudo-product gives 1 for everybody).

    Columns and dtypes: see the module docstring. ``observation_end`` defaults to the day of the last
    transaction. Raises ``ValueError`` if any transaction falls after ``observation_end``.
    """
    tx, end = _check(tx, observation_end)
    g = tx.groupby(S.CUSTOMER_ID, sort=True)
    out = pd.DataFrame(
        {
            "first_order_ts": g[S.ORDER_TS].min(),
            "last_order_ts": g[S.ORDER_TS].max(),
            "n_orders": g[S.ORDER_ID].nunique().astype("int64"),
            "revenue": g[S.REVENUE].sum(),
        }
    )
    out["average_order_value"] = out["revenue"] / out["n_orders"]
    out["days_since_last_order"] = (end - out["last_order_ts"].dt.normalize()).dt.days.astype("int64")
    out["tenure_days"] = (end - out["first_order_ts"].dt.normalize()).dt.days.astype("int64")
    out["distinct_products"] = g[S.PRODUCT_ID].nunique().astype("int64") if S.PRODUCT_ID in tx else 1
    out.index.name = S.CUSTOMER_ID
    return out


def _daily(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and purchase day: columns customer_id, day, revenue (sorted)."""
    day = tx[S.ORDER_TS].dt.normalize().rename("day")
    return tx.groupby([tx[S.CUSTOMER_ID], day], sort=True)[S.REVENUE].sum().reset_index()


def btyd_summary(
    tx: pd.DataFrame, observation_end: DateLike | None = None, time_unit: str = "days"
) -> pd.DataFrame:
    """Per-customer ``frequency``, ``recency``, ``T``, ``monetary_value`` (BTYD convention).

    Same-day orders are merged into one purchase. See the module docstring for the definitions.
    Source: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science 24(2);
    the same convention as ``lifetimes.utils.summary_data_from_transaction_data(freq="D")``.

    Raises ``ValueError`` for an unknown ``time_unit`` or transactions after ``observation_end``.
    """
    unit = _unit(time_unit)
    tx, end = _check(tx, observation_end)
    daily = _daily(tx)
    g = daily.groupby(S.CUSTOMER_ID, sort=True)
    # rows are sorted by day within customer: first() is the first purchase day's revenue
    return btyd_from_aggregates(g["day"].min(), g["day"].max(), g.size(), g[S.REVENUE].sum(), g[S.REVENUE].first(),
                                end, unit)


def add_holdout_columns(summary: pd.DataFrame, holdout_days: pd.Series, holdout_revenue: pd.Series,
                        cutoff: pd.Timestamp, holdout_end: pd.Timestamp, unit: float) -> None:
    """Add the holdout columns of :func:`calibration_holdout_split` to ``summary`` in place, from the
    purchase days (int) and revenue per customer in the holdout period (Series indexed by customer;
    customers absent there get 0): ``frequency_holdout`` (purchase days), ``revenue_holdout``,
    ``monetary_value_holdout`` (mean revenue per purchase day, 0 without one) and ``duration_holdout``
    (days from ``cutoff`` to ``holdout_end`` inclusive, in units of ``unit`` days). The one definition,
    shared by the pandas path and the engines."""
    freq_h = holdout_days.reindex(summary.index, fill_value=0).astype("int64")
    rev_h = holdout_revenue.reindex(summary.index, fill_value=0.0).astype("float64")
    summary["frequency_holdout"] = freq_h
    summary["revenue_holdout"] = rev_h
    summary["monetary_value_holdout"] = np.where(freq_h > 0, rev_h / freq_h.where(freq_h > 0, 1), 0.0)
    summary["duration_holdout"] = ((holdout_end - cutoff).days + 1) / unit


def btyd_from_aggregates(first_day: pd.Series, last_day: pd.Series, n_days: pd.Series, revenue: pd.Series,
                         first_day_revenue: pd.Series, end: pd.Timestamp, unit: float) -> pd.DataFrame:
    """The BTYD columns (:data:`BTYD_COLUMNS`) from per-customer aggregates of purchase days: the one
    place their definitions live, shared by :func:`btyd_summary` and the engines
    (:mod:`retention_utils.engines.tables`).

    Inputs are Series on the same index (``customer_id``): ``first_day``/``last_day`` (datetime64,
    midnight), ``n_days`` (distinct purchase days, int), ``revenue`` (all days) and
    ``first_day_revenue`` (the first purchase day's revenue), in currency; ``end`` the inclusive last
    day; ``unit`` days per time unit (:func:`retention_utils.schema.time_unit_days`).
    ``frequency = n_days - 1``, ``recency = last - first``, ``T = end - first`` (in units),
    ``monetary_value`` = mean revenue of the repeat days, 0 without repeat (Fader, Hardie & Lee 2005).
    """
    frequency = (n_days - 1).astype("int64")
    repeat_rev = revenue.astype("float64") - first_day_revenue.astype("float64")
    monetary = np.where(frequency > 0, repeat_rev / frequency.where(frequency > 0, 1), 0.0)
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last_day - first_day).dt.days / unit,
            "T": (end - first_day).dt.days / unit,
            "monetary_value": monetary.astype("float64"),
        },
        index=frequency.index,
    )
    out.index.name = S.CUSTOMER_ID
    return out


def customer_summary(
    tx: pd.DataFrame, observation_end: DateLike | None = None, time_unit: str = "days"
) -> pd.DataFrame:
    """Both conventions in one table: :data:`SEGMENTATION_COLUMNS` then :data:`BTYD_COLUMNS`.

    Index ``customer_id`` (str), sorted; one row per customer with at least one transaction up to
    ``observation_end`` (inclusive day; default: the last transaction's day).
    """
    seg = segmentation_summary(tx, observation_end)
    btyd = btyd_summary(tx, observation_end, time_unit)
    return seg.join(btyd, how="inner")


@dataclass
class CalibrationHoldout:
    """Result of :func:`calibration_holdout_split`.

    Attributes
    ----------
    summary : per-customer table indexed by ``customer_id``: the calibration-period
        :func:`customer_summary` columns, then ``frequency_holdout`` (int, purchase days in the holdout),
        ``revenue_holdout`` (float), ``monetary_value_holdout`` (mean revenue per holdout purchase day, 0
        if none), ``duration_holdout`` (holdout length in ``time_unit``, the same for everybody).
    cutoff : first day of the holdout; calibration is everything strictly before it.
    calibration_end : ``cutoff - 1 day``, the inclusive last calibration day (the BTYD ``T`` reference).
    holdout_end : inclusive last holdout day.
    n_new_in_holdout : customers whose first purchase is in the holdout: excluded, counted here.
    n_after_holdout_rows : transactions after ``holdout_end``: ignored, counted here.
    """

    summary: pd.DataFrame
    cutoff: pd.Timestamp
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    time_unit: str
    n_new_in_holdout: int
    n_after_holdout_rows: int


def calibration_holdout_split(
    tx: pd.DataFrame,
    cutoff: DateLike,
    holdout_end: DateLike | None = None,
    time_unit: str = "days",
) -> CalibrationHoldout:
    """Split at one global cutoff: features from strictly before ``cutoff``, outcomes from
    ``[cutoff, holdout_end]`` (inclusive days).

    Every calibration column is computed from calibration transactions only (``T`` and recency are
    measured to ``calibration_end = cutoff - 1 day``), so nothing at or after the cutoff leaks in.
    Customers first seen at or after the cutoff are excluded and counted (``n_new_in_holdout``).

    Example (CDNOW, Fader, Hardie & Lee 2005): ``cutoff="1997-10-01"``, ``holdout_end="1998-06-30"``,
    ``time_unit="weeks"`` gives the weeks 1-39 calibration and weeks 40-78 holdout.

    Raises ``ValueError`` when no transaction is before the cutoff, ``holdout_end < cutoff`` or
    ``holdout_end`` is after the last transaction (unobserved days would look like inactivity);
    ``SchemaError`` for null customer ids or an ambiguous date string.
    """
    unit = _unit(time_unit)
    S.require_columns(tx, (S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.REVENUE))
    S.require_non_empty(tx)
    if tx[S.CUSTOMER_ID].isna().any():
        raise S.SchemaError("transactions have null customer ids; clean them first (clean_transactions)")
    cut = to_day(cutoff, "cutoff")
    last_day = tx[S.ORDER_TS].max().normalize()
    end = last_day if holdout_end is None else to_day(holdout_end, "holdout_end")
    if end < cut:
        raise ValueError(f"holdout_end {end.date()} is before the cutoff {cut.date()}")
    if end > last_day:
        raise ValueError(
            f"holdout_end {end.date()} is after the last transaction ({last_day.date()}): the days in between are "
            "not observed, and every customer would look inactive in them. Use holdout_end <= the data's last day."
        )
    ts = tx[S.ORDER_TS]
    cal = tx[ts < cut]
    if cal.empty:
        raise ValueError(f"no transactions before the cutoff {cut.date()}")
    after = ts >= end + pd.Timedelta(days=1)
    hold = tx[(ts >= cut) & ~after]
    summary = customer_summary(cal, cut - pd.Timedelta(days=1), time_unit)
    new = set(hold[S.CUSTOMER_ID].unique()) - set(summary.index)
    hold = canonical_order(hold[hold[S.CUSTOMER_ID].isin(summary.index)])
    hd = _daily(hold).groupby(S.CUSTOMER_ID, sort=True)
    add_holdout_columns(summary, hd.size(), hd[S.REVENUE].sum(), cut, end, unit)
    return CalibrationHoldout(
        summary=summary,
        cutoff=cut,
        calibration_end=cut - pd.Timedelta(days=1),
        holdout_end=end,
        time_unit=time_unit,
        n_new_in_holdout=len(new),
        n_after_holdout_rows=int(after.sum()),
    )
