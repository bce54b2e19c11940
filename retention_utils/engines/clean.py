"""Validation and cleaning of a transaction log on an engine, with the reconciled report.

The rules, their order and the report are those of :func:`retention_utils.data.cleaning.clean_transactions`
(read its module docstring first); this module computes the same result without holding the lines in
memory. How each rule is evaluated at scale:

* ``null_customer_id``, ``outside_window``, ``non_merchandise`` (a join with the small products
  table), ``quantity_outlier``, ``non_positive``: row-wise expressions.
* ``exact_duplicate``: identical rows share order, day and a row hash, so the main pass keeps, per
  (order, day), two 62-bit "bucket" bitsets of the row hashes; a group whose bitsets have fewer bits set
  than it has rows *may* hold a duplicate (and every group that holds one is caught). Only those
  groups' lines are read again and checked exactly (``row_number`` over all source columns, ordered by
  input position: the first is kept, as ``DataFrame.duplicated``). No 100-million-key hash table.
* Returns: the (customer, product) pairs with a return are few. Their alive lines are gathered; pairs
  with exactly one return are netted by a window query that follows the pandas algorithm step by step
  (full cancellation of the latest identical sale, else a reduction of the latest sale with at least
  the returned quantity and amount, else unmatched); pairs with several returns, whose outcome
  depends on the order the returns consume the sales, are pulled to pandas and netted by the very
  function the pandas path uses (``cleaning._net_returns``), lines ordered by input position.
* The report comes from one aggregation of the lines into (order, day, reason, customer) groups,
  kept by the engine (DuckDB temporary table / persisted Spark DataFrame); the customer-level tables
  of :mod:`.tables` start from the same groups.

Revenue is booked in integer micro-units with round-half-to-even (``numpy.round``), so the report's
rows and revenue units equal the pandas report exactly.
"""

from __future__ import annotations

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
from .backend import POS, Engine, canonical_lines

log = logging.getLogger("retention_utils.engines")

DAY = "_day"
REASON = "reason"
_TOL = C._QTY_TOL
_KEPT_RANK = len(C.REASONS)
_HASH_MASK = (1 << 62) - 1


