"""Repurchase prediction: who buys again in the next horizon, validated forward in time.

Set-up
------
Cutoffs, labels, the rolling-origin splits and the features at each cutoff are built in
:mod:`retention_utils.tables.cutoffs` (the label is one order or more in ``[t0, t0 + H)``; features
use orders strictly before ``t0``; a fold trains only on cutoffs whose label window closed by its
validation cutoff). This module chooses, calibrates and evaluates models on that panel. The evaluated
pipeline is

    train on cutoffs with c + H <= c_val  ->  tune / calibrate / pick thresholds at c_val  ->  test at c_test,

and the deployed pipeline (:func:`deploy`) is the same pipeline shifted forward: train on cutoffs with
``c + H <= c_test``, calibrate at ``c_test``, score at ``c_test + H`` (the scoring date, the day after
the data end). With cutoffs ``H`` days apart the two pipelines have the same shape, so the test scores
estimate how the deployed one does.

Models and baselines
--------------------
Baselines (:class:`Scored` results, by family): a recency rule (bought within the last ``d`` days, ``d`` tuned at
the validation cutoff), an isotonic recency curve and the plain days since the last order; the customer's own Poisson purchase rate; and the
BG/NBD probability of a purchase in the horizon (:mod:`retention_utils.models.btyd`). Models
(:func:`model_candidates`): regularised logistic regression, random forest and histogram gradient
boosting from scikit-learn, tuned by :func:`tune_time_cv` on the time-based folds.

Evaluation (holdout only) uses :mod:`retention_utils.scoring` (ROC-AUC, PR-AUC, Brier, lift, calibration,
bootstrap CIs) and :func:`permutation_importance_table`; :func:`select_model` is the one rule that
chooses a model, :func:`strongest_baselines` the yardstick of a headline gain.

Determinism: every random step takes ``seed``; tables are sorted by (cutoff, customer_id); sums run over
transactions in :func:`retention_utils.tables.summary.canonical_order`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..runtime import thread_limits
from ..schema import DateLike
from ..schema import to_day as _day
from ..scoring import evaluate, f1_threshold
from ..tables.cutoffs import (
    LABEL,
    CustomerHistory,
    Panel,
    TimeSplits,
    model_feature_columns,
    plan_cutoffs,
    time_splits,
)

# ------------------------------------------------------------------------------------------------
# cutoffs and time-based splits
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# labels and features
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# baselines and models
# ------------------------------------------------------------------------------------------------


@dataclass
class Scored:
    """Probabilities of one model or baseline at the validation and test cutoffs.

    ``valid`` / ``test``: Series of P(repurchase in the horizon) indexed by ``customer_id`` (the
    population of each cutoff). ``threshold``: chosen at the validation cutoff (:func:`f1_threshold`).
    ``kind``: ``"baseline"`` or ``"model"``; ``details``: what was chosen (``d``, parameters, calibration).
    """

    name: str
    kind: str
    valid: pd.Series
    test: pd.Series
    threshold: float
    details: dict[str, Any] = field(default_factory=dict)


class RecencyRule:
    """Baseline "bought within the last ``d`` days": predicts repurchase when
    ``days_since_last_order <= d``.

    :meth:`fit` chooses ``d`` among the observed values to maximise Youden's J (TPR - FPR, i.e. the
    rule's ROC-AUC, which for a yes/no rule is its balanced accuracy); ties go to the smallest ``d``.
    Its probabilities are the repurchase rates of the two groups on the fitting rows, so that Brier
    score and log loss are defined. Attributes after fit: ``d_``, ``p_within_``, ``p_beyond_``.
    """

    def fit(self, days_since_last_order: Any, y: Any) -> RecencyRule:
        r, yv = np.asarray(days_since_last_order, dtype="float64"), np.asarray(y, dtype="int64")
        n1, n0 = yv.sum(), len(yv) - yv.sum()
        if n1 == 0 or n0 == 0:
            raise ValueError("RecencyRule.fit needs both classes")
        vals = np.unique(r)
        order = np.argsort(r, kind="stable")
        ends = np.searchsorted(r[order], vals, side="right")  # rows with r <= d, per candidate d
        tp = np.cumsum(yv[order])[ends - 1]
        fp = ends - tp
        j = tp * n0 - fp * n1  # Youden's J times n1 * n0, in integers (exact ties)
        self.d_ = float(vals[int(np.argmax(j))])
        within = r <= self.d_
        self.p_within_ = float(yv[within].mean())
        self.p_beyond_ = float(yv[~within].mean()) if (~within).any() else 0.0
        return self

    def predict_proba(self, days_since_last_order: Any) -> np.ndarray:
        """P(repurchase) per customer: ``p_within_`` or ``p_beyond_`` (float64 array)."""
        r = np.asarray(days_since_last_order, dtype="float64")
        return np.where(r <= self.d_, self.p_within_, self.p_beyond_)


def poisson_repurchase_probability(purchase_rate: Any, horizon_days: float) -> np.ndarray:
    """P(at least one order in ``horizon_days``) for a Poisson process with the customer's own
    historical rate (orders per day, :meth:`CustomerHistory.features` ``purchase_rate``):
    ``1 - exp(-rate * H)``. Raises ``ValueError`` for a negative rate."""
    lam = np.asarray(purchase_rate, dtype="float64")
    if (lam < 0).any():
        raise ValueError("purchase rates must be >= 0")
    return -np.expm1(-lam * float(horizon_days))


def bgnbd_repurchase_probability(features: pd.DataFrame, horizon_days: float) -> pd.Series:
    """BG/NBD P(at least one purchase in the next ``horizon_days``), fitted on the same cutoff's
    ``frequency``, ``recency``, ``T`` (days; pre-cutoff data only, no labels used).

    Model and formula: :class:`retention_utils.models.btyd.BetaGeoFitter` (Fader, Hardie & Lee 2005) and its
    ``probability_of_purchases_in``. A purchase *day* is the BTYD unit, so the probability is of a
    purchase day in ``(T, T + H]``, which is the label's window. Returns a Series indexed like
    ``features``. Raises :class:`retention_utils.models.btyd.BTYDFitError` if the fit fails.
    """
    from .btyd import BetaGeoFitter

    m = BetaGeoFitter().fit(features["frequency"], features["recency"], features["T"])
    p = m.probability_of_purchases_in(float(horizon_days), features["frequency"], features["recency"], features["T"])
    return pd.Series(np.asarray(p, dtype="float64"), index=features.index, name="p")


def _scored(name: str, kind: str, valid: pd.DataFrame, p_valid: Any, test: pd.DataFrame, p_test: Any,
            details: dict[str, Any] | None = None) -> Scored:
    pv = pd.Series(np.asarray(p_valid, dtype="float64"), index=valid.index, name=name)
    pt = pd.Series(np.asarray(p_test, dtype="float64"), index=test.index, name=name)
    return Scored(name, kind, pv, pt, f1_threshold(valid[LABEL], pv), dict(details or {}))


def baselines(panel: Panel, splits: TimeSplits, bgnbd: bool = True) -> list[Scored]:
    """The baselines at the validation and test cutoffs (thresholds and ``d`` chosen at validation):

    * ``recency rule``: :class:`RecencyRule` fitted at the validation cutoff;
    * ``recency curve``: isotonic regression of the label on ``days_since_last_order`` (non-increasing,
      ``sklearn.isotonic.IsotonicRegression``) fitted at the validation cutoff; its steps tie many
      customers, so on the test cutoff it can rank below the plain days;
    * ``days since last order``: a logistic regression of the label on ``log1p(days_since_last_order)``
      fitted at the validation cutoff: a strictly decreasing function of the days, so it ranks exactly
      as the plain days since the last order (the usual "recency" of a retention team) with
      probabilities on the probability scale;
    * ``Poisson rate``: :func:`poisson_repurchase_probability`;
    * ``BG/NBD``: :func:`bgnbd_repurchase_probability`, fitted afresh at each cutoff (if ``bgnbd``).

    Each result's ``details["family"]`` is ``"recency"``, ``"purchase rate"`` or ``"BTYD"``: a
    headline gain is stated against the strongest form of a family (:func:`strongest_baselines`).
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    v, t, h = panel.at(splits.valid), panel.at(splits.test), panel.horizon_days
    out = []
    rule = RecencyRule().fit(v["days_since_last_order"], v[LABEL])
    out.append(_scored("recency rule", "baseline", v, rule.predict_proba(v["days_since_last_order"]), t,
                       rule.predict_proba(t["days_since_last_order"]), {"d": rule.d_, "family": "recency"}))
    iso = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(v["days_since_last_order"].to_numpy(), v[LABEL].to_numpy())
    out.append(_scored("recency curve", "baseline", v, iso.predict(v["days_since_last_order"].to_numpy()), t,
                       iso.predict(t["days_since_last_order"].to_numpy()), {"family": "recency"}))
    days = LogisticRegression(C=1e6, max_iter=1000).fit(np.log1p(v[["days_since_last_order"]].to_numpy(dtype="float64")),
                                                       v[LABEL].to_numpy())
    if days.coef_[0, 0] >= 0:  # a recency score must fall with the days; say so rather than rank backwards
        raise ValueError("days since last order: repurchase does not fall with recency at the validation cutoff")
    out.append(_scored("days since last order", "baseline",
                       v, days.predict_proba(np.log1p(v[["days_since_last_order"]].to_numpy(dtype="float64")))[:, 1],
                       t, days.predict_proba(np.log1p(t[["days_since_last_order"]].to_numpy(dtype="float64")))[:, 1],
                       {"family": "recency"}))
    out.append(_scored("Poisson rate", "baseline", v, poisson_repurchase_probability(v["purchase_rate"], h), t,
                       poisson_repurchase_probability(t["purchase_rate"], h), {"family": "purchase rate"}))
    if bgnbd:
        out.append(_scored("BG/NBD", "baseline", v, bgnbd_repurchase_probability(v, h), t,
                           bgnbd_repurchase_probability(t, h), {"family": "BTYD"}))
    return out


