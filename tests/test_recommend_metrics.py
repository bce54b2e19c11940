"""Tests for retention_utils.recommend.metrics; expected values are worked out by hand in comments."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from retention_utils.recommend.metrics import (
    BootstrapCI,
    MetricResult,
    bootstrap_ci,
    catalogue_coverage,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    per_user_metrics,
    phr_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    repeat_explore_at_k,
)
from retention_utils.recommend.ranking import top_k_from_scores

USER, ITEM, SCORE = "customer_id", "product_id", "score"


def truth_df(rows, rel=None):
    df = pd.DataFrame(rows, columns=[USER, ITEM])
    if rel is not None:
        df["rel"] = rel
    return df


def ranked(user, items):
    """Recommendations for one user, in the given order (strictly decreasing scores)."""
    n = len(items)
    return pd.DataFrame({USER: [user] * n, ITEM: list(items), SCORE: np.arange(n, 0, -1, dtype=float)})


# ---------------------------------------------------------------------------------------------
# NDCG
# ---------------------------------------------------------------------------------------------
def test_ndcg_wikipedia_textbook_example_linear_gain():
    rel = [3, 2, 3, 0, 1, 2, 3, 2]
    items = [f"d{i}" for i in range(1, 9)]
    truth = truth_df([(1, it) for it in items], rel)
    recs = ranked(1, items)
    res = ndcg_at_k(truth, recs, 6, col_relevance="rel")
    # DCG6  = 3 + 2/log2(3) + 3/2 + 0 + 1/log2(6) + 2/log2(7)          = 6.861
    # IDCG6 = 3 + 3/log2(3) + 3/2 + 2/log2(5) + 2/log2(6) + 2/log2(7)   = 8.740 (ideal 3,3,3,2,2,2)
    assert res.value == pytest.approx(0.785, abs=5e-4)
    dcg = 3 + 2 / math.log2(3) + 3 / 2 + 0 + 1 / math.log2(6) + 2 / math.log2(7)
    idcg = 3 + 3 / math.log2(3) + 3 / 2 + 2 / math.log2(5) + 2 / math.log2(6) + 2 / math.log2(7)
    assert res.value == pytest.approx(dcg / idcg, rel=1e-12)
    assert (res.n_users, res.n_excluded, res.k, res.name) == (1, 0, 6, "ndcg@6")
    assert float(res) == res.value


def test_ndcg_exponential_gain_differs_and_matches_hand_value():
    rel = [3, 2, 3, 0, 1, 2, 3, 2]
    items = [f"d{i}" for i in range(1, 9)]
    truth = truth_df([(1, it) for it in items], rel)
    res = ndcg_at_k(truth, ranked(1, items), 6, col_relevance="rel", gain="exponential")
    # gains 2^rel - 1: ranked 7,3,7,0,1,3 ; ideal 7,7,7,3,3,3
    dcg = 7 + 3 / math.log2(3) + 7 / 2 + 0 + 1 / math.log2(6) + 3 / math.log2(7)
    idcg = 7 + 7 / math.log2(3) + 7 / 2 + 3 / math.log2(5) + 3 / math.log2(6) + 3 / math.log2(7)
    assert res.value == pytest.approx(dcg / idcg, rel=1e-12)
    assert res.value == pytest.approx(0.7511, abs=1e-4)
    with pytest.raises(ValueError, match="gain"):
        ndcg_at_k(truth, ranked(1, items), 6, col_relevance="rel", gain="quadratic")


def test_ndcg_perfect_ranking_and_user_without_positives_is_excluded():
    # user 1: relevance a=1, b=0, c=1; user 2: only relevance-0 rows -> no positives
    truth = truth_df([(1, "a"), (1, "b"), (1, "c"), (2, "x"), (2, "y")], rel=[1, 0, 1, 0, 0])
    perfect = pd.concat([ranked(1, ["a", "c", "b"]), ranked(2, ["x", "y", "z"])])
    res = ndcg_at_k(truth, perfect, 3, col_relevance="rel")
    assert res.value == pytest.approx(1.0)
    assert (res.n_users, res.n_excluded) == (1, 1)
    # same data, relevant items at ranks 1 and 3: (1 + 1/log2(4)) / (1 + 1/log2(3)) = 0.9197
    worse = pd.concat([ranked(1, ["a", "b", "c"]), ranked(2, ["x", "y", "z"])])
    res2 = ndcg_at_k(truth, worse, 3, col_relevance="rel")
    assert res2.value == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)), rel=1e-12)
    assert res2.value == pytest.approx(0.9197, abs=1e-4)


def test_ndcg_binary_ideal_uses_min_k_truth():
    # 5 truth items, k=2, both top-2 slots are hits -> NDCG 1 (ideal over min(2, 5) = 2 slots)
    truth = truth_df([(1, c) for c in "abcde"])
    assert ndcg_at_k(truth, ranked(1, ["a", "b", "z"]), 2).value == pytest.approx(1.0)
    # 1 truth item at rank 2 of 3: (1/log2 3) / 1 = 0.6309
    truth1 = truth_df([(1, "b")])
    assert ndcg_at_k(truth1, ranked(1, ["a", "b", "c"]), 3).value == pytest.approx(1 / math.log2(3))


# ---------------------------------------------------------------------------------------------
# Precision / recall / duplicates / short lists
# ---------------------------------------------------------------------------------------------
def test_truth_duplicates_are_removed():
    truth = truth_df([(1, "A"), (1, "A"), (1, "A")])
    recs = ranked(1, ["A", "B", "C"])
    assert precision_at_k(truth, recs, 3).value == pytest.approx(1 / 3)
    assert recall_at_k(truth, recs, 3).value == pytest.approx(1.0)
    pu = per_user_metrics(truth, recs, 3)
    assert pu.loc[1, "hits"] == 1 and pu.loc[1, "n_truth"] == 1


def test_truth_duplicates_with_relevance_keep_the_largest():
    truth = truth_df([(1, "a"), (1, "a"), (1, "b")], rel=[1, 3, 2])
    recs = ranked(1, ["b", "a"])
    # a has relevance 3 (max of 1, 3): DCG = 2 + 3/log2(3), IDCG = 3 + 2/log2(3)
    res = ndcg_at_k(truth, recs, 2, col_relevance="rel")
    assert res.value == pytest.approx((2 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert recall_at_k(truth, recs, 2, col_relevance="rel").value == 1.0


def test_two_truth_items_in_top_10():
    truth = truth_df([(7, "p3"), (7, "p8")])
    recs = ranked(7, [f"p{i}" for i in range(10)])
    assert precision_at_k(truth, recs, 10).value == pytest.approx(0.2)
    assert recall_at_k(truth, recs, 10).value == pytest.approx(1.0)


def test_duplicate_recommendations_keep_highest_score_and_one_slot():
    truth = truth_df([(1, "A")])
    recs = pd.DataFrame({USER: [1, 1, 1], ITEM: ["A", "B", "A"], SCORE: [0.1, 0.5, 0.9]})
    # A keeps 0.9 -> rank 1
    assert precision_at_k(truth, recs, 1).value == pytest.approx(1.0)
    # duplicate A must not fill two slots: ranking A(0.9), B(0.1); truth {B} -> hit at rank 2
    truth_b = truth_df([(1, "B")])
    recs2 = pd.DataFrame({USER: [1, 1, 1], ITEM: ["A", "A", "B"], SCORE: [0.9, 0.8, 0.1]})
    assert precision_at_k(truth_b, recs2, 2).value == pytest.approx(0.5)
    assert recall_at_k(truth_b, recs2, 2).value == pytest.approx(1.0)


def test_short_list_and_user_without_recommendations():
    truth = truth_df([(1, "a"), (1, "b"), (2, "c")])
    recs = ranked(1, ["a"])  # user 1: one recommendation for k=5; user 2: none
    pu = per_user_metrics(truth, recs, 5)
    assert list(pu.index) == [1, 2]
    assert pu.loc[1, "precision"] == pytest.approx(1 / 5)  # missing slots are misses
    assert pu.loc[1, "recall"] == pytest.approx(0.5)
    assert pu.loc[1, "ndcg"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert pu.loc[1, "average_precision"] == pytest.approx(1 / 2)  # P@1 * 1 / min(5, 2)
    assert pu.loc[1, "n_recommended"] == 1
    assert pu.loc[2, ["precision", "recall", "ndcg", "average_precision"]].tolist() == [0, 0, 0, 0]
    assert not pu.loc[2, "hit"]
    res = precision_at_k(truth, recs, 5)
    assert res.value == pytest.approx((0.2 + 0.0) / 2)
    assert (res.n_users, res.n_excluded) == (2, 0)
    assert recall_at_k(truth, recs, 5).value == pytest.approx(0.25)


def test_users_only_in_recommendations_are_excluded_and_counted():
    truth = truth_df([(1, "a")])
    recs = pd.concat([ranked(1, ["a", "b"]), ranked(2, ["a", "b"]), ranked(3, ["c"])])
    res = precision_at_k(truth, recs, 2)
    assert res.value == pytest.approx(0.5)
    assert (res.n_users, res.n_excluded) == (1, 2)
    assert per_user_metrics(truth, recs, 2).attrs["n_excluded"] == 2


def test_excluded_count_with_gapped_integer_ids():
    # ids 10, 20, 40 (gaps in between): only users that occur are counted
    truth = truth_df([(10, 1), (20, 2)])
    recs = pd.concat([ranked(10, [1, 3]), ranked(40, [2])])
    res = recall_at_k(truth, recs, 2)
    assert (res.value, res.n_users, res.n_excluded) == (0.5, 2, 1)
    pu = per_user_metrics(truth, recs, 2)
    assert list(pu.index) == [10, 20] and pu.attrs["n_excluded"] == 1
    cov = catalogue_coverage(truth, recs, 2)  # items 1, 3 covered; items seen: 1, 2, 3
    assert cov.value == pytest.approx(2 / 3)


# ---------------------------------------------------------------------------------------------
# Ties: expected value over the orders of tied items (rule 7)
# ---------------------------------------------------------------------------------------------
def test_tied_scores_score_the_expected_value_whatever_the_ids():
    # issue 15: four tied items, two relevant. Under the old id-string rule precision@2 was 1.0 when
    # a, b were relevant and 0.0 when c, d were; over the 24 equally likely orders it is 0.5 for both.
    recs = pd.DataFrame({USER: [1] * 4, ITEM: ["a", "b", "c", "d"], SCORE: [0.5] * 4})
    for relevant in (["a", "b"], ["c", "d"], ["b", "d"]):
        truth = truth_df([(1, it) for it in relevant])
        res = ranking_metrics(truth, recs, 2)
        assert res["precision"].value == pytest.approx(0.5)
        assert res["recall"].value == pytest.approx(0.5)
        # each slot holds a hit with probability 1/2: DCG = (1 + 1/log2 3) / 2 = IDCG / 2
        assert res["ndcg"].value == pytest.approx(0.5)
        # no hit in the top 2 only if both slots hold the two misses: 1 / C(4, 2) = 1/6
        assert res["hit_rate"].value == pytest.approx(5 / 6)
        # AP@2: both hits (1/6) -> 1, hit then miss (1/3) -> 1/2, miss then hit (1/3) -> 1/4: 5/12
        assert res["map"].value == pytest.approx(5 / 12)
        rng = np.random.default_rng(3)
        for perm in [np.arange(4)[::-1]] + [rng.permutation(4) for _ in range(5)]:
            assert per_user_metrics(truth, recs.iloc[perm], 2).equals(per_user_metrics(truth, recs, 2))


def test_numeric_ids_get_no_advantage_from_their_order():
    truth = truth_df([(1, 10)])
    recs = pd.DataFrame({USER: [1, 1], ITEM: [9, 10], SCORE: [1.0, 1.0]})
    assert precision_at_k(truth, recs, 1).value == 0.5
    assert precision_at_k(truth_df([(1, 9)]), recs.iloc[::-1], 1).value == 0.5
    # a tie broken in the score (as P-TopFreq does with popularity) is respected
    recs2 = recs.assign(**{SCORE: [1.0, 1.0 + 1e-3]})
    assert precision_at_k(truth, recs2, 1).value == 1.0


def test_ties_below_the_cut_do_not_matter_and_a_group_straddling_it_is_averaged():
    truth = truth_df([(1, "a"), (1, "e")])
    # a (3.0) alone first, then b, c, d, e tied (2.0) straddle k = 3, then f
    recs = pd.DataFrame({USER: [1] * 6, ITEM: list("abcdef"), SCORE: [3.0, 2, 2, 2, 2, 1]})
    pu = per_user_metrics(truth, recs, 3).iloc[0]
    # slot 1 is a hit; slots 2 and 3 each hold e with probability 1/4
    assert pu["hits"] == pytest.approx(1.5)
    d2, d3 = 1 / math.log2(3), 1 / math.log2(4)
    assert pu["ndcg"] == pytest.approx((1 + 0.25 * (d2 + d3)) / (1 + d2))
    assert pu["hit"] == 1.0
    # AP@3: 1/1 + E[hit_2 * 2]/2 + E[hit_3 * (1 + hit_2 + hit_3)]/3 with hit_2 hit_3 never both 1
    assert pu["average_precision"] == pytest.approx((1 + 0.25 * 2 / 2 + 0.25 * 2 / 3) / 2)
    assert pu["n_recommended"] == 3


def test_random_row_order_invariance_of_per_user_frame():
    rng = np.random.default_rng(0)
    n = 3000
    recs = pd.DataFrame(
        {
            USER: rng.integers(0, 200, n),
            ITEM: rng.integers(0, 60, n),
            SCORE: rng.integers(0, 4, n).astype(float),
        }
    )
    truth = pd.DataFrame({USER: rng.integers(0, 200, 800), ITEM: rng.integers(0, 60, 800)})
    a = per_user_metrics(truth, recs, 5).sort_index()
    b = per_user_metrics(truth.sample(frac=1, random_state=1), recs.sample(frac=1, random_state=2), 5)
    pd.testing.assert_frame_equal(a, b.sort_index())


# ---------------------------------------------------------------------------------------------
# MAP, hit rate, coverage
# ---------------------------------------------------------------------------------------------
def test_map_hand_case():
    truth = truth_df([(1, "a"), (1, "c"), (1, "e"), (2, "x"), (2, "y")])
    recs = pd.concat([ranked(1, ["a", "b", "c", "d", "e"]), ranked(2, ["z", "x"])])
    # user 1: hits at 1,3,5 -> (1 + 2/3 + 3/5) / min(5, 3) = 0.755556
    # user 2: hit at 2     -> (1/2) / min(5, 2)            = 0.25
    res = map_at_k(truth, recs, 5)
    assert res.value == pytest.approx(((1 + 2 / 3 + 3 / 5) / 3 + 0.25) / 2)
    assert res.value == pytest.approx(0.502778, abs=1e-6)
    # k = 2: user 1 -> 1 / min(2, 3) = 0.5 ; user 2 -> 0.5 / 2 = 0.25
    assert map_at_k(truth, recs, 2).value == pytest.approx((0.5 + 0.25) / 2)


def test_hit_rate():
    truth = truth_df([(1, "a"), (2, "b"), (3, "c")])
    recs = pd.concat([ranked(1, ["x", "a"]), ranked(2, ["b"]), ranked(3, ["x", "y", "c"])])
    res = hit_rate_at_k(truth, recs, 2)  # user 3's hit is at rank 3 -> miss
    assert res.value == pytest.approx(2 / 3)
    assert phr_at_k(truth, recs, 3).value == pytest.approx(1.0)


def test_catalogue_coverage():
    truth = truth_df([(1, "a"), (2, "q")])
    recs = pd.concat([ranked(1, ["a", "b", "c"]), ranked(2, ["a", "d", "e"]), ranked(3, ["f", "g"])])
    # evaluated users 1, 2 -> top-2 items {a, b, d}; user 3 (no truth) does not count
    cat = ["a", "b", "c", "d", "e", "f"]
    res = catalogue_coverage(truth, recs, 2, catalogue=cat)
    assert res.value == pytest.approx(3 / 6)
    assert (res.n_users, res.n_excluded) == (2, 1)
    assert catalogue_coverage(truth, recs, 2, catalogue=10).value == pytest.approx(0.3)
    # default: distinct items in truth or recommendations = a,b,c,d,e,f,g,q = 8
    assert catalogue_coverage(truth, recs, 2).value == pytest.approx(3 / 8)
    # items outside an explicit catalogue are not counted: {a, b, d} ∩ {a, z} = {a}
    assert catalogue_coverage(truth, recs, 2, catalogue={"a", "z"}).value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="catalogue"):
        catalogue_coverage(truth, recs, 2, catalogue=2)


# ---------------------------------------------------------------------------------------------
# Repeat / explore
# ---------------------------------------------------------------------------------------------
def test_repeat_explore_hand_case():
    history = pd.DataFrame({USER: [1, 1, 9], ITEM: ["X", "X", "Q"]})
    truth = truth_df([(1, "X"), (1, "Y"), (2, "P")])
    recs = pd.concat([ranked(1, ["X", "Z"]), ranked(2, ["P", "Q"])])
    res = repeat_explore_at_k(truth, recs, 2, history=history)
    # user 1: repeat truth {X} -> 1/1 ; explore truth {Y} -> 0/1 ; repeat share 1/2
    # user 2: no history -> no repeat truth (excluded) ; explore {P} -> 1/1 ; share 0/2
    assert res["repeat_recall"].value == pytest.approx(1.0)
    assert (res["repeat_recall"].n_users, res["repeat_recall"].n_excluded) == (1, 1)
    assert res["explore_recall"].value == pytest.approx(0.5)
    assert res["repeat_share"].value == pytest.approx(0.25)
    pu = per_user_metrics(truth, recs, 2, history=history)
    assert pu.loc[1, ["repeat_recall", "explore_recall", "repeat_share"]].tolist() == [1.0, 0.0, 0.5]
    assert np.isnan(pu.loc[2, "repeat_recall"]) and pu.loc[2, "explore_recall"] == 1.0
    all_m = ranking_metrics(truth, recs, 2, history=history)
    assert all_m["repeat_share"] == res["repeat_share"]


def test_repeat_share_counts_missing_slots_as_non_repeats():
    history = pd.DataFrame({USER: [1], ITEM: ["X"]})
    truth = truth_df([(1, "Y")])
    res = repeat_explore_at_k(truth, ranked(1, ["X"]), 2, history=history)
    assert res["repeat_share"].value == pytest.approx(0.5)  # 1 repeat / k=2, not / 1 recommendation
    assert math.isnan(res["repeat_recall"].value) and res["repeat_recall"].n_excluded == 1
    assert res["explore_recall"].value == 0.0


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def test_missing_columns_are_named():
    truth = truth_df([(1, "a")])
    recs = ranked(1, ["a"])
    with pytest.raises(ValueError, match=r"recommendations is missing column\(s\) \['score'\]"):
        precision_at_k(truth, recs.drop(columns=SCORE), 1)
    with pytest.raises(ValueError, match="truth is missing.*product_id"):
        recall_at_k(truth.drop(columns=ITEM), recs, 1)
    with pytest.raises(ValueError, match="rel"):
        ndcg_at_k(truth, recs, 1, col_relevance="rel")
    with pytest.raises(ValueError, match="user_id"):
        precision_at_k(truth, recs, 1, col_user="user_id")


def test_nan_scores_and_bad_k_and_bad_inputs():
    truth = truth_df([(1, "a")])
    recs = ranked(1, ["a", "b"])
    bad = recs.copy()
    bad.loc[1, SCORE] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        precision_at_k(truth, bad, 1)
    for k in (0, -1, 2.5, True, "3", None):
        with pytest.raises(ValueError, match="k must be a positive int"):
            precision_at_k(truth, recs, k)
    assert precision_at_k(truth, recs, np.int64(1)).value == 1.0
    with pytest.raises(ValueError, match="numeric"):
        precision_at_k(truth, recs.assign(score="high"), 1)
    with pytest.raises(ValueError, match="null"):
        precision_at_k(truth, pd.DataFrame({USER: [1, None], ITEM: ["a", "b"], SCORE: [1.0, 2.0]}), 1)
    with pytest.raises(ValueError, match="incompatible"):
        precision_at_k(truth, recs.assign(customer_id="1"), 1)
    with pytest.raises(ValueError, match="negative"):
        ndcg_at_k(truth.assign(rel=-1.0), recs, 1, col_relevance="rel")
    with pytest.raises(TypeError):
        precision_at_k(truth.to_dict(), recs, 1)


def test_no_evaluable_users_gives_nan():
    truth = truth_df([(1, "a")], rel=[0])
    res = precision_at_k(truth, ranked(1, ["a"]), 1, col_relevance="rel")
    assert math.isnan(res.value) and (res.n_users, res.n_excluded) == (0, 1)


# ---------------------------------------------------------------------------------------------
# Against a slow, obviously-correct reference on random data
# ---------------------------------------------------------------------------------------------
def _orders(r):
    """Every order of a user's deduplicated recommendations that respects the scores (ties permuted)."""
    best = {}
    for it, sc in zip(r[ITEM], r[SCORE], strict=True):
        best[it] = max(sc, best.get(it, -np.inf))
    levels = sorted(set(best.values()), reverse=True)
    groups = [[it for it in best if best[it] == lv] for lv in levels]
    for combo in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [it for g in combo for it in g]


