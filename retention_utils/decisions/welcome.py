"""Welcome scenario: the probability that a new customer places a second order, from what is known
after the first order only.

Cohorts
-------
A customer's *first order* is their earliest order in the data (ties by ``order_id``); the label is 1
when they place at least one other order before ``first order day + horizon_days`` (a second order
within the horizon), else 0. At an as-of day ``A``:

* **training cohorts**: first order day ``f`` with ``start + burn_in_days <= f`` and
  ``f + horizon_days <= A + 1``, so every training label is complete on ``A``. The first
  ``burn_in_days`` days of the data are left out because a log that starts in the middle of customers'
  relationships (The Complete Journey) shows established customers there as "first orders" (left
  truncation);
* **later cohort** (the welcome cohort): first order in the last ``welcome_days`` days up to ``A``;
  their labels close by ``A + horizon_days``, which is what the backtest scores (ROC-AUC and
  calibration on a cohort the model never saw).

Features (:func:`first_order_features`; all from the first order, plus demographics where the data
has them, taken as known at any time): ``log_basket_value`` (log1p of its revenue), ``n_products``
(distinct), ``n_departments``, ``share=<DEPARTMENT>`` (its spend share in the ``top_departments``
largest departments of the data known at ``A``), ``coupon`` (1 if any manufacturer or retailer coupon
discount), ``discount_share`` (loyalty discount / (revenue + discount)), ``weekend`` (Saturday or
Sunday), ``hour``, ``has_demographics`` and the ordered demographic bands as integer codes (NaN
when unknown). Columns that need data the dataset lacks are left out.

Model: notebook 04's logistic regression pipeline (median imputation with missing indicators,
``sign(x) log1p|x|``, standardisation, L2 logistic regression; :func:`retention_utils.models.prediction.model_candidates`)
with ``C`` fixed (default 0.1, the middle of 04's grid: the cohorts are too small to tune on).
Reasons come from each customer's contributions ``coef_j * z_ij`` on the log-odds scale, ``z`` the
standardised feature (0 = the average training customer): the features pushing the probability of a
second order down most (exact for a linear model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..models import prediction as P
from ..schema import DAY, DateLike
from ..tables.summary import canonical_order
from .scenarios import PlaybookError

LABEL = "second_order"


def first_orders(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per customer (index ``customer_id``, sorted): ``order_id`` and ``order_ts`` of the first
    order (earliest timestamp, ties by ``order_id``), ``first_day`` (its day) and ``n_orders`` in ``tx``
    (lines or :func:`retention_utils.decisions.signals.order_table` rows)."""
    heads = tx[[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS]].drop_duplicates(S.ORDER_ID)
    heads = heads.sort_values([S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID], kind="stable")
    first = heads.groupby(S.CUSTOMER_ID, sort=True).head(1).set_index(S.CUSTOMER_ID)
    first["first_day"] = first[S.ORDER_TS].dt.normalize()
    first["n_orders"] = heads.groupby(S.CUSTOMER_ID, sort=True).size().astype("int64")
    return first


def second_order_labels(tx: pd.DataFrame, firsts: pd.DataFrame, horizon_days: int) -> pd.Series:
    """1 if the customer has another order before ``first_day + horizon_days`` (int64 Series on
    ``firsts``' index). The caller makes sure the window is observed in ``tx``."""
    heads = tx[[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS]].drop_duplicates(S.ORDER_ID)
    end = heads[S.CUSTOMER_ID].map(firsts["first_day"] + pd.Timedelta(days=int(horizon_days)))
    other = heads[(heads[S.ORDER_ID] != heads[S.CUSTOMER_ID].map(firsts[S.ORDER_ID])) & (heads[S.ORDER_TS] < end)]
    return pd.Series(firsts.index.isin(other[S.CUSTOMER_ID].unique()).astype("int64"), index=firsts.index, name=LABEL)


def _dept(lines: pd.DataFrame, products: pd.DataFrame) -> pd.Series:
    if S.DEPARTMENT in lines:
        return lines[S.DEPARTMENT]
    return lines[S.PRODUCT_ID].map(products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT])


