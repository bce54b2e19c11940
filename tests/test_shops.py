"""Shop exports load from a config alone, and a wrong config stops before anything runs (issue 10).

Each test writes a small file shaped like a real export (tests/fixtures_shops.py, made-up ids and
values) and checks hand-computed values. The three shapes of the README's "Bring your own data" run on
the README's own configs. Runner tests that start kernels are in tests/test_small_data.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from retention_utils import reports
from retention_utils import schema as S
from retention_utils.data.check import check_dataset
from retention_utils.data.cleaning import load_clean
from retention_utils.data.datasets import (
    ORDER_PRODUCT,
    SOURCE_CUSTOMER_ID,
    RevenueLooksLikePriceWarning,
    load_config,
    load_dataset,
    load_transactions_file,
)
from retention_utils.recommend.split import require_products
from retention_utils.tables.summary import customer_summary

from . import fixtures_shops as F


def _load(cfg_path, **override_source):
    cfg = load_config(str(cfg_path))
    cfg["source"] = {**cfg["source"], **override_source}
    p = cfg["parameters"]
    return load_clean(cfg, p["OBSERVATION_START"], p["OBSERVATION_END"])


# ------------------------------------------------------------------------------------------------
# 1. the person id in a second table; order lines + order headers
# ------------------------------------------------------------------------------------------------


def test_marketplace_person_with_two_orders_is_one_customer(tmp_path):
    ds, rep = _load(F.write_marketplace(tmp_path))
    tx = ds.transactions
    s = customer_summary(tx, "2018-08-31")
    # p1 ordered twice under the per-order ids k1 and k2; p2 twice under k3 and k5; p3 once (two units)
    assert list(s.index) == ["p1", "p2", "p3"]
    assert s["frequency"].tolist() == [1, 1, 0]
    assert s["n_orders"].tolist() == [2, 2, 1]
    assert s["revenue"].tolist() == pytest.approx([25.5, 119.9, 11.0])
    assert tx.groupby("customer_id")[SOURCE_CUSTOMER_ID].agg(lambda v: sorted(set(v))).to_dict() == {
        "p1": ["k1", "k2"], "p2": ["k3", "k5"], "p3": ["k4"]}
    # the order header's timestamp reached every line; one unit per item row
    assert tx.loc[tx["order_id"] == "o2", "order_ts"].tolist() == [pd.Timestamp("2017-04-10 14:30")]
    assert (tx["quantity"] == 1).all() and len(tx) == 7 and rep.revenue_kept == pytest.approx(156.4)
    assert any("5 customer_id value(s) in the lines belong to 3 customer(s)" in n for n in ds.notes)
    # without customer_id_from every order is its own customer: frequency 0, repeat rate 0 %
    cfg = load_config(str(tmp_path / "marketplace.yaml"))
    cfg["source"].pop("customer_id_from")
    alone = load_dataset(cfg).transactions
    assert customer_summary(alone)["frequency"].tolist() == [0] * 5


def test_joins_refuse_unmatched_lines_duplicate_keys_and_clashing_columns(tmp_path):
    cfg_path = F.write_marketplace(tmp_path)
    items = tmp_path / "marketplace" / "order_items.csv"
    orders = tmp_path / "marketplace" / "orders.csv"
    people = tmp_path / "marketplace" / "customers.csv"
    text = items.read_text()
    items.write_text(text + "o9,1,P01,s1,10.00,2.50\n")
    with pytest.raises(S.SchemaError, match=r"join #1: 1 line\(s\) have a 'order_id' that is not in orders.csv"):
        load_dataset(str(cfg_path))
    items.write_text(text)
    o = orders.read_text()
    orders.write_text(o + "o1,k9,delivered,2017-03-06 10:00:00\n")
    with pytest.raises(S.SchemaError, match=r"key 'order_id' of orders.csv must be unique"):
        load_dataset(str(cfg_path))
    orders.write_text(o)
    with pytest.raises(S.SchemaError, match=r"\['order_status'\] of orders.csv are also in the lines"):
        cfg = load_config(str(cfg_path))
        cfg["source"]["join"] = [{"path": "marketplace/orders.csv", "key": "order_id"},
                                 {"path": "marketplace/orders.csv", "key": "order_id", "columns": ["order_status"]}]
        load_dataset(cfg)
    c = people.read_text()
    people.write_text(c.replace("k5,p2,", "k5,p7,") + "k5,p2,rio de janeiro\n")
    with pytest.raises(S.SchemaError, match=r"one 'customer_id' maps to several 'customer_unique_id' values"):
        load_dataset(str(cfg_path))
    people.write_text("\n".join(c.splitlines()[:-1]) + "\n")  # k5 gone
    with pytest.raises(S.SchemaError, match=r"customer_id_from: 1 line\(s\) have a customer_id not in customers.csv"):
        load_dataset(str(cfg_path))


def test_join_keys_compare_as_ids_and_right_key(tmp_path):
    (tmp_path / "lines.csv").write_text("inv,sku,qty,amount\n536365.0,A,1,2.5\n536366,B,2,4.0\n")
    (tmp_path / "heads.csv").write_text("InvoiceNo,who,when\n536365,c1,2020-01-02\n536366,c2,2020-01-03\n")
    tx = load_transactions_file(tmp_path / "lines.csv", {"order_id": "inv", "product_id": "sku", "quantity": "qty",
                                                          "revenue": "amount", "customer_id": "who", "order_ts": "when"},
                                join=[{"path": tmp_path / "heads.csv", "key": "inv", "right_key": "InvoiceNo"}])
    assert tx["customer_id"].tolist() == ["c1", "c2"] and tx["order_id"].tolist() == ["536365", "536366"]
    assert tx.attrs[S.NORMALISED_IDS] == {"order_id": {"ids": 1, "rows": 1}}


# ------------------------------------------------------------------------------------------------
# 2. order-level data
# ------------------------------------------------------------------------------------------------


def test_order_level_log_loads_and_product_notebooks_say_why_not(tmp_path):
    ds, rep = _load(F.write_order_log(tmp_path))
    tx = ds.transactions
    assert (tx["product_id"] == ORDER_PRODUCT).all() and ds.products is None
    assert tx["quantity"].tolist() == [2, 1, 1, 3, 1]
    s = customer_summary(tx, "2022-12-31")
    assert s.loc["u1", "n_orders"] == 2 and s.loc["u1", "frequency"] == 1 and s.loc["u1", "revenue"] == pytest.approx(54.97)
    assert s["distinct_products"].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="needs a catalogue, but the transactions hold 1 distinct product"):
        require_products(tx, ds.products, "order_log")
    # without a quantity column every order counts 1 unit; a product column contradicts order_level
    (tmp_path / "pay.csv").write_text("order,who,paid_at,amount\nA1,x,2022-01-03,10\nA2,x,2022-02-03,12.5\n")
    out = load_transactions_file(tmp_path / "pay.csv", {"order_id": "order", "customer_id": "who", "order_ts": "paid_at",
                                                         "revenue": "amount"}, order_level=True)
    assert out["quantity"].tolist() == [1.0, 1.0] and out["product_id"].tolist() == ["ORDER", "ORDER"]
    (tmp_path / "sku.csv").write_text("order,who,paid_at,amount,sku\nA1,x,2022-01-03,10,s1\n")
    with pytest.raises(ValueError, match="order_level: true is for logs without a product column"):
        load_transactions_file(tmp_path / "sku.csv", {"order_id": "order", "customer_id": "who", "order_ts": "paid_at",
                                                      "revenue": "amount", "product_id": "sku"}, order_level=True)


# ------------------------------------------------------------------------------------------------
# 3. unit prices, 4. ids written as decimals, 9. net value, 10. distinct products
# ------------------------------------------------------------------------------------------------


def test_invoice_lines_unit_price_decimal_ids_returns_and_products(tmp_path):
    ds, rep = _load(F.write_online_retail(tmp_path))
    tx = ds.transactions
    # revenue = Quantity x UnitPrice, by hand over the 13 lines: 232.54 in, 156.04 kept
    assert rep.revenue_in == pytest.approx(232.54) and rep.revenue_kept == pytest.approx(156.04)
    assert tx.loc[tx["order_id"] == "536367", "revenue"].tolist() == pytest.approx([54.08, 12.6, 12.6])
    # 17850.0 and 17850 are one customer; 4 ids were written as decimals on 9 rows; the blank id is removed
    assert sorted(tx["customer_id"].unique()) == ["12583", "13047", "17850"]
    assert rep.normalised == {"customer_id": {"ids": 4, "rows": 9}}
    assert "customer_id written as decimals ('17850.0' -> '17850'), normalised at load: 4 ids on 9 rows" in rep.summary()
    reasons = {r: int(n) for r, n in rep.removed["rows"].items() if n}
    assert reasons == {"null_customer_id": 1, "cancellation": 1, "cancelled_sale": 1, "unmatched_return": 2}
    assert rep.removed.loc["unmatched_return", "revenue"] == pytest.approx(-13.5)  # returns of sales before the file
    # net value after returns <= 0: 15311 (only a return: leaves) and 12583 (2.10 bought, 8.85 returned: stays)
    assert (rep.customers_non_positive_net, rep.customers_non_positive_net_kept) == (2, 1)
    assert "customers with net value <= 0 after returns: 2 (1 with no line kept leave the analysis; 1 stay" in rep.summary()
    s = customer_summary(tx, "2011-12-09")
    # 13047: 2 invoices, 5 lines, 4 distinct products (84879 twice); 17850: its second invoice was cancelled
    assert s.loc["13047", ["n_orders", "distinct_products"]].tolist() == [2, 4]
    assert s.loc["17850", ["n_orders", "distinct_products", "revenue"]].tolist() == pytest.approx([1, 2, 35.64])
    assert s.loc["13047", "revenue"] == pytest.approx(118.3)


def test_revenue_mapped_from_a_price_column_warns(tmp_path):
    cfg = load_config(str(F.write_online_retail(tmp_path)))
    cols = {k: v for k, v in cfg["source"]["columns"].items() if k != "unit_price"}
    cfg["source"]["columns"] = {**cols, "revenue": "UnitPrice"}
    with pytest.warns(RevenueLooksLikePriceWarning, match=r"'UnitPrice', named like a unit price, while 85% of lines have a quantity above 1"):
        ds = load_dataset(cfg)
    assert ds.transactions["revenue"].sum() == pytest.approx(34.92)  # the prices, not 232.54
    assert any(n.startswith("warning: revenue is mapped from 'UnitPrice'") for n in ds.notes)
    cfg["source"]["columns"] = {**cols, "revenue": "UnitPrice", "unit_price": "UnitPrice"}
    with pytest.raises(S.SchemaError, match=r"maps several canonical names to the same column\(s\) \['UnitPrice'\]"):
        load_dataset(cfg)
    cfg["source"]["columns"] = {**cols, "revenue": "Country", "unit_price": "UnitPrice"}
    with pytest.raises(ValueError, match="map either revenue"):
        load_dataset(cfg)


def test_decimal_ids_in_every_reading():
    out, n_ids, n_rows = S.normalise_ids(pd.Series(["17850.0", "17850", " 17850 ", "", None, "007", "C536379", "12.50", "-3.00"]))
    assert out.tolist() == ["17850", "17850", "17850", None, None, "007", "C536379", "12.50", "-3"]
    assert (n_ids, n_rows) == (2, 2)
    assert S.normalise_ids(pd.Series([17850.0, None, 3.0]))[0].tolist() == ["17850", None, "3"]
    assert S.normalise_ids(pd.Series([17850.0, 17850.5]))[0].tolist() == ["17850", "17850.5"]
    assert S.normalise_ids(pd.Series([1, 2]))[0].tolist() == ["1", "2"]


def test_decimal_ids_counted_when_orders_come_from_the_day(tmp_path):
    from retention_utils.data.cleaning import clean_transactions

    (tmp_path / "log.csv").write_text("customer,date,amount\n17850.0,2022-01-03,5\n17850,2022-01-04,6\n,2022-01-05,7\n")
    tx = load_transactions_file(tmp_path / "log.csv", {"customer_id": "customer", "order_ts": "date", "revenue": "amount"},
                                order_id_from="customer_day", order_level=True)
    assert tx["order_id"].tolist() == ["17850-20220103", "17850-20220104", "(no customer)-20220105"]
    _, rep = clean_transactions(tx)
    assert rep.normalised == {"customer_id": {"ids": 1, "rows": 1}}
    assert rep.customers_kept == 1 and rep.removed.loc["null_customer_id", "rows"] == 1


# ------------------------------------------------------------------------------------------------
# 5. offsets that change with daylight saving
# ------------------------------------------------------------------------------------------------


def test_timezone_converts_dst_offsets_and_keeps_local_days(tmp_path):
    cfg_path = F.write_dst(tmp_path)
    ds, _ = _load(cfg_path)
    tx = ds.transactions
    assert tx["order_ts"].dt.day.tolist() == [28, 29, 29, 29, 29, 30]
    # the two 02:30 of the night the clocks go back are different instants on the same local clock
    assert tx["order_ts"].iloc[2] == tx["order_ts"].iloc[3] == pd.Timestamp("2023-10-29 02:30")
    s = customer_summary(tx, "2023-12-31")
    assert s["frequency"].tolist() == [1, 0, 1]  # a: 28 and 29 Oct; c: 29 and 30 Oct (local days)
    utc, _ = _load(cfg_path, timezone="UTC")
    assert utc.transactions["order_ts"].dt.day.tolist() == [28, 28, 29, 29, 29, 29]
    assert customer_summary(utc.transactions, "2023-12-31")["frequency"].tolist() == [0, 0, 0]
    with pytest.raises(S.SchemaError, match=r"different time-zone offsets \(\+01:00, \+02:00\).*set timezone:"):
        _load(cfg_path, timezone=None)
    with pytest.raises(S.SchemaError, match="not an IANA time-zone name"):
        _load(cfg_path, timezone="Europe/Berln")


# ------------------------------------------------------------------------------------------------
# 6. separator, decimal comma, encoding, date format
# ------------------------------------------------------------------------------------------------


def _euro_without(tmp_path, *keys):
    text = "\n".join(ln for ln in F.EURO_CONFIG.splitlines() if not any(ln.strip().startswith(k + ":") for k in keys))
    return F.write_euro(tmp_path, config=text + "\n")


def test_european_csv_loads_with_its_options(tmp_path):
    ds, _ = _load(F.write_euro(tmp_path))
    tx = ds.transactions
    assert tx["revenue"].tolist() == [19.9, 1234.5, 19.9, 7.5]
    assert tx["order_ts"].tolist()[0] == pd.Timestamp("2021-03-08 14:05")
    assert tx["customer_id"].tolist() == ["K-01", "K-01", "K-02", "K-01"]


@pytest.mark.parametrize("missing, message", [
    (("sep",), r"it looks semicolon-separated: set sep: ';' in the dataset config's source"),
    (("decimal", "thousands"), r"decimal comma \(e\.g\. '19,90'\): set decimal: ',' and thousands: '\.'"),
    (("date_format",), r"dates such as '08\.03\.2021 14:05' read differently .* to '%d\.%m\.%Y %H:%M' \(day first\)"),
])
def test_european_csv_errors_name_the_option(tmp_path, missing, message):
    with pytest.raises(S.SchemaError, match=message):
        _load(_euro_without(tmp_path, *missing))


def test_wrong_date_format_shows_one_that_reads_the_data(tmp_path):
    with pytest.raises(S.SchemaError, match=r"do not parse with format '%d\.%m\.%Y'.*'08\.03\.2021 14:05': '%d\.%m\.%Y %H:%M'"):
        _load(F.write_euro(tmp_path), date_format="%d.%m.%Y")
    assert S.suggest_date_formats("12/1/2010 8:26") == ["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"]
    assert S.suggest_date_formats("25/03/2014 08:26:31") == ["%d/%m/%Y %H:%M:%S"]
    assert S.suggest_date_formats("3/4/21 9:05 PM") == ["%d/%m/%y %I:%M %p", "%m/%d/%y %I:%M %p"]


def test_byte_order_mark_read_as_text_names_the_encoding(tmp_path):
    with pytest.raises(S.SchemaError, match="byte-order mark .* set encoding: utf-8-sig"):
        _load(F.write_euro(tmp_path), encoding="latin-1")


# ------------------------------------------------------------------------------------------------
# 7. check before anything runs
# ------------------------------------------------------------------------------------------------


def test_check_prints_the_cleaning_report_and_the_window(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RETENTION_PSEUDONYM_KEY", raising=False)
    cfg = F.write_online_retail(tmp_path)
    assert reports.main(["check", "--dataset", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "loaded 13 lines with order days 2010-12-01 .. 2010-12-01 (1 day(s))" in out
    assert "- revenue = quantity x unit_price (UnitPrice)." in out
    assert "rows in 13 -> kept 8" in out and "reconciles: True" in out
    assert "the window analysed is 2010-12-01 .. 2011-12-09 (374 days); the clean data covers 2010-12-01 .. 2010-12-01" in out
    assert "warning: the window ends 373 day(s) after the last clean order" in out
    assert "warning: online_retail: customer ids are personal data and no pseudonymisation key is set" in out
    assert out.count("no pseudonymisation key is set") == 1 and "pseudonyms: no key set (the warning below)" in out
    assert out.strip().endswith("ok (2 warnings)")
    assert reports.main(["check", "--dataset", str(cfg), "-p", "OBSERVATION_END", "2010-12-01"]) == 0
    assert "ok (1 warning)" in capsys.readouterr().out
    monkeypatch.setenv("RETENTION_PSEUDONYM_KEY", "key-of-the-test-shop")
    assert check_dataset(str(cfg), [("2010-12-01", "2010-12-01")]).warnings == []


def test_check_and_run_stop_with_the_full_message_before_any_kernel(tmp_path, capsys, monkeypatch):
    cfg = _euro_without(tmp_path, "sep")
    assert reports.main(["check", "--dataset", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bestellungen.csv: read with sep ',', the file has a single column") and "sep: ';'" in err
    # the runner checks first: exit 2, the same message, and no notebook was executed
    monkeypatch.setenv("RETENTION_PSEUDONYM_KEY", "key-of-the-test-shop")
    out = tmp_path / "out"
    assert reports.main(["run", "--dataset", str(cfg), "--notebooks", "01", "--output-dir", str(out)]) == 2
    assert "sep: ';'" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(reports.DatasetCheckError, match="no line is left after cleaning in the window 2022-01-01"):
        reports.run_reports(str(F.write_euro(tmp_path)), ["01"], {"OBSERVATION_START": "2022-01-01",
                                                                "OBSERVATION_END": "2022-02-01"}, output_dir=out)
    assert not out.exists()
    assert reports.main(["check", "--dataset", str(cfg), "-p", "SEED", "1"]) == 2
    assert "only ['OBSERVATION_START', 'OBSERVATION_END']" in capsys.readouterr().err


def test_runner_checks_every_window_the_notebooks_use(tmp_path):
    from retention_utils.reports.runner import _declared_date, check_notebook_windows

    assert _declared_date("date(2017, 1, 1)").isoformat() == "2017-01-01" and _declared_date("3") is None
    cfg = load_config(str(F.write_online_retail(tmp_path)))
    nb = reports.NOTEBOOK_DIR / "01_eda.ipynb"
    nb2 = reports.NOTEBOOK_DIR / "02_customer_profiles.ipynb"
    import datetime as dt

    w = {"OBSERVATION_START": dt.date(2010, 12, 1), "OBSERVATION_END": dt.date(2011, 12, 9)}
    check = check_notebook_windows(cfg, {nb: w, nb2: {**w, "OBSERVATION_END": dt.date(2010, 12, 1)}})
    assert [str(c.window) for c in check.windows] == ["2010-12-01 .. 2011-12-09", "2010-12-01 .. 2010-12-01"]
    # a notebook without window parameters falls back on its declared default (a Complete Journey date)
    with pytest.raises(reports.DatasetCheckError, match="window 2017-01-01 .. 2017-12-31; the data covers 2010-12-01"):
        check_notebook_windows(cfg, {nb: {}})


# ------------------------------------------------------------------------------------------------
# 12. the README's configs are the ones tested; user shapes stay personal data
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["online_retail", "marketplace", "order_log"])
def test_readme_recipes_are_the_tested_configs(tmp_path, name):
    path = F.SHAPES[name](tmp_path)
    assert path.read_text() == F.recipe(name)
    cfg = yaml.safe_load(path.read_text())
    assert cfg["name"] == name and cfg["source"]["kind"] == "file"
    assert "privacy" not in cfg  # a shop's ids are personal data: no public_dataset, no fixed key
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recipes load without a warning
        check = check_dataset(str(path))
    assert check.windows[0].report.reconciles()


def test_no_fixture_config_declares_its_data_public(tmp_path):
    for name, write in F.SHAPES.items():
        assert "public_dataset" not in write(tmp_path / name).read_text(), name
    for name in F.SMALL_LOGS:
        assert "public_dataset" not in F.write_small_log(tmp_path, name).read_text(), name


def test_numbers_and_dates_hints_do_not_fire_on_good_data():
    assert S.to_float(pd.Series(["1.5", "-2", None]), "revenue").tolist()[:2] == [1.5, -2.0]
    with pytest.raises(S.SchemaError) as err:
        S.to_float(pd.Series(["abc", "1"]), "revenue")
    assert "decimal" not in str(err.value)
    assert np.isnan(S.to_float(pd.Series([None], dtype=object), "x").iloc[0])


# ------------------------------------------------------------------------------------------------
# 8. inputs that used to pass silently or fail deep (found by a bad-input review)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "match"), [
    (["13 03 2024", "01 03 2024"], "read differently day-first and month-first"),  # spaces as separators
    (["2024-03", "2024-04"], "dates without a day"),
    (["Dec 2017", "Jan 2018"], "dates without a day"),
])
def test_dates_that_would_be_guessed_are_refused(values, match):
    with pytest.raises(S.SchemaError, match=match):
        S.parse_timestamps(pd.Series(values, dtype=object), "order_ts")


@pytest.mark.parametrize("value", ["05 04 2017", "2017-12", "Dec 2017", "2017"])
def test_date_arguments_that_would_be_guessed_are_refused(value):
    with pytest.raises(S.SchemaError, match="ISO text 'YYYY-MM-DD'"):
        S.to_day(value, "OBSERVATION_END")
    assert S.to_day("31 Dec 2017") == pd.Timestamp("2017-12-31")  # a month name settles the order


def test_number_separators_must_match_the_file():
    from retention_utils.data.datasets import _to_number_text

    ok = _to_number_text(pd.Series(["1.234,50", "12,00", "1.000.000,5"]), ",", ".", "revenue")
    assert ok.tolist() == ["1234.50", "12.00", "1000000.5"]
    with pytest.raises(S.SchemaError, match="do not use '.' as a thousands separator"):
        _to_number_text(pd.Series(["1.234,50", "12.50"]), ",", ".", "revenue")  # 12.50 would become 1250
    with pytest.raises(ValueError, match="also the decimal mark"):
        _to_number_text(pd.Series(["12.50"]), None, ".", "revenue")
    with pytest.raises(S.SchemaError, match="set thousands: ','"):
        S.to_float(pd.Series(["1,234.50", "2,000.00"]), "revenue")


def test_exports_never_overwrite_a_foreign_file(tmp_path):
    cols = ["customer_id", "score"]
    t = pd.DataFrame({"customer_id": ["c_1"], "score": [0.5]})
    ours = S.write_checked_csv(t, tmp_path / "scores.csv", cols, "scores")
    S.write_checked_csv(t.assign(score=0.7), ours, cols, "scores")  # an earlier export of the same table
    assert pd.read_csv(ours)["score"].tolist() == [0.7]
    foreign = tmp_path / "transactions.csv"
    foreign.write_text("cust,order\n1,2\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not an earlier export"):
        S.write_checked_csv(t, foreign, cols, "scores")
    assert foreign.read_text(encoding="utf-8") == "cust,order\n1,2\n"


def test_summary_refuses_missing_amounts_and_text_timestamps():
    tx = pd.DataFrame({"customer_id": ["a", "a"], "order_id": ["o1", "o2"],
                       "order_ts": pd.to_datetime(["2024-01-01", "2024-01-05"]), "revenue": [5.0, np.nan]})
    with pytest.raises(S.SchemaError, match="missing amount would count as 0"):
        customer_summary(tx)
    with pytest.raises(S.SchemaError, match="order_ts must be datetime64"):
        customer_summary(tx.assign(revenue=[5.0, 1.0], order_ts=["2024-01-01", "2024-01-05"]))


def test_runner_refuses_empty_options_and_unsafe_names(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RETENTION_PSEUDONYM_KEY", "key-of-the-test-shop")
    cfg = F.write_online_retail(tmp_path)
    assert reports.main(["run", "--dataset", str(cfg), "--output-dir", ""]) == 2
    assert "--output-dir is empty" in capsys.readouterr().err
    assert reports.main(["run", "--dataset", str(cfg), "--notebooks", ""]) == 2
    assert "--notebooks is empty" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    assert reports.main(["run", "--dataset", str(cfg), "--output-dir", str(afile)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    bad = tmp_path / "escape.yaml"
    bad.write_text(cfg.read_text(encoding="utf-8").replace("name: online_retail", "name: ../../escape"), encoding="utf-8")
    assert "name: ../../escape" in bad.read_text(encoding="utf-8")
    assert reports.main(["check", "--dataset", str(bad)]) == 2
    assert "must be a plain folder name" in capsys.readouterr().err


def test_runner_stops_before_any_kernel_when_an_exporting_notebook_has_no_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RETENTION_PSEUDONYM_KEY", raising=False)
    cfg = F.write_online_retail(tmp_path)
    out = tmp_path / "out"
    assert reports.main(["run", "--dataset", str(cfg), "--notebooks", "04", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "RETENTION_PSEUDONYM_KEY" in err and "need it: 04_repurchase_prediction" in err
    assert not out.exists()


def test_stamps_with_and_without_offset_say_so():
    with pytest.raises(S.SchemaError, match="1 timestamp.* carry a UTC offset .* and 1 do not"):
        S.parse_timestamps(pd.Series(["2024-03-01T20:15:00Z", "2024-03-13 09:15:00"], dtype=object), "order_ts")
    # plain dates end in "-01" but carry no offset: read as dates
    assert S.parse_timestamps(pd.Series(["2024-03-01", "2024-03-13 09:15:00"], dtype=object), "order_ts").notna().all()


def test_run_stops_before_any_kernel_when_07_has_no_product_table(tmp_path, monkeypatch):
    # 07 used to run the notebooks before it and fail at its first data cell
    monkeypatch.setenv("RETENTION_PSEUDONYM_KEY", "key-of-the-test-shop")
    cfg = F.write_euro(tmp_path, config=F.EURO_CONFIG.replace("  02_customer_profiles: {}\n",
                                                              "  02_customer_profiles: {}\n  07_recommender_evaluation: {}\n"))
    out = tmp_path / "out"
    with pytest.raises(reports.DatasetCheckError, match="07_recommender_evaluation need.s. a product table"):
        reports.run_reports(str(cfg), None, output_dir=out)
    assert not out.exists()
    assert "product table: none (07, the recommenders, needs one" in check_dataset(str(cfg)).text()