def _reference(truth, recs, k):
    """Each metric averaged over every order of the tied items (brute force)."""
    out = {}
    tsets = truth.groupby(USER)[ITEM].apply(set).to_dict()
    for u, tset in tsets.items():
        rows = []
        for full in _orders(recs[recs[USER] == u]):
            hits = [it in tset for it in full[:k]]
            dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
            idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(tset))))
            cum, ap = 0, 0.0
            for i, h in enumerate(hits):
                if h:
                    cum += 1
                    ap += cum / (i + 1)
            rows.append([sum(hits) / k, sum(hits) / len(tset), dcg / idcg, ap / min(k, len(tset)), float(any(hits))])
        vals = np.mean(rows, axis=0) if rows else np.zeros(5)
        out[u] = dict(zip(["precision", "recall", "ndcg", "average_precision", "hit"], vals, strict=True))
    return pd.DataFrame.from_dict(out, orient="index")


@pytest.mark.parametrize("k", [1, 3, 10])
def test_matches_slow_reference_on_random_data(k):
    rng = np.random.default_rng(k)
    # about 7 rows per user with scores on 4 levels: tie groups of up to ~5 items, enumerable
    recs = pd.DataFrame(
        {
            USER: rng.integers(0, 80, 560),
            ITEM: rng.integers(0, 12, 560),
            SCORE: rng.integers(0, 4, 560) / 2,
        }
    )
    truth = pd.DataFrame({USER: rng.integers(0, 100, 400), ITEM: rng.integers(0, 12, 400)})
    ref = _reference(truth, recs, k).sort_index()
    got = per_user_metrics(truth, recs, k).sort_index()
    assert list(got.index) == list(ref.index)
    for col in ("precision", "recall", "ndcg", "average_precision", "hit"):
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=col)
    agg = ranking_metrics(truth, recs, k)
    assert agg["ndcg"].value == pytest.approx(ref["ndcg"].mean())
    assert agg["precision"] == precision_at_k(truth, recs, k)
    assert agg["map"].value == pytest.approx(map_at_k(truth, recs, k).value)
    n_seen = len(set(truth[USER]) | set(recs[USER]))
    assert agg["recall"].n_excluded == n_seen - len(ref)


