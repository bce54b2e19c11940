"""A synthetic shop with a known structure for the playbook tests: customers arriving through the year
(new customers to welcome), each with a purchase rate, favourite products and a dropout day (so some
lapse), products in four departments. Customer ids are distinctive (``hh-0001-raw``) so that a test can
search any output for them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention_utils import schema as S
from retention_utils.data.datasets import Dataset

START = pd.Timestamp("2017-01-01")
END = pd.Timestamp("2017-12-31")
DEPARTMENTS = ("GROCERY", "PRODUCE", "DRUG GM", "MEAT")


def raw_id(i: int) -> str:
    return f"hh-{i:04d}-raw"


def synthetic_tables(n_customers: int = 240, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(transactions, products)`` in canonical columns (strings for ids, timestamps)."""
    rng = np.random.default_rng(seed)
    n_prod = 40 * len(DEPARTMENTS)
    products = pd.DataFrame({
        S.PRODUCT_ID: [f"p{j:03d}" for j in range(n_prod)],
        S.DEPARTMENT: [DEPARTMENTS[j // 40] for j in range(n_prod)],
        S.CATEGORY: [f"CAT {j // 10}" for j in range(n_prod)],
        S.PRODUCT_TYPE: [f"TYPE {j}" for j in range(n_prod)],
    })
    popularity = rng.dirichlet(np.full(n_prod, 0.5))
    rows = []
    days = (END - START).days + 1
    for i in range(n_customers):
        arrive = int(rng.integers(0, 20)) if rng.random() < 0.6 else int(rng.integers(60, days - 20))
        rate = rng.gamma(2.0, 1 / 14)  # purchases per day, mean 1/7
        death = arrive + int(rng.exponential(250))
        favourites = rng.choice(n_prod, size=15, replace=False, p=popularity)
        d, k = arrive, 0
        while d < min(days, death):
            n_lines = int(rng.integers(2, 9))
            own = rng.random(n_lines) < 0.8
            items = np.where(own, rng.choice(favourites, n_lines), rng.choice(n_prod, n_lines, p=popularity))
            ts = START + pd.Timedelta(days=d) + pd.Timedelta(hours=int(rng.integers(8, 21)))
            for j in np.unique(items):
                rows.append((raw_id(i), f"o{i:04d}-{k:04d}", ts, f"p{j:03d}", 1.0, float(rng.integers(100, 1000)) / 100))
            k += 1
            d += 1 + int(rng.exponential(1 / rate))
    tx = pd.DataFrame(rows, columns=[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.PRODUCT_ID, S.QUANTITY, S.REVENUE])
    return tx, products


def synthetic_dataset(n_customers: int = 240, seed: int = 7) -> Dataset:
    tx, products = synthetic_tables(n_customers, seed)
    return Dataset("synthetic", S.validate_transactions(tx), products, None, {}, [])