def top_departments(tx: pd.DataFrame, products: pd.DataFrame | None, n: int) -> list[str]:
    """The ``n`` departments with the most revenue in the lines ``tx`` (ties by name); empty without
    products."""
    if products is None or S.DEPARTMENT not in products or n < 1:
        return []
    rev = tx[S.REVENUE].groupby(_dept(tx, products).rename("_d")).sum()
    rev = rev.reset_index().sort_values([S.REVENUE, "_d"], ascending=[False, True])
    return list(rev["_d"].head(n))


def first_order_features(tx: pd.DataFrame, firsts: pd.DataFrame, products: pd.DataFrame | None,
                         customers: pd.DataFrame | None, departments: list[str]) -> pd.DataFrame:
    """Features of each customer's first order (module docstring), float64, index as ``firsts``."""
    lines = canonical_order(tx[tx[S.ORDER_ID].isin(firsts[S.ORDER_ID])])
    g = lines.groupby(S.CUSTOMER_ID, sort=True)
    rev = g[S.REVENUE].sum()
    out = pd.DataFrame(index=firsts.index)
    out["log_basket_value"] = np.log1p(rev.reindex(out.index).clip(lower=0))
    out["n_products"] = g[S.PRODUCT_ID].nunique().reindex(out.index).astype("float64")
    if products is not None and S.DEPARTMENT in products:
        dept = _dept(lines, products)
        out["n_departments"] = dept.groupby(lines[S.CUSTOMER_ID]).nunique().reindex(out.index).astype("float64")
        by = lines.assign(_d=dept).groupby([S.CUSTOMER_ID, "_d"])[S.REVENUE].sum().unstack(fill_value=0.0)
        for d in departments:
            share = by[d] if d in by else pd.Series(0.0, index=by.index)
            out[f"share={d}"] = (share / rev.where(rev > 0)).reindex(out.index).fillna(0.0)
    coupons = [c for c in (S.COUPON_DISC, S.COUPON_MATCH_DISC) if c in lines]
    if coupons:
        out["coupon"] = (lines[coupons].sum(axis=1) > 0).groupby(lines[S.CUSTOMER_ID]).any().reindex(out.index).astype("float64")
    if S.RETAIL_DISC in lines:
        disc = g[S.RETAIL_DISC].sum().reindex(out.index)
        out["discount_share"] = (disc / (rev.reindex(out.index) + disc).where(lambda v: v > 0)).fillna(0.0)
    ts = firsts[S.ORDER_TS]
    out["weekend"] = (ts.dt.dayofweek >= 5).astype("float64")
    if (ts.dt.hour > 0).any():  # dates without a time of day carry no hour
        out["hour"] = ts.dt.hour.astype("float64")
    if customers is not None and S.CUSTOMER_ID in customers:
        cust = customers.drop_duplicates(S.CUSTOMER_ID).set_index(S.CUSTOMER_ID)
        out["has_demographics"] = out.index.isin(cust.index).astype("float64")
        for col in cust.columns:
            v = cust[col]
            if isinstance(v.dtype, pd.CategoricalDtype) and v.cat.ordered:
                codes = pd.Series(np.where(v.cat.codes >= 0, v.cat.codes, np.nan), index=cust.index, dtype="float64")
                out[col] = codes.reindex(out.index)
    return out


