"""The evaluation protocol of notebook 07: tune on a validation split, refit, score the test split once.

:func:`tune` (grid search on a validation split, refitting only when a fit-time parameter changes),
:func:`evaluate` (per-household metrics at several k, with the repeat / explore breakdown),
:func:`run_protocol` (tune on validation, refit, score the test split once, for a list of
:class:`ModelSpec`; :func:`default_specs` is the comparison of notebook 07), :func:`results_table`
(bootstrap CIs over households), :func:`paired_difference` and :func:`compare_to_baseline` (paired
bootstrap CIs of differences between models), :func:`format_results` (the display rule). The models
themselves are in :mod:`retention_utils.recommend.models`, the metrics in
:mod:`retention_utils.recommend.metrics`.
"""

from __future__ import annotations

import itertools
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..runtime import thread_limits
from .bootstrap import bootstrap_cis, resample_counts, resample_indices
from .metrics import BootstrapCI, bootstrap_ci, per_user_metrics, per_user_metrics_at
from .models import (
    ALS,
    EASE,
    TIFUKNN,
    ContentTFIDF,
    GPTopFreq,
    GTopFreq,
    Hybrid,
    Interactions,
    ItemKNN,
    PTopFreq,
    Recommender,
    UserKNN,
    fit_shared,
    shared_fits,
)
from .ranking import DEFAULT_ITEM_COL as ITEM
from .ranking import DEFAULT_USER_COL as USER
from .ranking import _check_k, check_whole
from .temporal import RepurchaseTimeKernel

#: metrics reported with bootstrap intervals / as plain means by :func:`results_table`
_CI_METRICS = ("precision", "recall", "ndcg", "hit")
_MEAN_METRICS = ("repeat_recall", "explore_recall", "repeat_share")


@dataclass
class TuneResult:
    """Result of :func:`tune`.

    ``table``: one row per grid point (parameter columns, then the metric and ``n_users``), in grid
    order; ``best_params``: the first grid point with the largest metric value; ``metric`` e.g.
    ``"ndcg@10"``."""

    best_params: dict[str, Any]
    table: pd.DataFrame
    metric: str


def _grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    for key in keys:
        if isinstance(grid[key], str) or not isinstance(grid[key], Iterable):
            raise ValueError(f"grid[{key!r}] must be a list of values, got {grid[key]!r}")
        if len(list(grid[key])) == 0:
            raise ValueError(f"grid[{key!r}] is empty: give at least one value, or leave {key!r} out of the grid")
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(list(grid[k]) for k in keys))]


def tune(
    model: Recommender,
    grid: Mapping[str, Sequence[Any]],
    data: Interactions,
    truth: pd.DataFrame,
    *,
    k: int = 10,
    metric: str = "ndcg",
    households: int | None = None,
    seed: int = 0,
) -> TuneResult:
    """Grid search on a validation split.

    Parameters
    ----------
    model : Recommender (unfitted template; not modified)
    grid : mapping parameter name -> list of values (``{}``: the model's own parameters only)
    data : Interactions of the validation split's training rows
    truth : validation truth (``customer_id``, ``product_id``); its households are scored
    k : cut-off; metric : a column of :func:`~retention_utils.recommend.metrics.per_user_metrics`
    households : int or None
        Score only a simple random sample of this many of the truth's households (seeded by
        ``seed``; ``None`` or more than there are: all). Models are still fitted on all of ``data``.

    Parameters listed in the model's ``_score_params`` are varied on one fitted model; any other
    change refits. Returns :class:`TuneResult`. Raises ``ValueError`` for an unknown parameter or
    metric.
    """
    points = _grid(grid) or [{}]
    known = model.get_params(deep=True)
    unknown = sorted({p for pt in points for p in pt} - set(known))
    if unknown:
        raise ValueError(f"{type(model).__name__} has no parameter(s) {unknown}")
    users = tuning_households(truth, households, seed)
    truth = truth[truth[USER].isin(users)]
    fitted: dict[tuple, Recommender] = {}
    rows = []
    for pt in points:
        fit_key = tuple(sorted((p, repr(v)) for p, v in pt.items() if p not in model._score_params))
        if fit_key not in fitted:
            fitted.clear()  # keep one fitted model in memory at a time
            fitted[fit_key] = fit_shared(clone(model).set_params(**pt), data)
        m = fitted[fit_key].set_params(**pt)
        pu = per_user_metrics(truth, m.recommend(users, k), k)
        if metric not in pu:
            raise ValueError(f"unknown metric {metric!r}; choose from {list(pu.columns)}")
        rows.append({**pt, f"{metric}@{k}": float(pu[metric].mean()), "n_users": len(pu)})
    table = pd.DataFrame(rows)
    best = int(np.argmax(table[f"{metric}@{k}"].to_numpy()))
    return TuneResult(dict(points[best]), table, f"{metric}@{k}")


