"""Customer-base analysis with the BTYD models: holdout checks, tracking, P(alive) and CLV tables.

The models themselves live in :mod:`retention_utils.models.btyd`; this module turns fitted models and the
per-customer summaries of :mod:`retention_utils.tables.summary` into the tables and figures of notebook
``06_customer_lifetime_value``, and writes the at-risk table that the retention playbook reads.

Conventions
-----------
* Summaries are indexed by ``customer_id`` and carry the BTYD columns ``frequency`` (repeat purchase
  days), ``recency`` and ``T`` (in one ``time_unit``, ``"days"`` or ``"weeks"``) and
  ``monetary_value`` (mean revenue of the repeat purchase days) of
  :func:`retention_utils.tables.summary.btyd_summary`; holdout columns (``frequency_holdout``,
  ``revenue_holdout``, ``duration_holdout``) come from
  :func:`retention_utils.tables.summary.calibration_holdout_split`.
* Money is in the data's currency; CLV is discounted per month at a stated monthly rate, a month
  being 365.25 / 12 days (:data:`retention_utils.models.btyd.DAYS_PER_MONTH`).
* Every output table is sorted (by ``customer_id``, group order or rank) so two runs print the same.

The standard BTYD holdout checks follow Fader, Hardie & Lee (2005), "'Counting Your Customers' the
Easy Way", *Marketing Science* 24(2), 275-284: Figure 2 (cumulative repeat transactions of the
cohort, :func:`repeat_purchase_tracking`) and Figure 4 (conditional expectations of holdout
purchases by calibration frequency, :func:`holdout_by_frequency`).

At-risk table (:data:`AT_RISK_COLUMNS`)
---------------------------------------
Written by :func:`write_at_risk_table` to ``reports/<dataset>/clv_at_risk.csv`` (UTF-8, comma
separated, header row, no index, floats with 10 significant digits, empty field = missing). One row per
top-value at-risk customer, ranked by ``value_at_risk``; see :func:`flag_at_risk` for the rule.

=======================  ========  ==========================================================================
column                   dtype     meaning
=======================  ========  ==========================================================================
customer_id              str       the customer (household in The Complete Journey)
rank                     int       1 = largest ``value_at_risk`` (ties by ``customer_id``)
reason                   str       ``"low"``, ``"falling"`` or ``"low, falling"`` (which P(alive) rule fired)
as_of                    str       ISO date of the last observed day (predictions start the day after)
earlier_date             str       ISO date of the earlier cutoff that ``p_alive_earlier`` refers to
model                    str       transaction + spend model, e.g. ``"BG/NBD + Gamma-Gamma"``
horizon_months           int       CLV horizon in months (1 month = 365.25 / 12 days)
discount_rate_monthly    float     discount rate per month used for ``clv``
p_alive                  float     P(alive) at ``as_of``, in [0, 1]
p_alive_earlier          float     P(alive) with the data up to ``earlier_date`` and the same parameters;
                                   empty when the customer's first purchase is after ``earlier_date``
p_alive_change           float     ``p_alive - p_alive_earlier`` (negative = falling); empty as above
clv                      float     expected discounted spend over the horizon (currency), >= 0
clv_if_alive             float     the same, given the customer is still alive (currency), >= ``clv``
value_at_risk            float     ``clv_if_alive - clv = (1 - p_alive) * clv_if_alive`` (currency)
expected_purchases       float     expected purchase days in the horizon
p_purchase               float     P(at least one purchase day in the horizon)
expected_spend           float     expected revenue per purchase day (Gamma-Gamma; currency)
frequency                int       repeat purchase days up to ``as_of``
n_orders                 int       orders up to ``as_of``
revenue                  float     revenue up to ``as_of`` (currency)
days_since_last_order    int       days from the last order to ``as_of``
segment                  str       RFM segment (:func:`retention_utils.models.segments.rfm_segment`)
=======================  ========  ==========================================================================
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DateLike
from .btyd import (
    DAYS_PER_MONTH,
    BetaGeoFitter,
    BTYDBoundaryWarning,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)

#: Model names used in tables and notebook parameters -> :mod:`retention_utils.models.btyd` classes.
MODELS: dict[str, type] = {
    "BG/NBD": BetaGeoFitter,
    "Pareto/NBD": ParetoNBDFitter,
    "MBG/NBD": ModifiedBetaGeoFitter,
    "Gamma-Gamma": GammaGammaFitter,
}
TRANSACTION_MODELS: tuple[str, ...] = ("BG/NBD", "Pareto/NBD", "MBG/NBD")
SPEND_MODEL = "Gamma-Gamma"

#: Published maximum-likelihood estimates on the CDNOW 1/10 sample (2,357 customers, calibration weeks
#: 1-39, time unit weeks, money in dollars). BG/NBD: Fader, Hardie & Lee (2005a), Table/Section 5;
#: Pareto/NBD: Fader & Hardie (2005 note "A Note on Deriving the Pareto/NBD Model"), FHL (2005a);
#: Gamma-Gamma: Fader, Hardie & Lee (2005b) and Fader & Hardie (2013 note 025), fitted on the 946
#: repeat buyers (``v`` is the papers' gamma). The MBG/NBD (Batislam et al. 2007) has no published
#: CDNOW estimate.
PUBLISHED_CDNOW_SAMPLE: dict[str, dict[str, float]] = {
    "BG/NBD": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log-likelihood": -9582.4},
    "Pareto/NBD": {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669, "log-likelihood": -9595.0},
    "Gamma-Gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
}

AT_RISK_COLUMNS: tuple[str, ...] = (
    S.CUSTOMER_ID, "rank", "reason", "as_of", "earlier_date", "model", "horizon_months",
    "discount_rate_monthly", "p_alive", "p_alive_earlier", "p_alive_change", "clv", "clv_if_alive",
    "value_at_risk", "expected_purchases", "p_purchase", "expected_spend", "frequency", "n_orders",
    "revenue", "days_since_last_order", "segment",
)
CONTEXT_COLUMNS: tuple[str, ...] = ("n_orders", "revenue", "days_since_last_order", "segment")
VALUE_COLUMNS: tuple[str, ...] = (
    "frequency", "recency", "T", "monetary_value", "p_alive", "expected_purchases", "p_purchase",
    "expected_spend", "clv", "clv_if_alive", "value_at_risk",
)


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


_unit_days = S.time_unit_days


def time_units_per_month(time_unit: str) -> float:
    """Length of a month (365.25 / 12 days) in ``time_unit``: 30.4375 for ``"days"``, 4.348 for
    ``"weeks"``. Raises ``ValueError`` for another unit."""
    return DAYS_PER_MONTH / _unit_days(time_unit)


def _require(df: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    S.require_columns(df, columns, table=table)


def _non_finite(values: pd.DataFrame | pd.Series, what: str) -> None:
    bad = ~np.isfinite(np.asarray(values, dtype="float64"))
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} non-finite value(s), e.g. rows {list(values.index[bad][:5])}")


# ------------------------------------------------------------------------------------------------
# fitting and parameters
# ------------------------------------------------------------------------------------------------


def fit_models(summary: pd.DataFrame, names: Sequence[str]) -> dict[str, Any]:
    """Fit the named models (keys of :data:`MODELS`) by maximum likelihood on a BTYD summary.

    Transaction models use ``frequency``, ``recency``, ``T`` (identical rows are collapsed with
    weights inside :mod:`retention_utils.models.btyd`); the Gamma-Gamma model uses ``frequency`` and
    ``monetary_value`` and is fitted on the customers with ``frequency > 0`` and
    ``monetary_value > 0`` only (its ``n_excluded_`` counts the others).

    Returns ``{name: fitted model}`` in the order of ``names``. A
    :class:`retention_utils.models.btyd.BTYDBoundaryWarning` (degenerate estimate, no standard errors) is not
    printed but kept, as a list of messages, in the model's attribute ``fit_warnings_`` (empty list if
    none). Raises ``ValueError`` for an unknown name or missing columns, and passes on the models'
    ``ValueError`` / ``BTYDFitError``.
    """
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    out = {}
    for name in names:
        cols = ("frequency", "monetary_value") if name == SPEND_MODEL else ("frequency", "recency", "T")
        _require(summary, cols, "summary")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BTYDBoundaryWarning)
            model = MODELS[name]().fit(*(summary[c] for c in cols))
        model.fit_warnings_ = [str(w.message) for w in caught if issubclass(w.category, BTYDBoundaryWarning)]
        for w in caught:  # anything else is re-emitted
            if not issubclass(w.category, BTYDBoundaryWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        out[name] = model
    return out


def parameter_table(models: Mapping[str, Any], published: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Estimates, standard errors and (optionally) published values, one row per model parameter.

    Parameters
    ----------
    models : ``{name: fitted btyd model}`` (e.g. from :func:`fit_models`).
    published : ``{name: {parameter: value}}`` such as :data:`PUBLISHED_CDNOW_SAMPLE`; the key
        ``"log-likelihood"`` holds the published log-likelihood.

    Returns
    -------
    DataFrame indexed by (``model``, ``parameter``), models in the given order, parameters in the
    model's order followed by ``log-likelihood``. Columns: ``estimate`` (float), ``se`` (delta-method
    standard error from the model's ``summary``; NaN for the log-likelihood or when unavailable),
    ``published`` (NaN where none), ``difference`` (estimate - published).
    """
    rows = []
    published = published or {}
    for name, model in models.items():
        summ = model.summary
        pub = published.get(name, {})
        for p, v in model.params_.items():
            rows.append((name, p, float(v), float(summ.loc[p, "se(coef)"]), float(pub.get(p, np.nan))))
        rows.append((name, "log-likelihood", float(model.log_likelihood_), np.nan, float(pub.get("log-likelihood", np.nan))))
    out = pd.DataFrame(rows, columns=["model", "parameter", "estimate", "se", "published"])
    out["difference"] = out["estimate"] - out["published"]
    return out.set_index(["model", "parameter"])


