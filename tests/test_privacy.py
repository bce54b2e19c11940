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
    env = {P.KEY_ENV: "secret"}
    assert P.pseudonym_key({"name": "shop"}, env).key == b"secret"
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
    out = P.suppress_small_cells(t, "customers", min_cell=10)
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
