"""Products to put in front of each listed customer, by scenario, from the package's recommenders.

* **welcome** (:func:`cold_start_items`): the customer has one basket and no history to learn from,
  so content + popularity: the departments of the first basket, most spend first, and in each the
  products bought by the most households in the ``popularity_days`` days up to the as-of day, taken
  round-robin across those departments, leaving out what the first basket already held.
* **maintenance** (:func:`tifu_items`): notebook 07's best next-basket model on The Complete
  Journey, TIFU-KNN (:class:`retention_utils.recommend.models.TIFUKNN`) with 07's chosen parameters
  (default ``alpha = 0.5``, ``n_neighbors = 100``; decays 0.9 / 0.6, 3 groups), fitted on the baskets up
  to the as-of day; its scores are split into **repeat** items (bought before by the customer) and
  **explore** items (new to them), and the best ``n_repeat`` and ``n_explore`` of each are kept (its
  plain top 10 is nine-tenths repeats, notebook 07).
* **winback** (:func:`buy_again_items`): the customer's own favourites, P-TopFreq ("buy again",
  :class:`retention_utils.recommend.models.PTopFreq`): products by the number of their baskets that
  hold them.
* **seasonal** (:func:`seasonal_items`): the customer's favourites within the rising departments,
  padded with those departments' most popular products.

Every function returns a long table ``customer_id``, ``product_id``, ``rank`` (1 = first), ``kind``
(``"repeat"`` or ``"explore"``); :func:`format_items` turns it into one text per customer with product
names and departments (:func:`product_labels`). Ties are broken by ``str(product_id)``, as in the
recommenders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .. import schema as S
from ..recommend import models as R
from ..recommend import split
from ..recommend.ranking import top_k_stored
from ..schema import DAY, DateLike

ITEM_COLUMNS = (S.CUSTOMER_ID, S.PRODUCT_ID, "rank", "kind")


@dataclass(frozen=True)
class TIFUSettings:
    """Notebook 07's TIFU-KNN choice on the global-cutoff protocol (its stored output) and the
    paper's decays (:class:`retention_utils.recommend.models.TIFUKNN`)."""

    alpha: float = 0.5
    n_neighbors: int = 100
    within_decay: float = 0.9
    group_decay: float = 0.6
    n_groups: int = 3


def product_labels(products: pd.DataFrame) -> pd.DataFrame:
    """Index ``product_id`` (str): ``name`` (``product_type``, else ``category``, else the id; with
    `` package_size`` when known) and ``department`` (``"?"`` when unknown)."""
    p = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)
    name = pd.Series(p.index.astype(str), index=p.index)
    for col in (S.CATEGORY, S.PRODUCT_TYPE):
        if col in p:
            name = p[col].where(p[col].notna() & (p[col].astype(str).str.strip() != ""), name).astype(str)
    if S.PACKAGE_SIZE in p:
        size = p[S.PACKAGE_SIZE]
        name = name.where(size.isna(), name + " " + size.astype(str))
    dept = p[S.DEPARTMENT].fillna("?").astype(str) if S.DEPARTMENT in p else pd.Series("?", index=p.index)
    out = pd.DataFrame({"name": name.astype(str).str.strip(), S.DEPARTMENT: dept})
    out.index = out.index.astype(str)
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "rank" else object) for c in ITEM_COLUMNS})


def interactions(tx_known: pd.DataFrame) -> R.Interactions:
    """Training baskets of the recommenders: every basket up to the as-of day."""
    return R.Interactions.from_baskets(split.basket_items(tx_known))


def _history_mask(data: R.Interactions, recs: pd.DataFrame) -> np.ndarray:
    rows = data.rows(recs[S.CUSTOMER_ID].to_numpy(), allow_unknown=True)
    cols = data.items.get_indexer(recs[S.PRODUCT_ID])
    ok = (rows >= 0) & (cols >= 0)
    out = np.zeros(len(recs), dtype=bool)
    out[ok] = np.asarray(data.counts[rows[ok], cols[ok]]).ravel() > 0
    return out


def buy_again_items(data: R.Interactions, households: pd.Index, k: int = 5) -> pd.DataFrame:
    """P-TopFreq top ``k`` per household (all ``"repeat"``)."""
    if len(households) == 0:
        return _empty()
    recs = R.PTopFreq().fit(data).recommend(np.asarray(households), k)
    return recs.assign(kind="repeat")[list(ITEM_COLUMNS)].reset_index(drop=True)


