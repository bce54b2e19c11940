"""Shared helpers: tiny canonical tables built by hand."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from retention_utils import schema as S
from retention_utils.data.cache import CACHE_ENV

# the suite (and the notebook kernels nbval starts, which inherit it) never reads or fills the
# load_clean cache: every test loads from the source; tests/test_cache.py points it at a tmp folder
os.environ[CACHE_ENV] = "off"


def make_tx(rows, columns=("customer_id", "order_id", "order_ts", "product_id", "quantity", "revenue")):
    """Canonical transactions from tuples (validated, so dtypes are the real ones)."""
    return S.validate_transactions(pd.DataFrame(list(rows), columns=list(columns)))


@pytest.fixture
def tx_factory():
    return make_tx
