"""Small files shaped like the exports shops actually have, written by the tests themselves.

Every id and value here is made up. Each writer puts its data files under ``folder`` and returns the
path of a dataset YAML next to them. The three shapes documented in the README ("Bring your own
data": ``online_retail``, ``marketplace``, ``order_log``) take their YAML word for word from the
README (:func:`recipe`), so the README's recipes are the configs the tests run.

Each shape has a hand-written *core* (the rows the unit tests compute expectations from) and, with
``filler > 0``, that many generated customers (seeded, deterministic) spread over the config's window,
so that notebooks 01 and 02 have enough to run on.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------------
# README recipes
# ------------------------------------------------------------------------------------------------


def recipe(name: str) -> str:
    """The YAML block that follows ``<!-- recipe: name -->`` in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- recipe: " + re.escape(name) + r" -->\s*```yaml\n(.*?)```", text, re.S)
    if m is None:
        raise KeyError(f"README has no recipe {name!r}")
    return m.group(1)


def _write(folder: Path, rel: str, text: str, encoding: str = "utf-8") -> Path:
    p = folder / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding=encoding)
    return p


def _csv(folder: Path, rel: str, frame: pd.DataFrame, **kw) -> Path:
    p = folder / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(p, index=False, **kw)
    return p


# ------------------------------------------------------------------------------------------------
# generated customers
# ------------------------------------------------------------------------------------------------

PRODUCTS = [f"P{i:02d}" for i in range(1, 13)]
DEPARTMENTS = {p: ["home", "garden", "toys", "kitchen"][i % 4] for i, p in enumerate(PRODUCTS)}
PRICES = {p: round(1.5 + 2.25 * i, 2) for i, p in enumerate(PRODUCTS)}


