"""Covariates shared by the models: campaign exposure and demographics, known at a given date.

- :func:`campaign_exposure`: one row per (customer, campaign) received, with the campaign's dates and
  type (The Complete Journey's ``campaigns`` + ``campaign_descriptions``).
- :func:`campaigns_in_window`: campaigns a customer received that ran during a window.
- :func:`encode_demographics`: demographic bands as ordered codes (for classifiers).
- :func:`demographic_covariates`: band codes plus a missing indicator (for survival models).
- :func:`band_labels`: a demographic band as text, with customers without demographics labelled.

Used by repurchase prediction (:mod:`retention_utils.tables.cutoffs`), survival
(:mod:`retention_utils.models.survival`, notebook 05), the playbook and the campaign-effect work.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import schema as S


def campaign_exposure(campaigns: pd.DataFrame, descriptions: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, campaign) with the campaign's ``start_date`` and ``end_date``.

    ``campaigns``: ``campaign_id``, ``customer_id`` (The Complete Journey's ``campaigns`` table);
    ``descriptions``: ``campaign_id``, ``start_date``, ``end_date`` (``campaign_descriptions``). Columns
    out: ``customer_id`` (str), ``campaign_id`` (str), ``start_date``, ``end_date`` (datetime64), sorted.
    Raises :class:`retention_utils.schema.SchemaError` naming campaign ids absent from ``descriptions``.
    """
    S.require_columns(campaigns, ("campaign_id", S.CUSTOMER_ID), table="campaigns")
    S.require_columns(descriptions, ("campaign_id", "start_date", "end_date"), table="campaign_descriptions")
    d = descriptions[["campaign_id", "start_date", "end_date"]].astype({"campaign_id": str})
    c = campaigns[["campaign_id", S.CUSTOMER_ID]].astype(str)
    missing = sorted(set(c["campaign_id"]) - set(d["campaign_id"]))
    if missing:
        raise S.SchemaError(f"campaigns: campaign id(s) {missing[:5]} have no start/end date in campaign_descriptions")
    out = c.merge(d, on="campaign_id", how="left")
    return out[[S.CUSTOMER_ID, "campaign_id", "start_date", "end_date"]].sort_values(
        [S.CUSTOMER_ID, "campaign_id"], kind="stable").reset_index(drop=True)


def encode_demographics(customers: pd.DataFrame) -> pd.DataFrame:
    S.require_columns(customers, [S.CUSTOMER_ID], table="customers")
    cust = customers.drop_duplicates(S.CUSTOMER_ID).set_index(S.CUSTOMER_ID).sort_index()
    cols: dict[str, pd.Series] = {}
    for col in cust.columns:
        v = cust[col]
        if isinstance(v.dtype, pd.CategoricalDtype) and v.cat.ordered:
            cols[col] = pd.Series(np.where(v.cat.codes >= 0, v.cat.codes, np.nan), index=cust.index, dtype="float64")
        elif pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v):
            cols[col] = v.astype("float64")
        else:
            levels = sorted(str(x) for x in v.dropna().unique())
            for lev in levels:
                cols[f"{col}={lev}"] = (v.astype(str) == lev).where(v.notna(), False).astype("float64")
    out = pd.DataFrame(cols, index=cust.index)
    out.index = out.index.astype(str)
    return out


#: ordered demographic bands of The Complete Journey used as covariates (band codes 0, 1, ...)
DEMOGRAPHIC_BANDS: tuple[str, ...] = ("age", "income", "household_size", "kids_count")