# ---------------------------------------------------------------------------------------------
# top_k_from_scores
# ---------------------------------------------------------------------------------------------
def _brute_top_k(users, items, dense, k, exclude=None):
    rows = []
    for r, u in enumerate(users):
        cand = [
            (dense[r, c], items[c])
            for c in range(len(items))
            if dense[r, c] > -np.inf and (exclude is None or not exclude[r, c])
        ]
        cand.sort(key=lambda t: (-t[0], t[1]))  # numeric ids: numeric order
        for rank, (v, it) in enumerate(cand[:k], start=1):
            rows.append((u, it, float(v), rank))
    return pd.DataFrame(rows, columns=[USER, ITEM, SCORE, "rank"])


def _same(a, b):
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False, check_exact=True
    )


@pytest.mark.parametrize("k", [1, 10])
def test_top_k_from_scores_on_wide_rows_takes_the_pre_cut_path_and_matches_brute_force(k):
    # 2,048 items: the k-th largest is found after a cut by every 16th column's k-th largest
    rng = np.random.default_rng(5)
    users = np.arange(9)
    items = rng.permutation(2048) * 3
    dense = np.where(rng.random((9, 2048)) < 0.8, 0.0, rng.integers(1, 6, (9, 2048)).astype(float))
    dense[1] = 0.0  # all tied
    dense[2, ::16] = -np.inf  # the sample is all -inf: the full partition path
    dense[3, :] = rng.random(2048)  # no ties
    dense[4, :5] = 9.0  # the top values outside the sample
    _same(top_k_from_scores(users, items, dense, k, chunk_size=4), _brute_top_k(users, items, dense, k))