def strongest_baselines(results: pd.DataFrame, scored: Sequence[Scored], metric: str = "roc_auc") -> pd.Series:
    """The strongest member of each baseline family on the test cutoff: ``results`` is
    :func:`results_table` (index: method name, column ``metric``), ``scored`` the baselines with
    ``details["family"]``. Returns a Series family -> method name (families in first-seen order).
    Headline gains are stated against these, so a weak form of a family (a yes/no recency rule) never
    flatters a model; the weaker forms stay in the table."""
    fam: dict[str, list[str]] = {}
    for s in scored:
        if s.kind == "baseline":
            fam.setdefault(s.details.get("family", s.name), []).append(s.name)
    return pd.Series({f: results.loc[names, metric].idxmax() for f, names in fam.items()}, name="strongest", dtype=object)


def symlog(x: Any) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: tames heavy tails (revenue, counts) before scaling; monotone."""
    x = np.asarray(x, dtype="float64")
    return np.sign(x) * np.log1p(np.abs(x))


def model_candidates(seed: int = 0, n_jobs: int = 1) -> dict[str, tuple[Any, dict[str, list]]]:
    """The models and their small tuning grids: name -> (unfitted estimator, grid for
    ``sklearn.model_selection.ParameterGrid``).

    * ``logistic regression``: median imputation with missing indicators, :func:`symlog`, standard
      scaling, L2-regularised ``LogisticRegression`` (lbfgs, ``max_iter=5000``); grid over ``C``.
    * ``random forest``: ``RandomForestClassifier`` (150 trees, NaN handled natively, bootstrap
      subsample of 50 % of rows, ``n_jobs``); grid over ``min_samples_leaf``.
    * ``gradient boosting``: ``HistGradientBoostingClassifier`` with ``early_stopping=False`` (its
      early stopping would hold out a *random* slice of rows from the same periods); grid over
      ``learning_rate`` and ``max_leaf_nodes``.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    lr = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        FunctionTransformer(symlog, feature_names_out="one-to-one"),
        StandardScaler(),
        LogisticRegression(max_iter=5000),
    )
    rf = RandomForestClassifier(n_estimators=150, max_features="sqrt", max_samples=0.5, random_state=seed, n_jobs=n_jobs)
    hgb = HistGradientBoostingClassifier(
        max_iter=150, min_samples_leaf=40, l2_regularization=1.0, early_stopping=False, random_state=seed
    )
    return {
        "logistic regression": (lr, {"logisticregression__C": [0.01, 0.1, 1.0]}),
        "random forest": (rf, {"min_samples_leaf": [20, 50]}),
        "gradient boosting": (hgb, {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [7, 15]}),
    }