#: a parameter whose standard error exceeds this share of its estimate is reported as weakly identified
WEAK_RELATIVE_SE = 0.5


def parameter_intervals(models: Mapping[str, Any], level: float = 0.95) -> pd.DataFrame:
    """95 % (``level``) intervals of every fitted parameter, and which ones the data barely pin down.

    BTYD parameters are positive, so the Wald interval is taken on the log scale (delta method:
    ``se(log theta) = se / theta``): ``[theta * exp(-z se / theta), theta * exp(z se / theta)]``, never
    below zero. Returns a DataFrame indexed by (``model``, ``parameter``) with ``estimate``, ``se``,
    ``lower``, ``upper``, ``relative_se`` (se / estimate) and ``weakly_identified`` (relative_se above
    :data:`WEAK_RELATIVE_SE`, or no standard error at all). A weakly identified parameter (e.g. the
    BG/NBD's ``b`` when few customers drop out) should be read with its interval, and quantities built on
    it (a / (a + b)) stated as ranges.
    """
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    t = parameter_table(models)
    t = t[t.index.get_level_values("parameter") != "log-likelihood"][["estimate", "se"]].copy()
    rel = t["se"] / t["estimate"]
    t["lower"] = t["estimate"] * np.exp(-z * rel)
    t["upper"] = t["estimate"] * np.exp(z * rel)
    t["relative_se"] = rel
    t["weakly_identified"] = ~(rel <= WEAK_RELATIVE_SE)
    return t