@pytest.mark.parametrize("k", [1, 3, 7, 50])
def test_top_k_from_scores_matches_brute_force(k):
    rng = np.random.default_rng(k)
    users = np.array([f"u{i}" for i in range(11)])
    items = np.array([10, 9, 2, 1, 100, 3, 30, 4, 5, 11, 12, 20])  # numeric order != string order
    dense = rng.integers(0, 3, size=(len(users), len(items))).astype(float)  # many ties
    dense[4, :] = 1.0  # a row of pure ties
    dense[5, 2] = -np.inf
    exclude = rng.random(dense.shape) < 0.3
    exclude[7, :] = True  # a user with everything excluded -> no rows
    expected = _brute_top_k(users, items, dense, k)
    _same(top_k_from_scores(users, items, dense, k, chunk_size=3), expected)
    _same(top_k_from_scores(users, items, sparse.csr_matrix(dense), k, chunk_size=4), expected)
    _same(top_k_from_scores(users, items, lambda a, b: dense[a:b], k), expected)
    expected_ex = _brute_top_k(users, items, dense, k, exclude)
    assert "u7" not in set(expected_ex[USER])
    _same(top_k_from_scores(users, items, dense, k, exclude=exclude, chunk_size=2), expected_ex)
    _same(
        top_k_from_scores(users, items, dense, k, exclude=sparse.csr_matrix(exclude), chunk_size=5),
        expected_ex,
    )
    r, c = np.nonzero(exclude)
    pairs = pd.DataFrame({USER: users[r], ITEM: items[c]})
    _same(top_k_from_scores(users, items, dense, k, exclude=pairs), expected_ex)


