"""Facts of the real datasets (each loads a full dataset: seconds, not minutes)."""

import numpy as np
import pandas as pd
import pytest

from retention_utils import schema as S
from retention_utils.data.cleaning import CleaningRules, clean_transactions, load_clean
from retention_utils.data.datasets import (
    CJ_ORDERED_BANDS,
    load_cdnow,
    load_complete_journey,
    load_config,
    load_dataset,
    read_complete_journey_table,
)


@pytest.fixture(scope="module")
def cj():
    return load_complete_journey()


@pytest.fixture(scope="module")
def cdnow():
    return load_cdnow()


def test_cj_facts(cj):
    tx = cj.transactions
    assert len(tx) == 1_469_307
    assert tx[S.CUSTOMER_ID].nunique() == 2_469
    assert (tx[S.QUANTITY] == 0).sum() == 8_869
    assert (tx[S.REVENUE] == 0).sum() == 11_226
    assert (tx[S.ORDER_TS] >= "2018-01-01").sum() == 534
    assert tx[S.ORDER_TS].max() < pd.Timestamp("2018-01-02")
    assert tx.loc[~tx[S.PRODUCT_ID].isin(cj.products[S.PRODUCT_ID]), S.PRODUCT_ID].nunique() == 17
    for col in (S.RETAIL_DISC, S.COUPON_DISC, S.COUPON_MATCH_DISC):
        assert (tx[col] >= 0).all()  # discounts are stored as positive amounts
    assert tx[S.ORDER_TS].dt.tz is None
    assert {type(v) for v in tx[S.CUSTOMER_ID].head(100)} == {str}


def test_cj_fuel_lines(cj):
    dept = cj.transactions[S.PRODUCT_ID].map(cj.products.set_index(S.PRODUCT_ID)[S.DEPARTMENT])
    fuel = dept.isin(["FUEL", "KIOSK-GAS"])
    assert 12_000 < fuel.sum() < 14_000
    assert (cj.transactions.loc[fuel, S.QUANTITY] > 1000).sum() > 11_000


def test_cj_demographics_bands_ordered(cj):
    demo = cj.customers
    assert len(demo) == 801
    assert demo[S.CUSTOMER_ID].isin(cj.transactions[S.CUSTOMER_ID]).all()
    for col, order in CJ_ORDERED_BANDS.items():
        assert demo[col].cat.ordered and list(demo[col].cat.categories) == order
    assert demo["income"].min() == "Under 15K" and demo["household_size"].max() == "5+"


def test_cj_other_tables(cj):
    assert set(cj.tables) == {"campaigns", "campaign_descriptions", "coupons", "coupon_redemptions"}
    assert cj.tables["campaigns"][S.CUSTOMER_ID].map(type).eq(str).all()


def test_cj_promotions_only_on_request_and_compact():
    promo = read_complete_journey_table("promotions")
    assert len(promo) == 20_940_529
    assert promo["product_id"].dtype == "int32" and promo["display_location"].dtype == "category"
    assert promo.memory_usage(deep=True).sum() < 0.5e9


def test_cj_reconciles_exactly(cj):
    cfg = load_config("complete_journey")
    p = cfg["parameters"]
    clean, rep = clean_transactions(cj.transactions, cj.products, cfg["cleaning"],
                                    p["OBSERVATION_START"], p["OBSERVATION_END"])
    assert rep.reconciles()
    assert rep.rows_in == rep.rows_kept + rep.removed["rows"].sum()
    assert rep.revenue_in_units == rep.revenue_kept_units + rep.removed["revenue_units"].sum()
    assert rep.removed.loc["outside_window", "rows"] == 534
    assert rep.removed.loc["non_merchandise", "rows"] > 12_000
    assert rep.flags["unknown_product_ids"] == 17
    assert len(clean) == rep.rows_kept
    assert (clean[S.QUANTITY] > 0).all() and (clean[S.REVENUE] > 0).all()


def test_cdnow_facts(cdnow):
    tx = cdnow.transactions
    assert len(tx) == 69_659
    assert tx[S.CUSTOMER_ID].nunique() == 23_570
    assert tx[S.CUSTOMER_ID].str.len().eq(5).all()  # zero-padded ids
    assert tx[S.ORDER_TS].min() == pd.Timestamp("1997-01-01")
    assert tx[S.ORDER_TS].max() == pd.Timestamp("1998-06-30")
    assert tx.duplicated().sum() == 255
    assert (tx[S.REVENUE] == 0).sum() == 80
    assert (tx[S.PRODUCT_ID] == "CD").all()


