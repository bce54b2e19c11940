"""What the package's models say about each customer at an as-of date: the signals the scenario
rules read (:data:`retention_utils.decisions.scenarios.SIGNAL_COLUMNS`).

Every function here takes the transactions **known at the as-of date** (:func:`known_at`: orders on
or before the as-of day ``A``; order-level models read :func:`order_table`, one row per order) and re-fits the models of notebooks 02, 04, 05 and 06 with their
hyper-parameters fixed to what those notebooks choose by default (no grid is re-run; the values are
parameters of notebook 08 and of these functions). Nothing after ``A`` is read, so changing, adding or
deleting later transactions moves no signal (tested).

* repurchase risk (04, :mod:`retention_utils.models.prediction`): the deployed pipeline of notebook
  04 moved to ``A``: cutoffs ``step_days`` apart whose ``horizon_days`` label window closes by ``A``;
  the model (default gradient boosting, learning rate 0.05, 15 leaf nodes: 04's choice) is trained on
  every cutoff whose window closed by the last one, calibrated (default sigmoid: 04's choice) at the
  last, and scores the customers on ``A + 1`` (risk now) and on ``A + 1 - horizon_days`` (risk
  earlier), so the two risks come from one model;
* next-purchase hazard (05/06, :func:`retention_utils.models.survival.next_purchase_table`): a Cox
  model of the time to the next purchase fitted on the state at ``A - horizon_days`` with follow-up to
  ``A``; ``hazard_ratio`` = partial hazard at ``A`` / partial hazard at ``A - horizon_days`` (below 1:
  the next purchase is expected later than before);
* P(alive) and value (06, :mod:`retention_utils.models.clv`): BG/NBD and Gamma-Gamma fitted on the
  summary at ``A`` (days); ``p_alive_earlier`` with the same parameters on the summary at
  ``A - horizon_days``; ``value_if_retained`` = Gamma-Gamma expected spend per purchase day x BG/NBD
  expected purchase days in the next ``horizon_days`` given alive (the ``clv_if_alive`` of 06 over the
  horizon, undiscounted): ``E[Y(t) | x, t*, T] / P(alive | x, t*, T)`` with ``t* = T`` for repeat
  buyers and 0 for one-time buyers (see :func:`retention_utils.models.clv.customer_value_table`);
* churn threshold ``tau`` (05, :func:`retention_utils.models.survival.churn_threshold`) and RFM
  segments (02, :mod:`retention_utils.models.segments`), both at ``A``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..models import clv, segments
from ..models import prediction as P
from ..models import survival as sv
from ..schema import DAY, DateLike
from ..tables import covariates as CV
from ..tables import cutoffs as CT
from ..tables import durations as DU
from ..tables.summary import canonical_order, customer_summary
from .scenarios import PlaybookError


def known_at(tx: pd.DataFrame, as_of: DateLike) -> pd.DataFrame:
    """The rows of canonical transactions (or orders) ``tx`` known at the as-of day: ``order_ts``
    before ``as_of + 1 day``. Raises :class:`PlaybookError` when no row is left."""
    a = S.to_day(as_of, "as_of")
    keep = tx[S.ORDER_TS] < a + DAY
    if not keep.any():
        raise PlaybookError(f"as_of {a.date()} is before the first transaction "
                            f"({tx[S.ORDER_TS].min().date()}); choose a later AS_OF")
    return tx[keep]


def order_table(tx: pd.DataFrame, assume_canonical: bool = False) -> pd.DataFrame:
    """One row per order (``customer_id``, ``order_id``, ``order_ts``, ``revenue`` = the sum of its lines
    in canonical order), sorted by customer, time, order: what every order-level model reads (customer
    summaries, BTYD, churn threshold, next-purchase tables), about ten times fewer rows than the lines.
    ``assume_canonical=True`` skips sorting the lines (they already are in canonical order)."""
    t = tx[[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.PRODUCT_ID, S.REVENUE]]
    t = t if assume_canonical else canonical_order(t)
    g = t.groupby(S.ORDER_ID, sort=False)
    out = pd.DataFrame({S.CUSTOMER_ID: g[S.CUSTOMER_ID].first(), S.ORDER_TS: g[S.ORDER_TS].first(),
                        S.REVENUE: g[S.REVENUE].sum()}).reset_index()
    out = out.sort_values([S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID], kind="stable").reset_index(drop=True)
    return out[[S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.REVENUE]]


@dataclass
class Prepared:
    """A dataset prepared once for playbooks at several as-of dates: the line table ``tx`` in canonical
    order (:func:`retention_utils.tables.summary.canonical_order`, so sums over it never depend on the
    input's row order; with a ``department`` column when the products have one), the ``orders`` (:func:`order_table`), notebook
    04's :class:`retention_utils.models.prediction.CustomerHistory` over all the data (its features at a
    cutoff read only orders before it, and the playbook asks only for labels whose window closes by the
    as-of day), and the dataset's products, customers and observation start."""

    tx: pd.DataFrame
    orders: pd.DataFrame
    history: CT.CustomerHistory
    products: pd.DataFrame | None
    customers: pd.DataFrame | None
    observation_start: pd.Timestamp
    horizon_days: int

    def lines_at(self, as_of: DateLike) -> pd.DataFrame:
        return known_at(self.tx, as_of)

    def orders_at(self, as_of: DateLike) -> pd.DataFrame:
        return known_at(self.orders, as_of)