@dataclass
class Tuned:
    """Result of :func:`tune_time_cv` for one model.

    ``cv_results``: one row per parameter set: ``params`` (str), ROC-AUC per fold (columns named by the
    validation cutoff) and ``mean_roc_auc``; ``best_params``; ``fold_predictions``: validation cutoff
    -> Series P(repurchase) of the best parameters (index ``customer_id``); ``last_model``: the best
    parameters fitted on the last fold's training cutoffs (the model of the evaluated pipeline).
    """

    name: str
    estimator: Any
    features: list[str]
    cv_results: pd.DataFrame
    best_params: dict[str, Any]
    fold_predictions: dict[pd.Timestamp, pd.Series]
    last_model: Any

    @property
    def best_cv_roc_auc(self) -> float:
        return float(self.cv_results["mean_roc_auc"].max())


def _xy(rows: pd.DataFrame, features: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    return rows[features].astype("float64"), rows[LABEL].to_numpy(dtype="int64")


def tune_time_cv(name: str, estimator: Any, grid: Mapping[str, list], panel: Panel, splits: TimeSplits,
                 features: list[str]) -> Tuned:
    """Grid search on the rolling-origin folds of ``splits`` (ROC-AUC, mean over folds; ties go to the
    first parameter set in ``ParameterGrid`` order).

    Written out rather than ``GridSearchCV(cv=folds)`` because the out-of-time predictions of every
    fold and the last fold's fitted model are needed afterwards (calibration choice, threshold), and
    GridSearchCV keeps neither. Uses ``sklearn.base.clone`` and ``ParameterGrid``.
    """
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import ParameterGrid

    rows, preds, models = [], {}, {}
    for i, params in enumerate(ParameterGrid(dict(grid))):
        aucs = {}
        for f in splits.folds:
            Xtr, ytr = _xy(panel.rows(list(f.train)), features)
            va = panel.at(f.valid)
            Xva, yva = _xy(va, features)
            m = clone(estimator).set_params(**params).fit(Xtr, ytr)
            p = m.predict_proba(Xva)[:, 1]
            aucs[f.valid.date().isoformat()] = float(roc_auc_score(yva, p))
            preds[(i, f.valid)] = pd.Series(p, index=va.index, name=name)
            if f.valid == splits.valid:
                models[i] = m
        rows.append({"params": ", ".join(f"{k.split('__')[-1]}={v}" for k, v in params.items()), **aucs,
                     "mean_roc_auc": float(np.mean(list(aucs.values())))})
    res = pd.DataFrame(rows)
    best = int(res["mean_roc_auc"].to_numpy().argmax())
    return Tuned(
        name, estimator, list(features), res, list(ParameterGrid(dict(grid)))[best],
        {f.valid: preds[(best, f.valid)] for f in splits.folds}, models[best],
    )


class Calibrator:
    """Maps scores to calibrated probabilities: ``"none"``, ``"sigmoid"`` (Platt 1999: logistic
    regression on the logit of the score, sklearn ``LogisticRegression`` with a very weak penalty) or
    ``"isotonic"`` (Zadrozny & Elkan 2002, ``sklearn.isotonic.IsotonicRegression``)."""

    METHODS = ("none", "sigmoid", "isotonic")

    def __init__(self, method: str = "none") -> None:
        if method not in self.METHODS:
            raise ValueError(f"calibration method must be one of {self.METHODS}, not {method!r}")
        self.method = method

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))[:, None]

    def fit(self, p: Any, y: Any) -> Calibrator:
        y = np.asarray(y, dtype="int64")
        if self.method == "sigmoid":
            from sklearn.linear_model import LogisticRegression

            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(self._logit(p), y)
        elif self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(np.asarray(p, dtype="float64"), y)
        return self

    def predict(self, p: Any) -> np.ndarray:
        if self.method == "none":
            return np.asarray(p, dtype="float64")
        if self.method == "sigmoid":
            return self.model_.predict_proba(self._logit(p))[:, 1]
        return self.model_.predict(np.asarray(p, dtype="float64"))


