import hashlib
import hmac

import pandas as pd
import pytest

from retention_utils import privacy as P


def test_pseudonym_is_keyed_hmac_sha256_truncated():
    expected = "c_" + hmac.new(b"k", b"42", hashlib.sha256).hexdigest()[:16]
    out = P.pseudonymise(pd.Series(["42", 42, None]), b"k")
    assert out.iloc[0] == expected
    assert out.iloc[1] == expected  # same id read as int or str
    assert out.iloc[2] is None
    assert P.pseudonymise(pd.Series(["42"]), b"other").iloc[0] != expected


def test_key_from_environment_then_public_config_then_error():
    env = {P.KEY_ENV: "secret-of-the-shop"}
    assert P.pseudonym_key({"name": "shop"}, env).key == b"secret-of-the-shop"
    public = {"name": "cj", "privacy": {"public_dataset": True, "pseudonym_key": "fixed"}}
    assert P.pseudonym_key(public, {}).key == b"fixed"
    assert P.pseudonym_key(public, {}).source.startswith("config")
    with pytest.raises(P.PrivacyError, match="RETENTION_PSEUDONYM_KEY"):
        P.pseudonym_key({"name": "shop"}, {})
    off = P.pseudonym_key({"privacy": {"pseudonymise": False}}, {})
    assert not off.enabled
    assert P.pseudonymise(pd.Series([7]), off).tolist() == ["7"]
    with pytest.raises(ValueError, match="unknown key"):
        P.pseudonym_key({"privacy": {"pseudonymize": False}}, {})
    with pytest.raises(ValueError, match="pseudonym_key"):
        P.pseudonym_key({"privacy": {"public_dataset": True}}, {})


def test_collision_is_raised(monkeypatch):
    monkeypatch.setattr(P, "DIGITS", 0)
    with pytest.raises(P.PrivacyError, match="same pseudonym"):
        P.pseudonymise(pd.Series(["a", "b"]), b"k")


def test_suppress_small_cells():
    t = pd.DataFrame({"customers": [3, 12], "revenue": [10.0, 99.5]}, index=["x", "y"])
    out = P.suppress_small_cells(t, "customers", min_cell=10, complementary=False)
    assert out.loc["x"].tolist() == ["<10", "<10"]
    assert out.loc["y", "revenue"] == 99.5
    assert list(out.index) == ["x", "y"]
    with pytest.raises(KeyError):
        P.suppress_small_cells(t, "n")


def test_display_ids_pseudonymise_or_hide():
    public = {"privacy": {"public_dataset": True, "pseudonym_key": "k"}}
    assert P.display_ids(pd.Index(["42"]), public)[0] == P.pseudonymise(pd.Series(["42"]), b"k").iloc[0]
    hidden = P.display_ids(pd.Index(["42", "7"]), {"name": "shop"})
    assert list(hidden) == ["customer 1", "customer 2"]
    assert list(P.display_ids(pd.Index(["42"]), {"privacy": {"pseudonymise": False}})) == ["42"]


def test_pseudonymise_table_column_or_index():
    t = pd.DataFrame({"customer_id": ["1", "2"], "v": [1.0, 2.0]})
    out = P.pseudonymise_table(t, b"k")
    assert out["customer_id"].tolist() == P.pseudonymise(t["customer_id"], b"k").tolist()
    assert t["customer_id"].tolist() == ["1", "2"]  # the input is not changed
    idx = P.pseudonymise_table(t.set_index("customer_id"), b"k")
    assert list(idx.index) == out["customer_id"].tolist() and idx.index.name == "customer_id"
    with pytest.raises(KeyError):
        P.pseudonymise_table(t, b"k", column="household")


def test_empty_or_short_keys_are_refused():
    with pytest.raises(P.PrivacyError, match="empty pseudonymisation key"):
        P.pseudonymise(pd.Series(["42"]), "")
    with pytest.raises(P.PrivacyError, match="empty pseudonymisation key"):
        P.pseudonymise(pd.Series(["42"]), b"  ")
    with pytest.raises(P.PrivacyError, match="at least 12 characters"):
        P.pseudonym_key({"name": "shop"}, {P.KEY_ENV: "short"})
    with pytest.raises(P.PrivacyError, match="no pseudonymisation key"):
        P.pseudonym_key({"name": "shop"}, {P.KEY_ENV: "   "})  # white space only counts as unset


