"""Behavioural clusters: features, model selection over k, stability, canonical labels, names.

The estimators are scikit-learn's (``KMeans``, ``GaussianMixture``, ``PCA``, ``StandardScaler``);
this module decides what goes in and how the results are read.

Canonical labels
----------------
k-means numbers its clusters arbitrarily (they change with the seed). :func:`canonical_labels`
renumbers them by a fixed rule: cluster 0 has the highest mean of the ordering feature (by default
``log_monetary``), then 1, ...; ties by larger size, then by the smallest member index. The same data
and seed always give the same ids, and re-fits with other seeds that find the same groups give the
same ids too, so text about "cluster 2" stays true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from .. import schema as S
from ..runtime import thread_limits
from ..tables.eda import inter_purchase_days, orders
from .segments import spend_shares

BEHAVIOUR_FEATURES = ("log_recency", "log_frequency", "log_monetary", "log_basket_size", "gap_cv")


def behaviour_features(tx: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Behavioural features per customer (index ``customer_id``, sorted, float64):

    ============== ===============================================================================
    log_recency    ``log1p(days_since_last_order)``
    log_frequency  ``log(n_orders)``
    log_monetary   ``log1p(revenue)``
    log_basket_size ``log`` of the mean number of distinct products per order
    gap_cv         coefficient of variation of the days between purchase days (regularity; 0 =
                   clockwork). Customers with fewer than two gaps get the median of the others, and
                   ``gap_cv_imputed`` (0/1) says so.
    ============== ===============================================================================
    """
    S.require_columns(summary, ["days_since_last_order", "n_orders", "revenue"], table="summary")
    summary = summary.sort_index()
    o = orders(tx)
    basket = o.groupby(S.CUSTOMER_ID)["distinct_products"].mean().reindex(summary.index)
    gaps = inter_purchase_days(tx)
    g = gaps.groupby(level=0)
    cv = (g.std(ddof=0) / g.mean()).where(g.size() >= 2).reindex(summary.index)
    imputed = cv.isna()
    cv = cv.fillna(cv.median() if cv.notna().any() else 0.0)
    return pd.DataFrame(
        {
            "log_recency": np.log1p(summary["days_since_last_order"].astype("float64")),
            "log_frequency": np.log(summary["n_orders"].astype("float64")),
            "log_monetary": np.log1p(summary["revenue"].clip(lower=0)),
            "log_basket_size": np.log(basket.astype("float64")),
            "gap_cv": cv.astype("float64"),
            "gap_cv_imputed": imputed.astype("float64"),
        },
        index=summary.index,
    )


def share_components(shares: pd.DataFrame, n_components: int = 5, seed: int = 0) -> tuple[pd.DataFrame, PCA]:
    """Spend shares (customers x departments) reduced with PCA to ``n_components`` columns named
    ``share_pc1..``; returns the components and the fitted PCA (``explained_variance_ratio_``)."""
    n = min(n_components, shares.shape[1], shares.shape[0])
    pca = PCA(n_components=n, random_state=seed)
    z = pca.fit_transform(shares.to_numpy())
    return pd.DataFrame(z, index=shares.index, columns=[f"share_pc{i + 1}" for i in range(n)]), pca


class ClusterFeatures(NamedTuple):
    """What :func:`cluster_features` returns: ``features`` (customers x features, float64),
    ``shares`` (customers x ``column`` spend shares, or ``None`` without products) and
    ``explained_variance`` (share of the spend-share variance the kept components explain, NaN without
    products)."""

    features: pd.DataFrame
    shares: pd.DataFrame | None
    explained_variance: float


