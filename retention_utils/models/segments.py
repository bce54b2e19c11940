"""Customer profiles: RFM scores and named segments, interest tags, value deciles, demographics.

Inputs are the customer summary of :mod:`retention_utils.tables.summary` and canonical transactions; every
output is indexed by ``customer_id`` (str) and sorted.

RFM scores (1-5)
----------------
Rule (mid-rank quintiles): for a value ``v`` held by ``e`` customers, with ``b`` customers strictly
below it and ``n`` customers in all, the mid-rank percentile is ``p = (b + e / 2) / n`` and the score is
``min(5, floor(5 * p) + 1)``. So

* equal values always get the same score, whatever the row order (the score depends only on the value
  and the distribution);
* heavy ties never crash (no bin edges are computed) and are never split across scores: a tie group
  takes the score of its middle, e.g. 600 of 1,000 customers with one order sit at ``p = 0.3`` and all
  get F = 2;
* a score may be unused when a tie group spans it (the F-scores above are 2, 4 and 5).

Recency is scored on its negative (more recent = higher R); frequency on the number of orders;
monetary on revenue.

Named segments
--------------
From R and FM = ``floor((F + M) / 2 + 1/2)`` (F and M averaged, halves rounded up), on the 5 x 5 grid
below, so every customer is in exactly one segment (a widely used RFM segment map, e.g. the
"RFM segments" grid popularised by Putler; "Lost" carved out of the bottom corner):

=========  ======  ======  ======  ======  ======
R \\ FM     1       2       3       4       5
=========  ======  ======  ======  ======  ======
5          New     PotL    PotL    Champ   Champ
4          Prom    PotL    PotL    Loyal   Loyal
3          Sleep   Sleep   NeedA   Loyal   Loyal
2          Hib     Hib     Risk    Risk    CantL
1          Lost    Hib     Risk    Risk    CantL
=========  ======  ======  ======  ======  ======

(Champions, Loyal customers, Potential loyalists, New customers, Promising, Need attention, About to
sleep, At risk, Can't lose them, Hibernating, Lost.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import schema as S
from ..privacy import MIN_CELL
from ..tables.summary import canonical_order

SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal customers",
    "Potential loyalists",
    "New customers",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)

_GRID = {  # (R, FM) -> segment; see the module docstring
    5: ["New customers", "Potential loyalists", "Potential loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential loyalists", "Potential loyalists", "Loyal customers", "Loyal customers"],
    3: ["About to sleep", "About to sleep", "Need attention", "Loyal customers", "Loyal customers"],
    2: ["Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"],
    1: ["Lost", "Hibernating", "At risk", "At risk", "Can't lose them"],
}


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1-5 by mid-rank quintiles (module docstring); same index as ``values``, dtype int64.

    Raises ``ValueError`` when ``values`` is empty or has missing values.
    """
    v = pd.Series(values, copy=False).astype("float64")
    if v.empty:
        raise ValueError("quintile_scores: no values")
    if v.isna().any():
        raise ValueError(f"quintile_scores: {int(v.isna().sum())} missing value(s) in {v.name!r}")
    x = v.to_numpy() if higher_is_better else -v.to_numpy()
    s = np.sort(x)
    below = np.searchsorted(s, x, side="left")
    equal = np.searchsorted(s, x, side="right") - below
    p = (below + equal / 2.0) / len(x)
    score = np.minimum(5, np.floor(5 * p).astype(np.int64) + 1)
    return pd.Series(score, index=v.index, name=v.name)


def rfm_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """R, F, M scores and the FM score from a segmentation summary.

    Parameters
    ----------
    summary : :func:`retention_utils.tables.summary.segmentation_summary` output (columns
        ``days_since_last_order``, ``n_orders``, ``revenue``), indexed by ``customer_id``.

    Returns
    -------
    DataFrame indexed like ``summary`` (sorted) with int64 columns ``R``, ``F``, ``M``, ``FM`` and a
    str column ``RFM`` (e.g. ``"545"``).
    """
    S.require_columns(summary, ["days_since_last_order", "n_orders", "revenue"], table="summary")
    summary = summary.sort_index()
    out = pd.DataFrame(
        {
            "R": quintile_scores(summary["days_since_last_order"], higher_is_better=False),
            "F": quintile_scores(summary["n_orders"]),
            "M": quintile_scores(summary["revenue"]),
        }
    )
    out["FM"] = np.floor((out["F"] + out["M"]) / 2 + 0.5).astype("int64")
    out["RFM"] = out["R"].astype(str) + out["F"].astype(str) + out["M"].astype(str)
    return out