# ------------------------------------------------------------------------------------------------
# holdout checks
# ------------------------------------------------------------------------------------------------


def frequency_groups(frequency: pd.Series, edges: Sequence[int]) -> pd.Series:
    """Calibration-frequency groups for the conditional-expectation figure.

    ``edges`` are the increasing integer lower bounds of the groups, starting at 0: ``[0, 1, 2, 7]``
    gives ``"0"``, ``"1"``, ``"2-6"`` and ``"7+"`` (a group holding one value is labelled by it; the
    last group is open). Returns an ordered categorical Series (same index) whose categories are all
    the groups, in order. Raises ``ValueError`` for edges that do not start at 0 or do not increase,
    or for negative / non-integer / missing frequencies.
    """
    e = [int(v) for v in edges]
    if not e or e[0] != 0 or any(b <= a for a, b in zip(e, e[1:], strict=False)) or any(int(v) != v for v in edges):
        raise ValueError(f"edges must be increasing integers starting at 0, got {list(edges)}")
    f = pd.Series(frequency, copy=False)
    x = f.to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(x) | (x < 0) | (x != np.round(x))
    if bad.any():
        raise ValueError(f"frequency must be integers >= 0; offending rows {list(f.index[bad][:5])}")
    labels = []
    for lo, hi in zip(e, e[1:] + [None], strict=True):
        if hi is None:
            labels.append(f"{lo}+")
        elif hi - lo == 1:
            labels.append(str(lo))
        else:
            labels.append(f"{lo}-{hi - 1}")
    codes = np.searchsorted(np.asarray(e), x, side="right") - 1
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True), index=f.index, name="frequency_group")


def holdout_predictions(models: Mapping[str, Any], summary: pd.DataFrame) -> pd.DataFrame:
    """Expected repeat purchases in each customer's holdout window, per transaction model.

    E[Y(t) | x, t_x, T] with ``t = duration_holdout`` (the model's time unit) from the calibration
    columns ``frequency``, ``recency``, ``T`` (FHL 2005a eq. 10 and its Pareto/NBD and MBG/NBD
    counterparts, :meth:`retention_utils.models.btyd.BetaGeoFitter.expected_purchases`). Returns a DataFrame
    indexed like ``summary`` with one float column per model name (in the given order).
    """
    _require(summary, ("frequency", "recency", "T", "duration_holdout"), "summary")
    out = {}
    for name, m in models.items():
        out[name] = np.asarray(
            m.expected_purchases(summary["duration_holdout"].to_numpy(dtype="float64"), summary["frequency"], summary["recency"], summary["T"]),
            dtype="float64",
        )
    return pd.DataFrame(out, index=summary.index)


def holdout_by_frequency(summary: pd.DataFrame, predictions: pd.DataFrame, edges: Sequence[int]) -> pd.DataFrame:
    """Mean holdout repeat purchases per calibration-frequency group, actual and predicted
    (Fader, Hardie & Lee 2005a, Figure 4: "conditional expectations").

    Parameters
    ----------
    summary : calibration/holdout summary with ``frequency`` (calibration repeat purchase days) and
        ``frequency_holdout`` (purchase days in the holdout).
    predictions : DataFrame indexed like ``summary``, one column of expected holdout purchases per
        model (:func:`holdout_predictions`).
    edges : group lower bounds, see :func:`frequency_groups`.

    Returns
    -------
    DataFrame indexed by ``frequency_group`` (every group, in order; empty groups have 0 customers and
    NaN means) with ``customers`` (int), ``actual`` (mean holdout purchases) and one mean column per model.
    Raises ``ValueError`` if ``predictions`` is not indexed like ``summary``.
    """
    _require(summary, ("frequency", "frequency_holdout"), "summary")
    if not predictions.index.equals(summary.index):
        raise ValueError("predictions must have the same index (customers, order) as summary")
    g = frequency_groups(summary["frequency"], edges)
    df = predictions.astype("float64").copy()
    df.insert(0, "actual", summary["frequency_holdout"].astype("float64"))
    means = df.groupby(g, observed=False, sort=True).mean()
    means.insert(0, "customers", g.value_counts(sort=False).reindex(means.index).astype("int64"))
    means.index.name = "frequency_group"
    return means


