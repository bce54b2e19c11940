"""The playbook checked against what happened: lists made at a past as-of day ``A``, scored on the
``horizon_days`` days after it (``A + 1 .. A + horizon_days``).

Value lost
----------
For every customer known at ``A`` (an order on or before it): ``usual_value`` = revenue up to ``A`` /
observed days (first order day .. ``A``, inclusive) x ``horizon_days``, what the customer spends over
the horizon at their own past pace (currency; model-free, so the measure does not favour any of the
rankings compared). ``returned`` = 1 if they ordered in the horizon. The **value lost** is
``usual_value`` for the customers who did not return, 0 for the others (:func:`outcomes`).

A list **captures** the share of all value lost that belongs to its customers
(:func:`value_captured`). Compared at the same list size:

* a **random list**: its expected share is exactly ``n / N`` (n listed of N customers; every customer
  is equally likely to be drawn) - :func:`random_expected_share`, checked against seeded draws in the
  tests;
* the **RFM rule** of notebook 02: customers in the segments "At risk" and "Can't lose them" at ``A``,
  highest revenue first (ties by id), cut to the size (:func:`rfm_list`; shorter if the segments are
  smaller);
* **recency alone**: the longest time since the last order first (ties by id; :func:`recency_list`).

The **gains curve** (:func:`gains_curve`) gives the share captured against the list size for full
rankings of all customers. **Came back anyway** (:func:`came_back_share`): the share of listed
customers who ordered in the horizon without any action, the contacts a campaign would have been
wasted on. The lists rank customers by risk and value, not by the effect of contacting them: a
ranking by the causal effect of a contact needs an effect estimate (see
:mod:`retention_utils.decisions.exports`, the campaign-effect hook).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DAY, DateLike
from ..tables.summary import canonical_order
from .scenarios import PlaybookError

RFM_RULE_SEGMENTS: tuple[str, ...] = ("At risk", "Can't lose them")


def outcomes(tx: pd.DataFrame, as_of: DateLike, horizon_days: int) -> pd.DataFrame:
    """Per customer known at ``as_of`` (index ``customer_id``, sorted): ``revenue_before``,
    ``observed_days``, ``usual_value``, ``returned`` (int 0/1), ``spend_in_horizon``, ``lost_value``
    (module docstring). Raises :class:`PlaybookError` when the horizon runs past the last transaction
    day (the outcome would be incomplete): choose an earlier AS_OF or a shorter HORIZON_DAYS."""
    a = S.to_day(as_of, "as_of")
    end = a + pd.Timedelta(days=int(horizon_days))
    last = tx[S.ORDER_TS].max().normalize()
    if end > last:
        raise PlaybookError(f"the backtest horizon {(a + DAY).date()}..{end.date()} runs past the data's last day "
                            f"{last.date()}; choose an earlier BACKTEST_AS_OF or a shorter HORIZON_DAYS")
    t = canonical_order(tx[tx[S.ORDER_TS] < end + DAY])
    before = t[t[S.ORDER_TS] < a + DAY]
    after = t[t[S.ORDER_TS] >= a + DAY]
    g = before.groupby(S.CUSTOMER_ID, sort=True)
    rev = g[S.REVENUE].sum()
    days = ((a - g[S.ORDER_TS].min().dt.normalize()).dt.days + 1).astype("float64")
    out = pd.DataFrame({"revenue_before": rev, "observed_days": days})
    out["usual_value"] = out["revenue_before"] / out["observed_days"] * int(horizon_days)
    spend = after.groupby(S.CUSTOMER_ID)[S.REVENUE].sum().reindex(out.index, fill_value=0.0)
    out["returned"] = out.index.isin(after[S.CUSTOMER_ID].unique()).astype("int64")
    out["spend_in_horizon"] = spend
    out["lost_value"] = out["usual_value"].where(out["returned"] == 0, 0.0)
    out.index.name = S.CUSTOMER_ID
    return out


def value_captured(lost: pd.Series, ids: Sequence[str]) -> float:
    """Share of ``lost.sum()`` held by ``ids`` (ids absent from ``lost`` count 0; duplicates once)."""
    total = float(lost.sort_index().sum())
    if total <= 0:
        return float("nan")
    return float(lost.reindex(pd.Index(pd.unique(np.asarray(ids, dtype=object)))).fillna(0.0).sort_index().sum() / total)


def random_expected_share(n: int, n_customers: int) -> float:
    """Expected share of the value lost captured by ``n`` customers drawn at random without
    replacement from ``n_customers``: ``n / n_customers`` (linearity of expectation)."""
    if n_customers < 1:
        raise PlaybookError("no customer to draw from")
    return min(int(n), int(n_customers)) / int(n_customers)


def random_draws(lost: pd.Series, n: int, n_draws: int = 200, seed: int = 0) -> np.ndarray:
    """Shares captured by ``n_draws`` seeded random lists of ``n`` customers (for checking
    :func:`random_expected_share`)."""
    rng = np.random.default_rng(seed)
    ids = lost.sort_index().index.to_numpy()
    return np.array([value_captured(lost, rng.choice(ids, size=min(n, len(ids)), replace=False)) for _ in range(n_draws)])


def rfm_list(segment: pd.Series, revenue: pd.Series, n: int | None = None) -> list[str]:
    """Customers of the RFM rule (module docstring), best first; at most ``n``."""
    seg = segment.astype(str)
    ids = seg.index[seg.isin(RFM_RULE_SEGMENTS)]
    df = pd.DataFrame({"id": ids.astype(str), "revenue": revenue.reindex(ids).to_numpy()})
    df = df.sort_values(["revenue", "id"], ascending=[False, True], kind="stable")
    return list(df["id"] if n is None else df["id"].head(int(n)))


def recency_list(days_since_last_order: pd.Series, n: int | None = None) -> list[str]:
    """Customers by days since the last order, longest first (ties by id); at most ``n``."""
    df = pd.DataFrame({"id": days_since_last_order.index.astype(str), "d": days_since_last_order.to_numpy()})
    df = df.sort_values(["d", "id"], ascending=[False, True], kind="stable")
    return list(df["id"] if n is None else df["id"].head(int(n)))


def ranking(score: pd.Series) -> list[str]:
    """Customers by ``score`` descending (NaN last), ties by id."""
    df = pd.DataFrame({"id": score.index.astype(str), "s": score.to_numpy(dtype="float64")})
    return list(df.sort_values(["s", "id"], ascending=[False, True], kind="stable", na_position="last")["id"])


def gains_curve(lost: pd.Series, rankings: Mapping[str, Sequence[str]], sizes: Sequence[int]) -> pd.DataFrame:
    """Share of the value lost captured by the first ``k`` customers of each ranking, for each ``k`` in
    ``sizes``; a ``random`` column gives ``k / N``. Index ``list_size``. A ranking shorter than ``k``
    (the RFM rule) stays at its full length's share."""
    N = len(lost)
    rows = {}
    for k in sizes:
        row = {name: value_captured(lost, list(r)[: int(k)]) for name, r in rankings.items()}
        row["random"] = random_expected_share(int(k), N)
        rows[int(k)] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "list_size"
    return out