def tifu_items(data: R.Interactions, households: pd.Index, n_repeat: int = 3, n_explore: int = 2,
               settings: TIFUSettings | None = None, chunk: int = 200) -> pd.DataFrame:
    """TIFU-KNN's scores split into the best ``n_repeat`` repeat items (bought before by the household)
    and the best ``n_explore`` explore items (new to it) per household (module docstring); the repeat
    items rank first. Scores are rounded as in the recommenders and ties go to ``str(product_id)``."""
    if len(households) == 0:
        return _empty()
    st = settings or TIFUSettings()
    model = R.TIFUKNN(n_neighbors=st.n_neighbors, within_decay=st.within_decay, group_decay=st.group_decay,
                      alpha=st.alpha, n_groups=st.n_groups).fit(data)
    users = np.asarray(households)
    rows = data.rows(users)
    items = np.asarray(model.items_)
    parts = []
    for a in range(0, len(rows), chunk):
        r = rows[a:a + chunk]
        scores = np.round(np.asarray(model.score_block(r), dtype="float64"), R.SCORE_DECIMALS)
        bought = data.counts[r][:, model.item_index_].toarray() > 0
        for kind, mask, n in (("repeat", bought, n_repeat), ("explore", ~bought, n_explore)):
            if n <= 0:
                continue
            s = np.where(mask, scores, np.nan)
            s = np.where(s > 0, s, np.nan)  # a zero score is no recommendation
            top = top_k_stored(users[a:a + chunk], items, sparse.csr_matrix(np.nan_to_num(s, nan=0.0)), int(n))
            parts.append(top.assign(kind=kind))
    out = pd.concat(parts, ignore_index=True)
    out["_o"] = np.where(out["kind"] == "repeat", 0, 1)
    pos = pd.Series(np.arange(len(users)), index=users)
    out["_u"] = out[S.CUSTOMER_ID].map(pos)
    out = out.sort_values(["_u", "_o", "rank"], kind="stable")
    out["rank"] = out.groupby(S.CUSTOMER_ID).cumcount().astype("int64") + 1
    return out[list(ITEM_COLUMNS)].reset_index(drop=True)


def popularity_by_department(tx_known: pd.DataFrame, products: pd.DataFrame, as_of: DateLike,
                             popularity_days: int = 90) -> pd.DataFrame:
    """Products of the last ``popularity_days`` days up to ``as_of`` with ``department`` and
    ``households`` (distinct buyers), sorted by department, households descending, ``str(product_id)``."""
    a = S.to_day(as_of, "as_of")
    t = tx_known[(tx_known[S.ORDER_TS] >= a + DAY - pd.Timedelta(days=int(popularity_days))) & (tx_known[S.ORDER_TS] < a + DAY)]
    pop = t.groupby(S.PRODUCT_ID)[S.CUSTOMER_ID].nunique().rename("households").reset_index()
    labels = product_labels(products)
    pop[S.DEPARTMENT] = pop[S.PRODUCT_ID].astype(str).map(labels[S.DEPARTMENT]).fillna("?")
    pop["_key"] = pop[S.PRODUCT_ID].astype(str)
    pop = pop.sort_values([S.DEPARTMENT, "households", "_key"], ascending=[True, False, True], kind="stable")
    return pop.drop(columns="_key").reset_index(drop=True)


def _round_robin(customer: str, depts: list[str], pools: dict[str, list], exclude: set, k: int) -> list[tuple]:
    out, pos = [], dict.fromkeys(depts, 0)
    while len(out) < k and any(pos[d] < len(pools.get(d, [])) for d in depts):
        for d in depts:
            items = pools.get(d, [])
            while pos[d] < len(items) and items[pos[d]] in exclude:
                pos[d] += 1
            if pos[d] < len(items) and len(out) < k:
                out.append((customer, items[pos[d]]))
                exclude = exclude | {items[pos[d]]}
                pos[d] += 1
    return out


def cold_start_items(tx_known: pd.DataFrame, products: pd.DataFrame, first_order_ids: pd.Series, as_of: DateLike,
                     k: int = 5, popularity_days: int = 90) -> pd.DataFrame:
    """Welcome items (module docstring). ``first_order_ids``: Series customer_id -> order_id of their
    first order. All items are ``"explore"`` (new to the customer beyond the first basket)."""
    as_of = S.to_day(as_of, "as_of")  # dates first: one rule, refused early
    if len(first_order_ids) == 0:
        return _empty()
    labels = product_labels(products)
    lines = tx_known[tx_known[S.ORDER_ID].isin(first_order_ids.to_numpy())]
    lines = lines.assign(_d=lines[S.PRODUCT_ID].astype(str).map(labels[S.DEPARTMENT]).fillna("?"))
    by_dept = lines.groupby([S.CUSTOMER_ID, "_d"])[S.REVENUE].sum().reset_index()
    pop = popularity_by_department(tx_known, products, as_of, popularity_days)
    pools = {d: list(g[S.PRODUCT_ID]) for d, g in pop.groupby(S.DEPARTMENT, sort=True)}
    rows = []
    for cust in sorted(first_order_ids.index.astype(str)):
        mine = by_dept[by_dept[S.CUSTOMER_ID] == cust].sort_values([S.REVENUE, "_d"], ascending=[False, True])
        bought = set(lines.loc[lines[S.CUSTOMER_ID] == cust, S.PRODUCT_ID])
        rows += _round_robin(cust, list(mine["_d"]), pools, bought, int(k))
    if not rows:
        return _empty()
    out = pd.DataFrame(rows, columns=[S.CUSTOMER_ID, S.PRODUCT_ID])
    out["rank"] = out.groupby(S.CUSTOMER_ID).cumcount().astype("int64") + 1
    out["kind"] = "explore"
    return out[list(ITEM_COLUMNS)]


