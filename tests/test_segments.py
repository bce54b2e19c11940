import numpy as np
import pandas as pd
import pytest

from retention_utils.models import segments as G

from .conftest import make_tx


def test_quintiles_hand_values():
    v = pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], index=list("abcdefghij"))
    # mid-rank percentiles 0.05, 0.15, ..., 0.95 -> scores 1,1,2,2,3,3,4,4,5,5
    assert G.quintile_scores(v).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert G.quintile_scores(v, higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_heavy_ties_frequency_scores():
    rng = np.random.default_rng(0)
    n_orders = np.concatenate([np.ones(600, int), rng.integers(2, 41, size=400)])
    s = pd.Series(n_orders, index=[f"c{i:04d}" for i in range(1000)])
    f = G.quintile_scores(s)
    assert f[s == 1].nunique() == 1
    assert f[s == 1].iloc[0] == 2  # mid-rank of the 600 ties is 0.3
    shuffled = s.sample(frac=1, random_state=3)
    pd.testing.assert_series_equal(G.quintile_scores(shuffled).sort_index(), f.sort_index())
    # equal values never split across scores
    assert (pd.DataFrame({"v": s, "f": f}).groupby("v")["f"].nunique() == 1).all()


def test_quintiles_refuse_missing():
    with pytest.raises(ValueError, match="missing"):
        G.quintile_scores(pd.Series([1.0, np.nan]))


def _summary(n=50, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.Index([f"c{i:03d}" for i in range(n)], name="customer_id")
    return pd.DataFrame(
        {"days_since_last_order": rng.integers(0, 300, n), "n_orders": rng.integers(1, 30, n),
         "revenue": rng.gamma(2, 50, n)}, index=idx)


def test_every_customer_in_exactly_one_segment_and_shares_sum_to_one():
    summ = _summary(500)
    scores = G.rfm_scores(summ)
    seg = G.rfm_segment(scores)
    assert seg.notna().all() and len(seg) == 500
    assert set(seg.cat.categories) == set(G.SEGMENTS)
    table = G.segment_table(summ, seg)
    assert table["customers"].sum() == 500
    assert table["revenue_share"].sum() == pytest.approx(1.0)
    assert table["customer_share"].sum() == pytest.approx(1.0)


def test_segment_grid_corners():
    scores = pd.DataFrame({"R": [5, 5, 1, 1, 3, 2], "FM": [5, 1, 1, 5, 3, 2]}, index=list("abcdef"))
    assert G.rfm_segment(scores).tolist() == [
        "Champions", "New customers", "Lost", "Can't lose them", "Need attention", "Hibernating"]
    # all 25 cells map to a segment
    full = pd.DataFrame([(r, fm) for r in range(1, 6) for fm in range(1, 6)], columns=["R", "FM"])
    assert G.rfm_segment(full).notna().all()


def test_fm_rounds_halves_up():
    # 4 customers: mid-rank scores are 1, 2, 4, 5; F and M in different orders make odd sums
    summ = pd.DataFrame({"days_since_last_order": [1, 2, 3, 4], "n_orders": [1, 2, 3, 4],
                         "revenue": [20.0, 10.0, 40.0, 30.0]}, index=pd.Index(list("abcd"), name="customer_id"))
    sc = G.rfm_scores(summ)
    assert sc["F"].tolist() == [1, 2, 4, 5] and sc["M"].tolist() == [2, 1, 5, 4]
    assert sc["FM"].tolist() == [2, 2, 5, 5]  # 1.5 -> 2 and 4.5 -> 5
    assert sc["R"].tolist() == [5, 4, 2, 1]
    assert sc["RFM"].tolist() == ["512", "421", "245", "154"]


def test_interest_tags_hand_computed():
    # three customers, three departments
    tx = make_tx([
        ("a", "1", "2020-01-01", "p1", 1, 80.0), ("a", "1", "2020-01-01", "f1", 1, 20.0),
        ("b", "2", "2020-01-01", "p1", 1, 10.0), ("b", "2", "2020-01-01", "g1", 1, 90.0),
        ("c", "3", "2020-01-01", "f1", 1, 50.0), ("c", "3", "2020-01-01", "g1", 1, 50.0),
        ("c", "3", "2020-01-01", "zz", 1, 0.5),  # product not in the table
    ])
    products = pd.DataFrame({"product_id": ["p1", "f1", "g1"], "department": ["PRODUCE", "FROZEN", "GROCERY"]})
    shares, n_unknown = G.spend_shares(tx, products)
    assert n_unknown == 1
    assert shares.loc["a", "PRODUCE"] == pytest.approx(0.8)
    pop = G.population_shares(tx, products)
    # totals: produce 90, frozen 70, grocery 140, unknown 0.5 -> 300.5
    assert pop["PRODUCE"] == pytest.approx(90 / 300.5)
    tags = G.interest_tags(shares, pop, min_lift=2.0, min_share=0.05)
    # a: produce lift 0.8 / 0.2995 = 2.67 -> tagged; frozen 0.2 / 0.233 = 0.86 no
    # b: grocery 0.9 / 0.466 = 1.93 no; produce 0.1 / 0.2995 = 0.33 no
    # c: frozen 0.4975 / 0.233 = 2.14 -> tagged; grocery 0.4975 / 0.466 = 1.07 no
    assert tags[["customer_id", "tag"]].values.tolist() == [["a", "produce-heavy"], ["c", "frozen-heavy"]]
    assert tags.loc[0, "lift"] == pytest.approx(0.8 / (90 / 300.5))
    per = G.tags_per_customer(tags, shares.index)
    assert per.tolist() == ["produce-heavy", "", "frozen-heavy"]


def test_value_deciles_and_lorenz():
    summ = pd.DataFrame(
        {"revenue": [100.0, 50, 50, 10, 0.0, 5, 5, 5, 5, 5], "n_orders": [10, 5, 5, 1, 1, 1, 1, 1, 1, 1],
         "tenure_days": [29, 0, 0, 0, 0, 0, 0, 0, 0, 0], "average_order_value": [10.0] * 10},
        index=pd.Index([f"c{i}" for i in range(10)], name="customer_id"))
    v = G.value_table(summ)
    assert v.loc["c0", "value_decile"] == 1
    assert v.loc["c1", "value_decile"] == 2 and v.loc["c2", "value_decile"] == 3  # tie broken by id
    assert v.loc["c0", "orders_per_month"] == pytest.approx(10 / (30 / 30.4375))
    d = G.decile_table(v)
    assert d["revenue_share"].sum() == pytest.approx(1.0)
    assert d.loc[1, "revenue_share"] == pytest.approx(100 / 235)
    lc = G.lorenz_curve(summ["revenue"])
    assert lc.iloc[1]["revenue_share"] == pytest.approx(100 / 235)
    assert lc.iloc[-1].tolist() == [1.0, 1.0]
    assert G.gini(pd.Series([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert G.gini(pd.Series([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)


def test_demographic_mix_keeps_customers_without_demographics():
    seg = pd.Series(pd.Categorical(["A", "A", "B", "B"], categories=["A", "B", "C"]), index=list("wxyz"))
    demo = pd.DataFrame({"customer_id": ["w", "y"], "age": ["19-24", "65+"]})
    has = G.demographics_coverage(seg.index, demo)
    assert has.tolist() == [True, False, True, False]
    mix = G.mix_with_and_without(seg, has)
    assert mix.loc["A", "all"] == 0.5 and mix.loc["A", "with_demographics"] == 0.5
    assert mix.loc["C"].tolist() == [0.0, 0.0, 0.0, 0]
    assert mix["n_with"].sum() == 2


def test_decile_table_with_fewer_than_ten_customers():
    summ = pd.DataFrame({"revenue": [5.0, 3.0, 1.0], "n_orders": [1, 1, 1], "tenure_days": [0, 0, 0],
                         "average_order_value": [5.0, 3.0, 1.0]}, index=pd.Index(list("abc"), name="customer_id"))
    d = G.decile_table(G.value_table(summ))
    assert list(d.index) == list(range(1, 11))
    assert d["customers"].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]  # ranks 0, 1, 2 -> 0, 3, 6 tenths
    assert d["revenue_share"].sum() == pytest.approx(1.0)
