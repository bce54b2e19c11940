"""Average campaign effects: thin wrappers over scipy, statsmodels, scikit-learn, econml and differences.

Every estimator returns an :class:`Effect` (point estimate, confidence interval, sizes, estimand), so a
notebook can set them side by side. Inputs are the tables of :mod:`retention_utils.causal.panel`.

=====================  =================================================  ==============================
estimator              library and reference                              estimand
=====================  =================================================  ==============================
naive difference       ``scipy.stats.ttest_ind`` (Welch)                   difference in means (not causal)
regression adjustment  ``statsmodels`` OLS with treatment x centred       ATE, Lin (2013), HC2 errors
                       covariates
AIPW                   ``econml.dr.LinearDRLearner`` (cross-fitted)        ATE on the trimmed population,
                                                                          Robins, Rotnitzky & Zhao (1994)
staggered DiD          ``differences.ATTgt`` (Callaway & Sant'Anna 2021)  ATT by event week, and averaged
                                                                          over the campaign window
=====================  =================================================  ==============================

Overlap (:func:`overlap`): propensity scores are cross-fitted (scikit-learn logistic regression on
standardised confounders, 5 folds); rows with a score outside ``[trim, 1 - trim]`` are dropped before
regression adjustment and AIPW (Crump, Hotz, Imbens & Mitnik 2009, whose rule of thumb is
``trim = 0.1``), so those estimate the ATE of the households where both arms occur. Balance is shown as
standardised mean differences (pooled standard deviation of the unweighted groups) before trimming and
after inverse-propensity weighting of the trimmed rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..runtime import thread_limits
from .panel import COHORT, TREATED, WEEK

#: Default propensity trimming bound (Crump et al. 2009 rule of thumb).
TRIM = 0.1


@dataclass(frozen=True)
class Effect:
    """One estimate: ``estimate`` with a ``1 - alpha`` confidence interval ``[ci_low, ci_high]`` and
    ``std_error`` (units of the outcome: currency or visits per household per week), ``n_treated`` and
    ``n_control`` rows used, the ``estimand`` and the ``estimator``'s name."""

    estimator: str
    outcome: str
    estimate: float
    ci_low: float
    ci_high: float
    std_error: float
    n_treated: int
    n_control: int
    estimand: str

    def covers(self, value: float) -> bool:
        """Whether ``value`` lies in the confidence interval."""
        return bool(self.ci_low <= value <= self.ci_high)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def effects_table(effects: Sequence[Effect]) -> pd.DataFrame:
    """Effects side by side: one row per effect, columns of :class:`Effect`."""
    return pd.DataFrame([e.as_dict() for e in effects])


def _xyt(table: pd.DataFrame, outcome: str, covariates: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in (outcome, TREATED, *covariates) if c not in table]
    if missing:
        raise KeyError(f"columns {missing} are not in the table")
    t = table[TREATED].to_numpy()
    if not np.isin(t, (0, 1)).all():
        raise ValueError("treated must be 0/1")
    if t.sum() < 2 or (1 - t).sum() < 2:
        raise ValueError(f"need at least 2 treated and 2 control rows, got {int(t.sum())} and {int((1 - t).sum())}")
    y = table[outcome].to_numpy(dtype="float64")
    x = table[list(covariates)].to_numpy(dtype="float64") if covariates else np.empty((len(table), 0))
    if not (np.isfinite(y).all() and np.isfinite(x).all()):
        raise ValueError(f"{outcome} or a covariate has missing or infinite values")
    return y, t.astype("int64"), x


