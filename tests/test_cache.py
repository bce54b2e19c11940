"""The load_clean cache (retention_utils.data.cache): a hit gives the same tables and warnings, and any
change of source file, config, window or code is a miss. The suite runs with the cache off
(tests/conftest.py); each test here points it at its own folder."""

import os
import warnings

import pandas as pd
import pytest
import yaml

from retention_utils.data import cache as K
from retention_utils.data import cleaning as C
from retention_utils.data.cleaning import load_clean

LOG = """customer,order,ts,product,qty,amount
c1,o1,2022-01-03 10:00,p1,1,10.00
c1,o1,2022-01-03 10:00,p2,2,5.50
c2,o2,2022-01-05 12:00,p1,1,10.00
c1,o3,2022-02-01 09:00,p1,1,10.00
"""
PRODUCTS = "sku,dept\np1,FOOD\np2,DRINK\n"


def _config(folder, **cleaning):
    (folder / "log.csv").write_text(LOG)
    (folder / "items.csv").write_text(PRODUCTS)
    cfg = {
        "name": "tiny",
        "source": {
            "kind": "file", "path": "log.csv", "products": "items.csv",
            "columns": {"customer_id": "customer", "order_id": "order", "order_ts": "ts", "product_id": "product",
                        "quantity": "qty", "revenue": "amount"},
            "product_columns": {"product_id": "sku", "department": "dept"},
        },
        "cleaning": cleaning,
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The cache in a fresh folder; counts the loads that really read the source."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(K.CACHE_ENV, str(folder))
    calls = []
    real = C._load_clean

    def counted(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(C, "_load_clean", counted)
    return folder, calls


def test_hit_gives_the_same_tables_without_reading_the_source(tmp_path, store):
    folder, calls = store
    cfg = _config(tmp_path)
    ds1, rep1 = load_clean(cfg, "2022-01-01", "2022-12-31")
    ds2, rep2 = load_clean(cfg, "2022-01-01", "2022-12-31")
    assert len(calls) == 1
    pd.testing.assert_frame_equal(ds1.transactions, ds2.transactions)
    pd.testing.assert_frame_equal(ds1.products, ds2.products)
    assert rep2.summary() == rep1.summary() and rep2.rows_kept == 4
    assert ds2.window == ds1.window
    assert ds2.transactions is not ds1.transactions  # each call gets its own copy to modify
    assert len(list(folder.glob("load_clean-*.pkl"))) == 1


def test_a_changed_source_file_config_or_window_is_a_miss(tmp_path, store):
    _, calls = store
    cfg = _config(tmp_path)
    load_clean(cfg, "2022-01-01", "2022-12-31")
    load_clean(cfg, "2022-01-01", "2022-01-31")  # another window
    assert len(calls) == 2
    # the products file changes (same size, later time): the department of p2 is read again
    (tmp_path / "items.csv").write_text(PRODUCTS.replace("DRINK", "OTHER"))
    st = os.stat(tmp_path / "items.csv")
    os.utime(tmp_path / "items.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ds, _ = load_clean(cfg, "2022-01-01", "2022-12-31")
    assert len(calls) == 3
    assert ds.products.set_index("product_id").loc["p2", "department"] == "OTHER"
    # a cleaning rule in the YAML changes: the new rule is applied
    cfg2 = _config(tmp_path, exclude_departments=["DRINK"])  # (rewrites both files)
    ds, rep = load_clean(cfg2, "2022-01-01", "2022-12-31")
    assert len(calls) == 4 and rep.rows_kept == 3
    # the code changes: a miss
    K.code_fingerprint.cache_clear()
    real = K.code_fingerprint()
    K.code_fingerprint.cache_clear()
    try:
        orig = K._PACKAGES
        K._PACKAGES = (*orig, "a-package-that-is-not-installed")
        assert K.code_fingerprint() != real
        load_clean(cfg2, "2022-01-01", "2022-12-31")
        assert len(calls) == 5
    finally:
        K._PACKAGES = orig
        K.code_fingerprint.cache_clear()


def _warning_first(monkeypatch, message):
    """The real load, after a UserWarning ``message``."""
    real = C._load_clean

    def warning(*args):
        warnings.warn(message, UserWarning, stacklevel=1)
        return real(*args)

    monkeypatch.setattr(C, "_load_clean", warning)


def test_warnings_of_the_first_load_are_given_again_on_a_hit(tmp_path, store, monkeypatch):
    cfg = _config(tmp_path)
    _warning_first(monkeypatch, "a note about the data")
    for _ in range(2):
        with pytest.warns(UserWarning, match="a note about the data"):
            load_clean(cfg, "2022-01-01", "2022-12-31")


def test_off_writes_nothing_and_cache_false_bypasses(tmp_path, store, monkeypatch):
    folder, calls = store
    cfg = _config(tmp_path)
    load_clean(cfg, "2022-01-01", "2022-12-31", cache=False)
    assert not folder.exists() and len(calls) == 1
    monkeypatch.setenv(K.CACHE_ENV, "off")
    assert K.cache_dir() is None
    load_clean(cfg, "2022-01-01", "2022-12-31")
    load_clean(cfg, "2022-01-01", "2022-12-31")
    assert not folder.exists() and len(calls) == 3


def test_an_unwritable_folder_warns_and_still_loads(tmp_path, store, monkeypatch):
    _, calls = store
    cfg = _config(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(K.CACHE_ENV, str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot be written.*RETENTION_CACHE_DIR"):
        ds, rep = load_clean(cfg, "2022-01-01", "2022-12-31")
    assert rep.rows_kept == 4 and len(calls) == 1


def test_a_damaged_file_is_computed_again_and_old_files_are_evicted(tmp_path, store, monkeypatch):
    folder, calls = store
    cfg = _config(tmp_path)
    load_clean(cfg, "2022-01-01", "2022-12-31")
    (path,) = folder.glob("load_clean-*.pkl")
    path.write_bytes(path.read_bytes()[:100])  # truncated
    ds, rep = load_clean(cfg, "2022-01-01", "2022-12-31")
    assert len(calls) == 2 and rep.rows_kept == 4
    monkeypatch.setattr(K, "KEEP", 2)
    for day in ("2022-01-10", "2022-01-20", "2022-01-30"):
        load_clean(cfg, "2022-01-01", day)
    kept = sorted(folder.glob("load_clean-*.pkl"), key=lambda q: q.stat().st_mtime_ns)
    assert len(kept) == 2
    # the two latest windows are still hits
    n = len(calls)
    load_clean(cfg, "2022-01-01", "2022-01-30")
    load_clean(cfg, "2022-01-01", "2022-01-20")
    assert len(calls) == n


def test_source_files_lists_every_file_a_config_reads(tmp_path):
    cfg_path = _config(tmp_path)
    cfg = yaml.safe_load(open(cfg_path))
    cfg["_path"] = cfg_path
    assert [p.name for p in K.source_files(cfg)] == ["items.csv", "log.csv"]
    part = tmp_path / "parts"
    part.mkdir()
    (part / "a.parquet").write_bytes(b"x")
    (part / "b.parquet").write_bytes(b"y")
    cfg["source"]["join"] = [{"path": "parts", "key": "order"}]
    assert [p.name for p in K.source_files(cfg)] == ["items.csv", "log.csv", "a.parquet", "b.parquet"]
    cj = K.source_files({"source": {"kind": "complete_journey"}})
    assert "transactions.parquet" in [p.name for p in cj]
    assert [p.name for p in K.source_files({"source": {"kind": "cdnow"}})] == ["CDNOW_master.txt", "CDNOW_sample.txt"]


def test_relative_paths_of_a_config_dict_resolve_from_the_working_folder(tmp_path, store, monkeypatch):
    _, calls = store
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _config(tmp_path / name)
    (tmp_path / "b" / "log.csv").write_text(LOG.replace("10.00", "20.00"))
    cfg = yaml.safe_load(open(tmp_path / "a" / "tiny.yaml"))  # a dict: no _path
    monkeypatch.chdir(tmp_path / "a")
    assert [p.parent.name for p in K.source_files(cfg)] == ["a", "a"]
    _, rep_a = load_clean(cfg, "2022-01-01", "2022-12-31")
    monkeypatch.chdir(tmp_path / "b")  # same dict, other files: not a's result
    _, rep_b = load_clean(cfg, "2022-01-01", "2022-12-31")
    assert len(calls) == 2 and rep_b.revenue_kept == pytest.approx(rep_a.revenue_kept + 30)


def test_only_path_keys_count_and_path_objects_too(tmp_path):
    cfg = yaml.safe_load(open(_config(tmp_path)))
    cfg["source"].update(decimal=".", sep="/", encoding="utf-8")  # not paths, though "." and "/" exist
    cfg["source"]["path"] = tmp_path / "log.csv"  # a Path object in a config dict
    cfg["source"]["customer_id_from"] = {"path": "people.csv", "key": "order", "column": "person"}
    (tmp_path / "people.csv").write_text("order,person\n")
    cfg["_path"] = str(tmp_path / "tiny.yaml")
    assert [p.name for p in K.source_files(cfg)] == ["items.csv", "log.csv", "people.csv"]


def test_config_keys_that_are_not_text_and_one_day_written_three_ways(tmp_path, store):
    import datetime

    folder, calls = store
    path = _config(tmp_path)
    cfg = yaml.safe_load(open(path))
    cfg["_path"] = path
    cfg["parameters"] = {datetime.date(2022, 11, 25): "black friday", 2: "two", True: "on"}  # as YAML reads them
    for end in ("2022-12-31", datetime.date(2022, 12, 31), pd.Timestamp("2022-12-31")):
        load_clean(cfg, "2022-01-01", end)
    assert len(calls) == 1 and len(list(folder.glob("load_clean-*.pkl"))) == 1


def test_warnings_come_before_the_error_of_a_failed_load(tmp_path, store, monkeypatch):
    cfg = _config(tmp_path)
    _warning_first(monkeypatch, "the clue")
    with pytest.warns(UserWarning, match="the clue"), pytest.raises(ValueError, match="no line is left"):
        load_clean(cfg, "2030-01-01", "2030-12-31")


def test_a_failed_write_leaves_no_partial_file_and_a_foreign_file_is_replaced(tmp_path, store, monkeypatch):
    folder, calls = store
    cfg = _config(tmp_path)

    def full_disk(obj, fh, protocol=None):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(K.pickle, "dump", full_disk)
    with pytest.warns(RuntimeWarning, match="No space left"):
        load_clean(cfg, "2022-01-01", "2022-12-31")
    assert list(folder.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setenv(K.CACHE_ENV, str(folder))
    ds, _ = load_clean(cfg, "2022-01-01", "2022-12-31")
    (written,) = folder.glob("load_clean-*.pkl")
    written.write_bytes(K.pickle.dumps(("a", "b", [])))  # unpickles, but is not a load_clean result
    ds2, rep2 = load_clean(cfg, "2022-01-01", "2022-12-31")
    pd.testing.assert_frame_equal(ds2.transactions, ds.transactions)
    assert rep2.rows_kept == 4


def test_blank_and_variable_cache_folder_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(K.CACHE_ENV, "   ")
    assert K.cache_dir() == tmp_path / "xdg" / "retention-utils"
    monkeypatch.setenv("SOMEWHERE", str(tmp_path / "w"))
    monkeypatch.setenv(K.CACHE_ENV, "$SOMEWHERE/c")
    assert K.cache_dir() == tmp_path / "w" / "c"
    monkeypatch.setenv(K.CACHE_ENV, " OFF ")
    assert K.cache_dir() is None


def test_the_runners_check_fills_the_cache_with_what_load_clean_returns(tmp_path, store, monkeypatch):
    import datetime

    from retention_utils.data import check as CH

    folder, calls = store
    cfg = _config(tmp_path)
    want, want_rep = load_clean(cfg, "2022-01-01", "2022-12-31", cache=False)
    real = CH.load_dataset

    def noted(*args):  # a warning of the load: the notebook's load must give it too
        warnings.warn("a note from loading", UserWarning, stacklevel=1)
        return real(*args)

    monkeypatch.setattr(CH, "load_dataset", noted)
    CH.check_dataset(cfg, [("2022-01-01", "2022-12-31")])
    monkeypatch.setattr(C, "_load_clean", lambda *a: pytest.fail("loaded from the source"))
    with pytest.warns(UserWarning, match="a note from loading"):
        ds, rep = load_clean(cfg, datetime.date(2022, 1, 1), datetime.date(2022, 12, 31))
    pd.testing.assert_frame_equal(ds.transactions, want.transactions)
    pd.testing.assert_frame_equal(ds.products, want.products)
    assert ds.window == want.window and ds.config == want.config and ds.name == want.name
    assert rep.summary() == want_rep.summary()
    pd.testing.assert_series_equal(rep.row_reason, want_rep.row_reason)


def test_a_result_above_the_size_limit_is_not_kept(tmp_path, store, monkeypatch):
    folder, calls = store
    cfg = _config(tmp_path)
    monkeypatch.setenv(K.MAX_ENV, "1e-9")  # 1 byte
    with pytest.warns(RuntimeWarning, match=r"not cached: .* above 0.0 GB \(set RETENTION_CACHE_MAX_GB"):
        load_clean(cfg, "2022-01-01", "2022-12-31")
    assert list(folder.iterdir()) == []  # no partial file either
    monkeypatch.setenv(K.MAX_ENV, "lots")
    with pytest.raises(ValueError, match="RETENTION_CACHE_MAX_GB='lots' is not a number"):
        load_clean(cfg, "2022-01-01", "2022-12-31")
