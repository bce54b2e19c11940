"""Top-k ranking metrics for next-basket / next-window recommendation evaluation.

Every metric shares one calling convention::

    f(truth, recommendations, k, *, col_user="customer_id", col_item="product_id",
      col_score="score", col_relevance=None, ...)

Inputs
------
``truth``
    DataFrame with one row per (user, item) the user actually bought in the target
    basket / window. Columns ``col_user`` and ``col_item`` (any hashable dtype, no
    nulls) and, optionally, a numeric relevance column ``col_relevance`` (>= 0, no NaN)
    for graded NDCG. Extra columns are ignored.
``recommendations``
    DataFrame with one row per (user, item, score) recommendation. Columns
    ``col_user``, ``col_item`` (no nulls) and the numeric ``col_score`` (no NaN; larger
    is better; +/-inf allowed). Extra columns (for example ``rank``) are ignored: the
    ranking is always recomputed from the scores.
``k``
    Cut-off, a positive ``int`` (Python or NumPy integer; ``bool`` is rejected).

Rules (all enforced and tested)
-------------------------------
1. **Truth duplicates.** Duplicate (user, item) rows in ``truth`` are collapsed to one
   row; with a relevance column the largest relevance is kept.
2. **Positives.** Without ``col_relevance`` every truth row is a positive with
   relevance 1 (binary gains). With ``col_relevance`` only rows with relevance > 0 are
   positives; relevance 0 rows are ignored.
3. **Excluded users.** The candidate population is every user that appears in
   ``truth`` or in ``recommendations``. Users with no positive truth item are excluded
   from the average (recall, NDCG and AP are undefined for them); their number is
   reported as ``MetricResult.n_excluded`` (and ``per_user_metrics(...).attrs``).
4. **Missing recommendations.** A user with positives but no recommendations is kept
   and scores 0 on every metric (all misses).
5. **Short lists.** A user with fewer than ``k`` recommendations has the missing slots
   counted as misses: precision@k always divides by ``k``.
6. **Recommendation duplicates.** Duplicate (user, item) rows in ``recommendations``
   keep the row with the highest score; the others are dropped *before* ranking, so a
   duplicate never occupies two slots.
7. **Deterministic ties.** Within a user, items are ranked by score descending, then by
   ``str(item_id)`` ascending (lexicographic on the string form, so ``"10" < "9"``).
   The result never depends on the input row order.
8. **Validation.** Missing columns raise ``ValueError`` naming them; NaN scores, null
   user / item ids, non-numeric scores, NaN or negative relevances and a ``k`` that is
   not a positive int raise ``ValueError``; a non-DataFrame input raises ``TypeError``.
   The user (item) columns of the frames must both be numeric or both non-numeric,
   otherwise no id could ever match and a ``ValueError`` is raised.

Definitions (per user ``u`` with positive set ``T_u``, top-k list ``L_u``, ``rel_i`` the
truth relevance of the item at 1-based rank ``i`` and 0 for a miss)
------------------------------------------------------------------------------------
* precision@k = ``|L_u ∩ T_u| / k``; recall@k = ``|L_u ∩ T_u| / |T_u|``
  (Manning, Raghavan & Schütze 2008, *Introduction to Information Retrieval*, ch. 8).
* NDCG@k = ``DCG@k / IDCG@k`` with ``DCG@k = sum_{i<=k} g(rel_i) / log2(i + 1)``
  (Järvelin & Kekäläinen 2002, "Cumulated gain-based evaluation of IR techniques",
  ACM TOIS 20(4); log2(i+1) discount as in Burges et al. 2005). ``IDCG@k`` is the DCG
  of the truth relevances sorted in decreasing order, cut at ``k``: with binary gains
  it sums the first ``min(k, |T_u|)`` discounts. The gain ``g`` is ``gain="linear"``
  (default, ``g(rel) = rel``; this reproduces the textbook example of Wikipedia's
  "Discounted cumulative gain": relevances 3,2,3,0,1,2 at ranks 1-6 with ideal
  3,3,3,2,2,2 give nDCG@6 ≈ 0.785) or ``gain="exponential"`` (``g(rel) = 2**rel - 1``,
  Burges et al. 2005, "Learning to rank using gradient descent", ICML). Both coincide
  for binary relevance.
* AP@k = ``sum_{i<=k} P@i * hit_i / min(k, |T_u|)``; MAP@k is its mean over users
  (the usual "AP@k" convention that caps the denominator at ``k``).
* hit rate / PHR@k = share of users with at least one hit in the top k
  (Li, Jullien, Ariannezhad & de Rijke 2023, "A Next Basket Recommendation Reality
  Check", ACM TOIS, doi:10.1145/3587153).
* catalogue coverage@k = distinct items in the top-k lists of the evaluated users /
  catalogue size (Ge, Delgado-Battenfeld & Jannach 2010, "Beyond accuracy", RecSys).
* repeat / explore (Li et al. 2023): given a ``history`` frame of (user, item) bought
  before the cutoff, ``T_u`` splits into repeat items (in the user's history) and
  explore items (new to the user). repeat recall@k = repeat hits / |repeat truth|
  (users with no repeat truth item are excluded), explore recall@k likewise, and the
  repeat share@k = (number of top-k items that are in the user's history) / ``k``.

Implementation: a single vectorised pass (ids encoded to integer codes, one ``np.argsort`` of
a packed (user, score level, str(item) rank) int64 key of the recommendations, group ranks from
run starts, ``np.bincount`` aggregations); no Python loop over users. Each single-metric
function performs the whole pass, so to get several metrics call :func:`ranking_metrics` (all
aggregates) or :func:`per_user_metrics` (per-user frame, for :func:`bootstrap_ci`) once.
:func:`top_k_from_scores` turns a (users x items) score matrix, processed in row chunks, into a
recommendations frame with the same tie-break rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .ranking import (
    DEFAULT_ITEM_COL,
    DEFAULT_SCORE_COL,
    DEFAULT_USER_COL,
    _check_frame,
    _check_k,
    argsort_keys,
    dense_rank,
    group_rank,
    string_rank,
    top_k_from_scores,
)

__all__ = [
    "BootstrapCI",
    "MetricResult",
    "bootstrap_ci",
    "catalogue_coverage",
    "hit_rate_at_k",
    "map_at_k",
    "ndcg_at_k",
    "per_user_metrics",
    "phr_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "repeat_explore_at_k",
    "top_k_from_scores",
]

_GAINS = ("linear", "exponential")


# --------------------------------------------------------------------------------------
# Result containers
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricResult:
    """One aggregated metric.

    Attributes
    ----------
    name : str
        Metric name, e.g. ``"precision@10"``.
    k : int
        Cut-off used.
    value : float
        Mean of the per-user values over the evaluated users (``nan`` if there are none);
        for coverage, the coverage ratio.
    n_users : int
        Number of users the value averages over.
    n_excluded : int
        Users seen in ``truth`` or ``recommendations`` that were left out because they had
        no positive truth item (for repeat / explore recall: no repeat / explore truth item).
    """

    name: str
    k: int
    value: float
    n_users: int
    n_excluded: int

    def __float__(self) -> float:
        return float(self.value)


class BootstrapCI(NamedTuple):
    """Percentile bootstrap interval returned by :func:`bootstrap_ci`."""

    estimate: float  # mean of the (non-NaN) input values
    low: float  # alpha/2 quantile of the bootstrap means
    high: float  # 1 - alpha/2 quantile of the bootstrap means
    n: int  # number of non-NaN values resampled
    n_boot: int
    alpha: float


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------
def _numeric_array(s: pd.Series, what: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise ValueError(f"{what} must be numeric, got dtype {s.dtype}")
    arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(f"{what} has {n_nan} NaN value(s)")
    return arr


def _check_compatible(a: pd.Series, b: pd.Series, what: str) -> None:
    na, nb = pd.api.types.is_numeric_dtype(a), pd.api.types.is_numeric_dtype(b)
    if len(a) and len(b) and na != nb:
        raise ValueError(
            f"{what} id dtypes are incompatible ({a.dtype} vs {b.dtype}): numeric ids never "
            "match non-numeric ids; convert one of the columns first"
        )


def _check_gain(gain: str) -> None:
    if gain not in _GAINS:
        raise ValueError(f"gain must be one of {_GAINS}, got {gain!r}")


# --------------------------------------------------------------------------------------
# Core: one vectorised pass shared by every metric
# --------------------------------------------------------------------------------------
def _encode(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes for the ids of ``a`` followed by ``b``, and the Index mapping code -> id.

    Integer ids spanning a compact range (the common case for customer / product numbers) are
    encoded as ``id - min`` without hashing; the Index then also holds ids that do not occur
    (callers count the codes actually present). Other ids go through ``pd.factorize``.
    """
    parts = [s for s in (a, b) if len(s)]
    if parts and all(
        isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu" and s.dtype != np.uint64 for s in parts
    ):
        va = a.to_numpy().astype(np.int64, copy=False)
        vb = b.to_numpy().astype(np.int64, copy=False)
        lo = min(int(v.min()) for v in (va, vb) if len(v))
        hi = max(int(v.max()) for v in (va, vb) if len(v))
        if hi - lo + 1 <= max(1 << 20, 2 * (len(va) + len(vb))):
            codes = np.concatenate([va, vb]) - lo
            dtype = np.result_type(*(s.dtype for s in parts))
            return codes, pd.Index(np.arange(lo, hi + 1, dtype=np.int64).astype(dtype))
    codes, uniques = pd.factorize(pd.concat([a, b], ignore_index=True), sort=False)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


