"""Time-aware repeat recommenders: when a household is due to buy a product again.

:class:`RepurchaseTimeKernel` scores each product a household bought before by a sum, over its past
purchases of the product, of an item-specific kernel of the time elapsed since that purchase: the
repurchase module of TAIW (Romanov, Lashinin, Ananyeva & Kolesnikov 2023, "Time-Aware Item Weighting
for the Next Basket Recommendations", RecSys '23, doi:10.1145/3604915.3608859; ``RepurchaseModule`` in
the authors' released code), a mixture of an exponential decay (recency) and a normal bump around the
product's typical repurchase interval (cycle). Where TAIW learns the item parameters by gradient
descent on the training baskets, they are estimated here in closed form by the method of moments from
the repurchase intervals observed in the training rows, shrunk towards the all-product values; the
global parameters (mixture weight, decay scale, per-basket decay, repeat-propensity exponent, clock)
are tuned on the validation split like every other model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from .models import Interactions, Recommender, household_ids
from .ranking import group_rank, top_k_stored

__all__ = ["RepurchaseTimeKernel", "repurchase_intervals"]

_CLOCKS = ("cutoff", "household")


def repurchase_intervals(data: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days between consecutive purchases of the same product by the same household.

    Returns ``(count, mean, var)``, each of shape (n_items,), float64: the number of intervals per
    product (a household buying it in n baskets gives n - 1), their mean and population variance (0
    where there is no interval). Raises ``ValueError`` if ``data`` has no basket times."""
    if data.basket_day is None:
        raise ValueError("Interactions without basket times: build them with Interactions.from_baskets")
    coo = data.baskets.tocoo()
    b, i = coo.row.astype(np.int64), coo.col.astype(np.int64)
    u, day = data.basket_user[b], data.basket_day[b]
    order = np.lexsort((day, i, u))
    u, i, day = u[order], i[order], day[order]
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1])
    gap, item = (day[1:] - day[:-1])[same], i[1:][same]
    n = np.bincount(item, minlength=data.n_items).astype(np.float64)
    s1 = np.bincount(item, weights=gap, minlength=data.n_items)
    s2 = np.bincount(item, weights=gap * gap, minlength=data.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s1 / n, 0.0)
        var = np.where(n > 0, np.maximum(s2 / n - mean**2, 0.0), 0.0)
    return n, mean, var


