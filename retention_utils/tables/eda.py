"""Descriptive tables for the EDA notebook: overview, orders, basket sizes, inter-purchase times,
repeat-purchase rate, revenue over time and department mix. Inputs are canonical (cleaned)
transactions; outputs are sorted so that they print the same on every run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from .summary import canonical_order


def overview(tx: pd.DataFrame) -> pd.Series:
    """Headline counts: lines, customers, orders, products, first/last day, days covered, revenue,
    units. A Series indexed by those names (object dtype, for display)."""
    S.require_non_empty(tx)
    first, last = tx[S.ORDER_TS].min(), tx[S.ORDER_TS].max()
    return pd.Series(
        {
            "lines": len(tx),
            "customers": tx[S.CUSTOMER_ID].nunique(),
            "orders": tx[S.ORDER_ID].nunique(),
            "products": tx[S.PRODUCT_ID].nunique(),
            "first_day": first.date().isoformat(),
            "last_day": last.date().isoformat(),
            "days_covered": (last.normalize() - first.normalize()).days + 1,
            "revenue": round(float(canonical_order(tx)[S.REVENUE].sum()), 2),
            "units": round(float(tx[S.QUANTITY].sum()), 2),
        },
        dtype=object,
    )


def orders(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per order, indexed by ``order_id`` (sorted): ``customer_id``, ``order_ts``, ``lines``
    (int), ``distinct_products`` (int), ``units`` (float), ``revenue`` (float, currency)."""
    tx = canonical_order(tx)
    g = tx.groupby(S.ORDER_ID, sort=True)
    return pd.DataFrame(
        {
            S.CUSTOMER_ID: g[S.CUSTOMER_ID].first(),
            S.ORDER_TS: g[S.ORDER_TS].min(),
            "lines": g.size().astype("int64"),
            "distinct_products": g[S.PRODUCT_ID].nunique().astype("int64"),
            "units": g[S.QUANTITY].sum(),
            "revenue": g[S.REVENUE].sum(),
        }
    )


def inter_purchase_days(tx: pd.DataFrame) -> pd.Series:
    """Days between consecutive purchase days of the same customer (same-day orders merged), one
    value per repeat purchase day (int64; always >= 1). Index: ``customer_id``."""
    days = (
        tx[[S.CUSTOMER_ID]].assign(day=tx[S.ORDER_TS].dt.normalize()).drop_duplicates().sort_values([S.CUSTOMER_ID, "day"])
    )
    gap = days.groupby(S.CUSTOMER_ID)["day"].diff().dt.days
    out = gap.dropna().astype("int64")
    out.index = days.loc[out.index, S.CUSTOMER_ID].to_numpy()
    out.index.name = S.CUSTOMER_ID
    return out.rename("inter_purchase_days")


def repeat_purchase_rate(tx: pd.DataFrame, by: str = "orders") -> float:
    """Share of customers who bought more than once.

    ``by="orders"``: at least two distinct orders; ``by="days"``: at least two distinct purchase days
    (the BTYD sense, ``frequency > 0``). Raises ``ValueError`` for another ``by``.
    """
    S.require_non_empty(tx)
    if by == "orders":
        n = tx.groupby(S.CUSTOMER_ID)[S.ORDER_ID].nunique()
    elif by == "days":
        n = tx.assign(_d=tx[S.ORDER_TS].dt.normalize()).groupby(S.CUSTOMER_ID)["_d"].nunique()
    else:
        raise ValueError(f"by must be 'orders' or 'days', not {by!r}")
    return float((n >= 2).mean())