def test_one_id_one_pseudonym_however_it_was_read():
    # the schema's id rule: 17850.0 (a float column) and "17850" are the same customer; "007" keeps its zeros
    out = P.pseudonymise(pd.Series([17850.0, "17850", " 17850 ", "007", "7"], dtype=object), b"k")
    assert out.iloc[0] == out.iloc[1] == out.iloc[2]
    assert out.iloc[3] != out.iloc[4]
    assert out.iloc[0] == "c_" + hmac.new(b"k", b"17850", hashlib.sha256).hexdigest()[:16]


def test_small_numerators_are_suppressed_with_what_derives_from_them():
    t = pd.DataFrame({"households": [40, 14, 5], "redeemed": [12, 3, 0], "rate": [0.3, 3 / 14, 0.0]}, index=["a", "b", "c"])
    out = P.suppress_small_cells(t, "households", 10, columns=["redeemed", "rate"], numerators={"redeemed": ["rate"]})
    assert out.loc["a"].tolist() == [40, 12, 0.3]
    assert out.loc["b"].tolist() == [14, "<10", "<10"]  # 3 redeemers of 14: hidden, and the rate that reveals them
    assert out.loc["c"].tolist() == [5, "<10", "<10"]  # the group itself is small
    with pytest.raises(KeyError, match=r"no column\(s\) \['n'\]"):
        P.suppress_small_cells(t, "households", numerators={"n": []})
    with pytest.raises(KeyError, match=r"no column\(s\) \['rte'\]"):  # named wrong: refused even when nothing is small
        P.suppress_small_cells(t.assign(redeemed=[12, 30, 0]), "households", numerators={"redeemed": ["rte"]})


def test_a_lone_hidden_cell_gets_a_complement_so_no_total_gives_it_away():
    """Hand-computed. "e" (4 customers) is the only hidden row: a second row is hidden too, the one
    with the fewest customers among those of at least 2 x 10 - 1 = 19 (so the pair's sum leaves e
    anywhere from 0 to 9, even to a reader who knows the second is at least 10): "g" (25), not "d" or
    "f" (18); with none that large, the first largest."""
    t = pd.DataFrame({"n": [60, 18, 4, 18, 25], "share": [0.48, 0.144, 0.032, 0.144, 0.2]}, index=list("adefg"))
    out = P.suppress_small_cells(t, "n", 10)
    assert out["n"].tolist() == [60, 18, "<10", 18, "(hidden)"]  # g: 25 customers, the fewest of those >= 19
    assert out["share"].tolist() == [0.48, 0.144, "<10", 0.144, "(hidden)"]
    assert P.suppress_small_cells(t, "n", 10, complementary=False)["n"].tolist() == [60, 18, "<10", 18, 25]
    assert P.suppress_small_cells(t.iloc[1:4], "n", 10)["n"].tolist() == ["(hidden)", "<10", 18]  # none >= 19: the first largest
    two = P.suppress_small_cells(t.assign(n=[60, 5, 4, 18, 25]), "n", 10)
    assert two["n"].tolist() == [60, "<10", "<10", 18, 25]  # two hidden already: nothing more
    assert t["n"].tolist() == [60, 18, 4, 18, 25]  # the input is not changed


