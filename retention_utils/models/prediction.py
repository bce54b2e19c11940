"""Repurchase prediction: who buys again in the next horizon, validated forward in time.

Set-up (one cutoff)
-------------------
A cutoff ``t0`` is a calendar day at 00:00; the horizon is ``H`` whole days. At ``t0``:

* **population**: customers with at least one order strictly before ``t0``;
* **label** (int 0/1): 1 if the customer places at least one order in ``[t0, t0 + H)``, else 0;
* **excluded**: customers whose first order falls in ``[t0, t0 + H)`` have no history to score them
  on; they are left out and counted (``n_new_in_horizon``), as in
  :func:`retention_utils.tables.summary.calibration_holdout_split`, whose holdout flag
  ``frequency_holdout > 0`` is exactly this label (tested);
* **features**: computed from transactions strictly before ``t0`` only (a tested property: changing,
  deleting or adding any transaction at or after ``t0`` leaves every feature unchanged). See
  :meth:`CustomerHistory.features` for the columns.

Several cutoffs (rolling origin)
--------------------------------
:func:`plan_cutoffs` spaces cutoffs ``step`` days apart, the last one being the latest whose horizon is
fully observed. :func:`time_splits` turns them into a time-based cross-validation: a fold validates on
cutoff ``c`` and trains on every cutoff ``c'`` with ``c' + H <= c``, so no training label is observed
after the validation cutoff. The last cutoff is the test cutoff; the last fold's validation cutoff
``c_val`` satisfies ``c_val + H <= c_test``. The evaluated pipeline is therefore

    train on cutoffs with c + H <= c_val  ->  tune / calibrate / pick thresholds at c_val  ->  test at c_test,

and the deployed pipeline (:func:`deploy`) is the same pipeline shifted forward: train on cutoffs with
``c + H <= c_test``, calibrate at ``c_test``, score at ``c_test + H`` (the scoring date, the day after
the data end). With cutoffs ``H`` days apart the two pipelines have the same shape, so the test scores
estimate how the deployed one does. Rows are never split at random within a period.

Models and baselines
--------------------
Baselines (:class:`Scored` results): a recency rule (bought within the last ``d`` days, ``d`` tuned at
the validation cutoff), an isotonic recency curve, the customer's own Poisson purchase rate, and the
BG/NBD probability of a purchase in the horizon (:mod:`retention_utils.models.btyd`). Models
(:func:`model_candidates`): regularised logistic regression, random forest and histogram gradient
boosting from scikit-learn, tuned by :func:`tune_time_cv` on the time-based folds.

Evaluation (holdout only): :func:`evaluate` (ROC-AUC, PR-AUC, Brier, log loss, F1/recall/precision at a
threshold chosen at the validation cutoff), :func:`lift_table` (lift and cumulative gains by decile,
ties split exactly), :func:`calibration_table`, :func:`bootstrap_roc_auc` (percentile CIs, paired
differences), :func:`permutation_importance_table`.

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
from ..schema import DAY, DateLike
from ..schema import to_day as _day
from ..tables.summary import canonical_order

LABEL = "label"
CUTOFF = "cutoff"

#: BTYD columns of :func:`retention_utils.tables.summary.customer_summary` kept in the feature table for the
#: BG/NBD baseline but not given to the models (``recency`` and ``T`` are exact linear combinations of
#: ``tenure_days`` and ``days_since_last_order``).
BTYD_ONLY_COLUMNS = ("recency", "T")

#: log-loss clipping: probabilities are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] before the log.
LOG_LOSS_EPS = 1e-6


# ------------------------------------------------------------------------------------------------
# cutoffs and time-based splits
# ------------------------------------------------------------------------------------------------


def plan_cutoffs(
    observation_start: DateLike,
    observation_end: DateLike,
    horizon_days: int,
    step_days: int | None = None,
    min_history_days: int = 90,
) -> list[pd.Timestamp]:
    """Cutoff days for a rolling origin, oldest first.

    The last cutoff is ``observation_end + 1 day - horizon_days`` (the latest cutoff whose horizon
    ``[t0, t0 + H)`` lies inside the inclusive observation window); earlier ones follow every
    ``step_days`` (default ``horizon_days``) while at least ``min_history_days`` days of history precede
    them (``t0 >= observation_start + min_history_days``).

    Returns a list of ``pandas.Timestamp`` (midnight). Raises ``ValueError`` for a non-positive horizon
    or step, or when not even one cutoff fits (the message gives the window and what to shorten).
    """
    if horizon_days < 1 or (step_days is not None and step_days < 1):
        raise ValueError(f"horizon_days and step_days must be >= 1 (got {horizon_days}, {step_days})")
    step = horizon_days if step_days is None else step_days
    start, end = _day(observation_start), _day(observation_end)
    earliest = start + pd.Timedelta(days=min_history_days)
    c = end + DAY - pd.Timedelta(days=horizon_days)
    out = []
    while c >= earliest:
        out.append(c)
        c -= pd.Timedelta(days=step)
    if not out:
        raise ValueError(
            f"no cutoff fits in {start.date()}..{end.date()} with a {horizon_days}-day horizon and "
            f"{min_history_days} days of history; shorten the horizon or the history requirement"
        )
    return out[::-1]


@dataclass(frozen=True)
class Fold:
    """One time-based fold: fit on ``train`` cutoffs, evaluate at ``valid``."""

    train: tuple[pd.Timestamp, ...]
    valid: pd.Timestamp


@dataclass(frozen=True)
class TimeSplits:
    """Rolling-origin folds, a test cutoff and a scoring date (see the module docstring).

    Attributes
    ----------
    cutoffs : every labelled cutoff, oldest first (the last is ``test``).
    horizon_days : H.
    folds : tuning folds, oldest first; ``folds[-1].valid`` is the validation cutoff of the evaluated
        pipeline (threshold, recency rule ``d``, calibration are chosen there).
    test : the test cutoff (holdout); its label window ends at the observation end.
    scoring_date : ``test + H``, the day after the observation end when the cutoffs come from
        :func:`plan_cutoffs`: where :func:`deploy` scores the current customer base (no labels yet).
    """

    cutoffs: tuple[pd.Timestamp, ...]
    horizon_days: int
    folds: tuple[Fold, ...]
    test: pd.Timestamp
    scoring_date: pd.Timestamp

    @property
    def valid(self) -> pd.Timestamp:
        """Validation cutoff of the evaluated pipeline (``folds[-1].valid``)."""
        return self.folds[-1].valid

    def train_for(self, cutoff: pd.Timestamp) -> tuple[pd.Timestamp, ...]:
        """Cutoffs whose label window ends by ``cutoff`` (``c + H <= cutoff``): trainable for it."""
        h = pd.Timedelta(days=self.horizon_days)
        return tuple(c for c in self.cutoffs if c + h <= cutoff)

    def describe(self) -> pd.DataFrame:
        """One row per cutoff: ``role`` (train / fold validation / validation / test), label window
        ``label_from`` .. ``label_to`` (inclusive days)."""
        h = pd.Timedelta(days=self.horizon_days)
        roles = []
        fold_valid = {f.valid for f in self.folds}
        for c in self.cutoffs:
            if c == self.test:
                role = "test"
            elif c == self.valid:
                role = "validation (tuning fold, threshold, calibration)"
            elif c in fold_valid:
                role = "tuning fold validation; train"
            else:
                role = "train"
            roles.append((c.date().isoformat(), role, c.date().isoformat(), (c + h - DAY).date().isoformat()))
        return pd.DataFrame(roles, columns=[CUTOFF, "role", "label_from", "label_to"]).set_index(CUTOFF)


def time_splits(cutoffs: Sequence[DateLike], horizon_days: int, n_folds: int = 2) -> TimeSplits:
    """Rolling-origin folds over ``cutoffs`` (at least ``n_folds + 1`` of them).

    Fold ``k`` validates at ``cutoffs[-1 - n_folds + k]`` and trains on every cutoff whose label window
    ends by then. Raises ``ValueError`` when a fold has no training cutoff, or the validation horizon
    overlaps the test horizon (``c_val + H > c_test``), naming the cutoffs: shorten the horizon, space
    the cutoffs or use fewer folds.
    """
    cs = sorted(_day(c) for c in cutoffs)
    if n_folds < 1:
        raise ValueError("n_folds must be >= 1")
    if len(cs) < n_folds + 1:
        raise ValueError(
            f"{len(cs)} cutoff(s) {[c.date().isoformat() for c in cs]} cannot give {n_folds} validation fold(s) "
            f"and a test cutoff; shorten the horizon ({horizon_days} days) or the cutoff step, or use fewer folds"
        )
    h = pd.Timedelta(days=horizon_days)
    test = cs[-1]
    folds = []
    for v in cs[-1 - n_folds : -1]:
        train = tuple(c for c in cs if c + h <= v)
        if not train:
            raise ValueError(
                f"validation cutoff {v.date()}: no earlier cutoff has its {horizon_days}-day label window closed "
                f"by then (cutoffs {[c.date().isoformat() for c in cs]}); shorten the horizon or use fewer folds"
            )
        folds.append(Fold(train, v))
    if folds[-1].valid + h > test:
        raise ValueError(
            f"validation cutoff {folds[-1].valid.date()} + {horizon_days} days overlaps the test cutoff {test.date()}"
        )
    return TimeSplits(tuple(cs), horizon_days, tuple(folds), test, test + h)


# ------------------------------------------------------------------------------------------------
# labels and features
# ------------------------------------------------------------------------------------------------


@dataclass
class CutoffLabels:
    """Labels at one cutoff (:meth:`CustomerHistory.labels`).

    ``labels``: Series of int64 0/1 indexed by ``customer_id`` (sorted), one row per customer with an
    order before the cutoff. ``n_new_in_horizon``: customers first seen in ``[t0, t0 + H)``, excluded.
    """

    cutoff: pd.Timestamp
    horizon_days: int
    labels: pd.Series
    n_new_in_horizon: int

    @property
    def positive_rate(self) -> float:
        return float(self.labels.mean()) if len(self.labels) else float("nan")


@dataclass
class Panel:
    """Feature and label rows for several cutoffs (:meth:`CustomerHistory.panel`).

    Attributes
    ----------
    table : DataFrame indexed by (``cutoff`` datetime64, ``customer_id`` str), sorted; the feature
        columns of :meth:`CustomerHistory.features` plus ``label`` (int64 0/1).
    counts : per cutoff: ``customers`` (population), ``positives``, ``positive_rate``,
        ``new_in_horizon_excluded``.
    horizon_days : H.
    """

    table: pd.DataFrame
    counts: pd.DataFrame
    horizon_days: int

    def rows(self, cutoffs: Sequence[pd.Timestamp] | pd.Timestamp) -> pd.DataFrame:
        """Rows of the given cutoff(s), in table order."""
        cs = [cutoffs] if isinstance(cutoffs, pd.Timestamp) else list(cutoffs)
        lvl = self.table.index.get_level_values(CUTOFF)
        return self.table[lvl.isin(cs)]

    def at(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        """Rows of one cutoff indexed by ``customer_id``."""
        return self.rows(cutoff).droplevel(CUTOFF)


class CustomerHistory:
    """A transaction log prepared once for features and labels at many cutoffs.

    Parameters
    ----------
    tx : canonical clean transactions (:mod:`retention_utils.schema`).
    products : optional ``product_id`` + ``category`` table: enables ``category_breadth``.
    customers : optional ``customer_id`` + attributes (demographics): ordered categoricals become their
        integer codes (float, NaN when unknown), other text columns one-hot columns ``"col=value"``
        (float 0/1), numbers stay; ``has_demographics`` (0/1) flags customers in the table. The table
        is taken as known at every cutoff (The Complete Journey's demographics carry no date).
    campaigns : optional exposure table with ``customer_id``, ``start_date``, ``end_date`` (one row per
        campaign sent to a customer; :func:`campaign_exposure`). Only campaigns started before ``t0``
        count.
    observation_end : inclusive last observed day (default: the last transaction's day). Labels whose
        horizon passes it, and features after it, are refused.
    trend_window_days : W of the spend-trend features (default 30).
    breadth_column : product attribute counted by ``category_breadth`` (default ``"category"``).

    Raises :class:`retention_utils.schema.SchemaError` for missing columns or null customer ids.
    """

    def __init__(
        self,
        tx: pd.DataFrame,
        products: pd.DataFrame | None = None,
        customers: pd.DataFrame | None = None,
        campaigns: pd.DataFrame | None = None,
        observation_end: DateLike | None = None,
        trend_window_days: int = 30,
        breadth_column: str = S.CATEGORY,
    ) -> None:
        S.require_columns(tx, (S.CUSTOMER_ID, S.ORDER_ID, S.ORDER_TS, S.PRODUCT_ID, S.QUANTITY, S.REVENUE))
        S.require_non_empty(tx)
        if tx[S.CUSTOMER_ID].isna().any():
            raise S.SchemaError("transactions have null customer ids; clean them first (clean_transactions)")
        if trend_window_days < 1:
            raise ValueError("trend_window_days must be >= 1")
        self.trend_window_days = int(trend_window_days)
        self.observation_end = _day(tx[S.ORDER_TS].max() if observation_end is None else observation_end)
        tx = canonical_order(tx[[S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID, S.PRODUCT_ID, S.QUANTITY, S.REVENUE]])
        # one row per order (lines at different timestamps are never merged, so an order cannot
        # straddle a cutoff)
        g = tx.groupby([S.CUSTOMER_ID, S.ORDER_TS, S.ORDER_ID], sort=True)
        self.orders = pd.DataFrame(
            {
                S.REVENUE: g[S.REVENUE].sum(),
                "n_products": g[S.PRODUCT_ID].nunique().astype("float64"),
                "units": g[S.QUANTITY].sum(),
            }
        ).reset_index()
        self.orders["day"] = self.orders[S.ORDER_TS].dt.normalize()
        # customers as integer codes (sorted ids), so that per-cutoff groupbys do not hash strings
        self.customer_ids = pd.Index(np.sort(self.orders[S.CUSTOMER_ID].unique()), name=S.CUSTOMER_ID)
        self.orders["c"] = self.customer_ids.get_indexer(self.orders[S.CUSTOMER_ID]).astype("int64")
        # one row per customer and purchase day (BTYD purchases), in (customer, day) order; the days of
        # an order never straddle a cutoff since cutoffs are midnights
        gd = self.orders.groupby(["c", "day"], sort=True)
        self.days = pd.DataFrame({S.REVENUE: gd[S.REVENUE].sum()}).reset_index()
        self.first_day = pd.Series(
            self.days.groupby("c", sort=True)["day"].min().to_numpy(), index=self.customer_ids, name="first_day"
        )
        # first time each customer bought in each product group: breadth at t0 = groups first bought before t0
        self.first_in_group = None
        if products is not None and breadth_column in products and S.PRODUCT_ID in products:
            attr = products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[breadth_column]
            grp = tx[S.PRODUCT_ID].map(attr)
            known = grp.notna()
            self.first_in_group = (
                pd.DataFrame({"c": self.customer_ids.get_indexer(tx.loc[known, S.CUSTOMER_ID]), "group": grp[known],
                              S.ORDER_TS: tx.loc[known, S.ORDER_TS]})
                .groupby(["c", "group"], sort=True)[S.ORDER_TS].min().reset_index()
            )
        self.demographics = _encode_demographics(customers) if customers is not None else None
        self.campaigns = None
        if campaigns is not None:
            S.require_columns(campaigns, (S.CUSTOMER_ID, "start_date", "end_date"), table="campaigns")
            self.campaigns = campaigns[[S.CUSTOMER_ID, "start_date", "end_date"]].copy()

    @classmethod
    def from_dataset(cls, dataset: Any, observation_end: DateLike | None = None, trend_window_days: int = 30) -> CustomerHistory:
        """From a :class:`retention_utils.data.datasets.Dataset`: its clean transactions, products, customers
        and, when the dataset has ``campaigns`` and ``campaign_descriptions`` tables (The Complete
        Journey), the campaign exposure of :func:`campaign_exposure`."""
        camp = None
        if "campaigns" in dataset.tables and "campaign_descriptions" in dataset.tables:
            camp = campaign_exposure(dataset.tables["campaigns"], dataset.tables["campaign_descriptions"])
        return cls(dataset.transactions, dataset.products, dataset.customers, camp, observation_end, trend_window_days)

    # -- labels --------------------------------------------------------------------------------

    def labels(self, t0: DateLike, horizon_days: int) -> CutoffLabels:
        """Label 1 if the customer orders in ``[t0, t0 + horizon_days)``; population and exclusions in
        the module docstring. Raises ``ValueError`` if the horizon ends after the observation end (its
        labels would be incomplete) or nobody ordered before ``t0``."""
        t0 = _day(t0)
        end = t0 + pd.Timedelta(days=horizon_days)
        if end > self.observation_end + DAY:
            raise ValueError(
                f"horizon {t0.date()} + {horizon_days} days ends after the observation end "
                f"{self.observation_end.date()}: labels would be incomplete"
            )
        ts = self.orders[S.ORDER_TS]
        population = self.first_day.index[self.first_day < t0]
        if len(population) == 0:
            raise ValueError(f"no customer has an order before the cutoff {t0.date()}")
        buyers = pd.Index(self.orders.loc[(ts >= t0) & (ts < end), S.CUSTOMER_ID].unique())
        labels = pd.Series(population.isin(buyers).astype("int64"), index=population, name=LABEL)
        labels.index.name = S.CUSTOMER_ID
        n_new = int(((self.first_day >= t0) & (self.first_day < end)).sum())
        return CutoffLabels(t0, int(horizon_days), labels.sort_index(), n_new)

    # -- features ------------------------------------------------------------------------------

    def features(self, t0: DateLike) -> pd.DataFrame:
        """Features at cutoff ``t0`` from orders strictly before ``t0``; one row per customer with such
        an order, indexed by ``customer_id`` (str, sorted). Times in days, money in the data's currency.

        The columns of :func:`retention_utils.tables.summary.customer_summary` at ``observation_end = t0 - 1
        day``, with its definitions (tested equal): ``n_orders``, ``revenue``, ``average_order_value``,
        ``days_since_last_order`` (recency in the segmentation sense), ``tenure_days``, ``frequency``
        (repeat purchase days), ``recency``, ``T``, ``monetary_value`` (BTYD convention, days); they are
        computed here from tables prepared once, because calling ``customer_summary`` at every cutoff
        re-sorts the whole log each time (most of the panel's run time on The Complete Journey). Then
        (all columns float64):

        * ``purchase_rate``: orders per day of observed tenure, ``n_orders / (tenure_days + 1)``;
        * ``gap_mean_days``: mean days between consecutive purchase days (``recency / frequency``; NaN
          with one purchase day); ``gap_std_days``: their sample standard deviation (NaN with < 2 gaps);
          ``last_gap_days``: the last completed gap; ``last_gap_ratio`` = last gap / mean gap;
          ``overdue_ratio`` = ``days_since_last_order`` / mean gap;
        * ``orders_recent``, ``revenue_recent``: orders and revenue in ``[t0 - W, t0)``;
          ``revenue_earlier``: revenue in ``[t0 - 2W, t0 - W)``; ``spend_trend`` = (recent - earlier) /
          (recent + earlier) in [-1, 1], 0 when both are 0 (W = ``trend_window_days``);
        * ``basket_products_mean``, ``basket_units_mean``: distinct products and units per order;
        * ``category_breadth``: distinct product groups bought (only with a products table);
        * ``campaigns_received`` (campaigns started before ``t0``) and ``campaigns_running`` (of those,
          ending on or after ``t0``) (only with campaigns);
        * demographics (only with a customers table; see the class docstring).

        Raises ``ValueError`` when ``t0`` is after the day following the observation end, or no order
        precedes it.
        """
        t0 = _day(t0)
        if t0 > self.observation_end + DAY:
            raise ValueError(f"cutoff {t0.date()} is after the observation end {self.observation_end.date()} + 1 day")
        o = self.orders[self.orders[S.ORDER_TS] < t0]
        if o.empty:
            raise ValueError(f"no order before the cutoff {t0.date()}")
        d = self.days[self.days["day"] < t0]
        end = (t0 - DAY).to_datetime64()  # the inclusive last observed day, as in summary.customer_summary
        one_day = np.timedelta64(1, "D")
        gd = d.groupby("c", sort=True)
        codes = gd.size().index.to_numpy()
        idx = pd.Index(self.customer_ids[codes], name=S.CUSTOMER_ID)
        first, last = gd["day"].min().to_numpy(), gd["day"].max().to_numpy()
        total = gd[S.REVENUE].sum().to_numpy()
        frequency = gd.size().to_numpy() - 1.0
        n_orders = o.groupby("c", sort=True).size().to_numpy().astype("float64")
        recency = (last - first) / one_day
        repeat_rev = total - gd[S.REVENUE].first().to_numpy()
        out = pd.DataFrame(
            {
                "n_orders": n_orders,
                "revenue": total,
                "average_order_value": total / n_orders,
                "days_since_last_order": (end - last) / one_day,
                "tenure_days": (end - first) / one_day,
                "frequency": frequency,
                "recency": recency,
                "T": (end - first) / one_day,
                "monetary_value": np.where(frequency > 0, repeat_rev / np.maximum(frequency, 1.0), 0.0),
            },
            index=idx,
        )
        out["purchase_rate"] = out["n_orders"] / (out["tenure_days"] + 1.0)

        # gaps between consecutive purchase days of the same customer
        dc, dd = d["c"].to_numpy(), d["day"].to_numpy()
        same = dc[1:] == dc[:-1]
        gaps = pd.DataFrame({"c": dc[1:][same], "gap": (dd[1:] - dd[:-1])[same] / one_day})
        gg = gaps.groupby("c", sort=True)["gap"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["gap_mean_days"] = np.where(frequency > 0, recency / frequency, np.nan)
        out["gap_std_days"] = _by_code(gg.std(ddof=1), codes)
        out["last_gap_days"] = _by_code(gg.last(), codes)
        out["last_gap_ratio"] = out["last_gap_days"] / out["gap_mean_days"]
        out["overdue_ratio"] = out["days_since_last_order"] / out["gap_mean_days"]

        w = pd.Timedelta(days=self.trend_window_days)
        recent = o[o[S.ORDER_TS] >= t0 - w].groupby("c", sort=True)
        earlier = o[(o[S.ORDER_TS] >= t0 - 2 * w) & (o[S.ORDER_TS] < t0 - w)].groupby("c", sort=True)
        out["orders_recent"] = _by_code(recent.size(), codes, 0.0)
        out["revenue_recent"] = _by_code(recent[S.REVENUE].sum(), codes, 0.0)
        out["revenue_earlier"] = _by_code(earlier[S.REVENUE].sum(), codes, 0.0)
        tot = out["revenue_recent"] + out["revenue_earlier"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["spend_trend"] = np.where(tot > 0, (out["revenue_recent"] - out["revenue_earlier"]) / tot, 0.0)

        go = o.groupby("c", sort=True)
        out["basket_products_mean"] = _by_code(go["n_products"].mean(), codes)
        out["basket_units_mean"] = _by_code(go["units"].mean(), codes)

        if self.first_in_group is not None:
            fg = self.first_in_group
            out["category_breadth"] = _by_code(fg[fg[S.ORDER_TS] < t0].groupby("c", sort=True).size(), codes, 0.0)
        if self.campaigns is not None:
            c = self.campaigns[self.campaigns["start_date"] < t0]
            out["campaigns_received"] = c.groupby(S.CUSTOMER_ID).size().reindex(idx, fill_value=0).astype("float64")
            running = c[c["end_date"] >= t0]
            out["campaigns_running"] = running.groupby(S.CUSTOMER_ID).size().reindex(idx, fill_value=0).astype("float64")
        if self.demographics is not None:
            demo = self.demographics.reindex(idx)
            demo["has_demographics"] = idx.isin(self.demographics.index).astype("float64")
            dummies = [col for col in demo.columns if "=" in col]
            demo[dummies] = demo[dummies].fillna(0.0)
            out = out.join(demo)
        out.index.name = S.CUSTOMER_ID
        return out

    # -- several cutoffs -----------------------------------------------------------------------

    def panel(self, cutoffs: Sequence[DateLike], horizon_days: int) -> Panel:
        """Features and labels at every cutoff, stacked (see :class:`Panel`)."""
        frames, counts = [], []
        for c in sorted(_day(c) for c in cutoffs):
            lab = self.labels(c, horizon_days)
            f = self.features(c)
            f[LABEL] = lab.labels.reindex(f.index).to_numpy()
            frames.append(pd.concat({c: f}, names=[CUTOFF]))
            counts.append((c, len(lab.labels), int(lab.labels.sum()), lab.positive_rate, lab.n_new_in_horizon))
        table = pd.concat(frames).sort_index()
        cnt = pd.DataFrame(counts, columns=[CUTOFF, "customers", "positives", "positive_rate", "new_in_horizon_excluded"])
        return Panel(table, cnt.set_index(CUTOFF), int(horizon_days))


def _by_code(values: pd.Series, codes: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``values`` (indexed by customer code) aligned with ``codes``, float64, ``fill`` where absent."""
    return values.reindex(codes, fill_value=fill).to_numpy(dtype="float64")


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


def _encode_demographics(customers: pd.DataFrame) -> pd.DataFrame:
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


def model_feature_columns(panel: Panel, cutoffs: Sequence[pd.Timestamp] | None = None) -> list[str]:
    """Columns given to the models: every feature except ``label``, the BTYD-only columns
    (:data:`BTYD_ONLY_COLUMNS`) and columns constant over the rows of ``cutoffs`` (default: all;
    labels are not looked at). Order as in the table."""
    rows = panel.table if cutoffs is None else panel.rows(cutoffs)
    cols = [c for c in panel.table.columns if c != LABEL and c not in BTYD_ONLY_COLUMNS]
    return [c for c in cols if rows[c].nunique(dropna=False) > 1]


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


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
      ``sklearn.isotonic.IsotonicRegression``) fitted at the validation cutoff: the best any
      recency-only score can do on that cutoff's ranking;
    * ``Poisson rate``: :func:`poisson_repurchase_probability`;
    * ``BG/NBD``: :func:`bgnbd_repurchase_probability`, fitted afresh at each cutoff (if ``bgnbd``).
    """
    from sklearn.isotonic import IsotonicRegression

    v, t, h = panel.at(splits.valid), panel.at(splits.test), panel.horizon_days
    out = []
    rule = RecencyRule().fit(v["days_since_last_order"], v[LABEL])
    out.append(_scored("recency rule", "baseline", v, rule.predict_proba(v["days_since_last_order"]), t,
                       rule.predict_proba(t["days_since_last_order"]), {"d": rule.d_}))
    iso = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(v["days_since_last_order"].to_numpy(), v[LABEL].to_numpy())
    out.append(_scored("recency curve", "baseline", v, iso.predict(v["days_since_last_order"].to_numpy()), t,
                       iso.predict(t["days_since_last_order"].to_numpy())))
    out.append(_scored("Poisson rate", "baseline", v, poisson_repurchase_probability(v["purchase_rate"], h), t,
                       poisson_repurchase_probability(t["purchase_rate"], h)))
    if bgnbd:
        out.append(_scored("BG/NBD", "baseline", v, bgnbd_repurchase_probability(v, h), t,
                           bgnbd_repurchase_probability(t, h)))
    return out


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


def limit_threads(n_threads: int = 1) -> Any:
    """Cap the BLAS and OpenMP thread pools (``threadpoolctl.threadpool_limits``) for the rest of the
    process, and return the limiter (``.restore_original_limits()`` undoes it). On a busy 2-core
    machine, OpenMP's spinning threads made HistGradientBoosting 5 to 10 times slower than with one
    thread. Results do not depend on the thread count beyond floating-point rounding (about 1e-8 in
    the logistic regression's probabilities)."""
    import scipy.linalg  # noqa: F401  - load BLAS, and
    import sklearn.ensemble  # noqa: F401  - OpenMP, before limiting: threadpoolctl only sees loaded libraries
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(n_threads))


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
    m = clone(tuned.estimator).set_params(**tuned.best_params).fit(Xtr, ytr)
    t = panel.at(splits.test)
    raw = m.predict_proba(t[tuned.features].astype("float64"))[:, 1]
    cal = Calibrator(calibration).fit(raw, t[LABEL].to_numpy())
    thr = f1_threshold(t[LABEL], cal.predict(raw))
    return FittedModel(tuned.name, m, cal, tuned.features, thr)


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
    p = p_repurchase.astype("float64")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("repurchase probabilities must be in [0, 1]")
    missing = p.index.difference(features.index)
    if len(missing):
        raise ValueError(f"{len(missing)} customer(s) have no features, e.g. {list(missing[:5])}")
    ctx = features.loc[p.index, ["days_since_last_order", "n_orders", "revenue"]]
    out = pd.DataFrame({
        S.CUSTOMER_ID: p.index.astype(str),
        "scoring_date": _day(scoring_date).date().isoformat(),
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


def plot_gains(y: Any, scores: Mapping[str, Any], ax: Any = None, n_bins: int = 10) -> Any:
    """Cumulative gains by decile (:func:`lift_table`) of several scores, with the random line."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    ax.plot([0, 100], [0, 100], color="grey", ls="--", lw=1, label="random")
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]
    for k, (name, s) in enumerate(scores.items()):
        lt = lift_table(y, s, n_bins)
        ls, mk = styles[k % len(styles)]
        ax.plot(np.r_[0, lt["cumulative_share"]] * 100, np.r_[0, lt["cumulative_gain"]] * 100, ls=ls, marker=mk,
                ms=4, label=name)
    ax.set_xlabel("% of customers contacted (highest P(repurchase) first)")
    ax.set_ylabel("% of repurchasers captured")
    ax.set_title("Cumulative gains on the test cutoff")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def plot_calibration(y: Any, scores: Mapping[str, Any], ax: Any = None, n_bins: int = 10) -> Any:
    """Reliability curves (:func:`calibration_table`) of several probability vectors."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect")
    for name, s in scores.items():
        ct = calibration_table(y, s, n_bins)
        ax.plot(ct["mean_predicted"], ct["observed_rate"], marker="o", label=name)
    ax.set_xlabel("mean predicted P(repurchase) (decile bins)")
    ax.set_ylabel("observed repurchase rate")
    ax.set_title("Calibration on the test cutoff")
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_partial_dependence(model: Any, X: pd.DataFrame, features: Sequence[str], seed: int = 0) -> Any:
    """Average partial dependence of P(repurchase) on each of ``features`` over the rows of ``X``
    (``sklearn.inspection.PartialDependenceDisplay``, brute force on ``predict_proba``, 5th-95th
    percentile grid of 20 points)."""
    import matplotlib.pyplot as plt
    from sklearn.inspection import PartialDependenceDisplay

    fig, axes = plt.subplots(1, len(features), figsize=(4.0 * len(features), 3.6), squeeze=False)
    # brute force on predict_proba: the "recursion" shortcut of tree ensembles plots log-odds instead
    PartialDependenceDisplay.from_estimator(model, X, list(features), kind="average", grid_resolution=20,
                                            percentiles=(0.05, 0.95), response_method="predict_proba",
                                            method="brute", random_state=seed, ax=axes[0])
    for ax in axes[0]:
        ax.set_ylabel("P(repurchase)" if ax is axes[0][0] else "")
    fig.suptitle("Partial dependence (test cutoff)")
    return fig


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
    features. When the data leaves no room for a forward-in-time validation, returns
    ``scores=None`` with the reason in ``note`` instead of raising.
    """
    try:
        cutoffs = plan_cutoffs(observation_start, observation_end, horizon_days, min_history_days=min_history_days)
        splits = time_splits(cutoffs, horizon_days, n_folds=1)
    except ValueError as err:
        return ForwardScores(None, None, "", f"no forward-in-time validation fits before the holdout ({err})")
    limit_threads(1)
    history = CustomerHistory.from_dataset(ds, observation_end=observation_end)
    panel = history.panel(list(splits.cutoffs), horizon_days)
    features = model_feature_columns(panel)
    tuned = [tune_time_cv(name, est, grid, panel, splits, features)
             for name, (est, grid) in model_candidates(seed=seed).items()]
    best = max(tuned, key=lambda t: t.best_cv_roc_auc)
    scored, _ = finalize(best, panel, splits, calibration="none")
    test = panel.at(splits.test)
    note = (f"{best.name} (validation ROC-AUC {best.best_cv_roc_auc:.3f}), trained at "
            f"{', '.join(c.date().isoformat() for c in splits.folds[-1].train)}, tuned at {splits.valid.date()}")
    return ForwardScores(pd.Series(np.asarray(scored.test, dtype="float64"), index=test.index), test["label"], best.name, note)
