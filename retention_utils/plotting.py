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
