import numpy as np
import pandas as pd
import pytest

from retention_utils.models import clustering as C


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0]], dtype=float)
    x = np.vstack([rng.normal(c, 0.5, size=(600, 3)) for c in centres])
    return pd.DataFrame(x, columns=["log_monetary", "b", "c"], index=[f"u{i:04d}" for i in range(1800)])


def test_canonical_ids_do_not_depend_on_the_seed():
    f = _blobs()
    ids = [C.fit_clusters(f, 3, seed).labels for seed in (0, 1, 7, 123)]
    for other in ids[1:]:
        pd.testing.assert_series_equal(ids[0], other)
    # cluster 0 has the highest mean log_monetary: the blob centred at 10
    assert f.loc[ids[0] == 0, "log_monetary"].mean() == pytest.approx(10, abs=0.1)


def test_model_selection_picks_three():
    x = C.scale(_blobs()).to_numpy()
    sel = C.model_selection(x, range(2, 6), seed=0)
    stab = C.stability(x, range(2, 6), seed=0, n_resamples=4)
    k, reason = C.choose_k(sel, stab)
    assert k == 3, reason
    assert sel["gmm_bic"].idxmin() == 3
    assert stab.loc[3, "ari_median"] == pytest.approx(1.0)


def test_canonical_labels_rule():
    lab = np.array([5, 5, 9, 9, 9, 2])
    order_by = np.array([1.0, 1.0, 3.0, 3.0, 3.0, 2.0])
    assert C.canonical_labels(lab, order_by).tolist() == [2, 2, 0, 0, 0, 1]


def test_names_rule_and_uniqueness():
    z = pd.DataFrame({"log_monetary": [1.0, -1.0, 0.0, 0.0], "log_frequency": [1.0, -1.0, 0.0, 0.0],
                      "log_recency": [-1.0, 1.0, 0.0, 0.0]})
    names = C.name_clusters(z, top_tags=pd.Series({0: "produce-heavy"}))
    assert names[0] == "high-value frequent active, produce-heavy"
    assert names[1] == "low-value occasional lapsing"
    assert names[2] == "mid-value (cluster 2)" and names[3] == "mid-value (cluster 3)"


def test_scale_refuses_nan():
    with pytest.raises(ValueError, match="gap_cv"):
        C.scale(pd.DataFrame({"gap_cv": [1.0, np.nan]}))


def test_sample_rows():
    assert C.sample_rows(5, None, 0).tolist() == [0, 1, 2, 3, 4]
    assert C.sample_rows(5, 10, 0).tolist() == [0, 1, 2, 3, 4]
    a = C.sample_rows(1000, 100, 3)
    assert len(a) == 100 and len(set(a)) == 100 and (np.diff(a) > 0).all()
    assert (a == C.sample_rows(1000, 100, 3)).all()


def test_cluster_features_reads_only_the_summary_customers():
    from .conftest import make_tx

    tx = make_tx([
        ("a", "o1", "2020-01-01 10:00", "p1", 1.0, 9.0), ("a", "o1", "2020-01-01 10:00", "p2", 1.0, 1.0),
        ("a", "o2", "2020-01-03 10:00", "p1", 1.0, 5.0), ("a", "o3", "2020-01-07 10:00", "p3", 1.0, 5.0),
        ("b", "o4", "2020-01-02 10:00", "p3", 1.0, 4.0),
        ("z", "o5", "2020-01-02 10:00", "p2", 1.0, 100.0),  # not in the summary: must not move anything
    ])
    summary = pd.DataFrame({"days_since_last_order": [8.0, 3.0], "n_orders": [1.0, 3.0], "revenue": [4.0, 20.0]},
                           index=pd.Index(["b", "a"], name="customer_id"))  # unsorted on purpose
    products = pd.DataFrame({"product_id": ["p1", "p2", "p3"], "department": ["X", "Y", "Z"]})
    f, shares, _ = C.cluster_features(tx, summary, products, n_components=2, seed=0)
    assert list(f.index) == ["a", "b"]
    assert f["log_recency"].tolist() == pytest.approx(np.log([4.0, 9.0]))
    assert f["log_frequency"].tolist() == pytest.approx([np.log(3.0), 0.0])
    assert f["log_monetary"].tolist() == pytest.approx(np.log([21.0, 5.0]))
    assert f.loc["a", "log_basket_size"] == pytest.approx(np.log(4 / 3))  # orders of 2, 1, 1 products
    # a: gaps 2 and 4 days -> cv = 1/3; b has no gap -> imputed with the median of the others
    assert f["gap_cv"].tolist() == pytest.approx([1 / 3, 1 / 3]) and f["gap_cv_imputed"].tolist() == [0.0, 1.0]
    assert list(shares.columns) == ["X", "Y", "Z"] and list(shares.index) == ["a", "b"]
    assert shares.loc["a"].tolist() == pytest.approx([0.7, 0.05, 0.25])
    assert [c for c in f.columns if c.startswith("share_pc")] == ["share_pc1", "share_pc2"]
    # without products: behaviour features only, and gap_cv_imputed dropped when nobody needed it
    g, none, _ = C.cluster_features(tx, summary.loc[["a"]], None)
    assert none is None and "gap_cv_imputed" not in g and "share_pc1" not in g
    with pytest.raises(ValueError, match="no transactions: 'q'"):
        C.cluster_features(tx, summary.rename(index={"b": "q"}), None)


def test_too_few_customers_for_the_k_range():
    x = np.arange(10, dtype=float).reshape(5, 2)
    assert list(C.model_selection(x, range(2, 11), seed=0).index) == [2, 3, 4]
    with pytest.raises(ValueError, match="3 customers are too few"):
        C.model_selection(x[:3], range(3, 5), seed=0)
