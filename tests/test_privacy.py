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
    with pytest.raises(KeyError, match="numerator"):
        P.suppress_small_cells(t, "households", numerators={"n": []})


def test_a_lone_hidden_cell_gets_a_complement_so_no_total_gives_it_away():
    """Hand-computed. Whole table: "e" (4 customers) is the only hidden row, so the shown row with
    the fewest customers ("d", 18) is hidden too; 100 - 60 - 18 would otherwise be e's count."""
    t = pd.DataFrame({"n": [60, 18, 4, 18], "share": [0.6, 0.18, 0.04, 0.18]}, index=["a", "d", "e", "f"])
    out = P.suppress_small_cells(t, "n", 10)
    assert out["n"].tolist() == [60, "(hidden)", "<10", 18]  # the first of the tied 18s
    assert out["share"].tolist() == [0.6, "(hidden)", "<10", 0.18]
    assert P.suppress_small_cells(t, "n", 10, complementary=False)["n"].tolist() == [60, 18, "<10", 18]
    two = P.suppress_small_cells(t.assign(n=[60, 5, 4, 18]), "n", 10)
    assert two["n"].tolist() == [60, "<10", "<10", 18]  # two hidden already: nothing more
    # within groups with totals of their own: a numerator hidden alone in a group, and a zero complement
    g = pd.DataFrame({"type": ["A", "A", "A", "C", "C", "C"], "households": [721, 197, 516, 322, 14, 51],
                      "redeemed": [155, 3, 46, 24, 0, 7]})
    g["rate"] = g["redeemed"] / g["households"]
    out = P.suppress_small_cells(g.set_index("type"), "households", 10, columns=["redeemed", "rate"],
                                 numerators={"redeemed": ["rate"]}, within="type")
    assert out["redeemed"].tolist() == [155, "<10", "(hidden)", 24, "(hidden)", "<10"]  # A: 3 and 46; C: 7 and 0
    assert out["rate"].isin(["<10", "(hidden)"]).tolist() == [False, True, True, False, True, True]
    assert out["households"].tolist() == [721, 197, 516, 322, 14, 51]
    whole = P.suppress_small_cells(g, "households", 10, columns=["redeemed"], numerators={"redeemed": []})
    assert whole["redeemed"].tolist() == [155, "<10", 46, 24, 0, "<10"]  # two hidden in the table: enough
    with pytest.raises(KeyError, match="within"):
        P.suppress_small_cells(g, "households", within="segment")
    assert P.complementary_cells([False, True, False, False], [5, 3, 2, 2]).tolist() == [False, True, True, False]
    assert P.complementary_cells([True, False, True, False], [3, 9, 20, 8], groups=["a", "a", "b", "b"]).tolist() == [
        True, True, True, True]


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
