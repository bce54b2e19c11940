"""Ranking with deterministic ties: the one rule every recommender and metric of
:mod:`retention_utils.recommend` uses to turn scores into ordered lists.

Rule: within a user, items are ordered by score descending; items with equal scores by an optional
per-item ``prior`` descending (:func:`top_k_stored`; the popularity family passes global popularity,
so a household's equally frequent products are listed most popular first), then by the natural order
of the ids (:func:`id_rank`: numeric order for numeric ids, so ``9`` before ``10``; ``str`` order for
any other ids), never by input or memory order, so two runs (or two machines) give the same lists.
:func:`top_k_from_scores` applies it to a dense or sparse score matrix, :func:`top_k_stored` to stored
(user, item, score) triples; the helpers below are the building blocks (:func:`dense_rank`,
:func:`argsort_keys`, :func:`group_rank`, :func:`id_rank`), public so that other code (the playbook's
recommendations) ranks the same way.

The ranking *metrics* do not use this id order: tied scores in a list are scored by the expected
value over the orders of the tied items (:mod:`retention_utils.recommend.metrics`, rule 7), so a
model gains nothing from the ids; a model that breaks ties on purpose (P-TopFreq by popularity) puts
the tie-break into its scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

#: Column names of recommendation and truth tables (override per call with ``col_user`` etc.).
DEFAULT_USER_COL = "customer_id"
DEFAULT_ITEM_COL = "product_id"
DEFAULT_SCORE_COL = "score"


def dense_rank(values: np.ndarray, descending: bool = False) -> tuple[np.ndarray, int]:
    """Dense integer rank of float values (equal values share a rank) and the number of levels."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    v = -values if descending else values
    order = np.argsort(v)
    sv = v[order]
    new = np.empty(n, dtype=np.int64)
    new[0] = 0
    np.not_equal(sv[1:], sv[:-1], out=new[1:])  # -0.0 == 0.0, as in comparisons
    levels = np.cumsum(new)
    out = np.empty(n, dtype=np.int64)
    out[order] = levels
    return out, int(levels[-1]) + 1


