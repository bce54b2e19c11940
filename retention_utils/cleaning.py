"""Cleaning of canonical transactions, with a report that accounts for every row and every cent.

:func:`clean_transactions` applies the rules below in this order; a row removed by one rule is not seen
by the later ones, so each removed row has exactly one reason.

1. ``null_customer_id``: no customer id (cannot be attributed to anybody).
2. ``exact_duplicate``: a row identical in every column to an earlier row (the first is kept).
3. ``cancellation`` / ``cancelled_sale``: returns netted against their original sale. A line with
   negative quantity or negative revenue is a cancellation; it is paired with the *latest* earlier (or
   same-time) unpaired sale line of the same customer and product with the same absolute quantity.
   Both lines are removed, so the pair nets to zero revenue, and an order left with no lines vanishes.
4. ``unmatched_return``: a cancellation with no such sale (e.g. the sale predates the data). Removed;
   the sales it might refer to are kept, since the log does not say which they are.
5. ``outside_window``: ``order_ts`` before ``start`` or after the inclusive ``end`` day (e.g. the
   one-day stub of 2018-01-01 at the end of The Complete Journey).
6. ``non_merchandise``: product's department in ``exclude_departments`` (e.g. FUEL): needs ``products``.
7. ``quantity_outlier``: quantity above ``max_quantity`` (CJ records fuel-like lines with
   quantities such as 12,000 that are not units).
8. ``non_positive``: quantity <= 0 or revenue <= 0 (lines of $0 or of 0 units: free items, weighed
   items without a count, coupons), when ``drop_non_positive`` is true; when false they are kept and
   counted in ``report.flags``.

Nothing is changed in place: the input table is not modified, kept rows keep their values.

Reconciliation: ``rows_in == rows_kept + sum(rows removed per reason)`` and the same for revenue.
Revenue is accounted in integer cents (``round(revenue * 100)`` per line), so the check is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from . import schema as S

REASONS: dict[str, str] = {
    "null_customer_id": "no customer id",
    "exact_duplicate": "identical in every column to an earlier row",
    "cancellation": "negative line netted against its original sale",
    "cancelled_sale": "sale cancelled by a later negative line",
    "unmatched_return": "negative line with no matching earlier sale",
    "outside_window": "order_ts outside the observation window",
    "non_merchandise": "department excluded as non-merchandise",
    "quantity_outlier": "quantity above max_quantity",
    "non_positive": "quantity <= 0 or revenue <= 0",
}


@dataclass(frozen=True)
class CleaningRules:
    """Rules of :func:`clean_transactions` (see the module docstring for their order).

    Attributes
    ----------
    drop_exact_duplicates : remove rows identical in every column to an earlier row.
    net_returns : pair cancellations with their original sales and remove both.
    drop_non_positive : remove lines with quantity <= 0 or revenue <= 0 (else keep and flag them).
    exclude_departments : department names treated as non-merchandise (needs a products table).
    max_quantity : lines with a larger quantity are removed as outliers; ``None`` keeps all.
    """

    drop_exact_duplicates: bool = True
    net_returns: bool = True
    drop_non_positive: bool = True
    exclude_departments: tuple[str, ...] = ()
    max_quantity: float | None = None

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None) -> CleaningRules:
        """Build from a dataset YAML's ``cleaning:`` block; unknown keys raise ``ValueError``."""
        cfg = dict(cfg or {})
        allowed = set(cls.__dataclass_fields__)
        unknown = set(cfg) - allowed
        if unknown:
            raise ValueError(f"cleaning config: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "exclude_departments" in cfg:
            cfg["exclude_departments"] = tuple(cfg["exclude_departments"] or ())
        return cls(**cfg)


def _cents(revenue: pd.Series | np.ndarray) -> np.ndarray:
    return np.round(np.asarray(revenue, dtype="float64") * 100.0).astype(np.int64)


@dataclass
class CleaningReport:
    """What :func:`clean_transactions` removed and why.

    Attributes
    ----------
    rows_in, rows_kept : line counts.
    revenue_in_cents, revenue_kept_cents : integer cents (exact).
    removed : DataFrame indexed by reason (in rule order, every rule listed) with columns
        ``rows`` (int), ``revenue`` (float, currency), ``revenue_cents`` (int), ``orders_lost``
        (orders that vanished because all their lines were removed for this reason, int),
        ``description`` (str).
    flags : counts of kept rows worth knowing about (e.g. ``unknown_product_lines``).
    customers_in, customers_kept, orders_in, orders_kept : distinct counts.
    rules : the :class:`CleaningRules` applied; ``window`` the inclusive (start, end) days.
    row_reason : categorical Series aligned with the input's index: the reason each input row was
        removed, ``""`` for kept rows (``tx[report.row_reason == "non_merchandise"]`` shows them).
    """

    rows_in: int
    rows_kept: int
    revenue_in_cents: int
    revenue_kept_cents: int
    removed: pd.DataFrame
    flags: dict[str, int]
    customers_in: int
    customers_kept: int
    orders_in: int
    orders_kept: int
    rules: CleaningRules
    window: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)
    row_reason: pd.Series | None = field(default=None, repr=False)

    @property
    def revenue_in(self) -> float:
        return self.revenue_in_cents / 100.0

    @property
    def revenue_kept(self) -> float:
        return self.revenue_kept_cents / 100.0

    def reconciles(self) -> bool:
        """True when rows and revenue (cents) add up exactly: in = kept + removed per reason."""
        rows_ok = self.rows_in == self.rows_kept + int(self.removed["rows"].sum())
        cents_ok = self.revenue_in_cents == self.revenue_kept_cents + int(self.removed["revenue_cents"].sum())
        return bool(rows_ok and cents_ok)

    def to_frame(self) -> pd.DataFrame:
        """One table: ``input``, one row per reason, ``kept``; columns rows, share of rows, revenue,
        share of revenue, orders lost. The per-reason rows plus ``kept`` add up to ``input``."""
        rows = self.removed[["rows", "revenue", "orders_lost"]].copy()
        rows.loc["kept"] = [self.rows_kept, self.revenue_kept, np.nan]
        rows.loc["input"] = [self.rows_in, self.revenue_in, np.nan]
        rows.insert(1, "rows_share", rows["rows"] / max(self.rows_in, 1))
        rows.insert(3, "revenue_share", rows["revenue"] / self.revenue_in if self.revenue_in else np.nan)
        rows["rows"] = rows["rows"].astype("int64")
        rows["orders_lost"] = rows["orders_lost"].astype("Int64")
        rows.index.name = "reason"
        return rows

    def summary(self) -> str:
        """A plain-text account (one line per reason that removed anything)."""
        lines = [f"rows in {self.rows_in:,} -> kept {self.rows_kept:,}; revenue {self.revenue_in:,.2f} -> "
                 f"{self.revenue_kept:,.2f}; customers {self.customers_in:,} -> {self.customers_kept:,}; "
                 f"orders {self.orders_in:,} -> {self.orders_kept:,}"]
        for reason, r in self.removed.iterrows():
            if r["rows"]:
                lines.append(f"  - {reason}: {int(r['rows']):,} rows, {r['revenue']:,.2f} revenue ({r['description']})")
        for k, v in self.flags.items():
            lines.append(f"  * kept, flagged {k}: {v:,}")
        lines.append(f"reconciles: {self.reconciles()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "CleaningReport(\n" + self.summary() + "\n)"


def _day_bound(value: date | datetime | str | pd.Timestamp | None) -> pd.Timestamp | None:
    if value is None:
        return None
    return pd.Timestamp(value).normalize()


def _net_returns(tx: pd.DataFrame, alive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair cancellations with sales; returns boolean masks (cancellation, cancelled_sale, unmatched)."""
    n = len(tx)
    qty = tx[S.QUANTITY].to_numpy()
    rev = tx[S.REVENUE].to_numpy()
    negative = alive & ((qty < 0) | (rev < 0))
    cancel = np.zeros(n, bool)
    sale = np.zeros(n, bool)
    unmatched = np.zeros(n, bool)
    if not negative.any():
        return cancel, sale, unmatched
    absq = np.abs(qty)
    key = pd.DataFrame(
        {"c": tx[S.CUSTOMER_ID].to_numpy(), "p": tx[S.PRODUCT_ID].to_numpy(), "q": absq}
    )
    neg_keys = key[negative].drop_duplicates()
    cand = alive & (key.merge(neg_keys.assign(_hit=True), how="left", on=["c", "p", "q"])["_hit"].eq(True).to_numpy())
    idx = np.flatnonzero(cand)
    sub = pd.DataFrame(
        {
            "pos": idx,
            "c": key["c"].to_numpy()[idx],
            "p": key["p"].to_numpy()[idx],
            "q": absq[idx],
            "ts": tx[S.ORDER_TS].to_numpy()[idx],
            "neg": negative[idx],
        }
    )
    # sales before cancellations at the same instant; position keeps the order otherwise stable
    sub = sub.sort_values(["c", "p", "q", "ts", "neg", "pos"], kind="stable")
    stacks: dict[tuple, list[int]] = {}
    for pos, c, p, q, is_neg in zip(sub["pos"], sub["c"], sub["p"], sub["q"], sub["neg"], strict=True):
        k = (c, p, q)
        if not is_neg:
            stacks.setdefault(k, []).append(pos)
        elif stacks.get(k):
            sale[stacks[k].pop()] = True
            cancel[pos] = True
        else:
            unmatched[pos] = True
    return cancel, sale, unmatched


def clean_transactions(
    tx: pd.DataFrame,
    products: pd.DataFrame | None = None,
    rules: CleaningRules | dict[str, Any] | None = None,
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules of the module docstring.

    Parameters
    ----------
    tx : canonical transactions (:func:`retention_utils.schema.validate_transactions` output).
    products : canonical products (``product_id`` + ``department``), needed when
        ``rules.exclude_departments`` is set; also used to count lines whose product is unknown.
    rules : :class:`CleaningRules` or a dict of its fields (a YAML ``cleaning:`` block).
    start, end : inclusive first and last day of the observation window; ``None`` = open.

    Returns
    -------
    (clean, report) : ``clean`` has the columns of ``tx``, the kept rows in their input order with a
        fresh ``RangeIndex``; ``report`` is a :class:`CleaningReport` that reconciles.

    Raises
    ------
    ValueError : ``exclude_departments`` given without a products table with a ``department`` column;
        ``start`` after ``end``.
    SchemaError : ``tx`` lacks canonical columns.
    """
    if not isinstance(rules, CleaningRules):
        rules = CleaningRules.from_config(rules)
    S.require_columns(tx, S.REQUIRED_TRANSACTION_COLUMNS)
    lo, hi = _day_bound(start), _day_bound(end)
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"observation window: start {lo.date()} is after end {hi.date()}")
    if rules.exclude_departments and (products is None or S.DEPARTMENT not in products):
        raise ValueError("cleaning rule exclude_departments needs a products table with a 'department' column")

    n = len(tx)
    reason = np.full(n, "", dtype=object)

    def assign(name: str, mask: np.ndarray) -> None:
        mask = mask & (reason == "")
        reason[mask] = name

    assign("null_customer_id", tx[S.CUSTOMER_ID].isna().to_numpy())
    flags: dict[str, int] = {}
    dup = tx.duplicated(keep="first").to_numpy()
    if rules.drop_exact_duplicates:
        assign("exact_duplicate", dup)
    else:
        flags["exact_duplicate_lines_kept"] = int((dup & (reason == "")).sum())
    if rules.net_returns:
        cancel, sale, unmatched = _net_returns(tx, reason == "")
        assign("cancellation", cancel)
        assign("cancelled_sale", sale)
        assign("unmatched_return", unmatched)
    ts = tx[S.ORDER_TS]
    outside = np.zeros(n, bool)
    if lo is not None:
        outside |= (ts < lo).to_numpy()
    if hi is not None:
        outside |= (ts >= hi + pd.Timedelta(days=1)).to_numpy()
    assign("outside_window", outside)

    department = None
    if products is not None and S.PRODUCT_ID in products:
        dept_map = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)
        known = tx[S.PRODUCT_ID].isin(dept_map.index).to_numpy()
        flags["unknown_product_lines"] = int((~known & (reason == "")).sum())
        flags["unknown_product_ids"] = int(tx.loc[~known & (reason == ""), S.PRODUCT_ID].nunique())
        if S.DEPARTMENT in dept_map:
            department = tx[S.PRODUCT_ID].map(dept_map[S.DEPARTMENT]).to_numpy()
    if rules.exclude_departments:
        assign("non_merchandise", pd.Series(department).isin(rules.exclude_departments).to_numpy())
    if rules.max_quantity is not None:
        assign("quantity_outlier", (tx[S.QUANTITY] > rules.max_quantity).to_numpy())
    non_pos = ((tx[S.QUANTITY] <= 0) | (tx[S.REVENUE] <= 0)).to_numpy()
    if rules.drop_non_positive:
        assign("non_positive", non_pos)
    else:
        flags["non_positive_lines_kept"] = int((non_pos & (reason == "")).sum())

    keep = reason == ""
    cents = _cents(tx[S.REVENUE])
    orders = tx[S.ORDER_ID].to_numpy()
    removed = pd.DataFrame(
        [(name, int((reason == name).sum()), int(cents[reason == name].sum()), desc) for name, desc in REASONS.items()],
        columns=["reason", "rows", "revenue_cents", "description"],
    ).set_index("reason")
    removed.insert(1, "revenue", removed["revenue_cents"] / 100.0)
    removed.insert(3, "orders_lost", _lost_orders(removed.index, reason, orders, keep))

    clean = tx.loc[keep].reset_index(drop=True)
    report = CleaningReport(
        rows_in=n,
        rows_kept=len(clean),
        revenue_in_cents=int(cents.sum()),
        revenue_kept_cents=int(_cents(clean[S.REVENUE]).sum()),
        removed=removed,
        flags=flags,
        customers_in=int(tx[S.CUSTOMER_ID].nunique()),
        customers_kept=int(clean[S.CUSTOMER_ID].nunique()),
        orders_in=int(tx[S.ORDER_ID].nunique()),
        orders_kept=int(clean[S.ORDER_ID].nunique()),
        rules=rules,
        window=(lo, hi),
        row_reason=pd.Series(pd.Categorical(reason, categories=["", *REASONS]), index=tx.index, name="reason"),
    )
    if not report.reconciles():  # pragma: no cover - a bug, not a data problem
        raise AssertionError("cleaning report does not reconcile:\n" + report.summary())
    return clean, report


