"""Seasonal scenario: weekly department revenue, its forecast, the departments whose demand rises,
and the customers most drawn to them.

Weeks
-----
Weeks end on the as-of day ``A``: week 0 is ``[A - 6, A]``, week 1 the seven days before, and so on;
only full weeks on or after the first day of the data are kept (:func:`weekly_department_revenue`).
Forecast week ``j`` (1-based) is ``[A + 7(j - 1) + 1, A + 7j]``.

Forecasts and their error
-------------------------
* **seasonal naive** (the baseline): ``y(T + j) = y(T + j - m * ceil(j / m))`` with season length
  ``m`` weeks (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., 5.2).
* **ETS** (statsmodels ``ETSModel``, maximum likelihood; Hyndman et al. 2008): additive errors, no
  trend (ANN) or an additive damped trend (AAdN), plus an additive season of ``m`` weeks when the
  history holds at least two full seasons; the form with the lowest AICc is kept per department.
* **MASE** (Hyndman & Koehler 2006): mean absolute forecast error over the ``h`` weeks divided by the
  in-sample mean absolute error of the seasonal naive one-step forecast ``|y(t) - y(t - m)|`` on the
  training weeks; reported per department and averaged over departments (as in the M4 competition).

**One year of data.** A 52-week season needs at least 53 weeks for the MASE scale and two years for
a seasonal ETS; a log of one year (The Complete Journey: 52 weeks) cannot estimate a yearly pattern,
and at an as-of date inside that year the weeks ahead have no "same week last year" at all.
:func:`check_season_length` refuses such an ``m`` with a message naming ``SEASON_LENGTH_WEEKS``; with
``m = 1`` the seasonal naive is the naive forecast (last week's revenue), the honest baseline for one
year, and holiday weeks are only marked (:func:`holiday_weeks`), never given an estimated effect.

Rising departments and affinity
-------------------------------
A department rises when its mean forecast over the ``h`` weeks is at least ``min_growth`` above its
mean revenue of the last ``h`` weeks (``growth = forecast mean / recent mean - 1``). A customer's
``seasonal_affinity`` is the share of their spend of the last ``affinity_weeks`` weeks in the rising
departments; ``seasonal_value`` = sum over rising departments of (their mean weekly spend there) x
growth x ``h``: the extra spend over the forecast horizon if they follow their departments' rise
(currency).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schema as S
from ..schema import DAY, DateLike
from .scenarios import PlaybookError

WEEK = pd.Timedelta(days=7)


def _departments(tx: pd.DataFrame, products: pd.DataFrame) -> pd.Series:
    if products is None or S.DEPARTMENT not in products:
        raise PlaybookError("the seasonal scenario needs a product table with a 'department' column")
    if S.DEPARTMENT in tx:
        return tx[S.DEPARTMENT]
    return tx[S.PRODUCT_ID].map(products.drop_duplicates(S.PRODUCT_ID).set_index(S.PRODUCT_ID)[S.DEPARTMENT])


def weekly_department_revenue(tx_known: pd.DataFrame, products: pd.DataFrame, as_of: DateLike,
                              n_departments: int = 10, until: DateLike | None = None) -> pd.DataFrame:
    """Revenue per full week (rows, index ``week_start``, oldest first) and department (columns: the
    ``n_departments`` with the most revenue up to ``as_of``, largest first; ties by name), weeks ending
    on ``as_of`` (module docstring). With ``until`` (after ``as_of``), weeks after ``as_of`` up to the
    last full one ending by ``until`` are added, for scoring a forecast. ``attrs["covered_share"]`` =
    the share of revenue up to ``as_of`` in the kept departments. Raises :class:`PlaybookError`
    without departments or with fewer than 4 full weeks."""
    a = S.to_day(as_of, "as_of")
    dept = _departments(tx_known, products).fillna("(unknown product)")
    day = tx_known[S.ORDER_TS].dt.normalize()
    # one sum per (day, department) in the lines' order (canonical when prepared), then weeks of days
    daily = tx_known[S.REVENUE].groupby([day.rename("day"), dept.rename("_d")], sort=True).sum().reset_index()
    first = day.min()
    before = daily["day"] <= a
    tot = daily[before].groupby("_d")[S.REVENUE].sum().reset_index().sort_values([S.REVENUE, "_d"], ascending=[False, True])
    keep = [d for d in tot["_d"] if d != "(unknown product)"][: int(n_departments)]
    n_back = int((a - first).days + 1) // 7
    n_fwd = 0 if until is None else int((S.to_day(until, "until") - a).days) // 7
    if n_back < 4:
        raise PlaybookError(f"only {n_back} full week(s) of data end on {a.date()}; the seasonal forecast needs at least 4")
    dd = daily["day"]
    week = np.where(dd <= a, -((a - dd).dt.days // 7), ((dd - a).dt.days - 1) // 7 + 1)
    mask = (week > -n_back) & (week <= n_fwd) & daily["_d"].isin(keep).to_numpy()
    rows = daily[mask].assign(_w=week[mask])
    table = rows.pivot_table(index="_w", columns="_d", values=S.REVENUE, aggfunc="sum", fill_value=0.0)
    idx = np.arange(-n_back + 1, n_fwd + 1)
    table = table.reindex(index=idx, columns=keep, fill_value=0.0).astype("float64")
    table.index = pd.DatetimeIndex([a - 6 * DAY + int(w) * WEEK for w in idx], name="week_start")
    table.columns.name = S.DEPARTMENT
    table.attrs["covered_share"] = float(tot.loc[tot["_d"].isin(keep), S.REVENUE].sum() / tot[S.REVENUE].sum())
    return table


def check_season_length(n_weeks: int, m: int) -> None:
    """Raise :class:`PlaybookError` unless ``m >= 1`` and the history of ``n_weeks`` weeks holds
    ``m + 1`` weeks at least (needed for the MASE scale; module docstring)."""
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise PlaybookError(f"SEASON_LENGTH_WEEKS must be a whole number >= 1, got {m!r}")
    if n_weeks < m + 2:
        raise PlaybookError(
            f"SEASON_LENGTH_WEEKS = {m} needs at least {m + 2} weeks of history before the forecast origin "
            f"(the seasonal naive scale compares each week with the week {m} weeks earlier); there are {n_weeks}. "
            "A yearly season (52) cannot be estimated from one year of data: use SEASON_LENGTH_WEEKS = 1 (naive)")


def seasonal_naive(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """Seasonal naive forecast of ``h`` steps from the history ``y`` (module docstring)."""
    y = np.asarray(y, dtype="float64")
    j = np.arange(1, h + 1)
    return y[len(y) + j - m * np.ceil(j / m).astype(int) - 1]


def mase_scale(y: np.ndarray, m: int) -> float:
    """In-sample mean absolute error of the seasonal naive one-step forecast, ``mean |y_t - y_{t-m}|``."""
    y = np.asarray(y, dtype="float64")
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error; NaN when the scale is 0 (a constant history)."""
    err = float(np.mean(np.abs(np.asarray(actual, dtype="float64") - np.asarray(forecast, dtype="float64"))))
    return err / scale if scale > 0 else float("nan")