def tuning_households(truth: pd.DataFrame, households: int | None = None, seed: int = 0) -> pd.Index:
    """The households of ``truth`` that :func:`tune` scores: all of them (sorted) or, if
    ``households`` is smaller than their number, a simple random sample of that size drawn with
    ``numpy.random.default_rng(seed)`` (sorted). Raises ``ValueError`` for ``households < 1``."""
    users = pd.Index(truth[USER].unique()).sort_values()
    if households is not None:
        households = check_whole(households, "households (the number to tune on)")
    if households is None or households >= len(users):
        return users
    pick = np.random.default_rng(seed).choice(len(users), size=int(households), replace=False)
    return users[np.sort(pick)]


def evaluate(
    model: Recommender,
    truth: pd.DataFrame,
    history: pd.DataFrame,
    ks: Sequence[int] = (5, 10, 20),
) -> dict[int, pd.DataFrame]:
    """Per-household metrics of a fitted model at each ``k`` in ``ks``.

    The model ranks ``max(ks)`` products once for the households of ``truth``; each k uses the top k
    of that list. ``history`` (``customer_id``, ``product_id`` bought before the target) gives the
    repeat / explore breakdown. Returns ``{k: per_user_metrics frame}`` (see
    :func:`~retention_utils.recommend.metrics.per_user_metrics`; households sorted)."""
    ks = sorted({_check_k(k, "each of ks") for k in ks})
    if not ks:
        raise ValueError("ks is empty: give at least one k, e.g. ks=(5, 10, 20)")
    users = pd.Index(truth[USER].unique()).sort_values()
    return _metrics_at(model.recommend(users, max(ks)), truth, history, ks)


def _relevant_history(data: Interactions, truth: pd.DataFrame, recs: pd.DataFrame) -> pd.DataFrame:
    """The training (household, product) pairs of ``data`` that occur in ``truth`` or ``recs``: the
    only history rows that can change the repeat / explore breakdown, looked up in the sparse counts
    instead of hashing the whole history for every metric call."""
    pairs = pd.concat([truth[[USER, ITEM]], recs[[USER, ITEM]]], ignore_index=True).drop_duplicates()
    r = data.users.get_indexer(pairs[USER])
    c = data.items.get_indexer(pairs[ITEM])
    ok = np.flatnonzero((r >= 0) & (c >= 0))
    bought = np.zeros(len(pairs), dtype=bool)
    if len(ok):
        bought[ok] = np.asarray(data.counts[r[ok], c[ok]]).ravel() > 0
    return pairs[bought].reset_index(drop=True)


def _metrics_at(
    recs: pd.DataFrame, truth: pd.DataFrame, history: pd.DataFrame, ks: Sequence[int]
) -> dict[int, pd.DataFrame]:
    recs = recs[recs[USER].isin(truth[USER].unique())]  # households of this truth only
    return per_user_metrics_at(truth, recs, ks, history=history)