def test_cdnow_reconciles_exactly(cdnow):
    for rules in ({}, load_config("cdnow")["cleaning"]):
        _, rep = clean_transactions(cdnow.transactions, rules=rules)
        assert rep.reconciles()
    _, rep = clean_transactions(cdnow.transactions, rules=CleaningRules())
    assert rep.removed.loc["exact_duplicate", "rows"] == 255
    assert rep.removed.loc["non_positive", "rows"] == 80  # no $0 record is also a duplicate
    assert np.isclose(rep.revenue_in, cdnow.transactions[S.REVENUE].sum())


def test_load_clean_by_config_name():
    ds, rep = load_clean("cdnow", "1997-01-01", "1998-06-30")
    assert rep.flags["exact_duplicate_lines_kept"] == 255
    assert rep.flags["non_positive_lines_kept"] == 80
    assert len(ds.transactions) == 69_659


def test_file_source_config(tmp_path):
    (tmp_path / "log.csv").write_text("cust;when;sku;n;amt\n1;2020-01-01;a;1;2.5\n2;2020-01-03;b;2;4\n")
    (tmp_path / "products.csv").write_text("sku,dept\na,X\nb,Y\n")
    (tmp_path / "shop.yaml").write_text(
        "name: shop\nsource:\n  kind: file\n  path: log.csv\n  sep: ';'\n  order_id_from: customer_day\n"
        "  columns: {customer_id: cust, order_ts: when, product_id: sku, quantity: n, revenue: amt}\n"
        "  products: products.csv\n  product_columns: {product_id: sku, department: dept}\n"
    )
    ds = load_dataset(str(tmp_path / "shop.yaml"))
    assert ds.name == "shop"
    assert ds.transactions[S.REVENUE].tolist() == [2.5, 4.0]
    assert ds.products[S.DEPARTMENT].tolist() == ["X", "Y"]


def test_unknown_config_lists_known():
    with pytest.raises(FileNotFoundError, match="complete_journey"):
        load_config("no_such_dataset")


def test_file_source_checks(tmp_path):
    (tmp_path / "log.csv").write_text("c,o,t,p,q,r\n1,a,2020-01-01,7,1,2.5\n2,b,2020-01-03,8,2,4\n")
    (tmp_path / "cols.yaml").write_text("columns: {customer_id: c, order_id: o, order_ts: t, product_id: p, quantity: q, revenue: r}\n")
    pd.DataFrame({"product_id": [7.0, 8.0], "department": ["X", "FUEL"]}).to_parquet(tmp_path / "products.parquet")
    good = "name: s\nsource:\n  kind: file\n  path: log.csv\n  columns: cols.yaml\n  products: products.parquet\n"
    (tmp_path / "s.yaml").write_text(good)
    ds = load_dataset(str(tmp_path / "s.yaml"))  # mapping file found next to the YAML; float ids match "7"
    assert ds.products[S.PRODUCT_ID].tolist() == ["7", "8"]
    (tmp_path / "typo.yaml").write_text(good.replace("columns:", "colums:"))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colums'\]"):
        load_dataset(str(tmp_path / "typo.yaml"))
    pd.DataFrame({"product_id": ["x7", "x8"], "department": ["X", "FUEL"]}).to_parquet(tmp_path / "other.parquet")
    (tmp_path / "mismatch.yaml").write_text(good.replace("products.parquet", "other.parquet"))
    with pytest.raises(S.SchemaError, match="do not match"):
        load_dataset(str(tmp_path / "mismatch.yaml"))


def test_an_attribute_table_without_its_key_names_the_mapping_option(tmp_path):
    from retention_utils.data.datasets import load_dataset

    (tmp_path / "log.csv").write_text("customer_id,order_id,order_ts,product_id,quantity,revenue\n"
                                      "c1,o1,2022-01-03 10:00,p1,1,10.0\n")
    (tmp_path / "items.csv").write_text("sku,dept\np1,FOOD\n")
    cfg = {"name": "t", "_path": str(tmp_path / "t.yaml"),
           "source": {"kind": "file", "path": "log.csv", "products": "items.csv"}}
    with pytest.raises(S.SchemaError, match=r"items.csv: no column 'product_id'; present: \['sku', 'dept'\].*"
                                            r"product_columns: \{product_id: <your column>\}"):
        load_dataset(cfg)
    cfg["source"]["product_columns"] = {"product_id": "sku"}
    assert load_dataset(cfg).products["product_id"].tolist() == ["p1"]