def holdout_accuracy(actual: pd.Series, predictions: pd.DataFrame) -> pd.DataFrame:
    """Per-customer accuracy of holdout predictions, one row per model (column of ``predictions``).

    Columns: ``actual_total`` and ``predicted_total`` (sums over customers), ``total_error`` =
    predicted_total / actual_total - 1, ``mae`` (mean absolute error), ``rmse`` (root mean squared
    error), ``correlation`` (Pearson, per customer; NaN when either side is constant). Raises
    ``ValueError`` when the indexes differ or values are not finite.
    """
    if not predictions.index.equals(actual.index):
        raise ValueError("predictions must have the same index (customers, order) as actual")
    y = actual.astype("float64")
    _non_finite(y, "actual")
    _non_finite(predictions, "predictions")
    rows = {}
    yv = y.to_numpy()
    for name in predictions.columns:
        p = predictions[name].to_numpy(dtype="float64")
        err = p - yv
        corr = np.nan
        if np.std(p) > 0 and np.std(yv) > 0:
            corr = float(np.corrcoef(p, yv)[0, 1])
        rows[name] = {
            "actual_total": float(yv.sum()),
            "predicted_total": float(p.sum()),
            "total_error": float(p.sum() / yv.sum() - 1) if yv.sum() != 0 else np.nan,
            "mae": float(np.abs(err).mean()),
            "rmse": float(np.sqrt((err**2).mean())),
            "correlation": corr,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    return out


def repeat_purchase_tracking(
    tx: pd.DataFrame,
    model: Any,
    start: DateLike,
    calibration_end: DateLike,
    end: DateLike,
    time_unit: str = "weeks",
    step_days: int = 7,
) -> pd.DataFrame:
    """Repeat purchases of the calibration cohort over time, actual against the model's expectation
    (Fader, Hardie & Lee 2005a, Figures 1 and 2: weekly and cumulative repeat transactions).

    The cohort is every customer whose first purchase day is in ``[start, calibration_end]``.
    Purchases follow the BTYD convention of :func:`retention_utils.tables.summary.btyd_summary`: one purchase
    per customer and calendar day, the first one is not a repeat.

    **Which day a row stands for.** Each row is indexed by its last day ``d`` and stands for the *end*
    of that day: ``actual_cumulative`` counts the cohort's repeat purchase days up to and including
    ``d``, and a customer first seen on day ``f <= d`` has then been a customer for ``d + 1 - f`` days,
    so the expected cumulative count is ``sum_i E[X((d + 1 - f_i) / unit)]`` with the model's
    unconditional expectation E[X(t)] (FHL 2005a eq. 9;
    :meth:`retention_utils.models.btyd.BetaGeoFitter.expected_purchases` without customer data), fitted
    on the calibration period. With weekly rows from ``start`` (day offsets counted from 0), row ``k``
    is day ``7k - 1`` and covers ages up to ``7k - f`` days: the convention of the R BTYD walkthrough
    and of lifetimes' ``expected_cumulative_transactions``, whose published CDNOW values it reproduces
    (Pareto/NBD, weeks 20-25: 1308.91 ... 1674.32; tested).

    Parameters
    ----------
    tx : canonical transactions (``customer_id``, ``order_ts``), all within ``[start, end]``.
    model : fitted transaction model (anything with ``expected_purchases(t)`` accepting an array of
        times in ``time_unit``).
    start, calibration_end, end : inclusive days; ``start <= calibration_end < end``.
    time_unit : the model's unit, ``"days"`` or ``"weeks"``.
    step_days : spacing of the rows in days (7 = weekly). ``calibration_end`` and ``end`` are always
        rows, so the last step of each period may be shorter (column ``days``).

    Returns
    -------
    DataFrame indexed by ``day`` (datetime64, the step's last day, increasing) with ``days`` (int,
    days in the step), ``elapsed`` (float, time since ``start`` at the end of the day, in
    ``time_unit``), ``holdout`` (bool, day after ``calibration_end``), ``actual`` and ``expected``
    (repeat purchases in the step), ``actual_cumulative`` and ``expected_cumulative``.

    Raises
    ------
    ValueError : dates out of order, ``step_days < 1``, an unknown ``time_unit``, or transactions
        outside ``[start, end]`` (the message counts them and shows examples).
    """
    unit = _unit_days(time_unit)
    if int(step_days) != step_days or step_days < 1:
        raise ValueError(f"step_days must be a positive integer, got {step_days!r}")
    t0, cal, t1 = (S.to_day(d, w) for d, w in ((start, "start"), (calibration_end, "calibration_end"), (end, "end")))
    if not t0 <= cal < t1:
        raise ValueError(f"need start <= calibration_end < end, got {t0.date()}, {cal.date()}, {t1.date()}")
    _require(tx, (S.CUSTOMER_ID, S.ORDER_TS), "transactions")
    S.require_non_empty(tx)
    day = tx[S.ORDER_TS].dt.normalize()
    outside = (day < t0) | (day > t1)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum()):,} transaction(s) outside {t0.date()}..{t1.date()}: "
            + S._examples(tx, outside.to_numpy(), S.ORDER_TS)
        )
    days = pd.DataFrame({S.CUSTOMER_ID: tx[S.CUSTOMER_ID].to_numpy(), "day": day.to_numpy()}).drop_duplicates()
    first = days.groupby(S.CUSTOMER_ID, sort=True)["day"].min()
    cohort = first[first <= cal]
    days = days[days[S.CUSTOMER_ID].isin(cohort.index)]
    repeat_days = days.loc[days["day"] > days[S.CUSTOMER_ID].map(cohort), "day"]

    n_days = (t1 - t0).days + 1
    grid = set(range(int(step_days) - 1, n_days, int(step_days))) | {(cal - t0).days, n_days - 1}
    offsets = np.array(sorted(grid))  # day offsets from start (0 = start)
    grid_days = t0 + pd.to_timedelta(offsets, unit="D")

    rep_off = (repeat_days - t0).dt.days.to_numpy()
    actual_cum = np.searchsorted(np.sort(rep_off), offsets, side="right").astype("float64")

    f_off, f_n = np.unique((cohort - t0).dt.days.to_numpy(), return_counts=True)
    # a row stands for the END of its day d: a customer first seen on day f <= d is then d + 1 - f days old
    # (lifetimes' expected_cumulative_transactions and the R BTYD walkthrough: period k covers ages up to
    # 7k - f); customers first seen after d are not yet in the cohort (age 0, E[X(0)] = 0)
    age = np.clip(offsets[:, None] + 1 - f_off[None, :], 0, None) / unit  # (rows, first days), time_unit
    ex = np.asarray(model.expected_purchases(age), dtype="float64").reshape(age.shape)
    expected_cum = ex @ f_n.astype("float64")

    out = pd.DataFrame(
        {
            "days": np.diff(np.r_[-1, offsets]).astype("int64"),
            "elapsed": (offsets + 1) / unit,
            "holdout": grid_days > cal,
            "actual": np.diff(np.r_[0.0, actual_cum]),
            "expected": np.diff(np.r_[0.0, expected_cum]),
            "actual_cumulative": actual_cum,
            "expected_cumulative": expected_cum,
        },
        index=pd.DatetimeIndex(grid_days, name="day"),
    )
    return out