def prepare(ds: Any, observation_start: DateLike, horizon_days: int) -> Prepared:
    """:class:`Prepared` from a cleaned :class:`retention_utils.data.datasets.Dataset`; the repurchase
    features' trend window is ``horizon_days`` (as in notebook 04)."""
    observation_start = S.to_day(observation_start, "observation_start")  # dates first: one rule, refused early
    tx = canonical_order(ds.transactions)
    if ds.products is not None and S.DEPARTMENT in ds.products:
        dept = tx[S.PRODUCT_ID].map(ds.products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT])
        tx = tx.assign(**{S.DEPARTMENT: dept.fillna("(unknown product)").to_numpy()})
    camp = None
    if "campaigns" in ds.tables and "campaign_descriptions" in ds.tables:
        camp = CV.campaign_exposure(ds.tables["campaigns"], ds.tables["campaign_descriptions"])
    history = CT.CustomerHistory(tx, ds.products, ds.customers, camp, trend_window_days=int(horizon_days))
    return Prepared(tx, order_table(tx, assume_canonical=True), history, ds.products, ds.customers, S.to_day(observation_start, "observation_start"),
                    int(horizon_days))


@dataclass(frozen=True)
class RepurchaseSettings:
    """Fixed choices of notebook 04 (its defaults on The Complete Journey): model, parameters,
    calibration, and the rolling-origin plan (``step_days`` between cutoffs, ``min_history_days``
    before the first)."""

    model: str = "gradient boosting"
    params: dict[str, Any] = field(default_factory=lambda: {"learning_rate": 0.05, "max_leaf_nodes": 15})
    calibration: str = "sigmoid"
    step_days: int = 30
    min_history_days: int = 90


@dataclass
class RepurchaseRisk:
    """Result of :func:`repurchase_risk`: ``risk`` and ``risk_earlier`` (Series over the customers
    known at ``A`` and at ``A - horizon``; 1 - calibrated P(order in the horizon)), the fitted model
    (:class:`retention_utils.models.prediction.FittedModel`), the feature rows it scored
    (``features`` at ``A + 1``, ``features_earlier``), the training cutoffs and rows."""

    risk: pd.Series
    risk_earlier: pd.Series
    model: P.FittedModel
    features: pd.DataFrame
    features_earlier: pd.DataFrame
    train_cutoffs: tuple[pd.Timestamp, ...]
    n_train_rows: int


def repurchase_risk(prep: Prepared, as_of: DateLike, settings: RepurchaseSettings | None = None,
                    seed: int = 0) -> RepurchaseRisk:
    """Notebook 04's deployed repurchase model at ``as_of`` with fixed hyper-parameters (module
    docstring), horizon ``prep.horizon_days``. Only cutoffs whose label window closes by ``as_of`` are
    used, and features at a cutoff read orders before it, so nothing after ``as_of`` enters.

    Raises :class:`PlaybookError` when fewer than two cutoffs fit between ``observation_start +
    min_history_days`` and ``as_of`` (one to train, one to calibrate): move AS_OF later or shorten
    HORIZON_DAYS.
    """
    st = settings or RepurchaseSettings()
    a = S.to_day(as_of, "as_of")
    h = prep.horizon_days
    try:
        cutoffs = CT.plan_cutoffs(prep.observation_start, a, h, st.step_days, st.min_history_days)
        splits = CT.time_splits(cutoffs, h, n_folds=1)
    except ValueError as err:
        raise PlaybookError(f"repurchase model at as_of {a.date()}: {err}; move AS_OF later or shorten HORIZON_DAYS") from err
    history = prep.history
    assert splits.scoring_date == a + DAY and max(splits.cutoffs) + pd.Timedelta(days=h) <= a + DAY
    panel = history.panel(splits.cutoffs, h)
    features = CT.model_feature_columns(panel, [c for c in splits.cutoffs if c != splits.test])
    estimator = dict(P.model_candidates(seed=seed, n_jobs=1))[st.model][0]
    tuned = P.Tuned(st.model, estimator, features, pd.DataFrame(), dict(st.params), {}, None)
    fitted = P.deploy(tuned, st.calibration, panel, splits)
    now = history.features(a + DAY)
    before = history.features(a + DAY - pd.Timedelta(days=h))
    risk = 1.0 - fitted.predict_proba(now)
    risk_earlier = 1.0 - fitted.predict_proba(before)
    train = splits.train_for(splits.test)
    return RepurchaseRisk(risk.rename("risk"), risk_earlier.rename("risk_earlier"), fitted, now, before, train,
                          len(panel.rows(list(train))))


