"""Acquisition-cohort retention.

A customer's cohort is the calendar period (month ``"M"`` or week ``"W"``, weeks starting Monday) of
their first order in the *full* history given, even when the analysis window starts later: a customer
first buying 2023-11-10 is in the November-2023 cohort whatever window is analysed. A customer is
*active* in period ``p`` (``p = 0, 1, ...`` periods since acquisition) if they placed at least one
order in that calendar period. Retention of a cohort at ``p`` = active customers / cohort size, where the
cohort size is the number of customers acquired in that period (so period 0 is 100 % when observed).

Cells are ``NaN`` (never 0 and never ``inf``) when the calendar period is not observed: outside the
analysis window, after the data ends, or, with ``partial="drop"``, a trailing partial period. A
cohort of size 0 cannot occur (cohorts come from customers), and a size is never used as a divisor
unless positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from .. import schema as S

PERIODS = {"M": "month", "W": "week"}


@dataclass
class CohortTable:
    """Result of :func:`cohort_retention`.

    Attributes
    ----------
    sizes : Series indexed by cohort (``pandas.Period``), customers acquired (int).
    active : DataFrame cohort x periods since acquisition (0, 1, ...), active customers (float; NaN
        where unobserved).
    retention : ``active / sizes`` (fraction in [0, 1]; NaN where unobserved).
    partial : bool DataFrame like ``active``: True where the cell's calendar period is the trailing
        period, only partly inside the observed window (kept with ``partial="flag"``, NaN with ``partial="drop"``).
    period : ``"M"`` or ``"W"``; ``window`` the (first, last) observed day.
    """

    sizes: pd.Series
    active: pd.DataFrame
    retention: pd.DataFrame
    partial: pd.DataFrame
    period: str
    window: tuple[pd.Timestamp, pd.Timestamp]

    def retention_at(self, p: int, skip_first: bool = False) -> float:
        """Pooled retention at period ``p``: active customers over acquired customers, summed over the
        cohorts observed at ``p`` (NaN if none is). ``skip_first`` leaves out the first cohort, which in
        a log that starts on a fixed date also holds customers acquired before it (left truncation)."""
        if p not in self.active.columns:
            return float("nan")
        col = self.active[p]
        seen = col.notna()
        if skip_first and len(seen):
            seen = seen & (seen.index != self.active.index.min())
        denom = self.sizes[seen].sum()
        return float(col[seen].sum() / denom) if denom > 0 else float("nan")

    def curve(self, max_period: int | None = None) -> pd.Series:
        """Pooled retention by period since acquisition (see :meth:`retention_at`)."""
        cols = [p for p in self.active.columns if max_period is None or p <= max_period]
        return pd.Series({p: self.retention_at(p) for p in cols}, name="retention")


def _to_period(ts: pd.Series, period: str) -> pd.PeriodIndex:
    return pd.PeriodIndex(ts.dt.to_period(period))


def check_cohort_options(period: str, partial: str) -> None:
    """``ValueError`` unless ``period`` is one of :data:`PERIODS` and ``partial`` is ``"drop"``/``"flag"``."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {list(PERIODS)}, not {period!r}")
    if partial not in {"drop", "flag"}:
        raise ValueError(f"partial must be 'drop' or 'flag', not {partial!r}")