def test_top_k_from_scores_does_not_modify_input_and_feeds_metrics():
    users, items = np.array([1, 2]), np.array(["a", "b", "c"])
    dense = np.array([[0.1, 0.9, 0.5], [0.3, 0.3, 0.3]])
    before = dense.copy()
    ex = np.array([[False, True, False], [False, False, False]])
    recs = top_k_from_scores(users, items, dense, 2, exclude=ex, chunk_size=1)
    np.testing.assert_array_equal(dense, before)
    assert recs[ITEM].tolist() == ["c", "a", "a", "b"]
    assert recs["rank"].tolist() == [1, 2, 1, 2]
    truth = truth_df([(1, "c"), (2, "c")])
    assert precision_at_k(truth, recs, 2).value == pytest.approx(0.25)


def test_top_k_from_scores_validation():
    users, items = np.array([1, 2]), np.array(["a", "b"])
    with pytest.raises(ValueError, match="shape"):
        top_k_from_scores(users, items, np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="NaN"):
        top_k_from_scores(users, items, np.array([[0.0, np.nan], [1.0, 2.0]]), 1)
    with pytest.raises(ValueError, match="unique"):
        top_k_from_scores(users, np.array(["a", "a"]), np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="k must"):
        top_k_from_scores(users, items, np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="chunk_size"):
        top_k_from_scores(users, items, np.zeros((2, 2)), 1, chunk_size=0)


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------
def test_bootstrap_ci_is_deterministic_with_a_seed():
    vals = np.random.default_rng(5).random(500)
    a = bootstrap_ci(vals, n_boot=400, seed=42, alpha=0.1)
    b = bootstrap_ci(pd.Series(vals), n_boot=400, seed=42, alpha=0.1)
    c = bootstrap_ci(vals, n_boot=400, seed=43, alpha=0.1)
    assert isinstance(a, BootstrapCI)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.estimate < a.high
    assert a.estimate == pytest.approx(vals.mean())
    # sd of the mean of USER(0,1) over 500 draws ~ 0.0129; a 90% interval is ~ 2*1.645*0.0129 = 0.042 wide
    assert 0.03 < a.high - a.low < 0.055
    const = bootstrap_ci(np.full(50, 0.25), n_boot=100, seed=0)
    assert (const.low, const.high) == (0.25, 0.25)