def hazard_ratio(tx_known: pd.DataFrame, as_of: DateLike, horizon_days: int) -> tuple[pd.Series, Any]:
    """``(ratio, cox)``: next-purchase partial hazard at ``as_of`` over the same at ``as_of -
    horizon_days`` per customer known at the earlier date (float Series ``hazard_ratio``), and the
    lifelines Cox model (fitted on the earlier state with follow-up to ``as_of``; covariates
    :data:`retention_utils.models.survival.NEXT_PURCHASE_COVARIATES`)."""
    a = S.to_day(as_of, "as_of")
    earlier = a - pd.Timedelta(days=int(horizon_days))
    train = DU.next_purchase_table(tx_known, earlier, a)
    cox = sv.fit_cox(train, list(sv.NEXT_PURCHASE_COVARIATES), event_col=DU.PURCHASED)
    now = sv.next_purchase_score(cox, DU.next_purchase_table(tx_known, a))
    before = sv.next_purchase_score(cox, DU.next_purchase_table(tx_known, earlier))
    ratio = (now.reindex(before.index) / before).rename("hazard_ratio")
    return ratio, cox


@dataclass
class Values:
    """Result of :func:`btyd_values`: ``table`` indexed by ``customer_id`` with ``p_alive``,
    ``p_alive_earlier`` (NaN for customers first seen after the earlier date), ``expected_spend``,
    ``expected_purchases_if_alive`` and ``value_if_retained`` (currency over the horizon); the fitted
    ``transaction_model`` and ``spend_model``; the ``summary`` at ``A`` (segmentation + BTYD columns)."""

    table: pd.DataFrame
    transaction_model: Any
    spend_model: Any
    summary: pd.DataFrame


def btyd_values(tx_known: pd.DataFrame, as_of: DateLike, horizon_days: int, model: str = "BG/NBD") -> Values:
    """P(alive), its earlier value and the value if retained over the horizon (module docstring)."""
    a = S.to_day(as_of, "as_of")
    h = float(horizon_days)
    summary = customer_summary(tx_known, a, "days")
    fitted = clv.fit_models(summary, [model, clv.SPEND_MODEL])
    tm, gg = fitted[model], fitted[clv.SPEND_MODEL]
    f, r, T, m = summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"]
    r_star = T.where(f > 0, 0.0)
    alive_star = np.asarray(tm.probability_alive(f, r_star, T), dtype="float64")
    if (alive_star <= 0).any():
        raise PlaybookError(f"P(alive) given a purchase at T underflows to 0 for {list(summary.index[alive_star <= 0][:5])}")
    if_alive = np.asarray(tm.expected_purchases(h, f, r_star, T), dtype="float64") / alive_star
    spend = np.asarray(gg.expected_spend(f, m), dtype="float64")
    earlier_day = a - pd.Timedelta(days=int(horizon_days))
    before = tx_known[tx_known[S.ORDER_TS] < earlier_day + DAY]
    p_before = pd.Series(np.nan, index=summary.index)
    if len(before):
        sb = customer_summary(before, earlier_day, "days")
        p_before.loc[sb.index] = np.asarray(tm.probability_alive(sb["frequency"], sb["recency"], sb["T"]), dtype="float64")
    table = pd.DataFrame({
        "p_alive": np.asarray(tm.probability_alive(f, r, T), dtype="float64"),
        "p_alive_earlier": p_before.to_numpy(),
        "expected_spend": spend,
        "expected_purchases_if_alive": if_alive,
        "value_if_retained": spend * if_alive,
    }, index=summary.index)
    return Values(table, tm, gg, summary)


def rfm_segments(summary: pd.DataFrame) -> pd.Series:
    """Notebook 02's RFM segment of each customer (:func:`retention_utils.models.segments.rfm_segment`)
    from a segmentation summary at the as-of date."""
    return segments.rfm_segment(segments.rfm_scores(summary))


def churn_tau(tx_known: pd.DataFrame, percentile: float = 0.9, basis: str = "customer_max") -> int:
    """Notebook 05's churn threshold tau (days) from the gaps known at the as-of date."""
    return DU.churn_threshold(tx_known, percentile, basis).tau_days
