"""Per-household effects, their evaluation on held-out households, and targeting at a budget.

Per-household effects (CATE) come from econml's ``ForestDRLearner`` (a doubly robust learner with a
generalised random forest as final stage: Athey, Tibshirani & Wager 2019; Kennedy 2023), fitted on
training households only.

Evaluation on held-out households uses **doubly robust scores** (AIPW pseudo-outcomes)

    Γᵢ = μ₁(xᵢ) − μ₀(xᵢ) + tᵢ (yᵢ − μ₁(xᵢ)) / e(xᵢ) − (1 − tᵢ)(yᵢ − μ₀(xᵢ)) / (1 − e(xᵢ)),

whose mean over any set of households chosen without looking at outcomes estimates the average effect
of treating that set (Robins, Rotnitzky & Zhao 1994). The nuisances ``μ₀, μ₁, e`` are cross-fitted
within the held-out households by econml's ``DRTester.fit_nuisance``. Assignment was confounded, so a
Qini curve built from raw treated-minus-control outcomes (scikit-uplift's ``qini_curve``, which also
accepts only binary outcomes) would measure targeting bias; with Γ it measures incremental spend.

Qini curve (written here, tested against a hand-computed case and against econml's
``validate.utils.calc_uplift``): households are ranked by a score (highest first); after targeting the
top ``k`` of ``n``,

    incremental(k) = Σ_{i in top k} Γᵢ,     random(k) = (k / n) Σ_{all i} Γᵢ,

and ``qini_auc`` is the area between ``(incremental − random) / n`` and 0 over the share targeted
``k / n`` in ``[0, 1]`` (trapezoids; currency per household per week). Tied scores form one step: the
curve moves linearly across a tied group, which is the expectation over random tie-breaking (as
scikit-learn's ROC curve does). :func:`incremental_at_budget` is the same quantity at one ``k``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..runtime import thread_limits
from .estimate import _outcome_model, _propensity_model, _xyt

# ------------------------------------------------------------------------------------------------
# Qini curve and budgets (evaluation code, tested by hand)
# ------------------------------------------------------------------------------------------------


def _check(score: Any, dr: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(score, dtype="float64")
    d = np.asarray(dr, dtype="float64")
    if s.ndim != 1 or s.shape != d.shape:
        raise ValueError(f"score and dr must be 1-d of the same length, got {s.shape} and {d.shape}")
    if len(s) == 0:
        raise ValueError("score and dr are empty")
    if not (np.isfinite(s).all() and np.isfinite(d).all()):
        raise ValueError("score and dr must be finite (no NaN)")
    return s, d


def qini_curve(score: Any, dr: Any) -> pd.DataFrame:
    """Qini curve of a ranking ``score`` (higher = target first) on doubly robust scores ``dr``.

    Returns one row per step (``k = 0`` and the end of each group of tied scores): ``targeted`` (k,
    int), ``share`` (k / n), ``incremental`` (Σ Γ over the top k), ``random`` ((k / n) Σ Γ) and
    ``qini`` (``(incremental - random) / n``). Raises ``ValueError`` for arrays of different length,
    empty or non-finite input.
    """
    s, d = _check(score, dr)
    n = len(s)
    order = np.argsort(-s, kind="mergesort")
    s, d = s[order], d[order]
    ends = np.r_[np.nonzero(np.diff(s))[0], n - 1]
    k = np.r_[0, ends + 1]
    inc = np.r_[0.0, np.cumsum(d)[ends]]
    total = d.sum()
    rand = k / n * total
    return pd.DataFrame({"targeted": k.astype("int64"), "share": k / n, "incremental": inc, "random": rand,
                         "qini": (inc - rand) / n})


def qini_auc(score: Any, dr: Any) -> float:
    """Area between the Qini curve and the random line, per household: ∫₀¹ (incremental − random) / n
    d(share) by trapezoids over :func:`qini_curve` (currency per household per week when Γ is spend per
    week). 0 for a ranking no better than random; positive when high scores hold larger effects."""
    c = qini_curve(score, dr)
    x, y = c["share"].to_numpy(), c["qini"].to_numpy()
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def budget_weights(score: Any, k: int) -> np.ndarray:
    """Weight of each household in "target the top ``k`` by ``score``": 1 above the k-th score, 0
    below, and (slots left) / (tied households) for each household tied at the boundary (the
    expectation over random tie-breaking). Sums to ``k``. Raises ``ValueError`` for ``k`` outside
    ``[0, n]``."""
    s = np.asarray(score, dtype="float64")
    n = len(s)
    if not 0 <= int(k) <= n:
        raise ValueError(f"budget k must be in [0, {n}], got {k}")
    w = np.zeros(n)
    if k == 0:
        return w
    kth = np.sort(s)[::-1][int(k) - 1]
    above = s > kth
    tied = s == kth
    w[above] = 1.0
    w[tied] = (int(k) - above.sum()) / tied.sum()
    return w


@dataclass(frozen=True)
class BudgetResult:
    """Incremental outcome of a targeting rule at budget ``k``: ``incremental`` (Σ wᵢ Γᵢ), its standard
    error and ``1 - alpha`` interval (normal; Γᵢ independent across households: SE = √n · sd(wᵢ Γᵢ)),
    ``k`` and ``n``."""

    rule: str
    k: int
    n: int
    incremental: float
    std_error: float
    ci_low: float
    ci_high: float


def _sum_with_se(terms: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    from scipy import stats

    n = len(terms)
    total = float(terms.sum())
    se = float(np.sqrt(n) * terms.std(ddof=1)) if n > 1 else float("nan")
    z = stats.norm.ppf(1 - alpha / 2)
    return total, se, total - z * se, total + z * se


def incremental_at_budget(score: Any, dr: Any, k: int, rule: str = "", alpha: float = 0.05) -> BudgetResult:
    """Estimated incremental outcome of targeting the top ``k`` households by ``score``:
    Σᵢ wᵢ Γᵢ with the weights of :func:`budget_weights`. Same units as Γ (e.g. spend per week, summed
    over the targeted households)."""
    s, d = _check(score, dr)
    w = budget_weights(s, k)
    total, se, lo, hi = _sum_with_se(w * d, alpha)
    return BudgetResult(rule, int(k), len(s), total, se, lo, hi)


def compare_targeting(rules: Mapping[str, Any], dr: Any, k: int, alpha: float = 0.05, reference: str | None = None) -> pd.DataFrame:
    """Targeting rules side by side at the same budget ``k``: one row per rule (``rules``: name -> score,
    higher = target first) with ``incremental``, ``std_error``, ``ci_low``, ``ci_high`` of
    :func:`incremental_at_budget`, ``qini_auc`` of the ranking, and, when ``reference`` names a rule,
    ``minus_reference`` (paired difference Σ (wᵢ − wᵢʳᵉᶠ) Γᵢ) with its interval."""
    d = np.asarray(dr, dtype="float64")
    rows = []
    w_ref = budget_weights(rules[reference], k) if reference else None
    for name, score in rules.items():
        r = incremental_at_budget(score, d, k, name, alpha)
        row = {"rule": name, "k": r.k, "n": r.n, "incremental": r.incremental, "std_error": r.std_error,
               "ci_low": r.ci_low, "ci_high": r.ci_high, "qini_auc": qini_auc(score, d)}
        if w_ref is not None:
            diff, _, lo, hi = _sum_with_se((budget_weights(score, k) - w_ref) * d, alpha)
            row.update(minus_reference=diff, minus_reference_ci_low=lo, minus_reference_ci_high=hi)
        rows.append(row)
    return pd.DataFrame(rows).set_index("rule")


# ------------------------------------------------------------------------------------------------
# per-household effects (econml)
# ------------------------------------------------------------------------------------------------


def split_households(table: pd.DataFrame, heldout_share: float = 0.3, seed: int = 0) -> tuple[pd.Index, pd.Index]:
    """Train / held-out households, seeded and stratified by ``treated`` (scikit-learn
    ``train_test_split``). Returns two sorted indexes. Raises ``ValueError`` for a share outside (0, 1)."""
    from sklearn.model_selection import train_test_split

    if not 0 < heldout_share < 1:
        raise ValueError(f"heldout_share must be in (0, 1), got {heldout_share}")
    tr, te = train_test_split(table.index.to_numpy(), test_size=heldout_share, random_state=seed,
                              stratify=table["treated"].to_numpy())
    return pd.Index(sorted(tr), name=table.index.name), pd.Index(sorted(te), name=table.index.name)


@dataclass
class CateModel:
    """A fitted ``ForestDRLearner`` (``model``) with its effect modifiers ``features`` (columns of X) and
    controls ``controls`` (columns of W), the ``outcome`` and the training size."""

    model: Any
    features: list[str]
    controls: list[str]
    outcome: str
    n_train: int

    def effect(self, table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
        """Per-row effect with its ``1 - alpha`` interval: DataFrame on ``table``'s index with
        ``effect``, ``ci_low``, ``ci_high`` (outcome units), from econml's ``effect`` and
        ``effect_interval`` (forest bootstrap-of-little-bags variance)."""
        x = table[self.features].to_numpy(dtype="float64")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eff = np.ravel(self.model.effect(x))
            lo, hi = self.model.effect_interval(x, alpha=alpha)
        return pd.DataFrame({"effect": eff, "ci_low": np.ravel(lo), "ci_high": np.ravel(hi)}, index=table.index)


def fit_cate(table: pd.DataFrame, outcome: str, features: Sequence[str], controls: Sequence[str] = (),
             seed: int = 0, n_estimators: int = 400, min_samples_leaf: int = 20, folds: int = 3) -> CateModel:
    """Fit econml's ``ForestDRLearner`` on ``table`` (training households): effect modifiers
    ``features`` (X, pre-period features known at scoring time), controls ``controls`` (W, e.g. campaign
    indicators), the package's propensity and outcome models, ``n_estimators`` honest trees with
    ``min_samples_leaf``, cross-fitting in ``folds``. Raises ``ValueError`` when an arm has fewer than 2 rows."""
    from econml.dr import ForestDRLearner

    y, t, x = _xyt(table, outcome, list(features))
    w = table[list(controls)].to_numpy(dtype="float64") if controls else None
    est = ForestDRLearner(model_regression=_outcome_model(seed), model_propensity=_propensity_model(seed),
                          cv=folds, n_estimators=int(n_estimators), min_samples_leaf=int(min_samples_leaf),
                          random_state=seed, n_jobs=1)
    with warnings.catch_warnings(), thread_limits(1):  # many small fits: one BLAS/OpenMP thread
        warnings.simplefilter("ignore")
        est.fit(y, t, X=x, W=w)
    return CateModel(est, list(features), list(controls), outcome, len(y))


def dr_scores(table: pd.DataFrame, outcome: str, covariates: Sequence[str], seed: int = 0, folds: int = 5) -> pd.Series:
    """Doubly robust scores Γ (module docstring) of the rows of ``table`` (held-out households), with the
    propensity and outcome models cross-fitted within ``table`` (econml ``DRTester.fit_nuisance``;
    propensities clipped at 0.01 by econml). Returns a float64 Series named ``dr_score`` on
    ``table``'s index (outcome units)."""
    from econml.validate import DRTester

    y, t, x = _xyt(table, outcome, covariates)
    tester = DRTester(model_regression=_outcome_model(seed), model_propensity=_propensity_model(seed), cate=None, cv=folds)
    tester.get_cv_splitter(random_state=seed)
    with warnings.catch_warnings(), thread_limits(1):
        warnings.simplefilter("ignore")
        tester.fit_nuisance(x, t, y)
    return pd.Series(np.ravel(tester.dr_val_), index=table.index, name="dr_score")