def cluster_features(
    tx: pd.DataFrame,
    summary: pd.DataFrame,
    products: pd.DataFrame | None = None,
    n_components: int = 4,
    seed: int = 0,
    column: str = S.DEPARTMENT,
) -> ClusterFeatures:
    """The clustering feature set of notebook 03 for the customers of ``summary``, from ``tx``.

    :func:`behaviour_features` (``summary`` needs ``days_since_last_order``, ``n_orders``, ``revenue``)
    plus, when ``products`` has ``column``, the first ``n_components`` principal components of
    the spend shares by ``column`` (:func:`retention_utils.models.segments.spend_shares`,
    :func:`share_components` with ``seed``). ``gap_cv_imputed`` is dropped when no customer needed
    the imputation (it would be a constant). Only rows of ``tx`` for customers in ``summary`` are
    read, so the share PCA is fitted on exactly those customers; pass the rows of the period the
    features describe (e.g. each customer's first window, :func:`retention_utils.models.survival.first_window_transactions`).

    Returns a :class:`ClusterFeatures` ``(features, shares, explained_variance)``: ``features`` indexed
    like the sorted ``summary`` (float64), ``shares`` the customers x ``column`` spend-share table
    (``None`` without products). Raises
    :class:`retention_utils.schema.SchemaError` for missing columns and ``ValueError`` when a customer of
    ``summary`` has no row in ``tx``.
    """
    ids = summary.index.astype(str)
    tx = tx[tx[S.CUSTOMER_ID].astype(str).isin(ids)]
    absent = ids.difference(pd.Index(tx[S.CUSTOMER_ID].astype(str).unique()))
    if len(absent):
        shown = ", ".join(repr(c) for c in absent[:10])
        raise ValueError(f"{len(absent):,} customer(s) of the summary have no transactions: {shown}")
    features = behaviour_features(tx, summary)
    shares, explained = None, float("nan")
    if products is not None and column in products:
        shares, _ = spend_shares(tx, products, column)
        comps, pca = share_components(shares, n_components, seed)
        features = features.join(comps)
        explained = float(pca.explained_variance_ratio_.sum())
    if features["gap_cv_imputed"].sum() == 0:
        features = features.drop(columns="gap_cv_imputed")
    return ClusterFeatures(features, shares, explained)


def scale(features: pd.DataFrame) -> pd.DataFrame:
    """Standardise every column (mean 0, sd 1; constant columns become 0). Raises ``ValueError`` on NaN."""
    if features.isna().any().any():
        bad = features.columns[features.isna().any()].tolist()
        raise ValueError(f"features with missing values: {bad}")
    z = StandardScaler().fit_transform(features.to_numpy())
    return pd.DataFrame(np.nan_to_num(z), index=features.index, columns=features.columns)