def argsort_keys(keys: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Row order sorting by several non-negative integer code arrays, first key most significant.

    ``keys`` is ``[(codes, n_levels), ...]``. The codes are packed into one int64 composite key and
    sorted with a single ``np.argsort`` (much faster than ``np.lexsort``); rows with equal keys are
    identical in every key, so their relative order cannot matter. Falls back to ``np.lexsort`` if
    the packed key could overflow.
    """
    span = 1
    for _, n in keys:
        span *= max(int(n), 1)
    if span >= 2**62:
        return np.lexsort(tuple(c for c, _ in reversed(keys)))
    composite = np.zeros(len(keys[0][0]), dtype=np.int64)
    for codes, n in keys:
        composite *= max(int(n), 1)
        composite += codes
    return np.argsort(composite)


def group_rank(sorted_codes: np.ndarray) -> np.ndarray:
    """0-based position of each row inside its run of equal codes (codes must be grouped)."""
    n = len(sorted_codes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    return np.arange(n, dtype=np.int64) - np.repeat(starts, lengths)


def string_rank(values: Any) -> np.ndarray:
    """Rank of each value by its string form (ties between equal strings keep input order)."""
    as_str = np.asarray(pd.Index(values).astype(str), dtype=object)
    order = np.argsort(as_str, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def id_rank(values: Any) -> np.ndarray:
    """Rank of each id in the natural id order, shape (n,), int64: numeric order when the ids are
    numbers (a numeric, non-boolean dtype, so ``9`` ranks before ``10``), ``str`` order otherwise;
    equal ids keep input order (stable)."""
    idx = pd.Index(values)
    if pd.api.types.is_numeric_dtype(idx.dtype) and not pd.api.types.is_bool_dtype(idx.dtype):
        order = np.argsort(idx.to_numpy(), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        return rank
    return string_rank(idx)


def top_k_from_scores(
    user_ids: Any,
    item_ids: Any,
    scores: Any,
    k: int,
    *,
    exclude: Any = None,
    chunk_size: int | None = None,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
) -> pd.DataFrame:
    """Top-k recommendations from a (users x items) score matrix, processed in row chunks.

    Parameters
    ----------
    user_ids : 1-D array-like, length n_users
        Row labels (unique).
    item_ids : 1-D array-like, length n_items
        Column labels (unique).
    scores : 2-D array (numpy / memmap, shape (n_users, n_items)), scipy sparse matrix/array,
        or callable ``scores(start, stop)`` returning the dense or sparse block of rows
        ``start:stop`` (shape ``(stop - start, n_items)``). Larger is better. For sparse
        input, unstored entries are scores of 0 like any other value; ``-inf`` marks items
        that must never be recommended. NaN raises ``ValueError``.
    k : int
        Positive number of items per user (capped at n_items).
    exclude : None, bool array of shape (n_users, n_items), scipy sparse bool matrix, or
        DataFrame with ``col_user``, ``col_item`` pairs (unknown ids ignored)
        Entries that must not be recommended (e.g. already-bought items).
    chunk_size : int or None
        Rows per block. ``None`` picks about 4M cells per block (32 MB of float64), so the
        full dense users x items matrix is never materialised.

    Returns
    -------
    DataFrame
        Columns ``col_user``, ``col_item``, ``col_score`` (float64) and ``rank`` (int64,
        1-based); at most ``k`` rows per user, sorted by user (input order) then rank. Ties are
        broken by the module rule: score descending, then :func:`id_rank` ascending. Users whose
        every item is excluded get no rows.

    Raises
    ------
    ValueError
        Shape mismatches, duplicate ids, NaN scores, bad ``k`` / ``chunk_size``.
    """
    k = _check_k(k)
    users, items = _ids(user_ids, "user_ids"), _ids(item_ids, "item_ids")
    n_users, n_items = len(users), len(items)
    if not pd.Index(users).is_unique:
        raise ValueError("user_ids must be unique")
    if not pd.Index(items).is_unique:
        raise ValueError("item_ids must be unique")
    if chunk_size is None:
        chunk_size = max(1, (1 << 22) // max(n_items, 1))
    chunk_size = _check_k(chunk_size, "chunk_size")
    empty = pd.DataFrame(
        {
            col_user: users[:0],
            col_item: items[:0],
            col_score: np.zeros(0),
            "rank": np.zeros(0, dtype=np.int64),
        }
    )
    if n_users == 0 or n_items == 0:
        return empty

    # score source
    get_block: Callable[[int, int], Any]
    if callable(scores):
        get_block = scores
    elif sparse.issparse(scores):
        s_csr = sparse.csr_matrix(scores)
        if s_csr.shape != (n_users, n_items):
            raise ValueError(f"scores has shape {s_csr.shape}, expected {(n_users, n_items)}")

        def get_block(a: int, b: int) -> Any:
            return s_csr[a:b]
    else:
        s_arr = scores if isinstance(scores, np.ndarray) else np.asarray(scores)
        if s_arr.shape != (n_users, n_items):
            raise ValueError(f"scores has shape {s_arr.shape}, expected {(n_users, n_items)}")

        def get_block(a: int, b: int) -> Any:
            return s_arr[a:b]

    # exclusion source
    ex_get: Callable[[int, int], np.ndarray] | None = None
    if exclude is not None:
        if isinstance(exclude, pd.DataFrame):
            _check_frame(exclude, "exclude", [col_user, col_item], [col_user, col_item])
            r = pd.Index(users).get_indexer(exclude[col_user])
            c = pd.Index(items).get_indexer(exclude[col_item])
            ok = (r >= 0) & (c >= 0)
            ex_csr = sparse.csr_matrix(
                (np.ones(int(ok.sum()), dtype=bool), (r[ok], c[ok])), shape=(n_users, n_items)
            )
        elif sparse.issparse(exclude):
            ex_csr = sparse.csr_matrix(exclude, dtype=bool)
        else:
            ex_arr = np.asarray(exclude, dtype=bool)
            if ex_arr.shape != (n_users, n_items):
                raise ValueError(f"exclude has shape {ex_arr.shape}, expected {(n_users, n_items)}")
            ex_csr = None

            def ex_get(a: int, b: int) -> np.ndarray:
                return ex_arr[a:b]

        if ex_get is None:
            if ex_csr.shape != (n_users, n_items):
                raise ValueError(f"exclude has shape {ex_csr.shape}, expected {(n_users, n_items)}")

            def ex_get(a: int, b: int) -> np.ndarray:
                return ex_csr[a:b].toarray()

    item_rank = id_rank(items)  # tie-break order: natural id order
    kk = min(k, n_items)
    out_r, out_c, out_v = [], [], []
    for start in range(0, n_users, chunk_size):
        stop = min(n_users, start + chunk_size)
        m = stop - start
        raw = get_block(start, stop)
        raw = raw.toarray() if sparse.issparse(raw) else raw
        block = np.asarray(raw, dtype=np.float64)  # may be a view: never written to
        if block.shape != (m, n_items):
            raise ValueError(f"score block for rows {start}:{stop} has shape {block.shape}")
        if np.isnan(block).any():
            raise ValueError(f"scores contain NaN in rows {start}:{stop}")
        if ex_get is not None:
            block = np.where(ex_get(start, stop), -np.inf, block)
        r, c, v = _candidates(block, kk)  # every entry that can make its row's top kk
        finite = v > -np.inf  # excluded / impossible items
        r, c, v = r[finite], c[finite], v[finite]
        o = np.lexsort((item_rank[c], -v, r))
        o = o[group_rank(r[o]) < kk]  # the module rule: score descending, then id order
        out_r.append(r[o] + start)
        out_c.append(c[o])
        out_v.append(v[o])
    r = np.concatenate(out_r)
    c = np.concatenate(out_c)
    v = np.concatenate(out_v)
    if len(r) == 0:
        return empty
    return pd.DataFrame(
        {
            col_user: users[r],
            col_item: items[c],
            col_score: v,
            "rank": group_rank(r) + 1,
        }
    )


def _candidates(block: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and value of a superset of every row's top ``kk`` entries of a 2-D float array
    (``1 <= kk <= width``): every entry at or above its row's ``kk``-th largest value, and maybe more.

    Wide rows are first cut by a lower bound, the ``kk``-th largest of every 16th column (at least
    ``kk`` values of the row are >= it, so the row's ``kk``-th largest is too), which leaves a few
    candidates per row; rows where the bound leaves many (heavy ties, -inf) are cut at their exact
    ``kk``-th largest value by ``np.partition`` (slow on rows of many equal values, the common case of
    sparse scores, hence the bound first). Entries are returned in row-major order."""
    m, width = block.shape
    parts = []
    big = np.arange(m)
    if width >= 64 * kk and width >= 1024:
        sample = block[:, ::16]
        bound = np.partition(sample, sample.shape[1] - kk, axis=1)[:, sample.shape[1] - kk]
        rr, cc = np.nonzero(block >= bound[:, None])
        n_c = np.bincount(rr, minlength=m)
        many = n_c > max(32 * kk, width // 32)
        if many.any():
            keep = ~many[rr]
            rr, cc = rr[keep], cc[keep]
        parts.append((rr, cc))
        big = np.flatnonzero(many)
    if len(big):
        sub = block[big]
        kth = np.partition(sub, width - kk, axis=1)[:, width - kk]
        rr, cc = np.nonzero(sub >= kth[:, None])
        parts.append((big[rr], cc))
    r = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    return r, c, block[r, c]


def top_k_stored(
    user_ids: Any,
    item_ids: Any,
    scores: sparse.spmatrix,
    k: int,
    prior: Any = None,
) -> pd.DataFrame:
    """Top-k per row of a sparse score matrix where only *stored* entries are candidates.

    Parameters
    ----------
    user_ids : array-like, length n_rows (unique)
    item_ids : array-like, length n_cols (unique)
    scores : scipy sparse matrix, shape (n_rows, n_cols); NaN raises ``ValueError``; ``-inf`` entries
        are never recommended.
    k : int, positive
    prior : None or array-like of float, shape (n_cols,)
        Tie-break key: among equal scores, larger ``prior`` first (e.g. global popularity); NaN
        raises ``ValueError``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``product_id``, ``score`` (float64), ``rank`` (int64, 1-based): at most ``k``
        rows per user (fewer if it has fewer candidates), users in input order, ties broken by
        ``prior`` descending, then :func:`id_rank` ascending (module docstring).
    """
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    users, items = _ids(user_ids, "user_ids"), _ids(item_ids, "item_ids")
    if not pd.Index(users).is_unique:
        raise ValueError("user_ids must be unique")
    coo = sparse.coo_matrix(scores)
    if coo.shape != (len(users), len(items)):
        raise ValueError(f"scores has shape {coo.shape}, expected {(len(users), len(items))}")
    r, c, v = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
    if np.isnan(v).any():
        raise ValueError("scores contain NaN")
    ok = v > -np.inf
    r, c, v = r[ok], c[ok], v[ok]
    keep = _at_or_above_kth(r, v, len(users), k)
    if keep is not None:  # only entries at or above their row's k-th largest value can make the top k
        r, c, v = r[keep], c[keep], v[keep]
    keys = [id_rank(items)[c]]
    if prior is not None:
        pr = np.asarray(prior, dtype=np.float64)
        if pr.shape != (len(items),) or np.isnan(pr).any():
            raise ValueError(f"prior must be {len(items)} non-NaN numbers, one per item")
        keys.append(-pr[c])
    order = np.lexsort((*keys, -v, r))
    r, c, v = r[order], c[order], v[order]
    rank = group_rank(r)
    top = rank < k
    return pd.DataFrame({DEFAULT_USER_COL: users[r[top]], DEFAULT_ITEM_COL: items[c[top]], DEFAULT_SCORE_COL: v[top], "rank": rank[top] + 1})




def _at_or_above_kth(r: np.ndarray, v: np.ndarray, n_rows: int, k: int) -> np.ndarray | None:
    """Mask of the entries ``(r, v)`` whose value is at least the ``k``-th largest of their row (all of
    a row with at most ``k`` entries), or ``None`` when that saves little (few entries per row) or would
    need a padded (rows x longest row) array much larger than the entries. Exact: ties at the cut are
    kept, so a later full sort of the kept entries ranks them as it would rank all of them."""
    n = len(v)
    if n == 0 or n <= 4 * k * max(n_rows, 1):
        return None
    per_row = np.bincount(r, minlength=n_rows)
    width = int(per_row.max())
    if width <= k or n_rows * width > 4 * n + (1 << 20):
        return None
    order = np.argsort(r, kind="stable")
    starts = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    pos = np.arange(n) - starts[r[order]]
    # pad with distinct values below every entry (np.partition is slow on many equal values); padding
    # never raises a row's k-th largest value, and in a row of fewer than k entries the cut is padding
    low = float(v.min()) - 1.0
    padded = np.broadcast_to(low - np.arange(width, dtype=np.float64), (n_rows, width)).copy()
    padded[r[order], pos] = v[order]
    kth = np.partition(padded, width - k, axis=1)[:, width - k]
    return v >= kth[r]


def _ids(values: Any, name: str) -> np.ndarray:
    """Ids as a 1-D array with their types kept: ``np.asarray([7, "u2"])`` alone would make both text."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if isinstance(values, list | tuple):
        arr = np.asarray(pd.Index(values))
    return arr


def _check_k(k: Any, name: str = "k") -> int:
    if isinstance(k, bool | np.bool_) or not isinstance(k, int | np.integer) or k <= 0:
        raise ValueError(f"{name} must be a positive int, got {k!r}")
    return int(k)


def check_whole(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int if it is a whole number >= ``minimum`` (an int, or a float with no fractional
    part such as ``900.0``); else ``ValueError`` naming ``name``. Bools, NaN, infinities and fractions
    (``1.7``, which ``int()`` would silently cut to 1) are refused."""
    ok = not isinstance(value, bool | np.bool_) and isinstance(value, int | np.integer | float | np.floating)
    if ok and isinstance(value, float | np.floating):
        ok = bool(np.isfinite(value)) and float(value).is_integer()
    if not ok or int(value) < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def check_real(value: Any, name: str, low: float, high: float = np.inf, low_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number in ``[low, high]`` (``(low, high]`` with
    ``low_open``); else ``ValueError`` naming ``name``."""
    ok = not isinstance(value, bool | np.bool_) and isinstance(value, int | np.integer | float | np.floating)
    v = float(value) if ok else np.nan
    if not (np.isfinite(v) and (v > low if low_open else v >= low) and v <= high):
        if high == np.inf:
            bounds = f"{'>' if low_open else '>='} {low:g}"
        else:
            bounds = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number {bounds}, got {value!r}")
    return v


def _check_frame(df: Any, name: str, cols: list[str], non_null: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; it has {list(df.columns)}")
    for c in non_null:
        n_null = int(df[c].isna().sum())
        if n_null:
            raise ValueError(f"{name}[{c!r}] has {n_null} null value(s)")
