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
7. **Ties: expected value over tie orders.** Within a user, items are ranked by score
   descending; items with equal scores (a *tie group*) are treated as the model treats them,
   as interchangeable: every metric is the expected value over the equally likely orders of
   the items inside each tie group (McSherry & Najork 2008, "Computing information retrieval
   performance measures efficiently in the presence of tied scores", ECIR). The result depends
   neither on the input row order nor on the ids (an id order would favour some items:
   with four tied items, precision@2 would be 1.0 or 0.0 depending on which two are relevant;
   here it is 0.5). Without ties every value is the usual deterministic one. A model that breaks
   ties on purpose (P-TopFreq by global popularity) must put the tie-break into its scores.
   Closed forms, for a tie group of ``n`` items with ``h`` hits starting at 0-based position
   ``a``: each of its positions holds a hit with probability ``h / n`` (precision, recall, NDCG
   with the group's mean gain, repeat / explore recall, repeat share are linear in these);
   hit rate uses the hypergeometric probability ``C(n - h, m) / C(n, m)`` that the ``m`` slots of
   the group inside the top k hold no hit; AP uses
   ``E[hit_p * hits at or before p] = h/n (H + 1) + (p - a) h (h - 1) / (n (n - 1))`` with ``H``
   the hits of the earlier groups. ``hits`` is therefore an expected count (float) and ``hit``
   a probability.
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
  catalogue size (Ge, Delgado-Battenfeld & Jannach 2010, "Beyond accuracy", RecSys); an item
  of a tie group straddling position k counts as covered (it is in the top k in some order).
* repeat / explore (Li et al. 2023): given a ``history`` frame of (user, item) bought
  before the cutoff, ``T_u`` splits into repeat items (in the user's history) and
  explore items (new to the user). repeat recall@k = repeat hits / |repeat truth|
  (users with no repeat truth item are excluded), explore recall@k likewise, and the
  repeat share@k = (number of top-k items that are in the user's history) / ``k``.

Implementation: a single vectorised pass (ids encoded to integer codes, one ``np.argsort`` of
a packed (user, score level) int64 key of the recommendations, tie groups and ranks from run
starts, ``np.bincount`` aggregations); no Python loop over users. Each single-metric
function performs the whole pass, so to get several metrics call :func:`ranking_metrics` (all
aggregates) or :func:`per_user_metrics` (per-user frame, for :func:`bootstrap_ci`) once.
:func:`top_k_from_scores` turns a (users x items) score matrix, processed in row chunks, into a
recommendations frame with the same tie-break rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .bootstrap import BootstrapCI, bootstrap_ci
from .ranking import (
    DEFAULT_ITEM_COL,
    DEFAULT_SCORE_COL,
    DEFAULT_USER_COL,
    _check_frame,
    _check_k,
    argsort_keys,
    dense_rank,
    group_rank,
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
    "per_user_metrics_at",
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
    # recommendation rows of every tie group starting before k, sorted by (user, score desc)
    r_user: np.ndarray
    r_item: np.ndarray
    r_rank: np.ndarray  # 0-based position in one order of the list (any order inside a tie)
    r_tpos: np.ndarray  # index into the truth arrays, -1 for a miss
    r_group: np.ndarray  # tie group (run of equal score within a user), 0-based, non-decreasing
    r_gstart: np.ndarray  # 0-based position where the row's tie group starts (< k)


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
        if (rel < 0).any() or not np.isfinite(rel).all():
            raise ValueError(f"truth[{col_relevance!r}] has negative or infinite relevance value(s)")
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

    # ---- recommendations: one sort by (user, score desc); the order inside a tie does not matter
    ru, ri = u_codes[n_t:], i_codes[n_t:]
    score_lv, n_score_lv = dense_rank(scores, descending=True)
    order = argsort_keys([(ru, n_users), (score_lv, n_score_lv)])
    ru, ri, lv = ru[order], ri[order], score_lv[order]
    r_key = ru * n_items + ri
    # Duplicate (user, item) rows: keep the first == highest-scored one. Only the rows that can reach
    # the top k are hashed; a user with a duplicate among them has all its rows deduplicated.
    pos, g_start, reach = _tie_groups(ru, lv, k)
    dup = pd.Series(r_key[reach]).duplicated(keep="first").to_numpy()
    if dup.any():
        bad_user = np.zeros(n_users, dtype=bool)
        bad_user[ru[reach][dup]] = True
        bad_idx = np.flatnonzero(bad_user[ru])
        keep = ~bad_user[ru]
        keep[bad_idx] = ~pd.Series(r_key[bad_idx]).duplicated(keep="first").to_numpy()
        ru, ri, lv, r_key = ru[keep], ri[keep], lv[keep], r_key[keep]
        pos, g_start, reach = _tie_groups(ru, lv, k)
    ru, ri, r_key, pos, g_start, lv = ru[reach], ri[reach], r_key[reach], pos[reach], g_start[reach], lv[reach]
    # tie groups: runs of equal (user, score level); every row of a group that starts before k kept
    new = np.ones(len(ru), dtype=bool)
    new[1:] = (ru[1:] != ru[:-1]) | (lv[1:] != lv[:-1])
    group = np.cumsum(new) - 1

    # ---- hits: look each kept (user, item) up in the sorted truth keys
    if len(t_key):
        tp = np.minimum(np.searchsorted(t_key, r_key), len(t_key) - 1)
        tpos = np.where(t_key[tp] == r_key, tp, -1)
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
        r_rank=pos,
        r_tpos=tpos,
        r_group=group,
        r_gstart=g_start,
    )


def _tie_groups(ru: np.ndarray, lv: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For rows sorted by (user, score level): 0-based position in the user's list, position where
    the row's tie group starts, and whether the group starts before ``k`` (can reach the top k)."""
    pos = group_rank(ru)
    n = len(ru)
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = (ru[1:] != ru[:-1]) | (lv[1:] != lv[:-1])
    starts = np.flatnonzero(new)
    g_start = np.repeat(pos[starts], np.diff(np.append(starts, n)))
    return pos, g_start, g_start < k


def _gain(rel: np.ndarray, gain: str) -> np.ndarray:
    if gain != "exponential":
        return rel
    if len(rel) and float(rel.max()) > 512:  # 2**rel would overflow the sums to inf, NDCG to NaN
        raise ValueError(
            f"gain='exponential' (2**relevance - 1) overflows for relevance up to {float(rel.max()):g}; "
            "use gain='linear' or rescale the relevance to at most 512"
        )
    return np.exp2(rel) - 1.0


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
    """Per-user values over *all* user codes (length ``prep.n_users``): expected values over the
    orders of tied scores (module docstring, rule 7)."""
    U, k = prep.n_users, prep.k
    ru, pos, tpos, grp, a = prep.r_user, prep.r_rank, prep.r_tpos, prep.r_group, prep.r_gstart
    hit = tpos >= 0
    n_groups = int(grp[-1]) + 1 if len(grp) else 0
    g_n = np.bincount(grp, minlength=n_groups).astype(np.float64)  # group sizes
    g_h = np.bincount(grp, weights=hit, minlength=n_groups)  # hits per group
    share = g_h[grp] / g_n[grp]  # P(the item at this position is a hit)
    inl = pos < k  # positions inside the top k
    n_truth = np.bincount(prep.t_user, minlength=U)
    e_hits = np.bincount(ru[inl], weights=share[inl], minlength=U)
    out: dict[str, np.ndarray] = {
        "n_truth": n_truth,
        "n_recommended": np.bincount(ru[inl], minlength=U),
        "hits": e_hits,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        out["precision"] = e_hits / k
        out["recall"] = e_hits / n_truth
        # P(at least one hit): a group with m of its n slots inside the top k misses all its h hits
        # with the hypergeometric probability C(n - h, m) / C(n, m)
        first = np.flatnonzero(np.diff(np.concatenate([[-1], grp])) != 0) if len(grp) else np.zeros(0, np.int64)
        m = np.clip(k - a[first], 0, g_n)  # 0 for a group starting at or after k
        h = g_h
        free = g_n - h
        log_none = np.where(
            free >= m,
            gammaln(free + 1) - gammaln(free - m + 1) - gammaln(g_n + 1) + gammaln(g_n - m + 1),
            -np.inf,
        )
        log_none = np.where(h > 0, log_none, 0.0)
        out["hit"] = 1.0 - np.exp(np.bincount(ru[first], weights=log_none, minlength=U))
        if "ndcg" in want:
            n_disc = min(k, max(int(pos.max(initial=-1)) + 1, int(n_truth.max(initial=0))))  # k may be huge
            disc = 1.0 / np.log2(np.arange(n_disc, dtype=np.float64) + 2.0)
            gains = np.zeros(len(ru))
            gains[hit] = _gain(prep.t_rel[tpos[hit]], gain)
            g_gain = np.bincount(grp, weights=gains, minlength=n_groups) / g_n
            dcg = np.bincount(ru[inl], weights=g_gain[grp[inl]] * disc[pos[inl]], minlength=U)
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
            # E[hit_p * hits in positions <= p] for position p of a group of n rows with h hits that
            # starts at a, after H hits in earlier groups: h/n (H + 1) + (p - a) h (h - 1) / (n (n - 1))
            # (McSherry & Najork 2008)
            user_start = np.flatnonzero(np.diff(np.concatenate([[-1], ru[first]])) != 0)
            cum = np.cumsum(g_h) - g_h  # hits in earlier groups, over all users
            before = cum - np.repeat(cum[user_start], np.diff(np.append(user_start, len(first))))
            pair = np.where(g_n > 1, g_h * (g_h - 1) / (g_n * np.maximum(g_n - 1, 1)), 0.0)
            e_prod = share * (before[grp] + 1.0) + (pos - a) * pair[grp]
            ap_sum = np.bincount(ru[inl], weights=e_prod[inl] / (pos[inl] + 1.0), minlength=U)
            out["average_precision"] = ap_sum / np.minimum(n_truth, k)
        if history_keys is not None:
            t_rep = _in_sorted(prep.t_key, history_keys)
            r_rep = _in_sorted(prep.r_user * prep.n_items + prep.r_item, history_keys)
            n_rep = np.bincount(prep.t_user[t_rep], minlength=U)
            n_exp = n_truth - n_rep
            rep_hit = np.zeros(len(ru))
            rep_hit[hit] = t_rep[tpos[hit]]
            g_rh = np.bincount(grp, weights=rep_hit, minlength=n_groups) / g_n
            g_rep = np.bincount(grp, weights=r_rep, minlength=n_groups) / g_n
            rep_hits = np.bincount(ru[inl], weights=g_rh[grp[inl]], minlength=U)
            exp_hits = e_hits - rep_hits
            out["n_repeat_truth"] = n_rep
            out["n_explore_truth"] = n_exp
            out["repeat_recall"] = np.where(n_rep > 0, rep_hits / n_rep, np.nan)
            out["explore_recall"] = np.where(n_exp > 0, exp_hits / n_exp, np.nan)
            out["repeat_share"] = np.bincount(ru[inl], weights=g_rep[grp[inl]], minlength=U) / k
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
    for c in ("n_truth", "n_recommended", "n_repeat_truth", "n_explore_truth"):
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
        score descending, tied scores scored by the expected value over their orders (rule 7);
        duplicate (user, item) keep the highest score.
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
    return n_cov / size if size else float("nan")  # no item seen at all (empty inputs): undefined


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
        Columns: ``n_truth``, ``n_recommended`` (top-k list length, <= k) (int64); ``hits``
        (expected hits, float64); ``precision``, ``recall``, ``ndcg``, ``average_precision``,
        ``hit`` (probability of at least one hit) (float64); expected values over the orders of
        tied scores (rule 7).
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


def per_user_metrics_at(
    truth: pd.DataFrame,
    recommendations: pd.DataFrame,
    ks: Iterable[int],
    *,
    col_user: str = DEFAULT_USER_COL,
    col_item: str = DEFAULT_ITEM_COL,
    col_score: str = DEFAULT_SCORE_COL,
    col_relevance: str | None = None,
    gain: str = "linear",
    history: pd.DataFrame | None = None,
) -> dict[int, pd.DataFrame]:
    """:func:`per_user_metrics` at several cut-offs from one validation, sort and truth lookup (done
    at the largest ``k``; the rows a smaller ``k`` cannot reach add zeros). Returns ``{k: frame}``
    for ``k`` in increasing order, each frame identical to ``per_user_metrics(..., k)``. Raises as
    :func:`per_user_metrics`, and ``ValueError`` for an empty ``ks``."""
    _check_gain(gain)
    levels = sorted({_check_k(k) for k in ks})
    if not levels:
        raise ValueError("ks must hold at least one cut-off")
    prep = _prepare(truth, recommendations, levels[-1], col_user, col_item, col_score, col_relevance)
    hk = _history_keys(prep, history, col_user, col_item, truth) if history is not None else None
    out = {}
    for k in levels:
        pk = dataclasses.replace(prep, k=k)
        out[k] = _frame(pk, _per_user_arrays(pk, gain, _ALL, hk), col_user)
    return out


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
# Top-k from a score matrix
# --------------------------------------------------------------------------------------