def ets_forecast(y: np.ndarray, h: int, m: int = 1) -> tuple[np.ndarray, str, int]:
    """``(forecast, form, n_warnings)``: the ETS form with the lowest AICc (module docstring) fitted on
    ``y`` and its ``h``-step forecast; ``n_warnings`` counts statsmodels' convergence warnings (the fit
    is kept, and the count is reported by :func:`backtest`)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = np.asarray(y, dtype="float64")
    forms = [("ANN", {}), ("AAdN", {"trend": "add", "damped_trend": True})]
    if m > 1 and len(y) >= 2 * m:
        forms += [(f"ANA({m})", {"seasonal": "add", "seasonal_periods": m}),
                  (f"AAdA({m})", {"trend": "add", "damped_trend": True, "seasonal": "add", "seasonal_periods": m})]
    best, n_warn = None, 0
    for name, kw in forms:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = ETSModel(y, error="add", **kw).fit(disp=False)
        n_warn += sum(1 for w in caught if "converge" in str(w.message).lower())
        if np.isfinite(res.aicc) and (best is None or res.aicc < best[1].aicc - 1e-9):
            best = (name, res)
    if best is None:
        return seasonal_naive(y, h, 1), "naive (no ETS form fitted)", n_warn
    return np.asarray(best[1].forecast(h), dtype="float64"), best[0], n_warn


@dataclass
class Forecast:
    """Result of :func:`forecast_departments`: ``table`` (rows = forecast weeks with ``week_start``;
    columns = departments) for ETS and for the seasonal naive (``naive``), the ETS ``forms`` chosen per
    department, ``growth`` (Series per department; module docstring), ``recent`` mean weekly revenue of
    the last ``h`` weeks, ``h`` and ``m``."""

    table: pd.DataFrame
    naive: pd.DataFrame
    forms: pd.Series
    growth: pd.Series
    recent: pd.Series
    h: int
    m: int
    n_warnings: int


def forecast_departments(weekly: pd.DataFrame, h: int, m: int = 1) -> Forecast:
    """ETS and seasonal-naive forecasts of every department of ``weekly`` (history only) ``h`` weeks
    ahead; :func:`check_season_length` first."""
    check_season_length(len(weekly), m)
    start = weekly.index[-1] + WEEK
    idx = pd.DatetimeIndex([start + j * WEEK for j in range(h)], name="week_start")
    fc, nv, forms, n_warn = {}, {}, {}, 0
    for d in weekly.columns:
        y = weekly[d].to_numpy()
        fc[d], forms[d], w = ets_forecast(y, h, m)
        nv[d] = seasonal_naive(y, h, m)
        n_warn += w
    table = pd.DataFrame(fc, index=idx)[list(weekly.columns)]
    recent = weekly.iloc[-h:].mean()
    growth = (table.mean() / recent.where(recent > 0) - 1.0).rename("growth")
    return Forecast(table, pd.DataFrame(nv, index=idx)[list(weekly.columns)], pd.Series(forms, name="form"), growth,
                    recent.rename("recent_weekly_revenue"), int(h), int(m), n_warn)


def backtest(weekly_full: pd.DataFrame, origins: list[int], h: int, m: int = 1) -> pd.DataFrame:
    """Forecast error at each origin: ``origins`` are numbers of history weeks (rows of
    ``weekly_full`` before the origin); the next ``h`` rows are the actuals. Returns one row per
    (``origin`` week_start of the first forecast week, ``department``) with ``mase_ets``,
    ``mase_naive``, ``mae_ets``, ``mae_naive``, ``scale`` and the ETS ``form``. Raises
    :class:`PlaybookError` when an origin leaves fewer than ``h`` actual weeks."""
    rows = []
    for o in origins:
        if o + h > len(weekly_full):
            raise PlaybookError(f"backtest origin after week {o}: only {len(weekly_full) - o} of {h} actual weeks")
        hist, act = weekly_full.iloc[:o], weekly_full.iloc[o:o + h]
        f = forecast_departments(hist, h, m)
        for d in weekly_full.columns:
            scale = mase_scale(hist[d].to_numpy(), m)
            a = act[d].to_numpy()
            rows.append({"origin": act.index[0], S.DEPARTMENT: d, "form": f.forms[d],
                         "mae_ets": float(np.mean(np.abs(a - f.table[d].to_numpy()))),
                         "mae_naive": float(np.mean(np.abs(a - f.naive[d].to_numpy()))), "scale": scale,
                         "mase_ets": mase(a, f.table[d].to_numpy(), scale), "mase_naive": mase(a, f.naive[d].to_numpy(), scale)})
    return pd.DataFrame(rows)


def forecast_skill(weekly: pd.DataFrame, h: int, m: int = 1, n_origins: int = 2) -> pd.DataFrame:
    """Whether ETS beat the seasonal naive on the history itself: :func:`backtest` at the rolling origins
    ``len(weekly) - k * h`` (``k = n_origins .. 1``, each with ``h`` actual weeks inside ``weekly``, and
    at least ``max(8, m + 2)`` history weeks), averaged per department. Returns ``mase_ets``,
    ``mase_naive`` (means over the origins), ``origins`` (int) and ``skilled`` (bool: ETS's mean MASE
    below the naive's), indexed by department; empty when no origin fits. Uses only ``weekly``, so at
    an as-of day it sees nothing after it. Source: rolling-origin evaluation (Tashman 2000, Int. J.
    Forecasting 16:437), MASE (Hyndman & Koehler 2006)."""
    n = len(weekly)
    origins = [n - k * h for k in range(int(n_origins), 0, -1) if n - k * h >= max(8, m + 2)]
    cols = ["mase_ets", "mase_naive", "origins", "skilled"]
    if not origins:
        return pd.DataFrame(columns=cols, index=pd.Index([], name=S.DEPARTMENT))
    by = backtest(weekly, origins, h, m).groupby(S.DEPARTMENT, sort=True)[["mase_ets", "mase_naive"]].mean()
    by["origins"] = len(origins)
    by["skilled"] = by["mase_ets"] < by["mase_naive"]
    return by[cols]


def rising_departments(fc: Forecast, min_growth: float = 0.02) -> pd.Series:
    """Growth of the departments whose forecast rises by at least ``min_growth`` (largest first; ties
    by name); empty when none does."""
    g = fc.growth.dropna()
    g = g[g >= min_growth]
    return g.reset_index().sort_values(["growth", g.index.name or "index"], ascending=[False, True]).set_index(
        g.index.name or "index")["growth"] if len(g) else g


def customer_affinity(tx_known: pd.DataFrame, products: pd.DataFrame, as_of: DateLike, rising: pd.Series,
                      h: int, affinity_weeks: int = 13) -> pd.DataFrame:
    """Per customer with spend in the last ``affinity_weeks`` weeks up to ``as_of``: ``recent_spend``,
    ``seasonal_affinity``, ``seasonal_value`` (module docstring), ``top_department`` (the rising
    department with the customer's largest spend) and its ``top_department_share`` and ``lift`` (the
    customer's share over the population's share there). Empty (same columns) when nothing rises."""
    a = S.to_day(as_of, "as_of")
    t = tx_known[tx_known[S.ORDER_TS] >= a + DAY - pd.Timedelta(weeks=int(affinity_weeks))]
    cols = ["recent_spend", "seasonal_affinity", "seasonal_value", "top_department", "top_department_share", "lift"]
    if len(rising) == 0 or t.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name=S.CUSTOMER_ID))
    dept = _departments(t, products).fillna("(unknown product)")
    spend = t[S.REVENUE].groupby([t[S.CUSTOMER_ID], dept.rename("_d")], sort=True).sum().unstack(fill_value=0.0)
    total = spend.sum(axis=1)
    r = [d for d in rising.index if d in spend.columns]
    sub = spend.reindex(columns=r, fill_value=0.0)
    weekly = sub / float(affinity_weeks)
    out = pd.DataFrame(index=spend.index)
    out["recent_spend"] = total
    out["seasonal_affinity"] = (sub.sum(axis=1) / total.where(total > 0)).fillna(0.0)
    out["seasonal_value"] = (weekly * rising.reindex(r).to_numpy()).sum(axis=1) * int(h)
    if r:
        top = sub.to_numpy().argmax(axis=1)
        out["top_department"] = np.array(r, dtype=object)[top]
        share = sub.to_numpy()[np.arange(len(sub)), top] / total.where(total > 0).to_numpy()
        out["top_department_share"] = np.nan_to_num(share)
        pop = sub.sum() / total.sum()
        out["lift"] = out["top_department_share"] / out["top_department"].map(pop).astype("float64")
        out.loc[sub.sum(axis=1) <= 0, ["top_department", "top_department_share", "lift"]] = [None, 0.0, 0.0]
    out.index.name = S.CUSTOMER_ID
    return out[cols]


def holiday_weeks(week_starts: pd.DatetimeIndex, calendar: str = "US") -> pd.Series:
    """Names of the public holidays in each week (``", "``-joined; empty string for none), from
    pandas' ``USFederalHolidayCalendar`` (``calendar="US"``) or none (``calendar=""``). Marks weeks
    only: with one year of data no holiday effect is estimated (module docstring)."""
    out = pd.Series("", index=week_starts, name="holidays")
    if not calendar or len(week_starts) == 0:
        return out
    if calendar != "US":
        raise PlaybookError(f"HOLIDAY_CALENDAR must be 'US' or '' (none), got {calendar!r}")
    from pandas.tseries.holiday import USFederalHolidayCalendar

    cal = USFederalHolidayCalendar()
    for ws in week_starts:
        names = [r.name for r in cal.rules for d in r.dates(ws, ws + 6 * DAY)]
        out[ws] = ", ".join(sorted(set(names)))
    return out


def n_forecast_weeks(days: int) -> int:
    """Whole weeks in ``days`` days (at least 1)."""
    return max(1, math.floor(int(days) / 7))
