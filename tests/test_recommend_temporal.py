"""Tests for retention_utils.recommend.temporal (TAIW-style repurchase kernels), by hand on a tiny log."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

# the toy log of the model tests: u1 buys a on days 1, 2, 3 (b on 1, c on 2); u2 buys b on days 1 and 2
# (c on 1); u3 c, d on day 1
from retention_utils.recommend.models import Interactions, PTopFreq
from retention_utils.recommend.temporal import RepurchaseTimeKernel, repurchase_intervals

from .test_recommend_models import DATA, C, baskets, top


def test_repurchase_intervals_by_hand():
    n, mean, var = repurchase_intervals(DATA)
    np.testing.assert_array_equal(n, [2, 1, 0, 0])  # a: 1 -> 2 -> 3 ; b: 1 -> 2 ; c, d: never twice
    np.testing.assert_allclose(mean, [1, 1, 0, 0])
    np.testing.assert_allclose(var, [0, 0, 0, 0])


def test_exponential_kernel_scores_and_clocks_by_hand():
    m = RepurchaseTimeKernel(pi=0.0, decay_scale=2.0, shrinkage=0.0).fit(DATA)
    params = m.item_parameters()
    np.testing.assert_allclose(params["mu"], [1, 1, 1, 1])  # c, d: floored at min_days = 1
    np.testing.assert_allclose(params["beta"], [2, 2, 2, 2])
    day0 = pd.Timestamp("2017-01-01").value / 86_400e9
    # cutoff clock: the day after the last training basket (day 4), or later if a household is due
    # later (last basket + median gap: u1 3 + 1, u2 2 + 1, u3 1 + all-household median 1)
    np.testing.assert_allclose(m.predict_day() - day0, [4, 4, 4])
    np.testing.assert_allclose(m.set_params(clock="household").predict_day() - day0, [4, 3, 2])
    m.set_params(clock="cutoff")
    own = m.own_scores().toarray()
    e = math.exp
    # u1: a bought 3, 2 and 1 days before day 4; c 2 days before; b 3 days before
    assert own[0, 0] == pytest.approx((e(-1.5) + e(-1) + e(-0.5)) / 2)
    assert own[0, 1] == pytest.approx(e(-1.5) / 2) and own[0, 2] == pytest.approx(e(-1) / 2)
    recs = m.recommend(["u1", "u3", "new"], 4)
    assert top(recs, "u1") == ["a", "c", "b", "d"]  # d: padding (most popular not bought)
    assert recs.loc[recs[C] == "u1", "score"].iloc[3] < 1 <= recs.loc[recs[C] == "u1", "score"].iloc[2]
    # u3: c and d bought together on day 1 tie in time; c is more popular (3 baskets against 1)
    assert top(recs, "u3")[:2] == ["c", "d"]
    assert top(recs, "new") == ["a", "b", "c", "d"]  # unknown household: popularity only


def test_cycle_component_basket_decay_and_propensity_by_hand():
    m = RepurchaseTimeKernel(pi=1.0, decay_scale=2.0, shrinkage=0.0).fit(DATA)
    own = m.own_scores().toarray()
    # pure normal kernel mu = 1, sigma = 1: u2 (day 4) bought b 3 and 2 days before
    phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    assert own[1, 1] == pytest.approx(phi(2) + phi(1))
    m.set_params(pi=0.0, basket_decay=0.5)
    own = m.own_scores().toarray()
    e = math.exp
    # u1's baskets on days 1, 2, 3 are followed by 2, 1, 0 of its baskets
    assert own[0, 0] == pytest.approx((0.25 * e(-1.5) + 0.5 * e(-1) + e(-0.5)) / 2)
    m.set_params(basket_decay=1.0, gamma=1.0)
    # a: 1 household, a repeater -> (1 + 1) / (1 + 2); c: 3 households, none repeats -> 1 / 5
    np.testing.assert_allclose(m.repeat_propensity_, [2 / 3, 2 / 4, 1 / 5, 1 / 3])
    assert m.own_scores().toarray()[0, 2] == pytest.approx(e(-1) / 2 / 5)
    # per product, not per household (in DATA the two orders happen to agree): x buys b in two baskets,
    # y buys a and b once -> a: 1 buyer, no repeater -> 1 / 3; b: 2 buyers, 1 repeater -> 2 / 4; and
    # more households than products must not matter (z, w buy a once each -> a: 3 buyers -> 1 / 5)
    tx = baskets([("x", "o1", 1, "b"), ("x", "o2", 3, "b"), ("y", "o3", 2, "ab")])
    np.testing.assert_allclose(RepurchaseTimeKernel().fit(Interactions.from_baskets(tx)).repeat_propensity_, [1 / 3, 2 / 4])
    tx = baskets([("x", "o1", 1, "b"), ("x", "o2", 3, "b"), ("y", "o3", 2, "ab"), ("z", "o4", 2, "a"), ("w", "o5", 2, "a")])
    np.testing.assert_allclose(RepurchaseTimeKernel().fit(Interactions.from_baskets(tx)).repeat_propensity_, [1 / 5, 2 / 4])


def test_long_memory_tends_to_buy_again_and_bad_parameters_raise():
    m = RepurchaseTimeKernel(pi=0.0, decay_scale=1e6, shrinkage=0.0).fit(DATA)
    # beta = 1e6 days: every purchase weighs 1 / beta, so the scores are the basket counts / beta
    np.testing.assert_allclose(m.own_scores().toarray() * 1e6, DATA.counts.toarray(), rtol=1e-5)
    users = ["u1", "u2", "u3"]
    a, b = m.recommend(users, 1), PTopFreq().fit(DATA).recommend(users, 1)
    assert [top(a, u) for u in ("u1", "u2")] == [top(b, u) for u in ("u1", "u2")] == [["a"], ["b"]]
    for bad in ({"pi": 1.5}, {"basket_decay": 0.0}, {"gamma": -1.0}, {"clock": "tomorrow"}, {"decay_scale": 0}):
        with pytest.raises(ValueError):
            RepurchaseTimeKernel(**bad).fit(DATA).recommend(users, 2)