def activity_window(data_lo: pd.Timestamp, data_hi: pd.Timestamp, start: S.DateLike | None,
                    end: S.DateLike | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The inclusive days (``lo``, ``hi``) over which cohort activity is counted, for data covering
    ``data_lo`` .. ``data_hi`` (midnights): ``start``/``end`` default to the data's days. The data cannot
    show activity after its last day, so an ``end`` beyond it is clamped (those periods are NaN, not
    observed, rather than 0 %, and the last real period may become partial). ``ValueError`` when the
    window holds no transaction or ``start`` is after ``end``; ``SchemaError`` for an ambiguous date."""
    lo = data_lo if start is None else S.to_day(start, "start")
    hi = data_hi if end is None else S.to_day(end, "end")
    hi = min(hi, data_hi)
    if hi < data_lo or lo > data_hi:
        raise ValueError(
            f"the window {lo.date()} .. {hi.date()} holds no transactions (the data covers {data_lo.date()} .. {data_hi.date()})"
        )
    if hi < lo:
        raise ValueError(
            f"empty window: start {lo.date()} after end {hi.date()} (the data covers {data_lo.date()} .. {data_hi.date()})"
        )
    return lo, hi


def cohort_retention(
    tx: pd.DataFrame,
    period: str = "M",
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    partial: str = "drop",
) -> CohortTable:
    """Cohort x period-since-acquisition retention matrix.

    Parameters
    ----------
    tx : canonical transactions (``customer_id``, ``order_ts``) covering the full history used to
        assign cohorts.
    period : ``"M"`` (calendar months) or ``"W"`` (weeks starting Monday).
    start, end : inclusive analysis window (default: the data's first and last day). Activity outside
        it is not counted and its cells are NaN; cohorts still come from the full history.
    partial : what to do with a *trailing* calendar period that ends after ``end`` (e.g. a one-day stub
        of a new month): ``"drop"`` (its cells are NaN) or ``"flag"`` (kept and marked in ``partial``).
        A window starting mid-period is not treated as partial: period 0 is 100 % by definition.

    Returns
    -------
    :class:`CohortTable`; rows are the cohorts with at least one customer, columns ``0..P``.

    Raises
    ------
    ValueError : unknown ``period`` or ``partial``, empty window.
    """
    check_cohort_options(period, partial)
    S.require_columns(tx, (S.CUSTOMER_ID, S.ORDER_TS))
    S.require_non_empty(tx)
    ts = tx[S.ORDER_TS]
    lo, hi = activity_window(ts.min().normalize(), ts.max().normalize(), start, end)

    first = tx.groupby(S.CUSTOMER_ID)[S.ORDER_TS].min()
    cohort_of = _to_period(first, period)
    sizes = pd.Series(1, index=cohort_of).groupby(level=0).sum().sort_index()

    in_win = (ts >= lo) & (ts < hi + pd.Timedelta(days=1))
    w = tx.loc[in_win, [S.CUSTOMER_ID, S.ORDER_TS]]
    act_period = _to_period(w[S.ORDER_TS], period)
    cust_cohort = pd.Series(cohort_of, index=first.index)
    coh = pd.PeriodIndex(w[S.CUSTOMER_ID].map(cust_cohort).to_numpy(), freq=cohort_of.freq)
    offset = _period_offset(act_period, coh)
    pairs = pd.DataFrame({"cohort": coh, "p": offset, "c": w[S.CUSTOMER_ID].to_numpy()}).drop_duplicates()
    counts = pairs.groupby(["cohort", "p"]).size()
    return cohort_table_from_counts(sizes, counts, period, lo, hi, partial)


def cohort_table_from_counts(
    sizes: pd.Series, counts: pd.Series, period: str, lo: pd.Timestamp, hi: pd.Timestamp, partial: str = "drop"
) -> CohortTable:
    """Assemble a :class:`CohortTable` from counts (what :func:`cohort_retention` does after counting;
    the engines of :mod:`retention_utils.engines` count on DuckDB or Spark and finish here).

    Parameters
    ----------
    sizes : customers acquired per cohort, indexed by ``pandas.Period`` of ``period`` (int).
    counts : active customers, indexed by (cohort ``Period``, periods since acquisition ``int``).
    lo, hi : the observed window's first and last day (``hi`` already clamped to the data's last day).
    """
    sizes = sizes.sort_index()
    sizes.index.name = "cohort"
    cohort_freq = sizes.index.freq
    last_p = _period_offset(pd.PeriodIndex([hi], freq=cohort_freq), pd.PeriodIndex([sizes.index.min()]))[0]
    cols = list(range(int(last_p) + 1))
    active = pd.DataFrame(0.0, index=sizes.index, columns=cols)
    for (c, p), v in counts.items():
        active.loc[c, p] = v

    # which cells are observed, and which are partial
    lo_p = pd.Period(lo, freq=period)
    hi_p = pd.Period(hi, freq=period)
    hi_partial = hi < hi_p.end_time.normalize()
    cal = np.array([[c + p for p in cols] for c in sizes.index], dtype=object)
    observed = np.vectorize(lambda x: lo_p <= x <= hi_p)(cal)
    part = np.vectorize(lambda x: hi_partial and x == hi_p)(cal) & observed
    active = active.where(observed)
    partial_df = pd.DataFrame(part, index=sizes.index, columns=cols)
    if partial == "drop":
        active = active.mask(partial_df)
    retention = active.div(sizes.where(sizes > 0), axis=0)
    active.columns.name = retention.columns.name = partial_df.columns.name = "periods_since_acquisition"
    # trailing columns that are NaN for every cohort carry nothing
    observed_cols = [p for p in cols if active[p].notna().any()]
    keep = cols[: observed_cols[-1] + 1] if observed_cols else []
    return CohortTable(
        sizes=sizes,
        active=active[keep],
        retention=retention[keep],
        partial=partial_df[keep],
        period=period,
        window=(lo, hi),
    )


def _period_offset(later: pd.PeriodIndex, earlier: pd.PeriodIndex) -> np.ndarray:
    """Whole periods from ``earlier`` to ``later`` (element-wise, int)."""
    return np.asarray(later.asi8 - earlier.asi8, dtype=np.int64) if len(later) else np.zeros(0, np.int64)
