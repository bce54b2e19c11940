"""Next-basket evaluation splits: what a recommender may learn from and what it must predict.

A *basket* is one order (``order_id``); its items are the distinct products on it. Two protocols are
provided, each as a :class:`Protocol` holding a validation split (for tuning) and a test split (scored
once). A split (:class:`NextBasketSplit`) has the basket rows a model may be fitted on (``train``) and
the (household, product) pairs it must predict (``truth``).

Global-cutoff protocol (primary, leak-free): :func:`global_cutoff_protocol`
----------------------------------------------------------------------------
One calendar cutoff ``t0`` (a day at 00:00) for every household.

* ``train``: every basket with ``order_ts < t0`` (all households).
* ``truth``: for each household, the items of its *next basket*, the first basket with
  ``order_ts >= t0`` (ties in time broken by ``order_id``); or, with ``horizon_days=H``, every item
  it bought in ``[t0, t0 + H)``.
* excluded and counted: households with no target basket (no basket at or after ``t0``, or none in
  the horizon).
* cold start: households with a target but fewer than ``min_baskets`` baskets before ``t0``
  (including brand-new ones with none) are moved to ``cold_truth`` and evaluated separately.
* validation: the same construction at an earlier cutoff ``t_val`` on the data *before* ``t0`` only,
  so that tuning never sees the test period (a household whose next basket after ``t_val`` falls at
  or after ``t0`` has no validation target and is counted as excluded).

Nothing at or after the cutoff reaches ``train`` (tested: changing any basket at or after ``t0``
leaves ``train`` unchanged, and every truth basket is at or after ``t0``).

Last-basket protocol (literature-comparable): :func:`last_basket_protocol`
-------------------------------------------------------------------------
The protocol of Romanov, Lashinin, Ananyeva & Kolesnikov (2023), "Time-Aware Item Weighting for the
Next Basket Recommendations", RecSys '23 (doi:10.1145/3604915.3608859), following their public
preprocessing: households with at least ``min_baskets`` (5) baskets and products bought in at least
``min_item_baskets`` (10) baskets are kept, both counted on the input in one pass; each household's
last basket is its test target, its second-to-last the validation target; the test model is fitted on
every household's baskets except its last, the validation model on every household's baskets except
its last two. Households left with fewer than three baskets after the product filter stay in the
training rows but are not evaluated (counted). Their extra filter of "noisy" users (purchase rate above
mean + 2 sd, or all purchases on one day) is not applied. This protocol is *not* leak-free in time:
one household's training rows may be later than another household's test basket; it exists to
compare with published numbers, in kind (their data is The Complete Journey 1.0).

Counts (``NextBasketSplit.counts``) use the keys documented on :class:`NextBasketSplit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DateLike
from .ranking import check_whole, string_rank

__all__ = [
    "BASKET_COLUMNS",
    "NextBasketSplit",
    "Protocol",
    "basket_items",
    "global_cutoff_protocol",
    "global_cutoff_split",
    "last_basket_protocol",
    "require_products",
]

BASKET_COLUMNS: tuple[str, ...] = (S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.PRODUCT_ID)



def _examples(df: pd.DataFrame, mask: np.ndarray) -> str:
    rows = df.loc[mask]
    return f"{len(rows):,} row(s), e.g.:\n{rows.head(5).to_string()}"


def basket_items(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (basket, product), the input of every split.

    Parameters
    ----------
    tx : DataFrame
        Clean canonical transactions (:mod:`retention_utils.schema`) with at least ``customer_id``,
        ``order_id``, ``order_ts`` (datetime64) and ``product_id``; other columns are ignored.

    Returns
    -------
    DataFrame
        Columns ``customer_id``, ``order_id``, ``product_id`` (as in the input) and ``order_ts``
        (datetime64[ns]), one row per distinct (``order_id``, ``product_id``), sorted by
        ``customer_id``, ``order_ts``, ``order_id``, ``product_id``, fresh RangeIndex.

    Raises
    ------
    retention_utils.schema.SchemaError
        A required column is missing, the table is empty, ids or timestamps are null, ``order_ts``
        is not tz-naive datetime64, or one ``order_id`` has several customers or timestamps (named rows).
    """
    S.require_columns(tx, BASKET_COLUMNS)
    S.require_non_empty(tx)
    S.require_timestamps(tx, S.ORDER_TS)  # datetime64, tz-naive, no NaT
    # every check, duplicate and sort below runs on sorted integer codes of the ids (an order-preserving
    # relabelling: the same rows come out in the same order as on the ids, in about half the time)
    codes = {}
    for c in _ID_COLUMNS:
        codes[c] = pd.factorize(tx[c], sort=True)[0]
        null = codes[c] < 0
        if null.any():
            raise S.SchemaError(f"transactions: column {c!r} has null values: {_examples(tx, null)}")
    ts = tx[S.ORDER_TS].to_numpy().view(np.int64)
    heads = pd.DataFrame({"o": codes[S.ORDER_ID], "c": codes[S.CUSTOMER_ID], "t": ts}).drop_duplicates()
    bad = heads["o"].duplicated(keep=False).to_numpy()
    if bad.any():
        shown = tx[[S.ORDER_ID, S.CUSTOMER_ID, S.ORDER_TS]].iloc[heads.index.to_numpy()]
        raise S.SchemaError(
            "transactions: an order_id must belong to one customer at one timestamp; "
            f"these orders do not: {_examples(shown, bad)}"
        )
    pairs = pd.DataFrame({"o": codes[S.ORDER_ID], "p": codes[S.PRODUCT_ID]})
    keep = np.flatnonzero(~pairs.duplicated().to_numpy())  # first line of each (order, product)
    oc, pc = codes[S.ORDER_ID][keep], codes[S.PRODUCT_ID][keep]
    n_o, n_p = int(oc.max()) + 1, int(pc.max()) + 1
    if n_o * n_p < 2**62:
        # an order has one customer and one timestamp (checked above): rank the orders by (customer,
        # timestamp, order id), then one integer sort by (order rank, product)
        o_cust = np.empty(n_o, dtype=np.int64)
        o_ts = np.empty(n_o, dtype=np.int64)
        o_cust[oc], o_ts[oc] = codes[S.CUSTOMER_ID][keep], ts[keep]
        o_rank = np.empty(n_o, dtype=np.int64)
        o_rank[np.lexsort((np.arange(n_o), o_ts, o_cust))] = np.arange(n_o)
        order = np.argsort(o_rank[oc] * n_p + pc, kind="stable")
    else:
        order = np.lexsort((pc, oc, ts[keep], codes[S.CUSTOMER_ID][keep]))
    return tx[list(BASKET_COLUMNS)].iloc[keep[order]].reset_index(drop=True)


