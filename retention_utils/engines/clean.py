"""Validation and cleaning of a transaction log on an engine, with the reconciled report.

The rules, their order and the report are those of :func:`retention_utils.data.cleaning.clean_transactions`
(read its module docstring first); this module computes the same result without holding the lines in
memory. How each rule is evaluated at scale:

* ``null_customer_id``, ``outside_window``, ``non_merchandise``, ``quantity_outlier``,
  ``non_positive``: row-wise expressions. The products table is not joined to the lines: one pass
  over the lines' product ids finds the unlisted ones, and each line is looked up in two small
  tables, the unlisted ids and the excluded departments' ids (:class:`.products.ProductLists`).
* ``exact_duplicate``: identical rows share one 64-bit hash of their order, time, product, quantity
  and revenue. One count of that hash over every line keeps the hashes with several lines (few:
  duplicates, and the rare collisions), and their lines are looked up. Only those candidate lines
  are compared on every source column (null-safe; the first in input order is kept, as
  ``DataFrame.duplicated``), so a collision never makes a duplicate. A duplicate has its first
  copy's reason, so the groups are corrected by moving it to ``exact_duplicate``. At 100 M lines the
  count takes about 11 s on two DuckDB threads within the 3 GB limit (with each hash's lowest and
  highest position kept as well, its table spilled 2 GB to disk: 18 s).
* Returns: the (customer, product) pairs with a return are few. Their alive lines are gathered; pairs
  with exactly one return are netted by a window query that follows the pandas algorithm step by step
  (full cancellation of the latest identical sale, else a reduction of the latest sale with at least
  the returned quantity and amount, else unmatched); pairs with several returns, whose outcome
  depends on the order the returns consume the sales, are pulled to pandas and netted by the very
  function the pandas path uses (``cleaning._net_returns``), lines ordered by input position.
* The report comes from one aggregation of the lines (the returned pairs' lines with their netted
  reasons among them) into (order, day, reason, customer) groups, kept by the engine (DuckDB
  temporary table / persisted Spark DataFrame) together with the few correction rows that move
  exact duplicates, as a union that every reader sums; the customer-level tables of :mod:`.tables`
  start from the same groups.

Revenue is booked in integer micro-units with round-half-to-even (``numpy.round``), so the report's
rows and revenue units equal the pandas report exactly.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from .. import schema as S
from ..data import cleaning as C
from .backend import POS, Engine, canonical_lines, decimal_id_counts, frame_ready
from .products import ProductLists, product_flags, product_lists

log = logging.getLogger("retention_utils.engines")

DAY = "_day"
REASON = "reason"
_TOL = C._QTY_TOL
_KEPT_RANK = len(C.REASONS)
#: also count distinct input positions in validation (a full distinct: tests only; the minimum is always checked)
_CHECK_POSITIONS = False


class Stages:
    """A stage log: ``with stages("netting returns"): ...`` logs the start and the seconds taken
    (logger ``retention_utils.engines``; printed to stderr when ``verbose``) and keeps the timings."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("%s ...", name)
        if self.verbose:
            import sys

            print(f"[engine] {name} ...", file=sys.stderr, flush=True)
        yield
        dt = time.perf_counter() - t0
        self.seconds[name] = self.seconds.get(name, 0.0) + dt
        log.info("%s: %.1f s", name, dt)
        if self.verbose:
            import sys

            print(f"[engine] {name}: {dt:.1f} s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# the log on an engine
# --------------------------------------------------------------------------------------------


@dataclass
class TransactionLog:
    """A raw transaction log on an engine (nothing computed yet).

    Attributes
    ----------
    engine : the :class:`~retention_utils.engines.backend.Engine`.
    lines : Ibis table in the canonical layout (ids text or integers), plus ``_pos`` (input position).
    products : Ibis table ``product_id`` (+ ``department`` ...) or ``None``.
    columns : the source's own columns (all of them count for exact duplicates).
    """

    engine: Engine
    lines: ir.Table
    products: ir.Table | None = None
    columns: tuple[str, ...] = ()
    #: the lines as read, before :func:`~.backend.canonical_lines` (for the count of ids written as decimals)
    source: ir.Table | None = None


def read_log(engine: Engine, source: Any, products: Any = None) -> TransactionLog:
    """Put a log on ``engine``.

    ``source``: a parquet file, folder or glob, or a pandas DataFrame in the canonical layout (tests
    and small data). ``products``: the same kinds, or ``None``. The products' ids are read as
    :func:`retention_utils.schema.as_id` reads them and made the type of the log's product ids (text
    or integer) so the two join (:func:`_product_ids_as`). A DataFrame's zoned ``order_ts`` is read as
    local wall-clock time (the zone dropped, as :func:`retention_utils.schema.parse_timestamps` does);
    a zoned parquet column is refused (the error says how to write local time).

    Raises ``SchemaError`` for missing canonical columns or a non-canonical column type (a
    DataFrame's: :meth:`~.backend.Engine.from_pandas`), ``FileNotFoundError`` when a path matches no
    parquet file.
    """
    lines = engine.from_pandas(frame_ready(source)) if isinstance(source, pd.DataFrame) else engine.read_parquet(source)
    source, lines = lines, canonical_lines(lines, engine)
    prod = None
    if products is not None:
        prod = engine.from_pandas(products) if isinstance(products, pd.DataFrame) else engine.read_parquet(products)
        if S.PRODUCT_ID not in prod.columns:
            raise S.SchemaError(f"products: missing column {S.PRODUCT_ID!r}; present: {prod.columns}")
        pid = _product_ids_as(engine, prod, lines.schema()[S.PRODUCT_ID])
        prod = prod.mutate(**{S.PRODUCT_ID: pid}).drop(POS)
    return TransactionLog(engine, lines, prod, tuple(c for c in lines.columns if c != POS), source)


def _product_ids_as(eng: Engine, prod: ir.Table, want: Any) -> ir.Value:
    """The products table's ids read as :func:`retention_utils.schema.as_id` reads them (text stripped,
    ``"17850.0"`` and the float ``17850.0`` as ``"17850"``, other floats as their text), in
    the log's id type ``want``. For integer log ids, a text id that no integer is written as
    (``"abc"``, ``"09"``, ``"+9"``) becomes null: it matches no line, as in pandas, where the log's
    integers become their digits."""
    pid = prod[S.PRODUCT_ID]
    src = prod.schema()[S.PRODUCT_ID]
    if src.is_string():
        pid = eng.text_ids(pid)
        if not want.is_integer():
            return pid
        n = pid.try_cast("int64")
        return (n.cast("string") == pid).ifelse(n, ibis.null("int64"))
    if src.is_floating():  # whole numbers (below 2**53) as their digits; others as their text
        whole = (pid == pid.floor()) & (pid.abs() < 2**53)
        n = whole.ifelse(pid.try_cast("int64"), ibis.null("int64"))
        return n if want.is_integer() else whole.ifelse(n.cast("string"), pid.cast("string"))
    return pid.cast(want)


# --------------------------------------------------------------------------------------------
# cleaning
# --------------------------------------------------------------------------------------------


def _window(start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    lo = None if start is None else S.to_day(start, "start")
    hi = None if end is None else S.to_day(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"observation window: start {lo.date()} is after end {hi.date()}")
    return lo, hi


def _outside(t: ir.Table, window: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> Any:
    """True for a line whose time is outside the observation window (days inclusive)."""
    ts = t[S.ORDER_TS]
    lo, hi = window
    outside = ibis.literal(False)
    if lo is not None:
        outside = outside | (ts < ibis.timestamp(lo.to_pydatetime()))
    if hi is not None:
        outside = outside | (ts >= ibis.timestamp((hi + S.DAY).to_pydatetime()))
    return outside


def _flags(eng: Engine, t: ir.Table, window: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> ir.Table:
    """Row-wise flags of lines ``t`` (canonical columns + ``_pos``): revenue micro-units, null
    customer, outside the window, negative, day."""
    return t.mutate(
        _units=eng.round_even(t[S.REVENUE] * C.MICRO).cast("int64"),
        _null=t[S.CUSTOMER_ID].isnull(),
        _out=_outside(t, window),
        _neg=(t[S.QUANTITY] < 0) | (t[S.REVENUE] < 0),
        **{DAY: t[S.ORDER_TS].date()},
    )


def _base(log: TransactionLog, window: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> ir.Table:
    """Every line with its row-wise flags (:func:`_flags`)."""
    return _flags(log.engine, log.lines, window)


def _later_copies(t: ir.Table, columns: tuple[str, ...]) -> ir.Table:
    """The lines of ``t`` identical in every source column to a line earlier in input order: a hash
    aggregation over all columns finds the repeated rows (few), a null-safe join brings back their
    lines, and every line but the first (lowest ``_pos``) is a later copy."""
    rep = t.group_by(list(columns)).aggregate(_k=t.count(), _first=t[POS].min())
    rep = rep.filter(rep["_k"] > 1)
    rep = rep.select(*[rep[c].name(f"{c}__r") for c in columns], "_first")
    j = t.join(rep, [t[c].identical_to(rep[f"{c}__r"]) for c in columns])
    return j.filter(j[POS] != j["_first"])


def _exact_duplicates(eng: Engine, sub: ir.Table, columns: tuple[str, ...]) -> ir.Table:
    """The exact duplicates among the candidate lines ``sub`` (:func:`_later_copies`), with what the
    group corrections read."""
    keep = [*columns, POS, DAY, "_code", "_units", "_known", "_nonpos"]
    sub = eng.materialize(sub.select(*dict.fromkeys(keep)), "candidate_lines")
    return _later_copies(sub, columns).select(S.ORDER_ID, DAY, "_code", S.CUSTOMER_ID, S.QUANTITY, S.REVENUE,
                                              "_units", S.ORDER_TS, POS, "_known", "_nonpos")


def validate(log: TransactionLog, stages: Stages | None = None) -> dict[str, int]:
    """The checks of :func:`retention_utils.schema.validate_transactions` that do not need a group-by,
    as counts: ``rows``, missing ``order_id`` / ``product_id`` / ``order_ts``, missing or infinite
    ``quantity`` / ``revenue``; ``revenue_abs`` (the sum of absolute revenue).

    Raises :class:`~retention_utils.schema.SchemaError` (with up to 5 example rows) for any of them,
    ``SchemaError`` for an empty log, ``ValueError`` for revenue totals beyond 9e12.
    (One customer per order is checked in :func:`clean`'s main pass.)
    """
    stages = stages or Stages()
    t = log.lines
    bad = {
        f"column {S.ORDER_ID!r} has missing values": t[S.ORDER_ID].isnull(),
        f"column {S.PRODUCT_ID!r} has missing values": t[S.PRODUCT_ID].isnull(),
        f"column {S.ORDER_TS!r}: missing timestamps": t[S.ORDER_TS].isnull(),
        f"column {S.QUANTITY!r} has missing or infinite values": t[S.QUANTITY].isnull() | t[S.QUANTITY].isinf() | t[S.QUANTITY].isnan(),
        f"column {S.REVENUE!r} has missing or infinite values": t[S.REVENUE].isnull() | t[S.REVENUE].isinf() | t[S.REVENUE].isnan(),
    }
    with stages("validation counts"):
        aggs = {f"b{i}": cond.cast("int64").sum() for i, cond in enumerate(bad.values())}
        row = t.aggregate(rows=t.count(), revenue_abs=t[S.REVENUE].abs().sum(), pos_min=t[POS].min(),
                          pos_n=t[POS].nunique() if _CHECK_POSITIONS else t.count(), **aggs).to_pandas().iloc[0]
    if int(row["rows"]) and int(row["pos_min"]) < 0:  # pragma: no cover - a reader bug, not a data problem
        raise RuntimeError("input positions could not be read (a file of the source was not recognised)")
    if int(row["rows"]) != int(row["pos_n"]):  # pragma: no cover
        raise RuntimeError("input positions are not unique")
    row = row.drop(["pos_min", "pos_n"])
    if int(row["rows"]) == 0:
        raise S.empty_table_error()
    for i, (msg, cond) in enumerate(bad.items()):
        k = int(row[f"b{i}"] or 0)
        if k:
            ex = t.filter(cond).order_by(POS).limit(S.EXAMPLE_ROWS).drop(POS).to_pandas()
            raise S.SchemaError(f"transactions: {msg}: {k:,} row(s); first {len(ex)}:\n{ex.to_string()}")
    if float(row["revenue_abs"] or 0.0) > C._MAX_TOTAL:
        raise ValueError(f"revenue totals above {C._MAX_TOTAL:.0e} currency units cannot be booked exactly; check the revenue column's unit")
    return {k: (int(v) if k != "revenue_abs" else float(v)) for k, v in row.items()}


_TEMP_IDS = itertools.count()  # temp table names; id() of a collected frame can repeat
_NT_SCHEMA = ibis.schema({POS: "int64", "_net_reason": "string", "_qty2": "float64", "_units2": "int64"})


def _net_single(c: ir.Table) -> ir.Table:
    """Netting of (customer, product) pairs with exactly one alive return, as in ``_net_returns``:
    the stack of open sales before the return is every earlier (or same-time) sale, untouched."""
    key = [S.CUSTOMER_ID, S.PRODUCT_ID]
    r = c.filter(c["_neg"]).select(
        *key, r_pos=c[POS], r_ts=c[S.ORDER_TS], rq=c[S.QUANTITY].abs(), ru=c["_units"].abs()
    )
    s = c.filter(~c["_neg"])
    s = s.join(r, key).filter(lambda t: t[S.ORDER_TS] <= t["r_ts"])
    latest = ibis.window(group_by="r_pos", order_by=[ibis.desc(S.ORDER_TS), ibis.desc(POS)])
    full = s.filter(((s[S.QUANTITY] - s["rq"]).abs() <= _TOL) & (s["_units"] == s["ru"]))
    full = full.mutate(_rn=ibis.row_number().over(latest)).filter(lambda t: t["_rn"] == 0)
    full = full.select("r_pos", f_pos=full[POS])
    part = s.filter((s[S.QUANTITY] >= s["rq"] - _TOL) & (s["_units"] >= s["ru"]))
    part = part.mutate(_rn=ibis.row_number().over(latest)).filter(lambda t: t["_rn"] == 0)
    part = part.select("r_pos", p_pos=part[POS], p_qty=part[S.QUANTITY], p_units=part["_units"])
    d = r.left_join(full, "r_pos").left_join(part, "r_pos")
    d = d.select("r_pos", "rq", "ru", "f_pos", "p_pos", "p_qty", "p_units")
    is_full = d["f_pos"].notnull()
    is_part = ~is_full & d["p_pos"].notnull()
    new_units = d["p_units"] - d["ru"]
    new_qty = ((d["p_qty"] - d["rq"]).abs() > _TOL).ifelse(d["p_qty"] - d["rq"], d["p_qty"])
    gone = (new_units == 0) & ((new_qty - d["rq"]).abs() <= _TOL)
    null_s, null_f, null_i = ibis.null("string"), ibis.null("float64"), ibis.null("int64")
    returns = d.select(**{
        POS: d["r_pos"],
        "_net_reason": ibis.cases((is_full, "cancellation"), (is_part, "return_netted"), else_="unmatched_return"),
        "_qty2": null_f,
        "_units2": is_part.ifelse(ibis.literal(0, "int64"), null_i),
    })
    fulls = d.filter(is_full).select(**{POS: d["f_pos"], "_net_reason": ibis.literal("cancelled_sale"),
                                        "_qty2": null_f, "_units2": null_i})
    dp = d.filter(is_part)
    parts = dp.select(**{
        POS: dp["p_pos"],
        "_net_reason": gone.ifelse(ibis.literal("cancelled_sale"), null_s),
        "_qty2": new_qty,
        "_units2": new_units,
    })
    return returns.union(fulls).union(parts)


def _net_multi(eng: Engine, rows: pd.DataFrame) -> ir.Table:
    """Netting of the pairs with several returns by the pandas path's own function."""
    rows = rows.sort_values(POS, kind="stable").reset_index(drop=True)
    units_in = rows["_units"].to_numpy(dtype=np.int64)
    masks, qty, units = C._net_returns(rows, np.ones(len(rows), bool), units_in)
    reason = np.full(len(rows), None, dtype=object)
    for name in ("cancellation", "cancelled_sale", "return_netted", "unmatched_return"):
        reason[masks[name] & (reason == None)] = name  # noqa: E711 - object array
    q_in = rows[S.QUANTITY].to_numpy(dtype=np.float64)
    q_changed = qty != q_in
    u_changed = units != units_in
    touched = (reason != None) | q_changed | u_changed  # noqa: E711
    out = pd.DataFrame({
        POS: rows.loc[touched, POS].to_numpy(dtype=np.int64),
        "_net_reason": pd.array(reason[touched], dtype=object),
        "_qty2": np.where(q_changed, qty, np.nan)[touched],
        "_units2": pd.array(np.where(u_changed, units, 0)[touched], dtype="Int64"),
    })
    out.loc[~u_changed[touched], "_units2"] = pd.NA
    if eng.name == "duckdb":
        return eng.con.create_table(f"netmulti_{next(_TEMP_IDS)}", ibis.memtable(out, schema=_NT_SCHEMA), temp=True)
    records = [
        (int(p), r, None if pd.isna(q) else float(q), None if pd.isna(u) else int(u))
        for p, r, q, u in zip(out[POS], out["_net_reason"], out["_qty2"], out["_units2"], strict=True)
    ]
    df = eng.spark.createDataFrame(records, schema=f"{POS} long, _net_reason string, _qty2 double, _units2 long")
    return eng._register_spark(df)



# --------------------------------------------------------------------------------------------
# reasons and groups
# --------------------------------------------------------------------------------------------

#: reason codes: the rule order of the pandas path; ``KEPT`` for a kept line
CODE: dict[str, int] = {name: i for i, name in enumerate(C.REASONS)}
KEPT = len(C.REASONS)
_AFTER_NETTING = [CODE["non_merchandise"], CODE["quantity_outlier"], CODE["non_positive"], KEPT]


def customer_aggregates(cd: ir.Table) -> ir.Table:
    """Per customer from (customer, day) rows ``cd`` (:meth:`CleanLog.customer_days`, possibly
    filtered): the columns of :meth:`CleanLog.customers`."""
    return cd.group_by(S.CUSTOMER_ID).aggregate(
        first_order_ts=cd["first_ts"].min(), last_order_ts=cd["last_ts"].max(),
        first_day=cd[DAY].min(), last_day=cd[DAY].max(), n_days=cd.count(), total=cd["units"].sum(),
        first_rev=cd["units"].argmin(cd[DAY]),
    )


def _rowwise_kept(t: ir.Table, rules: C.CleaningRules, plists: ProductLists) -> ir.Table:
    """The lines of ``t`` (with ``_null``, ``_out``, ``_units``) kept by the rules that look at one
    line alone: what :func:`_code` keeps when no product is returned and duplicates are not marked.
    The excluded departments' products (few: ``plists.excluded``) are removed by an anti-join, so no
    line is joined to the products table."""
    cond = ~t["_null"] & ~t["_out"]
    if rules.max_quantity is not None:
        cond = cond & (t[S.QUANTITY] <= float(rules.max_quantity))
    if rules.drop_non_positive:
        cond = cond & (t[S.QUANTITY] > 0) & (t["_units"] > 0)
    t = t.filter(cond)
    if plists.excluded is not None:
        t = t.anti_join(plists.excluded, S.PRODUCT_ID)
    return t


def _distinct_products(rules: C.CleaningRules, plists: ProductLists, rowwise: ir.Table, cand: ir.Table | None,
                       returned_pairs: ir.Table | None, before: pd.Timestamp | None = None) -> ir.Table:
    """Distinct products per customer among the clean lines (of days strictly before ``before``):
    ``customer_id``, ``distinct_products`` (int64, > 0).

    Computed without joining every line to the products table or to the returned pairs: an exact
    duplicate has the product of its first copy and the same reason, so duplicates never change the
    set of (customer, product) pairs; outside the returned pairs the rules act line by line
    (:func:`_rowwise_kept`). So a customer's count is that of the pairs of the row-wise kept lines
    (``rowwise``: every line), less those among the returned pairs (their row-wise kept lines are all
    in ``cand``, the alive lines of those pairs), plus the returned pairs with a line kept after
    netting."""
    key = [S.CUSTOMER_ID, S.PRODUCT_ID]

    def per_customer(t: ir.Table, sign: int = 1) -> ir.Table:
        if before is not None:
            t = t.filter(t[DAY] < ibis.date(before.date()))
        p = t.select(*key).distinct()
        return p.group_by(S.CUSTOMER_ID).aggregate(distinct_products=p.count().cast("int64") * sign)

    counts = per_customer(_rowwise_kept(rowwise, rules, plists))
    if returned_pairs is None or cand is None:
        return counts
    parts = counts.union(per_customer(_rowwise_kept(cand, rules, plists), -1)).union(
        per_customer(cand.filter(cand["_code"] == KEPT)))
    out = parts.group_by(S.CUSTOMER_ID).aggregate(distinct_products=parts["distinct_products"].sum())
    return out.filter(out["distinct_products"] > 0)


def _code(t: ir.Table, rules: C.CleaningRules, net: bool) -> ir.Table:
    """``_code``: the reason code of each line (rule order); ``_nonpos``. Expects ``_null``, ``_dup``,
    ``_out``, ``_qty2``, ``_units2`` and, with ``net``, ``_net_reason``."""
    branches: list[tuple[Any, Any]] = [(t["_null"], CODE["null_customer_id"])]
    if rules.drop_exact_duplicates:
        branches.append((t["_dup"], CODE["exact_duplicate"]))
    branches.append((t["_out"], CODE["outside_window"]))
    if net:
        for name in ("cancellation", "cancelled_sale", "return_netted", "unmatched_return"):
            branches.append((t["_net_reason"] == name, CODE[name]))
    if rules.exclude_departments:
        branches.append((t["_excluded"], CODE["non_merchandise"]))
    if rules.max_quantity is not None:
        branches.append((t["_qty2"] > float(rules.max_quantity), CODE["quantity_outlier"]))
    non_pos = (t["_qty2"] <= 0) | (t["_units2"] <= 0)
    if rules.drop_non_positive:
        branches.append((non_pos, CODE["non_positive"]))
    return t.mutate(_code=ibis.cases(*branches, else_=KEPT).cast("int8"), _nonpos=non_pos)


def _group(eng: Engine, t: ir.Table, rules: C.CleaningRules, unknown: bool) -> ir.Table:
    """Lines (with ``_code``) into (order, day, reason code, customer) groups (see :class:`CleanLog`)."""
    kept = t["_code"] == KEPT
    aggs: dict[str, Any] = {
        "n": t.count(),
        # 64-bit states (sums below 9e18 micro-units, checked by validate; counts): the 128-bit
        # state of a plain integer sum made the table of 24 M groups spill at 100 M lines
        "units": eng.sum_int(t["_units2"]),
        "first_ts": t[S.ORDER_TS].min(),
        "last_ts": t[S.ORDER_TS].max(),
    }
    if unknown:
        aggs["unknown"] = t.count(where=~t["_known"] & t["_code"].isin(_AFTER_NETTING))
    if not rules.drop_non_positive:
        aggs["nonpos_kept"] = t.count(where=kept & t["_nonpos"])
    if not rules.drop_exact_duplicates:
        aggs["dup_kept"] = t.count(where=t["_dup"] & ~t["_null"])
    return t.group_by([S.ORDER_ID, DAY, "_code", S.CUSTOMER_ID]).aggregate(**aggs)


_GROUP_COLUMNS = (S.ORDER_ID, DAY, "_code", S.CUSTOMER_ID, "n", "units", "first_ts", "last_ts")


def _aligned(t: ir.Table, cols: list[str]) -> ir.Table:
    """``t`` with exactly the group columns ``cols``, ``_code`` as int8 (Spark reads a persisted
    TINYINT back as int32 in some plans; unions need one type)."""
    return t.select(*[t[c].cast("int8").name(c) if c == "_code" else t[c] for c in cols])


def _group_columns(rules: C.CleaningRules, plists: ProductLists) -> list[str]:
    """The columns of the groups: ``unknown`` only when some product id is not listed."""
    cols = list(_GROUP_COLUMNS)
    if plists.unlisted is not None:
        cols.append("unknown")
    if not rules.drop_non_positive:
        cols.append("nonpos_kept")
    if not rules.drop_exact_duplicates:
        cols.append("dup_kept")
    return cols


# --------------------------------------------------------------------------------------------
# the cleaned log
# --------------------------------------------------------------------------------------------


@dataclass
class CleanLog:
    """A cleaned log on an engine: what :mod:`.tables` computes the customer tables from.

    Attributes
    ----------
    log : the raw :class:`TransactionLog`; ``rules`` and ``window`` (inclusive days, ``None`` = open).
    groups : Ibis table, one row per (``order_id``, ``_day`` (date), ``_code``, ``customer_id``) of the
        input lines (a combination may appear in several rows: sum them; a correction row has ``n = -1``),
        with ``n`` (lines), ``units`` (revenue in micro-units after netting: exact sums of money),
        ``first_ts`` / ``last_ts``; ``_code`` is the reason's position in
        :data:`retention_utils.data.cleaning.REASONS`, :data:`KEPT` for kept lines.
    report : the :class:`~retention_utils.data.cleaning.CleaningReport` (``row_reason`` is ``None``:
        per-line reasons are ``lines(kept=False)``).
    stages : the stage log with its timings.
    """

    log: TransactionLog
    rules: C.CleaningRules
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    groups: ir.Table
    main: ir.Table  # lines outside the returned (customer, product) pairs, with _code (no duplicates marked)
    cand: ir.Table | None  # lines of the returned pairs, with exact _code
    duplicates: ir.Table | None  # _pos of exact duplicates among `main`
    report: C.CleaningReport | None = None
    rowwise: ir.Table | None = None  # every line with the row-wise flags of _base (lazy)
    returned_pairs: ir.Table | None = None  # the (customer_id, product_id) pairs with an alive return
    stages: Stages = field(default_factory=Stages)
    #: kept orders per customer (``customer_id``, ``n_orders``), from the report's pass over the orders
    kept_orders: ir.Table | None = None
    #: distinct products per customer over the window (``customer_id``, ``distinct_products``)
    product_counts: ir.Table | None = None
    #: the unlisted and the excluded product ids (:class:`ProductLists`)
    product_lists: ProductLists = field(default_factory=ProductLists)
    #: text ids written as decimals (:func:`~.backend.decimal_id_counts`; the report's ``normalised``)
    normalised: dict[str, dict[str, int]] = field(default_factory=dict)
    _customers: ir.Table | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        return self.log.engine

    def customer_days(self) -> ir.Table:
        """The kept lines by customer and purchase day (lazy): ``customer_id``, ``_day`` (date),
        ``units`` (revenue in micro-units, int64), ``first_ts`` / ``last_ts`` (the day's first and
        last line), one row per (customer, day)."""
        k = self.kept
        return k.group_by([S.CUSTOMER_ID, DAY]).aggregate(
            units=k["units"].sum().cast("int64"), first_ts=k["first_ts"].min(), last_ts=k["last_ts"].max())

    def customers(self) -> ir.Table:
        """One row per customer with a kept line, from :meth:`customer_days`: ``customer_id``,
        ``first_order_ts`` / ``last_order_ts``, ``first_day`` / ``last_day`` (dates), ``n_days``
        (purchase days), ``total`` (micro-units), ``first_rev`` (micro-units of the first purchase
        day). Materialized the first time (the summaries and the cohorts read it; the (customer, day)
        rows themselves are not kept: 19.8 M rows at 100 M lines; kept, and with the returned pairs'
        lines kept whole, the benchmark's peak RSS was 4.07 GB instead of 3.3-3.4)."""
        if self._customers is None:
            self._customers = self.engine.materialize(customer_aggregates(self.customer_days()), "customers")
        return self._customers

    @property
    def kept(self) -> ir.Table:
        """The groups of kept lines."""
        return self.groups.filter(self.groups["_code"] == KEPT)

    def distinct_products(self, before: pd.Timestamp | None = None) -> ir.Table:
        """Distinct ``product_id`` per customer among the clean lines (of days strictly before
        ``before``): a table ``customer_id``, ``distinct_products`` (int64), one row per customer
        with a clean line (:func:`_distinct_products`; over the whole window, counted by
        :func:`clean` before its main pass)."""
        if before is None and self.product_counts is not None:
            return self.product_counts
        if self.rowwise is None:  # a CleanLog built by hand: from the clean lines
            p = self.lines(kept=True)
            if before is not None:
                p = p.filter(p[S.ORDER_TS].date() < ibis.date(before.date()))
            p = p.select(S.CUSTOMER_ID, S.PRODUCT_ID).distinct()
            return p.group_by(S.CUSTOMER_ID).aggregate(distinct_products=p.count().cast("int64"))
        return _distinct_products(self.rules, self.product_lists, self.rowwise, self.cand, self.returned_pairs, before)

    def lines(self, kept: bool = True) -> ir.Table:
        """The clean lines (lazy: evaluated from the source each time it is used): the source's
        columns, sales reduced by partial returns carrying their reduced quantity and revenue, ``_pos``
        and ``_units`` (revenue in micro-units). With ``kept=False`` every input line, with its
        ``reason`` (``""`` when kept)."""
        m = self.main
        if self.duplicates is not None:
            d = self.duplicates.select(POS, _isdup=ibis.literal(True))
            m = m.left_join(d, POS).drop(f"{POS}_right")
            m = _code(m.mutate(_dup=m["_isdup"].fill_null(False)).drop("_isdup"), self.rules, net=False)
        parts = [m] if self.cand is None else [m, self.cand]
        cols = [*self.log.columns, POS, "_code", "_qty2", "_units2", "_units"]
        t = _aligned(parts[0], cols)
        if len(parts) == 2:
            t = t.union(_aligned(parts[1], cols))
        units_changed = t["_units2"] != t["_units"]
        t = t.mutate(**{
            S.QUANTITY: t["_qty2"],
            S.REVENUE: units_changed.ifelse(t["_units2"].cast("float64") / C.MICRO, t[S.REVENUE]),
        })
        t = t.mutate(_units=t["_units2"])
        if kept:
            return t.filter(t["_code"] == KEPT).select(*self.log.columns, POS, "_units")
        names = ibis.cases(*[(t["_code"] == i, r) for r, i in CODE.items()], else_="")
        return t.mutate(reason=names).select(*self.log.columns, POS, "_units", "reason")


def clean(
    log: TransactionLog,
    rules: C.CleaningRules | dict[str, Any] | None = None,
    start: S.DateLike | None = None,
    end: S.DateLike | None = None,
    stages: Stages | None = None,
    count_products: bool = True,
) -> CleanLog:
    """Clean ``log`` on its engine: the rules and report of
    :func:`retention_utils.data.cleaning.clean_transactions`, exactly (module docstring).

    Returns a :class:`CleanLog` whose ``report`` reconciles and equals the pandas report (rows,
    revenue units, orders lost, flags, distinct counts); ``report.row_reason`` is ``None``.
    With ``count_products`` (the default) each customer's distinct products are counted too
    (:attr:`CleanLog.product_counts`, for the segmentation summary), before the main pass, when
    the engine has the most memory free: 9-16 s at 100 M lines. Set it to ``False`` when only the
    report is wanted (the count is then made when a summary asks for it).

    Raises
    ------
    ValueError : ``exclude_departments`` without a products table with a ``department`` column;
        ``start`` after ``end``; revenue totals beyond 9e12; with ``net_returns``, a return line
        (negative quantity) with a positive revenue, as the pandas path.
    SchemaError : validation failures (missing ids, timestamps or amounts; an order id used by
        several customers), with example rows.
    """
    if not isinstance(rules, C.CleaningRules):
        rules = C.CleaningRules.from_config(rules)
    stages = stages or Stages()
    window = _window(start, end)
    if rules.exclude_departments and (log.products is None or S.DEPARTMENT not in log.products.columns):
        raise ValueError("cleaning rule exclude_departments needs a products table with a 'department' column")
    eng = log.engine
    validate(log, stages)
    with stages("validation: text ids written as decimals"):
        normalised = decimal_id_counts(log.source) if log.source is not None else {}
    base = _base(log, window)
    key = [S.CUSTOMER_ID, S.PRODUCT_ID]
    cand = pairs = None
    with stages("products: the unlisted and the excluded ids"):
        plists = product_lists(eng, log.lines, log.products, rules)
    cols = _group_columns(rules, plists)
    with stages("exact duplicates: lines sharing a row hash"):
        # identical lines share their row hash (order id included): one count of the hashes of every
        # line, kept where a hash has several lines (few: duplicates and the rare collisions); their
        # lines are gathered below. First of all the passes: its hash table is the largest, and
        # nothing else is kept in memory yet. A count alone keeps that table within the memory limit
        # at 100 M lines (with the lowest and highest position per hash as well, 2 GB spilled to
        # disk and the pass took 1.6x as long)
        raw = log.lines
        keyed = raw.filter(raw[S.CUSTOMER_ID].notnull())
        keyed = keyed.mutate(_h=eng.row_hash(keyed[S.ORDER_ID], keyed[S.ORDER_TS], keyed[S.PRODUCT_ID],
                                             keyed[S.QUANTITY], keyed[S.REVENUE]))
        rep = keyed.group_by("_h").aggregate(_k=keyed.count())
        rep = eng.materialize(rep.filter(rep["_k"] > 1).select("_h"), "dup_keys")
        n_keys = int(rep.count().execute())
        stages.counts["row hashes with several lines"] = n_keys
    if rules.net_returns:
        with stages("returns: the returned (customer, product) pairs"):
            alive = base.filter(~base["_null"] & ~base["_out"])
            neg = alive.filter(alive["_neg"])
            # with the pairs, the returns that carry a positive revenue (an error, as in pandas)
            pairs = eng.materialize(neg.group_by(key).aggregate(
                _bad=((neg[S.QUANTITY] < 0) & (neg[S.REVENUE] > 0)).cast("int64").sum()), "pairs")
            n_bad = pairs["_bad"].sum().execute()
            if not pd.isna(n_bad) and int(n_bad):
                bad = alive.filter((alive[S.QUANTITY] < 0) & (alive[S.REVENUE] > 0))
                ex = bad.order_by(POS).limit(S.EXAMPLE_ROWS).select(*log.columns).to_pandas()
                raise C.return_sign_error(int(n_bad), ex)
            pairs = pairs.select(*key)
            if int(pairs.count().execute()) == 0:
                pairs = None
    dup_cand = None
    if n_keys or pairs is not None:
        with stages("gather the lines of repeated hashes and of returned pairs"):
            # the lines whose hash is repeated (lines that only collide are candidates too: all are
            # compared on every column later), and the alive lines of the returned pairs: each a
            # semi-join of the raw lines, the flags computed on the lines found only (DuckDB does
            # not move the projections of every line past a join: 4.4 and 6.1 s at 100 M lines
            # with the flags computed first). One pass for both, by two left joins, was 3x slower
            # (DuckDB built its hash table on the lines' side)
            if n_keys:
                dup_cand = eng.materialize(_flags(eng, keyed.semi_join(rep, "_h").drop("_h"), window),
                                           "dup_candidates")
            if pairs is not None:
                lines = raw.filter(raw[S.CUSTOMER_ID].notnull() & ~_outside(raw, window))
                with eng.build_on_right():  # else DuckDB builds on the filtered lines: 19 s, not 5
                    first = eng.materialize(_flags(eng, lines.semi_join(pairs, key), window), "cand")
                dups_c = _later_copies(first, log.columns)
                cand = first.left_join(dups_c.select(POS, _isdup=ibis.literal(True)), POS).drop(f"{POS}_right")
                cand = eng.materialize(cand.mutate(_dup=cand["_isdup"].fill_null(False)).drop("_isdup"), "cand_marked")
                eng.drop(first)
    eng.drop(rep)
    if cand is not None:
        netting = _netting(eng, cand, rules, stages)
        with stages("returns: reasons of those lines"):
            c = cand.left_join(netting, POS).drop(f"{POS}_right")
            c = c.mutate(_qty2=c["_qty2"].fill_null(c[S.QUANTITY]), _units2=c["_units2"].fill_null(c["_units"]))
            c = product_flags(eng, c, plists)
            marked = cand
            c = _code(c, rules, net=True)
            # only what the groups, the report, lines() and distinct_products read (not the
            # department's and the netting's text, 6.6 M lines at 100 M)
            keep = [*log.columns, POS, DAY, "_units", "_null", "_out", "_dup", "_qty2", "_units2", "_known",
                    "_code", "_nonpos"]
            cand = eng.materialize(c.select(*dict.fromkeys(keep)), "cand_reasons", on_disk=True)
            eng.drop(marked, netting)

    def main_lines(t: ir.Table) -> ir.Table:
        """Reasons of lines outside the returned products' lines (no netting there)."""
        if cand is not None:
            # the lines of `cand` are the alive lines of the returned pairs: an anti-join on the
            # (small) pairs table with the alive condition, not on the lines' positions (a hash
            # table of every candidate line, probed by every line: 2.5x slower at 100 M lines)
            t = t.anti_join(pairs, [t[S.CUSTOMER_ID] == pairs[S.CUSTOMER_ID],
                                    t[S.PRODUCT_ID] == pairs[S.PRODUCT_ID], ~t["_out"]])
        t = t.mutate(_qty2=t[S.QUANTITY], _units2=t["_units"], _dup=ibis.literal(False))
        return _code(product_flags(eng, t, plists), rules, net=False)

    product_counts = None
    if count_products:
        with stages("distinct products per customer"):
            # a hash table of every (customer, product) pair (58 M at 100 M lines): made before the
            # main pass, while the engine's memory holds no large table, so that the two do not
            # compete for the memory limit
            product_counts = eng.materialize(
                _distinct_products(rules, plists, base, cand, pairs if cand is not None else None), "product_counts")
    with stages("main pass: reasons and (order, day) groups"):
        main = main_lines(base)
        lines = main
        if cand is not None:
            # the returned pairs' lines join the others before the aggregation: their orders are
            # mostly orders of other lines too (5.8 M groups of their own from 6.6 M lines, at
            # 100 M lines), so every reader of the groups reads that many rows fewer
            need = [S.ORDER_ID, DAY, "_code", S.CUSTOMER_ID, "_units2", S.ORDER_TS, "_known", "_nonpos", "_dup", "_null"]
            need = [c for c in need if c in main.columns and c in cand.columns]
            lines = _aligned(main, need).union(_aligned(cand, need))
        main_groups = eng.materialize(_group(eng, lines, rules, "unknown" in cols), "groups")
    duplicates = None
    groups = _aligned(main_groups, cols)
    if dup_cand is not None:
        # exact check of those lines; a duplicate has the same reason as its first copy outside the
        # returned pairs (no netting there), so the groups are corrected by moving each duplicate
        # line from its group to "exact_duplicate": counts and sums by delta rows, first/last times
        # unchanged (the first copy stays with the same time)
        with stages("exact duplicates: compare the candidates on every column"):
            # only the candidates' lines are compared on every column (lines of returned products
            # among them are dropped by main_lines)
            sub = main_lines(dup_cand)
            duplicates = eng.materialize(_exact_duplicates(eng, sub, log.columns), "dups")
            groups = groups.union(_aligned(_dup_deltas(duplicates, log, rules, cols), cols))
    # the groups stay a union of the main pass's table and the (few) correction rows: every reader
    # aggregates them again anyway (merging them into one table cost a 20-million-row aggregation)
    cl = CleanLog(log, rules, window, groups, main, cand, duplicates, stages=stages,
                  rowwise=base, returned_pairs=pairs if cand is not None else None, product_counts=product_counts,
                  product_lists=plists, normalised=normalised)
    with stages("cleaning report"):
        cl.report = _report(cl)
    return cl


def _dup_deltas(d: ir.Table, log: TransactionLog, rules: C.CleaningRules, cols: list[str]) -> ir.Table:
    """Group rows that move each duplicate line of ``d`` out of its group and, when duplicates are
    dropped, into an ``exact_duplicate`` group (see :func:`clean`); with duplicates kept, rows that
    only count them (``dup_kept``)."""
    ts_type = d[S.ORDER_TS].type()
    null_ts = ibis.null(ts_type)
    zero = ibis.literal(0, "int64")
    one = ibis.literal(1, "int64")
    flags_out: dict[str, Any] = {}
    if "unknown" in cols:
        flags_out["unknown"] = -(~d["_known"] & d["_code"].isin(_AFTER_NETTING)).cast("int64")
    if "nonpos_kept" in cols:
        flags_out["nonpos_kept"] = -((d["_code"] == KEPT) & d["_nonpos"]).cast("int64")
    if not rules.drop_exact_duplicates:
        counted = d.select(
            S.ORDER_ID, DAY, "_code", S.CUSTOMER_ID, n=zero, units=zero, first_ts=null_ts, last_ts=null_ts,
            **{k: zero for k in ("unknown", "nonpos_kept") if k in cols}, dup_kept=one,
        )
        return _aligned(counted, cols)
    out = d.select(
        S.ORDER_ID, DAY, "_code", S.CUSTOMER_ID, n=-one, units=-d["_units"], first_ts=null_ts, last_ts=null_ts,
        **flags_out,
    )
    into = d.select(
        S.ORDER_ID, DAY, S.CUSTOMER_ID, n=one, units=d["_units"],
        first_ts=d[S.ORDER_TS], last_ts=d[S.ORDER_TS], _code=ibis.literal(CODE["exact_duplicate"], "int8"),
        **{k: zero for k in ("unknown", "nonpos_kept") if k in cols},
    )
    return _aligned(out, cols).union(_aligned(into, cols))


def _netting(eng: Engine, cand: ir.Table, rules: C.CleaningRules, stages: Stages) -> ir.Table:
    """Lines touched by netting: ``_pos``, ``_net_reason`` (str or null), ``_qty2`` / ``_units2``
    (new quantity / revenue units, null when unchanged)."""
    key = [S.CUSTOMER_ID, S.PRODUCT_ID]
    live = cand.filter(~cand["_dup"]) if rules.drop_exact_duplicates else cand
    live = live.select(*key, S.ORDER_TS, S.QUANTITY, S.REVENUE, "_units", "_neg", POS)
    n_ret = eng.materialize(live.filter(live["_neg"]).group_by(key).aggregate(_nret=lambda t: t.count()), "nret")
    parts: list[ir.Table] = []
    with stages("returns: pairs with one return (engine)"):
        parts.append(_net_single(live.semi_join(n_ret.filter(n_ret["_nret"] == 1), key)))
    with stages("returns: pairs with several returns (pandas)"):
        multi = live.semi_join(n_ret.filter(n_ret["_nret"] >= 2), key).to_pandas()
        if len(multi):
            parts.append(_net_multi(eng, multi))
    out = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    with stages("returns: keep the netting"):
        kept = eng.materialize(out, "netting")
        eng.drop(n_ret, *parts[1:])  # the pandas part's table is in `kept` now
        return kept


def _report(cl: CleanLog) -> C.CleaningReport:
    g = cl.groups
    rules = cl.rules
    kept = g["_code"] == KEPT
    extra = {c: g[c].sum() for c in ("unknown", "nonpos_kept", "dup_kept") if c in g.columns}
    by_code = g.group_by("_code").aggregate(rows=g["n"].sum(), units=g["units"].sum(), **extra).to_pandas()
    by_code = by_code.set_index(by_code["_code"].astype(int))
    tot = by_code[["rows", *extra]].apply(lambda c: pd.to_numeric(c).fillna(0).sum()).rename({"rows": "rows_in"})
    # one pass over the orders: each order's first reason when none of its lines is kept (-1 when one
    # is), and whether several customers share it
    orders = g.group_by(S.ORDER_ID).aggregate(
        kept=kept.cast("int64").max(), first=g["_code"].min(),
        cmin=g[S.CUSTOMER_ID].min(), cmax=g[S.CUSTOMER_ID].max(),
    )
    orders = orders.mutate(lost=(orders["kept"] == 1).ifelse(ibis.literal(-1, "int64"), orders["first"].cast("int64")),
                           shared=(orders["cmin"] != orders["cmax"]).cast("int64"))
    # kept: the orders table is read twice (the losses below, the customers after the check), which is
    # cheaper than a pass over the groups by customer and a count of distinct orders per customer
    orders = cl.engine.materialize(orders.select(S.ORDER_ID, "lost", "shared", "cmin", "cmax"), "orders")
    by_lost = orders.group_by("lost").aggregate(k=orders.count(), shared=orders["shared"].sum()).to_pandas()
    ordr = {"orders_in": int(by_lost["k"].sum()), "orders_kept": int(by_lost.loc[by_lost["lost"] == -1, "k"].sum()),
            "shared": int(pd.to_numeric(by_lost["shared"]).fillna(0).sum())}
    if ordr["shared"]:
        ex = orders.filter(orders["cmin"] != orders["cmax"]).order_by(S.ORDER_ID).limit(S.EXAMPLE_ROWS).to_pandas()
        raise S.SchemaError(
            f"transactions: {ordr['shared']:,} order id(s) belong to more than one customer; order ids must "
            f"identify one checkout; e.g. (order, lowest and highest customer id):\n{ex[[S.ORDER_ID, 'cmin', 'cmax']].to_string()}"
        )
    # an order belongs to one customer (checked above), so the customers are those of the orders:
    # one pass gives the customers in, those kept and each one's kept orders (for the summaries)
    o = orders.filter(orders["cmin"].notnull())
    per = o.group_by(o["cmin"].name(S.CUSTOMER_ID)).aggregate(n_orders=(o["lost"] == -1).cast("int64").sum())
    per = cl.engine.materialize(per, "customer_orders")
    ncust = per.aggregate(customers_in=per.count(), customers_kept=(per["n_orders"] > 0).cast("int64").sum()
                          ).to_pandas().iloc[0]
    cl.kept_orders = per.filter(per["n_orders"] > 0)
    cl.engine.drop(orders)
    lost_rows = by_lost[by_lost["lost"] >= 0]
    lost = dict(zip(lost_rows["lost"].astype(int), lost_rows["k"].astype(int), strict=True))
    # what netting changed, and the revenue before netting (only the lines of returned products differ)
    units_in = int(by_code["units"].sum())
    changed_rows = changed_units = 0
    if cl.cand is not None:
        c = cl.cand
        moved = c["_units2"] != c["_units"]
        ch = c.aggregate(
            d_in=(c["_units"] - c["_units2"]).sum(),
            rows=((c["_code"] == KEPT) & moved).cast("int64").sum(),
            units=((c["_code"] == KEPT) & moved).ifelse(c["_units2"] - c["_units"], ibis.literal(0, "int64")).sum(),
        ).to_pandas().iloc[0]
        units_in += int(ch["d_in"] or 0)
        changed_rows, changed_units = int(ch["rows"] or 0), int(ch["units"] or 0)

    names = list(C.REASONS)
    rows = [int(by_code["rows"].get(i, 0)) for i in range(len(names))]
    units = [int(by_code["units"].get(i, 0)) for i in range(len(names))]
    removed = pd.DataFrame(
        {"reason": names, "rows": rows, "revenue_units": units, "description": list(C.REASONS.values())}
    ).set_index("reason")
    removed.insert(1, "revenue", removed["revenue_units"] / C.MICRO)
    removed.insert(3, "orders_lost", [lost.get(i, 0) for i in range(len(names))])
    changed = pd.DataFrame(
        {"rows": [changed_rows], "revenue": [float(changed_units) / C.MICRO]},
        index=pd.Index(["reduced_by_return"], name="change"),
    )
    flags: dict[str, int] = {}
    if not rules.drop_exact_duplicates:
        flags["exact_duplicate_lines_kept"] = int(tot["dup_kept"] or 0)
    if cl.log.products is not None:
        flags["unknown_product_lines"] = int(tot.get("unknown", 0) or 0)
        flags["unknown_product_ids"] = _unknown_product_ids(cl) if flags["unknown_product_lines"] else 0
    if not rules.drop_non_positive:
        flags["non_positive_lines_kept"] = int(tot["nonpos_kept"] or 0)
    report = C.CleaningReport(
        rows_in=int(tot["rows_in"]),
        rows_kept=int(by_code["rows"].get(KEPT, 0)),
        revenue_in_units=units_in,
        revenue_kept_units=int(by_code["units"].get(KEPT, 0)),
        removed=removed,
        changed=changed,
        flags=flags,
        customers_in=int(ncust["customers_in"]),
        customers_kept=0 if pd.isna(ncust["customers_kept"]) else int(ncust["customers_kept"]),
        orders_in=ordr["orders_in"],
        orders_kept=ordr["orders_kept"],
        rules=rules,
        window=cl.window,
        row_reason=None,
        normalised=cl.normalised,
    )
    if not report.reconciles():  # pragma: no cover - a bug, not a data problem
        raise AssertionError("engine cleaning report does not reconcile:\n" + report.summary())
    return report


def _unknown_product_ids(cl: CleanLog) -> int:
    parts = [cl.main.filter(~cl.main["_known"] & cl.main["_code"].isin(_AFTER_NETTING)).select(S.PRODUCT_ID)]
    if cl.cand is not None:
        c = cl.cand
        parts.append(c.filter(~c["_known"] & c["_code"].isin(_AFTER_NETTING)).select(S.PRODUCT_ID))
    t = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    return int(t[S.PRODUCT_ID].nunique().execute())