def test_bootstrap_ci_drops_nan_and_validates():
    res = bootstrap_ci([1.0, np.nan, 0.0, 1.0], n_boot=50, seed=1)
    assert res.n == 3 and res.estimate == pytest.approx(2 / 3)
    assert math.isnan(bootstrap_ci([np.nan], n_boot=10, seed=1).low)
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci([1.0, 2.0], alpha=1.5)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci(np.zeros((2, 2)))


def test_bootstrap_on_per_user_frame():
    truth = truth_df([(u, "a") for u in range(40)])
    recs = pd.concat([ranked(u, ["a"] if u % 2 else ["b"]) for u in range(40)])
    pu = per_user_metrics(truth, recs, 1)
    ci = bootstrap_ci(pu["hit"], n_boot=200, seed=7)
    assert ci.estimate == pytest.approx(0.5) and ci.n == 40
    assert ci.low < 0.5 < ci.high
    assert isinstance(precision_at_k(truth, recs, 1), MetricResult)


def test_id_encodings_give_identical_results():
    # compact ints (offset encoding), huge-range ints and strings (hash factorisation) must agree
    rng = np.random.default_rng(11)
    recs = pd.DataFrame(
        {
            USER: rng.integers(0, 50, 600),
            ITEM: rng.integers(0, 30, 600),
            SCORE: rng.integers(0, 3, 600).astype(float),
        }
    )
    truth = pd.DataFrame({USER: rng.integers(0, 60, 200), ITEM: rng.integers(0, 30, 200)})
    history = pd.DataFrame({USER: rng.integers(0, 60, 300), ITEM: rng.integers(0, 30, 300)})
    base = per_user_metrics(truth, recs, 4, history=history)
    # string item ids keep the same string order as the ints, so tie-breaks are unchanged
    for f_user, f_item in [
        (lambda s: s * 10**12, lambda s: s),
        (lambda s: "c" + s.astype(str), lambda s: s.astype(str)),
    ]:

        def conv(df, f_user=f_user, f_item=f_item):
            return df.assign(**{USER: f_user(df[USER]), ITEM: f_item(df[ITEM])})

        other = per_user_metrics(conv(truth), conv(recs), 4, history=conv(history))
        assert other.attrs["n_excluded"] == base.attrs["n_excluded"]
        aligned = other.loc[f_user(pd.Series(base.index)).to_numpy()]
        np.testing.assert_array_equal(aligned.to_numpy(dtype=float), base.to_numpy(dtype=float))


