"""Tests for retention_utils.recommend.split: hand-built baskets, expected splits worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_utils.recommend.split import (
    basket_items,
    global_cutoff_protocol,
    global_cutoff_split,
    last_basket_protocol,
)
from retention_utils.schema import SchemaError

C, OID, T, P = "customer_id", "order_id", "order_ts", "product_id"


def lines(rows):
    """rows: (customer, order, 'YYYY-MM-DD[ HH:MM]', [products])"""
    out = [(c, o, pd.Timestamp(ts), p) for c, o, ts, prods in rows for p in prods]
    df = pd.DataFrame(out, columns=[C, OID, T, P])
    df["quantity"] = 1.0
    df["revenue"] = 1.0
    return df


# A: four baskets, two before the cutoff 2017-01-08; B: one before; C: new after the cutoff;
# D: nothing after the cutoff; E: two baskets at the same time after the cutoff.
TX = lines(
    [
        ("A", "a1", "2017-01-01", ["x", "y"]),
        ("A", "a2", "2017-01-05", ["x"]),
        ("A", "a3", "2017-01-10", ["y", "z"]),
        ("A", "a4", "2017-01-12", ["w"]),
        ("A", "a5", "2017-01-20", ["x"]),
        ("B", "b1", "2017-01-02", ["y"]),
        ("B", "b2", "2017-01-12", ["z"]),
        ("C", "c1", "2017-01-15", ["x"]),
        ("D", "d1", "2017-01-03", ["z"]),
        ("E", "e0", "2017-01-04", ["v"]),
        ("E", "e1", "2017-01-06", ["v"]),
        ("E", "e9", "2017-01-09 10:00", ["u"]),
        ("E", "e2", "2017-01-09 10:00", ["t"]),
    ]
)
CUT = "2017-01-08"


def pairs(df):
    return sorted(map(tuple, df[[C, P]].to_numpy().tolist()))


# ---------------------------------------------------------------------------------------------
# basket_items
# ---------------------------------------------------------------------------------------------
def test_basket_items_dedupes_and_sorts():
    tx = pd.concat([TX, TX.iloc[[0]]])  # one duplicated line
    b = basket_items(tx.iloc[::-1])
    assert list(b.columns) == [C, OID, T, P]
    assert len(b) == len(TX)
    assert b[OID].tolist()[:5] == ["a1", "a1", "a2", "a3", "a3"]
    # E's two baskets at the same time: ordered by order_id
    assert b.loc[b[C] == "E", OID].tolist() == ["e0", "e1", "e2", "e9"]


def test_basket_items_errors_name_the_problem():
    with pytest.raises(SchemaError, match="product_id"):
        basket_items(TX.drop(columns=P))
    bad = TX.copy()
    bad.loc[1, C] = "Z"  # order a1 now has two customers
    with pytest.raises(SchemaError, match="one customer at one timestamp"):
        basket_items(bad)
    nul = TX.copy()
    nul.loc[3, P] = None
    with pytest.raises(SchemaError, match="'product_id' has null"):
        basket_items(nul)
    with pytest.raises(SchemaError, match="tz-aware"):  # was a numpy TypeError deep in the checks
        basket_items(TX.assign(order_ts=TX["order_ts"].dt.tz_localize("UTC")))


# ---------------------------------------------------------------------------------------------
# global cutoff
# ---------------------------------------------------------------------------------------------
def test_next_basket_split_by_hand():
    s = global_cutoff_split(basket_items(TX), CUT, min_baskets=2)
    # train: a1, a2, b1, d1, e0, e1
    assert sorted(s.train[OID].unique()) == ["a1", "a2", "b1", "d1", "e0", "e1"]
    # next basket: A -> a3 {y, z}; E -> e2 {t} (same time as e9, smaller order_id) ;
    # B (1 train basket) and C (none) are cold; D has no basket after the cutoff
    assert pairs(s.truth) == [("A", "y"), ("A", "z"), ("E", "t")]
    assert pairs(s.cold_truth) == [("B", "z"), ("C", "x")]
    assert s.counts == {
        "households": 5,
        "excluded_no_target": 1,
        "cold": 2,
        "evaluated": 2,
        "train_baskets": 6,
        "train_rows": 7,
        "target_baskets": 4,
    }
    assert list(s.households) == ["A", "E"] and list(s.cold_households) == ["B", "C"]
    assert pairs(s.history(["A"])) == [("A", "x"), ("A", "y")]


def test_horizon_variant_by_hand():
    s = global_cutoff_split(basket_items(TX), CUT, horizon_days=7, min_baskets=2)
    # [01-08, 01-15): A -> a3, a4 {y, z, w}; E -> e2, e9 {t, u}; B -> b2 (cold); C's 01-15 is outside
    assert pairs(s.truth) == [("A", "w"), ("A", "y"), ("A", "z"), ("E", "t"), ("E", "u")]
    assert pairs(s.cold_truth) == [("B", "z")]
    assert s.counts["excluded_no_target"] == 2  # C and D
    assert s.counts["target_baskets"] == 5


def test_no_leak_train_is_strictly_before_and_ignores_the_future():
    b = basket_items(TX)
    s = global_cutoff_split(b, CUT)
    t0 = pd.Timestamp(CUT)
    assert (s.train[T] < t0).all()
    target_orders = b[b[C].isin(s.truth[C]) & (b[T] >= t0)]
    assert (target_orders[T] >= t0).all()
    # change every row at or after the cutoff (drop some, alter others, add a new household): train unchanged
    future = b[T] >= t0
    altered = b.copy()
    altered.loc[future, P] = "changed"
    extra = pd.DataFrame({C: ["N"], OID: ["n1"], T: [pd.Timestamp("2017-01-09")], P: ["q"]})
    for variant in (altered, b[~future | (b[C] == "A")], pd.concat([b, extra], ignore_index=True)):
        s2 = global_cutoff_split(variant, CUT)
        pd.testing.assert_frame_equal(s2.train, s.train)


def test_protocol_validation_never_sees_the_test_period():
    b = basket_items(TX)
    pr = global_cutoff_protocol(b, CUT, "2017-01-04", min_baskets=1)
    v = pr.validation
    assert (v.train[T] < pd.Timestamp("2017-01-04")).all()
    # next basket in [01-04, 01-08): A -> a2 {x}; E -> e0 {v} (E has no basket before 01-04: cold);
    # B (next 01-12 >= test cutoff) and D have none: excluded; C is unseen before 01-08
    assert pairs(v.truth) == [("A", "x")]
    assert pairs(v.cold_truth) == [("E", "v")]
    assert v.counts["excluded_no_target"] == 2 and v.counts["households"] == 4
    assert pr.test.cutoff == pd.Timestamp(CUT)
    table = pr.counts()
    # test (min_baskets=1): A, B, E are warm, C (no basket before 01-08) is cold, D excluded
    assert list(table.columns) == ["validation", "test"]
    assert table.loc[["evaluated", "cold", "excluded_no_target"], "test"].tolist() == [3, 1, 1]


def test_protocol_errors():
    b = basket_items(TX)
    with pytest.raises(ValueError, match="before test_cutoff"):
        global_cutoff_protocol(b, CUT, CUT)
    with pytest.raises(ValueError, match="overlaps the test period"):
        global_cutoff_protocol(b, CUT, "2017-01-05", horizon_days=7)
    with pytest.raises(ValueError, match="no basket before"):
        global_cutoff_split(b, "2016-12-01")
    with pytest.raises(ValueError, match="no basket at or after"):
        global_cutoff_split(b, "2017-02-01")
    with pytest.raises(ValueError, match="min_baskets"):
        global_cutoff_split(b, CUT, min_baskets=0)


# ---------------------------------------------------------------------------------------------
# last basket (Romanov et al. 2023)
# ---------------------------------------------------------------------------------------------
def test_last_basket_protocol_by_hand():
    tx = lines(
        [
            ("A", "a1", "2017-01-01", ["x", "y"]),
            ("A", "a2", "2017-01-02", ["x"]),
            ("A", "a3", "2017-01-03", ["y", "x"]),
            ("A", "a4", "2017-01-04", ["q"]),  # q is bought once: dropped, so a4 disappears
            ("B", "b1", "2017-01-01", ["y"]),
            ("B", "b2", "2017-01-05", ["x"]),
            ("B", "b3", "2017-01-06", ["y"]),
            ("C", "c1", "2017-01-01", ["x"]),  # C has 2 baskets: dropped
            ("C", "c2", "2017-01-09", ["y"]),
            ("D", "d1", "2017-01-01", ["x"]),  # D keeps 3 baskets, two of them only q-like items
            ("D", "d2", "2017-01-02", ["r"]),
            ("D", "d3", "2017-01-03", ["s"]),
        ]
    )
    pr = last_basket_protocol(basket_items(tx), min_baskets=3, min_item_baskets=2)
    test, val = pr.test, pr.validation
    # A's last remaining basket is a3, B's is b3; D is left with one basket -> train only
    assert pairs(test.truth) == [("A", "x"), ("A", "y"), ("B", "y")]
    assert pairs(val.truth) == [("A", "x"), ("B", "x")]
    assert sorted(test.train[OID].unique()) == ["a1", "a2", "b1", "b2", "d1"]
    assert sorted(val.train[OID].unique()) == ["a1", "b1", "d1"]
    assert test.counts["households"] == 4 and test.counts["dropped_few_baskets"] == 1
    assert test.counts["dropped_items"] == 3  # q, r, s
    assert test.counts["train_only"] == 1 and test.counts["evaluated"] == 2
    assert test.cold_truth.empty and test.cutoff is None


def test_last_basket_each_household_trains_only_on_its_earlier_baskets():
    rng = np.random.default_rng(4)
    rows = []
    for h in range(30):
        for j in range(int(rng.integers(3, 9))):
            day = pd.Timestamp("2017-01-01") + pd.Timedelta(days=int(rng.integers(0, 60)))
            rows.append((f"h{h}", f"h{h}o{j}", str(day), [f"p{int(i)}" for i in rng.integers(0, 6, 3)]))
    b = basket_items(lines(rows))
    pr = last_basket_protocol(b, min_baskets=3, min_item_baskets=1)
    heads = b.drop_duplicates(OID).sort_values([C, T, OID])  # (time, order id) order per household
    for split, pos in ((pr.test, 1), (pr.validation, 2)):
        for h, grp in heads.groupby(C):
            target = grp[OID].iloc[-pos]
            expected_truth = sorted(b.loc[b[OID] == target, P].unique())
            assert sorted(split.truth.loc[split.truth[C] == h, P]) == expected_truth, h
            # trained on exactly the baskets before the target, never on the target or later ones
            assert sorted(split.train.loc[split.train[C] == h, OID].unique()) == sorted(
                grp[OID].iloc[:-pos]
            ), h


def test_require_products_gives_a_plain_message():
    from retention_utils.recommend.split import require_products

    one = pd.DataFrame({P: ["CD", "CD"]})
    with pytest.raises(ValueError, match=r"cdnow: .* 1 distinct product\(s\) \['CD'\]"):
        require_products(one, None, "cdnow")
    with pytest.raises(ValueError, match="needs a product table"):
        require_products(TX, None, "shop")
    require_products(TX, pd.DataFrame({P: ["x"], "department": ["D"]}))  # passes


def _same_interactions(a, b):
    pd.testing.assert_index_equal(a.users, b.users)
    pd.testing.assert_index_equal(a.items, b.items)
    for f in ("counts", "baskets"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape and (x != y).nnz == 0
    np.testing.assert_array_equal(a.basket_user, b.basket_user)
    np.testing.assert_array_equal(a.basket_day, b.basket_day)


@pytest.mark.parametrize("ids", ["text", "int"])
def test_require_protocols_on_codes_equals_each_function_on_the_ids(ids):
    """require_protocols builds on sorted integer codes and puts the ids back: every frame, dtype and
    count equals the split functions run on the ids themselves (text ids "10" < "9" and int ids
    9 < 10 sort differently, so a relabelling that did not keep the order would change the splits)."""
    from retention_utils import schema as S
    from retention_utils.recommend.split import Protocol, _most_households_per_product, require_protocols

    rng = np.random.default_rng(8)
    rows = []
    for h in rng.permutation(40):
        for j in range(int(rng.integers(2, 10))):
            day = pd.Timestamp("2017-01-01") + pd.Timedelta(days=int(rng.integers(0, 90)), hours=int(rng.integers(0, 3)))
            rows.append((h, 1000 - 100 * j - h, str(day), [int(i) for i in rng.integers(5, 14, 3)]))
    # two baskets of one household at one time: the order id decides their order, and 9 < 10 as numbers
    # but "10" < "9" as text (Interactions orders baskets by the ids' text)
    rows += [(99, o, f"2017-01-{d:02d}", [5, 6, o]) for o, d in ((9, 5), (10, 5), (11, 9), (12, 15), (13, 20))]
    tx = lines(rows)
    if ids == "text":
        tx = tx.astype({C: str, OID: str, P: str})
    from retention_utils.recommend.models import Interactions

    # another column order and an extra column: both reach the splits as in the plain functions
    b = basket_items(tx)[[P, T, OID, C]].assign(extra=lambda d: np.arange(len(d)))
    primary, window, lit = require_protocols(b, "2017-04-01", 28, 28, 14, min_baskets=3, lit_min_baskets=3, lit_min_item_baskets=2)
    # MIN_ITEM_SUPPORT: the most households per product in the smaller training set, by hand
    pairs = primary.validation.train[[C, P]].drop_duplicates()
    most = int(pairs[P].value_counts().max())
    assert _most_households_per_product(primary.validation.train) == most
    assert _most_households_per_product(primary.validation.train.astype({C: str, P: str})) == most
    require_protocols(b, "2017-04-01", 28, 28, 14, min_baskets=3, lit_min_baskets=3, lit_min_item_baskets=2,
                      min_item_support=most)
    with pytest.raises(S.InsufficientDataError, match=f"MIN_ITEM_SUPPORT={most + 1} households or more \\(the most is {most}\\)"):
        require_protocols(b, "2017-04-01", 28, 28, 14, min_baskets=3, lit_min_baskets=3, lit_min_item_baskets=2,
                          min_item_support=most + 1)
    direct = (
        global_cutoff_protocol(b, "2017-03-04", "2017-02-04", min_baskets=3),
        global_cutoff_split(b, "2017-03-04", horizon_days=14, min_baskets=3),
        last_basket_protocol(b, min_baskets=3, min_item_baskets=2),
    )
    for got, want in zip((primary, window, lit), direct, strict=True):
        parts = [(got.validation, want.validation), (got.test, want.test)] if isinstance(want, Protocol) else [(got, want)]
        for g, w in parts:
            assert g.counts == w.counts and g.name == w.name and g.cutoff == w.cutoff
            for f in ("train", "truth", "cold_truth"):
                pd.testing.assert_frame_equal(getattr(g, f), getattr(w, f))
            _same_interactions(g.interactions(), Interactions.from_baskets(w.train))
            assert g._codes is not None and w._codes is None
    assert len(primary.test.cold_truth) and len(lit.test.truth)  # both kinds of rows are exercised
    assert primary.test.train[C].dtype == b[C].dtype
    # a train frame put in its place is what the Interactions are built from, not the kept codes
    primary.test.train = primary.test.train.iloc[:-5].reset_index(drop=True)
    _same_interactions(primary.test.interactions(), Interactions.from_baskets(primary.test.train))