def rfm_segment(scores: pd.DataFrame) -> pd.Series:
    """Named segment per customer from ``R`` and ``FM`` (module docstring grid): an ordered
    categorical over :data:`SEGMENTS`, never missing."""
    seg = [_GRID[int(r)][int(fm) - 1] for r, fm in zip(scores["R"], scores["FM"], strict=True)]
    return pd.Series(pd.Categorical(seg, categories=list(SEGMENTS), ordered=True), index=scores.index, name="segment")


def segment_table(summary: pd.DataFrame, segment: pd.Series) -> pd.DataFrame:
    """Per segment: customers, customer share, revenue, revenue share, mean days since last order,
    mean orders, mean revenue. Rows in :data:`SEGMENTS` order (empty segments kept with zeros/NaN).
    Shares sum to 1."""
    df = summary.join(segment.rename("segment"))
    g = df.groupby("segment", observed=False)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["revenue"].sum(),
            "mean_recency_days": g["days_since_last_order"].mean(),
            "mean_orders": g["n_orders"].mean(),
            "mean_revenue": g["revenue"].mean(),
        }
    )
    out.insert(1, "customer_share", out["customers"] / out["customers"].sum())
    out.insert(3, "revenue_share", out["revenue"] / out["revenue"].sum())
    return out


# ------------------------------------------------------------------------------------------------
# interest tags
# ------------------------------------------------------------------------------------------------

UNKNOWN = "(unknown product)"


def spend_shares(tx: pd.DataFrame, products: pd.DataFrame, column: str = S.DEPARTMENT) -> tuple[pd.DataFrame, int]:
    """Each customer's share of spend by product attribute ``column``.

    Returns ``(shares, n_unknown_lines)``: ``shares`` is customers x attribute values (float, rows sum
    to 1, sorted both ways), with lines whose product is missing from ``products`` (or has no value)
    under ``"(unknown product)"``; ``n_unknown_lines`` counts those lines.
    """
    S.require_columns(products, [S.PRODUCT_ID, column], table="products")
    attr = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[column]
    label = tx[S.PRODUCT_ID].map(attr)
    n_unknown = int(label.isna().sum())
    t = canonical_order(tx.assign(_attr=label.fillna(UNKNOWN)))
    spend = t.pivot_table(index=S.CUSTOMER_ID, columns="_attr", values=S.REVENUE, aggfunc="sum", fill_value=0.0)
    spend = spend.sort_index().sort_index(axis=1)
    spend.columns.name = column
    totals = spend.sum(axis=1)
    return spend.div(totals.where(totals > 0), axis=0).fillna(0.0), n_unknown


def population_shares(tx: pd.DataFrame, products: pd.DataFrame, column: str = S.DEPARTMENT) -> pd.Series:
    """Share of all revenue by attribute value (same labels as :func:`spend_shares`)."""
    attr = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[column]
    label = tx[S.PRODUCT_ID].map(attr).fillna(UNKNOWN)
    spend = canonical_order(tx.assign(_attr=label)).groupby("_attr")[S.REVENUE].sum().sort_index()
    spend.index.name = column
    return spend / spend.sum()


def tag_name(value: str) -> str:
    """``"FROZEN GROCERY"`` -> ``"frozen-grocery-heavy"``."""
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in str(value).lower()).split())
    return f"{slug}-heavy"


def interest_tags(
    shares: pd.DataFrame,
    population: pd.Series,
    min_lift: float = 2.0,
    min_share: float = 0.05,
    max_tags: int = 3,
) -> pd.DataFrame:
    """Interest tags: attribute values where a customer's spend share is well above the population's.

    A customer gets the tag of value ``d`` when ``share[c, d] / population[d] >= min_lift`` *and*
    ``share[c, d] >= min_share`` (the second rule keeps a one-off purchase in a tiny department from
    counting as an interest). At most ``max_tags`` tags per customer, highest lift first (ties by
    name). ``"(unknown product)"`` never becomes a tag.

    Returns a long DataFrame with columns ``customer_id``, ``value`` (attribute value), ``tag``
    (str, :func:`tag_name`), ``share``, ``lift`` (float), sorted by customer then rank.
    """
    pop = population.reindex(shares.columns)
    lift = shares.div(pop.where(pop > 0), axis=1)
    long = pd.DataFrame(
        {
            S.CUSTOMER_ID: np.repeat(shares.index.to_numpy(), shares.shape[1]),
            "value": np.tile(shares.columns.to_numpy(), shares.shape[0]),
            "share": shares.to_numpy().ravel(),
            "lift": lift.to_numpy().ravel(),
        }
    )
    keep = (long["lift"] >= min_lift) & (long["share"] >= min_share) & (long["value"] != UNKNOWN)
    long = long[keep].sort_values([S.CUSTOMER_ID, "lift", "value"], ascending=[True, False, True], kind="stable")
    long = long.groupby(S.CUSTOMER_ID, sort=False).head(max_tags)
    long.insert(2, "tag", long["value"].map(tag_name))
    return long.reset_index(drop=True)