def results_table(
    evaluations: Mapping[str, Mapping[int, pd.DataFrame]],
    *,
    ci_metrics: Sequence[str] = _CI_METRICS,
    mean_metrics: Sequence[str] = _MEAN_METRICS,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per (model, k) with bootstrap CIs over households.

    Parameters
    ----------
    evaluations : ``{model name: {k: per-user frame}}`` as returned by :func:`evaluate`.
    ci_metrics : metrics reported with a percentile bootstrap interval
        (:func:`~retention_utils.recommend.metrics.bootstrap_ci`, ``n_boot`` resamples of the
        households, seed ``seed``; ``alpha`` two-sided).
    mean_metrics : metrics reported as plain means (NaN users dropped, as in the metrics module).

    Returns
    -------
    DataFrame with columns ``model`` (str), ``k`` (int), ``n_households`` (int), then for each CI
    metric ``m``: ``m``, ``m_low``, ``m_high``; then the mean metrics. Rows in the order of
    ``evaluations`` then ``k``.
    """
    rows = []
    counts: dict[int, np.ndarray] = {}  # resample counts per number of households, shared by the rows
    for name, by_k in evaluations.items():
        for k in sorted(by_k):
            pu = by_k[k]
            row: dict[str, Any] = {"model": name, "k": int(k), "n_households": len(pu)}
            v = pu[list(ci_metrics)].to_numpy(np.float64)
            if len(v) and not np.isnan(v).any():
                if len(v) not in counts:
                    counts[len(v)] = resample_counts(len(v), n_boot, seed)
                cis = bootstrap_cis(v, n_boot=n_boot, seed=seed, alpha=alpha, counts=counts[len(v)])
            else:
                cis = [bootstrap_ci(pu[m].astype(np.float64), n_boot=n_boot, seed=seed, alpha=alpha) for m in ci_metrics]
            for m, ci in zip(ci_metrics, cis, strict=True):
                row.update({m: ci.estimate, f"{m}_low": ci.low, f"{m}_high": ci.high})
            for m in mean_metrics:
                row[m] = float(pu[m].mean()) if m in pu else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: str = "ndcg",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Bootstrap CI of the mean over households of ``a[metric] - b[metric]`` (paired: the same
    households are resampled for both models).

    ``a``, ``b``: per-household frames (:func:`evaluate`) indexed by household. Raises ``ValueError``
    if their household sets differ (compare models on the same truth)."""
    if not a.index.equals(b.index):
        raise ValueError(
            "paired_difference: the two frames must cover the same households, in the same order"
        )
    diff = a[metric].astype(np.float64) - b[metric].astype(np.float64)
    return bootstrap_ci(diff, n_boot=n_boot, seed=seed, alpha=alpha)


def paired_ratio(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: str = "ndcg",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Bootstrap CI of the ratio of means ``mean(a[metric]) / mean(b[metric])``, paired: each
    resample draws households once and takes both means over them (the resamples of
    :func:`paired_difference` with the same ``seed``). Percentile interval; ``estimate`` is the
    ratio on all households, NaN if ``b``'s mean is 0. Raises ``ValueError`` if the household sets
    differ."""
    if not a.index.equals(b.index):
        raise ValueError("paired_ratio: the two frames must cover the same households, in the same order")
    va, vb = a[metric].to_numpy(np.float64), b[metric].to_numpy(np.float64)
    ok = ~(np.isnan(va) | np.isnan(vb))
    va, vb = va[ok], vb[ok]
    n = len(va)
    if n == 0 or vb.mean() == 0:
        nan = float("nan")
        return BootstrapCI(nan, nan, nan, n, int(n_boot), float(alpha))
    ratios = np.empty(int(n_boot))
    for b0, idx in resample_indices(n, int(n_boot), seed):
        den = vb[idx].mean(axis=1)
        ratios[b0 : b0 + len(idx)] = va[idx].mean(axis=1) / np.where(den > 0, den, np.nan)
    low, high = np.nanquantile(ratios, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(float(va.mean() / vb.mean()), float(low), float(high), n, int(n_boot), float(alpha))


@dataclass
class ModelSpec:
    """One model of a comparison: a display ``name``, an unfitted ``model`` (or a callable that
    builds it from the best parameters tuned so far, ``{name: params}``, e.g. a hybrid reusing the
    tuned CF neighbourhood) and the validation ``grid`` (``{}``: no tuning).

    ``uses`` (a callable ``model`` only): the names of the earlier specs it is built from. The callable
    then receives only their parameters, runs right after them in the same task, and their fitted
    models are reused (:func:`~retention_utils.recommend.models.shared_fits`): the hybrid does not
    fit user-kNN and content again. Empty: the callable receives every earlier spec's parameters and
    runs once they are all done."""

    name: str
    model: Recommender | Callable[[dict[str, dict[str, Any]]], Recommender]
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    uses: tuple[str, ...] = ()


@dataclass
class ProtocolRun:
    """Output of :func:`run_protocol`.

    Attributes
    ----------
    tuning : ``{model name: TuneResult}`` on the validation split
    evaluations : ``{target name: {model name: {k: per-household frame}}}`` on the test split; target
        ``"test"`` is the protocol's own truth, the others the extra truths passed in
    data : Interactions of the test split's training rows (for further scoring, e.g. cold start)
    seconds : ``{model name: seconds}`` to refit the model on the test training rows and rank the
        test households (wall clock, this machine: for display only, never compared)
    """

    tuning: dict[str, TuneResult]
    evaluations: dict[str, dict[str, dict[int, pd.DataFrame]]]
    data: Interactions
    seconds: dict[str, float] = field(default_factory=dict)

    def best_params(self) -> pd.DataFrame:
        """Chosen parameters: one row per model, columns ``model``, ``parameters`` (str) and the
        validation metric of the chosen point."""
        rows = []
        for name, res in self.tuning.items():
            best = res.table.iloc[int(np.argmax(res.table[res.metric].to_numpy()))]
            params = ", ".join(f"{k}={v}" for k, v in res.best_params.items()) or "(none tuned)"
            rows.append(
                {"model": name, "parameters": params, f"validation {res.metric}": float(best[res.metric])}
            )
        return pd.DataFrame(rows)


def default_specs(
    products: pd.DataFrame | None,
    *,
    min_support: int = 20,
    seed: int = 0,
    num_threads: int = 2,
) -> list[ModelSpec]:
    """The comparison of notebook 07: every model with a small validation grid.

    ``min_support`` is the item space of the user-kNN, item-kNN, content, hybrid, EASE and ALS models
    (products bought by at least that many training households); the popularity family and TIFU-KNN
    score every training product. Grids (chosen to keep a run within minutes on two cores; wider grids
    on The Complete Journey moved validation NDCG@10 by less than 0.003):

    ==============  ===================================================================
    user-kNN        n_neighbors in {100, 400}
    item-kNN        similarity in {cosine, bm25}, K = 20
    hybrid          alpha in {0.3, 0.5, 0.7}, CF = user-kNN with its tuned n_neighbors
    EASE            l2 in {200, 1000}
    ALS             factors in {32, 128}; regularization 0.05, alpha 1, 10 iterations
    TIFU-KNN        alpha in {0.2, 0.5, 0.8} x n_neighbors in {100, 900}; 3 groups, decays 0.9 / 0.6
    TAIW-style      pi in {0, 0.25} x decay_scale in {4, 8} x basket_decay in {1, 0.98} x
                    gamma in {0, 0.5} x clock in {cutoff, household}; shrinkage 10
    ==============  ===================================================================

    G-, P-, GP-TopFreq and content TF-IDF have no parameter to tune. ``products`` ``None`` leaves
    out the content and hybrid models.
    """
    sup = int(min_support)
    specs = [
        ModelSpec("G-TopFreq", GTopFreq()),
        ModelSpec("P-TopFreq", PTopFreq()),
        ModelSpec("GP-TopFreq", GPTopFreq()),
        ModelSpec("user-kNN", UserKNN(min_support=sup), {"n_neighbors": [100, 400]}),
        ModelSpec(
            "item-kNN",
            ItemKNN(K=20, min_support=sup, num_threads=num_threads),
            {"similarity": ["cosine", "bm25"]},
        ),
    ]
    if products is not None:

        def hybrid(best: dict[str, dict[str, Any]]) -> Recommender:
            cf = UserKNN(min_support=sup, **best.get("user-kNN", {}))
            return Hybrid(cf, ContentTFIDF(products, min_support=sup))

        specs += [
            ModelSpec("content TF-IDF", ContentTFIDF(products, min_support=sup)),
            ModelSpec("hybrid CF + content", hybrid, {"alpha": [0.3, 0.5, 0.7]}, uses=("user-kNN", "content TF-IDF")),
        ]
    specs += [
        ModelSpec("EASE", EASE(min_support=sup), {"l2": [200.0, 1000.0]}),
        ModelSpec(
            "ALS",
            ALS(min_support=sup, random_state=int(seed), iterations=10, num_threads=num_threads),
            {"factors": [32, 128]},
        ),
        ModelSpec("TIFU-KNN", TIFUKNN(), {"alpha": [0.2, 0.5, 0.8], "n_neighbors": [100, 900]}),
        ModelSpec("TAIW-style", RepurchaseTimeKernel(), TIME_KERNEL_GRID),
    ]
    return specs


#: validation grid of :class:`~retention_utils.recommend.temporal.RepurchaseTimeKernel` in
#: :func:`default_specs` (every parameter is a scoring-time one: one fit per protocol)
TIME_KERNEL_GRID: dict[str, list[Any]] = {
    "pi": [0.0, 0.25],
    "decay_scale": [4.0, 8.0],
    "basket_decay": [1.0, 0.98],
    "gamma": [0.0, 0.5],
    "clock": ["cutoff", "household"],
}


def run_protocol(
    protocol: Any,
    specs: Sequence[ModelSpec],
    *,
    ks: Sequence[int] = (5, 10, 20),
    tune_k: int = 10,
    metric: str = "ndcg",
    extra_truths: Mapping[str, pd.DataFrame] | None = None,
    tune_households: int | None = None,
    seed: int = 0,
) -> ProtocolRun:
    """Tune every model on ``protocol.validation``, refit it with the chosen parameters on
    ``protocol.test.train`` and score the test truth once (plus any ``extra_truths`` sharing the
    test training rows, e.g. the 14-day window of the same cutoff). ``tune_households`` / ``seed``:
    every model is tuned on the same sample of validation households (:func:`tuning_households`);
    the test split is always scored on every household.

    ``protocol`` is a :class:`retention_utils.recommend.split.Protocol`. Models are built, tuned and
    evaluated in the order of ``specs``; only one fitted model is held in memory at a time. The
    repeat / explore history is the test training rows (only the pairs that occur in a truth or a
    recommendation list are passed on, which gives the same metrics faster). Returns
    :class:`ProtocolRun`.
    """
    groups = _groups(specs)
    prep = _prepare(protocol, extra_truths)
    settings = _Settings(ks, tune_k, metric, tune_households, seed)
    done: dict[str, _SpecResult] = {}
    memos: dict[str, dict[Any, Any]] = {}  # one per group: its members' fits
    for spec in specs:
        group = next((g for g in groups if spec.name in g), None)
        if group is None:
            done[spec.name] = _run_spec(prep, spec, _template(spec, done), settings)
            continue
        with shared_fits(memos.setdefault(group[-1], {})):
            done[spec.name] = _run_spec(prep, spec, _template(spec, done), settings)
        if spec.name == group[-1]:
            del memos[group[-1]]
    return _assemble(prep, specs, done)


def _groups(specs: Sequence[ModelSpec]) -> list[tuple[str, ...]]:
    """The specs that run together: each spec with ``uses``, after the specs it uses (as names, in
    ``specs`` order, the user last). Raises ``ValueError`` for ``uses`` on a plain model, a name that
    is not an earlier spec, a spec used twice, or a used spec that is itself a callable."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"spec names must be unique, got {names}")
    taken: set[str] = set()
    out = []
    for i, spec in enumerate(specs):
        if not spec.uses:
            continue
        if not isinstance(spec.uses, (tuple, list)) or not all(isinstance(n, str) for n in spec.uses):
            raise ValueError(f"spec {spec.name!r}: uses must be a tuple of spec names, got {spec.uses!r}")
        if len(set(spec.uses)) != len(spec.uses):
            raise ValueError(f"spec {spec.name!r}: uses names a spec twice: {spec.uses!r}")
        if isinstance(spec.model, Recommender):
            raise ValueError(f"spec {spec.name!r}: 'uses' is for a model built by a callable, not a fixed model")
        for n in spec.uses:
            if n not in names[:i]:
                raise ValueError(f"spec {spec.name!r} uses {n!r}, which is not a spec before it ({names[:i]})")
            if n in taken or any(n == s.name for s in specs if s.uses):
                raise ValueError(f"spec {n!r} is used by two specs, or uses others itself; a spec can be in one group")
            if not isinstance(specs[names.index(n)].model, Recommender):
                raise ValueError(f"spec {spec.name!r} uses {n!r}, which is built by a callable itself")
            taken.add(n)
        out.append((*sorted(spec.uses, key=names.index), spec.name))
    return out


@dataclass
class _Prepared:
    """What every model of one protocol shares: both splits' Interactions and truths."""

    val_data: Interactions
    val_truth: pd.DataFrame
    data: Interactions
    truths: dict[str, pd.DataFrame]
    users: pd.Index


@dataclass
class _Settings:
    ks: Sequence[int]
    tune_k: int
    metric: str
    tune_households: int | None
    seed: int


@dataclass
class _SpecResult:
    tuning: TuneResult
    evaluations: dict[str, dict[int, pd.DataFrame]]
    seconds: float


def _prepare(protocol: Any, extra_truths: Mapping[str, pd.DataFrame] | None) -> _Prepared:
    truths = {"test": protocol.test.truth, **dict(extra_truths or {})}
    users = pd.Index(pd.unique(pd.concat([t[USER] for t in truths.values()]))).sort_values()
    return _Prepared(
        protocol.validation.interactions(), protocol.validation.truth, protocol.test.interactions(), truths, users
    )


def _template(spec: ModelSpec, done: Mapping[str, _SpecResult]) -> Recommender:
    """The unfitted model of ``spec``; a callable spec gets the best parameters of the specs it
    ``uses`` or, without ``uses``, of the specs before it (``done``)."""
    if isinstance(spec.model, Recommender):
        return spec.model
    names = spec.uses or tuple(done)
    try:
        return spec.model({n: done[n].tuning.best_params for n in names})
    except KeyError as err:
        if not spec.uses:
            raise
        raise KeyError(f"spec {spec.name!r}: its model builder asked for {err}, which is not in its uses "
                       f"{tuple(spec.uses)}; add it there") from err


def _run_spec(prep: _Prepared, spec: ModelSpec, template: Recommender, settings: _Settings) -> _SpecResult:
    """Tune one model on the validation split, refit it on the test training rows, score every truth."""
    ks = sorted({int(k) for k in settings.ks})
    res = tune(
        template,
        spec.grid,
        prep.val_data,
        prep.val_truth,
        k=settings.tune_k,
        metric=settings.metric,
        households=settings.tune_households,
        seed=settings.seed,
    )
    start = time.perf_counter()
    fitted = fit_shared(clone(template).set_params(**res.best_params), prep.data)
    recs = fitted.recommend(prep.users, max(ks))  # once for the households of every truth
    seconds = time.perf_counter() - start
    del fitted
    evaluations = {}
    for name, truth in prep.truths.items():
        r = recs[recs[USER].isin(truth[USER].unique())]
        evaluations[name] = _metrics_at(r, truth, _relevant_history(prep.data, truth, r), ks)
    return _SpecResult(res, evaluations, seconds)


def _assemble(prep: _Prepared, specs: Sequence[ModelSpec], done: Mapping[str, _SpecResult]) -> ProtocolRun:
    """The :class:`ProtocolRun` of one protocol, every dict in the order of ``specs``."""
    names = [s.name for s in specs]
    evaluations = {t: {n: done[n].evaluations[t] for n in names} for t in prep.truths}
    return ProtocolRun(
        {n: done[n].tuning for n in names}, evaluations, prep.data, {n: done[n].seconds for n in names}
    )


def _started() -> int:
    return os.getpid()


def start_workers(n_jobs: int) -> threading.Thread | None:
    """Start the worker processes of :func:`run_protocols` now, in a background thread, so that they
    start Python and import this package while the caller loads its data (about 1.5 s on two cores).

    ``joblib`` keeps its loky workers for the next parallel call (they stop after 300 s idle), so a
    :func:`run_protocols` with the same ``n_jobs`` that follows finds them started; results never depend
    on it. ``n_jobs <= 1`` starts nothing. Returns the thread (``None`` if nothing was started); a
    failure in it is ignored (:func:`run_protocols` then starts the workers itself)."""
    if int(n_jobs) <= 1:
        return None

    def warm() -> None:
        from joblib import Parallel, delayed

        try:
            Parallel(n_jobs=int(n_jobs), backend="loky")(delayed(_started)() for _ in range(int(n_jobs)))
        except Exception:  # noqa: BLE001, S110 - only a head start: run_protocols starts them anyway
            pass

    thread = threading.Thread(target=warm, name="start-protocol-workers", daemon=True)
    thread.start()
    return thread


#: worker-process cache of the prepared protocols, keyed by the file they were written to
_PREPARED: dict[str, dict[str, _Prepared]] = {}


def _run_task(
    path: str, name: str, members: list[tuple[ModelSpec, Recommender | None]], settings: _Settings
) -> list[_SpecResult]:
    """One task in a worker: one model of one protocol, or a group (the specs a spec ``uses``, then
    it, sharing their fits; its template ``None``, built here). The prepared protocols are read from
    ``path`` once per process (instead of being sent with every task), then one thread per library."""
    if path not in _PREPARED:
        _PREPARED.clear()
        with open(path, "rb") as fh:
            _PREPARED[path] = pickle.load(fh)
    done: dict[str, _SpecResult] = {}
    with thread_limits(1), shared_fits() if len(members) > 1 else nullcontext():
        for spec, template in members:
            done[spec.name] = _run_spec(_PREPARED[path][name], spec, template or _template(spec, done), settings)
    return list(done.values())


def run_protocols(
    protocols: Mapping[str, Any],
    specs: Sequence[ModelSpec],
    *,
    n_jobs: int = 1,
    extra_truths: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
    ks: Sequence[int] = (5, 10, 20),
    tune_k: int = 10,
    metric: str = "ndcg",
    tune_households: int | None = None,
    seed: int = 0,
) -> dict[str, ProtocolRun]:
    """:func:`run_protocol` for several protocols (``{name: Protocol}``), in ``n_jobs`` worker processes.

    With ``n_jobs > 1`` the unit of work is one model of one protocol (tune, refit, score): the
    protocols' training rows are turned into :class:`~retention_utils.recommend.models.Interactions`
    once, in this process, written to a temporary file that each worker reads once, and every
    (protocol, model) pair is a task for a pool of ``n_jobs`` processes (``joblib``'s loky backend,
    BLAS and OpenMP limited to one thread each). Tasks start in reverse ``specs`` order, protocols interleaved (:func:`default_specs` lists the slow models
    last, so they start first and the short ones fill the gaps). A spec whose model is a callable
    runs after every spec before it in that protocol is done, with their best parameters, exactly as
    in :func:`run_protocol`; one with ``uses`` (the hybrid, built from the tuned user-kNN and content
    models) runs in one task with the specs it uses, right after them, reusing their fits. Each task's computation
    is the one :func:`run_protocol` does for that model, so the results do not depend on ``n_jobs``
    beyond the BLAS thread count. ``extra_truths``: ``{protocol name: extra truths}``; ``ks`` ..
    ``seed``: as in :func:`run_protocol`. Returns ``{name: ProtocolRun}`` in the order of
    ``protocols``. Raises ``ValueError`` for ``n_jobs < 1`` or two specs with the same name.
    """
    if int(n_jobs) < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"spec names must be unique, got {names}")
    settings = _Settings(ks, tune_k, metric, tune_households, seed)
    if int(n_jobs) == 1:
        return {
            n: run_protocol(
                p, specs, ks=ks, tune_k=tune_k, metric=metric, extra_truths=(extra_truths or {}).get(n),
                tune_households=tune_households, seed=seed,
            )
            for n, p in protocols.items()
        }
    from joblib import Parallel, delayed

    groups = _groups(specs)
    grouped = {n for g in groups for n in g}
    by_name = {s.name: s for s in specs}
    done: dict[str, dict[str, _SpecResult]] = {n: {} for n in protocols}
    # rounds: the plain specs and the groups first (a group is one task, at its user's place), then
    # each callable spec without ``uses`` once the specs before it are done
    units: list[tuple[ModelSpec, ...]] = []
    for s in specs:
        if s.name in grouped:
            g = next(g for g in groups if s.name in g)
            if s.name == g[-1]:
                units.append(tuple(by_name[m] for m in g))
        elif isinstance(s.model, Recommender):
            units.append((s,))
    rounds: list[list[tuple[ModelSpec, ...]]] = [units]
    rounds += [[(s,)] for s in specs if not isinstance(s.model, Recommender) and s.name not in grouped]
    with (
        tempfile.TemporaryDirectory(prefix="retention-protocols-") as tmp,
        Parallel(
            n_jobs=int(n_jobs), backend="loky", batch_size=1, pre_dispatch="all", return_as="generator"
        ) as pool,
    ):
        # the workers start (and import this package) while the protocols are prepared here
        started = pool(delayed(_started)() for _ in range(int(n_jobs)))
        preps = {n: _prepare(p, (extra_truths or {}).get(n)) for n, p in protocols.items()}
        path = os.path.join(tmp, "prepared.pkl")
        with open(path, "wb") as fh:
            pickle.dump(preps, fh, protocol=pickle.HIGHEST_PROTOCOL)
        list(started)
        for todo in rounds:
            tasks = [(n, unit) for unit in reversed(todo) for n in protocols]
            # a callable spec without ``uses`` sees the specs before it only (round 1 also did later
            # plain specs); one with ``uses`` is built in its group's task
            members = {
                (n, unit[-1].name): [
                    (s, None if s.uses else _template(
                        s, {m: done[n][m] for m in names[: names.index(s.name)] if m in done[n]}))
                    for s in unit
                ]
                for n, unit in tasks
            }
            results = pool(delayed(_run_task)(path, n, members[n, unit[-1].name], settings) for n, unit in tasks)
            for (n, unit), rs in zip(tasks, results, strict=True):
                for s, r in zip(unit, rs, strict=True):
                    done[n][s.name] = r
    return {n: _assemble(preps[n], specs, done[n]) for n in protocols}


def compare_to_baseline(
    evaluations: Mapping[str, Mapping[int, pd.DataFrame]],
    baseline: str,
    *,
    k: int = 10,
    metric: str = "ndcg",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Every model against one baseline at one ``k``, paired over households.

    Returns a DataFrame indexed by model name (in the order of ``evaluations``) with columns
    ``value`` (the model's mean metric), ``baseline`` (the baseline's), ``difference`` and its
    bootstrap interval ``low`` / ``high`` (:func:`paired_difference`), ``ratio`` (value / baseline)
    with its paired bootstrap interval ``ratio_low`` / ``ratio_high`` (:func:`paired_ratio`, same
    resamples) and ``verdict``: ``"better"`` if ``low > 0``, ``"worse"`` if ``high < 0``, else
    ``"no clear difference"``; the baseline's own row reads ``"baseline"``. Raises ``KeyError`` if
    the baseline or ``k`` is missing, naming what was evaluated.
    """
    if baseline not in evaluations:
        raise KeyError(f"baseline {baseline!r} is not among the evaluated models {list(evaluations)}")
    missing = [name for name, by_k in evaluations.items() if k not in by_k]
    if missing:
        raise KeyError(f"k={k} was not evaluated for {missing}; evaluate with ks that include {k}")
    base = evaluations[baseline][k]
    rows = []
    for name, by_k in evaluations.items():
        pu = by_k[k]
        ci = paired_difference(pu, base, metric, n_boot=n_boot, seed=seed, alpha=alpha)
        rci = paired_ratio(pu, base, metric, n_boot=n_boot, seed=seed, alpha=alpha)
        value, ref = float(pu[metric].mean()), float(base[metric].mean())
        verdict = (
            "baseline"
            if name == baseline
            else "better"
            if ci.low > 0
            else "worse"
            if ci.high < 0
            else "no clear difference"
        )
        rows.append(
            {
                "model": name,
                "value": value,
                "baseline": ref,
                "difference": ci.estimate,
                "low": ci.low,
                "high": ci.high,
                "ratio": value / ref if ref > 0 else float("nan"),
                "ratio_low": rci.low,
                "ratio_high": rci.high,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows).set_index("model")


def format_results(table: pd.DataFrame, digits: int = 3, coarse: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Display form of :func:`results_table`: index (model, k); each CI metric as
    ``"0.196 [0.186, 0.207]"``, other metrics rounded to ``digits`` (show them with
    ``retention_utils.formatting.table(..., decimals=digits, row_decimals=coarse)`` so no display format
    adds digits); column names ``NDCG``, ``recall``, ``precision``, ``hit rate``, ``repeat recall``,
    ``explore recall``, ``repeat share``, ``households``. ``coarse`` maps a model to fewer decimals: a
    model whose lists depend on the machine's floating point (ALS: factors 1e-11 apart between BLAS
    kernels flip a few near-tied products) is shown at the precision its results keep across machines."""
    names = {
        "ndcg": "NDCG",
        "recall": "recall",
        "precision": "precision",
        "hit": "hit rate",
        "repeat_recall": "repeat recall",
        "explore_recall": "explore recall",
        "repeat_share": "repeat share",
    }
    coarse = dict(coarse or {})
    dec = [coarse.get(m, digits) for m in table["model"]]
    out = pd.DataFrame(index=pd.MultiIndex.from_frame(table[["model", "k"]]))
    for col, label in names.items():
        if col not in table:
            continue
        v = table[col].to_numpy()
        if f"{col}_low" in table:
            lo, hi = table[f"{col}_low"].to_numpy(), table[f"{col}_high"].to_numpy()
            out[label] = [
                f"{a:.{d}f} [{b:.{d}f}, {c:.{d}f}]" for a, b, c, d in zip(v, lo, hi, dec, strict=True)
            ]
        else:
            out[label] = [round(float(a), d) for a, d in zip(v, dec, strict=True)]
    out["households"] = table["n_households"].to_numpy()
    return out


def verdict_text(versus: pd.DataFrame, label: str, baseline: str = "P-TopFreq", metric: str = "NDCG@10") -> str:
    """One paragraph reading a :func:`compare_to_baseline` table: the baseline's value, the models that
    beat it with an interval clear of zero (value, difference, interval, ratio), the indistinguishable
    ones and how many are worse. ``label`` names the protocol in the text."""
    better = versus[versus["verdict"] == "better"].sort_values("difference", ascending=False)
    same = versus[versus["verdict"] == "no clear difference"]
    base = versus.loc[baseline, "value"]
    if len(better):
        parts = [f"{m} ({metric} {r.value:.3f}, {r.difference:+.3f} [{r.low:+.3f}, {r.high:+.3f}], {r.ratio:.2f}× buy-again)"
                 for m, r in better.iterrows()]
        text = f"Under the {label} protocol, buy-again reaches {metric} {base:.3f} and is beaten by " + "; ".join(parts) + "."
    else:
        text = f"Under the {label} protocol nothing beats buy-again ({metric} {base:.3f}) with an interval clear of zero."
    if len(same):
        text += " Indistinguishable from it: " + ", ".join(same.index) + "."
    worse = versus[versus["verdict"] == "worse"]
    return text + f" {len(worse)} of {len(versus) - 1} models are worse."
