"""Shared evaluation of scores against what happened: one module that prediction, survival, CLV and
the playbook use.

Binary outcomes (did the customer buy again in the horizon?): :func:`evaluate` (ROC-AUC, PR-AUC,
Brier, log loss, F1/recall/precision/specificity at a threshold), :func:`f1_threshold`,
:func:`lift_table` (lift and cumulative gains by tenth, tied scores split exactly, never by row
order), :func:`calibration_table` (predicted against observed rate by bins), :func:`bootstrap_roc_auc`
(percentile intervals and paired differences against a reference score).

Time to event: :func:`concordance` (Harrell's C-index, direction stated by the caller) and
:func:`brier_score_at` (IPCW Brier score at a horizon). Survival calibration by risk group needs
Kaplan-Meier and lives in :func:`retention_utils.models.survival.calibration_at_horizon`.

ROC-AUC and PR-AUC come from scikit-learn (``roc_auc_score``, ``average_precision_score``), the
C-index from lifelines (``utils.concordance_index``); the bootstrap and the tables are written here
and tested on hand-computed cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: log-loss clipping: probabilities are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] before the log.
LOG_LOSS_EPS = 1e-6


def _as_arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d of the same length (got {y.shape} and {p.shape})")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1")
    if not np.isfinite(p).all():
        raise ValueError(f"scores have {int((~np.isfinite(p)).sum())} non-finite value(s)")
    return y.astype("int64"), p


def f1_threshold(y: Any, p: Any) -> float:
    """The probability threshold that maximises F1 (predict 1 when ``p >= threshold``) on ``(y, p)``.

    Candidate thresholds are the distinct scores (sklearn ``precision_recall_curve``); ties in F1 go to
    the highest threshold. Raises ``ValueError`` when ``y`` has no positive.
    """
    from sklearn.metrics import precision_recall_curve

    y, p = _as_arrays(y, p)
    if y.sum() == 0:
        raise ValueError("no positive label: F1 is undefined")
    prec, rec, thr = precision_recall_curve(y, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)[:-1]
    best = np.flatnonzero(f1 == f1.max())
    return float(thr[best].max())


def evaluate(y: Any, p: Any, threshold: float = 0.5) -> dict[str, float]:
    """Holdout metrics of probabilities ``p`` (P(label = 1)) for 0/1 labels ``y``.

    Keys: ``roc_auc``, ``pr_auc`` (average precision), ``brier``, ``log_loss`` (natural log, ``p``
    clipped to [:data:`LOG_LOSS_EPS`, 1 - eps]), ``threshold``, ``precision``, ``recall``, ``specificity`` (recall of
    the 0 class: the non-repurchasers caught), ``f1`` (predict 1 when ``p >= threshold``), ``top_decile_lift`` (:func:`lift_table`; NaN under 10 rows), ``positive_rate``, ``n``.
    Metrics from ``sklearn.metrics`` (roc_auc_score, average_precision_score, brier_score_loss,
    log_loss, precision/recall/f1_score). Raises ``ValueError`` for mismatched or non-0/1 inputs, or a
    single class in ``y``.
    """
    from sklearn import metrics as M

    y, p = _as_arrays(y, p)
    if y.min() == y.max():
        raise ValueError("both classes are needed to evaluate (ROC-AUC undefined)")
    pred = (p >= threshold).astype("int64")
    pc = np.clip(p, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return {
        "roc_auc": float(M.roc_auc_score(y, p)),
        "pr_auc": float(M.average_precision_score(y, p)),
        "brier": float(M.brier_score_loss(y, np.clip(p, 0, 1))),
        "log_loss": float(M.log_loss(y, pc, labels=[0, 1])),
        "threshold": float(threshold),
        "precision": float(M.precision_score(y, pred, zero_division=0)),
        "recall": float(M.recall_score(y, pred, zero_division=0)),
        "specificity": float(M.recall_score(y, pred, pos_label=0, zero_division=0)),
        "f1": float(M.f1_score(y, pred, zero_division=0)),
        "top_decile_lift": float(lift_table(y, p, 10)["lift"].iloc[0]) if len(y) >= 10 else float("nan"),
        "positive_rate": float(y.mean()),
        "n": int(len(y)),
    }


def lift_table(y: Any, score: Any, n_bins: int = 10) -> pd.DataFrame:
    """Lift and cumulative gains by score bin (deciles by default), highest scores first.

    Customers are ordered by descending score; bin ``k`` (1-based) holds positions
    ``[floor((k-1) n / n_bins), floor(k n / n_bins))``. A group of tied scores that straddles a bin
    edge is split in proportion to its overlap with each bin, and so are its positives: the exact
    expectation over random orderings of the ties, so the table never depends on the input order
    (the recommenders defect of ranking ties by input order is avoided).

    Returns a DataFrame indexed by ``bin`` (1..n_bins) with ``customers`` (float: fractional with
    ties), ``positives`` (float), ``positive_rate``, ``lift`` (rate / overall rate),
    ``cumulative_share`` (share of customers in bins 1..k), ``cumulative_gain`` (share of all
    positives captured by bins 1..k) and ``cumulative_lift``. Raises ``ValueError`` when
    ``n_bins > n``, there is no positive, or inputs are invalid.
    """
    y, s = _as_arrays(y, score)
    n = len(y)
    if n_bins < 1 or n_bins > n:
        raise ValueError(f"n_bins must be in 1..{n} (got {n_bins})")
    if y.sum() == 0:
        raise ValueError("no positive label: lift is undefined")
    df = pd.DataFrame({"s": s, "y": y}).groupby("s", sort=True).agg(n=("y", "size"), pos=("y", "sum"))
    df = df.iloc[::-1]  # highest score first
    g_end = df["n"].cumsum().to_numpy(dtype="float64")
    g_start = g_end - df["n"].to_numpy(dtype="float64")
    edges = np.floor(np.arange(n_bins + 1) * n / n_bins)
    lo, hi = edges[:-1, None], edges[1:, None]
    overlap = np.clip(np.minimum(hi, g_end[None, :]) - np.maximum(lo, g_start[None, :]), 0, None)
    share = overlap / df["n"].to_numpy(dtype="float64")[None, :]
    customers = overlap.sum(axis=1)
    positives = share @ df["pos"].to_numpy(dtype="float64")
    rate = y.mean()
    out = pd.DataFrame({"customers": customers, "positives": positives}, index=pd.RangeIndex(1, n_bins + 1, name="bin"))
    out["positive_rate"] = out["positives"] / out["customers"]
    out["lift"] = out["positive_rate"] / rate
    out["cumulative_share"] = out["customers"].cumsum() / n
    out["cumulative_gain"] = out["positives"].cumsum() / y.sum()
    out["cumulative_lift"] = out["cumulative_gain"] / out["cumulative_share"]
    return out


def calibration_table(y: Any, p: Any, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table: ``p`` cut into ``n_bins`` quantile bins (``sklearn.calibration.calibration_curve``,
    ``strategy="quantile"``; bins with tied edges merge). Columns ``mean_predicted`` and
    ``observed_rate``, one row per non-empty bin, increasing."""
    from sklearn.calibration import calibration_curve

    y, p = _as_arrays(y, p)
    obs, pred = calibration_curve(y, np.clip(p, 0, 1), n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": pred, "observed_rate": obs})


def _weighted_auc(order_groups: np.ndarray, pos: np.ndarray, neg: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC-AUC for each row of case weights ``W`` (b x n), data pre-sorted by ascending score with
    ``order_groups`` the start positions of tied-score groups (Mann-Whitney, ties count 1/2)."""
    wp = np.add.reduceat(W * pos, order_groups, axis=1)
    wn = np.add.reduceat(W * neg, order_groups, axis=1)
    below = np.cumsum(wn, axis=1) - wn
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def bootstrap_roc_auc(
    y: Any,
    scores: Mapping[str, Any] | pd.DataFrame,
    n_boot: int = 1000,
    seed: int = 0,
    reference: str | None = None,
    level: float = 0.95,
    chunk: int = 100,
) -> pd.DataFrame:
    """Percentile bootstrap confidence intervals of ROC-AUC, resampling customers with replacement.

    All score columns share the same resamples, so differences are paired. ``scores``: name -> score
    vector aligned with ``y``. Returns a DataFrame indexed by name with ``roc_auc`` (on the full
    sample), ``ci_low``, ``ci_high``; with ``reference`` also ``gain`` (AUC minus the reference's AUC)
    and its ``gain_ci_low``, ``gain_ci_high``. Resamples drawn as multinomial case weights from
    ``numpy.random.default_rng(seed)``; a resample with a single class is discarded (counted in the
    attribute ``attrs["discarded"]``). Weighted AUC equals ``sklearn.metrics.roc_auc_score`` with
    ``sample_weight`` (tested). Source: Efron & Tibshirani (1993), *An Introduction to the Bootstrap*,
    ch. 13 (percentile interval).
    """
    cols = dict(scores.items()) if isinstance(scores, pd.DataFrame) else dict(scores)
    yv = np.asarray(y, dtype="float64")
    arrs = {k: _as_arrays(yv, v)[1] for k, v in cols.items()}
    yv = yv.astype("int64")
    n = len(yv)
    if reference is not None and reference not in arrs:
        raise ValueError(f"reference {reference!r} is not one of the scores {list(arrs)}")
    rng = np.random.default_rng(seed)
    prepared = {}
    for k, s in arrs.items():
        order = np.argsort(s, kind="stable")
        ss = s[order]
        starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
        prepared[k] = (order, starts, yv[order].astype("float64"), 1.0 - yv[order])
    boots = {k: [] for k in arrs}
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        W = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype("float64")
        for k, (order, starts, pos, neg) in prepared.items():
            boots[k].append(_weighted_auc(starts, pos, neg, W[:, order]))
        done += b
    B = {k: np.concatenate(v) for k, v in boots.items()}
    ok = np.all([np.isfinite(v) for v in B.values()], axis=0)
    alpha = (1 - level) / 2
    full_w = np.ones((1, n))
    full = {k: float(_weighted_auc(starts, pos, neg, full_w)[0]) for k, (_o, starts, pos, neg) in prepared.items()}
    rows = {}
    for k, auc in full.items():
        v = B[k][ok]
        row = {"roc_auc": auc, "ci_low": float(np.quantile(v, alpha)), "ci_high": float(np.quantile(v, 1 - alpha))}
        if reference is not None:
            d = v - B[reference][ok]
            row.update(gain=auc - full[reference], gain_ci_low=float(np.quantile(d, alpha)),
                       gain_ci_high=float(np.quantile(d, 1 - alpha)))
        rows[k] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    out.attrs["discarded"] = int((~ok).sum())
    return out


def concordance(durations: Any, events: Any, score: Any, higher_means: str) -> float:
    """Harrell's C-index (Harrell et al. 1996; lifelines ``utils.concordance_index``): the share of
    comparable pairs the score orders correctly (0.5 = random, 1 = perfect).

    lifelines expects a score where *higher means longer survival*; ``higher_means`` must say which
    way ``score`` points: ``"longer"`` (e.g. predicted survival or median time) or ``"shorter"``
    (e.g. a hazard or partial hazard, negated here). There is no default: the direction is the usual
    silent bug. Raises ``ValueError`` for another value.
    """
    from lifelines.utils import concordance_index

    if higher_means not in ("longer", "shorter"):
        raise ValueError(f"higher_means must be 'longer' or 'shorter', not {higher_means!r}")
    s = np.asarray(score, dtype="float64")
    return float(concordance_index(np.asarray(durations, dtype="float64"), s if higher_means == "longer" else -s, np.asarray(events)))


def brier_score_at(durations: Any, events: Any, predicted: Any, horizon: float) -> float:
    """Brier score of predicted survival at ``horizon`` with inverse-probability-of-censoring weights
    (Graf, Schmoor, Sauerbrei & Schumacher 1999, eq. 6):

    ``BS(t) = mean_i[ S_i(t)^2 * 1(T_i <= t, d_i = 1) / G(T_i-) + (1 - S_i(t))^2 * 1(T_i > t) / G(t) ]``

    where ``G`` is the Kaplan-Meier estimate of the censoring distribution on the same customers
    (censorings at a time where events also occur count as after the events). Customers censored before
    ``t`` contribute 0 but raise the weights of the others. 0 is perfect; predicting 0.5 for everybody
    without censoring gives 0.25. Returns a float.
    """
    d = np.asarray(durations, dtype="float64")
    e = np.asarray(events).astype(int)
    p = np.asarray(predicted, dtype="float64")
    # KM of the censoring distribution: "events" are censorings
    times, inverse = np.unique(d, return_inverse=True)
    ds = np.sort(d)
    at_risk = (len(d) - np.searchsorted(ds, times, side="left")).astype("float64")
    cens = np.bincount(inverse, weights=(e == 0).astype(float), minlength=len(times))
    G = np.cumprod(1.0 - cens / at_risk)

    def G_at(t: np.ndarray, left: bool) -> np.ndarray:
        pos = np.searchsorted(times, t, side="left" if left else "right") - 1
        return np.where(pos >= 0, G[np.clip(pos, 0, None)], 1.0)

    died = (d <= horizon) & (e == 1)
    alive = d > horizon
    w_died = np.where(died, 1.0 / G_at(d, left=True), 0.0)
    g_t = float(G_at(np.array([horizon]), left=False)[0])
    w_alive = np.where(alive, 1.0 / g_t, 0.0) if g_t > 0 else np.zeros_like(d)
    return float(np.mean(p**2 * w_died + (1 - p) ** 2 * w_alive))