def choose_calibration(tuned: Tuned, panel: Panel, splits: TimeSplits) -> tuple[str, pd.DataFrame]:
    """Calibrate only if it helps out of time: each method is fitted on the predictions of the
    second-to-last fold and scored (Brier) on the last fold's predictions (both out-of-time).
    Returns ``(method, table)``; ``"none"`` unless a method lowers the Brier score, and always
    ``"none"`` with a single fold (nothing to check it on)."""
    from sklearn.metrics import brier_score_loss

    if len(splits.folds) < 2:
        return "none", pd.DataFrame({"brier": [np.nan]}, index=pd.Index(["none"], name="calibration"))
    f1, f2 = splits.folds[-2].valid, splits.folds[-1].valid
    p1, p2 = tuned.fold_predictions[f1], tuned.fold_predictions[f2]
    y1, y2 = panel.at(f1)[LABEL].to_numpy(), panel.at(f2)[LABEL].to_numpy()
    briers = {m: float(brier_score_loss(y2, Calibrator(m).fit(p1, y1).predict(p2))) for m in Calibrator.METHODS}
    table = pd.DataFrame({"brier": briers}).rename_axis("calibration")
    best = min(briers, key=lambda m: (briers[m], Calibrator.METHODS.index(m)))
    return best, table


@dataclass
class FittedModel:
    """A tuned model ready to score: estimator + calibrator + threshold (:func:`finalize` /
    :func:`deploy`)."""

    name: str
    estimator: Any
    calibrator: Calibrator
    features: list[str]
    threshold: float

    def predict_proba(self, rows: pd.DataFrame) -> pd.Series:
        """Calibrated P(repurchase) for feature rows (index kept)."""
        with thread_limits(1):  # OpenMP workers of a tree ensemble spin on a busy machine
            raw = self.estimator.predict_proba(rows[self.features].astype("float64"))[:, 1]
        return pd.Series(self.calibrator.predict(raw), index=rows.index, name=self.name)