def require_products(tx: pd.DataFrame, products: pd.DataFrame | None, dataset: str = "this dataset") -> None:
    """Raise a clear ``ValueError`` unless the data can support product recommendation.

    Needs at least two distinct ``product_id`` values in ``tx`` and a product table (DataFrame with a
    ``product_id`` column). CDNOW, for instance, has a single pseudo-product ``CD`` and no product
    table, so recommender evaluation is meaningless there; the message says so instead of failing
    later inside a model.
    """
    S.require_columns(tx, [S.PRODUCT_ID])
    n = int(tx[S.PRODUCT_ID].nunique())
    examples = list(pd.unique(tx[S.PRODUCT_ID])[:3])
    if n < 2:
        raise ValueError(
            f"{dataset}: product recommendation needs a catalogue, but the transactions hold {n} distinct "
            f"product(s) {examples}; run this analysis on a dataset with products (e.g. complete_journey)"
        )
    if not isinstance(products, pd.DataFrame) or S.PRODUCT_ID not in products:
        raise ValueError(
            f"{dataset}: product recommendation needs a product table (product_id plus attributes such "
            "as department, category, brand); this dataset has none"
        )


def _check_baskets(baskets: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(baskets, pd.DataFrame):
        raise TypeError(f"baskets must be a DataFrame (see basket_items), got {type(baskets).__name__}")
    S.require_columns(baskets, BASKET_COLUMNS, table="baskets")
    S.require_timestamps(baskets, S.ORDER_TS, table="baskets")
    return baskets


def _day(value: DateLike, name: str) -> pd.Timestamp:
    ts = S.to_day(value, name) if isinstance(value, str) else pd.Timestamp(value)
    if ts.tzinfo is not None:
        raise ValueError(f"{name} must be tz-naive, got {ts}")
    return ts


@dataclass
class NextBasketSplit:
    """One train / target split.

    Attributes
    ----------
    name : str
        Short label, e.g. ``"test: next basket after 2017-12-04"``.
    train : DataFrame
        Basket rows (columns of :data:`BASKET_COLUMNS`) a model may be fitted on.
    truth : DataFrame
        Columns ``customer_id``, ``product_id``: one row per distinct target item of each evaluated
        (warm) household, sorted.
    cold_truth : DataFrame
        The same for cold-start households (global protocol; empty for the last-basket protocol).
    counts : dict[str, int]
        ``households`` (in the input, before ``end`` if given), ``excluded_no_target`` (no target basket), ``cold``,
        ``evaluated`` (warm households with a target), ``train_baskets``, ``train_rows``,
        ``target_baskets``; the last-basket protocol adds ``dropped_few_baskets``,
        ``dropped_items``, ``dropped_rows`` and ``train_only`` (fewer than three baskets left).
    cutoff : Timestamp or None
        ``t0`` of the global protocol.
    """

    name: str
    train: pd.DataFrame
    truth: pd.DataFrame
    cold_truth: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    cutoff: pd.Timestamp | None = None
    #: integer codes of ``train``'s ids kept by :func:`require_protocols` (``(codes, ids, the train
    #: frame they describe)``), for :meth:`interactions`
    _codes: tuple[dict[str, np.ndarray], dict[str, pd.Index], pd.DataFrame] | None = field(
        default=None, repr=False, compare=False
    )

    def interactions(self) -> Any:
        """``train`` as :class:`~retention_utils.recommend.models.Interactions`, equal to
        ``Interactions.from_baskets(self.train)``. A split built by :func:`require_protocols` keeps the
        integer codes of its ids and builds from them (about four times faster on text ids); once
        ``train`` is replaced by another frame it builds from ``train``. (Changing the ids inside
        ``train`` in place is not seen: assign a new frame instead.)"""
        from .models import Interactions

        if self._codes is None or self._codes[2] is not self.train:
            return Interactions.from_baskets(self.train)
        codes, ids, _ = self._codes
        u_codes, u_at = pd.factorize(codes[S.CUSTOMER_ID], sort=True)
        i_raw, i_at = pd.factorize(codes[S.PRODUCT_ID])
        o_codes, o_at = pd.factorize(codes[S.ORDER_ID])
        orders = ids[S.ORDER_ID]
        # text ids: the sorted codes are already in string order; otherwise rank the ids' strings
        o_rank = o_at if orders.inferred_type == "string" else string_rank(orders.take(o_at))
        return Interactions.from_codes(
            u_codes, ids[S.CUSTOMER_ID].take(u_at), i_raw, ids[S.PRODUCT_ID].take(i_at), o_codes,
            np.asarray(o_rank, dtype=np.int64), self.train[S.ORDER_TS].to_numpy(),
        )

    @property
    def households(self) -> pd.Index:
        """Evaluated (warm) households, sorted."""
        return pd.Index(self.truth[S.CUSTOMER_ID].unique(), name=S.CUSTOMER_ID).sort_values()

    @property
    def cold_households(self) -> pd.Index:
        """Cold-start households with a target, sorted."""
        return pd.Index(self.cold_truth[S.CUSTOMER_ID].unique(), name=S.CUSTOMER_ID).sort_values()

    def history(self, households: pd.Index | None = None) -> pd.DataFrame:
        """Distinct (``customer_id``, ``product_id``) pairs of ``train``, optionally only for
        ``households``: the "bought before" set of the repeat / explore breakdown."""
        h = self.train[[S.CUSTOMER_ID, S.PRODUCT_ID]]
        if households is not None:
            h = h[h[S.CUSTOMER_ID].isin(households)]
        return h.drop_duplicates().reset_index(drop=True)


@dataclass
class Protocol:
    """A validation split (tuning) and a test split (scored once) built the same way."""

    name: str
    validation: NextBasketSplit
    test: NextBasketSplit

    def counts(self) -> pd.DataFrame:
        """Counts of both splits side by side: index = count name, columns ``validation``, ``test``
        (int64; 0 where a count does not apply)."""
        df = pd.DataFrame({"validation": self.validation.counts, "test": self.test.counts})
        return df.fillna(0).astype("int64")


def _pairs(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows[[S.CUSTOMER_ID, S.PRODUCT_ID]].drop_duplicates()
    return out.sort_values([S.CUSTOMER_ID, S.PRODUCT_ID], kind="stable").reset_index(drop=True)


def global_cutoff_split(
    baskets: pd.DataFrame,
    cutoff: DateLike,
    *,
    horizon_days: int | None = None,
    min_baskets: int = 1,
    end: DateLike | None = None,
    name: str | None = None,
) -> NextBasketSplit:
    """Split at one global cutoff (module docstring, "Global-cutoff protocol").

    Parameters
    ----------
    baskets : DataFrame
        Output of :func:`basket_items`.
    cutoff : date-like
        ``t0``; training rows have ``order_ts < t0``.
    horizon_days : int or None
        ``None``: the target is the household's next basket at or after ``t0``. An int ``H >= 1``:
        the target is every item bought in ``[t0, t0 + H days)``.
    min_baskets : int
        Households with fewer training baskets than this (>= 1) are cold start.
    end : date-like or None
        Rows with ``order_ts >= end`` are ignored altogether (used by the validation split so it
        never sees the test period).
    name : str or None
        Label; a default names the cutoff and the target.

    Returns
    -------
    NextBasketSplit

    Raises
    ------
    ValueError
        ``end <= cutoff``, ``horizon_days < 1`` or ``min_baskets < 1``, no basket before the
        cutoff, or no target basket at all.
    """
    b = _check_baskets(baskets)
    t0 = _day(cutoff, "cutoff")
    if horizon_days is not None:
        horizon_days = check_whole(horizon_days, "horizon_days (or None)")
    min_baskets = check_whole(min_baskets, "min_baskets")
    if end is not None:
        t_end = _day(end, "end")
        if t_end <= t0:
            raise ValueError(f"end ({t_end.date()}) must be after the cutoff ({t0.date()})")
        b = b[b[S.ORDER_TS] < t_end]
    n_households = int(b[S.CUSTOMER_ID].nunique())
    before = (b[S.ORDER_TS] < t0).to_numpy()
    train = b[before].reset_index(drop=True)
    after = b[~before]
    if train.empty:
        raise ValueError(f"no basket before the cutoff {t0.date()}: nothing to train on")
    if horizon_days is None:
        heads = after[[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS]].drop_duplicates(S.ORDER_ID)
        heads = heads.sort_values([S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID], kind="stable")
        first = heads.drop_duplicates(S.CUSTOMER_ID)[S.ORDER_ID]
        target = after[after[S.ORDER_ID].isin(first)]
        what = "next basket"
    else:
        target = after[after[S.ORDER_TS] < t0 + pd.Timedelta(days=int(horizon_days))]
        what = f"items in [t0, t0 + {int(horizon_days)} days)"
    if target.empty:
        raise ValueError(f"no basket at or after the cutoff {t0.date()}: nothing to evaluate")
    n_train = train.groupby(S.CUSTOMER_ID)[S.ORDER_ID].nunique()
    with_target = pd.Index(target[S.CUSTOMER_ID].unique())
    cold = with_target[n_train.reindex(with_target).fillna(0).to_numpy() < int(min_baskets)]
    is_cold = target[S.CUSTOMER_ID].isin(cold).to_numpy()
    truth, cold_truth = _pairs(target[~is_cold]), _pairs(target[is_cold])
    counts = {
        "households": n_households,
        "excluded_no_target": n_households - len(with_target),
        "cold": len(cold),
        "evaluated": len(with_target) - len(cold),
        "train_baskets": int(train[S.ORDER_ID].nunique()),
        "train_rows": len(train),
        "target_baskets": int(target[S.ORDER_ID].nunique()),
    }
    label = name or f"{what} after {t0.date()}"
    return NextBasketSplit(label, train, truth, cold_truth, counts, t0)


def global_cutoff_protocol(
    baskets: pd.DataFrame,
    test_cutoff: DateLike,
    validation_cutoff: DateLike,
    *,
    horizon_days: int | None = None,
    min_baskets: int = 5,
) -> Protocol:
    """Validation split at ``validation_cutoff`` on the data before ``test_cutoff``, test split at
    ``test_cutoff`` (module docstring). Same parameters as :func:`global_cutoff_split`.

    Raises
    ------
    ValueError
        ``validation_cutoff >= test_cutoff``, or with a horizon, ``validation_cutoff + horizon``
        after ``test_cutoff`` (the validation window would overlap the test period); and the
        errors of :func:`global_cutoff_split`.
    """
    t_test, t_val = _day(test_cutoff, "test_cutoff"), _day(validation_cutoff, "validation_cutoff")
    if t_val >= t_test:
        raise ValueError(f"validation_cutoff ({t_val.date()}) must be before test_cutoff ({t_test.date()})")
    if horizon_days is not None and t_val + pd.Timedelta(days=int(horizon_days)) > t_test:
        raise ValueError(
            f"validation window [{t_val.date()}, +{int(horizon_days)} days) overlaps the test period "
            f"starting {t_test.date()}; move validation_cutoff earlier"
        )
    kw: dict[str, Any] = {"horizon_days": horizon_days, "min_baskets": min_baskets}
    what = "next basket" if horizon_days is None else f"{int(horizon_days)}-day window"
    val = global_cutoff_split(baskets, t_val, end=t_test, **kw)
    test = global_cutoff_split(baskets, t_test, **kw)
    return Protocol(f"global cutoff {t_test.date()}, {what}", val, test)


def last_basket_protocol(
    baskets: pd.DataFrame,
    *,
    min_baskets: int = 5,
    min_item_baskets: int = 10,
) -> Protocol:
    """Leave-last-basket-out protocol of Romanov et al. (2023) (module docstring).

    Parameters
    ----------
    baskets : DataFrame
        Output of :func:`basket_items` (one row per distinct basket and product, so row counts per
        product are basket counts).
    min_baskets : int
        Households with fewer baskets (counted on the input) are dropped.
    min_item_baskets : int
        Products in fewer baskets (counted on the input) are dropped.

    Returns
    -------
    Protocol
        ``test``: train = every kept household's baskets but its last, truth = its last basket;
        ``validation``: train = all but the last two, truth = the second-to-last basket.
        ``cold_truth`` is empty; ``cutoff`` is ``None``.

    Raises
    ------
    ValueError
        Thresholds below 1, or no household left to evaluate.
    """
    b = _check_baskets(baskets)
    min_baskets = check_whole(min_baskets, "min_baskets")
    min_item_baskets = check_whole(min_item_baskets, "min_item_baskets")
    n_households = int(b[S.CUSTOMER_ID].nunique())
    n_b = b.groupby(S.CUSTOMER_ID)[S.ORDER_ID].nunique()
    n_i = b.groupby(S.PRODUCT_ID).size()  # rows are distinct (basket, product): baskets per product
    keep_h = n_b.index[n_b >= int(min_baskets)]
    keep_i = n_i.index[n_i >= int(min_item_baskets)]
    kept = b[b[S.CUSTOMER_ID].isin(keep_h) & b[S.PRODUCT_ID].isin(keep_i)]
    heads = kept[[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS]].drop_duplicates(S.ORDER_ID)
    heads = heads.sort_values([S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID], kind="stable")
    from_end = heads.groupby(S.CUSTOMER_ID).cumcount(ascending=False)
    n_left = heads.groupby(S.CUSTOMER_ID)[S.ORDER_ID].transform("size")
    pos = pd.Series(
        np.where(n_left.to_numpy() >= 3, from_end.to_numpy(), 10**9), index=heads[S.ORDER_ID].to_numpy()
    )
    rank = pos.reindex(kept[S.ORDER_ID]).to_numpy()  # 0 = last basket of an evaluated household
    evaluated = int((n_left >= 3).groupby(heads[S.CUSTOMER_ID]).first().sum())
    if evaluated == 0:
        raise ValueError("no household has three or more baskets after filtering; nothing to evaluate")
    base = {
        "households": n_households,
        "dropped_few_baskets": int(n_households - len(keep_h)),
        "dropped_items": int(len(n_i) - len(keep_i)),
        "dropped_rows": int(len(b) - len(kept)),
        "train_only": int(kept[S.CUSTOMER_ID].nunique() - evaluated),
        "excluded_no_target": 0,
        "cold": 0,
        "evaluated": evaluated,
    }
    empty = pd.DataFrame(
        {S.CUSTOMER_ID: kept[S.CUSTOMER_ID].iloc[:0], S.PRODUCT_ID: kept[S.PRODUCT_ID].iloc[:0]}
    )

    def make(target_pos: int, label: str) -> NextBasketSplit:
        train = kept[rank > target_pos].reset_index(drop=True)
        target = kept[rank == target_pos]
        counts = dict(base)
        counts.update(
            train_baskets=int(train[S.ORDER_ID].nunique()),
            train_rows=len(train),
            target_baskets=int(target[S.ORDER_ID].nunique()),
        )
        return NextBasketSplit(label, train, _pairs(target), empty.copy(), counts, None)

    name = (
        f"last basket (households >= {int(min_baskets)} baskets, products >= {int(min_item_baskets)} baskets)"
    )
    return Protocol(name, make(1, "validation: second-to-last basket"), make(0, "test: last basket"))


def require_protocols(
    baskets: pd.DataFrame,
    after_end: DateLike,
    test_days: int,
    validation_days: int,
    horizon_days: int,
    min_baskets: int = 5,
    lit_min_baskets: int = 5,
    lit_min_item_baskets: int = 10,
    min_item_support: int | None = None,
) -> tuple[Protocol, NextBasketSplit, Protocol]:
    """What the recommender notebook (07) needs, checked in its first analysis cell (after
    :func:`require_products`): its three splits can be built on ``baskets`` (:func:`basket_items`), with
    the test cutoff ``after_end - test_days`` (``after_end``: the day after the observation window), the
    validation cutoff ``validation_days`` before it, and households evaluated in each, i.e.
    :func:`global_cutoff_protocol`, :func:`global_cutoff_split` with ``horizon_days`` and
    :func:`last_basket_protocol` with the notebook's thresholds. Raises
    :class:`retention_utils.schema.InsufficientDataError` with one sentence (the first split that cannot
    be built, and why). Returns the splits it built, ``(global-cutoff protocol, window split,
    last-basket protocol)``, so the notebook does not build them twice. With ``min_item_support``
    (the notebook's ``MIN_ITEM_SUPPORT``, the item space of the collaborative, content, EASE and ALS
    models), each protocol's validation training baskets (the smallest a model is fitted on) must hold
    a product bought by that many households; otherwise the one sentence says to lower it.

    The splits are built on integer codes of the ids (:func:`pandas.factorize` with ``sort=True``, an
    order-preserving relabelling, so every sort, group and tie-break is the same) and the ids are put
    back at the end: equal to the functions above on ``baskets`` (tested), in about a third of the time
    on object (string) ids."""
    t0 = _day(after_end, "after_end") - pd.Timedelta(days=int(test_days))
    t_val = t0 - pd.Timedelta(days=int(validation_days))
    steps = (
        ("the global-cutoff protocol", lambda b: global_cutoff_protocol(b, t0, t_val, min_baskets=min_baskets)),
        (f"the {horizon_days}-day window split",
         lambda b: global_cutoff_split(b, t0, horizon_days=horizon_days, min_baskets=min_baskets)),
        ("the last-basket protocol",
         lambda b: last_basket_protocol(b, min_baskets=lit_min_baskets, min_item_baskets=lit_min_item_baskets)),
    )
    if min_item_support is not None:
        min_item_support = check_whole(min_item_support, "min_item_support (MIN_ITEM_SUPPORT)")
    coded, uniques = _encode(baskets)
    out = []
    for what, build in steps:
        try:
            raw = build(coded)
            built = _decode(raw, uniques)
        except ValueError as err:
            raise S.InsufficientDataError(
                f"recommender evaluation cannot build {what} (test cutoff {t0.date()}, validation cutoff {t_val.date()}): "
                f"{str(err).splitlines()[0]}."
            ) from err
        parts = [built.validation, built.test] if isinstance(built, Protocol) else [built]
        for part in parts:
            if int(part.counts.get("evaluated", 0)) == 0:
                raise S.InsufficientDataError(
                    f"recommender evaluation: {what} ({part.name}) evaluates no household (test cutoff {t0.date()}, "
                    f"validation cutoff {t_val.date()}); it needs households with baskets on both sides of the cutoff."
                )
        if min_item_support is not None and isinstance(raw, Protocol):
            most = _most_households_per_product(raw.validation.train)
            if most < min_item_support:
                raise S.InsufficientDataError(
                    f"recommender evaluation: in the validation training baskets of {what} no product is bought by "
                    f"MIN_ITEM_SUPPORT={min_item_support} households or more (the most is {most}), so the "
                    "collaborative, content, EASE and ALS models have no product to score; lower MIN_ITEM_SUPPORT "
                    "(e.g. -p MIN_ITEM_SUPPORT 2, or under the notebook's parameters in the dataset config)."
                )
        out.append(built)
    return out[0], out[1], out[2]


_ID_COLUMNS = (S.CUSTOMER_ID, S.ORDER_ID, S.PRODUCT_ID)


def _most_households_per_product(train: pd.DataFrame) -> int:
    """The largest number of distinct households that bought one product in ``train`` (0 when empty);
    integer codes (:func:`_encode`) are counted with numpy, other ids with pandas."""
    if train.empty:
        return 0
    c, p = train[S.CUSTOMER_ID].to_numpy(), train[S.PRODUCT_ID].to_numpy()
    if np.issubdtype(c.dtype, np.integer) and np.issubdtype(p.dtype, np.integer):
        width = int(p.max()) + 1
        pairs = np.unique(c.astype(np.int64) * width + p.astype(np.int64))
        return int(np.bincount(pairs % width).max())
    return int(train[[S.CUSTOMER_ID, S.PRODUCT_ID]].drop_duplicates()[S.PRODUCT_ID].value_counts().max())


def _encode(baskets: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.Index] | None]:
    """``baskets`` with the id columns replaced by sorted integer codes, and the ids of each code
    (``None`` and ``baskets`` itself when there is no such column or an id is null: the split
    functions then report on the ids themselves)."""
    _check_baskets(baskets)
    coded, uniques = {}, {}
    for c in _ID_COLUMNS:
        codes, uni = pd.factorize(baskets[c], sort=True)
        if (codes < 0).any():
            return baskets, None
        coded[c], uniques[c] = codes, pd.Index(uni)
    out = baskets.copy()  # every column, in its place: the splits keep them as the plain functions do
    for c in _ID_COLUMNS:
        out[c] = coded[c]
    return out, uniques


def _decode(built: Any, uniques: dict[str, pd.Index] | None) -> Any:
    """A split or protocol built on codes, with the ids put back (column dtypes as in the input)."""
    if uniques is None:
        return built
    if isinstance(built, Protocol):
        return Protocol(built.name, _decode(built.validation, uniques), _decode(built.test, uniques))

    def frame(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        for c in _ID_COLUMNS:
            if c in out:
                out[c] = uniques[c].take(df[c].to_numpy()).to_numpy()
        return out

    kept = {c: built.train[c].to_numpy().astype(np.int32 if len(uniques[c]) < 2**31 else np.int64) for c in _ID_COLUMNS}
    train = frame(built.train)
    return NextBasketSplit(
        built.name, train, frame(built.truth), frame(built.cold_truth), dict(built.counts), built.cutoff,
        _codes=(kept, uniques, train),
    )
