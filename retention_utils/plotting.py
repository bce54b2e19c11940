"""One figure style for every notebook, and the figures the notebooks share.

Every function draws on a new or given Axes and returns it; notebooks end the cell with ``plt.show()``.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .tables.cohorts import CohortTable


def set_style() -> None:
    """Seaborn's whitegrid theme with a fixed figure size and resolution (PNG output in reports)."""
    sns.set_theme(style="whitegrid", context="notebook", palette="deep")
    mpl.rcParams.update(
        {
            "figure.figsize": (9.0, 4.5),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.autolayout": True,
        }
    )


def _float_format(v: float) -> str:
    return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4f}"


def setup_notebook() -> None:
    """:func:`set_style` plus pandas display options: floats as ``1,234.57`` (>= 100) or ``0.1235``,
    wide tables, so every notebook prints numbers the same way."""
    set_style()
    pd.set_option("display.float_format", _float_format)
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 30)


def _ax(ax: plt.Axes | None, figsize: tuple[float, float] | None = None) -> plt.Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def activity_over_time(activity: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Revenue (bars, left axis) and orders (line, right axis) per period from
    :func:`retention_utils.tables.eda.activity_by_period`; partial periods are hatched."""
    ax = _ax(ax)
    x = activity.index
    width = (x[1] - x[0]) * 0.8 if len(x) > 1 else pd.Timedelta(days=5)
    colors = ["#c9c9c9" if p else "#4c72b0" for p in activity["partial"]]
    ax.bar(x, activity["revenue"], width=width, color=colors, label="revenue")
    ax.set_ylabel("revenue")
    ax.yaxis.set_major_formatter(mpl.ticker.StrMethodFormatter("{x:,.0f}"))
    ax2 = ax.twinx()
    ax2.plot(x, activity["orders"], color="#dd8452", marker=".", label="orders")
    ax2.set_ylabel("orders")
    ax2.grid(False)
    ax.set_title(title or "Revenue and orders per period (grey: partial period)")
    return ax


def distribution(
    values: pd.Series | np.ndarray,
    ax: plt.Axes | None = None,
    title: str = "",
    xlabel: str = "",
    clip_quantile: float | None = 0.99,
    bins: int = 50,
    discrete: bool = False,
) -> plt.Axes:
    """Histogram of ``values``, clipped at a quantile (the clip is stated in the title), with the
    median marked."""
    ax = _ax(ax)
    v = pd.Series(np.asarray(values, dtype="float64")).dropna()
    note = ""
    if clip_quantile is not None and len(v):
        hi = v.quantile(clip_quantile)
        n_out = int((v > hi).sum())
        v = v[v <= hi]
        note = f" (values above the {clip_quantile:.0%} quantile, {n_out:,}, not shown)" if n_out else ""
    sns.histplot(v, bins=None if discrete else bins, discrete=discrete, ax=ax, color="#4c72b0")
    med = float(np.median(v)) if len(v) else float("nan")
    ax.axvline(med, color="#c44e52", ls="--", lw=1.2, label=f"median {med:,.1f}")
    ax.legend(loc="upper right")
    ax.set_xlabel(xlabel)
    ax.set_title((title or "Distribution") + note, fontsize=10)
    return ax


def cohort_heatmap(table: CohortTable, ax: plt.Axes | None = None, max_periods: int | None = None) -> plt.Axes:
    """Heatmap of cohort retention (rows: acquisition cohort with its size; columns: periods since
    acquisition); unobserved cells blank."""
    ret = table.retention
    if max_periods is not None:
        ret = ret.loc[:, [c for c in ret.columns if c <= max_periods]]
    ax = _ax(ax, figsize=(min(1.0 + 0.6 * ret.shape[1], 14), max(3.0, 0.4 * ret.shape[0] + 1)))
    labels = [f"{c} (n={n:,})" for c, n in table.sizes.items()]
    sns.heatmap(
        ret * 100, ax=ax, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100,
        cbar_kws={"label": "% of cohort active"}, yticklabels=labels, annot_kws={"fontsize": 8},
    )
    unit = {"M": "months", "W": "weeks"}[table.period]
    ax.grid(False)
    ax.set_xlabel(f"{unit} since first order")
    ax.set_ylabel("acquisition cohort")
    ax.set_title("Cohort retention (% of each cohort active in the period)")
    return ax


def retention_curve(curve: pd.Series, ax: plt.Axes | None = None, unit: str = "months") -> plt.Axes:
    """Pooled retention by period since acquisition (:meth:`CohortTable.curve`)."""
    ax = _ax(ax)
    ax.plot(curve.index, curve.to_numpy() * 100, marker="o")
    ax.set_ylim(0, 105)
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(f"{unit} since first order")
    ax.set_ylabel("% of acquired customers active")
    ax.set_title("Pooled retention curve")
    return ax


def share_bars(shares: pd.Series, ax: plt.Axes | None = None, title: str = "", top: int = 15) -> plt.Axes:
    """Horizontal bars of the ``top`` largest shares (fractions), labelled in percent."""
    s = shares.sort_values(ascending=False).head(top)[::-1]
    ax = _ax(ax, figsize=(9.0, 0.35 * len(s) + 1.2))
    ax.barh([str(i) for i in s.index], s.to_numpy() * 100, color="#4c72b0")
    for y, v in enumerate(s.to_numpy()):
        ax.text(v * 100, y, f" {v:.1%}", va="center", fontsize=8)
    ax.set_xlabel("% share")
    ax.set_title(title)
    return ax


# ------------------------------------------------------------------------------------------------
# decisions: the retention playbook (notebook 08)
# ------------------------------------------------------------------------------------------------


def playbook_gains(curve: pd.DataFrame, points: pd.DataFrame | None = None, budget: int | None = None,
                   ax: plt.Axes | None = None) -> plt.Axes:
    """Gains curves of the backtest: share of the value lost (y, %) captured by the first k customers of
    each ranking (x = k), from :func:`retention_utils.decisions.backtest.gains_curve` (index
    ``list_size``, one column per ranking; ``random`` drawn dashed). ``points``: realised lists at the
    budget (index = name; ``customers``, ``value_captured``) drawn as markers; ``budget``: a vertical
    line."""
    ax = _ax(ax, (9.0, 5.0))
    x = curve.index.to_numpy()
    for col in curve.columns:
        style = {"ls": "--", "color": "grey", "lw": 1} if col == "random" else {"lw": 2 if col.startswith("playbook") else 1.3}
        ax.plot(x, curve[col].to_numpy() * 100, label=col, **style)
    if points is not None:
        for (name, r), m in zip(points.iterrows(), ["o", "s", "D", "^", "v"], strict=False):
            ax.plot(r["customers"], r["value_captured"] * 100, marker=m, ls="none", ms=8, label=f"{name} (at budget)")
    if budget is not None:
        ax.axvline(budget, color="#c44e52", ls=":", lw=1)
    ax.set_xlabel("customers contacted (first k of each ranking)")
    ax.set_ylabel("% of the value lost captured")
    ax.set_title("Value lost in the horizon, captured by each list")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def department_forecasts(weekly: pd.DataFrame, forecast: pd.DataFrame, naive: pd.DataFrame | None = None,
                         actual: pd.DataFrame | None = None, departments: list[str] | None = None,
                         ncols: int = 3) -> plt.Figure:
    """One panel per department: weekly revenue (history), the ETS forecast, the seasonal-naive
    forecast (dashed) and, when given, the actual weeks of the forecast period."""
    depts = list(departments or forecast.columns)
    nrows = int(np.ceil(len(depts) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False, sharex=True)
    for ax, d in zip(axes.ravel(), depts, strict=False):
        ax.plot(weekly.index, weekly[d], color="#4c72b0", lw=1.2, label="history")
        if actual is not None:
            ax.plot(actual.index, actual[d], color="black", lw=1.2, label="actual")
        ax.plot(forecast.index, forecast[d], color="#dd8452", lw=2, label="ETS")
        if naive is not None:
            ax.plot(naive.index, naive[d], color="grey", ls="--", lw=1, label="seasonal naive")
        ax.set_title(d, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for ax in axes.ravel()[len(depts):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    fig.supylabel("weekly revenue")
    return fig


def reliability(table: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Reliability diagram from a calibration table (``mean_predicted``, ``observed_rate``; e.g.
    :func:`retention_utils.models.prediction.calibration_table`) with the diagonal."""
    ax = _ax(ax, (5.0, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1)
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", color="#4c72b0")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability (bins of equal count)")
    ax.set_ylabel("observed rate")
    ax.set_title(title)
    return ax