def campaigns_in_window(
    exposure: pd.DataFrame, first_purchase: pd.Series, window_days: int, name: str = "campaigns_first_window"
) -> pd.Series:
    """Number of distinct campaigns each customer received that ran during the first window.

    ``exposure``: one row per (customer, campaign) with ``customer_id``, ``campaign_id``,
    ``start_date``, ``end_date`` (:func:`retention_utils.models.prediction.campaign_exposure`). A campaign
    counts when its period ``[start_date, end_date]`` overlaps ``[first, first + window_days - 1]``
    (days), so only campaigns already running before the landmark count. Returns float64 counts on
    ``first_purchase``'s index (0 for customers without campaigns).
    """
    S.require_columns(exposure, [S.CUSTOMER_ID, "campaign_id", "start_date", "end_date"], table="campaign exposure")
    f = pd.to_datetime(first_purchase).dt.normalize().rename("_first")
    e = exposure.merge(f, left_on=S.CUSTOMER_ID, right_index=True, how="inner")
    lo = e["_first"]
    hi = lo + pd.Timedelta(days=int(window_days) - 1)
    hit = (pd.to_datetime(e["start_date"]).dt.normalize() <= hi) & (pd.to_datetime(e["end_date"]).dt.normalize() >= lo)
    n = e[hit].groupby(S.CUSTOMER_ID)["campaign_id"].nunique()
    return n.reindex(first_purchase.index, fill_value=0).astype("float64").rename(name)


def demographic_covariates(
    customers: pd.DataFrame | None, index: pd.Index, columns: Sequence[str] = DEMOGRAPHIC_BANDS
) -> pd.DataFrame:
    """Ordered demographic bands as numeric codes with missing indicators, on ``index``.

    Each ordered categorical column becomes its band code (0 = lowest band, float64). Customers
    without a row in ``customers`` get ``demographics_missing = 1`` and the median code of the
    covered customers (so the indicator carries the difference between covered and not covered);
    a band missing for a covered customer gets the same fill and a ``<column>_missing`` indicator,
    created only when that happens (identical indicators would be perfectly collinear).

    Returns a DataFrame on ``index`` (float64 columns). With ``customers=None`` (e.g. CDNOW) it has no
    columns. Raises :class:`retention_utils.schema.SchemaError` for absent columns, ``ValueError`` for
    a column that is not an ordered categorical.
    """
    out = pd.DataFrame(index=index)
    if customers is None:
        return out
    S.require_columns(customers, [S.CUSTOMER_ID, *columns], table="customers")
    cust = customers.drop_duplicates(S.CUSTOMER_ID).assign(**{S.CUSTOMER_ID: lambda d: d[S.CUSTOMER_ID].astype(str)})
    cust = cust.set_index(S.CUSTOMER_ID)
    covered = pd.Series(index.isin(cust.index), index=index)
    for col in columns:
        v = cust[col]
        if not (isinstance(v.dtype, pd.CategoricalDtype) and v.cat.ordered):
            raise ValueError(f"customers column {col!r} is not an ordered categorical (dtype {v.dtype})")
        code = pd.Series(np.where(v.cat.codes >= 0, v.cat.codes, np.nan), index=cust.index).reindex(index)
        known = code.dropna()
        fill = float(np.floor(known.median())) if len(known) else 0.0
        band_missing = covered & code.isna()
        out[col] = code.fillna(fill).astype("float64")
        if band_missing.any():
            out[f"{col}_missing"] = band_missing.astype("float64")
    out["demographics_missing"] = (~covered).astype("float64")
    return out


def band_labels(customers: pd.DataFrame | None, index: pd.Index, column: str, missing: str = "(no demographics)") -> pd.Series:
    """Demographic band of each customer on ``index`` as an ordered categorical (the bands' order, then
    ``missing`` for customers without demographics), for Kaplan-Meier curves by band."""
    if customers is None:
        return pd.Series(pd.Categorical([missing] * len(index), categories=[missing], ordered=True), index=index, name=column)
    S.require_columns(customers, [S.CUSTOMER_ID, column], table="customers")
    cust = customers.drop_duplicates(S.CUSTOMER_ID)
    col = cust[column]
    cats = [str(c) for c in col.cat.categories] if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.dropna().astype(str).unique())
    v = pd.Series(col.astype(object).to_numpy(), index=cust[S.CUSTOMER_ID].astype(str).to_numpy())
    lab = v.reindex(index)
    lab = lab.where(lab.notna(), missing).astype(str)
    return pd.Series(pd.Categorical(lab.to_numpy(), categories=[*cats, missing], ordered=True), index=index, name=column)
