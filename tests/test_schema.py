import pandas as pd
import pytest

from retention_utils import schema as S
from retention_utils.data.datasets import load_transactions_file


def _raw(**over):
    base = {
        "customer_id": ["1", "1", "2"],
        "order_id": ["a", "b", "c"],
        "order_ts": ["2014-03-14", "2014-04-09", "2014-05-21"],
        "product_id": ["p", "q", "p"],
        "quantity": [1, 2, 1],
        "revenue": [10.0, 20.0, 25.0],
    }
    base.update(over)
    return pd.DataFrame(base)


def test_canonical_dtypes():
    out = S.validate_transactions(_raw(customer_id=[1, 1, 2]))
    assert list(out.columns[:6]) == list(S.REQUIRED_TRANSACTION_COLUMNS)
    assert out[S.CUSTOMER_ID].tolist() == ["1", "1", "2"]
    assert out[S.ORDER_TS].dtype == "datetime64[ns]"
    assert out[S.QUANTITY].dtype == "float64"


def test_float_ids_lose_trailing_zero():
    out = S.validate_transactions(_raw(customer_id=[1.0, 1.0, 2.0]))
    assert out[S.CUSTOMER_ID].tolist() == ["1", "1", "2"]


def test_day_first_format_reads_8_march():
    out = S.validate_transactions(_raw(order_ts=["08/03/2014"] * 3), date_format="%d/%m/%Y")
    assert out[S.ORDER_TS].iloc[0] == pd.Timestamp("2014-03-08")


def test_ambiguous_date_refused_without_format():
    with pytest.raises(S.SchemaError, match="day-first and month-first"):
        S.validate_transactions(_raw(order_ts=["08/03/2014"] * 3))


def test_ambiguous_even_when_another_value_settles_it():
    # "25/03/2014" shows day-first, but a per-value parser would read "08/03/2014" as 3 August
    with pytest.raises(S.SchemaError, match="order_ts"):
        S.validate_transactions(_raw(order_ts=["08/03/2014", "25/03/2014", "01/04/2014"]))


def test_iso_dates_are_not_ambiguous():
    out = S.validate_transactions(_raw(order_ts=["2014-03-08", "2014-03-09", "2014-03-10"]))
    assert out[S.ORDER_TS].iloc[0] == pd.Timestamp("2014-03-08")


def test_missing_columns_named():
    with pytest.raises(S.SchemaError, match=r"\['revenue'\]"):
        S.validate_transactions(_raw().drop(columns="revenue"))


def test_unparseable_timestamp_names_row():
    with pytest.raises(S.SchemaError, match=r"do not parse[\s\S]*1\s+not a date"):
        S.validate_transactions(_raw(order_ts=["2014-03-14", "not a date", "2014-05-21"]))


def test_empty_table_refused():
    with pytest.raises(S.SchemaError, match="empty"):
        S.validate_transactions(_raw().iloc[0:0])


def test_non_numeric_revenue_names_rows():
    with pytest.raises(S.SchemaError, match=r"revenue[\s\S]*abc"):
        S.validate_transactions(_raw(revenue=["10", "abc", "3"]))


def test_order_id_shared_by_two_customers_refused():
    with pytest.raises(S.SchemaError, match="more than one customer"):
        S.validate_transactions(_raw(order_id=["a", "a", "a"]))


def test_tz_aware_keeps_local_wall_clock_time():
    # an evening order in New York stays on its local day (UTC would move it into the next year)
    out = S.validate_transactions(_raw(order_ts=["2014-12-31T22:00:00-05:00"] * 3))
    assert out[S.ORDER_TS].iloc[0] == pd.Timestamp("2014-12-31 22:00:00")


def test_mixed_offsets_refused():
    with pytest.raises(S.SchemaError, match="time-zone offsets"):
        S.validate_transactions(_raw(order_ts=["2014-03-14T10:00:00+02:00", "2014-03-14T10:00:00-05:00",
                                                "2014-03-15T10:00:00+02:00"]))


def test_ambiguous_date_inside_a_string_refused():
    with pytest.raises(S.SchemaError, match="Sat 08/03/2014"):
        S.validate_transactions(_raw(order_ts=["Sat 08/03/2014"] * 3))