def finalize(tuned: Tuned, panel: Panel, splits: TimeSplits, calibration: str = "auto") -> tuple[Scored, FittedModel]:
    """The evaluated pipeline for a tuned model: its last-fold model (trained on cutoffs closed by the
    validation cutoff), calibrated at the validation cutoff (``calibration``: a method of
    :class:`Calibrator` or ``"auto"`` = :func:`choose_calibration`), threshold chosen there by
    :func:`f1_threshold`, and probabilities at the test cutoff."""
    method = choose_calibration(tuned, panel, splits)[0] if calibration == "auto" else calibration
    v, t = panel.at(splits.valid), panel.at(splits.test)
    raw_v = tuned.fold_predictions[splits.valid].to_numpy()
    cal = Calibrator(method).fit(raw_v, v[LABEL].to_numpy())
    fm = FittedModel(tuned.name, tuned.last_model, cal, tuned.features, float("nan"))
    pv = pd.Series(cal.predict(raw_v), index=v.index)
    fm.threshold = f1_threshold(v[LABEL], pv)
    sc = Scored(tuned.name, "model", pv.rename(tuned.name), fm.predict_proba(t), fm.threshold,
                {"params": tuned.best_params, "calibration": method, "cv_roc_auc": tuned.best_cv_roc_auc})
    return sc, fm


