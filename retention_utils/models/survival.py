"""Churn as time-to-event: the definitions, covariate checks, lifelines wrappers, validation.

The duration tables themselves (threshold, censoring, first window, next purchase) are built in
:mod:`retention_utils.tables.durations`; the covariates shared with other models (campaign exposure,
demographics) in :mod:`retention_utils.tables.covariates`; C-index and IPCW Brier score in
:mod:`retention_utils.scoring`. This module fits and validates the models on those tables.

Churn definition
----------------
In non-contractual retail nobody announces that they left, so churn is defined by inactivity. With a
threshold of ``tau`` days (:func:`churn_threshold`, a stated high percentile of the inter-purchase
gaps), a customer whose last purchase day up to the cutoff is ``L`` has the **churn date** ``L + tau``:
the day on which ``tau`` full days have passed without a purchase (days ``L + 1 .. L + tau``).

* **churned** (event = 1) when ``L + tau <= cutoff``: the churn date has been observed;
* **right-censored** (event = 0) at the cutoff otherwise: nobody whose last purchase is within
  ``tau`` days of the cutoff (``cutoff - L < tau``) can be labelled churned.

The event is the *final* lapse: a customer who went ``tau`` days without buying and came back is not
churned (:func:`churn_threshold` reports how many did, the price of a given ``tau``).

Durations (days) and the cutoff
-------------------------------
The ``cutoff`` is the last observed calendar day, inclusive. ``start`` is the day the customer
becomes at risk (the first purchase day, or a landmark after it) and ``end`` the event date. Then
(:func:`censor_at_cutoff`)

* ``end <= cutoff``: event observed, ``duration = end - start``;
* ``end > cutoff`` or no end (``NaT``): censored, ``duration = cutoff - start``.

Only ``min(end, cutoff)`` and ``end <= cutoff`` enter, which is what is known on the cutoff day;
:func:`churn_durations` also reads transactions on or before the cutoff only, so durations at a cutoff
never use the future (a tested property: adding or changing later transactions changes nothing).
Example (the test): starts 2013-10-08/09/10, ends 2013-10-10/12/15, cutoff 2013-10-12 give durations
2, 3, 2 days and events 1, 1, 0 (an end on the cutoff day is observed).

Rules for bad durations: a missing start, a start after the cutoff or an end before the start raise
:class:`DurationError` naming the customers. **Zero durations**: a customer whose risk period starts on
the cutoff day (or, with a landmark, whose churn or censoring falls on or before the landmark) has no
time at risk; :func:`churn_durations` drops them and counts them by reason; :func:`check_durations`,
run before every Cox and Weibull fit, refuses any duration <= 0 (a Weibull model cannot take log 0, and
a Cox risk set at 0 is empty). Kaplan-Meier and the log-rank test accept a zero duration (a customer
lost on the day they entered): it is a valid time for a non-parametric estimator.

Left truncation: durations start at the first purchase *in the data*; a log that starts in the middle
of customers' relationships lets customers enter late. The rule and the count of customers it may
affect are in :func:`retention_utils.tables.durations.churn_durations` (``window_start``).

Landmark and covariates
-----------------------
Covariates must be known at the start of the risk period. The models therefore use a landmark: the
risk period starts ``window_days`` after the first purchase; covariates come from the first window
``[first, first + window_days)`` only (:func:`first_window_features`, :func:`campaigns_in_window`),
plus static demographics with a missing indicator (:func:`demographic_covariates`). Customers who
churned or were censored by the landmark are not at risk there and are counted.

Models and validation
---------------------
Kaplan-Meier and log-rank tests (:func:`km_by_group`, :func:`logrank_by_group`), Cox proportional
hazards (:func:`fit_cox`) after :func:`check_covariates` (constant, non-finite, perfectly collinear
or separating columns raise :class:`CovariateError` naming them, never lifelines' bare "convergence
halted"), the proportional-hazards test (:func:`ph_test`) acted on by stratifying on binned violators
(:func:`plan_strata`), a Weibull AFT model (:func:`fit_weibull_aft`). Held-out customers
(:func:`split_customers`) are scored by :func:`concordance` (the caller states the score's direction),
:func:`calibration_at_horizon` (predicted vs Kaplan-Meier survival by risk group) and
:func:`brier_score_at` (IPCW Brier score at the horizon).

Scoring at a calendar cutoff
----------------------------
The churn model above runs from each customer's own landmark, with covariates frozen at the end of
the first month, and its event (``tau`` days without a purchase) is not "buys in the next ``t``
days": it cannot be read at one calendar date for everybody. To rank customers on a calendar date,
:func:`next_purchase_table` restarts the clock at the cutoff: the duration is the time from the
cutoff to the next purchase (censored at the end of the follow-up), with covariates known that day
(time since the last purchase, purchase days, revenue, tenure); a Cox model fitted on an earlier
cutoff scores a later one by :func:`next_purchase_score` (higher = next purchase sooner). Churn in
the sense above is the same silence lasting ``tau`` days.

Sources: Kaplan & Meier (1958); Cox (1972); Grambsch & Therneau (1994) for the Schoenfeld-residual PH
test; Harrell et al. (1996) for the C-index; Graf et al. (1999) for the IPCW Brier score; the
lifelines 0.30 documentation (https://lifelines.readthedocs.io) for every fitter used here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from ..schema import CUSTOMER_ID as S_CUSTOMER
from ..schema import ORDER_TS as S_ORDER_TS
from ..schema import DateLike
from ..tables.durations import DURATION, EVENT, PURCHASED, _name, check_durations, churn_durations


class CovariateError(ValueError):
    """A covariate table that would make a survival fit fail or diverge.

    ``columns`` lists the culprits; ``reasons`` maps each culprit to its problem.
    """

    def __init__(self, message: str, columns: Sequence[str] = (), reasons: Mapping[str, str] | None = None):
        super().__init__(message)
        self.columns = tuple(columns)
        self.reasons = dict(reasons or {})


class SurvivalFitError(RuntimeError):
    """A lifelines fit failed although the covariates passed :func:`check_covariates`."""


class ExtrapolationError(ValueError):
    """A Cox prediction asked for a time beyond the longest duration the model was fitted on: its
    baseline is not estimated there (a step function stays flat after its last step), so the
    prediction is refused rather than extrapolated."""


class UnseenStratumError(ValueError):
    """A row to predict for belongs to a stratum the stratified model was not fitted on: no baseline
    hazard exists for it, and none is extrapolated. ``strata`` lists the unseen stratum values."""

    def __init__(self, message: str, strata: Sequence[Any] = ()):
        super().__init__(message)
        self.strata = tuple(strata)


def model_strata(model: Any) -> list[str]:
    """The stratum columns of a fitted lifelines model as a list (``[]`` when unstratified).

    lifelines stores a single stratum column as a plain string (``"band"``, not ``["band"]``), so
    ``list(model.strata)`` would split it into letters; this is the one place that reads it."""
    strata = getattr(model, "strata", None)
    if not strata:
        return []
    return [strata] if isinstance(strata, str) else list(strata)


def _stratum_keys(model: Any, table: pd.DataFrame) -> list[Any]:
    """Per row of ``table``, the key of its stratum in ``model.baseline_hazard_`` (the value for one
    stratum column, a tuple for several); raises :class:`UnseenStratumError` naming strata the model
    was not fitted on, and ``SchemaError`` when the table lacks a stratum column."""
    from ..schema import require_columns

    strata = model_strata(model)
    require_columns(table, strata, table="survival table")
    keys = list(table[strata].itertuples(index=False, name=None))
    keys = [k[0] if len(strata) == 1 else tuple(k) for k in keys]
    seen = list(model.baseline_hazard_.columns)
    seen_set = set(seen)
    unseen = sorted({k for k in keys if k not in seen_set}, key=str)
    if unseen:
        n = sum(k not in seen_set for k in keys)

        def show(k: Any) -> str:
            vals = k if isinstance(k, tuple) else (k,)
            return ", ".join(f"{c}={v!r}" for c, v in zip(strata, vals, strict=True))

        raise UnseenStratumError(
            f"{n:,} row(s) belong to stratum ({'; '.join(show(k) for k in unseen[:5])}) that the model was not fitted on "
            f"(fitted strata: {'; '.join(show(k) for k in seen[:10])}); no baseline hazard is extrapolated to it",
            unseen,
        )
    return keys


# ------------------------------------------------------------------------------------------------
# churn threshold
# ------------------------------------------------------------------------------------------------

# ------------------------------------------------------------------------------------------------
# durations and censoring
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# covariates known at the origin
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# covariate validation
# ------------------------------------------------------------------------------------------------


def _dependency(X: np.ndarray, j: int, basis: list[int], base: np.ndarray, names: Sequence[str]) -> str | None:
    """If column j lies in span(base, X[:, basis]), return a description; else None."""
    A = np.column_stack([base, X[:, basis]]) if basis else base
    y = X[:, j]
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ coef
    scale = max(float(np.linalg.norm(y - y.mean())), 1e-300)
    if float(np.linalg.norm(resid)) <= 1e-8 * scale:
        c = coef[base.shape[1]:]
        parts = [f"{c[k]:+.4g}*{names[b]}" for k, b in enumerate(basis) if abs(c[k]) > 1e-8]
        return " ".join(parts) if parts else "(baseline only)"
    return None


def check_covariates(
    table: pd.DataFrame,
    covariates: Sequence[str],
    event_col: str | None = EVENT,
    strata: Sequence[str] | None = None,
) -> None:
    """Validate a covariate table before a Cox or AFT fit; raise one :class:`CovariateError` listing
    every problem and naming the columns.

    Checks, in order (``table`` is one row per customer):

    1. every covariate (and stratum) column exists and covariates are numeric or boolean;
    2. no missing or infinite values (the message names the customers);
    3. no constant column;
    4. no perfect collinearity: a column equal to a linear combination of the baseline (an intercept,
       plus one indicator per stratum when ``strata`` are given: Cox's baseline hazard absorbs them)
       and of earlier columns (relative residual <= 1e-8 after least squares); the message gives the
       combination;
    5. with ``event_col``: no separation, i.e. a column whose value at every event equals its minimum
       (or maximum) over all rows: its coefficient would run off to -inf (+inf) (monotone partial
       likelihood) and lifelines would stop with "convergence halted".

    Raises :class:`CovariateError` (attribute ``columns``); returns ``None`` when all is well.
    """
    problems: list[str] = []
    culprits: list[str] = []

    def fail(suffix: str = "") -> NoReturn:
        raise CovariateError("; ".join(problems) + suffix, culprits, dict(zip(culprits, problems, strict=True)))

    cols = list(covariates)
    strata = list(strata or [])
    missing = [c for c in [*cols, *strata, *([event_col] if event_col else [])] if c not in table.columns]
    if missing:
        raise CovariateError(f"covariate table: missing column(s) {missing}", missing)
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise CovariateError(f"covariate(s) listed twice: {dup}", dup)
    nonnum = [c for c in cols if not (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    for c in nonnum:
        problems.append(f"column {c!r} is not numeric (dtype {table[c].dtype}); encode it as numbers")
        culprits.append(c)
    if problems:
        fail()
    X = table[cols].astype("float64")
    for c in cols:
        bad = X[c].isna() | ~np.isfinite(X[c].to_numpy())
        if bad.any():
            problems.append(f"column {c!r} has missing or infinite values for {_name(table.index[bad])}")
            culprits.append(c)
    for c in strata:
        if table[c].isna().any():
            problems.append(f"stratum column {c!r} has missing values for {_name(table.index[table[c].isna()])}")
            culprits.append(c)
    if problems:
        fail()
    for c in cols:
        if X[c].nunique() <= 1:
            v = X[c].iloc[0] if len(X) else float("nan")
            problems.append(f"column {c!r} is constant (every value is {v:g}); drop it")
            culprits.append(c)
    if problems:
        fail()
    arr = X.to_numpy()
    sd = arr.std(axis=0)
    Z = (arr - arr.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    base = np.ones((len(Z), 1))
    if strata:
        key = table[strata].astype(str).agg("|".join, axis=1)
        base = pd.get_dummies(key).to_numpy(dtype="float64")
    basis: list[int] = []
    for j, c in enumerate(cols):
        dep = _dependency(Z, j, basis, base, cols)
        if dep is None:
            basis.append(j)
        else:
            where = " within strata " + str(strata) if strata else ""
            problems.append(f"column {c!r} is perfectly collinear{where}: standardised, it equals {dep} (+ baseline)")
            culprits.append(c)
    if problems:
        fail("; drop one column of each collinear set")
    if event_col is not None:
        ev = table[event_col].to_numpy() == 1
        if ev.any():
            for c in cols:
                x = X[c].to_numpy()
                at_events = x[ev]
                for side, ref in (("minimum", x.min()), ("maximum", x.max())):
                    if np.all(at_events == ref):
                        problems.append(
                            f"column {c!r}: every event has its {side} value {ref:g} (separation: the coefficient "
                            "diverges); drop or merge rare levels"
                        )
                        culprits.append(c)
    if problems:
        fail()


def screen_covariates(
    table: pd.DataFrame, candidates: Sequence[str], event_col: str | None = EVENT, strata: Sequence[str] | None = None
) -> tuple[list[str], pd.DataFrame]:
    """Candidate covariates minus those :func:`check_covariates` refuses, with the reasons.

    Repeats the check and drops every named column of each round (for a collinear set, the column
    that is a combination of earlier ones, so the earliest of the set stays). Returns ``(kept,
    dropped)``: ``kept`` in candidate order; ``dropped`` a DataFrame indexed by ``covariate`` with a
    ``reason`` column. Missing or duplicated columns still raise :class:`CovariateError`.
    """
    kept = list(candidates)
    dropped: list[tuple[str, str]] = []
    while kept:
        try:
            check_covariates(table, kept, event_col, strata)
            break
        except CovariateError as err:
            removable = [c for c in err.columns if c in kept and c in err.reasons]
            if not removable:
                raise
            for c in removable:
                kept.remove(c)
                dropped.append((c, err.reasons[c]))
    out = pd.DataFrame(dropped, columns=["covariate", "reason"]).set_index("covariate")
    return kept, out


# ------------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank
# ------------------------------------------------------------------------------------------------


def kaplan_meier(durations: Any, events: Any, label: str = "KM", alpha: float = 0.05):
    """A fitted ``lifelines.KaplanMeierFitter`` (Kaplan & Meier 1958; lifelines' exponential
    Greenwood confidence band at level ``1 - alpha``). Durations are checked first
    (:func:`check_durations`): missing, infinite and negative durations are refused with the customers
    named; a zero duration (a customer lost on the day they entered) is a valid time for this
    non-parametric estimator (the curve steps down at 0), unlike for the Weibull and Cox fits."""
    from lifelines import KaplanMeierFitter

    index = durations.index if isinstance(durations, pd.Series) else None  # errors then name customer ids
    d = pd.Series(np.asarray(durations, dtype="float64"), index=index)
    e = pd.Series(np.asarray(events), index=d.index)
    check_durations(pd.DataFrame({DURATION: d, EVENT: e}), allow_zero=True)
    return KaplanMeierFitter(alpha=alpha, label=label).fit(d.to_numpy(), e.to_numpy(), label=label)


def km_at(kmf: Any, t: float) -> tuple[float, float, float]:
    """Kaplan-Meier survival at time ``t`` and its confidence band, read from the step function
    (the last step at or before ``t``): ``(survival, lower, upper)``."""
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    pos = int(np.searchsorted(sf.index.to_numpy(), t, side="right")) - 1
    if pos < 0:
        return 1.0, 1.0, 1.0
    return float(sf.iloc[pos]), float(ci.iloc[pos, 0]), float(ci.iloc[pos, 1])


def km_summary(kmf: Any, durations: Any, events: Any, horizon: float | None = None) -> dict[str, float]:
    """One row of numbers for a fitted Kaplan-Meier curve: ``customers``, ``churned``,
    ``median_days`` with ``median_lower``/``median_upper`` (NaN when the curve never reaches 0.5:
    the median is "not reached"), and with ``horizon`` the survival ``S_horizon`` and its band."""
    from lifelines.utils import median_survival_times

    med = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = (float(v) for v in ci.iloc[0, :2])
    fin = lambda v: v if np.isfinite(v) else float("nan")  # noqa: E731
    row = {
        "customers": int(len(np.asarray(durations))),
        "churned": int(np.asarray(events).sum()),
        "median_days": fin(med),
        "median_lower": fin(lo),
        "median_upper": fin(hi),
    }
    if horizon is not None:
        s, sl, su = km_at(kmf, horizon)
        row.update({"S_horizon": s, "S_lower": sl, "S_upper": su})
    return row


def km_by_group(
    table: pd.DataFrame,
    group: pd.Series,
    horizon: float | None = None,
    min_customers: int = 1,
    duration_col: str = DURATION,
    event_col: str = EVENT,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Kaplan-Meier curve per group.

    ``group``: a label per customer (index = ``table``'s); categorical groups keep their order, others
    are sorted. Groups with fewer than ``min_customers`` customers are skipped (no curve, no summary
    row); empty categories likewise. Returns ``(fitted, summary)``:
    ``fitted`` maps group label (str) to a ``KaplanMeierFitter``; ``summary`` has one row per group
    (index = label) with the columns of :func:`km_summary` plus ``share_churned``.
    """
    g = group.reindex(table.index)
    labels = list(g.cat.categories) if isinstance(g.dtype, pd.CategoricalDtype) else sorted(g.dropna().unique())
    fitted: dict[str, Any] = {}
    rows = []
    for lab in labels:
        sub = table[g == lab]
        if len(sub) < max(1, min_customers):
            continue
        kmf = kaplan_meier(sub[duration_col], sub[event_col], label=str(lab))
        fitted[str(lab)] = kmf
        row = km_summary(kmf, sub[duration_col], sub[event_col], horizon)
        row["share_churned"] = row["churned"] / row["customers"]
        rows.append({"group": str(lab), **row})
    summary = pd.DataFrame(rows).set_index("group")
    summary.index.name = group.name or "group"
    return fitted, summary


def logrank_by_group(
    table: pd.DataFrame, group: pd.Series, duration_col: str = DURATION, event_col: str = EVENT
) -> dict[str, float]:
    """Log-rank test that all groups share one survival curve (lifelines
    ``statistics.multivariate_logrank_test``; two groups give the ordinary log-rank test).

    Returns ``{"groups", "test_statistic", "degrees_of_freedom", "p_value"}``. Raises ``ValueError``
    with fewer than two non-empty groups.
    """
    from lifelines.statistics import multivariate_logrank_test

    g = group.reindex(table.index).astype(str)
    if g.nunique() < 2:
        raise ValueError(f"log-rank test needs at least two groups; {group.name!r} has {g.nunique()}")
    res = multivariate_logrank_test(table[duration_col], g, table[event_col])
    return {
        "groups": int(g.nunique()),
        "test_statistic": float(res.test_statistic),
        "degrees_of_freedom": int(res.degrees_of_freedom),
        "p_value": float(res.p_value),
    }


# ------------------------------------------------------------------------------------------------
# Cox PH, PH test and strata, Weibull AFT
# ------------------------------------------------------------------------------------------------


def _fit_quietly(fitter: Any, df: pd.DataFrame, name: str, covariates: Sequence[str], **kw: Any) -> Any:
    """Fit a lifelines model; lifelines' convergence warnings and errors become SurvivalFitError."""
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            return fitter.fit(df, **kw)
        except (ConvergenceError, ConvergenceWarning) as err:
            raise SurvivalFitError(
                f"{name}: lifelines did not converge with covariates {list(covariates)} although they passed "
                f"check_covariates ({str(err).splitlines()[0]}); try fewer covariates or a penalizer"
            ) from err


def fit_cox(
    table: pd.DataFrame,
    covariates: Sequence[str],
    strata: Sequence[str] | None = None,
    penalizer: float = 0.0,
    duration_col: str = DURATION,
    event_col: str = EVENT,
):
    """Cox proportional-hazards model (Cox 1972; lifelines ``CoxPHFitter``, Efron ties) of time to
    churn on ``covariates``, optionally stratified (one baseline hazard per stratum, no coefficient).

    Runs :func:`check_durations` and :func:`check_covariates` first. Returns the fitted
    ``CoxPHFitter`` (``summary`` has ``coef`` = log hazard ratio per unit, ``exp(coef)`` = hazard
    ratio: > 1 means churn sooner). Raises :class:`DurationError`, :class:`CovariateError`, or
    :class:`SurvivalFitError` if lifelines still fails to converge.
    """
    from lifelines import CoxPHFitter

    check_durations(table, duration_col, event_col)
    check_covariates(table, covariates, event_col, strata)
    cols = [*covariates, *(strata or []), duration_col, event_col]
    df = table[cols].astype({c: "float64" for c in covariates})
    cph = CoxPHFitter(penalizer=penalizer)
    return _fit_quietly(
        cph, df, "Cox PH", covariates, duration_col=duration_col, event_col=event_col, strata=list(strata) if strata else None
    )


def ph_test(cph: Any, table: pd.DataFrame, time_transform: str = "rank") -> pd.DataFrame:
    """Proportional-hazards test per covariate from scaled Schoenfeld residuals (Grambsch & Therneau
    1994; lifelines ``statistics.proportional_hazard_test``, the test behind ``check_assumptions``,
    returned as a table instead of printed).

    ``table`` is the data the model was fitted on. Returns a DataFrame indexed by covariate, sorted
    by p-value then name: ``test_statistic``, ``p_value``, ``minus_log2_p``. A small p-value means the
    covariate's effect changes over time.
    """
    from lifelines.statistics import proportional_hazard_test

    cols = [c for c in table.columns if c in set(cph.params_.index) | set(model_strata(cph)) | {cph.duration_col, cph.event_col}]
    res = proportional_hazard_test(cph, table[cols], time_transform=time_transform)
    s = res.summary
    out = pd.DataFrame(
        {"test_statistic": s["test_statistic"].astype(float), "p_value": s["p"].astype(float)}, index=s.index.astype(str)
    )
    out["minus_log2_p"] = -np.log2(out["p_value"].clip(lower=1e-300))
    out.index.name = "covariate"
    return out.reset_index().sort_values(["p_value", "covariate"], kind="stable").set_index("covariate")


@dataclass(frozen=True)
class StrataPlan:
    """Covariates moved from the Cox coefficients into strata, with their bin edges.

    ``edges[c]`` are the inner cut points (between training values); the stratum of a value ``x`` is
    ``searchsorted(edges, x, side="right")``, so values beyond the training range fall in the end
    bins. ``covariates`` are those left as coefficients; ``strata`` the new ``<c>_stratum`` columns.
    """

    stratified: tuple[str, ...]
    edges: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    covariates: tuple[str, ...] = ()

    @property
    def strata(self) -> list[str]:
        return [f"{c}_stratum" for c in self.stratified]

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with an int64 ``<c>_stratum`` column per stratified covariate."""
        out = table.copy()
        for c in self.stratified:
            out[f"{c}_stratum"] = np.searchsorted(np.asarray(self.edges[c]), out[c].to_numpy(), side="right").astype("int64")
        return out


def plan_strata(
    ph: pd.DataFrame,
    table: pd.DataFrame,
    covariates: Sequence[str],
    alpha: float = 0.01,
    max_strata: int = 2,
    n_bins: int = 4,
) -> StrataPlan:
    """Act on a PH test: stratify on the (at most ``max_strata``) covariates with the smallest
    p-values below ``alpha``, binned into at most ``n_bins`` bins: each cut is the midpoint between two
    adjacent distinct training values whose share below is nearest a quantile level ``1/n_bins, ...``,
    so tied values never straddle a cut and heavy ties give fewer bins (a covariate with <= ``n_bins``
    distinct values keeps one stratum per value). This is
    the remedy lifelines' ``check_assumptions`` advises for a violating covariate ("bin the variable
    and stratify"). Returns a :class:`StrataPlan` (empty when nothing violates)."""
    viol = [c for c in ph.index if ph.loc[c, "p_value"] < alpha and c in covariates][:max_strata]
    edges: dict[str, tuple[float, ...]] = {}
    for c in viol:
        x = np.sort(table[c].to_numpy(dtype="float64"))
        uniq = np.unique(x)
        mids = (uniq[1:] + uniq[:-1]) / 2
        below = np.searchsorted(x, mids, side="left") / len(x)  # share of rows under each midpoint
        if len(uniq) <= n_bins:
            picks = set(range(len(mids)))
        else:
            picks = {int(np.argmin(np.abs(below - q))) for q in np.linspace(0, 1, n_bins + 1)[1:-1]}
        edges[c] = tuple(float(mids[k]) for k in sorted(picks))
    return StrataPlan(tuple(viol), edges, tuple(c for c in covariates if c not in viol))


def fit_weibull_aft(
    table: pd.DataFrame, covariates: Sequence[str], penalizer: float = 0.0, duration_col: str = DURATION, event_col: str = EVENT
):
    """Weibull accelerated-failure-time model (lifelines ``WeibullAFTFitter``): log time to churn is
    linear in the covariates; ``exp(coef)`` of the ``lambda_`` parameters is a time ratio (> 1 = churn
    later). Same checks and errors as :func:`fit_cox`. Returns the fitted model."""
    from lifelines import WeibullAFTFitter

    check_durations(table, duration_col, event_col)
    check_covariates(table, covariates, event_col)
    df = table[[*covariates, duration_col, event_col]].astype({c: "float64" for c in covariates})
    return _fit_quietly(WeibullAFTFitter(penalizer=penalizer), df, "Weibull AFT", covariates, duration_col=duration_col, event_col=event_col)


def survival_at(model: Any, table: pd.DataFrame, horizon: float, cox_method: str = "product_limit") -> pd.Series:
    """Predicted survival ``S(horizon | x)``: the probability of not having churned ``horizon`` days
    after the origin, per row of ``table``, for a fitted lifelines Cox (stratified or not) or
    parametric/AFT model. Returns a float Series on ``table``'s index (aligned by label: lifelines
    reorders a stratified model's predictions by stratum). Higher means longer expected survival.

    For a ``CoxPHFitter``, ``cox_method`` chooses the baseline:

    * ``"product_limit"`` (default): ``S(t | x) = prod_{t_j <= t} (1 - h0_j) ** exp((x - xbar) b)``,
      with ``h0_j`` lifelines' Breslow baseline-hazard increments (``baseline_hazard_``, per stratum).
      With ``b = 0`` this is exactly the Kaplan-Meier curve (tested), the product-limit idea of
      Kalbfleisch & Prentice (2002, sec. 4.3) in its first-order form;
    * ``"breslow"``: lifelines' ``predict_survival_function``, ``exp(-H0(t) exp((x - xbar) b))``. When
      a large share of the risk set churns on the same day (CDNOW: everybody who never returns churns
      exactly ``tau - window`` days after the landmark), ``exp(-h)`` is far above ``1 - h`` and these
      predictions overstate survival.

    Other models use lifelines' ``predict_survival_function`` (a parametric model such as the Weibull
    AFT extrapolates by its formula). A stratified model may have one stratum column or several
    (lifelines stores one as a plain string: :func:`model_strata`). Predictions outside what a Cox model
    was fitted on are refused, never extrapolated: :class:`UnseenStratumError` names every stratum value
    it was not fitted on, :class:`ExtrapolationError` a horizon beyond its longest training duration.
    ``ValueError`` for a non-unique index or an unknown ``cox_method``.
    """
    from lifelines import CoxPHFitter

    if not table.index.is_unique:
        raise ValueError("survival_at: the table's index (customer ids) must be unique")
    name = f"S_{horizon:g}"
    if isinstance(model, CoxPHFitter):
        if cox_method not in ("product_limit", "breslow"):
            raise ValueError(f"cox_method must be 'product_limit' or 'breslow', not {cox_method!r}")
        longest = float(np.max(np.asarray(model.durations, dtype="float64")))
        if float(horizon) > longest:
            raise ExtrapolationError(
                f"survival_at: horizon {float(horizon):g} is beyond the longest duration the Cox model was fitted on "
                f"({longest:g}); its baseline is not estimated there (choose a horizon <= {longest:g})"
            )
        if cox_method == "product_limit":
            bh = model.baseline_hazard_
            inc = bh[bh.index <= float(horizon)].clip(upper=1 - 1e-12)
            log_s0 = np.log1p(-inc).sum(axis=0)  # one value per stratum column
            strata = model_strata(model)
            keys = _stratum_keys(model, table) if strata else []
            ph = model.predict_partial_hazard(table).reindex(table.index).to_numpy(dtype="float64")
            if strata:
                lookup = {(c if not isinstance(c, tuple) else tuple(c)): float(v) for c, v in log_s0.items()}
                base = np.array([lookup.get(k, np.nan) for k in keys], dtype="float64")
            else:
                base = np.full(len(table), float(log_s0.iloc[0]))
            out = pd.Series(np.exp(ph * base), index=table.index, name=name)
            if out.isna().any():
                raise ValueError(f"survival_at: no prediction for {_name(table.index[out.isna()])} (unseen stratum?)")
            return out
    if model_strata(model):
        _stratum_keys(model, table)  # an unseen stratum is named, not left to lifelines
    sf = model.predict_survival_function(table, times=[float(horizon)])
    out = pd.Series(sf.iloc[0].to_numpy(dtype="float64"), index=sf.columns).reindex(table.index)
    if out.isna().any():
        raise ValueError(f"survival_at: no prediction for {_name(table.index[out.isna()])} (unseen stratum?)")
    return out.rename(name)


# ------------------------------------------------------------------------------------------------
# scoring at a calendar cutoff: time from the cutoff to the next purchase
# ------------------------------------------------------------------------------------------------

#: covariates of :func:`next_purchase_table`, all known on the cutoff day
NEXT_PURCHASE_COVARIATES: tuple[str, ...] = (
    "log_days_since_last_purchase",
    "log_purchase_days",
    "log_revenue",
    "log_tenure_days",
)


def next_purchase_score(model: Any, table: pd.DataFrame) -> pd.Series:
    """Score for "buys within the next t days" from a Cox model of the time to the next purchase.

    ``model``: an unstratified lifelines ``CoxPHFitter`` fitted by :func:`fit_cox` on a
    :func:`next_purchase_table` at an earlier cutoff, with ``event_col="purchased"``; ``table``: a
    :func:`next_purchase_table` at the scoring cutoff (the model's covariates, known that day).

    The score is the partial hazard ``exp((x - xbar) b)`` of the next purchase (``xbar``: the training
    means; lifelines ``predict_partial_hazard``): **higher means the next purchase comes sooner**. In
    this model ``P(no purchase within t days of the cutoff | x) = S0(t) ** score`` (Cox 1972), so for
    every horizon ``t`` the score orders customers exactly as ``P(at least one purchase within t days)
    = 1 - S0(t) ** score``; its ROC-AUC against "bought within t" is the probability's, whether or not
    the training follow-up reached ``t`` (``S0`` is only estimated up to the follow-up; for the
    probability itself use :func:`survival_at`, ``1 - S(t | x)``, when it did).

    Returns a float64 Series named ``next_purchase_hazard`` on ``table``'s index. Raises
    ``ValueError`` for a stratified model (one baseline per stratum: the partial hazard no longer
    orders the probabilities across strata) or one whose event column is not ``purchased`` (a model
    of churn would point the other way).
    """
    from lifelines import CoxPHFitter

    if not isinstance(model, CoxPHFitter):
        raise ValueError(f"next_purchase_score needs a lifelines CoxPHFitter, not {type(model).__name__}")
    if model_strata(model):
        raise ValueError(f"next_purchase_score: the model is stratified on {model_strata(model)}; use survival_at")
    if model.event_col != PURCHASED:
        raise ValueError(
            f"next_purchase_score: the model's event column is {model.event_col!r}, not {PURCHASED!r}; fit it on "
            "next_purchase_table(...) with event_col='purchased' (a hazard of churn would have the opposite sign)"
        )
    if not table.index.is_unique:
        raise ValueError("next_purchase_score: the table's index (customer ids) must be unique")
    ph = model.predict_partial_hazard(table).reindex(table.index)
    return pd.Series(ph.to_numpy(dtype="float64"), index=table.index, name="next_purchase_hazard")


@dataclass
class NextPurchaseScores:
    """The next-purchase Cox model fitted at ``train_cutoff`` (state that day, follow-up to
    ``follow_up_end``) and its scores at ``score_cutoff`` (:func:`next_purchase_scores`)."""

    model: Any
    train_table: pd.DataFrame
    score_table: pd.DataFrame
    scores: pd.Series
    train_cutoff: pd.Timestamp
    follow_up_end: pd.Timestamp
    score_cutoff: pd.Timestamp

    @property
    def follow_up_days(self) -> int:
        return int((self.follow_up_end - self.train_cutoff).days)

    def hazard_ratios(self) -> pd.DataFrame:
        """:func:`hazard_ratio_table` of the model, with the proportional-hazards test p-value
        (``ph_test_p``, :func:`ph_test` on the training table)."""
        table = hazard_ratio_table(self.model)
        table["ph_test_p"] = ph_test(self.model, self.train_table)["p_value"].reindex(table.index)
        return table


def next_purchase_scores(tx: pd.DataFrame, start: DateLike, score_cutoff: DateLike, holdout_end: DateLike) -> NextPurchaseScores:
    """Fit the next-purchase Cox model before ``score_cutoff`` and score every customer there.

    The training cutoff is :func:`retention_utils.tables.durations.next_purchase_training_cutoff`
    (``start``, ``score_cutoff``, ``holdout_end``); the model is fitted on
    :func:`~retention_utils.tables.durations.next_purchase_table` at that cutoff with follow-up to
    ``score_cutoff`` (inclusive, nothing later is read), covariates :data:`NEXT_PURCHASE_COVARIATES`,
    event ``purchased``; the scores are :func:`next_purchase_score` on the table at ``score_cutoff``
    (index: every customer with a purchase on or before it). Raises what those functions raise.
    """
    from ..schema import to_day
    from ..tables.durations import next_purchase_table, next_purchase_training_cutoff

    score_day = to_day(score_cutoff, "score_cutoff")
    train_cutoff = next_purchase_training_cutoff(start, score_day, holdout_end)
    train = next_purchase_table(tx, train_cutoff, score_day)
    model = fit_cox(train, list(NEXT_PURCHASE_COVARIATES), event_col=PURCHASED)
    now = next_purchase_table(tx, score_day)
    return NextPurchaseScores(model, train, now, next_purchase_score(model, now), train_cutoff, score_day, score_day)


def hazard_ratio_table(model: Any) -> pd.DataFrame:
    """A fitted lifelines Cox model's coefficients as hazard ratios: columns ``coef``,
    ``hazard_ratio`` (``exp(coef)``), ``hr_lower``/``hr_upper`` (95 % interval) and ``p``, one row per
    covariate (index ``covariate``). A hazard ratio above 1 means the event comes sooner per unit."""
    cols = {"coef": "coef", "exp(coef)": "hazard_ratio", "exp(coef) lower 95%": "hr_lower",
            "exp(coef) upper 95%": "hr_upper", "p": "p"}
    out = model.summary[list(cols)].rename(columns=cols)
    out.index.name = "covariate"
    return out


# ------------------------------------------------------------------------------------------------
# validation on held-out customers
# ------------------------------------------------------------------------------------------------


def split_customers(table: pd.DataFrame, test_share: float = 0.3, seed: int = 0, event_col: str = EVENT) -> tuple[pd.Index, pd.Index]:
    """Split customers (rows of ``table``) into train and test, seeded and stratified by the event flag
    (so both parts keep the churn share). Returns two sorted indexes; every customer is in exactly
    one. Raises ``ValueError`` for ``test_share`` outside (0, 1)."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), not {test_share!r}")
    idx = table.index.sort_values()
    y = table.loc[idx, event_col].to_numpy()
    strat = y if np.bincount(y.astype(int)).min() >= 2 else None
    tr, te = train_test_split(np.asarray(idx), test_size=test_share, random_state=seed, stratify=strat)
    return pd.Index(sorted(tr), name=idx.name), pd.Index(sorted(te), name=idx.name)


def calibration_at_horizon(
    durations: pd.Series, events: pd.Series, predicted: pd.Series, horizon: float, n_groups: int = 10
) -> pd.DataFrame:
    """Predicted against observed survival at ``horizon`` by risk group.

    Customers are ranked by predicted ``S(horizon | x)`` (ties broken by customer id) and cut into
    ``n_groups`` groups of near-equal size; group 1 has the lowest predicted survival (highest risk).
    Per group: ``customers``, ``churned_by_horizon`` (observed events at or before the horizon),
    ``predicted`` (mean predicted survival), ``observed`` (Kaplan-Meier survival at the horizon within
    the group, which handles censoring) with ``observed_lower``/``observed_upper`` (95 % band).
    Index ``risk_group`` (1..n_groups).
    """
    df = pd.DataFrame({"d": durations, "e": events, "p": predicted}).sort_index()
    order = df.sort_values("p", kind="stable").index
    grp = pd.Series(np.arange(len(order)) * n_groups // len(order) + 1, index=order)
    df["g"] = grp.reindex(df.index)
    rows = []
    for k, sub in df.groupby("g", sort=True):
        kmf = kaplan_meier(sub["d"], sub["e"], label=str(k))
        s, lo, hi = km_at(kmf, horizon)
        rows.append(
            {
                "risk_group": int(k),
                "customers": len(sub),
                "churned_by_horizon": int(((sub["d"] <= horizon) & (sub["e"] == 1)).sum()),
                "predicted": float(sub["p"].mean()),
                "observed": s,
                "observed_lower": lo,
                "observed_upper": hi,
            }
        )
    return pd.DataFrame(rows).set_index("risk_group")




# ------------------------------------------------------------------------------------------------
# what the churn notebook needs
# ------------------------------------------------------------------------------------------------

#: churn events and censored customers at the landmark below which the held-out validation (a
#: stratified split, ten calibration groups, C-index) has nothing to work with
MIN_EVENTS = 10


def require_churn_data(
    tx: pd.DataFrame,
    observation_end: DateLike,
    tau_percentile: float = 0.9,
    tau_basis: str = "customer_max",
    window_days: int = 30,
    label_check_days: int = 90,
    min_group_customers: int = 50,
    n_clusters: int = 6,
) -> None:
    """What the churn notebook (05) needs, checked in its first analysis cell, in this order:

    1. customers who bought on two different days (``tau`` is a percentile of the gaps);
    2. data starting at least ``label_check_days`` before ``observation_end`` (the labels given then
       are checked against the days after);
    3. at the landmark (``window_days`` after each first purchase, :func:`churn_durations` with
       ``origin_days``) at least :data:`MIN_EVENTS` churn events and :data:`MIN_EVENTS` censored
       customers (a held-out part with both, ten calibration groups);
    4. an RFM segment at the landmark with at least ``min_group_customers`` customers (Kaplan-Meier
       curves are drawn only for such groups), and at least ``n_clusters * min_group_customers``
       customers at risk, so that the largest of the ``n_clusters`` first-window clusters has that many.

    Raises :class:`retention_utils.schema.InsufficientDataError` with one sentence (the first need that
    fails, with the counts and the parameter to change).
    """
    from ..schema import InsufficientDataError, to_day
    from ..tables.durations import churn_threshold, first_window_features
    from .segments import rfm_scores, rfm_segment

    end = to_day(observation_end, "observation_end")
    n_customers = int(tx[S_CUSTOMER].nunique())
    try:
        tau = churn_threshold(tx, tau_percentile, tau_basis).tau_days
    except ValueError as err:
        raise InsufficientDataError(
            f"churn as time to event needs customers who bought on two different days (tau is a percentile of the gaps "
            f"between purchase days); none of the {n_customers:,} customers did."
        ) from err
    first = tx[S_ORDER_TS].min().normalize()
    mid = end - pd.Timedelta(days=int(label_check_days))
    if first > mid:
        raise InsufficientDataError(
            f"the churn labels are checked {label_check_days} days before the end ({mid.date()}), but the data starts on "
            f"{first.date()}; it needs a longer window (or a smaller LABEL_CHECK_DAYS)."
        )
    lm = churn_durations(tx, tau, end, origin_days=window_days)
    table = lm.table
    events = int(table[EVENT].sum())
    censored = len(table) - events
    if events < MIN_EVENTS or censored < MIN_EVENTS:
        raise InsufficientDataError(
            f"churn models need at least {MIN_EVENTS} churn events and {MIN_EVENTS} censored customers at the landmark "
            f"({window_days} days after the first purchase, tau = {tau} days); the data has {events:,} and {censored:,} "
            f"among {len(table):,} customers at risk."
        )
    feat = first_window_features(tx, window_days, end).reindex(table.index)
    largest = int(rfm_segment(rfm_scores(feat[["n_orders", "revenue", "days_since_last_order"]])).value_counts().max())
    need = int(n_clusters) * int(min_group_customers)
    if largest < min_group_customers or len(table) < need:
        raise InsufficientDataError(
            f"Kaplan-Meier curves by group need groups of at least {min_group_customers} customers (MIN_GROUP_CUSTOMERS): "
            f"the largest RFM segment at the landmark has {largest:,}, and {n_clusters} clusters need {need:,} customers "
            f"at risk, of which there are {len(table):,}."
        )