def churn_risk_at(tx: pd.DataFrame, anchors: pd.Series, follow_up_days: int = 28) -> pd.Series:
    """Churn risk of each household the day before its anchor, from notebook 05/06's next-purchase Cox
    model (:func:`retention_utils.tables.durations.next_purchase_table`, :func:`~retention_utils.models.survival.fit_cox`,
    :func:`~retention_utils.models.survival.next_purchase_score`), refitted for each anchor on data
    strictly before it and not tuned.

    ``anchors``: datetime64 per ``customer_id`` (index). For an anchor ``a``: scoring cutoff ``a - 1
    day``; the model is trained at ``a - 1 - follow_up_days`` with the follow-up up to ``a - 1``.
    Returns ``-log(next-purchase hazard)`` (float64, named ``churn_risk``; higher = the next purchase is
    expected later = more at risk), NaN for a household without a purchase before its anchor.
    """
    from ..models import survival as sv
    from ..tables import durations as du

    out = pd.Series(np.nan, index=anchors.index, name="churn_risk", dtype="float64")
    day = tx[S.ORDER_TS].dt.normalize()
    for a, idx in anchors.groupby(pd.to_datetime(anchors).dt.normalize(), sort=True).groups.items():
        before = tx[day < a]
        score_cut = a - S.DAY
        train_cut = score_cut - pd.Timedelta(days=int(follow_up_days))
        train = du.next_purchase_table(before, train_cut, score_cut)
        cox = sv.fit_cox(train, sv.NEXT_PURCHASE_COVARIATES, event_col=du.PURCHASED)
        now = du.next_purchase_table(before, score_cut)
        hz = sv.next_purchase_score(cox, now)
        out.loc[idx] = -np.log(hz.reindex(pd.Index(idx, dtype=object).astype(str)).to_numpy())
    return out