class Stages:
    """A stage log: ``with stages("netting returns"): ...`` logs the start and the seconds taken
    (logger ``retention_utils.engines``; printed to stderr when ``verbose``) and keeps the timings."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.seconds: dict[str, float] = {}

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


def read_log(engine: Engine, source: Any, products: Any = None) -> TransactionLog:
    """Put a log on ``engine``.

    ``source``: a parquet file, folder or glob, or a pandas DataFrame in the canonical layout (tests
    and small data). ``products``: the same kinds, or ``None``. Product ids are made the type of the
    log's product ids (text or integer) so the two join.

    Raises ``SchemaError`` for missing canonical columns or a non-canonical column type,
    ``FileNotFoundError`` when a path matches no parquet file.
    """
    lines = engine.from_pandas(source) if isinstance(source, pd.DataFrame) else engine.read_parquet(source)
    lines = canonical_lines(lines)
    prod = None
    if products is not None:
        prod = engine.from_pandas(products) if isinstance(products, pd.DataFrame) else engine.read_parquet(products)
        if S.PRODUCT_ID not in prod.columns:
            raise S.SchemaError(f"products: missing column {S.PRODUCT_ID!r}; present: {prod.columns}")
        want = lines.schema()[S.PRODUCT_ID]
        pid = prod[S.PRODUCT_ID]
        if prod.schema()[S.PRODUCT_ID].is_string():
            pid = pid.strip().nullif("")
        prod = prod.mutate(**{S.PRODUCT_ID: pid.cast(want)}).drop(POS)
    return TransactionLog(engine, lines, prod, tuple(c for c in lines.columns if c != POS))


# --------------------------------------------------------------------------------------------
# cleaning
# --------------------------------------------------------------------------------------------


@dataclass
class CleanLog:
    """A cleaned log on an engine: what :mod:`.tables` computes the customer tables from.

    Attributes
    ----------
    log : the raw :class:`TransactionLog`.
    groups : Ibis table kept by the engine, one row per (``order_id``, ``_day`` (date), ``reason``,
        ``customer_id``) of the input lines: ``n`` (lines), ``units_in`` / ``units`` (revenue micro-units
        before / after netting), ``revenue`` (float, currency, after netting), ``quantity`` (after
        netting), ``first_ts`` / ``last_ts``. ``reason == ""`` are the kept lines.
    netting : Ibis table of the lines netting touched (``_pos``, reason, new quantity and units).
    duplicates : Ibis table of the ``_pos`` of exact duplicate lines (after the first).
    window : inclusive (start, end) days (``None`` = open).
    report : the :class:`~retention_utils.data.cleaning.CleaningReport` (``row_reason`` is ``None``:
        per-line reasons are ``lines(kept=False)``).
    """

    log: TransactionLog
    rules: C.CleaningRules
    groups: ir.Table
    netting: ir.Table | None
    duplicates: ir.Table | None
    window: tuple[pd.Timestamp | None, pd.Timestamp | None]
    report: C.CleaningReport | None = None
    stages: Stages = field(default_factory=Stages)

    @property
    def engine(self) -> Engine:
        return self.log.engine

    @property
    def kept(self) -> ir.Table:
        """The groups of kept lines (``reason == ""``)."""
        return self.groups.filter(self.groups[REASON] == "")

    def lines(self, kept: bool = True) -> ir.Table:
        """The clean lines (lazy: evaluated from the source each time it is used): canonical columns,
        sales reduced by partial returns carrying their reduced quantity and revenue. With
        ``kept=False`` every input line with its ``reason``."""
        t = _reasons(self.log, self.rules, self.window, self.netting, self.duplicates)
        units_changed = t["_units2"] != t["_units"]
        t = t.mutate(**{
            S.QUANTITY: t["_qty2"],
            S.REVENUE: units_changed.ifelse(t["_units2"].cast("float64") / C.MICRO, t[S.REVENUE]),
        })
        if kept:
            t = t.filter(t[REASON] == "")
        cols = [*self.log.columns, *([] if kept else [REASON])]
        return t.select(*cols, POS)


def _window(start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    lo = None if start is None else S.to_day(start, "start")
    hi = None if end is None else S.to_day(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"observation window: start {lo.date()} is after end {hi.date()}")
    return lo, hi


def _base(log: TransactionLog, window: tuple[pd.Timestamp | None, pd.Timestamp | None]) -> ir.Table:
    """Row-wise flags: revenue micro-units, null customer, outside the window, negative, day."""
    t = log.lines
    eng = log.engine
    ts = t[S.ORDER_TS]
    lo, hi = window
    outside = ibis.literal(False)
    if lo is not None:
        outside = outside | (ts < ibis.timestamp(lo.to_pydatetime()))
    if hi is not None:
        outside = outside | (ts >= ibis.timestamp((hi + S.DAY).to_pydatetime()))
    return t.mutate(
        _units=eng.round_even(t[S.REVENUE] * C.MICRO).cast("int64"),
        _null=t[S.CUSTOMER_ID].isnull(),
        _out=outside,
        _neg=(t[S.QUANTITY] < 0) | (t[S.REVENUE] < 0),
        **{DAY: ts.date()},
    )


def _dup_marked(t: ir.Table, columns: tuple[str, ...]) -> ir.Table:
    """``_dup``: True for a line identical in every source column to a line earlier in input order."""
    w = ibis.window(group_by=[t[c] for c in columns], order_by=t[POS])
    return t.mutate(_dup=ibis.row_number().over(w) > 0)


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
        row = t.aggregate(rows=t.count(), revenue_abs=t[S.REVENUE].abs().sum(), **aggs).to_pandas().iloc[0]
    if int(row["rows"]) == 0:
        raise S.SchemaError("transactions: the table is empty (0 rows); nothing to analyse.")
    for i, (msg, cond) in enumerate(bad.items()):
        k = int(row[f"b{i}"] or 0)
        if k:
            ex = t.filter(cond).order_by(POS).limit(S.EXAMPLE_ROWS).drop(POS).to_pandas()
            raise S.SchemaError(f"transactions: {msg}: {k:,} row(s); first {len(ex)}:\n{ex.to_string()}")
    if float(row["revenue_abs"] or 0.0) > C._MAX_TOTAL:
        raise ValueError(f"revenue totals above {C._MAX_TOTAL:.0e} currency units cannot be booked exactly; check the revenue column's unit")
    return {k: (int(v) if k != "revenue_abs" else float(v)) for k, v in row.items()}


def _netting(log: TransactionLog, base: ir.Table, rules: C.CleaningRules, stages: Stages) -> ir.Table | None:
    """Lines touched by netting: ``_pos``, ``_net_reason`` (str or null), ``_qty2`` / ``_units2``
    (new quantity / revenue units, null when unchanged). ``None`` when there is no return."""
    eng = log.engine
    key = [S.CUSTOMER_ID, S.PRODUCT_ID]
    alive = base.filter(~base["_null"] & ~base["_out"])
    with stages("netting: gather lines of returned products"):
        pairs = alive.filter(alive["_neg"]).select(*key).distinct()
        cand = alive.semi_join(pairs, key)
        if rules.drop_exact_duplicates:
            cand = _dup_marked(cand, log.columns)
            cand = cand.filter(~cand["_dup"]).drop("_dup")
        cand = eng.materialize(cand.select(*key, S.ORDER_TS, S.QUANTITY, S.REVENUE, "_units", "_neg", POS), "cand")
        n_ret = cand.filter(cand["_neg"]).group_by(key).aggregate(_nret=lambda t: t.count())
        n_ret = eng.materialize(n_ret, "nret")
        counts = n_ret.group_by(n_ret["_nret"] >= 2).aggregate(k=lambda t: t.count()).to_pandas()
    if counts.empty:
        return None
    parts: list[ir.Table] = []
    with stages("netting: pairs with one return (engine)"):
        parts.append(_net_single(cand.semi_join(n_ret.filter(n_ret["_nret"] == 1), key)))
    with stages("netting: pairs with several returns (pandas)"):
        multi = cand.semi_join(n_ret.filter(n_ret["_nret"] >= 2), key).order_by(POS).to_pandas()
        if len(multi):
            parts.append(_net_multi(eng, multi))
    out = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    with stages("netting: keep the result"):
        return eng.materialize(out, "netting")


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
        return eng.con.create_table(f"netmulti_{id(out)}", ibis.memtable(out, schema=_NT_SCHEMA), temp=True)
    records = [
        (int(p), r, None if pd.isna(q) else float(q), None if pd.isna(u) else int(u))
        for p, r, q, u in zip(out[POS], out["_net_reason"], out["_qty2"], out["_units2"], strict=True)
    ]
    df = eng.spark.createDataFrame(records, schema=f"{POS} long, _net_reason string, _qty2 double, _units2 long")
    return eng._register_spark(df)


def _reasons(
    log: TransactionLog,
    rules: C.CleaningRules,
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    netting: ir.Table | None,
    duplicates: ir.Table | None | bool,
    base: ir.Table | None = None,
) -> ir.Table:
    """Every line with ``reason`` (rule order of the pandas path), ``_qty2`` / ``_units2`` (after
    netting), ``_known`` (product in the products table), ``_dup``.

    ``duplicates``: a table of duplicate ``_pos`` (exact), ``"mark"`` to mark them here with a window
    (for a small subset of lines), or ``None``/``False`` to ignore duplicates (the pre-pass)."""
    t = _base(log, window) if base is None else base
    if isinstance(duplicates, str):
        t = _dup_marked(t, log.columns)
    elif duplicates is not None and duplicates is not False:
        t = t.left_join(duplicates.select(POS, _is_dup=ibis.literal(True)), POS).drop(f"{POS}_right")
        t = t.mutate(_dup=t["_is_dup"].fill_null(False)).drop("_is_dup")
    else:
        t = t.mutate(_dup=ibis.literal(False))
    if netting is not None:
        t = t.left_join(netting, POS).drop(f"{POS}_right")
    else:
        t = t.mutate(_net_reason=ibis.null("string"), _qty2=ibis.null("float64"), _units2=ibis.null("int64"))
    t = t.mutate(_qty2=t["_qty2"].fill_null(t[S.QUANTITY]), _units2=t["_units2"].fill_null(t["_units"]))
    prod = log.products
    if prod is not None:
        has_dept = S.DEPARTMENT in prod.columns
        p = prod.select(S.PRODUCT_ID, _dept=prod[S.DEPARTMENT] if has_dept else ibis.null("string"))
        # one row per product (a loaded products table has unique ids; for a raw one, the smallest name)
        p = p.group_by(S.PRODUCT_ID).aggregate(_dept=p["_dept"].min())
        t = t.left_join(p.mutate(_known=ibis.literal(True)), S.PRODUCT_ID).drop(f"{S.PRODUCT_ID}_right")
        t = t.mutate(_known=t["_known"].fill_null(False))
        excluded = t["_dept"].isin(list(rules.exclude_departments)) if rules.exclude_departments else ibis.literal(False)
    else:
        t = t.mutate(_known=ibis.literal(True))
        excluded = ibis.literal(False)
    branches: list[tuple[Any, Any]] = [(t["_null"], "null_customer_id")]
    if rules.drop_exact_duplicates:
        branches.append((t["_dup"], "exact_duplicate"))
    branches += [(t["_out"], "outside_window"), (t["_net_reason"].notnull(), t["_net_reason"])]
    if rules.exclude_departments:
        branches.append((excluded.fill_null(False), "non_merchandise"))
    if rules.max_quantity is not None:
        branches.append((t["_qty2"] > float(rules.max_quantity), "quantity_outlier"))
    non_pos = (t["_qty2"] <= 0) | (t["_units2"] <= 0)
    if rules.drop_non_positive:
        branches.append((non_pos, "non_positive"))
    t = t.mutate(**{REASON: ibis.cases(*branches, else_="")}, _nonpos=non_pos)
    return t


def _group_lines(eng: Engine, t: ir.Table, rules: C.CleaningRules) -> ir.Table:
    """Aggregate lines (with ``reason``) into (order, day, reason, customer) groups."""
    h = eng.row_hash(t[S.ORDER_TS], t[S.PRODUCT_ID], t[S.QUANTITY], t[S.REVENUE]) & _HASH_MASK
    one = ibis.literal(1, "int64")
    kept = t[REASON] == ""
    unknown = ~t["_known"] & t[REASON].isin(["", "non_merchandise", "quantity_outlier", "non_positive"])
    units_changed = t["_units2"] != t["_units"]
    return t.group_by([S.ORDER_ID, DAY, REASON, S.CUSTOMER_ID]).aggregate(
        n=t.count(),
        units_in=t["_units"].sum(),
        units=t["_units2"].sum(),
        revenue=units_changed.ifelse(t["_units2"].cast("float64") / C.MICRO, t[S.REVENUE]).sum(),
        quantity=t["_qty2"].sum(),
        first_ts=t[S.ORDER_TS].min(),
        last_ts=t[S.ORDER_TS].max(),
        changed=(kept & units_changed).cast("int64").sum(),
        changed_units=(kept & units_changed).ifelse(t["_units2"] - t["_units"], ibis.literal(0, "int64")).sum(),
        unknown=unknown.cast("int64").sum(),
        nonpos_kept=(kept & t["_nonpos"]).cast("int64").sum(),
        dup_kept=(t["_dup"] & ~t["_null"]).cast("int64").sum(),
        b1=(one << (h % 62)).bit_or(),
        b2=(one << ((h // 4096) % 62)).bit_or(),
    )


def clean(
    log: TransactionLog,
    rules: C.CleaningRules | dict[str, Any] | None = None,
    start: S.DateLike | None = None,
    end: S.DateLike | None = None,
    stages: Stages | None = None,
) -> CleanLog:
    """Clean ``log`` on its engine: the rules and report of
    :func:`retention_utils.data.cleaning.clean_transactions`, exactly (module docstring).

    Returns a :class:`CleanLog` whose ``report`` reconciles and equals the pandas report (rows,
    revenue units, orders lost, flags, distinct counts); ``report.row_reason`` is ``None``.

    Raises
    ------
    ValueError : ``exclude_departments`` without a products table with a ``department`` column;
        ``start`` after ``end``; revenue totals beyond 9e12.
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
    base = _base(log, window)
    netting = _netting(log, base, rules, stages) if rules.net_returns else None
    with stages("main pass: reasons and (order, day) groups"):
        pre = _reasons(log, rules, window, netting, None, base=base)
        groups = eng.materialize(_group_lines(eng, pre, rules), "groups")
    with stages("exact duplicates: check the flagged groups"):
        g = groups.group_by([S.ORDER_ID, DAY]).aggregate(
            n=groups["n"].sum(), b1=groups["b1"].bit_or(), b2=groups["b2"].bit_or()
        )
        flagged = g.filter((eng.bit_count(g["b1"]) < g["n"]) & (eng.bit_count(g["b2"]) < g["n"]))
        flagged = eng.materialize(flagged.select(S.ORDER_ID).distinct(), "flagged")
        n_flagged = int(flagged.count().execute())
        duplicates = None
        if n_flagged:
            sub = base.semi_join(flagged, S.ORDER_ID)
            exact = _reasons(log, rules, window, netting, "mark", base=sub)
            exact = eng.materialize(exact, "exact")
            duplicates = eng.materialize(exact.filter(exact["_dup"]).select(POS), "dups")
            regrouped = _group_lines(eng, exact, rules)
            groups = eng.materialize(groups.anti_join(flagged, S.ORDER_ID).union(regrouped), "groups")
    cl = CleanLog(log, rules, groups, netting, duplicates, window, stages=stages)
    with stages("cleaning report"):
        cl.report = _report(cl, n_flagged)
    return cl