def tags_per_customer(tags: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Tags joined with ``", "`` per customer (``""`` for customers without a tag), over ``index``."""
    joined = tags.groupby(S.CUSTOMER_ID, sort=True)["tag"].agg(", ".join)
    return joined.reindex(index, fill_value="").rename("interest_tags")


def top_values_by_group(
    shares: pd.DataFrame,
    group: pd.Series,
    population: pd.Series,
    n: int = 3,
    rank_by: str = "lift",
    min_share: float = 0.01,
) -> pd.DataFrame:
    """Top ``n`` attribute values per group.

    ``rank_by="share"``: by the group's mean spend share (the big departments win everywhere);
    ``rank_by="lift"``: by mean share / population share among values with a mean share of at least
    ``min_share`` (what the group buys *more of* than everybody). Ties by value name.
    Long DataFrame: ``group`` (named after ``group.name``), ``rank`` (1..n), ``value``, ``mean_share``,
    ``lift``. Raises ``ValueError`` for another ``rank_by``.
    """
    if rank_by not in {"lift", "share"}:
        raise ValueError(f"rank_by must be 'lift' or 'share', not {rank_by!r}")
    g = shares.join(group.rename("_group")).groupby("_group", observed=True).mean()
    pop = population.reindex(g.columns)
    rows = []
    for grp, mean_share in g.iterrows():
        t = pd.DataFrame({"value": mean_share.index, "mean_share": mean_share.to_numpy(),
                          "lift": (mean_share / pop.where(pop > 0)).to_numpy()})
        t = t[t["value"] != UNKNOWN]
        if rank_by == "lift":
            t = t[t["mean_share"] >= min_share]
        key = "lift" if rank_by == "lift" else "mean_share"
        t = t.sort_values([key, "value"], ascending=[False, True], kind="stable").head(n)
        for rank, r in enumerate(t.itertuples(index=False), 1):
            rows.append((grp, rank, r.value, r.mean_share, r.lift))
    return pd.DataFrame(rows, columns=[group.name or "group", "rank", "value", "mean_share", "lift"])


# ------------------------------------------------------------------------------------------------
# value
# ------------------------------------------------------------------------------------------------

DAYS_PER_MONTH = 30.4375


def value_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Revenue to date, average order value, orders per month of tenure and the value decile.

    ``orders_per_month = n_orders / ((tenure_days + 1) / 30.4375)``: tenure counts the first day, so a
    customer first seen on the last day has one day of tenure, not zero. ``value_decile`` 1 = the top
    10 % by revenue; customers are ranked by revenue descending, ties broken by ``customer_id``, and
    split into ten groups whose sizes differ by at most one.
    """
    S.require_columns(summary, ["revenue", "n_orders", "tenure_days", "average_order_value"], table="summary")
    out = summary[["revenue", "average_order_value", "n_orders", "tenure_days"]].copy()
    out["orders_per_month"] = out["n_orders"] / ((out["tenure_days"] + 1) / DAYS_PER_MONTH)
    order = out.reset_index().sort_values(["revenue", S.CUSTOMER_ID], ascending=[False, True], kind="stable")
    rank = np.arange(len(order))
    decile = pd.Series((rank * 10 // len(order)) + 1, index=order[S.CUSTOMER_ID].to_numpy())
    out["value_decile"] = decile.reindex(out.index).astype("int64")
    return out


def decile_table(values: pd.DataFrame) -> pd.DataFrame:
    """Per value decile: customers, revenue, revenue share, cumulative revenue share, mean revenue."""
    g = values.groupby("value_decile")
    out = pd.DataFrame({"customers": g.size(), "revenue": g["revenue"].sum(), "mean_revenue": g["revenue"].mean()})
    # with fewer than ten customers some deciles are empty: keep all ten rows (0 customers, NaN mean)
    out = out.reindex(pd.RangeIndex(1, 11, name="value_decile")).fillna({"customers": 0, "revenue": 0.0})
    out["customers"] = out["customers"].astype("int64")
    out.insert(2, "revenue_share", out["revenue"] / out["revenue"].sum())
    out.insert(3, "cumulative_revenue_share", out["revenue_share"].cumsum())
    return out


def lorenz_curve(revenue: pd.Series) -> pd.DataFrame:
    """Cumulative share of revenue against cumulative share of customers, customers sorted by revenue
    *descending* (the Pareto view: "the top x % bring y %"). Starts at (0, 0), ends at (1, 1).
    Columns ``customer_share``, ``revenue_share``."""
    r = np.sort(np.asarray(revenue, dtype="float64"))[::-1]
    cum = np.concatenate([[0.0], np.cumsum(r)]) / r.sum()
    x = np.arange(len(r) + 1) / len(r)
    return pd.DataFrame({"customer_share": x, "revenue_share": cum})


def gini(revenue: pd.Series) -> float:
    """Gini coefficient of revenue across customers (0 = equal, near 1 = concentrated); the standard
    formula ``sum((2i - n - 1) x_i) / (n sum x)`` over values sorted ascending."""
    x = np.sort(np.asarray(revenue, dtype="float64"))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * x.sum()))


# ------------------------------------------------------------------------------------------------
# demographics
# ------------------------------------------------------------------------------------------------


def demographics_coverage(index: pd.Index, customers: pd.DataFrame | None) -> pd.Series:
    """Boolean Series over ``index``: True where the customer has a row in ``customers``."""
    known = set(customers[S.CUSTOMER_ID]) if customers is not None else set()
    return pd.Series(index.isin(list(known)), index=index, name="has_demographics")


def mix_with_and_without(group: pd.Series, has: pd.Series) -> pd.DataFrame:
    """Share of each group among all customers, among those with demographics and those without,
    so a reader sees whether the covered customers are representative. Columns ``all``,
    ``with_demographics``, ``without_demographics`` (each sums to 1) and ``n_with``."""
    df = pd.DataFrame({"g": group, "has": has})
    out = pd.DataFrame(
        {
            "all": df["g"].value_counts(normalize=True, sort=False),
            "with_demographics": df.loc[df["has"], "g"].value_counts(normalize=True, sort=False),
            "without_demographics": df.loc[~df["has"], "g"].value_counts(normalize=True, sort=False),
            "n_with": df.loc[df["has"], "g"].value_counts(sort=False),
        }
    )
    if isinstance(group.dtype, pd.CategoricalDtype):
        out = out.reindex(group.cat.categories)
    out.index.name = group.name
    return out.fillna(0.0).astype({"n_with": "int64"})


def band_crosstab(group: pd.Series, customers: pd.DataFrame, column: str, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Mix of ``group`` within each band of a demographic ``column``: rows are the bands (ordered
    bands keep their order), columns the groups, each row sums to 1. Customers without demographics
    are left out here and counted by :func:`demographics_coverage`. A band with fewer than
    ``min_cell`` customers (:data:`retention_utils.privacy.MIN_CELL`) is a small cell: its row is NaN
    and its label says ``"(<min_cell)"``, so the band shows without its customers' mix;
    ``attrs["suppressed"]`` lists those bands."""
    S.require_columns(customers, [S.CUSTOMER_ID, column], table="customers")
    demo = customers.set_index(S.CUSTOMER_ID)[column]
    joined = pd.DataFrame({"g": group}).join(demo, how="inner")
    out = pd.crosstab(joined[column], joined["g"], normalize="index", dropna=False)
    sizes = joined[column].value_counts().reindex(out.index, fill_value=0)
    small = list(out.index[(sizes < min_cell).to_numpy()])
    if small:
        out.loc[small] = np.nan
        out.index = pd.Index([f"{b} (<{min_cell})" if b in small else b for b in out.index], name=out.index.name)
    out.columns.name = group.name
    out.attrs["suppressed"] = [str(b) for b in small]
    return out


def require_profiles(
    summary: pd.DataFrame,
    tx: pd.DataFrame,
    products: pd.DataFrame | None = None,
    level: str = S.DEPARTMENT,
    min_lift: float = 2.0,
    min_share: float = 0.05,
) -> None:
    """What the customer-profile notebook (02) needs, checked in its first analysis cell: at least two
    customers (RFM scores, segments and value deciles compare customers), and, when ``products`` has the
    attribute ``level`` (so that interest tags are computed), at least one customer whose spend share of
    some value is ``min_lift`` times the population's and at least ``min_share`` (:func:`interest_tags`),
    else the tags section has nothing to describe. Raises
    :class:`retention_utils.schema.InsufficientDataError` with one sentence."""
    n = len(summary)
    if n < 2:
        raise S.InsufficientDataError(
            f"customer profiles compare customers and need at least 2; the data has {n:,} customer(s)."
        )
    if products is not None and level in products:
        shares, _ = spend_shares(tx, products, level)
        tags = interest_tags(shares, population_shares(tx, products, level), min_lift=min_lift, min_share=min_share)
        if tags.empty:
            raise S.InsufficientDataError(
                f"interest tags need at least one customer whose spend share of a {level} is {min_lift:g} times the "
                f"population's (and at least {min_share:.0%} of their spend); none of the {n:,} customers has one "
                f"(lower TAG_MIN_LIFT, or set TAG_LEVEL to another product attribute)."
            )