# ------------------------------------------------------------------------------------------------
# per-customer value
# ------------------------------------------------------------------------------------------------


def customer_value_table(
    summary: pd.DataFrame,
    transaction_model: Any,
    spend_model: GammaGammaFitter,
    horizon_months: int,
    discount_rate: float,
    time_unit: str,
) -> pd.DataFrame:
    """P(alive), expected purchases, expected spend and CLV per customer.

    Parameters
    ----------
    summary : BTYD summary indexed by ``customer_id`` (``frequency``, ``recency``, ``T``,
        ``monetary_value``; times in ``time_unit``).
    transaction_model : fitted BG/NBD, MBG/NBD or Pareto/NBD (:mod:`retention_utils.models.btyd`), fitted in
        ``time_unit``.
    spend_model : fitted :class:`retention_utils.models.btyd.GammaGammaFitter`.
    horizon_months : CLV horizon, a positive number of months (1 month = 365.25 / 12 days).
    discount_rate : discount rate per month (>= 0); the cash flow of month ``i`` is divided by
        ``(1 + discount_rate) ** i``.
    time_unit : ``"days"`` or ``"weeks"``.

    Returns
    -------
    DataFrame indexed by ``customer_id`` (sorted) with float columns (:data:`VALUE_COLUMNS`):
    ``frequency``, ``recency``, ``T``, ``monetary_value`` (copied), ``p_alive`` (P(alive) at ``T``),
    ``expected_purchases`` and ``p_purchase`` (expected purchases and P(at least one) in the next
    ``horizon_months``), ``expected_spend`` (Gamma-Gamma conditional mean spend per purchase; one-time
    buyers get the population mean p v / (q - 1)), ``clv`` (discounted, currency;
    :meth:`retention_utils.models.btyd.GammaGammaFitter.customer_lifetime_value`), ``clv_if_alive`` (the same
    given that the customer is still alive) and ``value_at_risk`` = ``clv_if_alive - clv``.

    ``clv_if_alive``: in all three transaction models E[Y(t) | x, t_x, T] = P(alive | x, t_x, T) *
    E[Y(t) | alive at T, x, T], and the second factor does not depend on t_x (given alive at T, the
    posterior of the purchase rate is Gamma(r + x, alpha + T) and of the dropout the same for every
    t_x). So CLV given alive = CLV(x, t*, T) / P(alive | x, t*, T) with t* = T for repeat buyers and
    t* = 0 (the only valid recency) for one-time buyers; P(alive | x, t*, T) is bounded away from 0
    there, so the ratio is stable even when P(alive | x, t_x, T) underflows.

    Raises
    ------
    ValueError : missing columns, bad ``horizon_months`` / ``discount_rate`` / ``time_unit``, or a
        non-finite or negative result (never returned as NaN).
    """
    _require(summary, ("frequency", "recency", "T", "monetary_value"), "summary")
    if isinstance(horizon_months, bool) or int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValueError(f"horizon_months must be a positive integer, got {horizon_months!r}")
    if not (np.isfinite(discount_rate) and discount_rate >= 0):
        raise ValueError(f"discount_rate must be finite and >= 0, got {discount_rate!r}")
    k = time_units_per_month(time_unit)
    s = summary.sort_index()
    f, r, T, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
    h = float(horizon_months) * k
    r_star = T.where(f > 0, 0.0)

    def clv(recency: pd.Series) -> pd.Series:
        return spend_model.customer_lifetime_value(
            transaction_model, f, recency, T, m, int(horizon_months),
            time_units_per_period=k, discount_rate=float(discount_rate),
        )

    out = s[["frequency", "recency", "T", "monetary_value"]].astype("float64").copy()
    out["p_alive"] = np.asarray(transaction_model.probability_alive(f, r, T), dtype="float64")
    out["expected_purchases"] = np.asarray(transaction_model.expected_purchases(h, f, r, T), dtype="float64")
    out["p_purchase"] = np.asarray(transaction_model.probability_of_purchases_in(h, f, r, T), dtype="float64")
    out["expected_spend"] = np.asarray(spend_model.expected_spend(f, m), dtype="float64")
    out["clv"] = np.asarray(clv(r), dtype="float64")
    alive_star = np.asarray(transaction_model.probability_alive(f, r_star, T), dtype="float64")
    if (alive_star <= 0).any():
        raise ValueError(f"P(alive) given a purchase at T underflows to 0 for rows {list(s.index[alive_star <= 0][:5])}")
    out["clv_if_alive"] = np.maximum(np.asarray(clv(r_star), dtype="float64") / alive_star, out["clv"].to_numpy())
    out["value_at_risk"] = out["clv_if_alive"] - out["clv"]
    _non_finite(out, "customer value table")
    neg = (out[["p_alive", "expected_purchases", "p_purchase", "expected_spend", "clv"]] < 0).any(axis=1)
    if neg.any():
        raise ValueError(f"negative predictions for rows {list(out.index[neg][:5])}")
    return out