def _report(cl: CleanLog, n_flagged: int) -> C.CleaningReport:
    g = cl.groups
    rules = cl.rules
    rank = ibis.cases(*[(g[REASON] == r, i) for i, r in enumerate(C.REASONS)], else_=_KEPT_RANK)
    kept = g[REASON] == ""
    by_reason = g.group_by(REASON).aggregate(rows=g["n"].sum(), units=g["units"].sum()).to_pandas()
    by_reason = by_reason.set_index(REASON)
    tot = g.aggregate(
        rows_in=g["n"].sum(),
        units_in=g["units_in"].sum(),
        changed=g["changed"].sum(),
        changed_units=g["changed_units"].sum(),
        unknown=g["unknown"].sum(),
        nonpos_kept=g["nonpos_kept"].sum(),
        dup_kept=g["dup_kept"].sum(),
        customers_in=g[S.CUSTOMER_ID].nunique(),
        customers_kept=kept.ifelse(g[S.CUSTOMER_ID], ibis.null(g[S.CUSTOMER_ID].type())).nunique(),
    ).to_pandas().iloc[0]
    orders = g.group_by(S.ORDER_ID).aggregate(
        kept=kept.cast("int64").max(), first=rank.min(),
        cmin=g[S.CUSTOMER_ID].min(), cmax=g[S.CUSTOMER_ID].max(),
    )
    ordr = orders.aggregate(
        orders_in=orders.count(), orders_kept=orders["kept"].sum(),
        shared=(orders["cmin"] != orders["cmax"]).cast("int64").sum(),
    ).to_pandas().iloc[0]
    if int(ordr["shared"] or 0):
        ex = orders.filter(orders["cmin"] != orders["cmax"]).order_by(S.ORDER_ID).limit(S.EXAMPLE_ROWS).to_pandas()
        raise S.SchemaError(
            f"transactions: {int(ordr['shared']):,} order id(s) belong to more than one customer; order ids must "
            f"identify one checkout; e.g. (order, lowest and highest customer id):\n{ex[[S.ORDER_ID, 'cmin', 'cmax']].to_string()}"
        )
    lost = orders.filter(orders["kept"] == 0).group_by("first").aggregate(k=lambda t: t.count()).to_pandas()
    lost = dict(zip(lost["first"].astype(int), lost["k"].astype(int), strict=True))

    names = list(C.REASONS)
    rows = [int(by_reason["rows"].get(r, 0)) if r in by_reason.index else 0 for r in names]
    units = [int(by_reason["units"].get(r, 0)) if r in by_reason.index else 0 for r in names]
    removed = pd.DataFrame(
        {"reason": names, "rows": rows, "revenue_units": units, "description": list(C.REASONS.values())}
    ).set_index("reason")
    removed.insert(1, "revenue", removed["revenue_units"] / C.MICRO)
    removed.insert(3, "orders_lost", [lost.get(i, 0) for i in range(len(names))])
    changed = pd.DataFrame(
        {"rows": [int(tot["changed"] or 0)], "revenue": [float(int(tot["changed_units"] or 0)) / C.MICRO]},
        index=pd.Index(["reduced_by_return"], name="change"),
    )
    flags: dict[str, int] = {}
    if not rules.drop_exact_duplicates:
        flags["exact_duplicate_lines_kept"] = int(tot["dup_kept"] or 0)
    if cl.log.products is not None:
        flags["unknown_product_lines"] = int(tot["unknown"] or 0)
        flags["unknown_product_ids"] = _unknown_product_ids(cl) if flags["unknown_product_lines"] else 0
    if not rules.drop_non_positive:
        flags["non_positive_lines_kept"] = int(tot["nonpos_kept"] or 0)
    kept_rows = int(by_reason["rows"].get("", 0)) if "" in by_reason.index else 0
    kept_units = int(by_reason["units"].get("", 0)) if "" in by_reason.index else 0
    report = C.CleaningReport(
        rows_in=int(tot["rows_in"]),
        rows_kept=kept_rows,
        revenue_in_units=int(tot["units_in"]),
        revenue_kept_units=kept_units,
        removed=removed,
        changed=changed,
        flags=flags,
        customers_in=int(tot["customers_in"]),
        customers_kept=int(tot["customers_kept"]),
        orders_in=int(ordr["orders_in"]),
        orders_kept=int(ordr["orders_kept"] or 0),
        rules=rules,
        window=cl.window,
        row_reason=None,
    )
    if not report.reconciles():  # pragma: no cover - a bug, not a data problem
        raise AssertionError("engine cleaning report does not reconcile:\n" + report.summary())
    return report


def _unknown_product_ids(cl: CleanLog) -> int:
    t = _reasons(cl.log, cl.rules, cl.window, cl.netting, cl.duplicates)
    t = t.filter(~t["_known"] & t[REASON].isin(["", "non_merchandise", "quantity_outlier", "non_positive"]))
    return int(t[S.PRODUCT_ID].nunique().execute())