def test_relative_words_and_epoch_numbers_refused():
    with pytest.raises(S.SchemaError, match="relative"):
        S.validate_transactions(_raw(order_ts=["2014-03-14", "today", "2014-05-21"]))
    with pytest.raises(S.SchemaError, match="YYYYMMDD"):
        S.validate_transactions(_raw(order_ts=[1394755200, 1394755200, 1394755200]))


def test_integral_float_yyyymmdd():
    out = S.validate_transactions(_raw(order_ts=[20170101.0, 20170102.0, 20170103.0]))
    assert out[S.ORDER_TS].tolist() == [pd.Timestamp("2017-01-01"), pd.Timestamp("2017-01-02"), pd.Timestamp("2017-01-03")]


def test_ids_stripped_and_empty_ids_null():
    out = S.validate_transactions(_raw(customer_id=[" 1", "1 ", ""]))
    assert out[S.CUSTOMER_ID].tolist() == ["1", "1", None]


def test_user_csv_with_mapping(tmp_path):
    f = tmp_path / "shop.csv"
    f.write_text(
        "Customer,Invoice,InvoiceDate,StockCode,Qty,Amount\n"
        "007,I1,14/03/2014,A,1,10.0\n007,I2,09/04/2014,B,2,20\n"
    )
    mapping = {"customer_id": "Customer", "order_id": "Invoice", "order_ts": "InvoiceDate",
               "product_id": "StockCode", "quantity": "Qty", "revenue": "Amount"}
    with pytest.raises(S.SchemaError, match="day-first"):
        load_transactions_file(f, mapping)
    out = load_transactions_file(f, mapping, date_format="%d/%m/%Y")
    assert out[S.CUSTOMER_ID].tolist() == ["007", "007"]  # leading zeros survive
    assert out[S.ORDER_TS].tolist() == [pd.Timestamp("2014-03-14"), pd.Timestamp("2014-04-09")]
    assert out[S.REVENUE].sum() == 30.0


def test_user_parquet_with_yaml_mapping_and_derived_orders(tmp_path):
    f = tmp_path / "log.parquet"
    pd.DataFrame({"cust": ["x", "x", "y"], "when": pd.to_datetime(["2020-01-01 10:00", "2020-01-01 18:00", "2020-01-02 09:00"]),
                  "sku": ["a", "b", "a"], "quantity": [1, 1, 1], "revenue": [1.0, 2.0, 3.0]}).to_parquet(f)
    m = tmp_path / "map.yaml"
    m.write_text("columns:\n  customer_id: cust\n  order_ts: when\n  product_id: sku\n")
    out = load_transactions_file(f, m, order_id_from="customer_day")
    assert out[S.ORDER_ID].tolist() == ["x-20200101", "x-20200101", "y-20200102"]


def test_mapping_to_absent_column_named(tmp_path):
    f = tmp_path / "shop.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(S.SchemaError, match="Customer"):
        load_transactions_file(f, {"customer_id": "Customer"})


def test_decimal_comma_file_and_literal_na_ids(tmp_path):
    f = tmp_path / "eu.csv"
    f.write_text("customer_id;order_id;order_ts;product_id;quantity;revenue\n"
                 "NA;1;2020-01-01;a;1;1.234,50\nNone;2;2020-01-02;b;2;12,5\n")
    out = load_transactions_file(f, sep=";", decimal=",", thousands=".")
    assert out[S.REVENUE].tolist() == [1234.5, 12.5]
    assert out[S.CUSTOMER_ID].tolist() == ["NA", "None"]  # ids, not missing values


def test_empty_file_refused_clearly(tmp_path):
    f = tmp_path / "empty.csv"
    f.write_text("")
    with pytest.raises(S.SchemaError, match="empty"):
        load_transactions_file(f)


def test_mapping_onto_an_existing_canonical_column_refused(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("customer_id,order_id,inv,order_ts,product_id,quantity,revenue\n1,a,b,2020-01-01,p,1,1\n")
    with pytest.raises(S.SchemaError, match="already has column"):
        load_transactions_file(f, {"order_id": "inv"})