def p_alive_by_group(values: pd.DataFrame, group: pd.Series, p_alive_low: float = 0.5) -> pd.DataFrame:
    """P(alive) and CLV per group (e.g. RFM segment).

    ``values``: :func:`customer_value_table` output (``p_alive``, ``clv``); ``group``: one label per
    customer (same index; an ordered categorical keeps its order, other labels are sorted).
    Returns a DataFrame indexed by group (empty groups left out) with ``customers`` (int),
    ``mean_p_alive``, ``median_p_alive``, ``share_low`` (share with ``p_alive < p_alive_low``),
    ``mean_clv``, ``clv_share`` (the group's share of the total CLV). Raises ``ValueError`` when
    ``group`` misses customers of ``values`` or has missing labels.
    """
    _require(values, ("p_alive", "clv"), "values")
    g = group.reindex(values.index)
    if g.isna().any():
        raise ValueError(f"group has no label for {int(g.isna().sum())} customer(s), e.g. {list(g.index[g.isna()][:5])}")
    df = pd.DataFrame({"p_alive": values["p_alive"], "clv": values["clv"], "low": values["p_alive"] < p_alive_low})
    grp = df.groupby(g, observed=True, sort=True)
    out = pd.DataFrame(
        {
            "customers": grp.size().astype("int64"),
            "mean_p_alive": grp["p_alive"].mean(),
            "median_p_alive": grp["p_alive"].median(),
            "share_low": grp["low"].mean(),
            "mean_clv": grp["clv"].mean(),
            "clv_share": grp["clv"].sum() / df["clv"].sum(),
        }
    )
    out.index.name = group.name or "group"
    return out


# ------------------------------------------------------------------------------------------------
# top-value at-risk customers
# ------------------------------------------------------------------------------------------------