def sample_rows(n_rows: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random sample of ``size`` rows out of ``n_rows`` (all rows when
    ``size`` is None or not smaller). Model selection and stability run on such a sample for large
    data (their cost grows with k x resamples); the final model is fitted on every row."""
    if size is None or size >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False))


def fit_kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 10) -> KMeans:
    """``KMeans(n_clusters=k, n_init=n_init, random_state=seed)`` fitted on ``x``."""
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)


def canonical_labels(labels: np.ndarray, order_by: np.ndarray) -> np.ndarray:
    """Renumber ``labels`` by the rule of the module docstring (descending mean of ``order_by``,
    then larger size, then smallest first member). Returns int64 labels 0..k-1."""
    labels = np.asarray(labels)
    uniq = np.unique(labels)
    keys = []
    for u in uniq:
        m = labels == u
        keys.append((-float(np.mean(order_by[m])), -int(m.sum()), int(np.flatnonzero(m)[0]), u))
    mapping = {k[-1]: i for i, k in enumerate(sorted(keys))}
    return np.array([mapping[v] for v in labels], dtype=np.int64)


def _feasible_ks(ks: range, n: int) -> list[int]:
    """The k that ``n`` points can support (silhouette needs k <= n - 1); raises ``ValueError``
    naming the count when none can."""
    ok = [k for k in ks if 2 <= k <= n - 1]
    if not ok:
        raise ValueError(f"{n} customers are too few to compare k = {min(ks)}..{max(ks)} clusters")
    return ok


def model_selection(x: np.ndarray, ks: range = range(2, 11), seed: int = 0, silhouette_sample: int | None = 5000) -> pd.DataFrame:
    """Internal validity per k: k-means silhouette (higher better), Davies-Bouldin (lower better),
    Calinski-Harabasz (higher better), inertia, and the BIC of a full-covariance Gaussian mixture
    (lower better). Silhouette uses a seeded sample of ``silhouette_sample`` points when there are
    more (its cost is quadratic). Indexed by k."""
    ks = _feasible_ks(ks, len(x))
    rows = []
    for k in ks:
        with thread_limits(1):  # many small fits: threads only add waiting (benchmarks/bench_contention.py)
            km = fit_kmeans(x, k, seed)
            bic = GaussianMixture(k, covariance_type="full", random_state=seed, n_init=2).fit(x).bic(x)
        lab = km.labels_
        sample = silhouette_sample if silhouette_sample and len(x) > silhouette_sample else None
        rows.append(
            {
                "k": k,
                "silhouette": silhouette_score(x, lab, sample_size=sample, random_state=seed),
                "davies_bouldin": davies_bouldin_score(x, lab),
                "calinski_harabasz": calinski_harabasz_score(x, lab),
                "inertia": km.inertia_,
                "gmm_bic": bic,
            }
        )
    return pd.DataFrame(rows).set_index("k")


def stability(x: np.ndarray, ks: range = range(2, 11), seed: int = 0, n_resamples: int = 10, fraction: float = 0.8) -> pd.DataFrame:
    """Subsample stability per k: fit k-means on ``n_resamples`` random ``fraction`` subsamples (seeded),
    assign every point to the nearest subsample centre, and compare with the full-data fit by the
    adjusted Rand index (1 = the same partition). Columns ``ari_mean``, ``ari_min``, ``ari_median``."""
    ks = _feasible_ks(ks, int(fraction * len(x)))
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 1, size=n_resamples)
    rows = []
    for k in ks:
        with thread_limits(1):  # many small fits: threads only add waiting
            full = fit_kmeans(x, k, seed).labels_
            aris = []
            for s in seeds:
                idx = np.random.default_rng(int(s)).choice(len(x), size=int(fraction * len(x)), replace=False)
                sub = fit_kmeans(x[idx], k, int(s))
                aris.append(adjusted_rand_score(full, sub.predict(x)))
        rows.append({"k": k, "ari_mean": float(np.mean(aris)), "ari_min": float(np.min(aris)), "ari_median": float(np.median(aris))})
    return pd.DataFrame(rows).set_index("k")


INDEX_DIRECTIONS = {"silhouette": False, "davies_bouldin": True, "calinski_harabasz": False, "gmm_bic": True}


def selection_table(selection: pd.DataFrame, stab: pd.DataFrame) -> pd.DataFrame:
    """``selection`` (:func:`model_selection`) joined with ``stab`` (:func:`stability`) and the column
    ``mean_rank``: each k's rank on each validity index of :data:`INDEX_DIRECTIONS` (ties share the
    best rank; values compared at 9 decimals so that rounding noise does not split a tie), averaged."""
    table = selection.join(stab)
    ranks = pd.DataFrame({c: table[c].round(9).rank(ascending=asc, method="min") for c, asc in INDEX_DIRECTIONS.items()})
    table["mean_rank"] = ranks.mean(axis=1)
    return table


def choose_k(selection: pd.DataFrame, stab: pd.DataFrame, min_ari: float = 0.75) -> tuple[int, str]:
    """The chosen k and the reason, by a stated rule.

    Each k is ranked on each validity index (silhouette and Calinski-Harabasz: higher is better;
    Davies-Bouldin and the mixture BIC: lower is better); among the k whose median subsample ARI is
    at least ``min_ari``, the one with the best mean rank is chosen (ties: higher ARI, then smaller k).
    One index alone is not trusted: the silhouette favours k = 2 on most customer data, the BIC
    favours many components. If no k is that stable, the most stable k is chosen.
    Returns ``(k, reason)``; ``selection`` must hold the four index columns, ``stab`` ``ari_median``.
    """
    table = selection_table(selection, stab)
    stable = table[table["ari_median"] >= min_ari]
    if len(stable):
        best = stable.reset_index().sort_values(["mean_rank", "ari_median", "k"], ascending=[True, False, True])
        k = int(best["k"].iloc[0])
        return k, (
            f"k = {k} has the best mean rank ({table.loc[k, 'mean_rank']:.2f}) over silhouette, Davies-Bouldin, "
            f"Calinski-Harabasz and mixture BIC among the k whose median subsample ARI is at least {min_ari} "
            f"(its ARI: {table.loc[k, 'ari_median']:.3f})"
        )
    k = int(table["ari_median"].round(6).sort_index().idxmax())
    return k, f"no k reaches a median ARI of {min_ari}; k = {k} is the most stable (ARI {table.loc[k, 'ari_median']:.3f})"


@dataclass
class Clustering:
    """A fitted clustering: canonical ``labels`` (Series over customers), the k-means model, the
    scaled feature matrix it saw, and the feature means per cluster (in original units)."""

    labels: pd.Series
    model: KMeans
    scaled: pd.DataFrame
    profile: pd.DataFrame


def fit_clusters(features: pd.DataFrame, k: int, seed: int, order_by: str = "log_monetary") -> Clustering:
    """Scale ``features``, fit k-means with ``k`` and ``seed``, and relabel canonically by descending
    mean of ``order_by`` (a column of ``features``). Raises ``KeyError`` if that column is absent."""
    if order_by not in features:
        raise KeyError(f"order_by column {order_by!r} not in features {list(features.columns)}")
    z = scale(features)
    km = fit_kmeans(z.to_numpy(), k, seed)
    lab = canonical_labels(km.labels_, features[order_by].to_numpy())
    labels = pd.Series(lab, index=features.index, name="cluster")
    profile = features.groupby(labels).mean()
    profile.insert(0, "customers", labels.value_counts().sort_index())
    return Clustering(labels, km, z, profile)


def name_clusters(scaled_means: pd.DataFrame, top_tags: pd.Series | None = None, threshold: float = 0.5) -> pd.Series:
    """A plain name per cluster from its mean standardised features (rule, in this order):

    * value: ``log_monetary`` z > threshold -> "high-value", < -threshold -> "low-value", else "mid-value";
    * frequency: ``log_frequency`` z > threshold -> "frequent", < -threshold -> "occasional", else none;
    * recency: ``log_recency`` z > threshold -> "lapsing", < -threshold -> "active", else none;
    * the cluster's most over-represented interest tag, when ``top_tags`` gives one.

    Parts are joined with spaces/commas; a name used twice gets `` (cluster i)`` appended.
    """
    def level(row: pd.Series, col: str, hi: str, lo: str, mid: str = "") -> str:
        v = row.get(col, 0.0)
        return hi if v > threshold else lo if v < -threshold else mid

    names = {}
    for c, row in scaled_means.iterrows():
        parts = [level(row, "log_monetary", "high-value", "low-value", "mid-value")]
        parts += [p for p in (level(row, "log_frequency", "frequent", "occasional"),
                              level(row, "log_recency", "lapsing", "active")) if p]
        name = " ".join(parts)
        if top_tags is not None and isinstance(top_tags.get(c), str) and top_tags.get(c):
            name += f", {top_tags[c]}"
        names[c] = name
    out = pd.Series(names, name="cluster_name")
    dup = out.duplicated(keep=False)
    out[dup] = [f"{n} (cluster {i})" for i, n in out[dup].items()]
    return out


def projection_2d(scaled: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """First two principal components of the scaled features (columns ``pc1``, ``pc2``), for plots."""
    z = PCA(n_components=2, random_state=seed).fit_transform(scaled.to_numpy())
    return pd.DataFrame(z, index=scaled.index, columns=["pc1", "pc2"])


def require_clusters(tx: pd.DataFrame, k_min: int = 2) -> None:
    """What the clustering notebook (03) needs, checked in its first analysis cell: at least
    ``k_min + 1`` customers (a silhouette of k clusters needs k <= n - 1, and the smallest k compared
    is ``k_min``). Raises :class:`retention_utils.schema.InsufficientDataError` with one sentence."""
    n = int(tx[S.CUSTOMER_ID].nunique())
    if n < max(int(k_min), 2) + 1:
        raise S.InsufficientDataError(
            f"clustering customers into at least {max(int(k_min), 2)} groups needs at least {max(int(k_min), 2) + 1} "
            f"customers; the data has {n:,}."
        )