def test_empty_recommendations_are_all_misses():
    truth = truth_df([(1, "a"), (2, "b")])
    recs = pd.DataFrame({USER: pd.Series([], dtype="int64"), ITEM: [], SCORE: pd.Series([], dtype=float)})
    res = ranking_metrics(truth, recs, 3)
    assert all(res[m].value == 0.0 for m in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage"))
    assert res["ndcg"].n_users == 2


def test_repeat_explore_matches_slow_reference():
    rng = np.random.default_rng(21)
    recs = pd.DataFrame(
        {USER: rng.integers(0, 40, 280), ITEM: rng.integers(0, 25, 280), SCORE: rng.random(280).round(1)}
    )
    truth = pd.DataFrame({USER: rng.integers(0, 45, 250), ITEM: rng.integers(0, 25, 250)})
    history = pd.DataFrame({USER: rng.integers(0, 45, 400), ITEM: rng.integers(0, 25, 400)})
    k = 5
    hist = history.groupby(USER)[ITEM].apply(set).to_dict()
    got = per_user_metrics(truth, recs, k, history=history)
    for u, tset in truth.groupby(USER)[ITEM].apply(set).items():
        h = hist.get(u, set())
        rep, exp = tset & h, tset - h
        tops = [set(full[:k]) for full in _orders(recs[recs[USER] == u])] or [set()]
        row = got.loc[u]
        if rep:
            assert row["repeat_recall"] == pytest.approx(np.mean([len(rep & t) / len(rep) for t in tops]))
        else:
            assert np.isnan(row["repeat_recall"])
        if exp:
            assert row["explore_recall"] == pytest.approx(np.mean([len(exp & t) / len(exp) for t in tops]))
        else:
            assert np.isnan(row["explore_recall"])
        assert row["repeat_share"] == pytest.approx(np.mean([len(t & h) / k for t in tops]))
    agg = repeat_explore_at_k(truth, recs, k, history=history)
    assert agg["repeat_recall"].value == pytest.approx(got["repeat_recall"].mean())
    assert agg["repeat_recall"].n_users == int(got["repeat_recall"].notna().sum())


def test_bootstrap_cis_equal_bootstrap_ci_per_column():
    from retention_utils.recommend.bootstrap import bootstrap_cis, resample_counts

    rng = np.random.default_rng(4)
    v = np.column_stack([rng.random(57), rng.integers(0, 2, 57), np.full(57, 0.5)])
    cis = bootstrap_cis(v, n_boot=300, seed=9, alpha=0.1)
    for j in range(3):
        one = bootstrap_ci(v[:, j], n_boot=300, seed=9, alpha=0.1)
        assert cis[j][:3] == pytest.approx(one[:3], rel=1e-12) and cis[j].n == 57
    counts = resample_counts(57, 300, 9)
    assert counts.sum(axis=1).tolist() == [57.0] * 300  # each resample draws 57 values
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_cis(np.array([[np.nan]]))


def test_per_user_metrics_at_several_k_equal_one_call_per_k():
    from retention_utils.recommend.metrics import per_user_metrics_at

    rng = np.random.default_rng(8)
    recs = pd.DataFrame({USER: rng.integers(0, 60, 900), ITEM: rng.integers(0, 30, 900), SCORE: rng.integers(0, 4, 900) / 2})
    truth = pd.DataFrame({USER: rng.integers(0, 70, 300), ITEM: rng.integers(0, 30, 300)})
    history = pd.DataFrame({USER: rng.integers(0, 70, 400), ITEM: rng.integers(0, 30, 400)})
    got = per_user_metrics_at(truth, recs, [5, 1, 3], history=history)
    assert list(got) == [1, 3, 5]
    for k, frame in got.items():
        pd.testing.assert_frame_equal(frame, per_user_metrics(truth, recs, k, history=history), check_exact=True)
        assert frame.attrs == per_user_metrics(truth, recs, k).attrs
    with pytest.raises(ValueError, match="at least one"):
        per_user_metrics_at(truth, recs, [])


def test_huge_k_costs_no_memory_and_bad_relevance_is_refused():
    import tracemalloc

    truth = truth_df([(1, "a"), (1, "b"), (2, "c")])
    recs = pd.concat([ranked(1, ["b", "x", "a"]), ranked(2, ["y", "c"])])
    small = ndcg_at_k(truth, recs, 3).value
    # u1 hits at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2(3)); u2 hits at rank 2: (1/log2(3)) / 1
    assert small == pytest.approx(((1 + 0.5) / (1 + 1 / math.log2(3)) + 1 / math.log2(3)) / 2)
    tracemalloc.start()
    huge = ndcg_at_k(truth, recs, 10**9).value  # the discounts were allocated for all 1e9 ranks (8 GB)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert huge == small and peak < 50e6
    with pytest.raises(ValueError, match="negative or infinite relevance"):
        ndcg_at_k(truth.assign(rel=[1.0, np.inf, 1.0]), recs, 3, col_relevance="rel")
    with pytest.raises(ValueError, match="overflows"):  # 2**2000 is inf: NDCG was NaN
        ndcg_at_k(truth.assign(rel=[1.0, 2000.0, 1.0]), recs, 3, col_relevance="rel", gain="exponential")


def test_empty_inputs_give_nan_not_a_division_error():
    empty = pd.DataFrame({USER: pd.Series([], dtype=object), ITEM: pd.Series([], dtype=object)})
    res = ranking_metrics(empty, empty.assign(**{SCORE: pd.Series([], dtype=float)}), 10)
    assert all(math.isnan(r.value) and r.n_users == 0 for r in res.values())  # coverage divided by 0
