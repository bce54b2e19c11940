"""Cutoffs, labels and features at each cutoff: the customer-by-cutoff panel behind repurchase
prediction (notebook 04), the playbook and forward validation in notebook 06.

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
``c_val`` satisfies ``c_val + H <= c_test``. Rows are never split at random within a period.

Determinism: tables are sorted by (cutoff, customer_id); sums run over transactions in
:func:`retention_utils.tables.summary.canonical_order`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DAY, DateLike
from ..schema import to_day as _day
from .covariates import campaign_exposure, encode_demographics
from .summary import canonical_order

LABEL = "label"


CUTOFF = "cutoff"


#: BTYD columns of :func:`retention_utils.tables.summary.customer_summary` kept in the feature table for the
#: BG/NBD baseline but not given to the models (``recency`` and ``T`` are exact linear combinations of
#: ``tenure_days`` and ``days_since_last_order``).
BTYD_ONLY_COLUMNS = ("recency", "T")


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
        self.demographics = encode_demographics(customers) if customers is not None else None
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


def model_feature_columns(panel: Panel, cutoffs: Sequence[pd.Timestamp] | None = None) -> list[str]:
    """Columns given to the models: every feature except ``label``, the BTYD-only columns
    (:data:`BTYD_ONLY_COLUMNS`) and columns constant over the rows of ``cutoffs`` (default: all;
    labels are not looked at). Order as in the table."""
    rows = panel.table if cutoffs is None else panel.rows(cutoffs)
    cols = [c for c in panel.table.columns if c != LABEL and c not in BTYD_ONLY_COLUMNS]
    return [c for c in cols if rows[c].nunique(dropna=False) > 1]


def require_cutoffs(
    tx: pd.DataFrame,
    observation_start: DateLike,
    observation_end: DateLike,
    horizon_days: int,
    step_days: int | None = None,
    min_history_days: int = 90,
    n_folds: int = 2,
) -> None:
    """What the repurchase-prediction notebook (04) needs, checked in its first analysis cell: cutoffs
    that fit the window (:func:`plan_cutoffs`), ``n_folds`` time-based folds and a test cutoff
    (:func:`time_splits`), and at every cutoff a model is trained, validated or tested on, customers of
    both kinds: some who order within the horizon and some who do not (a classifier cannot be fitted,
    nor a ROC-AUC computed, on one class). Labels are counted as in :meth:`CustomerHistory.labels`:
    customers with an order before the cutoff, positive when they order in ``[t0, t0 + H)``.

    Raises :class:`retention_utils.schema.InsufficientDataError` with one sentence (the first need that
    fails, with the cutoff and the counts).
    """
    start, end = _day(observation_start, "observation_start"), _day(observation_end, "observation_end")  # dates first
    try:
        splits = time_splits(plan_cutoffs(start, end, horizon_days, step_days, min_history_days), horizon_days, n_folds)
    except ValueError as err:
        raise S.InsufficientDataError(f"repurchase prediction: {str(err).splitlines()[0]}.") from err
    day = tx[S.ORDER_TS].dt.normalize()
    days = pd.DataFrame({"c": tx[S.CUSTOMER_ID].to_numpy(), "d": day.to_numpy()}).drop_duplicates()
    first = days.groupby("c")["d"].min()
    h = pd.Timedelta(days=int(horizon_days))
    used: dict[pd.Timestamp, str] = {}
    for f in splits.folds:
        for c in f.train:
            used.setdefault(c, "training")
        used[f.valid] = "validation"
    used[splits.test] = "test"
    for c in sorted(used):
        seen = first.index[first < c]
        bought = days.loc[(days["d"] >= c) & (days["d"] < c + h), "c"].unique()
        n_pos = int(pd.Index(seen).isin(bought).sum())
        n_neg = len(seen) - n_pos
        if n_pos == 0 or n_neg == 0:
            raise S.InsufficientDataError(
                f"repurchase prediction needs, at every cutoff, customers who order within the {horizon_days}-day "
                f"horizon and customers who do not; at the {used[c]} cutoff {c.date()} {n_pos:,} of the {len(seen):,} "
                "customers seen before it order (more customers or a longer window, or another HORIZON_DAYS)."
            )