def _lost_orders(reasons: pd.Index, reason: np.ndarray, orders: np.ndarray, keep: np.ndarray) -> list[int]:
    """Orders that vanished (no line kept), each credited to the first rule in rule order that removed
    one of its lines, so that ``sum(orders_lost) == orders_in - orders_kept``."""
    frame = pd.DataFrame({"order": orders, "reason": reason})
    frame = frame[~keep & ~frame["order"].isin(pd.unique(orders[keep]))]
    rank = {name: i for i, name in enumerate(reasons)}
    first = frame.assign(rank=frame["reason"].map(rank)).sort_values("rank", kind="stable").drop_duplicates("order")
    counts = first["reason"].value_counts()
    return [int(counts.get(r, 0)) for r in reasons]


def load_clean(
    dataset: str | dict[str, Any],
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
) -> tuple[Any, CleaningReport]:
    """Load a dataset by config name (or YAML path / config dict) and clean its transactions with the
    config's ``cleaning:`` rules and the inclusive window ``[start, end]``.

    Returns ``(dataset, report)``: a :class:`retention_utils.datasets.Dataset` whose ``transactions``
    are the *clean* table (the raw table is not kept, to save memory; ``report.row_reason`` is aligned
    with it) and the :class:`CleaningReport`.
    """
    from .datasets import load_config, load_dataset

    cfg = dataset if isinstance(dataset, dict) else load_config(dataset)
    ds = load_dataset(cfg)
    clean, report = clean_transactions(ds.transactions, ds.products, cfg.get("cleaning"), start, end)
    ds.transactions = clean
    return ds, report