def deploy(tuned: Tuned, calibration: str, panel: Panel, splits: TimeSplits) -> FittedModel:
    """The evaluated pipeline shifted one cutoff forward: the best parameters refitted on every cutoff
    whose label window closes by the test cutoff, calibrated (same method) and thresholded at the test
    cutoff. Score the scoring date's features with the result."""
    from sklearn.base import clone

    Xtr, ytr = _xy(panel.rows(list(splits.train_for(splits.test))), tuned.features)
    t = panel.at(splits.test)
    with thread_limits(1):
        m = clone(tuned.estimator).set_params(**tuned.best_params).fit(Xtr, ytr)
        raw = m.predict_proba(t[tuned.features].astype("float64"))[:, 1]
    cal = Calibrator(calibration).fit(raw, t[LABEL].to_numpy())
    thr = f1_threshold(t[LABEL], cal.predict(raw))
    return FittedModel(tuned.name, m, cal, tuned.features, thr)


@dataclass
class ModelSelection:
    """Every candidate tuned on the time-based folds, and the one chosen (:func:`select_model`).

    ``tuned``: name -> :class:`Tuned`; ``scored``/``fitted``: name -> the evaluated pipeline
    (:func:`finalize`) for each finalized candidate; ``calibration``: name -> the Brier table of
    :func:`choose_calibration`; ``best``: the chosen name.
    """

    tuned: dict[str, Tuned]
    scored: dict[str, Scored]
    fitted: dict[str, FittedModel]
    calibration: dict[str, pd.DataFrame]
    best: str

    def cv_table(self) -> pd.DataFrame:
        """Validation ROC-AUC of every parameter set, indexed by (model, params)."""
        return pd.concat({n: t.cv_results.set_index("params") for n, t in self.tuned.items()}, names=["model", "params"])

    def calibration_table(self) -> pd.DataFrame:
        """Brier score on the later fold by model (rows) and calibration method (columns)."""
        out = pd.DataFrame({n: t["brier"] for n, t in self.calibration.items()}).T
        out.columns.name = "Brier on the later fold"
        return out


def select_model(panel: Panel, splits: TimeSplits, features: list[str], seed: int = 0, n_jobs: int = 1,
                 calibration: str = "auto", finalize_all: bool = True,
                 candidates: Mapping[str, tuple[Any, Mapping[str, list]]] | None = None) -> ModelSelection:
    """Tune every candidate (default :func:`model_candidates`) with :func:`tune_time_cv` and choose the
    one with the best mean validation ROC-AUC (a tie goes to the earlier candidate), before anything
    is scored on the test cutoff. Each candidate (or, with ``finalize_all=False``, only the chosen one)
    is finalized (:func:`finalize`, ``calibration`` as there). The one rule behind notebook 04's
    choice and :func:`forward_classifier_scores`. BLAS and OpenMP pools are limited to one thread
    during the tuning (:func:`retention_utils.runtime.thread_limits`); ``n_jobs`` is the random
    forest's own worker count."""
    cands = dict(candidates) if candidates is not None else model_candidates(seed=seed, n_jobs=n_jobs)
    if not cands:
        raise ValueError("select_model: no candidate models")
    scored, fitted, cal = {}, {}, {}
    with thread_limits(1):  # small models: BLAS/OpenMP threads only add waiting on a busy machine
        tuned = {name: tune_time_cv(name, est, grid, panel, splits, features) for name, (est, grid) in cands.items()}
        order = list(tuned)
        best = max(order, key=lambda n: (tuned[n].best_cv_roc_auc, -order.index(n)))
        for name in order if finalize_all else [best]:
            if calibration == "auto":
                method, cal[name] = choose_calibration(tuned[name], panel, splits)
            else:
                method = calibration
            scored[name], fitted[name] = finalize(tuned[name], panel, splits, calibration=method)
            scored[name].details["calibration_choice"] = calibration
    return ModelSelection(tuned, scored, fitted, cal, best)


