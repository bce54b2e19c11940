"""Cleaning of canonical transactions, with a report that accounts for every row and every cent.

:func:`clean_transactions` applies the rules below in this order; a row removed by one rule is not seen
by the later ones, so each removed row has exactly one reason.

1. ``null_customer_id``: no customer id (cannot be attributed to anybody).
2. ``exact_duplicate``: a row identical in every column to an earlier row (the first is kept).
3. ``outside_window``: ``order_ts`` before ``start`` or after the inclusive ``end`` day (e.g. the
   one-day stub of 2018-01-01 at the end of The Complete Journey). Applied before returns are netted,
   so a return after the window never changes a sale inside it (no look-ahead).
4. Returns (a line with negative quantity or negative revenue) are netted against the *latest*
   earlier (or same-time) sale line of the same customer and product still open. A line with a
   negative quantity and a positive revenue (a refund recorded as a positive amount) stops the
   cleaning with an error saying what to do: its amount could not be netted and still add up.

   * ``cancellation`` / ``cancelled_sale``: the return has the sale's full quantity and amount (the
     80,995-unit cancellation of a sale minutes earlier): both lines are removed, their revenues
     cancel, and an order left with no lines vanishes;
   * ``return_netted``: a partial return (fewer units, or a partial refund of the amount) is removed
     and its amount moved into the sale, whose quantity and revenue are reduced (counted in
     ``report.changed``); a sale reduced to nothing is then removed as ``cancelled_sale``;
   * ``unmatched_return``: no open earlier sale with at least the returned quantity and amount (e.g.
     the sale predates the data). Removed; no sale is touched.

   Quantities are compared with a tolerance of 1e-9 (``0.1 + 0.2`` matches ``0.3``).
5. ``non_merchandise``: product's department in ``exclude_departments`` (e.g. FUEL): needs ``products``.
6. ``quantity_outlier``: quantity above ``max_quantity`` (CJ records fuel-like lines with
   quantities such as 12,000 that are not units).
7. ``non_positive``: quantity <= 0 or revenue <= 0 (lines of $0 or of 0 units: free items, weighed
   items without a count, coupons), when ``drop_non_positive`` is true; when false they are kept and
   counted in ``report.flags``.

The input table is not modified.

Also reported (no row is removed for them):

* ``customers_non_positive_net``: customers whose **net value after returns** is zero or negative, net
  value being the sum of the revenue of their lines that survive rules 1-3 (sales minus every return,
  matched or not, inside the window). ``customers_non_positive_net_kept`` of them still have a kept
  line: they stay in every analysis, valued on their kept purchases (the returns of sales before the
  data, removed as ``unmatched_return``, are not netted against anything); the others had every line
  cancelled or returned and leave the analysis (counted in ``customers_in - customers_kept``). With
  ``drop_non_positive: false`` a customer whose kept lines are all of zero value (CDNOW's $0
  records) is counted here and stays in with revenue 0: the Gamma-Gamma spend model leaves such
  customers out and counts them.
* ``normalised``: ids the loader normalised (``"17850.0"`` -> ``"17850"``, see
  :func:`retention_utils.schema.normalise_ids`), read from the input's ``attrs``.

Reconciliation: ``rows_in == rows_kept + sum(rows removed per reason)`` and the same for revenue.
Revenue is booked in integer micro-units (``round(revenue * 1e6)`` per line; a netted return's amount
is moved into its sale in those units), so the check is exact; totals above 9e12 currency units are
refused rather than overflowing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from . import cache as K

REASONS: dict[str, str] = {
    "null_customer_id": "no customer id",
    "exact_duplicate": "identical in every column to an earlier row",
    "outside_window": "order_ts outside the observation window",
    "cancellation": "return of a sale's full quantity and amount, removed with the sale",
    "cancelled_sale": "sale fully cancelled by later returns",
    "return_netted": "partial return, its amount moved into the sale it reduces",
    "unmatched_return": "return with no open earlier sale of at least its quantity and amount",
    "non_merchandise": "department excluded as non-merchandise",
    "quantity_outlier": "quantity above max_quantity",
    "non_positive": "quantity <= 0 or revenue <= 0",
}


#: the option a user changes when a reason removes too much (:meth:`CleaningReport.main_cause`)
CAUSE_OPTIONS: dict[str, str] = {
    "null_customer_id": "the customer_id mapping (columns: in the config's source)",
    "exact_duplicate": "cleaning: drop_exact_duplicates",
    "outside_window": "OBSERVATION_START and OBSERVATION_END under parameters: in the config",
    "cancellation": "cleaning: net_returns",
    "cancelled_sale": "cleaning: net_returns",
    "unmatched_return": "cleaning: net_returns and the sign of quantity/revenue",
    "non_merchandise": "cleaning: exclude_departments",
    "quantity_outlier": "cleaning: max_quantity",
    "non_positive": "cleaning: drop_non_positive, and fill: / the quantity and revenue mapping",
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
        for key in ("drop_exact_duplicates", "net_returns", "drop_non_positive"):
            if key in cfg and not isinstance(cfg[key], bool):
                raise ValueError(f"cleaning config: {key} must be true or false, not {cfg[key]!r}")
        if "exclude_departments" in cfg:
            depts = cfg["exclude_departments"] or ()
            if isinstance(depts, str) or not all(isinstance(d, str) for d in depts):
                raise ValueError(f"cleaning config: exclude_departments must be a list of names, e.g. [FUEL], not {depts!r}")
            cfg["exclude_departments"] = tuple(depts)
        mq = cfg.get("max_quantity")
        if mq is not None and (isinstance(mq, bool) or not isinstance(mq, int | float)):
            raise ValueError(f"cleaning config: max_quantity must be a number, not {mq!r}")
        return cls(**cfg)


MICRO = 1_000_000  # revenue book-keeping unit: 1e-6 currency units
_MAX_TOTAL = 9e12  # |total| in currency units that int64 micro-units hold


def _micro(revenue: pd.Series | np.ndarray) -> np.ndarray:
    r = np.asarray(revenue, dtype="float64")
    if np.abs(r).sum() > _MAX_TOTAL:
        raise ValueError(f"revenue totals above {_MAX_TOTAL:.0e} currency units cannot be booked exactly; check the revenue column's unit")
    return np.round(r * MICRO).astype(np.int64)


@dataclass
class CleaningReport:
    """What :func:`clean_transactions` removed or changed, and why.

    Attributes
    ----------
    rows_in, rows_kept : line counts.
    revenue_in_units, revenue_kept_units : revenue in integer micro-units (1e-6 currency; exact).
    removed : DataFrame indexed by reason (in rule order, every rule listed) with columns
        ``rows`` (int), ``revenue`` (float, currency), ``revenue_units`` (int), ``orders_lost``
        (orders that vanished, each credited to the first rule that removed one of its lines, int),
        ``description`` (str). A ``return_netted`` line books 0 revenue here: its amount moved into
        the sale it reduced.
    changed : DataFrame indexed by change (``reduced_by_return``) with ``rows`` and ``revenue`` (the
        total change of the kept sales' revenue, negative, float currency).
    flags : counts of kept rows worth knowing about (e.g. ``unknown_product_lines``).
    customers_in, customers_kept, orders_in, orders_kept : distinct counts.
    rules : the :class:`CleaningRules` applied; ``window`` the inclusive (start, end) days.
    customers_non_positive_net, customers_non_positive_net_kept : customers whose net value after
        returns is <= 0, and how many of them still have a kept line (module docstring).
    normalised : ``{column: {"ids": distinct ids, "rows": rows}}`` of ids written as integer-valued
        decimals and normalised at load (empty when none).
    row_reason : categorical Series aligned with the input's index: the reason each input row was
        removed, ``""`` for kept rows (``tx[report.row_reason == "non_merchandise"]`` shows them).
    """

    rows_in: int
    rows_kept: int
    revenue_in_units: int
    revenue_kept_units: int
    removed: pd.DataFrame
    changed: pd.DataFrame
    flags: dict[str, int]
    customers_in: int
    customers_kept: int
    orders_in: int
    orders_kept: int
    rules: CleaningRules
    window: tuple[pd.Timestamp | None, pd.Timestamp | None] = (None, None)
    row_reason: pd.Series | None = field(default=None, repr=False)
    customers_non_positive_net: int = 0
    customers_non_positive_net_kept: int = 0
    normalised: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def revenue_in(self) -> float:
        return self.revenue_in_units / MICRO

    @property
    def revenue_kept(self) -> float:
        return self.revenue_kept_units / MICRO

    def reconciles(self) -> bool:
        """True when rows and revenue (micro-units) add up exactly: in = kept + removed per reason."""
        rows_ok = self.rows_in == self.rows_kept + int(self.removed["rows"].sum())
        units_ok = self.revenue_in_units == self.revenue_kept_units + int(self.removed["revenue_units"].sum())
        return bool(rows_ok and units_ok)

    def to_frame(self) -> pd.DataFrame:
        """One table: one row per reason, ``kept``, ``input``; columns rows, share of rows, revenue,
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

    def main_cause(self) -> str:
        """What to change when cleaning removed most lines: the option behind the reason that removed
        the most rows (``outside_window`` -> the window parameters, a rule -> its ``cleaning:`` key)."""
        removed = self.removed["rows"]
        if removed.sum() == 0:
            return "nothing was removed"
        reason = str(removed.idxmax())
        option = CAUSE_OPTIONS.get(reason, "the data itself")
        return f"{reason} removed the most lines ({int(removed.max()):,}); check {option}"

    def summary(self) -> str:
        """A plain-text account (one line per reason that removed or changed anything)."""
        lines = [f"rows in {self.rows_in:,} -> kept {self.rows_kept:,}; revenue {self.revenue_in:,.2f} -> "
                 f"{self.revenue_kept:,.2f}; customers {self.customers_in:,} -> {self.customers_kept:,}; "
                 f"orders {self.orders_in:,} -> {self.orders_kept:,}"]
        for reason, r in self.removed.iterrows():
            if r["rows"]:
                lines.append(f"  - {reason}: {int(r['rows']):,} rows, {r['revenue']:,.2f} revenue ({r['description']})")
        for change, r in self.changed.iterrows():
            if r["rows"]:
                lines.append(f"  ~ {change}: {int(r['rows']):,} kept rows changed, revenue {r['revenue']:,.2f}")
        for k, v in self.flags.items():
            lines.append(f"  * kept, flagged {k}: {v:,}")
        for col, n in self.normalised.items():
            lines.append(f"  ~ {col} written as decimals ('17850.0' -> '17850'), normalised at load: "
                         f"{n['ids']:,} ids on {n['rows']:,} rows")
        if self.customers_non_positive_net:
            n, kept = self.customers_non_positive_net, self.customers_non_positive_net_kept
            lines.append(f"  * customers with net value <= 0 after returns: {n:,} ({n - kept:,} with no line kept leave "
                         f"the analysis; {kept:,} stay, valued on their kept lines)")
        lines.append(f"reconciles: {self.reconciles()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "CleaningReport(\n" + self.summary() + "\n)"


def _day_bound(value: S.DateLike | None, what: str) -> pd.Timestamp | None:
    return None if value is None else S.to_day(value, what)


_QTY_TOL = 1e-9


def _net_returns(
    tx: pd.DataFrame, alive: np.ndarray, units: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Net returns against sales (module docstring, rule 4).

    Returns ``(masks, quantity, units)``: boolean masks by reason (``cancellation``,
    ``cancelled_sale``, ``return_netted``, ``unmatched_return``) and the possibly reduced quantity
    and revenue micro-units of every row (``units`` of a netted return set to 0, its amount moved
    into the sale).
    """
    n = len(tx)
    qty = tx[S.QUANTITY].to_numpy(dtype="float64").copy()
    units = units.copy()
    rev = tx[S.REVENUE].to_numpy()
    negative = alive & ((qty < 0) | (rev < 0))
    masks = {k: np.zeros(n, bool) for k in ("cancellation", "cancelled_sale", "return_netted", "unmatched_return")}
    if not negative.any():
        return masks, qty, units
    cust = tx[S.CUSTOMER_ID].to_numpy()
    prod = tx[S.PRODUCT_ID].to_numpy()
    keys = pd.DataFrame({"c": cust, "p": prod})
    neg_keys = keys[negative].drop_duplicates().assign(_hit=True)
    cand = alive & keys.merge(neg_keys, how="left", on=["c", "p"])["_hit"].eq(True).to_numpy()
    idx = np.flatnonzero(cand)
    sub = pd.DataFrame({"pos": idx, "c": cust[idx], "p": prod[idx], "ts": tx[S.ORDER_TS].to_numpy()[idx],
                        "neg": negative[idx]})
    # sales before returns at the same instant; input position keeps the order otherwise stable
    sub = sub.sort_values(["c", "p", "ts", "neg", "pos"], kind="stable")
    original_qty = qty.copy()
    original_units = units.copy()
    open_sales: dict[tuple, list[int]] = {}
    for pos, c, p, is_neg in zip(sub["pos"], sub["c"], sub["p"], sub["neg"], strict=True):
        key = (c, p)
        if not is_neg:
            open_sales.setdefault(key, []).append(pos)
            continue
        rq, ru = abs(original_qty[pos]), abs(original_units[pos])
        stack = open_sales.get(key, [])
        # 1. an untouched sale with exactly this quantity and amount: cancel both
        full = [s for s in reversed(stack) if qty[s] == original_qty[s] and abs(qty[s] - rq) <= _QTY_TOL
                and units[s] == ru and units[s] == original_units[s]]
        if full:
            s = full[0]
            stack.remove(s)
            masks["cancellation"][pos] = masks["cancelled_sale"][s] = True
            continue
        # 2. the latest open sale with at least this quantity and amount: reduce it
        part = [s for s in reversed(stack) if qty[s] >= rq - _QTY_TOL and units[s] >= ru]
        if not part:
            masks["unmatched_return"][pos] = True
            continue
        s = part[0]
        masks["return_netted"][pos] = True
        units[s] -= ru
        units[pos] = 0
        if abs(qty[s] - rq) > _QTY_TOL or units[s] > 0:
            # fewer units returned, or the full quantity with a partial refund (a price adjustment:
            # the units stay bought)
            qty[s] = qty[s] - rq if abs(qty[s] - rq) > _QTY_TOL else qty[s]
        if units[s] == 0 and abs(qty[s] - rq) <= _QTY_TOL:
            stack.remove(s)
            masks["cancelled_sale"][s] = True
    return masks, qty, units


RETURN_SIGN_HINT = (
    "a return (negative quantity) must carry a negative or zero revenue: its refund is netted against "
    "a sale, and a positive amount cannot be. If your export records refunds as positive amounts, "
    "negate the revenue of the lines with a negative quantity before loading; or set cleaning: "
    "net_returns: false (nothing is netted: such lines are then removed as non_positive, or kept and "
    "flagged with drop_non_positive: false)"
)


def return_sign_error(n: int, examples: pd.DataFrame) -> ValueError:
    """The error for ``n`` return lines with a positive revenue (``examples``: the first of them), one
    text for the pandas path and the engines."""
    return ValueError(f"transactions: {n:,} return line(s) with a positive revenue; {RETURN_SIGN_HINT}. "
                      f"E.g.:\n{examples.head(S.EXAMPLE_ROWS).to_string()}")


def _check_return_signs(tx: pd.DataFrame, in_scope: np.ndarray) -> None:
    """:func:`return_sign_error` when a line netting would see (``in_scope``: a customer id, inside
    the window) has a negative quantity and a positive revenue."""
    bad = in_scope & (tx[S.QUANTITY].to_numpy() < 0) & (tx[S.REVENUE].to_numpy() > 0)
    if bad.any():
        raise return_sign_error(int(bad.sum()), tx.loc[bad])


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
        fresh ``RangeIndex`` (sales reduced by partial returns carry their reduced quantity and
        revenue); ``report`` is a :class:`CleaningReport` that reconciles.

    Raises
    ------
    ValueError : ``exclude_departments`` given without a products table with a ``department`` column;
        ``start`` after ``end``; revenue totals beyond 9e12; with ``net_returns``, a line inside the
        window with a customer id, a negative quantity and a positive revenue (a refund recorded as a
        positive amount: :data:`RETURN_SIGN_HINT` says what to do).
    SchemaError : ``tx`` lacks canonical columns; a window bound string is ambiguous.
    """
    if not isinstance(rules, CleaningRules):
        rules = CleaningRules.from_config(rules)
    S.require_columns(tx, S.REQUIRED_TRANSACTION_COLUMNS)
    lo, hi = _day_bound(start, "start"), _day_bound(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"observation window: start {lo.date()} is after end {hi.date()}")
    if rules.exclude_departments and (products is None or S.DEPARTMENT not in products):
        raise ValueError("cleaning rule exclude_departments needs a products table with a 'department' column")

    n = len(tx)
    # the reason of each row as a small code: 0 = kept, i = the i-th reason of REASONS (rule order)
    names = ["", *REASONS]
    code = {name: i for i, name in enumerate(names)}
    reason = np.zeros(n, dtype=np.int8)
    units_in = _micro(tx[S.REVENUE])
    units = units_in.copy()
    qty = tx[S.QUANTITY].to_numpy(dtype="float64")

    def assign(name: str, mask: np.ndarray) -> None:
        mask = mask & (reason == 0)
        reason[mask] = code[name]

    flags: dict[str, int] = {}
    assign("null_customer_id", tx[S.CUSTOMER_ID].isna().to_numpy())
    dup = tx.duplicated(keep="first").to_numpy()
    if rules.drop_exact_duplicates:
        assign("exact_duplicate", dup)
    else:
        flags["exact_duplicate_lines_kept"] = int((dup & (reason == 0)).sum())
    ts = tx[S.ORDER_TS]
    outside = np.zeros(n, bool)
    if lo is not None:
        outside |= (ts < lo).to_numpy()
    if hi is not None:
        outside |= (ts >= hi + pd.Timedelta(days=1)).to_numpy()
    assign("outside_window", outside)
    changed_rows = np.zeros(n, bool)
    if rules.net_returns:
        _check_return_signs(tx, ~(outside | tx[S.CUSTOMER_ID].isna().to_numpy()))
        masks, qty, units = _net_returns(tx, reason == 0, units)
        for name in ("cancellation", "cancelled_sale", "return_netted", "unmatched_return"):
            assign(name, masks[name])
        changed_rows = (units != units_in) & (reason == 0)

    department = None
    if products is not None and S.PRODUCT_ID in products:
        dept_map = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)
        known = tx[S.PRODUCT_ID].isin(dept_map.index).to_numpy()
        flags["unknown_product_lines"] = int((~known & (reason == 0)).sum())
        flags["unknown_product_ids"] = int(tx.loc[~known & (reason == 0), S.PRODUCT_ID].nunique())
        if S.DEPARTMENT in dept_map:
            department = tx[S.PRODUCT_ID].map(dept_map[S.DEPARTMENT]).to_numpy()
    if rules.exclude_departments:
        assign("non_merchandise", pd.Series(department).isin(rules.exclude_departments).to_numpy())
    if rules.max_quantity is not None:
        assign("quantity_outlier", qty > rules.max_quantity)
    non_pos = (qty <= 0) | (units <= 0)
    if rules.drop_non_positive:
        assign("non_positive", non_pos)
    else:
        flags["non_positive_lines_kept"] = int((non_pos & (reason == 0)).sum())

    keep = reason == 0
    changed_rows &= keep
    considered = ~np.isin(reason, [code["null_customer_id"], code["exact_duplicate"], code["outside_window"]])
    net = pd.Series(units_in[considered]).groupby(tx[S.CUSTOMER_ID].to_numpy()[considered], sort=False).sum()
    non_positive = net.index[net.to_numpy() <= 0]
    kept_customers = pd.unique(tx[S.CUSTOMER_ID].to_numpy()[keep])
    orders = tx[S.ORDER_ID].to_numpy()
    removed = pd.DataFrame(
        [(name, int((reason == code[name]).sum()), int(units[reason == code[name]].sum()), desc)
         for name, desc in REASONS.items()],
        columns=["reason", "rows", "revenue_units", "description"],
    ).set_index("reason")
    removed.insert(1, "revenue", removed["revenue_units"] / MICRO)
    removed.insert(3, "orders_lost", _lost_orders(len(REASONS), reason, orders, keep))
    delta = units[changed_rows] - units_in[changed_rows]
    changed = pd.DataFrame({"rows": [int(changed_rows.sum())], "revenue": [float(delta.sum()) / MICRO]},
                           index=pd.Index(["reduced_by_return"], name="change"))

    clean = tx.take(np.flatnonzero(keep))  # a new frame (take copies), not a view of tx
    clean.index = pd.RangeIndex(len(clean))
    # a return of 0 micro-units reduces its sale's quantity without changing any revenue: the
    # quantities are written whenever one of them changed (they were only when a revenue changed)
    if changed_rows.any() or (qty[keep] != clean[S.QUANTITY].to_numpy()).any():
        clean[S.QUANTITY] = qty[keep]
        clean[S.REVENUE] = np.where(changed_rows[keep], units[keep] / MICRO, clean[S.REVENUE].to_numpy())
    report = CleaningReport(
        rows_in=n,
        rows_kept=len(clean),
        revenue_in_units=int(units_in.sum()),
        revenue_kept_units=int(units[keep].sum()),
        removed=removed,
        changed=changed,
        flags=flags,
        customers_in=int(tx[S.CUSTOMER_ID].nunique()),
        customers_kept=int(clean[S.CUSTOMER_ID].nunique()),
        orders_in=int(tx[S.ORDER_ID].nunique()),
        orders_kept=int(clean[S.ORDER_ID].nunique()),
        rules=rules,
        window=(lo, hi),
        row_reason=pd.Series(pd.Categorical.from_codes(reason, categories=names), index=tx.index, name="reason"),
        customers_non_positive_net=len(non_positive),
        customers_non_positive_net_kept=int(pd.Index(non_positive).isin(kept_customers).sum()),
        normalised={k: dict(v) for k, v in (tx.attrs.get(S.NORMALISED_IDS) or {}).items()},
    )
    if not report.reconciles():  # pragma: no cover - a bug, not a data problem
        raise AssertionError("cleaning report does not reconcile:\n" + report.summary())
    return clean, report


def _lost_orders(n_reasons: int, reason: np.ndarray, orders: np.ndarray, keep: np.ndarray) -> list[int]:
    """Orders that vanished (no line kept), each credited to the first rule in rule order that removed
    one of its lines, so that ``sum(orders_lost) == orders_in - orders_kept``. ``reason``: each line's
    code (0 kept, ``i`` the ``i``-th of the ``n_reasons`` rules, in rule order)."""
    frame = pd.DataFrame({"order": orders, "code": reason})
    frame = frame[~keep & ~frame["order"].isin(pd.unique(orders[keep]))]
    first = frame.sort_values("code", kind="stable").drop_duplicates("order")
    counts = np.bincount(first["code"].to_numpy(), minlength=n_reasons + 1)
    return [int(c) for c in counts[1 : n_reasons + 1]]


def load_clean(
    dataset: str | dict[str, Any],
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    *,
    cache: bool = True,
) -> tuple[Any, CleaningReport]:
    """Load a dataset by config name (or YAML path / config dict) and clean its transactions with the
    config's ``cleaning:`` rules and the inclusive window ``[start, end]``.

    Returns ``(dataset, report)``: a :class:`retention_utils.data.datasets.Dataset` whose ``transactions``
    are the *clean* table (the raw table is not kept, to save memory; ``report.row_reason`` is aligned
    with it) and whose ``window`` is the :class:`~retention_utils.data.datasets.ObservationWindow`
    analysed, and the :class:`CleaningReport`.

    ``cache``: reuse the result of an earlier call with the same config, window, source files and code
    (:mod:`retention_utils.data.cache`; ``$RETENTION_CACHE_DIR=off`` or ``cache=False`` turns it off).
    A cached result is the same tables, and the warnings the first load gave are given again.
    """
    from .datasets import load_config

    cfg = dataset if isinstance(dataset, dict) else load_config(dataset)
    if not cache or K.cache_dir() is None:
        return _load_clean(cfg, start, end)
    ds, report, caught = K.cached("load_clean", _cache_parts(cfg, start, end),
                                  lambda: _load_clean_recorded(cfg, start, end), valid=_is_load_clean_result)
    for message, category in caught:
        warnings.warn(message, category, stacklevel=2)
    return ds, report


def _cache_parts(cfg: dict[str, Any], start: Any, end: Any) -> tuple[Any, ...]:
    return (cfg, _day_key(start, "start"), _day_key(end, "end"), K.source_fingerprint(cfg), K.code_fingerprint())


def remember_clean(
    cfg: dict[str, Any], start: Any, end: Any, ds: Any, report: CleaningReport, caught: list[tuple[str, type[Warning]]]
) -> None:
    """Store in the cache what ``load_clean(cfg, start, end)`` returns: ``ds`` (its transactions the clean
    table, its window set), ``report`` and the warnings ``(message, category)`` that loading and cleaning
    gave. The report runner's check (:func:`retention_utils.data.check.check_dataset`) loads and cleans
    the same data first, so the first notebook reads it back. Nothing with the cache off."""
    K.store("load_clean", _cache_parts(cfg, start, end), (ds, report, list(caught)))


def _day_key(value: Any, name: str) -> Any:
    """The window bound as the day the cleaning uses (``date``, text and ``Timestamp`` of one day share
    a cache entry); a value that is not a day keeps its own text (the load then says what is wrong)."""
    if value is None:
        return None
    try:
        return S.to_day(value, name).isoformat()
    except (TypeError, ValueError):
        return [type(value).__name__, str(value)]


def _is_load_clean_result(out: Any) -> bool:
    from .datasets import Dataset

    return (isinstance(out, tuple) and len(out) == 3 and isinstance(out[0], Dataset)
            and isinstance(out[1], CleaningReport) and isinstance(out[2], list))


def _load_clean_recorded(
    cfg: dict[str, Any], start: Any, end: Any
) -> tuple[Any, CleaningReport, list[tuple[str, type[Warning]]]]:
    """:func:`_load_clean` with the warnings it gave (given again on every cache hit)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds, report = _load_clean(cfg, start, end)
            error = None
        except Exception as err:  # noqa: BLE001 - raised again below, after its warnings
            error = err
    recorded = [(str(w.message), w.category) for w in caught]
    if error is not None:  # the warnings are often the clue to the error: give them before it
        for message, category in recorded:
            warnings.warn(message, category, stacklevel=3)
        raise error
    return ds, report, recorded


def _load_clean(cfg: dict[str, Any], start: Any, end: Any) -> tuple[Any, CleaningReport]:
    from .datasets import load_dataset

    ds = load_dataset(cfg)
    clean, report = clean_transactions(ds.transactions, ds.products, cfg.get("cleaning"), start, end)
    if clean.empty:
        ts = ds.transactions[S.ORDER_TS]
        raise ValueError(
            f"dataset {cfg.get('name')!r}: no line is left after cleaning (window {start} .. {end}; the data "
            f"covers {ts.min().date()} .. {ts.max().date()}); {report.main_cause()}:\n" + report.summary()
        )
    from .datasets import ObservationWindow

    ts = clean[S.ORDER_TS]
    ds.window = ObservationWindow(S.to_day(start, "start") if start is not None else ts.min().normalize(),
                                  S.to_day(end, "end") if end is not None else ts.max().normalize())
    ds.transactions = clean
    return ds, report