def seasonal_items(data: R.Interactions, tx_known: pd.DataFrame, products: pd.DataFrame, households: pd.Index,
                   rising: list[str], top_department: pd.Series, as_of: DateLike, k: int = 5,
                   popularity_days: int = 90) -> pd.DataFrame:
    """Seasonal items: the customer's own most frequent products in the ``rising`` departments
    (``"repeat"``), padded with the most popular products of their ``top_department`` (Series
    customer_id -> department) that they never bought (``"explore"``)."""
    as_of = S.to_day(as_of, "as_of")  # dates first: one rule, refused early
    if len(households) == 0 or not rising:
        return _empty()
    labels = product_labels(products)
    in_rising = labels.index[labels[S.DEPARTMENT].isin(rising)]
    cols = np.flatnonzero(data.items.astype(str).isin(in_rising))
    own = data.counts_of(np.asarray(households))[:, cols].tocsr()
    repeat = top_k_stored(np.asarray(households), np.asarray(data.items[cols]), own, int(k)).assign(kind="repeat")
    pop = popularity_by_department(tx_known, products, as_of, popularity_days)
    pools = {d: list(g[S.PRODUCT_ID]) for d, g in pop.groupby(S.DEPARTMENT, sort=True)}
    pad = []
    for cust in np.asarray(households):
        have = repeat[repeat[S.CUSTOMER_ID] == cust]
        need = int(k) - len(have)
        d = top_department.get(cust)
        if need > 0 and isinstance(d, str):
            r = data.rows([cust], allow_unknown=True)[0]
            bought = set(data.items[data.counts[r].indices]) if r >= 0 else set()
            pad += _round_robin(str(cust), [d], pools, bought, need)
    extra = pd.DataFrame(pad, columns=[S.CUSTOMER_ID, S.PRODUCT_ID]).assign(kind="explore", rank=0)
    out = pd.concat([repeat[[S.CUSTOMER_ID, S.PRODUCT_ID, "rank", "kind"]], extra], ignore_index=True)
    out["_o"] = np.where(out["kind"] == "repeat", 0, 1)
    out = out.sort_values([S.CUSTOMER_ID, "_o", "rank"], kind="stable")
    out["rank"] = out.groupby(S.CUSTOMER_ID).cumcount().astype("int64") + 1
    return out[list(ITEM_COLUMNS)].reset_index(drop=True)


def format_items(items: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per customer (index ``customer_id``): ``recommended_products`` (``"NAME [DEPARTMENT]"``
    joined by ``"; "`` in rank order), ``repeat_products``, ``explore_products`` (the same split by
    kind) and ``recommended_product_ids`` (``";"``-joined)."""
    cols = ["recommended_products", "repeat_products", "explore_products", "recommended_product_ids"]
    if items.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name=S.CUSTOMER_ID))
    it = items.sort_values([S.CUSTOMER_ID, "rank"], kind="stable").copy()
    pid = it[S.PRODUCT_ID].astype(str)
    it["_t"] = pid.map(labels["name"]).fillna(pid) + " [" + pid.map(labels[S.DEPARTMENT]).fillna("?") + "]"
    g = it.groupby(S.CUSTOMER_ID, sort=True)
    out = pd.DataFrame({
        "recommended_products": g["_t"].agg("; ".join),
        "repeat_products": it[it["kind"] == "repeat"].groupby(S.CUSTOMER_ID)["_t"].agg("; ".join),
        "explore_products": it[it["kind"] == "explore"].groupby(S.CUSTOMER_ID)["_t"].agg("; ".join),
        "recommended_product_ids": g[S.PRODUCT_ID].agg(lambda s: ";".join(map(str, s))),
    })
    out = out.fillna("")
    out.index = out.index.astype(str)
    out.index.name = S.CUSTOMER_ID
    return out[cols]