@dataclass
class WelcomeModel:
    """Result of :func:`fit_welcome_model`: the fitted sklearn pipeline, its ``features``, the
    training cohort (``train``: features + ``second_order``), the ``departments`` used for shares,
    ``burn_in_end`` (first day a first order counts as an acquisition) and ``C``."""

    estimator: Any
    features: list[str]
    train: pd.DataFrame
    departments: list[str]
    burn_in_end: pd.Timestamp
    C: float

    def predict_proba(self, X: pd.DataFrame) -> pd.Series:
        """P(second order within the horizon) for feature rows ``X`` (index kept)."""
        p = self.estimator.predict_proba(X[self.features].astype("float64"))[:, 1]
        return pd.Series(p, index=X.index, name="p_second_order")

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per customer and feature, ``coef_j * z_ij`` on the log-odds scale (module docstring);
        the missing-indicator terms are added to their feature's column."""
        steps = self.estimator[:-1]
        z = steps.transform(X[self.features].astype("float64"))
        coef = self.estimator[-1].coef_.ravel()
        contrib = z * coef
        n = len(self.features)
        out = pd.DataFrame(contrib[:, :n], index=X.index, columns=self.features)
        imp = self.estimator[0]
        if getattr(imp, "indicator_", None) is not None:
            for k, j in enumerate(imp.indicator_.features_):
                out.iloc[:, j] += contrib[:, n + k]
        return out


def fit_welcome_model(tx_known: pd.DataFrame, orders_known: pd.DataFrame, products: pd.DataFrame | None,
                      customers: pd.DataFrame | None,
                      observation_start: DateLike, as_of: DateLike, horizon_days: int, burn_in_days: int = 60,
                      top_n_departments: int = 5, C: float = 0.1, seed: int = 0, min_train: int = 30,
                      firsts: pd.DataFrame | None = None) -> WelcomeModel:
    """Fit the second-order model on the training cohorts at ``as_of`` (module docstring).
    ``tx_known``: the lines known at ``as_of``; ``orders_known``: their orders
    (:func:`retention_utils.decisions.signals.order_table`); ``firsts``: their :func:`first_orders`
    when already computed.

    Raises :class:`PlaybookError` when fewer than ``min_train`` customers or only one label value are
    in the training cohorts (name the parameters to change: WELCOME_BURN_IN_DAYS, HORIZON_DAYS, AS_OF).
    """
    a = S.to_day(as_of, "as_of")
    start = S.to_day(observation_start, "observation_start")
    burn = start + pd.Timedelta(days=int(burn_in_days))
    firsts = first_orders(orders_known) if firsts is None else firsts
    cohort = firsts[(firsts["first_day"] >= burn) & (firsts["first_day"] + pd.Timedelta(days=int(horizon_days)) <= a + DAY)]
    y = second_order_labels(orders_known, cohort, horizon_days)
    if len(cohort) < min_train or y.nunique() < 2:
        raise PlaybookError(
            f"welcome model at {a.date()}: {len(cohort)} first orders between {burn.date()} and "
            f"{(a + DAY - pd.Timedelta(days=int(horizon_days))).date()} ({int(y.sum())} with a second order); need "
            f"{min_train} and both outcomes. Shorten WELCOME_BURN_IN_DAYS or HORIZON_DAYS, or move AS_OF later")
    depts = top_departments(tx_known, products, top_n_departments)
    X = first_order_features(tx_known, cohort, products, customers, depts)
    features = [c for c in X.columns if X[c].nunique(dropna=False) > 1]
    est = dict(P.model_candidates(seed=seed))["logistic regression"][0].set_params(logisticregression__C=float(C))
    est.fit(X[features].astype("float64"), y.to_numpy())
    return WelcomeModel(est, features, X.join(y), depts, burn, float(C))


def welcome_cohort(orders_known: pd.DataFrame, as_of: DateLike, welcome_days: int,
                   firsts: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`first_orders` of the customers whose first order is in the last ``welcome_days`` days up to
    ``as_of`` (inclusive)."""
    a = S.to_day(as_of, "as_of")
    firsts = first_orders(orders_known) if firsts is None else firsts
    return firsts[firsts["first_day"] > a - pd.Timedelta(days=int(welcome_days))]


def score_cohort(model: WelcomeModel, tx_known: pd.DataFrame, cohort: pd.DataFrame, products: pd.DataFrame | None,
                 customers: pd.DataFrame | None) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """``(p_second_order, features, contributions)`` for a cohort of :func:`first_orders` rows."""
    X = first_order_features(tx_known, cohort, products, customers, model.departments)
    for c in model.features:
        if c not in X:
            X[c] = np.nan
    return model.predict_proba(X), X, model.contributions(X)