def flag_at_risk(
    values: pd.DataFrame,
    p_alive_earlier: pd.Series,
    high_value_quantile: float = 0.8,
    p_alive_low: float = 0.5,
    p_alive_drop: float = 0.2,
) -> pd.DataFrame:
    """Flag the top-value customers whose P(alive) is low or falling.

    Rule (all thresholds are parameters):

    * **high value**: ``clv_if_alive >= `` its ``high_value_quantile`` quantile over all customers
      (numpy linear interpolation), i.e. the customers worth most *if retained*. CLV itself already
      multiplies by P(alive), so "high CLV and low P(alive)" would be nearly empty by construction;
      the value a retention action can save is ``clv_if_alive``;
    * **low**: ``p_alive < p_alive_low``;
    * **falling**: ``p_alive_earlier - p_alive >= p_alive_drop``, where ``p_alive_earlier`` is P(alive)
      of the same customer computed from the data up to an earlier cutoff with the same model
      parameters. Customers without an earlier value (first purchase after that cutoff) are never
      falling;
    * **at risk** = high value and (low or falling).

    Parameters
    ----------
    values : :func:`customer_value_table` output.
    p_alive_earlier : Series indexed by ``customer_id``; customers of ``values`` missing from it get NaN.
    high_value_quantile : in [0, 1).
    p_alive_low, p_alive_drop : in (0, 1].

    Returns
    -------
    Copy of ``values`` with ``p_alive_earlier``, ``p_alive_change`` (= p_alive - p_alive_earlier; NaN
    without an earlier value), bool columns ``high_value``, ``low``, ``falling``, ``at_risk``, and
    ``attrs["high_value_threshold"]`` (the clv_if_alive cut-off, currency). Raises ``ValueError`` for
    thresholds out of range, missing columns or P(alive) values outside [0, 1].
    """
    _require(values, ("p_alive", "clv", "clv_if_alive", "value_at_risk"), "values")
    if not 0 <= high_value_quantile < 1:
        raise ValueError(f"high_value_quantile must be in [0, 1), got {high_value_quantile!r}")
    for name, v in (("p_alive_low", p_alive_low), ("p_alive_drop", p_alive_drop)):
        if not 0 < v <= 1:
            raise ValueError(f"{name} must be in (0, 1], got {v!r}")
    pe = p_alive_earlier.reindex(values.index).astype("float64")
    for name, v in (("p_alive", values["p_alive"]), ("p_alive_earlier", pe.dropna())):
        bad = (v < 0) | (v > 1) | v.isna()
        if bad.any():
            raise ValueError(f"{name} must be in [0, 1]; offending rows {list(v.index[bad][:5])}")
    out = values.copy()
    out["p_alive_earlier"] = pe
    out["p_alive_change"] = out["p_alive"] - pe
    threshold = float(np.quantile(out["clv_if_alive"].to_numpy(dtype="float64"), high_value_quantile))
    out["high_value"] = out["clv_if_alive"] >= threshold
    out["low"] = out["p_alive"] < p_alive_low
    out["falling"] = (-out["p_alive_change"] >= p_alive_drop).fillna(False).astype(bool)
    out["at_risk"] = out["high_value"] & (out["low"] | out["falling"])
    out.attrs["high_value_threshold"] = threshold
    return out


def at_risk_table(
    flagged: pd.DataFrame,
    context: pd.DataFrame,
    as_of: DateLike,
    earlier_date: DateLike,
    model: str,
    horizon_months: int,
    discount_rate: float,
) -> pd.DataFrame:
    """The top-value at-risk customers as the playbook table (:data:`AT_RISK_COLUMNS`, module docstring).

    ``flagged``: :func:`flag_at_risk` output; ``context``: indexed by ``customer_id`` with
    :data:`CONTEXT_COLUMNS` (``n_orders``, ``revenue``, ``days_since_last_order`` from
    :func:`retention_utils.tables.summary.customer_summary`, ``segment`` from
    :func:`retention_utils.models.segments.rfm_segment`) for every flagged customer. Rows: ``at_risk`` customers
    only, sorted by ``value_at_risk`` (descending), then ``customer_id``; ``rank`` 1..n in that order.
    Raises ``ValueError`` when context rows or columns are missing.
    """
    as_of_day, earlier_day = S.to_date(as_of, "as_of"), S.to_date(earlier_date, "earlier_date")  # dates first
    _require(flagged, ("at_risk", "low", "falling", "p_alive_earlier", "p_alive_change", *VALUE_COLUMNS), "flagged")
    _require(context, CONTEXT_COLUMNS, "context")
    sel = flagged[flagged["at_risk"]]
    missing = sel.index.difference(context.index)
    if len(missing):
        raise ValueError(f"context has no row for {len(missing)} at-risk customer(s), e.g. {list(missing[:5])}")
    ctx = context.loc[sel.index]
    reason = np.where(sel["low"] & sel["falling"], "low, falling", np.where(sel["low"], "low", "falling"))
    out = pd.DataFrame(
        {
            S.CUSTOMER_ID: sel.index.astype(str),
            "reason": reason,
            "as_of": as_of_day.isoformat(),
            "earlier_date": earlier_day.isoformat(),
            "model": str(model),
            "horizon_months": int(horizon_months),
            "discount_rate_monthly": float(discount_rate),
            **{c: sel[c].to_numpy(dtype="float64") for c in (
                "p_alive", "p_alive_earlier", "p_alive_change", "clv", "clv_if_alive", "value_at_risk",
                "expected_purchases", "p_purchase", "expected_spend")},
            "frequency": sel["frequency"].to_numpy().astype("int64"),
            "n_orders": ctx["n_orders"].to_numpy().astype("int64"),
            "revenue": ctx["revenue"].to_numpy(dtype="float64"),
            "days_since_last_order": ctx["days_since_last_order"].to_numpy().astype("int64"),
            "segment": ctx["segment"].astype(str).to_numpy(),
        }
    )
    out = out.sort_values(["value_at_risk", S.CUSTOMER_ID], ascending=[False, True], kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1, dtype="int64")
    return out[list(AT_RISK_COLUMNS)]