@dataclass
class _Prepared:
    k: int
    n_users: int  # size of the user code space (>= users seen)
    n_items: int  # size of the item code space (>= items seen)
    n_seen: int  # distinct users in truth or recommendations
    n_items_seen: int  # distinct items in truth or recommendations
    user_uniques: pd.Index
    item_uniques: pd.Index
    graded: bool
    # positive truth rows, sorted by (user code, item code), deduplicated
    t_user: np.ndarray
    t_item: np.ndarray
    t_rel: np.ndarray
    t_key: np.ndarray
    # top-k recommendation rows, sorted by (user, score desc, item string asc)
    r_user: np.ndarray
    r_item: np.ndarray
    r_rank: np.ndarray  # 0-based
    r_tpos: np.ndarray  # index into the truth arrays, -1 for a miss


def _prepare(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: Any,
    col_user: str,
    col_item: str,
    col_score: str,
    col_relevance: str | None,
) -> _Prepared:
    k = _check_k(k)
    t_cols = [col_user, col_item] + ([col_relevance] if col_relevance is not None else [])
    _check_frame(truth, "truth", t_cols, [col_user, col_item])
    _check_frame(recommendations, "recommendations", [col_user, col_item, col_score], [col_user, col_item])
    _check_compatible(truth[col_user], recommendations[col_user], "user")
    _check_compatible(truth[col_item], recommendations[col_item], "item")
    scores = _numeric_array(recommendations[col_score], f"recommendations[{col_score!r}]")

    n_t = len(truth)
    u_codes, u_uniques = _encode(truth[col_user], recommendations[col_user])
    i_codes, i_uniques = _encode(truth[col_item], recommendations[col_item])
    n_users, n_items = len(u_uniques), len(i_uniques)
    n_seen = int(np.count_nonzero(np.bincount(u_codes, minlength=n_users)))
    n_items_seen = int(np.count_nonzero(np.bincount(i_codes, minlength=n_items)))

    # ---- truth: dedupe (keep max relevance), keep positives, sort by (user, item) key
    tu, ti = u_codes[:n_t], i_codes[:n_t]
    t_key = tu * n_items + ti
    if col_relevance is not None:
        rel = _numeric_array(truth[col_relevance], f"truth[{col_relevance!r}]")
        if (rel < 0).any():
            raise ValueError(f"truth[{col_relevance!r}] has negative relevance value(s)")
        rel_lv, n_rel_lv = dense_rank(rel, descending=True)
        order = argsort_keys([(t_key, n_users * n_items), (rel_lv, n_rel_lv)])
    else:
        rel = np.ones(n_t, dtype=np.float64)
        order = np.argsort(t_key)
    ks = t_key[order]
    first = np.ones(len(ks), dtype=bool)
    first[1:] = ks[1:] != ks[:-1]
    if col_relevance is not None:
        keep = order[first]
        keep = keep[rel[keep] > 0]
        rel, t_key = rel[keep], t_key[keep]
    else:
        t_key = ks[first]
        rel = np.ones(len(t_key), dtype=np.float64)
    tu, ti = np.divmod(t_key, n_items) if n_items else (t_key, t_key)

    # ---- recommendations: one sort by (user, score desc, item string asc)
    ru, ri = u_codes[n_t:], i_codes[n_t:]
    rec_items = np.flatnonzero(np.bincount(ri, minlength=n_items))
    item_rank = np.zeros(n_items, dtype=np.int64)
    item_rank[rec_items] = string_rank(i_uniques[rec_items])
    score_lv, n_score_lv = dense_rank(scores, descending=True)
    order = argsort_keys([(ru, n_users), (score_lv, n_score_lv), (item_rank[ri], len(rec_items))])
    ru, ri = ru[order], ri[order]
    r_key = ru * n_items + ri
    # Duplicate (user, item) rows: keep the first == highest-scored one. Only the first k rows of
    # each user are hashed; a user with a duplicate among them has all its rows deduplicated.
    rank = group_rank(ru)
    top = rank < k
    dup_top = pd.Series(r_key[top]).duplicated(keep="first").to_numpy()
    if dup_top.any():
        bad_user = np.zeros(n_users, dtype=bool)
        bad_user[ru[top][dup_top]] = True
        bad = bad_user[ru]
        bad_idx = np.flatnonzero(bad)
        keep = ~bad
        keep[bad_idx] = ~pd.Series(r_key[bad_idx]).duplicated(keep="first").to_numpy()
        ru, ri, r_key = ru[keep], ri[keep], r_key[keep]
        rank = group_rank(ru)
        top = rank < k
    ru, ri, r_key, rank = ru[top], ri[top], r_key[top], rank[top]

    # ---- hits: look each top-k (user, item) up in the sorted truth keys
    if len(t_key):
        pos = np.minimum(np.searchsorted(t_key, r_key), len(t_key) - 1)
        tpos = np.where(t_key[pos] == r_key, pos, -1)
    else:
        tpos = np.full(len(r_key), -1, dtype=np.int64)

    return _Prepared(
        k=k,
        n_users=n_users,
        n_items=n_items,
        n_seen=n_seen,
        n_items_seen=n_items_seen,
        user_uniques=u_uniques,
        item_uniques=i_uniques,
        graded=col_relevance is not None,
        t_user=tu,
        t_item=ti,
        t_rel=rel,
        t_key=t_key,
        r_user=ru,
        r_item=ri,
        r_rank=rank,
        r_tpos=tpos,
    )


