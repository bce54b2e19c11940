"""The products the cleaning rules look up, at scale: the unlisted ids (``_known``) and the ids of the
excluded departments (``non_merchandise``), each a small table on the engine, so that no line is
joined to the products table (see :mod:`.clean`)."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from .. import schema as S
from ..data import cleaning as C
from .backend import Engine


def product_departments(prod: ir.Table) -> ir.Table:
    """``product_id``, ``_dept``: one row per listed product of the products table ``prod`` (a loaded
    products table has unique ids; for a raw one, the smallest department name); ``_dept`` null
    without a department column, and text when the column holds numbers (department codes: an
    excluded department name then matches none of them, as in pandas, unless it is a code's digits)."""
    has_dept = S.DEPARTMENT in prod.columns
    dept = prod[S.DEPARTMENT] if has_dept else ibis.null("string")
    if has_dept and not prod.schema()[S.DEPARTMENT].is_string():  # numbers as department codes: as text
        dept = dept.cast("string")
    p = prod.select(S.PRODUCT_ID, _dept=dept)
    return p.group_by(S.PRODUCT_ID).aggregate(_dept=p["_dept"].min())


@dataclass
class ProductLists:
    """The few products the rules look up by id, kept on the engine (each ``None`` when empty):
    ``unlisted``, the log's product ids missing from the products table (``_known`` false), and
    ``excluded``, the listed products of an excluded department (``non_merchandise``). Each table
    has one column ``product_id``. Every line is checked against these small tables, not joined to
    the products table (at 100 M lines and 50,000 products that join cost 6-7 s of a 17-s pass)."""

    unlisted: ir.Table | None = None
    excluded: ir.Table | None = None


def product_lists(eng: Engine, lines: ir.Table, products: ir.Table | None, rules: C.CleaningRules) -> ProductLists:
    """:class:`ProductLists` of the log's ``lines`` and its ``products`` table (or ``None``): one pass
    over the lines' product ids, about 1.5 s at 100 M lines."""
    if products is None:
        return ProductLists()
    listed = products.filter(products[S.PRODUCT_ID].notnull()).select(S.PRODUCT_ID)
    ids = lines.select(S.PRODUCT_ID).distinct()
    unlisted = eng.materialize(ids.filter(ids[S.PRODUCT_ID].notnull()).anti_join(listed, S.PRODUCT_ID),
                               "unlisted_products")
    if int(unlisted.count().execute()) == 0:
        eng.drop(unlisted)
        unlisted = None
    excluded = None
    if rules.exclude_departments:
        p = product_departments(products)
        p = p.filter(p["_dept"].isin(list(rules.exclude_departments)) & p[S.PRODUCT_ID].notnull())
        excluded = eng.materialize(p.select(S.PRODUCT_ID), "excluded_products")
        if int(excluded.count().execute()) == 0:
            eng.drop(excluded)
            excluded = None
    return ProductLists(unlisted, excluded)


def member(eng: Engine, t: ir.Table, small: ir.Table | None, flag: str) -> ir.Table:
    """``t`` with the boolean column ``flag``: its ``product_id`` is in the small table ``small``
    (false for every line when ``small`` is ``None``). DuckDB: ``IN (subquery)``, a mark join
    cheaper than a left join; Spark: a left join with the small table."""
    if small is None:
        return t.mutate(**{flag: ibis.literal(False)})
    if eng.name == "duckdb":
        return t.mutate(**{flag: t[S.PRODUCT_ID].isin(small[S.PRODUCT_ID])})
    s = small.select(S.PRODUCT_ID, **{flag: ibis.literal(True)})
    j = t.left_join(s, S.PRODUCT_ID).drop(f"{S.PRODUCT_ID}_right")
    return j.mutate(**{flag: j[flag].fill_null(False)})


def product_flags(eng: Engine, t: ir.Table, plists: ProductLists) -> ir.Table:
    """``t`` with ``_known`` (product listed, or no products table) and ``_excluded`` (a product of
    an excluded department), from the small tables of :class:`ProductLists`."""
    t = member(eng, t, plists.unlisted, "_unlisted")
    t = member(eng, t, plists.excluded, "_excluded")
    return t.mutate(_known=~t["_unlisted"]).drop("_unlisted")