def naive_difference(table: pd.DataFrame, outcome: str, alpha: float = 0.05) -> Effect:
    """Mean outcome of treated minus control rows, Welch's t interval (``scipy.stats.ttest_ind`` with
    ``equal_var=False``). Measures who was chosen as much as what the campaign did."""
    from scipy import stats

    y, t, _ = _xyt(table, outcome)
    res = stats.ttest_ind(y[t == 1], y[t == 0], equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    est = float(y[t == 1].mean() - y[t == 0].mean())
    se = float(est / res.statistic) if res.statistic else float("nan")
    return Effect("naive difference", outcome, est, float(ci.low), float(ci.high), abs(se), int(t.sum()),
                  int((1 - t).sum()), "difference in means")


def regression_adjustment(table: pd.DataFrame, outcome: str, covariates: Sequence[str], alpha: float = 0.05) -> Effect:
    """ATE by OLS of the outcome on treatment, centred covariates and their interactions with treatment
    (Lin 2013, "Agnostic notes on regression adjustments to experimental data", Ann. Appl. Stat.; the
    coefficient of treatment is the ATE), HC2 standard errors (``statsmodels``). Covariates constant in
    the rows are dropped."""
    import statsmodels.api as sm

    cov = [c for c in covariates if table[c].nunique() > 1]
    y, t, x = _xyt(table, outcome, cov)
    xc = x - x.mean(axis=0)
    design = np.column_stack([np.ones(len(y)), t, xc, xc * t[:, None]])
    fit = sm.OLS(y, design).fit(cov_type="HC2")
    lo, hi = fit.conf_int(alpha)[1]
    return Effect("regression adjustment", outcome, float(fit.params[1]), float(lo), float(hi), float(fit.bse[1]),
                  int(t.sum()), int((1 - t).sum()), "ATE")


# ------------------------------------------------------------------------------------------------
# overlap
# ------------------------------------------------------------------------------------------------


def _propensity_model(seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    # arcsinh tames the long right tail of spend and visit counts (a household spending 20 times the
    # median would otherwise get a propensity of 0.999 from a linear index); it is the identity near 0
    return make_pipeline(FunctionTransformer(np.arcsinh), StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def _outcome_model(seed: int = 0) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                                         l2_regularization=1.0, early_stopping=False, random_state=seed)


@dataclass
class Overlap:
    """Result of :func:`overlap`: ``propensity`` (cross-fitted P(treated | confounders), Series on the
    table's index), ``keep`` (bool Series: inside ``[trim, 1 - trim]``), ``trim``, and ``balance``
    (DataFrame indexed by covariate: ``smd_before`` on all rows, ``smd_after`` on the kept rows weighted
    by ``1 / e`` (treated) and ``1 / (1 - e)`` (controls))."""

    propensity: pd.Series
    keep: pd.Series
    trim: float
    balance: pd.DataFrame

    @property
    def n_dropped(self) -> dict[str, int]:
        """Rows dropped by the trimming rule: ``below`` trim and ``above`` 1 - trim."""
        return {"below": int((self.propensity < self.trim).sum()), "above": int((self.propensity > 1 - self.trim).sum())}


def standardised_differences(x: pd.DataFrame, treated: np.ndarray, weights: np.ndarray | None = None) -> pd.Series:
    """Standardised mean difference of each column: (weighted mean of treated - weighted mean of
    controls) / sqrt((var_treated + var_control) / 2), variances unweighted (Austin 2009, Stat. Med.
    28:3083). 0 for a column constant in both groups."""
    t = np.asarray(treated).astype(bool)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype="float64")
    out = {}
    for c in x.columns:
        v = x[c].to_numpy(dtype="float64")
        m1 = np.average(v[t], weights=w[t])
        m0 = np.average(v[~t], weights=w[~t])
        sd = np.sqrt((v[t].var(ddof=1) + v[~t].var(ddof=1)) / 2)
        out[c] = 0.0 if sd == 0 else (m1 - m0) / sd
    return pd.Series(out, name="smd")


def overlap(table: pd.DataFrame, covariates: Sequence[str], trim: float = TRIM, seed: int = 0, folds: int = 5) -> Overlap:
    """Cross-fitted propensity scores, the trimming rule and covariate balance (module docstring).

    Raises ``ValueError`` for ``trim`` outside ``[0, 0.5)`` or when trimming leaves fewer than 2 rows in
    an arm (say how many were dropped; lower ``trim`` or restrict the population).
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    if not covariates:
        raise ValueError("overlap needs at least one covariate")
    _, t, x = _xyt(table, covariates[0], covariates)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with thread_limits(1):  # small fits: threads only add waiting on a busy machine
        e = cross_val_predict(_propensity_model(seed), x, t, cv=cv, method="predict_proba")[:, 1]
    ps = pd.Series(e, index=table.index, name="propensity")
    keep = (ps >= trim) & (ps <= 1 - trim)
    tk = t[keep.to_numpy()]
    if tk.sum() < 2 or (1 - tk).sum() < 2:
        raise ValueError(f"trimming at {trim} leaves {int(tk.sum())} treated and {int((1 - tk).sum())} control rows; "
                         "lower trim or restrict the population")
    xdf = table[list(covariates)]
    ek = e[keep.to_numpy()]
    w = np.where(tk == 1, 1 / ek, 1 / (1 - ek))
    bal = pd.DataFrame({"smd_before": standardised_differences(xdf, t),
                        "smd_after": standardised_differences(xdf[keep.to_numpy()], tk, w)})
    return Overlap(ps, keep, float(trim), bal)


def aipw(table: pd.DataFrame, outcome: str, covariates: Sequence[str], keep: pd.Series | None = None,
         alpha: float = 0.05, seed: int = 0, folds: int = 5) -> Effect:
    """Doubly robust (AIPW) ATE with cross-fitting: ``econml.dr.LinearDRLearner`` with the confounders as
    ``W`` (no effect modifiers, so the final stage is the mean of the doubly robust scores), propensity
    model: standardised logistic regression; outcome model: histogram gradient boosting on confounders
    and treatment. ``keep``: rows to use (e.g. :attr:`Overlap.keep`); the interval comes from econml's
    ``ate_inference`` (heteroskedasticity-robust). Raises ``ValueError`` when an arm has fewer than 2 rows.
    """
    from econml.dr import LinearDRLearner

    rows = table if keep is None else table[keep.reindex(table.index).fillna(False).to_numpy(dtype=bool)]
    y, t, x = _xyt(rows, outcome, covariates)
    est = LinearDRLearner(model_propensity=_propensity_model(seed), model_regression=_outcome_model(seed),
                          cv=folds, random_state=seed)
    with warnings.catch_warnings(), thread_limits(1):  # gradient boosting in cross-fitting: one OpenMP thread
        warnings.simplefilter("ignore")
        est.fit(y, t, X=None, W=x)
        inf = est.ate_inference(T0=0, T1=1)
    lo, hi = inf.conf_int_mean(alpha=alpha)
    return Effect("AIPW (doubly robust)", outcome, float(inf.mean_point), float(np.ravel(lo)[0]), float(np.ravel(hi)[0]),
                  float(inf.stderr_mean), int(t.sum()), int((1 - t).sum()), "ATE (trimmed)" if keep is not None else "ATE")


# ------------------------------------------------------------------------------------------------
# staggered difference-in-differences
# ------------------------------------------------------------------------------------------------


@dataclass
class StaggeredDiD:
    """Result of :func:`staggered_did`: ``event_study`` (DataFrame indexed by ``relative_week`` =
    panel week - cohort week, with ``att``, ``std_error``, ``ci_low``, ``ci_high``; week -1 is the
    reference and is 0 by construction), ``overall`` (:class:`Effect`: ATT averaged over event weeks
    ``0 .. post_weeks - 1``, cohorts weighted by size), ``pre_trend_p`` (p-value of the joint Wald test that
    every pre-period ATT is 0, from ``differences``), ``n_cohorts``."""

    event_study: pd.DataFrame
    overall: Effect
    pre_trend_p: float
    n_cohorts: int


def staggered_did(panel: pd.DataFrame, outcome: str, pre_weeks: int, post_weeks: int, alpha: float = 0.05,
                  control_group: str = "never_treated") -> StaggeredDiD:
    """Callaway & Sant'Anna (2021, J. Econometrics 225:200) group-time ATTs on a household-week panel
    (``differences.ATTgt``, outcome-regression estimator without covariates, universal base period =
    the week before the cohort's first week), aggregated by event week and over the campaign window.

    ``panel``: ``customer_id``, ``week`` (int), ``cohort`` (float week of first treatment, NaN = never
    treated; :func:`retention_utils.causal.panel.did_sample`) and ``outcome``. Only group-time cells with
    ``-pre_weeks <= week - cohort <= post_weeks - 1`` are estimated. Standard errors are analytic from
    the household-level influence functions (clustered by household). Raises ``ValueError`` when the
    panel has no treated cohort or no never-treated household.
    """
    from differences import ATTgt

    for c in ("customer_id", WEEK, COHORT, outcome):
        if c not in panel:
            raise KeyError(f"panel has no column {c!r}")
    if panel[COHORT].notna().sum() == 0 or panel[COHORT].isna().sum() == 0:
        raise ValueError("staggered_did needs treated cohorts and never-treated households")
    df = panel[["customer_id", WEEK, COHORT, outcome]].copy()
    df["_id"] = pd.factorize(df["customer_id"], sort=True)[0]
    df = df.set_index(["_id", WEEK])[[COHORT, outcome]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att = ATTgt(data=df, cohort_column=COHORT, base_period="universal")
        att.filter_gt(base_period="universal", relative_period_start=-int(pre_weeks), relative_period_end=int(post_weeks) - 1)
        att.fit(formula=outcome, est_method="reg", control_group=control_group, alpha=alpha, progress_bar=False)
        ev = att.aggregate("event", alpha=alpha)
        simple = att.aggregate("simple", alpha=alpha)
        try:
            wald = att.wald_pre_test()
            p = float(np.ravel(getattr(wald, "pvalue", wald))[0]) if wald is not None else float("nan")
        except Exception:  # noqa: BLE001 - the pre-test is optional output of the library
            p = float("nan")
    es = _flatten(ev)
    es.index = es.index.astype(int)
    es.index.name = "relative_week"
    ov = _flatten(simple).iloc[0]
    treated_units = int(panel.loc[panel[COHORT].notna(), "customer_id"].nunique())
    control_units = int(panel.loc[panel[COHORT].isna(), "customer_id"].nunique())
    overall = Effect("staggered DiD (Callaway-Sant'Anna)", outcome, float(ov["att"]), float(ov["ci_low"]), float(ov["ci_high"]),
                     float(ov["std_error"]), treated_units, control_units, f"ATT, event weeks 0..{int(post_weeks) - 1}")
    return StaggeredDiD(es, overall, p, int(panel[COHORT].dropna().nunique()))


def _flatten(res: pd.DataFrame) -> pd.DataFrame:
    """``differences`` result (three-level column index) -> ``att``, ``std_error``, ``ci_low``, ``ci_high``."""
    cols = {c[-1]: c for c in res.columns}
    return pd.DataFrame({"att": res[cols["ATT"]], "std_error": res[cols["std_error"]],
                         "ci_low": res[cols["lower"]], "ci_high": res[cols["upper"]]}, index=res.index)


# ------------------------------------------------------------------------------------------------
# reading the designs together
# ------------------------------------------------------------------------------------------------

VERDICT_COLUMNS = ("estimate", "ci_low", "ci_high", "share_of_baseline", "placebo", "did_agrees", "verdict")


def credibility_verdicts(effect: pd.DataFrame, placebo: pd.DataFrame, did: pd.DataFrame,
                         baseline: pd.Series) -> pd.DataFrame:
    """One verdict per campaign type from the checks of notebook 09, by a stated rule.

    Inputs are indexed by campaign type: ``effect`` (the main estimate: ``estimate``, ``ci_low``,
    ``ci_high``), ``placebo`` (the same estimator at placebo dates: ``estimate``, ``ci_low``, ``ci_high``,
    NaN when not estimable), ``did`` (the staggered DiD: ``ci_low``, ``ci_high``) and ``baseline`` (the
    treated households' outcome before the campaign, same unit). Returns :data:`VERDICT_COLUMNS`:
    ``share_of_baseline`` = estimate / baseline; ``placebo`` one of ``"passes"`` (interval covers 0 and
    its half-width is at most the larger of the estimate's size and the estimate's own half-width),
    ``"too wide"`` (covers 0 but could hide a bias of the estimate's size), ``"fails"`` (excludes 0),
    ``"not estimable"``; ``did_agrees`` whether the DiD
    interval contains the estimate; ``verdict``:

    * ``"not credible"``: the placebo fails (a difference where there can be no effect);
    * ``"supported"``: the placebo passes, the DiD agrees and the estimate's interval excludes 0;
    * ``"no effect shown"``: the placebo passes, the DiD agrees, the interval covers 0;
    * ``"inconclusive"``: anything else (placebo too wide or not estimable, or the designs disagree).

    The rule follows the falsification logic of Imbens & Rubin (2015, ch. 21: pseudo-outcomes and
    placebo treatments) and the design-triangulation advice of Lawlor, Tilling & Davey Smith (2016,
    Int. J. Epidemiology 45:1866). Raises ``KeyError`` when a type of ``effect`` is missing elsewhere.
    """
    rows = {}
    for t in effect.index:
        e, p, d = effect.loc[t], placebo.loc[t], did.loc[t]
        if pd.isna(p["estimate"]):
            pl = "not estimable"
        elif not p["ci_low"] <= 0 <= p["ci_high"]:
            pl = "fails"
        elif (p["ci_high"] - p["ci_low"]) / 2 > max(abs(e["estimate"]), (e["ci_high"] - e["ci_low"]) / 2):
            pl = "too wide"
        else:
            pl = "passes"
        agrees = bool(d["ci_low"] <= e["estimate"] <= d["ci_high"])
        if pl == "fails":
            verdict = "not credible"
        elif pl == "passes" and agrees:
            verdict = "supported" if not e["ci_low"] <= 0 <= e["ci_high"] else "no effect shown"
        else:
            verdict = "inconclusive"
        base = float(baseline.loc[t])
        rows[t] = {"estimate": float(e["estimate"]), "ci_low": float(e["ci_low"]), "ci_high": float(e["ci_high"]),
                   "share_of_baseline": float(e["estimate"]) / base if base else np.nan,
                   "placebo": pl, "did_agrees": agrees, "verdict": verdict}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=list(VERDICT_COLUMNS))
    out.index.name = "campaign_type"
    return out