def _gain(rel: np.ndarray, gain: str) -> np.ndarray:
    return np.exp2(rel) - 1.0 if gain == "exponential" else rel


def _history_keys(
    prep: _Prepared, history: pd.DataFrame, col_user: str, col_item: str, truth: pd.DataFrame
) -> np.ndarray:
    _check_frame(history, "history", [col_user, col_item], [col_user, col_item])
    _check_compatible(truth[col_user], history[col_user], "user")
    _check_compatible(truth[col_item], history[col_item], "item")
    hu = prep.user_uniques.get_indexer(history[col_user])
    hi = prep.item_uniques.get_indexer(history[col_item])
    ok = (hu >= 0) & (hi >= 0)  # history of unseen users / items can never matter
    keys = np.sort(hu[ok].astype(np.int64) * prep.n_items + hi[ok])
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return keys[first]  # sorted, unique (np.unique is much slower on large int arrays)


def _in_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def _per_user_arrays(
    prep: _Prepared,
    gain: str,
    want: set[str],
    history_keys: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Per-user values over *all* user codes (length ``prep.n_users``)."""
    U, k = prep.n_users, prep.k
    ru, rank, tpos = prep.r_user, prep.r_rank, prep.r_tpos
    hit = tpos >= 0
    n_truth = np.bincount(prep.t_user, minlength=U)
    hits = np.bincount(ru[hit], minlength=U)
    out: dict[str, np.ndarray] = {
        "n_truth": n_truth,
        "n_recommended": np.bincount(ru, minlength=U),
        "hits": hits,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        out["precision"] = hits / k
        out["recall"] = hits / n_truth
        out["hit"] = hits > 0
        if "ndcg" in want:
            disc = 1.0 / np.log2(np.arange(k, dtype=np.float64) + 2.0)
            g = _gain(prep.t_rel[tpos[hit]], gain)
            dcg = np.bincount(ru[hit], weights=g * disc[rank[hit]], minlength=U)
            if prep.graded:
                rel_lv, n_lv = dense_rank(prep.t_rel, descending=True)
                order = argsort_keys([(prep.t_user, U), (rel_lv, n_lv)])
                tu_s, rel_s = prep.t_user[order], prep.t_rel[order]
                trank = group_rank(tu_s)
                sel = trank < k
                idcg = np.bincount(tu_s[sel], weights=_gain(rel_s[sel], gain) * disc[trank[sel]], minlength=U)
            else:
                cum = np.concatenate([[0.0], np.cumsum(disc)])
                idcg = cum[np.minimum(n_truth, k)]
            out["ndcg"] = dcg / idcg
        if "map" in want:
            c = np.cumsum(hit)
            c_before = np.concatenate([[0], c[:-1]])
            start = np.arange(len(ru)) - rank
            cum_hits = c - c_before[start] if len(ru) else c
            prec_i = cum_hits / (rank + 1.0)
            ap_sum = np.bincount(ru[hit], weights=prec_i[hit], minlength=U)
            out["average_precision"] = ap_sum / np.minimum(n_truth, k)
        if history_keys is not None:
            t_rep = _in_sorted(prep.t_key, history_keys)
            r_rep = _in_sorted(prep.r_user * prep.n_items + prep.r_item, history_keys)
            n_rep = np.bincount(prep.t_user[t_rep], minlength=U)
            n_exp = n_truth - n_rep
            rep_hits = np.bincount(ru[hit], weights=t_rep[tpos[hit]], minlength=U).astype(np.int64)
            exp_hits = hits - rep_hits
            out["n_repeat_truth"] = n_rep
            out["n_explore_truth"] = n_exp
            out["repeat_recall"] = np.where(n_rep > 0, rep_hits / n_rep, np.nan)
            out["explore_recall"] = np.where(n_exp > 0, exp_hits / n_exp, np.nan)
            out["repeat_share"] = np.bincount(ru[r_rep], minlength=U) / k
    return out


_ALL = {"ndcg", "map"}


def _frame(prep: _Prepared, arrays: dict[str, np.ndarray], col_user: str) -> pd.DataFrame:
    evaluated = arrays["n_truth"] > 0
    index = pd.Index(prep.user_uniques[evaluated], name=col_user)
    df = pd.DataFrame({name: arr[evaluated] for name, arr in arrays.items()}, index=index)
    if not df.index.is_monotonic_increasing:
        try:
            df = df.sort_index()
        except TypeError:  # ids of mutually unorderable types: keep first-appearance order
            pass
    for c in ("n_truth", "n_recommended", "hits", "n_repeat_truth", "n_explore_truth"):
        if c in df:
            df[c] = df[c].astype(np.int64)
    df.attrs["k"] = prep.k
    df.attrs["n_excluded"] = int(prep.n_seen - evaluated.sum())
    return df


def _result(name: str, k: int, values: np.ndarray, n_seen: int) -> MetricResult:
    n = int(values.size)
    value = float(np.mean(values)) if n else float("nan")
    return MetricResult(name=f"{name}@{k}", k=k, value=value, n_users=n, n_excluded=int(n_seen - n))


def _single(
    metric: str,
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: Any,
    col_user: str,
    col_item: str,
    col_score: str,
    col_relevance: str | None,
    gain: str = "linear",
) -> MetricResult:
    _check_gain(gain)
    prep = _prepare(truth, recommendations, k, col_user, col_item, col_score, col_relevance)
    want = {"ndcg"} if metric == "ndcg" else {"map"} if metric == "average_precision" else set()
    arrays = _per_user_arrays(prep, gain, want, None)
    evaluated = arrays["n_truth"] > 0
    vals = arrays[metric][evaluated].astype(np.float64)
    name = {"average_precision": "map", "hit": "hit_rate"}.get(metric, metric)
    return _result(name, prep.k, vals, prep.n_seen)


# --------------------------------------------------------------------------------------
# Public metrics
# --------------------------------------------------------------------------------------
_COMMON_DOC = """
    Parameters
    ----------
    truth : DataFrame
        Columns ``col_user``, ``col_item`` (and ``col_relevance`` if given): the items each
        user actually bought in the target window. Duplicates are collapsed.
    recommendations : DataFrame
        Columns ``col_user``, ``col_item``, ``col_score`` (numeric, no NaN). Ranked per user by
        score descending, ties by ``str(item)`` ascending; duplicate (user, item) keep the
        highest score.
    k : int
        Positive cut-off.
    col_user, col_item, col_score : str
        Column names.
    col_relevance : str or None
        Optional numeric relevance column of ``truth``; rows with relevance 0 are not
        positives. ``None``: every truth row is a positive.

    Returns
    -------
    MetricResult
        ``value`` (float, mean over evaluated users), ``n_users``, ``n_excluded``.

    Raises
    ------
    ValueError
        Missing columns (named in the message), NaN scores, null ids, bad ``k``.
    TypeError
        ``truth`` or ``recommendations`` is not a DataFrame.
"""


def precision_at_k(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
) -> MetricResult:
    """Precision@k = hits in the top k / k, averaged over users with >= 1 positive.

    Missing slots (fewer than ``k`` recommendations) count as misses. Source: Manning,
    Raghavan & Schütze (2008), *Introduction to Information Retrieval*, ch. 8.
    """
    return _single("precision", truth, recommendations, k, col_user, col_item, col_score, col_relevance)


def recall_at_k(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
) -> MetricResult:
    """Recall@k = hits in the top k / number of distinct positive truth items of the user.

    Source: Manning, Raghavan & Schütze (2008), *Introduction to Information Retrieval*, ch. 8.
    """
    return _single("recall", truth, recommendations, k, col_user, col_item, col_score, col_relevance)


def ndcg_at_k(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
    gain: str = "linear",
) -> MetricResult:
    """Normalised discounted cumulative gain at k (Järvelin & Kekäläinen 2002, ACM TOIS 20(4)).

    ``DCG@k = sum_{i=1..k} g(rel_i) / log2(i + 1)`` over the user's ranked list (``rel_i`` = truth
    relevance of the item at rank ``i``, 0 for a miss); ``IDCG@k`` is the DCG of the user's truth
    relevances sorted decreasingly, cut at ``k`` (binary gains: the first ``min(k, |truth|)``
    discounts). ``gain="linear"`` uses ``g(rel) = rel`` (reproduces the Wikipedia
    "Discounted cumulative gain" example, nDCG@6 ≈ 0.785); ``gain="exponential"`` uses
    ``g(rel) = 2**rel - 1`` (Burges et al. 2005). Without ``col_relevance`` gains are binary and
    both conventions agree. Raises ``ValueError`` for an unknown ``gain``.
    """
    return _single("ndcg", truth, recommendations, k, col_user, col_item, col_score, col_relevance, gain)


def map_at_k(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
) -> MetricResult:
    """Mean average precision at k.

    ``AP@k = sum_{i=1..k} P@i * hit_i / min(k, |truth|)`` per user, then the mean over users
    with at least one positive (the common "AP@k" normalisation capped at ``k``).
    """
    return _single(
        "average_precision", truth, recommendations, k, col_user, col_item, col_score, col_relevance
    )


def hit_rate_at_k(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
) -> MetricResult:
    """Hit rate / PHR@k: share of users with at least one positive in their top k.

    "Personal hit ratio" in Li, Jullien, Ariannezhad & de Rijke (2023), "A Next Basket
    Recommendation Reality Check", ACM TOIS, doi:10.1145/3587153.
    """
    return _single("hit", truth, recommendations, k, col_user, col_item, col_score, col_relevance)


phr_at_k = hit_rate_at_k

for _f in (precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k):
    _f.__doc__ = (_f.__doc__ or "") + _COMMON_DOC


def _coverage_from_prep(prep: _Prepared, evaluated_codes: np.ndarray, catalogue: Any) -> float:
    items = np.flatnonzero(np.bincount(prep.r_item[evaluated_codes[prep.r_user]], minlength=prep.n_items))
    if catalogue is None:
        size = prep.n_items_seen
        n_cov = len(items)
    elif isinstance(catalogue, int | np.integer) and not isinstance(catalogue, bool | np.bool_):
        size = int(catalogue)
        n_cov = len(items)
        if size <= 0 or size < n_cov:
            raise ValueError(
                f"catalogue size {size} must be positive and >= the {n_cov} distinct recommended items"
            )
    elif isinstance(catalogue, Iterable) and not isinstance(catalogue, str | bytes):
        seq = catalogue if isinstance(catalogue, np.ndarray | pd.Series | pd.Index) else list(catalogue)
        cat = pd.Index(seq).unique()
        size = len(cat)
        if size == 0:
            raise ValueError("catalogue is empty")
        n_cov = int(prep.item_uniques[items].isin(cat).sum())
    else:
        raise ValueError(
            f"catalogue must be None, a positive int or an iterable of item ids, got {catalogue!r}"
        )
    return n_cov / size


def catalogue_coverage(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
    catalogue: int | Iterable[Any] | None = None,
) -> MetricResult:
    """Catalogue coverage@k (Ge, Delgado-Battenfeld & Jannach 2010, RecSys).

    Number of distinct items appearing in the top-k lists of the *evaluated* users (same user
    population as the accuracy metrics: users with >= 1 positive) divided by the catalogue size.

    ``catalogue``:
      * ``None`` (default): the distinct items appearing anywhere in ``truth`` or
        ``recommendations`` (a lower bound on the real catalogue, so coverage is optimistic);
      * an ``int``: the catalogue size (``ValueError`` if smaller than the covered count);
      * an iterable of item ids: only covered items inside it are counted; its distinct size
        is the denominator.

    Returns a :class:`MetricResult` whose ``value`` is the ratio in [0, 1].
    """
    prep = _prepare(truth, recommendations, k, col_user, col_item, col_score, col_relevance)
    evaluated = np.bincount(prep.t_user, minlength=prep.n_users) > 0
    value = _coverage_from_prep(prep, evaluated, catalogue)
    n = int(evaluated.sum())
    return MetricResult(f"coverage@{prep.k}", prep.k, value, n, prep.n_seen - n)


def repeat_explore_at_k(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    history: pd.DataFrame,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
) -> dict[str, MetricResult]:
    """Repeat / explore breakdown of recall@k (Li et al. 2023, "A Next Basket Recommendation
    Reality Check", ACM TOIS, doi:10.1145/3587153).

    ``history`` : DataFrame with ``col_user``, ``col_item``: what each user bought before the
    cutoff (duplicates harmless). A truth item is a *repeat* item if the user bought it before,
    an *explore* item otherwise.

    Returns a dict of :class:`MetricResult`:

    * ``"repeat_recall"``: repeat hits / repeat truth items, over users with >= 1 repeat truth
      item (others counted in ``n_excluded``);
    * ``"explore_recall"``: explore hits / explore truth items, over users with >= 1 explore
      truth item;
    * ``"repeat_share"``: (top-k items the user bought before) / ``k``, over users with >= 1
      positive (missing slots count as non-repeats, as for precision).

    Raises ``ValueError`` / ``TypeError`` as the other metrics, also for ``history``.
    """
    prep = _prepare(truth, recommendations, k, col_user, col_item, col_score, col_relevance)
    hk = _history_keys(prep, history, col_user, col_item, truth)
    arrays = _per_user_arrays(prep, "linear", set(), hk)
    return _repeat_results(prep, arrays)


def _repeat_results(prep: _Prepared, arrays: dict[str, np.ndarray]) -> dict[str, MetricResult]:
    k, U = prep.k, prep.n_seen
    evaluated = arrays["n_truth"] > 0
    rep = arrays["n_repeat_truth"] > 0
    exp = arrays["n_explore_truth"] > 0
    return {
        "repeat_recall": _result("repeat_recall", k, arrays["repeat_recall"][rep], U),
        "explore_recall": _result("explore_recall", k, arrays["explore_recall"][exp], U),
        "repeat_share": _result("repeat_share", k, arrays["repeat_share"][evaluated], U),
    }


def per_user_metrics(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
    gain: str = "linear",
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-user metric values, for bootstrapping confidence intervals over users.

    Returns
    -------
    DataFrame
        One row per evaluated user (users with >= 1 positive truth item), indexed by the user id
        (index name ``col_user``, sorted ascending; ids of mutually unorderable types keep their
        order of first appearance in ``truth`` then ``recommendations``).
        Columns: ``n_truth``, ``n_recommended`` (top-k list length, <= k), ``hits`` (int64);
        ``precision``, ``recall``, ``ndcg``, ``average_precision`` (float64); ``hit`` (bool).
        With ``history``: ``n_repeat_truth``, ``n_explore_truth`` (int64),
        ``repeat_recall``, ``explore_recall`` (float64, NaN when the user has no repeat /
        explore truth item) and ``repeat_share`` (float64).
        ``df.attrs["n_excluded"]`` is the number of excluded users, ``df.attrs["k"]`` the cut-off.
        The column means equal the aggregated metric functions.

    Raises
    ------
    ValueError, TypeError
        As the aggregated metrics.
    """
    _check_gain(gain)
    prep = _prepare(truth, recommendations, k, col_user, col_item, col_score, col_relevance)
    hk = _history_keys(prep, history, col_user, col_item, truth) if history is not None else None
    return _frame(prep, _per_user_arrays(prep, gain, _ALL, hk), col_user)


def ranking_metrics(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    k: int,
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
    gain: str = "linear",
    history: pd.DataFrame | None = None,
    catalogue: int | Iterable[Any] | None = None,
) -> dict[str, MetricResult]:
    """All metrics from one pass over the data (cheaper than calling each function).

    Returns a dict of :class:`MetricResult` with keys ``precision``, ``recall``, ``ndcg``,
    ``map``, ``hit_rate``, ``coverage`` and, when ``history`` is given, ``repeat_recall``,
    ``explore_recall``, ``repeat_share``. Values equal those of the single-metric functions.
    """
    _check_gain(gain)
    prep = _prepare(truth, recommendations, k, col_user, col_item, col_score, col_relevance)
    hk = _history_keys(prep, history, col_user, col_item, truth) if history is not None else None
    arrays = _per_user_arrays(prep, gain, _ALL, hk)
    evaluated = arrays["n_truth"] > 0
    U, kk = prep.n_seen, prep.k
    out = {
        name: _result(name, kk, arrays[col][evaluated].astype(np.float64), U)
        for name, col in (
            ("precision", "precision"),
            ("recall", "recall"),
            ("ndcg", "ndcg"),
            ("map", "average_precision"),
            ("hit_rate", "hit"),
        )
    }
    n = int(evaluated.sum())
    out["coverage"] = MetricResult(
        f"coverage@{kk}", kk, _coverage_from_prep(prep, evaluated, catalogue), n, U - n
    )
    if hk is not None:
        out.update(_repeat_results(prep, arrays))
    return out


# --------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------
def bootstrap_ci(
    per_user_values: Any,
    n_boot: int = 1000,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Percentile bootstrap confidence interval of the mean over users (Efron & Tibshirani 1993).

    Parameters
    ----------
    per_user_values : 1-D array-like or Series of numbers / bools
        One value per user, e.g. ``per_user_metrics(...)["ndcg"]``. NaN values (users for which
        the metric is undefined, such as ``repeat_recall``) are dropped first.
    n_boot : int
        Number of bootstrap resamples (positive).
    seed : int or None
        Seed of the ``numpy.random.default_rng`` generator; a fixed seed makes the result
        deterministic.
    alpha : float
        Two-sided level in (0, 1): the interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles
        of the resampled means.

    Returns
    -------
    BootstrapCI
        ``(estimate, low, high, n, n_boot, alpha)``; all NaN bounds if there is no value.

    Raises
    ------
    ValueError
        Not 1-D, non-numeric, bad ``n_boot`` or ``alpha``.
    """
    values = np.asarray(per_user_values)
    if values.ndim != 1:
        raise ValueError(f"per_user_values must be 1-D, got shape {values.shape}")
    if values.dtype == object or not (
        np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_)
    ):
        raise ValueError(f"per_user_values must be numeric, got dtype {values.dtype}")
    n_boot = _check_k(n_boot, "n_boot")
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    values = values.astype(np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        nan = float("nan")
        return BootstrapCI(nan, nan, nan, 0, n_boot, float(alpha))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    step = max(1, min(n_boot, (1 << 22) // n))  # bounded memory; depends only on n
    for b0 in range(0, n_boot, step):
        b1 = min(n_boot, b0 + step)
        idx = rng.integers(0, n, size=(b1 - b0, n))
        means[b0:b1] = values[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(float(values.mean()), float(low), float(high), n, n_boot, float(alpha))


# --------------------------------------------------------------------------------------
# Top-k from a score matrix
# --------------------------------------------------------------------------------------