def results_table(scored: Sequence[Scored], panel: Panel, splits: TimeSplits) -> pd.DataFrame:
    """:func:`evaluate` of every model and baseline on the test cutoff (same customers for all), one
    row per name (in the given order) with ``kind`` and the validation ROC-AUC ``valid_roc_auc``.
    Raises ``ValueError`` if a score's customers differ from the test population."""
    from sklearn.metrics import roc_auc_score

    t = panel.at(splits.test)
    v = panel.at(splits.valid)
    rows = {}
    for s in scored:
        if not s.test.index.equals(t.index):
            raise ValueError(f"{s.name}: test scores are not aligned with the test population")
        rows[s.name] = {"kind": s.kind, "valid_roc_auc": float(roc_auc_score(v[LABEL], s.valid.reindex(v.index))),
                        **evaluate(t[LABEL], s.test, s.threshold)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    return out


def permutation_importance_table(model: Any, X: pd.DataFrame, y: Any, seed: int = 0, n_repeats: int = 5,
                                 n_jobs: int = 1) -> pd.DataFrame:
    """Drop in holdout ROC-AUC when one feature's values are shuffled
    (``sklearn.inspection.permutation_importance``, ``scoring="roc_auc"``, ``random_state=seed``).
    Returns ``importance_mean``, ``importance_std`` indexed by feature, largest first (ties by name).
    Correlated features share credit: shuffling one leaves its twin in place (sklearn user guide 4.2)."""
    from sklearn.inspection import permutation_importance

    with thread_limits(1):
        r = permutation_importance(model, X, np.asarray(y), scoring="roc_auc", n_repeats=n_repeats,
                                   random_state=seed, n_jobs=n_jobs)
    out = pd.DataFrame({"importance_mean": r.importances_mean, "importance_std": r.importances_std},
                       index=pd.Index(X.columns, name="feature"))
    return out.reset_index().sort_values(["importance_mean", "feature"], ascending=[False, True]).set_index("feature")


# ------------------------------------------------------------------------------------------------
# risk scores for the playbook
# ------------------------------------------------------------------------------------------------

RISK_COLUMNS = (S.CUSTOMER_ID, "scoring_date", "horizon_days", "model", "repurchase_probability", "risk_score",
                "risk_rank", "risk_decile", "days_since_last_order", "n_orders", "revenue")


def risk_score_table(p_repurchase: pd.Series, features: pd.DataFrame, scoring_date: DateLike, horizon_days: int,
                     model: str) -> pd.DataFrame:
    """Per-customer churn risk for the retention playbook.

    ``p_repurchase``: P(order in ``[scoring_date, scoring_date + H)``) indexed by ``customer_id``;
    ``features``: the same customers' :meth:`CustomerHistory.features` (for context columns).
    Columns (:data:`RISK_COLUMNS`): ``customer_id`` (str), ``scoring_date`` (ISO date str),
    ``horizon_days`` (int), ``model`` (str), ``repurchase_probability``, ``risk_score`` = 1 -
    P(repurchase) (float), ``risk_rank`` (int, 1 = highest risk; ties by customer id), ``risk_decile``
    (int 1..10, 1 = the riskiest tenth), ``days_since_last_order``, ``n_orders``, ``revenue``.
    Sorted by ``risk_rank``. Raises ``ValueError`` if customers are missing from ``features`` or
    probabilities are outside [0, 1].
    """
    scoring_day = _day(scoring_date, "scoring_date")  # dates first
    p = p_repurchase.astype("float64")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("repurchase probabilities must be in [0, 1]")
    missing = p.index.difference(features.index)
    if len(missing):
        raise ValueError(f"{len(missing)} customer(s) have no features, e.g. {list(missing[:5])}")
    ctx = features.loc[p.index, ["days_since_last_order", "n_orders", "revenue"]]
    out = pd.DataFrame({
        S.CUSTOMER_ID: p.index.astype(str),
        "scoring_date": scoring_day.date().isoformat(),
        "horizon_days": int(horizon_days),
        "model": model,
        "repurchase_probability": p.to_numpy(),
        "risk_score": 1.0 - p.to_numpy(),
        "days_since_last_order": ctx["days_since_last_order"].astype("int64").to_numpy(),
        "n_orders": ctx["n_orders"].astype("int64").to_numpy(),
        "revenue": ctx["revenue"].to_numpy(),
    })
    out = out.sort_values(["risk_score", S.CUSTOMER_ID], ascending=[False, True], kind="stable").reset_index(drop=True)
    n = len(out)
    out["risk_rank"] = np.arange(1, n + 1)
    out["risk_decile"] = (np.arange(n) * 10 // max(n, 1) + 1).astype("int64")
    return out[list(RISK_COLUMNS)]


def write_risk_scores(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write :func:`risk_score_table` output as CSV (UTF-8, no index, floats with 10 significant
    digits), creating the folder. Returns the path. Raises ``ValueError`` if columns differ from
    :data:`RISK_COLUMNS`."""
    return S.write_checked_csv(table, Path(path), RISK_COLUMNS, "risk table")


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------


@dataclass
class ForwardScores:
    """Result of :func:`forward_classifier_scores`: ``scores`` (Series over the customers at the test
    cutoff, P(purchase in the horizon)) or ``None`` when no forward-in-time validation fits, the
    ``labels`` at the test cutoff (0/1 Series, or ``None``), the chosen model's name and a one-line
    ``note`` saying how it was trained and tuned, or why there is no classifier."""

    scores: pd.Series | None
    labels: pd.Series | None
    model: str
    note: str


def forward_classifier_scores(
    ds: Any,
    observation_start: DateLike,
    observation_end: DateLike,
    horizon_days: int,
    seed: int = 0,
    min_history_days: int = 60,
) -> ForwardScores:
    """Notebook 04's model choice re-run for another horizon, scored on the last cutoff.

    Plans cutoffs so that the last one's label window closes by ``observation_end`` (placed by
    :func:`plan_cutoffs`), uses one earlier
    cutoff for training and one for validation (:func:`time_splits` with ``n_folds=1``), tunes every
    :func:`model_candidates` entry on validation ROC-AUC (:func:`tune_time_cv`), refits the best and
    scores the test cutoff once (:func:`finalize`, no calibration). Nothing after a cutoff enters its
    features. Features constant (or all missing) on the training cutoff are left out. When the data
    leaves no room for a forward-in-time validation, or the models cannot be fitted on it (one class at
    a cutoff, too few customers), returns ``scores=None`` with the reason in ``note`` instead of raising.
    """
    observation_start, observation_end = _day(observation_start, "observation_start"), _day(observation_end, "observation_end")
    try:
        cutoffs = plan_cutoffs(observation_start, observation_end, horizon_days, min_history_days=min_history_days)
        splits = time_splits(cutoffs, horizon_days, n_folds=1)
    except ValueError as err:
        return ForwardScores(None, None, "", f"no forward-in-time validation fits before the holdout ({err})")
    with thread_limits(1):
        history = CustomerHistory.from_dataset(ds, observation_end=observation_end)
        panel = history.panel(list(splits.cutoffs), horizon_days)
        varying = set(model_feature_columns(panel, list(splits.folds[-1].train)))
        features = [c for c in model_feature_columns(panel) if c in varying]
        try:
            selection = select_model(panel, splits, features, seed=seed, calibration="none", finalize_all=False)
        except ValueError as err:
            return ForwardScores(None, None, "", f"the classifiers cannot be fitted on these data ({str(err).splitlines()[0]})")
    best, scored = selection.tuned[selection.best], selection.scored[selection.best]
    test = panel.at(splits.test)
    note = (f"{best.name} (validation ROC-AUC {best.best_cv_roc_auc:.3f}), trained at "
            f"{', '.join(c.date().isoformat() for c in splits.folds[-1].train)}, tuned at {splits.valid.date()}")
    return ForwardScores(pd.Series(np.asarray(scored.test, dtype="float64"), index=test.index), test["label"], best.name, note)