def test_the_complement_hides_what_derives_from_it_and_never_a_zero():
    """A complement row hides every column of the rule that hid the lone cell, so its own rate does
    not give its count back; a numerator's complement is never a 0 (a pair's sum with a 0 is the
    small cell itself), and is at least 19 when one is."""
    t = pd.DataFrame({"households": [5, 50, 60, 100], "redeemed": [1, 20, 3, 40]}, index=list("abcd"))
    t["rate"] = t["redeemed"] / t["households"]
    out = P.suppress_small_cells(t, "households", 10, numerators={"redeemed": ["rate"]})
    assert out.loc["b"].tolist() == ["(hidden)"] * 3  # households_b is not 20 / 0.4 any more
    assert out.loc["a"].tolist() == ["<10"] * 3 and out.loc["c"].tolist() == [60, "<10", "<10"]
    assert out.loc["d"].tolist() == [100, 40, 0.4]
    g = pd.DataFrame({"type": ["A", "A", "A", "C", "C", "C"], "households": [721, 197, 516, 322, 14, 51],
                      "redeemed": [155, 3, 46, 24, 0, 7]})
    g["rate"] = g["redeemed"] / g["households"]
    out = P.suppress_small_cells(g.set_index("type"), "households", 10, columns=["redeemed", "rate"],
                                 numerators={"redeemed": ["rate"]}, within="type")
    # A: 3 alone -> medium (46, fewer households than heavy); C: 7 alone -> heavy 24, not light's 0
    assert out["redeemed"].tolist() == [155, "<10", "(hidden)", "(hidden)", 0, "<10"]
    assert out["rate"].isin(["<10", "(hidden)"]).tolist() == [False, True, True, True, False, True]
    assert out["households"].tolist() == [721, 197, 516, 322, 14, 51]
    whole = P.suppress_small_cells(g, "households", 10, columns=["redeemed"], numerators={"redeemed": []})
    assert whole["redeemed"].tolist() == [155, "<10", 46, 24, 0, "<10"]  # two hidden in the table: enough
    assert whole["type"].tolist() == g["type"].tolist()


def test_within_groups_and_the_whole_table_and_odd_inputs():
    # a group of one row cannot be complemented within itself, the whole table can: B's 50 is hidden,
    # and then B's own total needs its 60 hidden too
    s = pd.DataFrame({"type": ["A", "B", "B"], "n": [5, 50, 60], "x": [1.0, 2.0, 3.0]})
    out = P.suppress_small_cells(s, "n", within="type")
    assert out["n"].tolist() == ["<10", "(hidden)", "(hidden)"] and out["type"].tolist() == ["A", "B", "B"]
    # integer names: within=0 is column 0, not "no grouping"
    i = pd.DataFrame({0: ["A", "A", "B", "B"], "n": [5, 50, 40, 60]})
    assert P.suppress_small_cells(i, "n", within=0)["n"].tolist() == ["<10", "(hidden)", 40, 60]
    assert P.suppress_small_cells(i, "n")["n"].tolist() == ["<10", 50, "(hidden)", 60]  # no groups: the fewest >= 19
    with pytest.raises(KeyError, match="within"):
        P.suppress_small_cells(s, "n", within="segment")
    with pytest.raises(KeyError, match="within"):
        P.suppress_small_cells(s, "n", within=[None])
    # a missing count hides nothing and is never the complement
    na = pd.DataFrame({"n": pd.array([3, None, 50, 40], dtype="Int64"), "x": [1.0, 2.0, 3.0, 4.0]})
    assert P.suppress_small_cells(na, "n")["x"].tolist() == ["<10", 2.0, 3.0, "(hidden)"]
    assert P.suppress_small_cells(na, "n", complementary=False)["x"].tolist() == ["<10", 2.0, 3.0, 4.0]
    assert P.suppress_small_cells(s.iloc[:0], "n").empty
    assert P.complementary_cells([False, True, False, False], [25, 3, 20, 30]).tolist() == [False, True, True, False]
    assert P.complementary_cells([True, False, True, False], [3, 19, 20, 8], groups=["a", "a", None, None]).tolist() == [
        True, True, True, True]
    with pytest.raises(ValueError, match="4 hidden flags, 3 counts"):
        P.complementary_cells([True, False, False, False], [1, 2, 3])


def test_band_crosstab_hides_small_bands():
    from retention_utils.models.segments import band_crosstab

    ids = [f"c{i}" for i in range(25)]
    group = pd.Series(["x"] * 12 + ["y"] * 13, index=pd.Index(ids, name="customer_id"), name="segment")
    band = ["low"] * 20 + ["high"] * 5  # "high" has 5 customers: a small cell
    customers = pd.DataFrame({"customer_id": ids, "income": band})
    ct = band_crosstab(group, customers, "income", min_cell=10)
    assert ct.attrs["suppressed"] == ["high"]
    assert ct.loc["high (<10)"].isna().all()
    assert ct.loc["low"].tolist() == pytest.approx([12 / 20, 8 / 20])