def filler_events(n_customers: int, start: str, end: str, seed: int = 7, prefix: str = "g") -> pd.DataFrame:
    """Orders of ``n_customers`` generated customers in ``[start, end]``: one row per line with
    ``customer``, ``order`` (unique), ``ts`` (Timestamp), ``product``, ``quantity`` (int), ``price``.
    Customer ``k`` places ``1 + k % 6`` orders (so some buy once, most repeatedly) of 1-3 lines."""
    rng = np.random.RandomState(seed)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    span = (t1 - t0).days
    rows = []
    for k in range(n_customers):
        n_orders = 1 + k % 6
        first = int(rng.randint(0, max(span // 2, 1)))
        days = sorted({first, *(int(d) for d in rng.randint(first, span + 1, size=n_orders - 1))})
        for j, d in enumerate(days):
            ts = t0 + pd.Timedelta(days=d, hours=int(rng.randint(8, 20)), minutes=int(rng.randint(0, 60)))
            for p in rng.choice(PRODUCTS, size=int(rng.randint(1, 4)), replace=False):
                rows.append((f"{prefix}{k:02d}", f"{prefix}{k:02d}-{j}", ts, str(p), int(rng.randint(1, 4)), PRICES[p]))
    return pd.DataFrame(rows, columns=["customer", "order", "ts", "product", "quantity", "price"])


# ------------------------------------------------------------------------------------------------
# invoice lines: the Online Retail layout (README recipe online_retail)
# ------------------------------------------------------------------------------------------------

INVOICE_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]

#: hand-written core; expectations in tests/test_shops.py are computed from these rows
INVOICE_CORE = [
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "12/1/2010 8:26", "2.55", "17850.0", "United Kingdom"),
    ("536365", "71053", "WHITE METAL LANTERN", "6", "12/1/2010 8:26", "3.39", "17850.0", "United Kingdom"),
    ("536366", "22633", "HAND WARMER UNION JACK", "6", "12/1/2010 8:28", "1.85", "17850", "United Kingdom"),
    ("536367", "84879", "ASSORTED COLOUR BIRD ORNAMENT", "32", "12/1/2010 8:34", "1.69", "13047.0", "United Kingdom"),
    ("536367", "22745", "POPPY'S PLAYHOUSE BEDROOM", "6", "12/1/2010 8:34", "2.10", "13047.0", "United Kingdom"),
    ("536367", "22748", "POPPY'S PLAYHOUSE KITCHEN", "6", "12/1/2010 8:34", "2.10", "13047.0", "United Kingdom"),
    ("536368", "22960", "JAM MAKING SET WITH JARS", "6", "12/1/2010 8:34", "4.25", "13047", "United Kingdom"),
    ("536368", "84879", "ASSORTED COLOUR BIRD ORNAMENT", "8", "12/1/2010 8:34", "1.69", "13047", "United Kingdom"),
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", "24", "12/1/2010 8:45", "3.75", "", "France"),
    ("C536379", "22633", "HAND WARMER UNION JACK", "-6", "12/1/2010 9:41", "1.85", "17850.0", "United Kingdom"),
    ("C536383", "35004C", "SET OF 3 COLOURED FLYING DUCKS", "-1", "12/1/2010 9:49", "4.65", "15311.0", "United Kingdom"),
    ("536390", "22941", "CHRISTMAS LIGHTS 10 REINDEER", "1", "12/1/2010 10:19", "2.10", "12583.0", "France"),
    ("C536391", "22556", "PLASTERS IN TIN CIRCUS PARADE", "-3", "12/1/2010 10:24", "2.95", "12583.0", "France"),
]


def write_online_retail(folder: Path, filler: int = 0) -> Path:
    """``online_retail/invoices.csv`` (Online Retail columns, month-first dates, ids as decimals,
    cancellations ``C...``) and the README's ``online_retail`` config."""
    rows = [list(r) for r in INVOICE_CORE]
    if filler:
        ev = filler_events(filler, "2010-12-02", "2011-12-09", seed=11, prefix="")
        ids = {c: str(14000 + i) for i, c in enumerate(sorted(ev["customer"].unique()))}
        for i, r in enumerate(ev.itertuples(index=False)):
            cid = ids[r.customer] + (".0" if i % 3 == 0 else "")  # written both ways, as spreadsheets do
            ts = f"{r.ts.month}/{r.ts.day}/{r.ts.year} {r.ts.hour}:{r.ts.minute:02d}"
            rows.append([f"5{40000 + int(r.order.split('-')[0]) * 10 + int(r.order.split('-')[1])}", r.product,
                         f"ITEM {r.product}", str(r.quantity), ts, f"{r.price:.2f}", cid, "United Kingdom"])
    _csv(folder, "online_retail/invoices.csv", pd.DataFrame(rows, columns=INVOICE_COLUMNS))
    return _write(folder, "online_retail.yaml", recipe("online_retail"))


# ------------------------------------------------------------------------------------------------
# marketplace: items + orders + customers (README recipe marketplace)
# ------------------------------------------------------------------------------------------------

MARKET_ORDERS = [  # order_id, customer_id (per order), status, timestamp
    ("o1", "k1", "delivered", "2017-03-05 10:00:00"),
    ("o2", "k2", "delivered", "2017-04-10 14:30:00"),
    ("o3", "k3", "delivered", "2017-03-20 09:00:00"),
    ("o4", "k4", "delivered", "2017-05-01 18:00:00"),
    ("o5", "k5", "delivered", "2017-06-15 12:00:00"),
]
MARKET_CUSTOMERS = [  # customer_id, customer_unique_id, city
    ("k1", "p1", "sao paulo"), ("k2", "p1", "sao paulo"), ("k3", "p2", "rio de janeiro"),
    ("k4", "p3", "curitiba"), ("k5", "p2", "rio de janeiro"),
]
MARKET_ITEMS = [  # order_id, order_item_id, product_id, seller_id, price, freight_value
    ("o1", "1", "P01", "s1", "10.00", "2.50"),
    ("o1", "2", "P02", "s1", "5.50", "2.50"),
    ("o2", "1", "P01", "s2", "10.00", "3.00"),
    ("o3", "1", "P03", "s1", "99.90", "10.00"),
    ("o4", "1", "P02", "s3", "5.50", "1.00"),
    ("o4", "2", "P02", "s3", "5.50", "1.00"),
    ("o5", "1", "P04", "s2", "20.00", "4.00"),
]


def write_marketplace(folder: Path, filler: int = 0) -> Path:
    """``marketplace/{order_items,orders,customers,products}.csv`` (Olist columns) and the README's
    ``marketplace`` config."""
    orders = [list(r) for r in MARKET_ORDERS]
    customers = [list(r) for r in MARKET_CUSTOMERS]
    items = [list(r) for r in MARKET_ITEMS]
    if filler:
        ev = filler_events(filler, "2017-01-02", "2018-08-31", seed=12, prefix="q")
        for n, (order, lines) in enumerate(ev.groupby("order", sort=True)):
            per_order_id = f"k{100 + n}"
            first = lines.iloc[0]
            orders.append([order, per_order_id, "delivered", first.ts.strftime("%Y-%m-%d %H:%M:%S")])
            customers.append([per_order_id, first.customer, "porto alegre"])
            unit = 1
            for r in lines.itertuples(index=False):
                for _ in range(r.quantity):  # one row per unit sold
                    items.append([order, str(unit), r.product, "s9", f"{r.price:.2f}", "3.00"])
                    unit += 1
    _csv(folder, "marketplace/orders.csv", pd.DataFrame(orders, columns=[
        "order_id", "customer_id", "order_status", "order_purchase_timestamp"]))
    _csv(folder, "marketplace/customers.csv", pd.DataFrame(customers, columns=[
        "customer_id", "customer_unique_id", "customer_city"]))
    _csv(folder, "marketplace/order_items.csv", pd.DataFrame(items, columns=[
        "order_id", "order_item_id", "product_id", "seller_id", "price", "freight_value"]))
    _csv(folder, "marketplace/products.csv", pd.DataFrame(
        {"product_id": PRODUCTS, "product_category_name": [DEPARTMENTS[p] for p in PRODUCTS]}))
    return _write(folder, "marketplace.yaml", recipe("marketplace"))


# ------------------------------------------------------------------------------------------------
# order-level log (README recipe order_log)
# ------------------------------------------------------------------------------------------------

ORDER_LOG_CORE = [  # customer, date, items, amount
    ("u1", "2022-01-03", "2", "29.98"),
    ("u1", "2022-01-03", "1", "9.99"),   # same day: one order with the line above
    ("u1", "2022-02-14", "1", "15.00"),
    ("u2", "2022-01-10", "3", "45.00"),
    ("u3", "2022-03-01", "1", "12.50"),
]


def write_order_log(folder: Path, filler: int = 0) -> Path:
    """``order_log/purchases.csv`` (customer, date, items, amount) and the README's ``order_log`` config."""
    rows = [list(r) for r in ORDER_LOG_CORE]
    if filler:
        ev = filler_events(filler, "2022-01-02", "2022-12-31", seed=13, prefix="v")
        per = ev.groupby("order", sort=True).agg(customer=("customer", "first"), ts=("ts", "first"),
                                                 items=("quantity", "sum"), amount=("price", "sum"))
        for r in per.itertuples(index=False):
            rows.append([r.customer, r.ts.strftime("%Y-%m-%d"), str(r.items), f"{r.amount:.2f}"])
    _csv(folder, "order_log/purchases.csv", pd.DataFrame(rows, columns=["customer", "date", "items", "amount"]))
    return _write(folder, "order_log.yaml", recipe("order_log"))


# ------------------------------------------------------------------------------------------------
# daylight-saving offsets (timezone:) and a European CSV (sep, decimal comma, BOM): test-only configs
# ------------------------------------------------------------------------------------------------

#: ISO stamps around the end of summer time in Berlin (2023-10-29, 03:00 CEST -> 02:00 CET)
DST_CORE = [  # order_id, customer_id, order_ts, product_id, quantity, revenue; local day in Berlin as comment
    ("1", "a", "2023-10-28T23:30:00+02:00", "p1", "1", "10.00"),   # 28 Oct (UTC: 28 Oct 21:30)
    ("2", "a", "2023-10-29T00:30:00+02:00", "p2", "1", "12.00"),   # 29 Oct (UTC: 28 Oct 22:30)
    ("3", "b", "2023-10-29T02:30:00+02:00", "p1", "2", "20.00"),   # 29 Oct, the first 02:30
    ("4", "c", "2023-10-29T02:30:00+01:00", "p1", "1", "10.00"),   # 29 Oct, the second 02:30
    ("5", "b", "2023-10-29T23:30:00+01:00", "p3", "1", "8.00"),    # 29 Oct (UTC: 29 Oct 22:30)
    ("6", "c", "2023-10-30T00:15:00+01:00", "p2", "1", "12.00"),   # 30 Oct (UTC: 29 Oct 23:15)
]
DST_CONFIG = """name: dst_shop
title: Shop with daylight-saving offsets
source:
  kind: file
  path: dst/orders.csv
  timezone: Europe/Berlin
parameters:
  OBSERVATION_START: 2023-09-01
  OBSERVATION_END: 2023-12-31
  SEED: 42
notebooks:
  01_eda: {COHORT_PERIOD: M}
  02_customer_profiles: {}
"""


def write_dst(folder: Path, filler: int = 0) -> Path:
    """``dst/orders.csv`` with ``+02:00`` and ``+01:00`` offsets across the autumn change, and a config
    with ``timezone: Europe/Berlin``."""
    rows = [list(r) for r in DST_CORE]
    if filler:
        ev = filler_events(filler, "2023-09-02", "2023-12-31", seed=14, prefix="d")
        for r in ev.itertuples(index=False):
            local = r.ts.tz_localize("Europe/Berlin", ambiguous=True, nonexistent="shift_forward")
            rows.append([r.order, r.customer, local.isoformat(), r.product, str(r.quantity), f"{r.price * r.quantity:.2f}"])
    _csv(folder, "dst/orders.csv", pd.DataFrame(rows, columns=[
        "order_id", "customer_id", "order_ts", "product_id", "quantity", "revenue"]))
    return _write(folder, "dst_shop.yaml", DST_CONFIG)


EURO_HEADER = "kunde;bestellung;datum;artikel;menge;betrag"
EURO_CORE = [
    "K-01;B100;08.03.2021 14:05;A1;1;19,90",
    "K-01;B100;08.03.2021 14:05;A2;2;1.234,50",
    "K-02;B101;09.03.2021 09:12;A1;1;19,90",
    "K-01;B102;25.03.2021 18:40;A3;3;7,50",
]
EURO_CONFIG = """name: euro_shop
title: European CSV export
source:
  kind: file
  path: euro/bestellungen.csv
  sep: ";"
  decimal: ","
  thousands: "."
  encoding: utf-8-sig
  date_format: "%d.%m.%Y %H:%M"
  columns:
    customer_id: kunde
    order_id: bestellung
    order_ts: datum
    product_id: artikel
    quantity: menge
    revenue: betrag
parameters:
  OBSERVATION_START: 2021-03-01
  OBSERVATION_END: 2021-08-31
  SEED: 42
notebooks:
  01_eda: {COHORT_PERIOD: M}
  02_customer_profiles: {}
"""


def write_euro(folder: Path, filler: int = 0, config: str = EURO_CONFIG) -> Path:
    """``euro/bestellungen.csv``: ``;``-separated, decimal commas, thousands dots, day-first dotted
    dates, UTF-8 with a byte-order mark; and its config (``config`` to try wrong options)."""
    lines = [EURO_HEADER, *EURO_CORE]
    if filler:
        ev = filler_events(filler, "2021-03-02", "2021-08-31", seed=15, prefix="E")
        for r in ev.itertuples(index=False):
            amount = f"{r.price * r.quantity:.2f}".replace(".", ",")
            lines.append(f"{r.customer};{r.order};{r.ts:%d.%m.%Y %H:%M};{r.product};{r.quantity};{amount}")
    _write(folder, "euro/bestellungen.csv", "\n".join(lines) + "\n", encoding="utf-8-sig")
    return _write(folder, "euro_shop.yaml", config)


#: every shape: writer, and the customers the core yields after cleaning
SHAPES = {
    "online_retail": write_online_retail,
    "marketplace": write_marketplace,
    "order_log": write_order_log,
    "dst_shop": write_dst,
    "euro_shop": write_euro,
}

# ------------------------------------------------------------------------------------------------
# small or short logs (item 8): one customer, five customers, two weeks
# ------------------------------------------------------------------------------------------------

SMALL_CONFIG = """name: {name}
title: {title}
source:
  kind: file
  path: {name}/lines.csv
  products: {name}/products.csv
parameters:
  OBSERVATION_START: {start}
  OBSERVATION_END: {end}
  SEED: 42
notebooks:
  01_eda: {{COHORT_PERIOD: M}}
  02_customer_profiles: {{}}
  03_segmentation_clustering: {{}}
  04_repurchase_prediction: {{HORIZON_DAYS: 14, CUTOFF_STEP_DAYS: 14, MIN_HISTORY_DAYS: 14}}
  05_survival_churn: {{}}
  06_customer_lifetime_value: {{CALIBRATION_END: {calibration_end}, TIME_UNIT: days}}
  07_recommender_evaluation: {{}}
  08_retention_playbook: {{}}
  09_campaign_effect: {{}}
"""

SMALL_LOGS = {
    # name: (title, start, end, calibration end, customers, seed)
    "one_customer": ("One customer, one order", "2021-03-01", "2021-03-31", "2021-03-15", 0, 0),
    "five_customers": ("Five customers over three months", "2021-01-04", "2021-03-28", "2021-02-28", 5, 21),
    "two_weeks": ("Forty customers over two weeks", "2021-06-07", "2021-06-20", "2021-06-13", 40, 22),
}


def write_small_log(folder: Path, name: str) -> Path:
    """A canonical-column log (``lines.csv`` + ``products.csv`` with departments) and a config listing
    every notebook. ``one_customer``: customer ``c1``, one order of two lines on 2021-03-05."""
    title, start, end, cal, n, seed = SMALL_LOGS[name]
    if n == 0:
        rows = [("c1", "o1", "2021-03-05 10:00", "P01", 1, 3.75), ("c1", "o1", "2021-03-05 10:00", "P02", 2, 7.50)]
    else:
        ev = filler_events(n, start, end, seed=seed, prefix="s")
        rows = [(r.customer, r.order, r.ts.strftime("%Y-%m-%d %H:%M"), r.product, r.quantity, round(r.price * r.quantity, 2))
                for r in ev.itertuples(index=False)]
    _csv(folder, f"{name}/lines.csv", pd.DataFrame(rows, columns=[
        "customer_id", "order_id", "order_ts", "product_id", "quantity", "revenue"]))
    _csv(folder, f"{name}/products.csv", pd.DataFrame(
        {"product_id": PRODUCTS, "department": [DEPARTMENTS[p] for p in PRODUCTS]}))
    return _write(folder, f"{name}.yaml", SMALL_CONFIG.format(name=name, title=title, start=start, end=end, calibration_end=cal))
