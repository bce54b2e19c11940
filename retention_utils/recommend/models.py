"""Next-basket recommenders.

Every model follows one interface (scikit-learn style, so ``get_params`` / ``set_params`` /
``sklearn.base.clone`` work)::

    data = Interactions.from_baskets(split.train)      # built once per split, shared by models
    model = UserKNN(n_neighbors=100).fit(data)
    recs = model.recommend(split.households, k=20)       # customer_id, product_id, score, rank

``recommend`` never builds the dense households x items matrix: dense scorers produce row blocks
(``score_block``) that :func:`retention_utils.recommend.metrics.top_k_from_scores` reduces to the top
k chunk by chunk (about 4M cells per block); the popularity family ranks only its stored candidates
(:func:`top_k_stored`). Lists are ordered by the rule of :mod:`retention_utils.recommend.ranking`:
score descending, then the natural id order (numeric for numeric ids); the popularity family breaks
ties in frequency by global popularity and puts that tie-break into its scores (the metrics average
over the orders of tied scores, so an unencoded tie-break would not count). Dense scores are first
rounded to ``SCORE_DECIMALS`` (12) decimals so that scores equal in exact arithmetic but not in
floating point (two products with the same attribute weights, say) tie as they should. Households unknown to the training data raise ``ValueError`` except for
the popularity family (``handles_unknown = True``), which is what cold start uses.

Item space: every model scores the products of ``data`` bought by at least ``min_support`` distinct
households in the training rows (``min_support = 1``: every product in the training rows). Restricting
the collaborative and content models to products with some support is a speed choice stated where it
is used; products outside the space can never be recommended by that model.

Models (sources)
----------------
* :class:`GTopFreq`, :class:`PTopFreq`, :class:`GPTopFreq`: global popularity, the household's own most
  frequent products ("buy again"), and the latter padded with the former (Li, Jullien, Ariannezhad &
  de Rijke 2023, "A Next Basket Recommendation Reality Check", ACM TOIS, doi:10.1145/3587153).
  Frequency = number of baskets containing the product; equal frequencies are broken by global
  popularity (the number of training baskets holding the product), then by product id, so the
  baseline is the strongest simple one (issue 15: the id-string tie-break cost it NDCG@10 0.0025 on
  the global cutoff and 0.0037 on the last-basket protocol of notebook 07).
* :class:`~retention_utils.recommend.temporal.RepurchaseTimeKernel` (module ``temporal``): TAIW-style
  item-specific time kernels on the household's own purchases (Romanov et al. 2023).
* :class:`UserKNN`: user-based collaborative filtering, cosine similarity of binary purchase vectors,
  score = sum of the ``n_neighbors`` most similar households' purchase indicators weighted by
  similarity (Herlocker, Konstan, Borchers & Riedl 1999, SIGIR; Sarwar et al. 2000).
* :class:`ItemKNN`: item-based neighbours from ``implicit.nearest_neighbours`` (``CosineRecommender``
  or ``BM25Recommender``, ``K`` neighbours per item); score = household's basket counts times the
  item-item similarity (the product ``implicit`` computes in ``recommend``).
* :class:`ContentTFIDF`: TF-IDF (scikit-learn ``TfidfVectorizer``) over product attribute tokens such
  as ``department=PRODUCE``; household profile = purchase-count-weighted mean of its products'
  vectors; score = cosine between profile and product.
* :class:`Hybrid`: ``alpha * CF + (1 - alpha) * content`` with each score divided by the household's
  largest score of that component (so both lie in [0, 1]).
* :class:`EASE`: Steck (2019), "Embarrassingly Shallow Autoencoders for Sparse Data", WWW,
  ``B = I - P diag(1 / diag(P))``, ``P = (X'X + l2 I)^-1`` on the binary households x products matrix
  ``X``. Computed in the **Woodbury form over households**,
  ``P = (I - X' (l2 I + X X')^-1 X) / l2``, so only a households x households matrix is inverted and
  ``B`` (products x products) is never formed; exact, not an approximation.
* :class:`ALS`: ``implicit.als.AlternatingLeastSquares`` on the CPU (Hu, Koren & Volinsky 2008,
  "Collaborative Filtering for Implicit Feedback Datasets", ICDM) on basket counts, fixed
  ``random_state``; already-bought products are *not* filtered.
* :class:`TIFUKNN`: Hu, He, Gao & Zhang (2020), "Modeling Personalized Item Frequency Information for
  Next-basket Recommendation", SIGIR, written from the paper (see the class docstring).
* :class:`SegmentPopularity`: cold start, the most frequent products within the household's segment
  (demographic band, RFM segment, ...), padded with global popularity.

Tuning and evaluation (the protocol of notebook 07) are in :mod:`retention_utils.recommend.protocol`;
ranking with deterministic ties in :mod:`retention_utils.recommend.ranking`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg, sparse
from sklearn.base import BaseEstimator, clone
from sklearn.feature_extraction.text import TfidfVectorizer

from .. import schema as S
from ..runtime import thread_limits
from .ranking import (
    check_real,
    check_whole,
    group_rank,
    id_rank,
    string_rank,
    top_k_from_scores,
    top_k_stored,
)

__all__ = [
    "ALS",
    "EASE",
    "GPTopFreq",
    "GTopFreq",
    "ContentTFIDF",
    "Hybrid",
    "Interactions",
    "ItemKNN",
    "PTopFreq",
    "Recommender",
    "SegmentPopularity",
    "TIFUKNN",
    "UserKNN",
    "scores_dense",
]

USER, ITEM, SCORE = S.CUSTOMER_ID, S.PRODUCT_ID, "score"
SCORE_DECIMALS = 12  # dense scores are rounded before ranking (module docstring)


# --------------------------------------------------------------------------------------
# Training data
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interactions:
    """Training baskets as sparse matrices, built once per split and shared by the models.

    Attributes
    ----------
    users : Index
        Household ids, sorted (row ``u`` of ``counts``).
    items : Index
        Product ids in the natural id order of :func:`~retention_utils.recommend.ranking.id_rank`
        (numeric order for numeric ids; column ``i`` of ``counts`` and ``baskets``).
    counts : scipy.sparse.csr_matrix, shape (n_users, n_items), float64
        Number of the household's baskets that contain the product.
    baskets : scipy.sparse.csr_matrix, shape (n_baskets, n_items), float64
        0/1 basket vectors, rows grouped by household and ordered by (``order_ts``, ``order_id``).
    basket_user : ndarray, shape (n_baskets,), int64
        Row of ``users`` each basket belongs to (non-decreasing).
    basket_day : ndarray, shape (n_baskets,), float64
        Time of each basket (``order_ts``) in days since 1970-01-01 (fractional).
    """

    users: pd.Index
    items: pd.Index
    counts: sparse.csr_matrix
    baskets: sparse.csr_matrix
    basket_user: np.ndarray
    basket_day: np.ndarray | None = None

    @classmethod
    def from_baskets(cls, train: pd.DataFrame) -> Interactions:
        """Build from basket rows (:func:`retention_utils.recommend.split.basket_items` layout:
        ``customer_id``, ``order_id``, ``order_ts``, ``product_id``; duplicates are harmless).

        Raises ``SchemaError`` for a missing column or an ``order_ts`` that is not tz-naive datetime64
        without NaT (:func:`retention_utils.schema.require_timestamps`), ``ValueError`` for an empty
        table or null ids."""
        S.require_columns(train, [USER, S.ORDER_ID, S.ORDER_TS, ITEM], table="train baskets")
        if len(train) == 0:
            raise ValueError("train baskets: the table is empty; nothing to fit on")
        S.require_timestamps(train, S.ORDER_TS, table="train baskets")
        u_codes, users = pd.factorize(train[USER], sort=True)
        i_raw, i_uni = pd.factorize(train[ITEM])
        o_codes, o_uni = pd.factorize(train[S.ORDER_ID])
        for c, codes in ((USER, u_codes), (S.ORDER_ID, o_codes), (ITEM, i_raw)):
            n_null = int((codes < 0).sum())  # factorize codes a null as -1
            if n_null:
                raise ValueError(f"train baskets: column {c!r} has {n_null} null value(s)")
        return cls.from_codes(
            u_codes, users, i_raw, i_uni, o_codes, string_rank(o_uni), train[S.ORDER_TS].to_numpy()
        )

    @classmethod
    def from_codes(
        cls,
        u_codes: np.ndarray,
        users: pd.Index,
        i_raw: np.ndarray,
        i_uni: pd.Index,
        o_codes: np.ndarray,
        o_rank: np.ndarray,
        row_ts: np.ndarray,
    ) -> Interactions:
        """Build from factorised basket rows (what :meth:`from_baskets` computes from the ids; used by
        :meth:`retention_utils.recommend.split.NextBasketSplit.interactions`).

        All row arrays have one entry per basket row (n_rows,): ``u_codes`` (int, into ``users``, which
        must be sorted), ``i_raw`` (int, into ``i_uni``, product ids in any order), ``o_codes`` (int,
        into orders ``0 .. len(o_rank) - 1``) and ``row_ts`` (datetime64, the row's ``order_ts``).
        ``o_rank`` (n_orders,): any integer rank of the orders in the string order of their ids (the
        basket tie-break). No code may be negative; nothing is checked here."""
        i_rank = id_rank(i_uni)  # column order = natural id order
        i_codes = i_rank[i_raw]
        items = pd.Index(np.asarray(i_uni, dtype=object)[np.argsort(i_rank)], name=ITEM)
        if not pd.api.types.is_object_dtype(i_uni.dtype):
            items = items.astype(i_uni.dtype)
        first = np.unique(o_codes, return_index=True)[1]  # first row of each order
        ts = row_ts[first]
        b_order = np.lexsort((o_rank, ts, u_codes[first]))
        n_b, n_u, n_i = len(o_rank), len(users), len(items)
        b_row = np.empty(n_b, dtype=np.int64)
        b_row[b_order] = np.arange(n_b)
        bm = sparse.csr_matrix((np.ones(len(o_codes)), (b_row[o_codes], i_codes)), shape=(n_b, n_i))
        bm.sum_duplicates()
        bm.data[:] = 1.0
        basket_user = u_codes[first][b_order].astype(np.int64)
        owner = sparse.csr_matrix((np.ones(n_b), (basket_user, np.arange(n_b))), shape=(n_u, n_b))
        counts = (owner @ bm).tocsr()
        counts.sort_indices()
        day = (pd.DatetimeIndex(ts).as_unit("ns").asi8 / 86_400e9)[b_order]
        return cls(pd.Index(users, name=USER), items, counts, bm, basket_user, day.astype(np.float64))

    def popularity(self) -> np.ndarray:
        """Training baskets holding each product, shape (n_items,), float64 (the tie-break key of the
        popularity family)."""
        return np.asarray(self.baskets.sum(axis=0)).ravel()

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def support(self) -> np.ndarray:
        """Distinct households per product, shape (n_items,), int64."""
        return np.diff(self.counts.tocsc().indptr).astype(np.int64)

    def item_space(self, min_support: int) -> np.ndarray:
        """Column indices of the products bought by >= ``min_support`` households (sorted)."""
        return np.flatnonzero(self.support() >= check_whole(min_support, "min_support"))

    def rows(self, households: Any, allow_unknown: bool = False) -> np.ndarray:
        """Row index of each household (-1 if unknown and ``allow_unknown``), int64.

        Raises ``ValueError`` naming unknown households otherwise."""
        codes = self.users.get_indexer(pd.Index(households))
        if not allow_unknown and (codes < 0).any():
            unknown = pd.Index(households)[codes < 0]
            raise ValueError(
                f"{len(unknown)} household(s) have no training baskets (e.g. {list(unknown[:5])}); "
                "score them with a cold-start model (GTopFreq, SegmentPopularity)"
            )
        return codes.astype(np.int64)

    def counts_of(self, households: Any) -> sparse.csr_matrix:
        """Basket counts of ``households``: shape (len(households), n_items), CSR float64, rows in the
        order given; a household without training baskets gets an empty row."""
        return _rows_or_empty(self.counts, self.rows(households, allow_unknown=True))


# --------------------------------------------------------------------------------------
# Shared fits
# --------------------------------------------------------------------------------------
_SHARED: ContextVar[dict[Any, Any] | None] = ContextVar("shared_fits", default=None)


@contextmanager
def shared_fits(memo: dict[Any, Any] | None = None) -> Iterator[dict[Any, Any]]:
    """Within the block, :func:`fit_shared` fits each (model, data) once: a model equal to one already
    fitted on the same :class:`Interactions` object (same class and parameters, scoring-time
    parameters aside) is not fitted again. ``memo`` continues an earlier block's fits (the dict this
    yields). Used by :mod:`retention_utils.recommend.protocol` so that the hybrid reuses the tuned
    user-kNN and content fits; the results are the same as fitting again, since fitting is
    deterministic."""
    memo = {} if memo is None else memo
    token = _SHARED.set(memo)
    try:
        yield memo
    finally:
        _SHARED.reset(token)


def _fingerprint(value: Any) -> Any:
    """A content key: nested models by every parameter (their scoring-time ones included: only the
    outer model's can vary on a shared fit), tables by values, dtypes and the Python types in object
    columns (``1`` and ``"1"`` hash alike in pandas), containers and arrays by content, other objects by
    identity (:func:`fit_shared` keeps them alive, so an id is never reused)."""
    if isinstance(value, Recommender):
        params = value.get_params(deep=False)
        return ("model", type(value).__module__, type(value).__qualname__,
                tuple((p, _fingerprint(v)) for p, v in sorted(params.items())))
    if isinstance(value, (pd.DataFrame, pd.Series)):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        types = tuple(
            (repr(c), str(frame[c].dtype),
             tuple(sorted({type(x).__name__ for x in frame[c]})) if frame[c].dtype == object else ())
            for c in frame.columns
        )
        h = pd.util.hash_pandas_object(value, index=True).to_numpy()
        return ("frame", type(value).__name__, value.shape, types, repr(value.index.dtype), h.tobytes())
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, value.tobytes() if value.dtype != object else repr(value.tolist()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((repr(k), _fingerprint(v)) for k, v in value.items()))
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return (type(value).__name__, repr(value))
    return ("object", id(value))


def fit_key(model: Recommender) -> tuple[Any, ...]:
    """What a fit depends on: the class and every parameter but the model's own scoring-time ones
    (``_score_params``), by :func:`_fingerprint`."""
    params = model.get_params(deep=False)
    return (type(model).__module__, type(model).__qualname__,
            tuple((p, _fingerprint(v)) for p, v in sorted(params.items()) if p not in model._score_params))


def fit_shared(model: Recommender, data: Interactions) -> Recommender:
    """``clone(model).fit(data)``; inside :func:`shared_fits`, when a model with the same
    :func:`fit_key` was fitted on this very ``data`` object earlier in the block, a shallow copy of
    that fit with ``model``'s scoring-time parameters (fitted arrays are shared: scoring only reads
    them). Every caller gets its own copy, the first one included."""
    memo = _SHARED.get()
    if memo is None:
        return clone(model).fit(data)
    key = (id(data), fit_key(model))
    if key not in memo:
        # data and the model's parameters kept alive: the ids in the key stay theirs
        memo[key] = (data, clone(model), clone(model).fit(data))
    fitted = copy.copy(memo[key][2])
    return fitted.set_params(**{p: getattr(model, p) for p in model._score_params})


# --------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------
class Recommender(BaseEstimator):
    """Base class: ``fit(Interactions)`` then ``recommend(households, k)``.

    Subclasses implement ``_fit(data)`` and either ``score_block(rows)`` (dense scores, shape
    ``(len(rows), len(items_))``, for row indices of ``data.users``) or ``recommend``.
    ``_score_params`` lists parameters read only when scoring (:func:`tune` changes them without
    refitting).
    """

    handles_unknown: bool = False
    _score_params: tuple[str, ...] = ()

    def fit(self, data: Interactions) -> Recommender:
        """Fit on the training baskets ``data``; returns ``self``. Sets ``data_``, ``item_index_``
        (columns of ``data`` in the item space) and ``items_`` (their ids). Raises ``TypeError`` if
        ``data`` is not :class:`Interactions` and ``ValueError`` for invalid parameters."""
        if not isinstance(data, Interactions):
            raise TypeError(f"fit expects an Interactions object, got {type(data).__name__}")
        self.data_ = data
        support = getattr(self, "min_support", 1)
        self.item_index_ = data.item_space(support)
        if len(self.item_index_) == 0:
            raise ValueError(
                f"{type(self).__name__}: no product is bought by min_support={support} households or more "
                f"(the most any product has is {int(data.support().max(initial=0))}); lower min_support"
            )
        self.items_ = data.items[self.item_index_]
        self._fit(data)
        return self

    def _fit(self, data: Interactions) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self) -> Interactions:
        if not hasattr(self, "data_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(data) first")
        return self.data_

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} has no dense score matrix (it ranks its own stored candidates): use "
            "recommend(), and do not use it as a component of Hybrid or with scores_dense"
        )

    def recommend(self, households: Any, k: int, chunk_size: int | None = None) -> pd.DataFrame:
        """Top-``k`` products per household.

        Parameters
        ----------
        households : array-like of household ids (unique)
        k : int
        chunk_size : int or None
            Households per score block (``None``: about 4M cells per block).

        Returns
        -------
        DataFrame with ``customer_id``, ``product_id``, ``score``, ``rank`` (see
        :func:`~retention_utils.recommend.metrics.top_k_from_scores`).

        Raises
        ------
        ValueError
            Unknown households (for models without ``handles_unknown``), duplicate ids, bad ``k``.
        RuntimeError
            Not fitted.
        """
        data = self._check_fitted()
        users = household_ids(households)
        rows = data.rows(users)

        def block(a: int, b: int) -> np.ndarray:
            scores = np.asarray(self.score_block(rows[a:b]), dtype=np.float64)
            return np.round(scores, SCORE_DECIMALS, out=scores)

        return top_k_from_scores(users, np.asarray(self.items_), block, k, chunk_size=chunk_size)


def _import_implicit() -> Any:
    """Import ``implicit`` quietly: its ``tqdm.auto`` import warns (TqdmWarning) inside a Jupyter
    kernel without ipywidgets, and we never show progress bars anyway."""
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import implicit.cpu.als
        import implicit.nearest_neighbours
        import implicit.utils
    return implicit


def _space(data: Interactions, matrix: sparse.csr_matrix, index: np.ndarray) -> sparse.csr_matrix:
    return matrix if len(index) == data.n_items else matrix[:, index].tocsr()


def _product(a_t: sparse.csr_matrix, b: np.ndarray) -> np.ndarray:
    """``b @ a_t.T`` as a C-contiguous array, computed as ``(a_t @ b.T).T``: a CSR matrix times a dense
    block is one pass over the stored entries (much faster than a sparse-sparse product here).
    ``a_t`` has shape (n_out, n_inner), ``b`` (m, n_inner); the result (m, n_out). The transposed
    copy is made in tiles of 1,024 columns, which stay in cache (about 2.4x faster than one copy)."""
    p = a_t @ np.asarray(b).T
    out = np.empty(p.shape[::-1])
    _put_transposed(out, p)
    return out


def _column_tiles(b: np.ndarray, width: int = 256) -> list[np.ndarray]:
    """``b`` cut into C-contiguous tiles of ``width`` columns, for :func:`_sparse_dense`."""
    return [np.ascontiguousarray(b[:, j : j + width]) for j in range(0, b.shape[1], width)]


def _sparse_dense(a: sparse.csr_matrix, tiles: list[np.ndarray]) -> np.ndarray:
    """``a @ b`` for a CSR ``a`` and a dense ``b`` given as :func:`_column_tiles`, bit-identical to
    ``a @ b``: each output entry is the same sum over ``a``'s stored entries in the same order. Each
    stored entry of ``a`` reads one row of ``b``; a tile's rows stay in cache where the full rows of
    a wide ``b`` would be read from memory (2.4x faster for EASE's M^-1 with 2,400 households)."""
    out = np.empty((a.shape[0], sum(t.shape[1] for t in tiles)))
    j = 0
    for t in tiles:
        out[:, j : j + t.shape[1]] = a @ t
        j += t.shape[1]
    return out


def _mirror_lower(m: np.ndarray, block: int = 256) -> None:
    """Copy the lower triangle of the square ``m`` onto its upper triangle, in place, in tiles of
    ``block`` rows (10x faster than ``np.tril(m) + np.tril(m, -1).T`` on 2,400 x 2,400)."""
    n = m.shape[0]
    for i in range(0, n, block):
        m[i : i + block, i + block :] = m[i + block :, i : i + block].T
        diag = m[i : i + block, i : i + block]
        upper = np.triu_indices(diag.shape[0], 1)
        diag[upper] = diag.T[upper]


def _put_transposed(out: np.ndarray, p: np.ndarray) -> None:
    """``out[:] = p.T`` in tiles of 1,024 rows of ``p`` (see :func:`_product`)."""
    for j in range(0, p.shape[0], 1024):
        out[:, j : j + 1024] = p[j : j + 1024].T


def _smallest(values: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the ``n`` smallest values of each row, shape (rows, n), in no particular
    order; ties at the boundary go to the lower column index (so the set never depends on the
    partition algorithm). ``1 <= n <= values.shape[1]``."""
    m, width = values.shape
    if n >= width:
        return np.tile(np.arange(width), (m, 1))
    part = np.argpartition(values, n - 1, axis=1)[:, :n]
    kth = np.take_along_axis(values, part, axis=1).max(axis=1, keepdims=True)
    tied = (values <= kth).sum(axis=1) > n
    if tied.any():  # rare with float distances: settle these rows by a stable sort
        part[tied] = np.argsort(values[tied], axis=1, kind="stable")[:, :n]
    return part


def _row_max_normalise(block: np.ndarray) -> np.ndarray:
    m = block.max(axis=1, keepdims=True) if block.shape[1] else np.zeros((block.shape[0], 1))
    return np.divide(block, m, out=np.zeros_like(block), where=m > 0)


# --------------------------------------------------------------------------------------
# Popularity family
# --------------------------------------------------------------------------------------
class GTopFreq(Recommender):
    """Global popularity: the products in the most training baskets, the same list for everyone.

    Score = number of training baskets containing the product. Any household can be scored.
    """

    handles_unknown = True

    def _fit(self, data: Interactions) -> None:
        self.popularity_ = data.popularity()

    def recommend(self, households: Any, k: int, chunk_size: int | None = None) -> pd.DataFrame:
        self._check_fitted()
        users = household_ids(households)
        top = top_k_stored(
            np.array([0]), np.asarray(self.items_), sparse.csr_matrix(self.popularity_[None, :]), k
        )
        n = len(top)
        return pd.DataFrame(
            {
                USER: np.repeat(users, n),
                ITEM: np.tile(top[ITEM].to_numpy(), len(users)),
                SCORE: np.tile(top[SCORE].to_numpy(), len(users)),
                "rank": np.tile(top["rank"].to_numpy(), len(users)),
            }
        )


class PTopFreq(Recommender):
    """Personal popularity ("buy again"): the household's own products by the number of its training
    baskets that contain them, equal frequencies broken by global popularity (training baskets holding
    the product), then by product id. Score = frequency + popularity / (max popularity + 1), so the
    popularity tie-break is part of the score (< 1, never reorders frequencies). Only products it
    bought are candidates, so a household with fewer than ``k`` distinct products gets a short list
    (the metrics count the empty slots as misses), and an unknown household gets none."""

    handles_unknown = True

    def _fit(self, data: Interactions) -> None:
        self.popularity_ = data.popularity()

    def recommend(self, households: Any, k: int, chunk_size: int | None = None) -> pd.DataFrame:
        data = self._check_fitted()
        users = household_ids(households)
        rows = data.rows(users, allow_unknown=True)
        own = _with_popularity(_rows_or_empty(data.counts, rows), self.popularity_)
        return top_k_stored(users, np.asarray(data.items), own, k, prior=self.popularity_)


def _with_popularity(own: sparse.csr_matrix, popularity: np.ndarray) -> sparse.csr_matrix:
    """``own`` (stored entries >= 1) plus ``popularity / (max popularity + 1)`` on each stored entry:
    the popularity tie-break inside the score."""
    out = own.tocsr(copy=True)
    out.data = out.data + popularity[out.indices] / (popularity.max(initial=0.0) + 1.0)
    return out


def household_ids(households: Any) -> np.ndarray:
    """The households a ``recommend`` call is for, as a 1-D array (dtype kept: ``[7, "u2"]`` stays
    an object array of an int and a str). Raises ``TypeError`` for a single str (pass ``[id]``) and
    ``ValueError`` for repeated households (each would get its list twice)."""
    if isinstance(households, str | bytes):
        raise TypeError(f"households must be a list-like of household ids, got the single id {households!r}; pass [id]")
    idx = pd.Index(households)
    if not idx.is_unique:
        raise ValueError(f"households must be unique; repeated: {list(idx[idx.duplicated()].unique()[:5])}")
    return np.asarray(idx)


def _rows_or_empty(matrix: sparse.csr_matrix, rows: np.ndarray) -> sparse.csr_matrix:
    """Rows of ``matrix`` (-1 = an empty row)."""
    out = matrix[np.maximum(rows, 0)].tocsr()
    if (rows < 0).any():
        keep = sparse.diags((rows >= 0).astype(np.float64))
        out = (keep @ out).tocsr()
        out.eliminate_zeros()
    return out


class GPTopFreq(Recommender):
    """P-TopFreq padded with G-TopFreq: the household's own products first (by its frequency), then
    the globally most popular products it never bought, until ``k`` slots are filled.

    Score = own frequency + ``popularity / (max popularity + 1)`` (as :class:`PTopFreq`) for own
    products, ``popularity / (max popularity + 1)`` (< 1) for the padding, so every own product ranks
    above every padding product."""

    handles_unknown = True

    def _fit(self, data: Interactions) -> None:
        self.popularity_ = data.popularity()

    def recommend(self, households: Any, k: int, chunk_size: int | None = None) -> pd.DataFrame:
        data = self._check_fitted()
        users = household_ids(households)
        rows = data.rows(users, allow_unknown=True)
        own = _with_popularity(_rows_or_empty(data.counts, rows), self.popularity_)
        pop = top_k_stored(
            np.array([0]), np.arange(data.n_items), sparse.csr_matrix(self.popularity_[None, :]), k
        )
        cols = pop[ITEM].to_numpy().astype(np.int64)
        vals = pop[SCORE].to_numpy() / (self.popularity_.max() + 1.0)
        n = len(users)
        pad = sparse.csr_matrix(
            (np.tile(vals, n), (np.repeat(np.arange(n), len(cols)), np.tile(cols, n))), shape=own.shape
        )
        pad = pad - pad.multiply(own > 0)  # no padding on products the household bought
        pad.eliminate_zeros()
        return top_k_stored(users, np.asarray(data.items), (own + pad).tocsr(), k, prior=self.popularity_)


class SegmentPopularity(Recommender):
    """Cold start: popularity within the household's segment, padded with global popularity.

    Parameters
    ----------
    segments : Series
        Index = household id, values = segment label (demographic band, RFM segment, ...). Missing
        values mean "no segment".

    For a household with a segment: the products in the most training baskets of that segment's
    households (score = basket count + 1 + global popularity / (max popularity + 1), so >= 2 and
    equal counts broken by global popularity), then the globally most popular products not
    already listed (score = global count / (max global count + 1) < 1). Households without a
    segment, or whose segment has no training basket, get the global list. Any household can be
    scored, including ones with no training basket.
    """

    handles_unknown = True

    def __init__(self, segments: pd.Series | None = None):
        self.segments = segments

    def _fit(self, data: Interactions) -> None:
        if not isinstance(self.segments, pd.Series):
            raise ValueError("SegmentPopularity needs segments: a Series indexed by household id")
        seg = self.segments.dropna()
        dup = seg.index.duplicated(keep=False)
        clash = seg[dup].astype(str).groupby(level=0).nunique() if dup.any() else pd.Series(dtype=np.int64)
        if (clash > 1).any():
            raise ValueError(
                f"SegmentPopularity: {int((clash > 1).sum())} household(s) have two different segments "
                f"(e.g. {list(clash.index[clash > 1][:5])}); give one segment per household"
            )
        seg = seg[~seg.index.duplicated()]
        if len(seg) and not seg.index.isin(data.users).any():
            raise ValueError(
                f"SegmentPopularity: none of the {len(seg):,} households in segments has training baskets "
                f"(segments index e.g. {list(seg.index[:3])}, training households e.g. {list(data.users[:3])}); "
                "are the ids of the same type and spelling?"
            )
        labels = pd.Index(pd.unique(seg.astype(str).to_numpy())).sort_values()
        self.labels_ = labels
        self.segment_of_ = pd.Series(labels.get_indexer(seg.astype(str).to_numpy()), index=seg.index)
        code = self.segment_of_.reindex(data.users).fillna(-1).to_numpy().astype(np.int64)
        rows = np.flatnonzero(code >= 0)
        member = sparse.csr_matrix(
            (np.ones(len(rows)), (code[rows], rows)), shape=(len(labels), data.n_users)
        )
        self.segment_counts_ = (member @ data.counts).tocsr()
        self.popularity_ = data.popularity()

    def recommend(self, households: Any, k: int, chunk_size: int | None = None) -> pd.DataFrame:
        data = self._check_fitted()
        users = household_ids(households)
        n_seg, items = len(self.labels_), np.arange(data.n_items)
        # one ranked list per segment (rows 0 .. n_seg - 1) and the global list (row n_seg)
        seg_top = top_k_stored(np.arange(n_seg), items, self.segment_counts_, k, prior=self.popularity_)
        glob = top_k_stored(np.array([0]), items, sparse.csr_matrix(self.popularity_[None, :]), k)
        g_cols = glob[ITEM].to_numpy().astype(np.int64)
        g_vals = glob[SCORE].to_numpy() / (self.popularity_.max() + 1.0)
        shape = (n_seg + 1, data.n_items)
        own = sparse.csr_matrix(
            (
                seg_top[SCORE].to_numpy() + 1.0
                + self.popularity_[seg_top[ITEM].to_numpy().astype(np.int64)] / (self.popularity_.max() + 1.0),
                (seg_top[USER].to_numpy().astype(np.int64), seg_top[ITEM].to_numpy().astype(np.int64)),
            ),
            shape=shape,
        )
        pad = sparse.csr_matrix(
            (
                np.tile(g_vals, n_seg + 1),
                (np.repeat(np.arange(n_seg + 1), len(g_cols)), np.tile(g_cols, n_seg + 1)),
            ),
            shape=shape,
        )
        pad = pad - pad.multiply(own > 0)
        pad.eliminate_zeros()
        lists = top_k_stored(np.arange(n_seg + 1), np.asarray(data.items), (own + pad).tocsr(), k, prior=self.popularity_)
        code = self.segment_of_.reindex(users).fillna(n_seg).to_numpy().astype(np.int64)
        length = np.bincount(lists[USER].to_numpy().astype(np.int64), minlength=n_seg + 1)
        start = np.concatenate([[0], np.cumsum(length)[:-1]])
        n_rows = length[code]
        offset = np.repeat(start[code] - np.concatenate([[0], np.cumsum(n_rows)[:-1]]), n_rows)
        out = lists.iloc[offset + np.arange(int(n_rows.sum()))].reset_index(drop=True)
        out[USER] = np.repeat(users, n_rows)
        return out


# --------------------------------------------------------------------------------------
# Collaborative filtering
# --------------------------------------------------------------------------------------
class UserKNN(Recommender):
    """User-based collaborative filtering with cosine similarity.

    Households are 0/1 vectors over every training product; similarity = cosine. The score of
    product ``i`` for household ``u`` is ``sum_{v in N(u)} cos(u, v) * x_vi`` over the
    ``n_neighbors`` most similar other households (ties in similarity: lower row first). Own
    purchases are not filtered (next-basket setting).

    Parameters
    ----------
    n_neighbors : int
        Neighbourhood size (scoring-time parameter).
    min_support : int
        Item space (module docstring).
    """

    _score_params = ("n_neighbors",)

    def __init__(self, n_neighbors: int = 100, min_support: int = 1):
        self.n_neighbors = n_neighbors
        self.min_support = min_support

    def _fit(self, data: Interactions) -> None:
        x = data.counts.copy()
        x.data[:] = 1.0
        norm = np.sqrt(np.asarray(x.sum(axis=1)).ravel())
        xn = sparse.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ x
        sim = (xn @ xn.T).toarray()
        np.fill_diagonal(sim, -np.inf)  # never one's own neighbour
        self.similarity_ = sim
        self.x_space_t_ = _space(data, x.tocsr(), self.item_index_).T.tocsr()

    def neighbours(self, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows), n_users) weights: the kept similarities, 0 elsewhere."""
        n = min(check_whole(self.n_neighbors, "UserKNN n_neighbors"), self.data_.n_users - 1)
        if n < 1:
            raise ValueError("UserKNN needs at least two households in the training data")
        sim = self.similarity_[rows]
        top = _smallest(-sim, n)
        vals = np.take_along_axis(sim, top, axis=1)
        w = np.zeros(sim.shape)
        np.put_along_axis(w, top, np.where(np.isfinite(vals), vals, 0.0), axis=1)
        return w

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        return _product(self.x_space_t_, self.neighbours(rows))


class ItemKNN(Recommender):
    """Item-based neighbours from ``implicit`` (``CosineRecommender`` or ``BM25Recommender``).

    ``implicit`` keeps the ``K`` most similar products of each product (the product itself
    included); the score of product ``j`` is ``sum_i c_ui * sim(i, j)`` with ``c_ui`` the household's
    basket count, i.e. what ``implicit``'s ``recommend`` computes with
    ``filter_already_liked_items=False``; we compute it ourselves to rank with the shared tie rule.

    Parameters
    ----------
    similarity : {"cosine", "bm25"}
    K : int
        Neighbours kept per product.
    bm25_k1, bm25_b : float
        BM25 parameters (``implicit`` defaults 1.2 and 0.75).
    min_support : int
        Item space (module docstring).
    num_threads : int
        Threads for ``implicit`` (0 = all cores); the result does not depend on it.
    """

    def __init__(
        self,
        similarity: str = "cosine",
        K: int = 100,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        min_support: int = 1,
        num_threads: int = 1,
    ):
        self.similarity = similarity
        self.K = K
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.min_support = min_support
        self.num_threads = num_threads

    def _fit(self, data: Interactions) -> None:
        implicit = _import_implicit()
        nn = implicit.nearest_neighbours
        k = check_whole(self.K, "ItemKNN K")  # K = 0 crashes implicit's C++ code (segmentation fault)
        if self.similarity == "cosine":
            model = nn.CosineRecommender(K=k, num_threads=int(self.num_threads))
        elif self.similarity == "bm25":
            model = nn.BM25Recommender(
                K=k,
                K1=check_real(self.bm25_k1, "ItemKNN bm25_k1", 0.0),
                B=check_real(self.bm25_b, "ItemKNN bm25_b", 0.0, 1.0),
                num_threads=int(self.num_threads),
            )
        else:
            raise ValueError(f"similarity must be 'cosine' or 'bm25', got {self.similarity!r}")
        self.x_space_ = _space(data, data.counts, self.item_index_)
        with warnings.catch_warnings():
            # implicit's weighting returns COO and its own fit converts it (ParameterWarning)
            warnings.simplefilter("ignore", implicit.utils.ParameterWarning)
            model.fit(self.x_space_.astype(np.float32), show_progress=False)
        self.item_similarity_ = sparse.csr_matrix(model.similarity, dtype=np.float64)

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        # a household's row has few products and each product few neighbours: sparse x sparse is cheap
        return (self.x_space_[rows] @ self.item_similarity_).toarray()


class ALS(Recommender):
    """Implicit-feedback matrix factorisation, ``implicit.als.AlternatingLeastSquares`` on the CPU.

    Fitted on the households x products basket counts: in the library's convention a bought product
    has preference 1 and confidence ``alpha * count``, every other product preference 0 and
    confidence 1. Score = dot product of the household and product factors. BLAS is limited
    to one thread while fitting (the library's recommendation), ``random_state`` fixes the
    initial factors and the factors are float64, so refits give the same factors on any machine to
    about 1e-11.

    Parameters
    ----------
    factors, regularization, alpha, iterations : as in ``implicit``
    random_state : int
    min_support : int
        Item space (module docstring).
    num_threads : int
        ``implicit`` threads (0 = all cores).
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int = 0,
        min_support: int = 1,
        num_threads: int = 1,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.min_support = min_support
        self.num_threads = num_threads

    def _fit(self, data: Interactions) -> None:
        AlternatingLeastSquares = _import_implicit().cpu.als.AlternatingLeastSquares  # noqa: N806

        # float64, not implicit's float32 default: in float32 the factors differ at 1e-6 between BLAS
        # kernels (SkylakeX against Haswell), enough to reorder near-tied products and move NDCG in the
        # third decimal; in float64 they differ at 1e-11 (measured on The Complete Journey)
        x = _space(data, data.counts, self.item_index_).astype(np.float64)
        with thread_limits(1, "blas"):
            model = AlternatingLeastSquares(
                dtype=np.float64,
                factors=check_whole(self.factors, "ALS factors"),
                regularization=check_real(self.regularization, "ALS regularization", 0.0),
                alpha=check_real(self.alpha, "ALS alpha", 0.0, low_open=True),
                iterations=check_whole(self.iterations, "ALS iterations"),
                random_state=int(self.random_state),
                num_threads=int(self.num_threads),
            )
            model.fit(sparse.csr_matrix(x), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T


class EASE(Recommender):
    """EASE (Steck 2019) in the Woodbury form over households (module docstring).

    With ``X`` the 0/1 households x products matrix (item space), ``M = l2 I + X X'`` (households x
    households), ``diag(P)_j = (1 - x_j' M^-1 x_j) / l2`` and, for a block of households ``X_b``,
    ``X_b P = M^-1_b X`` (rows ``b`` of ``M^-1``; push-through identity
    ``(X'X + l2 I)^-1 X' = X' (X X' + l2 I)^-1``) and scores ``X_b B = X_b - (X_b P) diag(1 / diag(P))``.
    ``M^-1 X`` is computed once at fit (it gives ``diag(P)`` too) and kept. Equal to the item-space
    closed form up to rounding (tested); memory is O(households x products) float64 (190 MB for
    2,400 households and 10,000 products), never products^2, so the full catalogue is affordable.

    Parameters
    ----------
    l2 : float
        Ridge penalty lambda (> 0).
    min_support : int
        Item space (module docstring).
    """

    def __init__(self, l2: float = 500.0, min_support: int = 1):
        self.l2 = l2
        self.min_support = min_support

    def _fit(self, data: Interactions) -> None:
        lam = check_real(self.l2, "EASE l2", 0.0, low_open=True)
        x = _space(data, data.counts, self.item_index_).copy()
        x.data[:] = 1.0
        gram = (x @ x.T).toarray()
        gram[np.diag_indices_from(gram)] += lam
        # M is symmetric positive definite: Cholesky factor and inverse (LAPACK dpotrf + dpotri), about
        # half the work of a general LU inverse; the lower triangle is mirrored so M^-1 is exactly symmetric
        factor, info = linalg.lapack.dpotrf(gram, lower=1)
        if info == 0:
            m_inv, info = linalg.lapack.dpotri(factor, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"EASE: Cholesky inverse failed (LAPACK info {info}); increase l2")
        _mirror_lower(m_inv)
        xt = x.T.tocsr()
        # M^-1 X (households x products, dense) is computed once, in blocks of products: its column
        # sums against X give diag(P), and its rows are the X_b P of every scoring block
        n_households, n_products = x.shape
        mx = np.empty((n_households, n_products))
        diag = np.empty(n_products)
        columns = _column_tiles(m_inv)
        step = max(1, (1 << 23) // max(1, n_households))
        for a in range(0, n_products, step):
            part = xt[a : a + step]
            block = _sparse_dense(part, columns)  # (M^-1 X[:, a:a+step])' as M^-1 is symmetric
            diag[a : a + step] = np.asarray(part.multiply(block).sum(axis=1)).ravel()
            _put_transposed(mx[:, a : a + step], block)
        self.diag_p_ = (1.0 - diag) / lam
        self.mx_ = mx
        self.x_ = x.tocsr()

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        return self.x_[rows].toarray() - self.mx_[rows] / self.diag_p_


# --------------------------------------------------------------------------------------
# Content and hybrid
# --------------------------------------------------------------------------------------
def _tokens(doc: list[str]) -> list[str]:
    return doc


class ContentTFIDF(Recommender):
    """Content-based: TF-IDF of product attribute tokens, household profile = weighted mean.

    Each product is the document of its tokens ``"<column>=<value>"`` for ``columns`` (missing values
    give no token; products missing from ``products`` have an empty document and score 0). TF-IDF
    with scikit-learn defaults (smooth idf, L2-normalised rows). The profile of a household is the
    mean of its products' vectors weighted by its basket counts over *every* training product; the
    score of a product is the cosine between profile and product vector.

    Parameters
    ----------
    products : DataFrame
        ``product_id`` and attribute columns.
    columns : sequence of str
        Attribute columns used (those absent from ``products`` are skipped).
    min_support : int
        Item space (module docstring).

    Raises
    ------
    ValueError (at fit)
        ``products`` is missing, has no ``product_id`` or none of ``columns``.
    """

    def __init__(
        self,
        products: pd.DataFrame | None = None,
        columns: Sequence[str] = (S.DEPARTMENT, S.CATEGORY, S.PRODUCT_TYPE, S.BRAND),
        min_support: int = 1,
    ):
        self.products = products
        self.columns = columns
        self.min_support = min_support

    def _fit(self, data: Interactions) -> None:
        p = self.products
        if not isinstance(p, pd.DataFrame) or ITEM not in p:
            raise ValueError("ContentTFIDF needs a product table (DataFrame with product_id and attributes)")
        cols = [c for c in self.columns if c in p.columns]
        if not cols:
            raise ValueError(f"ContentTFIDF: the product table has none of the columns {list(self.columns)}")
        p = p.drop_duplicates(ITEM).set_index(ITEM)[cols].reindex(data.items)
        if not p.notna().any(axis=None):
            raise ValueError(
                f"ContentTFIDF: none of the {data.n_items:,} training products has attributes in the product table "
                f"(training ids e.g. {list(data.items[:3])}, table ids e.g. {list(self.products[ITEM].head(3))}); "
                "are the product ids of the same type and spelling?"
            )
        docs = [[] for _ in range(len(p))]
        for c in cols:
            vals = p[c].to_numpy(dtype=object)
            ok = pd.notna(vals)
            for j in np.flatnonzero(ok):
                docs[j].append(f"{c}={vals[j]}")
        vec = TfidfVectorizer(analyzer=_tokens)
        self.item_vectors_ = sparse.csr_matrix(vec.fit_transform(docs), dtype=np.float64)
        self.vocabulary_size_ = len(vec.vocabulary_)
        counts = data.counts
        totals = np.asarray(counts.sum(axis=1)).ravel()
        self.profiles_ = (
            sparse.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ counts @ self.item_vectors_
        ).tocsr()
        self.space_vectors_ = self.item_vectors_[self.item_index_].tocsr()

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        prof = self.profiles_[rows]
        norm = np.sqrt(np.asarray(prof.multiply(prof).sum(axis=1)).ravel())
        prof = sparse.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ prof
        return _product(self.space_vectors_, prof.toarray())


class Hybrid(Recommender):
    """``alpha * CF + (1 - alpha) * content``, each component divided by the household's largest
    score of that component (rows of zeros stay zero).

    Parameters
    ----------
    cf, content : Recommender
        Unfitted dense-score models with the same ``min_support`` (same item space).
    alpha : float in [0, 1]
        Weight of ``cf`` (scoring-time parameter).

    Raises
    ------
    ValueError (at fit)
        ``alpha`` outside [0, 1] or different item spaces.
    """

    _score_params = ("alpha",)

    def __init__(self, cf: Recommender | None = None, content: Recommender | None = None, alpha: float = 0.5):
        self.cf = cf
        self.content = content
        self.alpha = alpha

    def fit(self, data: Interactions) -> Hybrid:
        if self.cf is None or self.content is None:
            raise ValueError("Hybrid needs both a cf and a content model")
        self.cf_ = fit_shared(self.cf, data)
        self.content_ = fit_shared(self.content, data)
        if not self.cf_.items_.equals(self.content_.items_):
            raise ValueError(
                "Hybrid: cf and content models must score the same item space (same min_support)"
            )
        self.data_ = data
        self.item_index_ = self.cf_.item_index_
        self.items_ = self.cf_.items_
        return self

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        a = float(self.alpha)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"Hybrid alpha must be in [0, 1], got {self.alpha}")
        out = a * _row_max_normalise(self.cf_.score_block(rows)) if a > 0 else 0.0
        if a < 1:
            out = out + (1 - a) * _row_max_normalise(self.content_.score_block(rows))
        return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------------------
# TIFU-KNN
# --------------------------------------------------------------------------------------
class TIFUKNN(Recommender):
    """TIFU-KNN (Hu, He, Gao & Zhang 2020, SIGIR), written from the paper.

    Personal item frequency (PIF) vector of a household with baskets ``b_1 .. b_n`` (0/1 vectors,
    oldest first): the sequence is cut into ``G = min(n_groups, n)`` consecutive groups whose sizes
    differ by at most one, the larger groups being the most recent (as in the authors' released
    code). Within a group of ``m`` baskets, basket ``j`` (1 = oldest) has weight
    ``within_decay ** (m - j) / m``; group ``g`` (1 = oldest) has weight ``group_decay ** (G - g) / G``;
    the PIF vector ``u`` is the weighted sum of the basket vectors.

    Prediction: ``alpha * u + (1 - alpha) * mean of the n_neighbors nearest households' PIF
    vectors``, nearest in Euclidean distance between PIF vectors (as in the authors' code, which uses
    scikit-learn ``NearestNeighbors``), distance ties broken by lower row. Two deliberate differences
    from that code: the within-group decay restarts in each group (the code decays by position in the
    whole history), and a household is not its own neighbour (the code's query returns the household
    itself first). Defaults are the values suggested for grocery data in the issue that introduced
    this module (k = 900, within-basket decay 0.9, group decay 0.6, alpha 0.2, 3 groups).

    Parameters
    ----------
    n_neighbors : int (scoring-time)
    within_decay, group_decay : float in (0, 1]
    alpha : float in [0, 1] (scoring-time)
    n_groups : int >= 1
    min_support : int
        Item space (module docstring).
    """

    _score_params = ("n_neighbors", "alpha")

    def __init__(
        self,
        n_neighbors: int = 900,
        within_decay: float = 0.9,
        group_decay: float = 0.6,
        alpha: float = 0.2,
        n_groups: int = 3,
        min_support: int = 1,
    ):
        self.n_neighbors = n_neighbors
        self.within_decay = within_decay
        self.group_decay = group_decay
        self.alpha = alpha
        self.n_groups = n_groups
        self.min_support = min_support

    def _fit(self, data: Interactions) -> None:
        check_whole(self.n_groups, "TIFUKNN n_groups")
        for name in ("within_decay", "group_decay"):
            v = float(getattr(self, name))
            if not 0 < v <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {v}")
        weights = self.basket_weights(data.basket_user)
        owner = sparse.csr_matrix(
            (weights, (data.basket_user, np.arange(len(weights)))), shape=(data.n_users, len(weights))
        )
        pif_all = (owner @ data.baskets).tocsr()
        self.pif_ = _space(data, pif_all, self.item_index_)
        self._pif_t = self.pif_.T.tocsr()
        sq = np.asarray(self.pif_.multiply(self.pif_).sum(axis=1)).ravel()
        dist = sq[:, None] + sq[None, :] - 2.0 * (self.pif_ @ self.pif_.T).toarray()
        np.fill_diagonal(dist, np.inf)
        self.distance_ = dist

    def basket_weights(self, basket_user: np.ndarray) -> np.ndarray:
        """Weight of each basket in its household's PIF vector (baskets grouped by household, oldest
        first within a household), shape (n_baskets,), float64."""
        bu = np.asarray(basket_user, dtype=np.int64)
        if len(bu) == 0:
            return np.zeros(0)
        n_per = np.bincount(bu)
        pos = group_rank(bu)  # 0-based chronological position within the household
        n = n_per[bu]
        g_count = np.minimum(int(self.n_groups), n)
        base, extra = n // g_count, n % g_count
        small = g_count - extra  # groups of size `base` come first
        in_small = pos < small * base
        grp = np.where(in_small, pos // np.maximum(base, 1), small + (pos - small * base) // (base + 1))
        size = np.where(in_small, base, base + 1)
        j = np.where(in_small, pos - grp * base, pos - small * base - (grp - small) * (base + 1))
        rb, rg = float(self.within_decay), float(self.group_decay)
        return rg ** (g_count - 1 - grp) / g_count * rb ** (size - 1 - j) / size

    def score_block(self, rows: np.ndarray) -> np.ndarray:
        a = float(self.alpha)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"TIFUKNN alpha must be in [0, 1], got {self.alpha}")
        n = min(check_whole(self.n_neighbors, "TIFUKNN n_neighbors"), self.data_.n_users - 1)
        own = self.pif_[rows].toarray()
        if n < 1 or a == 1.0:
            return a * own
        top = _smallest(self.distance_[rows], n)
        nb = np.zeros((len(rows), self.data_.n_users))
        np.put_along_axis(nb, top, 1.0 / n, axis=1)
        return a * own + (1.0 - a) * _product(self._pif_t, nb)


# --------------------------------------------------------------------------------------
# Tuning and evaluation
# --------------------------------------------------------------------------------------
def scores_dense(model: Recommender, households: Any) -> pd.DataFrame:
    """Full score table of a fitted dense-score model for a few households (for tests and
    inspection): index = households, columns = ``model.items_``. Not for large inputs."""
    data = model._check_fitted()
    rows = data.rows(np.asarray(pd.Index(households)))
    return pd.DataFrame(model.score_block(rows), index=pd.Index(households), columns=model.items_)
