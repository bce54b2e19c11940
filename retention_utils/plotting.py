"""One figure style for every notebook, and the figures the notebooks share.

Every function draws on a new or given Axes and returns it; notebooks end the cell with ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import formatting as F
from .runtime import thread_limits
from .scoring import calibration_table, lift_table
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


def setup_notebook() -> None:
    """:func:`set_style` plus pandas display options: floats by the one formatting rule
    (:mod:`retention_utils.formatting`, 4 significant digits; tables shown through
    :func:`retention_utils.formatting.table` get one number of decimals per column), wide tables."""
    set_style()
    pd.set_option("display.float_format", F.pandas_float_format)
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
    """Histogram of ``values`` with the median of **all** values marked; the axis stops at a quantile
    (``clip_quantile``; the values beyond it are counted in the title). Statistics are computed on the
    data, the clip only limits what is drawn."""
    ax = _ax(ax)
    v = pd.Series(np.asarray(values, dtype="float64")).dropna()
    med = float(np.median(v)) if len(v) else float("nan")
    note = ""
    shown = v
    if clip_quantile is not None and len(v):
        hi = v.quantile(clip_quantile)
        n_out = int((v > hi).sum())
        shown = v[v <= hi]
        note = f" (values above the {clip_quantile:.0%} quantile, {n_out:,}, not shown)" if n_out else ""
    sns.histplot(shown, bins=None if discrete else bins, discrete=discrete, ax=ax, color="#4c72b0")
    ax.axvline(med, color="#c44e52", ls="--", lw=1.2, label=f"median {F.number(med)}")
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
    with thread_limits(1):  # many small predict_proba calls: OpenMP workers only spin on a busy machine
        PartialDependenceDisplay.from_estimator(model, X, list(features), kind="average", grid_resolution=20,
                                                percentiles=(0.05, 0.95), response_method="predict_proba",
                                                method="brute", random_state=seed, ax=axes[0])
    for ax in axes[0]:
        ax.set_ylabel("P(repurchase)" if ax is axes[0][0] else "")
    fig.suptitle("Partial dependence (test cutoff)")
    return fig


def plot_km(fitted: Mapping[str, Any], ax: Any = None, ci: bool = True, title: str = "", xlabel: str = "days"):
    """Survival curves with their confidence bands (lifelines ``plot_survival_function``) on one Axes;
    returns the Axes. ``fitted`` maps label to a fitted ``KaplanMeierFitter``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    for kmf in fitted.values():
        kmf.plot_survival_function(ax=ax, ci_show=ci, ci_alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share not churned")
    ax.set_title(title)
    return ax


def plot_holdout_by_frequency(table: pd.DataFrame, ax: Any = None, unit_label: str = "") -> Any:
    """Actual and predicted mean holdout purchases by calibration-frequency group
    (:func:`holdout_by_frequency`), FHL (2005a) Figure 4 style. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(table))
    ax.plot(x, table["actual"], marker="o", color="black", lw=2, label="actual")
    styles = ["--", ":", "-."]
    for i, c in enumerate(c for c in table.columns if c not in ("customers", "actual")):
        ax.plot(x, table[c], marker=".", ls=styles[i % len(styles)], label=c)
    ax.set_xticks(x, table.index.astype(str))
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel(f"mean purchases in the holdout{unit_label}")
    ax.set_title("Holdout purchases by calibration frequency")


def plot_tracking(tracking: pd.DataFrame, axes: Any = None, model_label: str = "model") -> Any:
    """Cumulative (left) and per-step (right) repeat purchases of the cohort, actual against expected
    (:func:`repeat_purchase_tracking`), with the end of calibration marked. Steps shorter than the
    usual step are left out of the right panel. Returns the two Axes."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    cal_end = tracking.index[~tracking["holdout"]].max()
    full = tracking["days"] == tracking["days"].max()
    for ax, (a, e, title) in zip(
        axes,
        [("actual_cumulative", "expected_cumulative", "Cumulative repeat purchases"),
         ("actual", "expected", f"Repeat purchases per {int(tracking['days'].max())} days")],
        strict=True,
    ):
        d = tracking if a == "actual_cumulative" else tracking[full]
        ax.plot(d.index, d[a], color="black", lw=2, label="actual")
        ax.plot(d.index, d[e], ls="--", color="#dd8452", lw=2, label=f"expected ({model_label})")
        ax.axvline(cal_end, color="grey", ls=":", lw=1.5)
        ax.annotate("end of calibration", (cal_end, 0.98), xycoords=("data", "axes fraction"), va="top",
                    xytext=(4, 0), textcoords="offset points", fontsize=8, color="grey")
        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left" if a == "actual_cumulative" else "best")
    return axes


def gap_histograms(gaps: pd.Series, longest: pd.Series, tau: float) -> Any:
    """Two histograms on a log count scale: all gaps between purchase days and each repeat customer's
    longest gap (days), with the churn threshold ``tau`` marked (notebook 05). Returns the axes."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharex=True)
    bins = np.arange(0, max(float(gaps.max()) if len(gaps) else 0.0, tau) + 8, 7)
    for ax, values, title in [(axes[0], gaps, "all gaps between purchase days"),
                              (axes[1], longest, "each repeat customer's longest gap")]:
        ax.hist(values, bins=bins, color="#4c72b0")
        ax.axvline(tau, color="#c44e52", ls="--", label=f"tau = {F.number(tau)} days")
        ax.set_yscale("log")
        ax.set_xlabel("days")
        ax.set_title(title)
        ax.legend()
    axes[0].set_ylabel("count (log scale)")
    return axes


def survival_calibration(calibrations: Mapping[str, pd.DataFrame], horizon: float) -> Any:
    """Predicted against observed (Kaplan-Meier, 95 % band) survival at ``horizon`` by risk group, one
    panel per model; tables from :func:`retention_utils.models.survival.calibration_at_horizon`."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(calibrations), figsize=(6 * len(calibrations), 4.8), sharey=True, squeeze=False)
    for ax, (name, cal) in zip(axes[0], calibrations.items(), strict=True):
        yerr = np.vstack([cal["observed"] - cal["observed_lower"], cal["observed_upper"] - cal["observed"]])
        ax.errorbar(cal["predicted"], cal["observed"], yerr=yerr, fmt="o", capsize=3, label="risk group (KM, 95 % band)")
        lo = float(min(cal["predicted"].min(), cal["observed_lower"].min())) - 0.02
        ax.plot([lo, 1], [lo, 1], ls="--", color="grey", label="perfect calibration")
        ax.set_xlabel(f"predicted share not churned at {F.number(horizon)} days")
        ax.set_title(name)
        ax.legend(loc="upper left", fontsize=8)
    axes[0, 0].set_ylabel("observed share not churned (Kaplan-Meier)")
    return axes[0]


def clv_distributions(values: pd.DataFrame, horizon_months: int) -> Any:
    """P(alive) and CLV histograms on a log count scale (notebook 06); CLV above its 99th percentile is
    drawn at that percentile (said on the axis). ``values`` has ``p_alive`` and ``clv``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    axes[0].hist(values["p_alive"], bins=np.linspace(0, 1, 41), color="#4c72b0")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("P(alive)")
    axes[0].set_ylabel("customers (log scale)")
    axes[0].set_title("P(alive) at the end of the data")
    top = float(values["clv"].quantile(0.99))
    axes[1].hist(values["clv"].clip(upper=top), bins=40, color="#dd8452")
    axes[1].set_yscale("log")
    axes[1].set_xlabel(f"{horizon_months}-month CLV (values above the 99th percentile, {F.number(top)}, shown at it)")
    axes[1].set_ylabel("customers (log scale)")
    axes[1].set_title("Customer lifetime value")
    return axes


def paired_share_bars(table: pd.DataFrame, left: str, right: str, left_label: str, right_label: str,
                      left_title: str, right_title: str) -> Any:
    """Two horizontal bar charts sharing the row labels of ``table`` (first row on top): ``table[left]``
    and ``table[right]``, shares in [0, 1] drawn as percentages (segment size and revenue share, low
    P(alive) and CLV share by segment)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    order = table.index.astype(str)[::-1]
    for ax, col, label, title, color in [(axes[0], left, left_label, left_title, "#4c72b0"),
                                         (axes[1], right, right_label, right_title, "#dd8452")]:
        ax.barh(order, table[col].to_numpy(dtype="float64")[::-1] * 100, color=color)
        ax.set_xlabel(label)
        ax.set_title(title)
    return axes


def metric_with_intervals(panels: Mapping[str, pd.DataFrame], metric: str = "ndcg", k: int = 10,
                          baseline: str | None = None) -> Any:
    """One panel per protocol: ``metric`` at ``k`` per model with its bootstrap interval
    (``<metric>_low``/``<metric>_high``), the ``baseline`` model highlighted and marked by a dashed
    line (notebook 07; tables from :func:`retention_utils.recommend.protocol.results_table`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5.2), sharey=True, squeeze=False)
    for ax, (title, tab) in zip(axes[0], panels.items(), strict=True):
        t = tab[tab["k"] == k].iloc[::-1]
        y = np.arange(len(t))
        colors = ["#dd8452" if m == baseline else "#4c72b0" for m in t["model"]]
        ax.barh(y, t[metric], color=colors, alpha=0.85)
        ax.errorbar(t[metric], y, xerr=[t[metric] - t[f"{metric}_low"], t[f"{metric}_high"] - t[metric]],
                    fmt="none", ecolor="black", capsize=3)
        if baseline is not None and (t["model"] == baseline).any():
            ax.axvline(float(t.loc[t["model"] == baseline, metric].iloc[0]), ls="--", color="#dd8452", lw=1)
        ax.set_yticks(y, t["model"])
        ax.set_xlabel(f"{metric.upper()}@{k} (95 % bootstrap interval)")
        ax.set_title(title)
    return axes[0]


# ------------------------------------------------------------------------------------------------
# campaign effects (retention_utils.causal, notebook 09)
# ------------------------------------------------------------------------------------------------


def propensity_overlap(propensity: pd.Series, treated: pd.Series, trim: float, ax: plt.Axes | None = None,
                       title: str = "") -> plt.Axes:
    """Histograms of the propensity score of treated and control rows (density, 40 bins on [0, 1]) with
    the trimming bounds ``trim`` and ``1 - trim`` as dashed lines."""
    ax = _ax(ax)
    bins = np.linspace(0, 1, 41)
    t = np.asarray(treated).astype(bool)
    p = np.asarray(propensity, dtype="float64")
    ax.hist(p[~t], bins=bins, alpha=0.55, density=True, label=f"control (n={int((~t).sum()):,})")
    ax.hist(p[t], bins=bins, alpha=0.55, density=True, label=f"treated (n={int(t.sum()):,})")
    for b in (trim, 1 - trim):
        ax.axvline(b, color="black", ls="--", lw=1)
    ax.set_xlabel("propensity score P(treated | pre-period covariates)")
    ax.set_ylabel("density")
    ax.set_title(title or "Overlap of propensity scores")
    ax.legend()
    return ax


def balance_plot(balance: pd.DataFrame, ax: plt.Axes | None = None, title: str = "") -> plt.Axes:
    """Standardised mean differences before and after weighting (columns ``smd_before``, ``smd_after``;
    index: covariates), with the usual 0.1 threshold."""
    b = balance.iloc[::-1]
    ax = _ax(ax, figsize=(8.0, 0.28 * len(b) + 1.5))
    y = np.arange(len(b))
    ax.scatter(b["smd_before"], y, marker="o", label="before (all rows)")
    ax.scatter(b["smd_after"], y, marker="x", label="after trimming and weighting")
    for v in (-0.1, 0.1):
        ax.axvline(v, color="grey", ls="--", lw=1)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [str(i) for i in b.index], fontsize=8)
    ax.set_xlabel("standardised mean difference (treated - control)")
    ax.set_title(title or "Covariate balance")
    ax.legend(loc="lower right", fontsize=8)
    return ax


def effects_forest(table: pd.DataFrame, ax: plt.Axes | None = None, title: str = "", xlabel: str = "") -> plt.Axes:
    """Point estimates with confidence intervals (columns ``estimate``, ``ci_low``, ``ci_high``; index =
    labels, drawn top to bottom) and a line at 0."""
    t = table.iloc[::-1]
    ax = _ax(ax, figsize=(8.0, 0.4 * len(t) + 1.5))
    y = np.arange(len(t))
    ax.errorbar(t["estimate"], y, xerr=[t["estimate"] - t["ci_low"], t["ci_high"] - t["estimate"]], fmt="o", capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [str(i) for i in t.index], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return ax


def event_study(es: pd.DataFrame, ax: plt.Axes | None = None, title: str = "", ylabel: str = "") -> plt.Axes:
    """Event-study plot: ATT by week relative to the first campaign week (index; columns ``att``,
    ``ci_low``, ``ci_high``) with pointwise intervals, 0 line, and the campaign start marked."""
    ax = _ax(ax)
    x = es.index.to_numpy()
    ok = es["ci_low"].notna().to_numpy()
    ax.fill_between(x[ok], es["ci_low"].to_numpy()[ok], es["ci_high"].to_numpy()[ok], alpha=0.25)
    ax.plot(x, es["att"], marker="o")
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(-0.5, color="grey", ls="--", lw=1)
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("weeks relative to the first campaign week (-1 = reference)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return ax


def qini_curves(curves: dict[str, pd.DataFrame], ax: plt.Axes | None = None, title: str = "", ylabel: str = "",
                budget_share: float | None = None) -> plt.Axes:
    """Qini curves (:func:`retention_utils.causal.uplift.qini_curve`: ``share`` against ``incremental``)
    of several rankings, with the random line and an optional budget marker."""
    ax = _ax(ax)
    for name, c in curves.items():
        ax.plot(c["share"] * 100, c["incremental"], label=name)
    c0 = next(iter(curves.values()))
    ax.plot([0, 100], [0, c0["incremental"].iloc[-1]], color="black", ls=":", label="random")
    if budget_share is not None:
        ax.axvline(budget_share * 100, color="grey", ls="--", lw=1)
    ax.set_xlabel("% of held-out households targeted")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
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