def write_at_risk_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write :func:`at_risk_table` output as CSV (UTF-8, header, no index, floats with 10 significant
    digits, missing values as empty fields), creating the folder. Returns the path. Raises
    ``ValueError`` if the columns are not :data:`AT_RISK_COLUMNS` in that order."""
    return S.write_checked_csv(table, Path(path), AT_RISK_COLUMNS, "at-risk table")


def read_at_risk_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a file written by :func:`write_at_risk_table` with the documented dtypes (``customer_id``,
    ``reason``, ``as_of``, ``earlier_date``, ``model``, ``segment`` as str; ints and floats as in
    :data:`AT_RISK_COLUMNS`). Raises ``ValueError`` if the columns differ."""
    text_cols = (S.CUSTOMER_ID, "reason", "as_of", "earlier_date", "model", "segment")
    df = pd.read_csv(path, dtype={c: str for c in text_cols}, keep_default_na=False, na_values={
        c: [""] for c in AT_RISK_COLUMNS if c not in text_cols})
    if list(df.columns) != list(AT_RISK_COLUMNS):
        raise ValueError(f"{path}: columns must be {list(AT_RISK_COLUMNS)}, got {list(df.columns)}")
    return df


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------




# ------------------------------------------------------------------------------------------------
# what the CLV notebook needs
# ------------------------------------------------------------------------------------------------

#: repeat buyers in the calibration period below which BTYD and Gamma-Gamma estimates are not worth fitting
MIN_REPEAT_CUSTOMERS = 10


def require_btyd_data(
    tx: pd.DataFrame, observation_start: DateLike, calibration_end: DateLike, observation_end: DateLike
) -> None:
    """What the CLV notebook (06) needs, checked in its first analysis cell, in this order:

    1. ``observation_start < calibration_end < observation_end``;
    2. an order on ``observation_end``'s day or later: the holdout may not run past the last order
       (:func:`retention_utils.tables.summary.calibration_holdout_split`: unobserved days would look like
       inactivity);
    3. at least :data:`MIN_REPEAT_CUSTOMERS` customers with a repeat purchase day in the calibration
       period (the transaction models and the Gamma-Gamma spend model are fitted on repeat purchases);
    4. among the calibration customers, some who buy in the holdout and some who do not (the holdout
       ROC-AUC of "buys again").

    Raises :class:`retention_utils.schema.InsufficientDataError` with one sentence (the first need that
    fails, with the dates or counts and the parameter to change).
    """
    start, cal, end = (S.to_day(d, w) for d, w in ((observation_start, "OBSERVATION_START"),
                                                   (calibration_end, "CALIBRATION_END"), (observation_end, "OBSERVATION_END")))
    if not start < cal < end:
        raise S.InsufficientDataError(
            f"customer lifetime value needs OBSERVATION_START < CALIBRATION_END < OBSERVATION_END, got {start.date()}, "
            f"{cal.date()}, {end.date()}."
        )
    day = tx[S.ORDER_TS].dt.normalize()
    last = day.max()
    if last < end:
        raise S.InsufficientDataError(
            f"the CLV holdout runs to OBSERVATION_END ({end.date()}) but the last order is on {last.date()}: the days "
            f"in between are not observed; set OBSERVATION_END to {last.date()} or earlier."
        )
    days = pd.DataFrame({"c": tx[S.CUSTOMER_ID].to_numpy(), "d": day.to_numpy()}).drop_duplicates()
    in_cal = days[days["d"] <= cal]
    n_cal = int(in_cal["c"].nunique())
    repeat = int((in_cal.groupby("c").size() > 1).sum())
    if repeat < MIN_REPEAT_CUSTOMERS:
        raise S.InsufficientDataError(
            f"the BTYD and spend models are fitted on repeat purchases and need at least {MIN_REPEAT_CUSTOMERS} customers "
            f"who bought on two days by CALIBRATION_END ({cal.date()}); the data has {repeat:,} of {n_cal:,}."
        )
    holdout = days.loc[(days["d"] > cal) & (days["d"] <= end), "c"].unique()
    came_back = int(pd.Index(in_cal["c"].unique()).isin(holdout).sum())
    if came_back == 0 or came_back == n_cal:
        raise S.InsufficientDataError(
            f"the holdout check needs calibration customers who buy again after CALIBRATION_END and customers who do "
            f"not; {came_back:,} of {n_cal:,} buy again in {(cal + S.DAY).date()} .. {end.date()}."
        )
