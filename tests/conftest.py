"""Shared helpers: tiny canonical tables built by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from retention_utils import schema as S


def make_tx(rows, columns=("customer_id", "order_id", "order_ts", "product_id", "quantity", "revenue")):
    """Canonical transactions from tuples (validated, so dtypes are the real ones)."""
    return S.validate_transactions(pd.DataFrame(list(rows), columns=list(columns)))


@pytest.fixture
def tx_factory():
    return make_tx