class RepurchaseTimeKernel(Recommender):
    """TAIW-style repeat model: item-specific time kernels over the household's own purchases.

    For household ``u`` and a product ``i`` it bought at days ``t_1 .. t_n`` (one term per training
    basket holding it), with ``t_u`` the time of the basket to predict and ``d_j = t_u - t_j`` (at
    least ``min_days``)::

        score(u, i) = r_i^gamma * sum_j basket_decay^l_j
                      * [(1 - pi) * exp(-d_j / beta_i) / beta_i + pi * N(d_j; mu_i, sigma_i)]

    (the bracket is the repurchase kernel of Romanov et al. 2023, with ``N`` the normal density). Two additions,
    both tuned on validation and both neutral at their defaults: ``basket_decay^l_j`` with ``l_j``
    the number of the household's baskets after purchase ``j`` (the within-history decay of TIFU-KNN,
    Hu et al. 2020, which adapts the forgetting to how often the household shops), and the
    product's repeat propensity ``r_i = (households buying it in >= 2 baskets + 1) / (households
    buying it + 2)`` (Laplace-smoothed, never 0) raised to ``gamma`` (repeat-aware weighting in the spirit of ReCANet, Ariannezhad et al.
    2022, SIGIR: products nobody buys twice are poor repeat candidates). Item parameters, from the
    product's repurchase intervals (:func:`repurchase_intervals`; ``n_i`` intervals, mean ``m_i``,
    variance ``v_i``), shrunk towards the all-product mean ``m`` and variance ``v`` with ``shrinkage``
    pseudo-intervals: ``mu_i = (n_i m_i + s m) / (n_i + s)``,
    ``sigma_i^2 = (n_i v_i + s v) / (n_i + s)`` (at least ``min_days^2``), and
    ``beta_i = decay_scale * mu_i``, so products with short cycles (milk) forget faster than products
    with long ones (detergent). ``pi = 0`` is pure recency-weighted frequency; a large
    ``decay_scale`` tends to P-TopFreq.

    ``t_u`` (``clock``): ``"cutoff"``: the end of the training data (the last training basket's day
    plus one) or, if later, the household's last basket plus its median gap between baskets: the
    global-cutoff protocol, where every household's next basket comes after one date;
    ``"household"``: the household's last basket plus its median gap (all-household median for a
    household with one basket), for the last-basket protocol, where households end at different
    dates. Both use training data only.

    Only products the household bought are scored (a repeat-only model); the remaining slots are
    padded with globally popular products it never bought (scores below every own product), as
    GP-TopFreq does. Scores are divided by the household's largest own score, rounded to 12
    decimals (so that ulp-level differences of ``exp`` between CPUs cannot reorder products), and
    ties are broken by global popularity inside the score (``1e-9 * popularity / (max + 1)``) and
    then by product id.

    Parameters
    ----------
    pi : float in [0, 1]
        Weight of the cycle (normal) component (scoring-time).
    decay_scale : float > 0
        ``beta_i = decay_scale * mu_i`` (scoring-time).
    shrinkage : float >= 0
        Pseudo-intervals pulling item parameters to the all-product ones (scoring-time).
    clock : {"cutoff", "household"}
        Time of the predicted basket (scoring-time).
    basket_decay : float in (0, 1]
        Per-basket decay (scoring-time; 1 = none).
    gamma : float >= 0
        Exponent of the repeat propensity (scoring-time; 0 = none).
    min_days : float > 0
        Floor of elapsed times and of ``sigma_i`` (days).

    Raises
    ------
    ValueError
        Parameters out of range (at scoring), ``data`` without basket times (at fit).
    """

    handles_unknown = True
    _score_params = ("pi", "decay_scale", "shrinkage", "clock", "basket_decay", "gamma")

    def __init__(
        self,
        pi: float = 0.25,
        decay_scale: float = 4.0,
        shrinkage: float = 10.0,
        clock: str = "cutoff",
        basket_decay: float = 1.0,
        gamma: float = 0.0,
        min_days: float = 1.0,
    ):
        self.pi = pi
        self.decay_scale = decay_scale
        self.shrinkage = shrinkage
        self.clock = clock
        self.basket_decay = basket_decay
        self.gamma = gamma
        self.min_days = min_days

    def _fit(self, data: Interactions) -> None:
        self.intervals_ = repurchase_intervals(data)
        self.popularity_ = data.popularity()
        day, bu = data.basket_day, data.basket_user
        self.end_day_ = float(np.floor(day.max())) + 1.0
        last = np.full(data.n_users, -np.inf)
        np.maximum.at(last, bu, day)
        gaps = np.diff(day)
        same = bu[1:] == bu[:-1]
        g_u, g = bu[1:][same], gaps[same]
        median_all = float(np.median(g)) if len(g) else 0.0
        med = np.full(data.n_users, median_all)
        if len(g):
            frame = pd.DataFrame({"u": g_u, "g": g})
            m = frame.groupby("u")["g"].median()
            med[m.index.to_numpy()] = m.to_numpy()
        self.last_day_, self.median_gap_ = last, med
        n_b = np.bincount(bu, minlength=data.n_users)
        lag = (n_b[bu] - 1 - group_rank(bu)).astype(np.float64)  # baskets after this one
        counts = data.counts.tocsr()  # households x products: indices are product columns
        buyers = np.bincount(counts.indices, minlength=data.n_items).astype(np.float64)
        repeaters = np.bincount(counts.indices[counts.data >= 2], minlength=data.n_items)
        self.repeat_propensity_ = (repeaters + 1.0) / (buyers + 2.0)
        coo = data.baskets.tocoo()
        self._b_lag = lag[coo.row]
        self._b_user = bu[coo.row]
        self._b_day = day[coo.row]
        self._b_item = coo.col.astype(np.int64)

    def item_parameters(self) -> pd.DataFrame:
        """``mu``, ``sigma``, ``beta`` (days) and ``n_intervals`` per product of the training data
        (index ``product_id``), with the current parameters."""
        data = self._check_fitted()
        mu, sigma, beta = self._params()
        return pd.DataFrame(
            {"mu": mu, "sigma": sigma, "beta": beta, "n_intervals": self.intervals_[0].astype(np.int64)},
            index=data.items,
        )

    def _params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, mean, var = self.intervals_
        s, lo = float(self.shrinkage), float(self.min_days)
        if not s >= 0 or not lo > 0 or not float(self.decay_scale) > 0:
            raise ValueError(
                f"shrinkage must be >= 0, min_days > 0 and decay_scale > 0; got {self.shrinkage}, "
                f"{self.min_days}, {self.decay_scale}"
            )
        tot = n.sum()
        m_all = float((n * mean).sum() / tot) if tot > 0 else 7.0
        v_all = float((n * (var + (mean - m_all) ** 2)).sum() / tot) if tot > 0 else 49.0
        mu = np.maximum((n * mean + s * m_all) / np.maximum(n + s, 1e-12), lo)
        sigma = np.sqrt(np.maximum((n * var + s * v_all) / np.maximum(n + s, 1e-12), lo * lo))
        return mu, sigma, float(self.decay_scale) * mu

    def predict_day(self) -> np.ndarray:
        """Day (since 1970-01-01) of the predicted basket of every training household, shape
        (n_users,)."""
        self._check_fitted()
        if self.clock not in _CLOCKS:
            raise ValueError(f"clock must be one of {_CLOCKS}, got {self.clock!r}")
        due = self.last_day_ + self.median_gap_
        return np.maximum(due, self.end_day_) if self.clock == "cutoff" else due

    def own_scores(self, rows: np.ndarray | None = None) -> sparse.csr_matrix:
        """Kernel scores of every (household, product it bought), households x products, before
        normalisation; with ``rows`` (row indices of the training households) only those rows are
        computed (the others are empty)."""
        data = self._check_fitted()
        p, rho, g = float(self.pi), float(self.basket_decay), float(self.gamma)
        if not 0.0 <= p <= 1.0 or not 0.0 < rho <= 1.0 or not g >= 0:
            raise ValueError(
                f"need pi in [0, 1], basket_decay in (0, 1], gamma >= 0; got {self.pi}, "
                f"{self.basket_decay}, {self.gamma}"
            )
        mu, sigma, beta = self._params()
        sel = slice(None)
        if rows is not None:
            wanted = np.zeros(data.n_users, dtype=bool)
            wanted[np.asarray(rows)[np.asarray(rows) >= 0]] = True
            sel = wanted[self._b_user]
        u, i = self._b_user[sel], self._b_item[sel]
        d = np.maximum(self.predict_day()[u] - self._b_day[sel], float(self.min_days))
        value = (1.0 - p) * np.exp(-d / beta[i]) / beta[i]
        if p > 0:
            z = (d - mu[i]) / sigma[i]
            value = value + p * np.exp(-0.5 * z * z) / (sigma[i] * np.sqrt(2.0 * np.pi))
        if rho < 1.0:
            value = value * rho ** self._b_lag[sel]
        if g > 0:
            value = value * self.repeat_propensity_[i] ** g
        out = sparse.csr_matrix((value, (u, i)), shape=(data.n_users, data.n_items))
        out.sum_duplicates()
        return out

    def recommend(self, households: Any, k: int, chunk_size: int | None = None) -> pd.DataFrame:
        data = self._check_fitted()
        users = household_ids(households)
        rows = data.rows(users, allow_unknown=True)
        own = self.own_scores(rows)[np.maximum(rows, 0)].tocsr()
        own = (sparse.diags((rows >= 0).astype(np.float64)) @ own).tocsr()
        own.eliminate_zeros()
        peak = own.max(axis=1).toarray().ravel()
        own = (sparse.diags(1.0 / np.where(peak > 0, peak, 1.0)) @ own).tocsr()
        pop = self.popularity_
        frac = pop / (pop.max(initial=0.0) + 1.0)
        own.data = np.round(own.data, 12) + 1e-9 * frac[own.indices] + 1.0  # own products in [1, 2]
        # padding: the k most popular products, below every own product, not on bought ones
        top = np.argsort(-frac, kind="stable")[:k]
        n = len(users)
        pad = sparse.csr_matrix(
            (np.tile(frac[top], n), (np.repeat(np.arange(n), len(top)), np.tile(top, n))), shape=own.shape
        )
        pad = pad - pad.multiply(own > 0)
        pad.eliminate_zeros()
        return top_k_stored(users, np.asarray(data.items), (own + pad).tocsr(), k, prior=pop)
