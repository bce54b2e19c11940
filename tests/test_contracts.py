"""One contract for every recommender and every BTYD model, in the spirit of scikit-learn's
``check_estimator``: parameters survive ``clone``, ``fit`` returns the estimator, outputs have the
documented columns and shapes, ties are broken the documented way, results do not depend on the run,
and unknown or invalid input is refused by name."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from retention_utils.models import btyd
from retention_utils.recommend import models as R

C, P = "customer_id", "product_id"

BASKETS = pd.DataFrame(
    [(c, o, pd.Timestamp("2017-01-01") + pd.Timedelta(days=d), p)
     for c, o, d, prods in [("u1", "o1", 1, "ab"), ("u1", "o2", 2, "ac"), ("u1", "o3", 3, "a"),
                             ("u2", "o4", 1, "bc"), ("u2", "o5", 2, "b"), ("u3", "o6", 1, "cd")]
     for p in prods], columns=[C, "order_id", "order_ts", P])
DATA = R.Interactions.from_baskets(BASKETS)
PRODUCTS = pd.DataFrame({P: list("abcd"), "department": ["X", "X", "Y", "Y"], "category": ["P", "Q", "Q", "R"]})

RECOMMENDERS = {
    "G-TopFreq": lambda: R.GTopFreq(),
    "P-TopFreq": lambda: R.PTopFreq(),
    "GP-TopFreq": lambda: R.GPTopFreq(),
    "segment popularity": lambda: R.SegmentPopularity(pd.Series({"u1": "s", "u2": "s", "u3": "t"})),
    "user-kNN": lambda: R.UserKNN(n_neighbors=2),
    "item-kNN": lambda: R.ItemKNN(K=2),
    "ALS": lambda: R.ALS(factors=2, iterations=3, random_state=0),
    "EASE": lambda: R.EASE(l2=1.0),
    "content": lambda: R.ContentTFIDF(PRODUCTS),
    "hybrid": lambda: R.Hybrid(R.UserKNN(n_neighbors=2), R.ContentTFIDF(PRODUCTS), alpha=0.5),
    "TIFU-KNN": lambda: R.TIFUKNN(n_neighbors=2),
}


@pytest.fixture(params=sorted(RECOMMENDERS), ids=str)
def recommender(request):
    return RECOMMENDERS[request.param]()


def test_recommender_contract(recommender):
    params = recommender.get_params(deep=False)
    twin = clone(recommender)
    assert twin is not recommender and sorted(twin.get_params(deep=False)) == sorted(params)
    with pytest.raises(RuntimeError, match="not fitted"):
        recommender.recommend(["u1"], 2)
    assert recommender.fit(DATA) is recommender
    recs = recommender.recommend(["u1", "u2", "u3"], 3)
    assert list(recs.columns) == [C, P, "score", "rank"]
    assert recs["score"].dtype == np.float64 and np.isfinite(recs["score"]).all()
    for _, g in recs.groupby(C):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        # the documented tie rule: score descending, then str(product_id) ascending
        order = g.sort_values(["score", P], ascending=[False, True], kind="stable")[P].tolist()
        assert g.sort_values("rank")[P].tolist() == order
    again = clone(recommender).fit(DATA).recommend(["u1", "u2", "u3"], 3)
    pd.testing.assert_frame_equal(recs, again)  # the same on every run
    if recommender.handles_unknown:  # cold start: no error; popularity fills, own history has nothing
        unknown = recommender.recommend(["nobody"], 2)
        assert list(unknown.columns) == [C, P, "score", "rank"] and set(unknown[C]) <= {"nobody"}
    else:
        with pytest.raises(ValueError, match="nobody|no training baskets"):
            recommender.recommend(["nobody"], 2)
    with pytest.raises(ValueError):
        recommender.recommend(["u1"], 0)


def test_equal_popularity_ties_go_to_the_lower_product_id():
    # a, b and c are each in 3 baskets: global popularity lists them in str(product_id) order
    recs = R.GTopFreq().fit(DATA).recommend(["u3"], 3)
    assert recs[P].tolist() == ["a", "b", "c"] and recs["score"].nunique() == 1


FREQ = np.array([0, 1, 2, 0, 5, 3, 1, 0, 2, 4], dtype=float)
REC = np.array([0, 10, 20, 0, 30, 25, 5, 0, 12, 28], dtype=float)
T = np.array([30, 35, 40, 20, 32, 30, 38, 25, 33, 31], dtype=float)
SPEND = np.array([0, 12, 20, 0, 15, 9, 30, 0, 11, 14], dtype=float)
BTYD = {
    "BG/NBD": (btyd.BetaGeoFitter, (FREQ, REC, T)),
    "MBG/NBD": (btyd.ModifiedBetaGeoFitter, (FREQ, REC, T)),
    "Pareto/NBD": (btyd.ParetoNBDFitter, (FREQ, REC, T)),
    "Gamma-Gamma": (btyd.GammaGammaFitter, (FREQ, SPEND)),
}


@pytest.mark.filterwarnings("ignore::retention_utils.models.btyd.BTYDBoundaryWarning")
@pytest.mark.parametrize("name", sorted(BTYD))
def test_btyd_contract(name):
    cls, data = BTYD[name]
    model = cls(n_starts=2)
    twin = clone(model)
    assert twin.get_params() == {"n_starts": 2, "max_iter": 1000}
    with pytest.raises(btyd.NotFittedError, match="not fitted"):
        model.expected_spend(FREQ, SPEND) if name == "Gamma-Gamma" else model.probability_alive(FREQ, REC, T)
    assert model.fit(*data) is model
    assert list(model.params_) == list(cls._param_names) and all(np.isfinite(list(model.params_.values())))
    again = clone(model).fit(*data)
    assert again.params_ == model.params_  # deterministic: same starts, same optimum
    if name == "Gamma-Gamma":
        out = model.expected_spend(FREQ, SPEND)
    else:
        out = model.expected_purchases(10.0, FREQ, REC, T)
        alive = model.probability_alive(FREQ, REC, T)
        assert np.all((alive >= 0) & (alive <= 1))
    assert np.shape(out) == (len(FREQ),) and np.all(np.isfinite(out)) and np.all(np.asarray(out) >= 0)
    with pytest.raises(ValueError):
        cls().fit(*[np.r_[a[:-1], -1.0] for a in data])  # a negative count or amount is refused