def activity_by_period(tx: pd.DataFrame, period: str = "W") -> pd.DataFrame:
    """Revenue, orders, active customers and new customers per calendar period.

    Index: period start (``datetime64[ns]``), every period between the first and last order, including
    empty ones (zeros). ``period`` is a pandas period alias (``"D"``, ``"W"``, ``"M"``). The column
    ``partial`` marks a first/last period only partly covered by the data's days.
    """
    tx = canonical_order(tx)
    p = tx[S.ORDER_TS].dt.to_period(period)
    first = tx.groupby(S.CUSTOMER_ID)[S.ORDER_TS].transform("min").dt.to_period(period)
    g = tx.groupby(p)
    out = pd.DataFrame(
        {
            "revenue": g[S.REVENUE].sum(),
            "orders": g[S.ORDER_ID].nunique(),
            "active_customers": g[S.CUSTOMER_ID].nunique(),
            "new_customers": tx[p == first].groupby(p[p == first])[S.CUSTOMER_ID].nunique(),
        }
    )
    full = pd.period_range(p.min(), p.max(), freq=p.dt.freq)
    out = out.reindex(full, fill_value=0).fillna(0)
    for c in ("orders", "active_customers", "new_customers"):
        out[c] = out[c].astype("int64")
    lo, hi = tx[S.ORDER_TS].min().normalize(), tx[S.ORDER_TS].max().normalize()
    out["partial"] = False
    out.loc[full[0], "partial"] = lo > full[0].start_time.normalize()
    out.loc[full[-1], "partial"] = bool(out.loc[full[-1], "partial"]) or hi < full[-1].end_time.normalize()
    out.index = full.start_time
    out.index.name = "period_start"
    return out


def department_mix(tx: pd.DataFrame, products: pd.DataFrame, column: str = S.DEPARTMENT) -> pd.DataFrame:
    """Revenue, lines and customers by product attribute ``column`` (e.g. department), sorted by
    revenue descending then name. Lines whose product is not in ``products`` are grouped under
    ``"(unknown product)"``, not dropped. Columns: revenue, revenue_share, lines, customers,
    customer_share (share of all customers who bought in it)."""
    S.require_columns(products, [S.PRODUCT_ID, column], table="products")
    attr = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[column]
    label = tx[S.PRODUCT_ID].map(attr).fillna("(unknown product)").rename(column)
    tx = tx.assign(**{column: label})
    tx = canonical_order(tx)
    g = tx.groupby(column)
    out = pd.DataFrame(
        {"revenue": g[S.REVENUE].sum(), "lines": g.size(), "customers": g[S.CUSTOMER_ID].nunique()}
    )
    out.insert(1, "revenue_share", out["revenue"] / out["revenue"].sum())
    out["customer_share"] = out["customers"] / tx[S.CUSTOMER_ID].nunique()
    out = out.reset_index().sort_values(["revenue", column], ascending=[False, True], kind="stable")
    return out.set_index(column)


def describe_distribution(values: pd.Series, percentiles: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)) -> pd.Series:
    """count, mean, std, min, the given percentiles and max of ``values`` (float Series)."""
    v = pd.Series(np.asarray(values, dtype="float64"))
    return v.describe(percentiles=list(percentiles))


def require_eda(tx: pd.DataFrame) -> None:
    """What the exploratory notebook (01) needs, checked in its first analysis cell: at least one
    complete calendar week of orders (the weekly revenue summary is taken over complete weeks) and at
    least one customer who bought on two different days (the time between purchases). Raises
    :class:`retention_utils.schema.InsufficientDataError` with one sentence saying what is missing and
    what the data has."""
    S.require_non_empty(tx)
    weeks = activity_by_period(tx, "W")
    gaps = inter_purchase_days(tx)
    first, last = tx[S.ORDER_TS].min().normalize(), tx[S.ORDER_TS].max().normalize()
    missing = []
    if not (~weeks["partial"]).any():
        missing.append("one complete calendar week of orders")
    if gaps.empty:
        missing.append("one customer who bought on two different days")
    if missing:
        raise S.InsufficientDataError(
            f"the exploratory analysis needs at least {' and '.join(missing)}; the data has "
            f"{tx[S.CUSTOMER_ID].nunique():,} customer(s) and {tx[S.ORDER_ID].nunique():,} order(s) from {first.date()} to "
            f"{last.date()} ({(last - first).days + 1:,} day(s)) and {len(gaps):,} repeat purchase day(s)."
        )
