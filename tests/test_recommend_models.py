"""Tests for retention_utils.recommend.models on tiny baskets; every expected top-k is worked out by
hand in the comments.

Training baskets (household: basket {products}, oldest first)::

    u1: o1 {a, b}   o2 {a, c}   o3 {a}
    u2: o4 {b, c}   o5 {b}
    u3: o6 {c, d}

Basket counts: u1 a=3 b=1 c=1 ; u2 b=2 c=1 ; u3 c=1 d=1. Popularity (baskets): a=3 b=3 c=3 d=1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from retention_utils.recommend.metrics import per_user_metrics
from retention_utils.recommend.models import (
    ALS,
    EASE,
    TIFUKNN,
    ContentTFIDF,
    GPTopFreq,
    GTopFreq,
    Hybrid,
    Interactions,
    ItemKNN,
    PTopFreq,
    SegmentPopularity,
    UserKNN,
    scores_dense,
)
from retention_utils.recommend.protocol import (
    ModelSpec,
    compare_to_baseline,
    default_specs,
    evaluate,
    format_results,
    paired_difference,
    results_table,
    run_protocol,
    tune,
)
from retention_utils.recommend.ranking import top_k_from_scores, top_k_stored

C, OID, T, P = "customer_id", "order_id", "order_ts", "product_id"


def baskets(rows):
    out = [
        (c, o, pd.Timestamp("2017-01-01") + pd.Timedelta(days=d), p) for c, o, d, prods in rows for p in prods
    ]
    return pd.DataFrame(out, columns=[C, OID, T, P])


TRAIN = baskets(
    [
        ("u1", "o1", 1, "ab"),
        ("u1", "o2", 2, "ac"),
        ("u1", "o3", 3, "a"),
        ("u2", "o4", 1, "bc"),
        ("u2", "o5", 2, "b"),
        ("u3", "o6", 1, "cd"),
    ]
)
DATA = Interactions.from_baskets(TRAIN)
PRODUCTS = pd.DataFrame(
    {P: list("abcd"), "department": ["X", "X", "Y", "Y"], "category": ["P", "Q", "Q", "R"]}
)


def top(recs, user):
    return recs.loc[recs[C] == user].sort_values("rank")[P].tolist()


def score_of(recs, user, item):
    return float(recs.loc[(recs[C] == user) & (recs[P] == item), "score"].iloc[0])


# ---------------------------------------------------------------------------------------------
# Interactions and top-k helpers
# ---------------------------------------------------------------------------------------------
def test_interactions_by_hand():
    assert list(DATA.users) == ["u1", "u2", "u3"] and list(DATA.items) == list("abcd")
    np.testing.assert_array_equal(DATA.counts.toarray(), [[3, 1, 1, 0], [0, 2, 1, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(DATA.basket_user, [0, 0, 0, 1, 1, 2])
    # basket rows in time order within a household: o1 {a,b}, o2 {a,c}, o3 {a}, ...
    np.testing.assert_array_equal(DATA.baskets.toarray()[:3], [[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(DATA.support(), [1, 2, 3, 1])
    np.testing.assert_array_equal(DATA.item_space(2), [1, 2])
    # duplicated rows and shuffled input give the same matrices
    again = Interactions.from_baskets(pd.concat([TRAIN, TRAIN.iloc[[0, 3]]]).sample(frac=1, random_state=1))
    assert (again.counts != DATA.counts).nnz == 0 and (again.baskets != DATA.baskets).nnz == 0


def test_interactions_items_follow_the_natural_id_order_and_errors():
    d = Interactions.from_baskets(baskets([("h", "o", 1, ["9", "10", "100"])]))
    assert list(d.items) == ["10", "100", "9"]  # text ids: string order
    np.testing.assert_allclose(d.basket_day, pd.Timestamp("2017-01-02").value / 86_400e9)
    with pytest.raises(ValueError, match="no training baskets"):
        DATA.rows(["u1", "zz"])
    np.testing.assert_array_equal(DATA.rows(["u3", "zz"], allow_unknown=True), [2, -1])
    # u1 bought a in 3 baskets, b and c in one; u3 c and d once; an unknown household gets an empty row
    np.testing.assert_array_equal(DATA.counts_of(["zz", "u1", "u3"]).toarray(), [[0, 0, 0, 0], [3, 1, 1, 0], [0, 0, 1, 1]])
    with pytest.raises(Exception, match="order_ts"):
        Interactions.from_baskets(TRAIN.drop(columns=T))
    holes = TRAIN.copy()
    holes.loc[[0, 2], P] = None
    with pytest.raises(ValueError, match="column 'product_id' has 2 null value"):
        Interactions.from_baskets(holes)


def test_top_k_stored_ties_by_item_string_and_short_lists():
    m = sparse.csr_matrix(np.array([[1.0, 2.0, 2.0, 0.0], [0.0, 0.0, 5.0, -np.inf]]))
    m.eliminate_zeros()
    recs = top_k_stored(np.array(["x", "y"]), np.array(["9", "10", "2", "3"]), m, 2)
    # x: "10" and "2" tie at 2.0 -> "10" < "2" as strings; y has a single candidate ("3" is -inf)
    assert top(recs, "x") == ["10", "2"] and top(recs, "y") == ["2"]
    assert recs["rank"].tolist() == [1, 2, 1]
    dense = np.where(m.toarray() == 0, -np.inf, m.toarray())  # same as the dense helper with -inf
    pd.testing.assert_frame_equal(
        recs, top_k_from_scores(np.array(["x", "y"]), np.array(["9", "10", "2", "3"]), dense, 2)
    )


# ---------------------------------------------------------------------------------------------
# Popularity family
# ---------------------------------------------------------------------------------------------
def test_g_topfreq_same_list_for_everyone_ties_by_string():
    recs = GTopFreq().fit(DATA).recommend(["u1", "new"], 3)
    # a, b, c all in 3 baskets -> string order; d (1) is fourth
    assert top(recs, "u1") == ["a", "b", "c"] and top(recs, "new") == ["a", "b", "c"]
    assert score_of(recs, "new", "a") == 3.0


def test_p_topfreq_by_hand():
    recs = PTopFreq().fit(DATA).recommend(["u1", "u2", "u3", "new"], 2)
    assert top(recs, "u1") == ["a", "b"]  # a=3, then b=1 and c=1 tie -> b
    assert top(recs, "u2") == ["b", "c"]
    assert top(recs, "u3") == ["c", "d"]
    assert top(recs, "new") == []  # nothing bought: no recommendation (slots count as misses)
    short = PTopFreq().fit(DATA).recommend(["u3"], 4)
    assert top(short, "u3") == ["c", "d"]  # only own products are candidates


def test_p_topfreq_breaks_ties_by_popularity_then_numeric_id_and_scores_say_so():
    # popularity (baskets): 10 -> 3, 11 -> 2, 9 -> 1, 20 -> 1, 100 -> 1
    d = Interactions.from_baskets(
        baskets([("h1", "o1", 1, [9, 10, 11]), ("h2", "o2", 1, [10, 11]), ("h3", "o3", 1, [10, 20, 100])])
    )
    assert list(d.items) == [9, 10, 11, 20, 100]  # numeric ids in numeric order, not "10" < "9"
    recs = PTopFreq().fit(d).recommend(["h1", "h3"], 3)
    assert top(recs, "h1") == [10, 11, 9]  # all bought once: most popular first
    assert [score_of(recs, "h1", i) for i in (10, 11, 9)] == pytest.approx([1 + 3 / 4, 1 + 2 / 4, 1 + 1 / 4])
    assert top(recs, "h3") == [10, 20, 100]  # 20 and 100 tie in popularity too: numeric order
    # the metrics see the popularity tie-break (distinct scores) and average the remaining tie
    truth = pd.DataFrame({C: ["h1", "h3"], P: [10, 100]})
    pu = per_user_metrics(truth, recs, 2)
    assert pu.loc["h1", "precision"] == 0.5 and pu.loc["h3", "precision"] == 0.25


def test_gp_topfreq_pads_with_popular_products_not_bought():
    recs = GPTopFreq().fit(DATA).recommend(["u2", "u3", "new"], 4)
    # u2: own b (2), c (1); padding from the global top 4 (a, b, c, d) minus own: a (3/4), d (1/4)
    assert top(recs, "u2") == ["b", "c", "a", "d"]
    assert score_of(recs, "u2", "a") == pytest.approx(0.75)
    assert score_of(recs, "u2", "b") == pytest.approx(2.75)  # frequency + popularity / (max + 1)
    # u3: own c, d (tie -> c); padding a, b (both 3/4 -> a first)
    assert top(recs, "u3") == ["c", "d", "a", "b"]
    assert top(recs, "new") == ["a", "b", "c", "d"]


def test_segment_popularity_by_hand():
    seg = pd.Series({"u1": "s1", "u2": "s1", "u3": "s2", "u9": "s2", "u10": None})
    recs = SegmentPopularity(seg).fit(DATA).recommend(["u1", "u3", "u9", "u10", "u11"], 3)
    # s1 = u1 + u2: a=3, b=3, c=2 ; s2 = u3: c=1, d=1 then global padding a
    assert top(recs, "u1") == ["a", "b", "c"]
    assert top(recs, "u3") == ["c", "d", "a"]
    assert top(recs, "u9") == ["c", "d", "a"]  # no basket of its own: its segment's list
    assert top(recs, "u10") == ["a", "b", "c"]  # no segment: global list
    assert top(recs, "u11") == ["a", "b", "c"]  # unknown everywhere: global list
    with pytest.raises(ValueError, match="segments"):
        SegmentPopularity().fit(DATA)
    # ids that match no training household (int 1 vs "u1") gave everyone the global list silently
    with pytest.raises(ValueError, match="none of the 2 households"):
        SegmentPopularity(pd.Series({1: "s1", 2: "s2"})).fit(DATA)
    # one household in two segments: one of them was dropped silently
    with pytest.raises(ValueError, match=r"two different segments \(e.g. \['u1'\]\)"):
        SegmentPopularity(pd.Series(["s1", "s2", "s1"], index=["u1", "u1", "u2"])).fit(DATA)
    same = SegmentPopularity(pd.Series(["s1", "s1", "s2"], index=["u1", "u1", "u3"])).fit(DATA)
    assert top(same.recommend(["u1"], 2), "u1") == ["a", "b"]  # a repeated equal segment is harmless


# ---------------------------------------------------------------------------------------------
# Collaborative filtering
# ---------------------------------------------------------------------------------------------
def test_user_knn_cosine_by_hand():
    # binary vectors u1 = {a,b,c}, u2 = {b,c}, u3 = {c,d}
    # cos(u1,u2) = 2/(sqrt3 sqrt2) = 0.8165, cos(u1,u3) = 1/(sqrt3 sqrt2) = 0.4082, cos(u2,u3) = 1/2
    c12, c13 = 2 / math.sqrt(6), 1 / math.sqrt(6)
    m = UserKNN(n_neighbors=1).fit(DATA)
    recs = m.recommend(["u1", "u3"], 2)
    assert top(recs, "u1") == ["b", "c"]  # neighbour u2: b = c = 0.8165 -> b first
    assert score_of(recs, "u1", "b") == pytest.approx(c12)
    assert top(recs, "u3") == ["b", "c"]  # neighbour u2 (0.5): b = c = 0.5
    m.set_params(n_neighbors=2)  # scoring-time parameter: no refit needed
    recs = m.recommend(["u1"], 3)
    # u1: a 0, b 0.8165, c 0.8165 + 0.4082 = 1.2247, d 0.4082
    assert top(recs, "u1") == ["c", "b", "d"]
    assert score_of(recs, "u1", "c") == pytest.approx(c12 + c13)
    with pytest.raises(ValueError, match="no training baskets"):
        m.recommend(["new"], 2)


def test_item_knn_cosine_by_hand():
    # implicit's cosine on item columns of the counts: a=(3,0,0) b=(1,2,0) c=(1,1,1) d=(0,0,1)
    # sim(a,b)=1/sqrt5, sim(a,c)=1/sqrt3, sim(b,c)=3/sqrt15, sim(c,d)=1/sqrt3, self=1
    m = ItemKNN("cosine", K=4).fit(DATA)
    s = scores_dense(m, ["u2"]).loc["u2"]
    # u2 (b=2, c=1): a = 2/sqrt5 + 1/sqrt3, b = 2 + 3/sqrt15, c = 6/sqrt15 + 1, d = 1/sqrt3
    expected = [
        2 / math.sqrt(5) + 1 / math.sqrt(3),
        2 + 3 / math.sqrt(15),
        6 / math.sqrt(15) + 1,
        1 / math.sqrt(3),
    ]
    np.testing.assert_allclose(s.to_numpy(), expected, rtol=1e-6)
    assert top(m.recommend(["u2"], 4), "u2") == ["b", "c", "a", "d"]
    # K=2 keeps self + the best other item per row: a->c, b->c, c->b, d->c
    s2 = scores_dense(ItemKNN("cosine", K=2).fit(DATA), ["u2"]).loc["u2"]
    np.testing.assert_allclose(s2.to_numpy(), [0, 2 + 3 / math.sqrt(15), 6 / math.sqrt(15) + 1, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="cosine"):
        ItemKNN("jaccard").fit(DATA)


def test_ease_two_items_by_hand():
    # X = [[1,1],[1,0],[0,1]], l2 = 1: X'X + I = [[3,1],[1,3]], P = [[3,-1],[-1,3]] / 8,
    # B_12 = -P_12 / P_22 = 1/3 = B_21 -> scores: h1 (1/3, 1/3), h2 (0, 1/3), h3 (1/3, 0)
    d = Interactions.from_baskets(
        baskets([("h1", "x1", 1, "pq"), ("h2", "x2", 1, "p"), ("h3", "x3", 1, "q")])
    )
    m = EASE(l2=1.0).fit(d)
    np.testing.assert_allclose(
        scores_dense(m, ["h1", "h2", "h3"]).to_numpy(), [[1 / 3, 1 / 3], [0, 1 / 3], [1 / 3, 0]], atol=1e-12
    )
    assert top(m.recommend(["h2"], 1), "h2") == ["q"]


@pytest.mark.parametrize(
    ("n_households", "products", "lam"),
    # 600 households: M^-1 spans three 256-wide tiles and three mirror blocks (helpers tested below)
    [(25, "abcdefghij", 7.0), (600, "abcdefghijklmnop", 50.0)],
)
def test_ease_woodbury_equals_item_space_closed_form(n_households, products, lam):
    rng = np.random.default_rng(0)
    rows = [
        (f"h{h}", f"h{h}b{j}", j, list(rng.choice(list(products), 4, replace=False)))
        for h in range(n_households)
        for j in range(3)
    ]
    d = Interactions.from_baskets(baskets(rows))
    x = (d.counts.toarray() > 0).astype(float)
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)  # Steck (2019): B = I - P diagMat(1 / diag(P))
    np.testing.assert_allclose(np.diag(b), 0, atol=1e-12)
    np.testing.assert_allclose(scores_dense(EASE(l2=lam).fit(d), d.users).to_numpy(), x @ b, atol=1e-10)
    with pytest.raises(ValueError, match="l2"):
        EASE(l2=0).fit(d)


def test_als_is_deterministic_and_scores_are_factor_products():
    # two disjoint groups of households / products: ALS must score each household's own group higher
    rows = [(f"g{h}", f"g{h}b{j}", j, "abc") for h in range(6) for j in range(2)]
    rows += [(f"k{h}", f"k{h}b{j}", j, "xyz") for h in range(6) for j in range(2)]
    d = Interactions.from_baskets(baskets(rows))
    m1 = ALS(factors=4, iterations=10, random_state=3, regularization=0.01).fit(d)
    m2 = ALS(factors=4, iterations=10, random_state=3, regularization=0.01).fit(d)
    np.testing.assert_array_equal(m1.user_factors_, m2.user_factors_)
    s = scores_dense(m1, ["g0", "k0"])
    np.testing.assert_allclose(s.to_numpy(), m1.user_factors_[[0, 6]] @ m1.item_factors_.T)
    assert s.loc["g0", list("abc")].min() > s.loc["g0", list("xyz")].max()
    assert s.loc["k0", list("xyz")].min() > s.loc["k0", list("abc")].max()


# ---------------------------------------------------------------------------------------------
# Content and hybrid
# ---------------------------------------------------------------------------------------------
IDF1 = math.log(5 / 2) + 1  # smooth idf, 4 documents, token in 1 document (category=P, category=R)
IDF2 = math.log(5 / 3) + 1  # token in 2 documents (department=X, department=Y, category=Q)


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def test_content_tfidf_by_hand():
    # token order: X, Y, P, Q, R
    a, b = _unit([IDF2, 0, IDF1, 0, 0]), _unit([IDF2, 0, 0, IDF2, 0])
    c, d = _unit([0, IDF2, 0, IDF2, 0]), _unit([0, IDF2, 0, 0, IDF1])
    prof = _unit((c + d) / 2)  # u3 bought c and d once each
    m = ContentTFIDF(PRODUCTS, columns=("department", "category")).fit(DATA)
    s = scores_dense(m, ["u3"]).loc["u3"]
    np.testing.assert_allclose(s.to_numpy(), [prof @ a, prof @ b, prof @ c, prof @ d], rtol=1e-10)
    assert s["a"] == 0 and s["b"] == pytest.approx(0.2949, abs=1e-4) and s["c"] == pytest.approx(s["d"])
    assert top(m.recommend(["u3"], 3), "u3") == ["c", "d", "b"]  # c, d tie -> string order
    with pytest.raises(ValueError, match="product table"):
        ContentTFIDF(None).fit(DATA)
    with pytest.raises(ValueError, match="none of the columns"):
        ContentTFIDF(PRODUCTS[[P]]).fit(DATA)


def test_hybrid_by_hand():
    # u3: user-kNN (1 neighbour, u2 at 0.5) gives b = c = 0.5 -> normalised b = c = 1;
    # content gives c = d = 0.8479, b = 0.2949 -> normalised c = d = 1, b = 0.3478
    # alpha 0.5: a 0, b (1 + 0.3478)/2 = 0.6739, c 1, d 0.5 -> top 3: c, b, d
    m = Hybrid(UserKNN(n_neighbors=1), ContentTFIDF(PRODUCTS, columns=("department", "category")), 0.5).fit(
        DATA
    )
    content = scores_dense(m.content_, ["u3"]).loc["u3"]
    s = scores_dense(m, ["u3"]).loc["u3"]
    np.testing.assert_allclose(s.to_numpy(), [0, (1 + content["b"] / content["c"]) / 2, 1, 0.5])
    assert top(m.recommend(["u3"], 3), "u3") == ["c", "b", "d"]
    m.set_params(alpha=1.0)
    assert top(m.recommend(["u3"], 2), "u3") == ["b", "c"]  # pure CF
    with pytest.raises(ValueError, match="same item space"):
        Hybrid(UserKNN(min_support=2), ContentTFIDF(PRODUCTS)).fit(DATA)


# ---------------------------------------------------------------------------------------------
# TIFU-KNN
# ---------------------------------------------------------------------------------------------
def test_tifu_pif_vectors_by_hand():
    # u1 baskets o1 {a,b}, o2 {a,c}, o3 {a}; r_b = 0.9, r_g = 0.6
    # 3 groups of one basket: weights 0.6^2/3, 0.6/3, 1/3 -> a = 0.12 + 0.2 + 1/3, b = 0.12, c = 0.2
    m = TIFUKNN(n_groups=3, within_decay=0.9, group_decay=0.6).fit(DATA)
    np.testing.assert_allclose(m.pif_.toarray()[0], [0.12 + 0.2 + 1 / 3, 0.12, 0.2, 0])
    # 1 group of three: weights 0.9^2/3, 0.9/3, 1/3
    m1 = TIFUKNN(n_groups=1, within_decay=0.9, group_decay=0.6).fit(DATA)
    np.testing.assert_allclose(m1.pif_.toarray()[0], [0.27 + 0.3 + 1 / 3, 0.27, 0.3, 0])
    # 2 groups: sizes 1 and 2 (the recent group is the larger): o1 0.6/2 ; o2 (1/2)(0.9/2) ; o3 (1/2)(1/2)
    m2 = TIFUKNN(n_groups=2, within_decay=0.9, group_decay=0.6).fit(DATA)
    np.testing.assert_allclose(m2.pif_.toarray()[0], [0.3 + 0.225 + 0.25, 0.3, 0.225, 0])
    # u2 (2 baskets, 3 groups -> 2 groups of one): o4 0.6/2, o5 1/2 ; u3: one basket, weight 1
    np.testing.assert_allclose(m.pif_.toarray()[1:], [[0, 0.8, 0.3, 0], [0, 0, 1, 1]])


def test_tifu_prediction_by_hand():
    # PIF u1 = (0.6533, 0.12, 0.2, 0), u2 = (0, 0.8, 0.3, 0), u3 = (0, 0, 1, 1)
    # squared distances from u1: to u2 0.4268 + 0.4624 + 0.01 = 0.899, to u3 0.4268 + 0.0144 + 0.64 + 1 = 2.081
    # nearest neighbour u2; alpha 0.5: a 0.3267, b 0.46, c 0.25, d 0 -> b, a, c
    m = TIFUKNN(n_neighbors=1, alpha=0.5, n_groups=3, within_decay=0.9, group_decay=0.6).fit(DATA)
    s = scores_dense(m, ["u1"]).loc["u1"]
    pif1 = np.array([0.12 + 0.2 + 1 / 3, 0.12, 0.2, 0])
    np.testing.assert_allclose(s.to_numpy(), 0.5 * pif1 + 0.5 * np.array([0, 0.8, 0.3, 0]))
    assert top(m.recommend(["u1"], 3), "u1") == ["b", "a", "c"]
    m.set_params(alpha=1.0)  # own history only: a, c, b
    assert top(m.recommend(["u1"], 3), "u1") == ["a", "c", "b"]
    m.set_params(alpha=0.0, n_neighbors=2)  # mean of u2 and u3: c 0.65, b 0.4, d 0.5
    assert top(m.recommend(["u1"], 3), "u1") == ["c", "d", "b"]
    with pytest.raises(ValueError, match="n_groups"):
        TIFUKNN(n_groups=0).fit(DATA)


# ---------------------------------------------------------------------------------------------
# Scoring in chunks, tuning, evaluation
# ---------------------------------------------------------------------------------------------
def test_chunked_scoring_equals_one_block():
    rng = np.random.default_rng(1)
    rows = [
        (f"h{h}", f"h{h}b{j}", j, list(rng.choice(list("abcdefghijklmnop"), 5, replace=False)))
        for h in range(40)
        for j in range(4)
    ]
    d = Interactions.from_baskets(baskets(rows))
    for m in (UserKNN(10), TIFUKNN(n_neighbors=5), EASE(20.0), ItemKNN("bm25", K=5)):
        m.fit(d)
        pd.testing.assert_frame_equal(m.recommend(d.users, 5, chunk_size=3), m.recommend(d.users, 5))


def test_tune_picks_best_and_varies_scoring_params_without_refit(monkeypatch):
    truth = pd.DataFrame({C: ["u1"], P: ["b"]})
    # n_neighbors=1: u1's top 1 is b (hit); n_neighbors=2: c (miss)
    fits = []
    original = UserKNN._fit

    def counting_fit(self, data):
        fits.append(self.n_neighbors)
        original(self, data)

    monkeypatch.setattr(UserKNN, "_fit", counting_fit)
    res = tune(UserKNN(), {"n_neighbors": [2, 1]}, DATA, truth, k=1)
    assert res.best_params == {"n_neighbors": 1}
    assert res.table["ndcg@1"].tolist() == [0.0, 1.0]
    assert len(fits) == 1  # one fit, two scorings
    with pytest.raises(ValueError, match="no parameter"):
        tune(UserKNN(), {"neighbours": [1]}, DATA, truth)


def test_evaluate_results_table_and_paired_difference():
    truth = pd.DataFrame({C: ["u1", "u2", "u3"], P: ["c", "c", "a"]})
    hist = TRAIN[[C, P]].drop_duplicates()
    ev_p = evaluate(PTopFreq().fit(DATA), truth, hist, ks=(1, 2))
    ev_g = evaluate(GTopFreq().fit(DATA), truth, hist, ks=(2, 1))
    # P-TopFreq top 2: u1 a, b (miss) ; u2 b, c (hit at 2) ; u3 c, d (miss) -> recall@2 = 1/3
    assert ev_p[2]["recall"].tolist() == [0.0, 1.0, 0.0]
    assert ev_p[2].loc["u2", "ndcg"] == pytest.approx(1 / math.log2(3))
    # G-TopFreq top 2 = a, b for all: only u3 (a) hits; a is an explore item for u3
    assert ev_g[2]["hit"].tolist() == [False, False, True]
    assert ev_g[2].loc["u3", "explore_recall"] == 1.0 and np.isnan(ev_g[2].loc["u3", "repeat_recall"])
    tab = results_table({"P": ev_p, "G": ev_g}, n_boot=200, seed=1)
    assert tab[["model", "k"]].values.tolist() == [["P", 1], ["P", 2], ["G", 1], ["G", 2]]
    assert (
        tab.loc[1, "recall"] == pytest.approx(1 / 3)
        and tab.loc[1, "recall_low"] <= 1 / 3 <= tab.loc[1, "recall_high"]
    )
    assert tab.loc[1, "repeat_share"] == pytest.approx(1.0)  # P-TopFreq only recommends bought products
    diff = paired_difference(ev_p[2], ev_g[2], "hit", n_boot=200, seed=1)
    assert diff.estimate == pytest.approx(0.0)  # 1/3 - 1/3
    const = paired_difference(ev_p[2], ev_p[2], "ndcg", n_boot=50)
    assert (const.low, const.high) == (0.0, 0.0)
    with pytest.raises(ValueError, match="same households"):
        paired_difference(ev_p[2], ev_g[2].iloc[:2], "ndcg")


def test_per_user_metrics_of_models_match_a_brute_force_ranking():
    rng = np.random.default_rng(7)
    rows = [
        (f"h{h:02d}", f"h{h}b{j}", j, list(rng.choice(list("abcdefghijkl"), 4, replace=False)))
        for h in range(30)
        for j in range(3)
    ]
    d = Interactions.from_baskets(baskets(rows))
    truth = pd.DataFrame({C: d.users.repeat(2), P: rng.choice(list("abcdefghijkl"), 60)})
    m = UserKNN(8).fit(d)
    dense = scores_dense(m, d.users)
    expected = []
    for u, row in dense.iterrows():
        ranked = sorted(row.index, key=lambda it: (-row[it], str(it)))[:3]
        t = set(truth.loc[truth[C] == u, P])
        expected.append(len(t & set(ranked)) / len(t))
    got = per_user_metrics(truth, m.recommend(d.users, 3), 3)["recall"]
    np.testing.assert_allclose(got.to_numpy(), expected)


# ---------------------------------------------------------------------------------------------
# Protocol runner, comparison with a baseline, display helpers
# ---------------------------------------------------------------------------------------------
def _random_baskets(n_households=30, seed=5):
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(n_households):
        favourites = rng.choice(list("abcdefghijklmnop"), 6, replace=False)
        for j in range(int(rng.integers(4, 9))):
            basket = set(rng.choice(favourites, 3)) | set(rng.choice(list("abcdefghijklmnop"), 1))
            rows.append((f"h{h:02d}", f"h{h}b{j}", j, sorted(basket)))
    return baskets(rows)


def test_run_protocol_matches_manual_tuning_and_full_history_metrics():
    from retention_utils.recommend.split import last_basket_protocol

    pr = last_basket_protocol(_random_baskets(), min_baskets=4, min_item_baskets=1)
    specs = [
        ModelSpec("P-TopFreq", PTopFreq()),
        ModelSpec("user-kNN", UserKNN(), {"n_neighbors": [2, 8]}),
        ModelSpec(
            "TIFU", lambda best: TIFUKNN(n_neighbors=best["user-kNN"]["n_neighbors"]), {"alpha": [0.3, 0.7]}
        ),
    ]
    extra = pr.test.truth.iloc[::2]
    run = run_protocol(pr, specs, ks=(3, 5), extra_truths={"half": extra})
    val_data = Interactions.from_baskets(pr.validation.train)
    manual = tune(UserKNN(), {"n_neighbors": [2, 8]}, val_data, pr.validation.truth, k=10)
    assert run.tuning["user-kNN"].best_params == manual.best_params
    pd.testing.assert_frame_equal(run.tuning["user-kNN"].table, manual.table)
    assert run.tuning["TIFU"].table["alpha"].tolist() == [0.3, 0.7]
    # metrics equal a plain evaluate with the full training history
    test_data = Interactions.from_baskets(pr.test.train)
    for name, model in [("P-TopFreq", PTopFreq()), ("user-kNN", UserKNN(**manual.best_params))]:
        full = evaluate(model.fit(test_data), pr.test.truth, pr.test.history(), ks=(3, 5))
        for k in (3, 5):
            pd.testing.assert_frame_equal(run.evaluations["test"][name][k], full[k])
        half = evaluate(model, extra, pr.test.history(), ks=(5,))
        pd.testing.assert_frame_equal(run.evaluations["half"][name][5], half[5])
    table = run.best_params()
    assert table["model"].tolist() == ["P-TopFreq", "user-kNN", "TIFU"]
    assert table.loc[0, "parameters"] == "(none tuned)"


def test_run_protocols_in_two_processes_equals_one_after_the_other():
    from retention_utils.recommend.protocol import run_protocols, start_workers
    from retention_utils.recommend.split import last_basket_protocol

    a = last_basket_protocol(_random_baskets(), min_baskets=4, min_item_baskets=1)
    b = last_basket_protocol(_random_baskets().iloc[::-1], min_baskets=5, min_item_baskets=1)
    specs = [
        ModelSpec("P-TopFreq", PTopFreq()),
        ModelSpec("user-kNN", UserKNN(), {"n_neighbors": [2, 8]}),
        # built from user-kNN's tuned parameters: in two processes it waits for them
        ModelSpec("TIFU", lambda best: TIFUKNN(n_neighbors=best["user-kNN"]["n_neighbors"]), {"alpha": [0.3, 0.7]}),
        ModelSpec("G-TopFreq", GTopFreq()),
    ]
    extra = {"a": {"half": a.test.truth.iloc[::2]}}
    seq = run_protocols({"a": a, "b": b}, specs, ks=(3,), extra_truths=extra)
    assert start_workers(1) is None
    head_start = start_workers(2)  # the pool the next call reuses
    head_start.join(120)
    assert not head_start.is_alive()
    par = run_protocols({"a": a, "b": b}, specs, ks=(3,), extra_truths=extra, n_jobs=2)
    assert list(par) == ["a", "b"] and set(par["a"].evaluations) == {"test", "half"}
    for name in ("a", "b"):
        assert list(par[name].tuning) == list(par[name].seconds) == [s.name for s in specs]
        assert list(par[name].evaluations["test"]) == [s.name for s in specs]
        assert par[name].tuning["user-kNN"].best_params == seq[name].tuning["user-kNN"].best_params
        for model in ("user-kNN", "TIFU"):
            pd.testing.assert_frame_equal(par[name].tuning[model].table, seq[name].tuning[model].table)
        for target, by_model in seq[name].evaluations.items():
            for model, by_k in by_model.items():
                pd.testing.assert_frame_equal(par[name].evaluations[target][model][3], by_k[3])
    with pytest.raises(ValueError, match="n_jobs"):
        run_protocols({"a": a}, specs, n_jobs=0)
    with pytest.raises(ValueError, match="unique"):
        run_protocols({"a": a}, specs + specs[:1], n_jobs=2)


def test_a_spec_with_uses_reuses_the_fits_and_gives_the_same_results(monkeypatch):
    """The hybrid built from user-kNN and content (``uses``) fits neither again, in one process or
    in two, and its results equal those of a hybrid that fits its own components."""
    from retention_utils.recommend import models as M
    from retention_utils.recommend.protocol import run_protocol, run_protocols
    from retention_utils.recommend.split import last_basket_protocol

    prods = pd.DataFrame({P: list("abcdefghijklmnop"), "department": list("XXYYXXYYXXYYXXYY")})
    pr = last_basket_protocol(_random_baskets(), min_baskets=4, min_item_baskets=1)

    def specs(uses):
        def hybrid(best):
            return Hybrid(UserKNN(**best["user-kNN"]), ContentTFIDF(prods.copy()))  # an equal table, not the same object
        return [
            ModelSpec("user-kNN", UserKNN(), {"n_neighbors": [2, 8]}),
            ModelSpec("P-TopFreq", PTopFreq()),
            ModelSpec("content", ContentTFIDF(prods)),
            ModelSpec("hybrid", hybrid, {"alpha": [0.3, 0.7]}, uses=uses),
        ]

    fits = []
    for cls in (UserKNN, ContentTFIDF):
        real = cls._fit
        monkeypatch.setattr(cls, "_fit", lambda self, data, real=real: (fits.append(type(self).__name__), real(self, data))[1])
    own = run_protocol(pr, specs(()), ks=(3,))
    assert sorted(fits) == ["ContentTFIDF"] * 4 + ["UserKNN"] * 4  # 2 each in its own spec, 2 each in the hybrid
    fits.clear()
    shared = run_protocol(pr, specs(("user-kNN", "content")), ks=(3,))
    assert sorted(fits) == ["ContentTFIDF"] * 2 + ["UserKNN"] * 2  # validation and test, once each
    par = run_protocols({"a": pr}, specs(("user-kNN", "content")), ks=(3,), n_jobs=2)["a"]
    for run in (shared, par):
        assert list(run.tuning) == ["user-kNN", "P-TopFreq", "content", "hybrid"]
        for model in run.tuning:
            pd.testing.assert_frame_equal(run.tuning[model].table, own.tuning[model].table)
            pd.testing.assert_frame_equal(run.evaluations["test"][model][3], own.evaluations["test"][model][3])
    # a shared fit carries the scoring-time parameters of the model asked for
    data = Interactions.from_baskets(pr.test.train)
    with M.shared_fits() as memo:
        a = M.fit_shared(UserKNN(n_neighbors=2), data)
        b = M.fit_shared(UserKNN(n_neighbors=8), data)
        c = M.fit_shared(UserKNN(n_neighbors=2, min_support=2), data)  # a fit-time parameter: fitted again
    assert len(memo) == 2 and b.n_neighbors == 8 and a.n_neighbors == 2 and b.similarity_ is a.similarity_
    assert c.similarity_ is not a.similarity_
    assert M.fit_key(ContentTFIDF(prods)) == M.fit_key(ContentTFIDF(prods.copy()))
    assert M.fit_key(ContentTFIDF(prods)) != M.fit_key(ContentTFIDF(prods.assign(department="Z")))


def test_fit_keys_tell_apart_what_fits_differently():
    from retention_utils.recommend import models as M

    prods = pd.DataFrame({P: list("abcd"), "department": list("XXYY")})
    data = Interactions.from_baskets(_random_baskets())
    # a nested model's scoring-time parameters belong to the outer model's fit
    h10 = Hybrid(UserKNN(n_neighbors=10), ContentTFIDF(prods), alpha=1.0)
    h1 = Hybrid(UserKNN(n_neighbors=1), ContentTFIDF(prods), alpha=1.0)
    assert M.fit_key(h10) != M.fit_key(h1)
    assert M.fit_key(h10) == M.fit_key(h10.set_params(alpha=0.3))  # the outer one's own: shared
    # lists by content (a list changed in place is another key), tables by value types
    cols = ["department"]
    first = M.fit_key(ContentTFIDF(prods, columns=cols))
    cols[:] = ["category"]
    assert M.fit_key(ContentTFIDF(prods, columns=cols)) != first
    ints = pd.DataFrame({P: pd.Series([1, 2], dtype=object), "department": ["X", "Y"]})
    texts = pd.DataFrame({P: ["1", "2"], "department": ["X", "Y"]})
    assert M.fit_key(ContentTFIDF(ints)) != M.fit_key(ContentTFIDF(texts))
    # every caller gets its own copy: refitting one does not reach the next
    with M.shared_fits() as memo:
        a = M.fit_shared(UserKNN(n_neighbors=3), data)
        b = M.fit_shared(UserKNN(n_neighbors=3), data)
        (stored,) = [v[2] for v in memo.values()]
        assert a is not stored and b is not stored and b.similarity_ is stored.similarity_
        a.fit(Interactions.from_baskets(_random_baskets(seed=9)))
        assert M.fit_shared(UserKNN(n_neighbors=3), data).data_ is data


def test_uses_must_name_earlier_plain_specs_once():
    from retention_utils.recommend.protocol import _groups

    def build(best):
        return PTopFreq()

    plain = [ModelSpec("a", PTopFreq()), ModelSpec("b", GTopFreq())]
    assert _groups([*plain, ModelSpec("h", build, uses=("b", "a"))]) == [("a", "b", "h")]
    with pytest.raises(ValueError, match="not a spec before it"):
        _groups([ModelSpec("h", build, uses=("a",)), *plain])
    with pytest.raises(ValueError, match="one group"):
        _groups([*plain, ModelSpec("h", build, uses=("a",)), ModelSpec("i", build, uses=("a",))])
    with pytest.raises(ValueError, match="callable itself"):
        _groups([*plain, ModelSpec("h", build), ModelSpec("i", build, uses=("h",))])
    with pytest.raises(ValueError, match="fixed model"):
        _groups([*plain, ModelSpec("h", PTopFreq(), uses=("a",))])
    with pytest.raises(ValueError, match="tuple of spec names"):
        _groups([*plain, ModelSpec("h", build, uses="ab")])
    with pytest.raises(ValueError, match="twice"):
        _groups([*plain, ModelSpec("h", build, uses=("a", "a"))])
    with pytest.raises(ValueError, match="unique"):
        _groups([*plain, ModelSpec("a", GTopFreq()), ModelSpec("h", build, uses=("a",))])


def test_a_builder_asking_for_a_spec_outside_uses_is_named():
    from retention_utils.recommend.protocol import run_protocol
    from retention_utils.recommend.split import last_basket_protocol

    pr = last_basket_protocol(_random_baskets(), min_baskets=4, min_item_baskets=1)
    specs = [ModelSpec("user-kNN", UserKNN(), {"n_neighbors": [2]}), ModelSpec("P", PTopFreq()),
             ModelSpec("h", lambda best: UserKNN(**best["user-kNN"]), uses=("P",))]
    with pytest.raises(KeyError, match="asked for 'user-kNN'.*not in its uses"):
        run_protocol(pr, specs, ks=(3,))


def test_compare_to_baseline_verdicts():
    idx = pd.Index([f"h{i}" for i in range(40)], name=C)

    def frame(values):
        return pd.DataFrame({"ndcg": values}, index=idx)

    base = frame(np.tile([0.2, 0.4], 20))
    evals = {
        "base": {10: base},
        "up": {10: frame(base["ndcg"] + 0.1)},  # always +0.1 -> interval [0.1, 0.1]
        "down": {10: frame(base["ndcg"] - 0.05)},
        "mixed": {10: frame(base["ndcg"] + np.tile([0.1, -0.1], 20))},  # mean difference 0
    }
    cmp = compare_to_baseline(evals, "base", k=10, n_boot=200, seed=0)
    assert cmp["verdict"].to_dict() == {
        "base": "baseline",
        "up": "better",
        "down": "worse",
        "mixed": "no clear difference",
    }
    assert cmp.loc["up", "difference"] == pytest.approx(0.1)
    assert cmp.loc["up", "ratio"] == pytest.approx(0.4 / 0.3)
    with pytest.raises(KeyError):
        compare_to_baseline(evals, "missing")


def test_default_specs_and_format_results():
    names = [s.name for s in default_specs(PRODUCTS, min_support=3)]
    assert names == [
        "G-TopFreq",
        "P-TopFreq",
        "GP-TopFreq",
        "user-kNN",
        "item-kNN",
        "content TF-IDF",
        "hybrid CF + content",
        "EASE",
        "ALS",
        "TIFU-KNN",
        "TAIW-style",
    ]
    without = [s.name for s in default_specs(None)]
    assert "content TF-IDF" not in without and "hybrid CF + content" not in without
    tab = pd.DataFrame(
        {
            "model": ["m"],
            "k": [10],
            "n_households": [7],
            "ndcg": [0.19612],
            "ndcg_low": [0.1861],
            "ndcg_high": [0.20749],
            "repeat_share": [0.98765],
        }
    )
    out = format_results(tab)
    assert out.loc[("m", 10), "NDCG"] == "0.196 [0.186, 0.207]"
    assert out.loc[("m", 10), "repeat share"] == 0.988 and out.loc[("m", 10), "households"] == 7


def test_user_knn_neighbour_ties_go_to_the_lower_row():
    # h0 shares one product with h1 and with h2 (equal cosine); with one neighbour, h1 (lower row) wins
    d = Interactions.from_baskets(
        baskets([("h0", "x0", 1, "ab"), ("h1", "x1", 1, "ac"), ("h2", "x2", 1, "bd")])
    )
    m = UserKNN(n_neighbors=1).fit(d)
    assert top(m.recommend(["h0"], 2), "h0") == ["a", "c"]
    w = m.neighbours(np.array([0]))
    assert w[0, 1] > 0 and w[0, 2] == 0


def test_format_results_coarse_models():
    tab = pd.DataFrame({"model": ["ALS", "m"], "k": [10, 10], "n_households": [7, 7], "ndcg": [0.19612, 0.19612],
                        "ndcg_low": [0.1861, 0.1861], "ndcg_high": [0.20749, 0.20749], "repeat_share": [0.98765, 0.98765]})
    out = format_results(tab, coarse={"ALS": 2})
    assert out.loc[("ALS", 10), "NDCG"] == "0.20 [0.19, 0.21]" and out.loc[("m", 10), "NDCG"] == "0.196 [0.186, 0.207]"
    assert out.loc[("ALS", 10), "repeat share"] == 0.99 and out.loc[("m", 10), "repeat share"] == 0.988


def test_tuning_households_is_a_seeded_sample_and_tune_scores_only_it():
    from retention_utils.recommend.protocol import tuning_households

    truth = pd.DataFrame({C: [f"h{i}" for i in range(10)], P: ["a"] * 10})
    assert list(tuning_households(truth)) == sorted(truth[C])
    a, b = tuning_households(truth, 4, seed=1), tuning_households(truth, 4, seed=1)
    assert list(a) == list(b) and len(a) == 4 and a.is_monotonic_increasing
    assert list(tuning_households(truth, 99)) == sorted(truth[C])
    for bad in (0, 1.5, True, float("nan")):  # 1.5 used to become 1 silently
        with pytest.raises(ValueError, match="whole number >= 1"):
            tuning_households(truth, bad)
    res = tune(PTopFreq(), {}, DATA, pd.DataFrame({C: ["u1", "u2", "u3"], P: ["a", "b", "c"]}), k=1, households=2)
    assert int(res.table["n_users"].iloc[0]) == 2


def test_paired_ratio_by_hand_and_uses_the_same_resamples():
    from retention_utils.recommend.protocol import paired_ratio

    idx = pd.Index(range(6))
    a = pd.DataFrame({"ndcg": [0.2, 0.4, 0.6, 0.2, 0.4, 0.6]}, index=idx)
    ci = paired_ratio(a, a.assign(ndcg=a["ndcg"] / 2), n_boot=200, seed=3)
    # a is twice b on every household: every resample's ratio is exactly 2
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((2.0, 2.0, 2.0))
    b = pd.DataFrame({"ndcg": [0.1, 0.5, 0.3, 0.3, 0.2, 0.6]}, index=idx)
    ci = paired_ratio(a, b, n_boot=500, seed=3)
    assert ci.estimate == pytest.approx(2.4 / 2.0) and ci.low < 1.2 < ci.high
    with pytest.raises(ValueError, match="same households"):
        paired_ratio(a, b.iloc[:3])


def test_id_rank_is_numeric_for_numbers_and_top_k_stored_prior_breaks_ties():
    from retention_utils.recommend.ranking import id_rank

    assert id_rank(np.array([10, 9, 100])).tolist() == [1, 0, 2]
    assert id_rank(np.array(["10", "9", "100"])).tolist() == [0, 2, 1]  # text ids: string order
    m = sparse.csr_matrix(np.array([[1.0, 1.0, 1.0, 2.0]]))
    items = np.array([9, 10, 11, 12])
    assert top(top_k_stored(np.array(["x"]), items, m, 3), "x") == [12, 9, 10]
    prior = np.array([1.0, 5.0, 3.0, 0.0])  # among the tied 9, 10, 11: 10 then 11
    assert top(top_k_stored(np.array(["x"]), items, m, 3, prior=prior), "x") == [12, 10, 11]
    with pytest.raises(ValueError, match="prior"):
        top_k_stored(np.array(["x"]), items, m, 3, prior=np.array([1.0, np.nan, 0.0, 0.0]))


def test_top_k_stored_cut_at_the_kth_value_keeps_ties_and_equals_a_full_sort():
    from retention_utils.recommend.ranking import _at_or_above_kth

    rng = np.random.default_rng(5)
    n_rows, n_items, k = 30, 200, 5
    dense = np.round(rng.random((n_rows, n_items)), 1)  # ten values: ties straddle every cut
    dense[rng.random((n_rows, n_items)) < 0.3] = 0.0  # unstored
    dense[3, 7:15] = -np.inf  # never recommended
    dense[4] = 0.0
    dense[4, [5, 9]] = [0.5, 0.5]  # a row shorter than k
    dense[5] = 0.0  # an empty row
    m = sparse.csr_matrix(dense)
    users, items = np.array([f"u{i}" for i in range(n_rows)]), np.arange(n_items)
    prior = np.round(rng.random(n_items), 1)
    coo = m.tocoo()
    keep = _at_or_above_kth(coo.row, coo.data, n_rows, k)
    assert keep is not None and keep.sum() < len(coo.data) / 4  # the cut is taken here
    got = top_k_stored(users, items, m, k, prior=prior)
    ref = pd.DataFrame({"u": coo.row, "i": coo.col, "v": coo.data})
    ref = ref[ref["v"] > -np.inf]
    ref = ref.assign(p=-prior[ref["i"]], nv=-ref["v"])
    ref = ref.sort_values(["u", "nv", "p", "i"]).groupby("u").head(k)
    assert got["customer_id"].tolist() == users[ref["u"]].tolist()
    assert got["product_id"].tolist() == ref["i"].tolist()
    assert sorted(got.query("customer_id == 'u4'")["product_id"]) == [5, 9]
    assert "u5" not in set(got["customer_id"])


def test_sparse_dense_in_tiles_is_bit_identical_and_mirror_is_exact():
    from retention_utils.recommend.models import _column_tiles, _mirror_lower, _sparse_dense

    rng = np.random.default_rng(2)
    a = sparse.random(70, 600, density=0.05, format="csr", random_state=3)
    b = rng.standard_normal((600, 600))
    for width in (1, 7, 256, 1000):  # one column per tile, ragged last tile, the default, one tile
        assert np.array_equal(_sparse_dense(a, _column_tiles(b, width)), a @ b)
    for n, block in ((600, 256), (5, 2), (1, 256)):
        m = rng.standard_normal((n, n))
        want = np.tril(m) + np.tril(m, -1).T
        _mirror_lower(m, block)
        assert np.array_equal(m, want)


def test_bad_model_parameters_and_inputs_raise_naming_the_cause():
    from retention_utils.recommend import split
    from retention_utils.recommend.bootstrap import bootstrap_cis
    from retention_utils.schema import SchemaError

    bad_models = [
        (ItemKNN(K=0), "ItemKNN K"),  # K = 0 killed the interpreter inside implicit
        (ItemKNN("bm25", bm25_b=float("nan")), "bm25_b"),
        (ALS(factors=0), "ALS factors"),  # printed a BLAS error and gave all-zero scores
        (ALS(alpha=-1.0), "ALS alpha"),
        (ALS(regularization=-1.0), "ALS regularization"),
        (TIFUKNN(n_neighbors=0), "TIFUKNN n_neighbors"),  # dropped the neighbours' part silently
        (TIFUKNN(n_groups=2.5), "TIFUKNN n_groups"),  # was cut to 2
        (EASE(l2=float("inf")), "EASE l2"),
        (UserKNN(n_neighbors=0), "UserKNN n_neighbors"),  # was "needs at least two households"
        (EASE(min_support=99), "min_support=99"),  # every household got an empty list
    ]
    for model, cause in bad_models:
        with pytest.raises(ValueError, match=cause):
            model.fit(DATA).recommend(["u1"], 2)
    for model in (PTopFreq(), GTopFreq(), EASE(l2=1.0)):
        with pytest.raises(ValueError, match="repeated: \\['u1'\\]"):
            model.fit(DATA).recommend(["u1", "u1"], 2)
        with pytest.raises(TypeError, match="single id"):
            model.fit(DATA).recommend("u1", 2)
    nat = TRAIN.assign(order_ts=TRAIN[T].where(TRAIN[OID] != "o2"))
    for frame, cause in ((nat, "NaT"), (TRAIN.assign(order_ts=TRAIN[T].dt.tz_localize("UTC")), "tz-aware"),
                         (TRAIN.assign(order_ts=TRAIN[T].astype(str)), "must be datetime64")):
        with pytest.raises(SchemaError, match=cause):
            Interactions.from_baskets(frame)
        with pytest.raises(SchemaError, match=cause):  # a NaT basket was in neither train nor truth
            split.global_cutoff_split(frame, "2017-01-03")
    with pytest.raises(ValueError, match="horizon_days"):
        split.global_cutoff_split(TRAIN, "2017-01-03", horizon_days=1.7)  # was cut to 1 day
    with pytest.raises(ValueError, match="is empty"):
        tune(EASE(), {"l2": []}, DATA, pd.DataFrame({C: ["u1"], P: ["a"]}))  # the grid was ignored
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_cis(np.ones((4, 2)), n_boot=10, alpha=2)  # gave low > high


def test_top_k_keeps_the_types_of_mixed_ids():
    # np.asarray([7, "u2"]) is ["7", "u2"]: the int would no longer match a truth frame holding 7
    scores = np.array([[1.0, 2.0], [3.0, 1.0]])
    for recs in (top_k_from_scores([7, "u2"], ["a", 5], scores, 2),
                 top_k_stored([7, "u2"], ["a", 5], sparse.csr_matrix(scores), 2)):
        assert recs[C].tolist() == [7, 7, "u2", "u2"]
        assert recs[P].tolist() == [5, "a", "a", 5]


def test_unclear_errors_name_the_cause():
    # product ids of another type than the training ones: sklearn said "empty vocabulary"
    with pytest.raises(ValueError, match="none of the 4 training products has attributes"):
        ContentTFIDF(PRODUCTS.assign(product_id=[1, 2, 3, 4])).fit(DATA)
    evals = {"P-TopFreq": {10: pd.DataFrame({C: ["u1"], "ndcg": [1.0]})}}
    with pytest.raises(KeyError, match="'EASE' is not among the evaluated models \\['P-TopFreq'\\]"):
        compare_to_baseline(evals, "EASE")
    with pytest.raises(KeyError, match="k=5 was not evaluated for \\['P-TopFreq'\\]"):
        compare_to_baseline(evals, "P-TopFreq", k=5)