def came_back_share(out: pd.DataFrame, ids: Sequence[str]) -> float:
    """Share of ``ids`` who ordered in the horizon (``returned``); NaN for an empty list."""
    ids = pd.Index(pd.unique(np.asarray(ids, dtype=object)))
    if len(ids) == 0:
        return float("nan")
    return float(out["returned"].reindex(ids).fillna(0).mean())


def compare_lists(out: pd.DataFrame, lists: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per named list: ``customers``, ``value_captured`` (share), ``value_captured_amount``
    (currency), ``came_back_share``, ``lost_customers`` (listed customers who did not return)."""
    lost = out["lost_value"]
    rows = {}
    for name, ids in lists.items():
        ids = list(pd.unique(np.asarray(list(ids), dtype=object)))
        sub = out.reindex(pd.Index(ids))
        rows[name] = {"customers": len(ids), "value_captured": value_captured(lost, ids),
                      "value_captured_amount": float(sub["lost_value"].fillna(0.0).sort_index().sum()),
                      "came_back_share": came_back_share(out, ids),
                      "lost_customers": int((sub["returned"] == 0).sum())}
    return pd.DataFrame.from_dict(rows, orient="index")


def welcome_evaluation(y: pd.Series, p: pd.Series, n_bins: int = 5) -> tuple[float, pd.DataFrame]:
    """``(roc_auc, calibration)`` of the second-order model on the later cohort: ROC-AUC (NaN when one
    outcome is missing) and :func:`retention_utils.models.prediction.calibration_table` with at most
    ``n_bins`` bins of equal count."""
    from sklearn.metrics import roc_auc_score

    from ..scoring import calibration_table

    y = y.astype("int64")
    if len(y) == 0 or y.nunique() < 2:
        return float("nan"), pd.DataFrame()
    return float(roc_auc_score(y, p.reindex(y.index))), calibration_table(y, p.reindex(y.index), min(n_bins, len(y)))
