"""Buy-till-you-die (BTYD) customer-base models fitted by maximum likelihood.

Models (scikit-learn style: configure in ``__init__``, ``fit(...)`` returns ``self``, fitted
state in attributes ending in ``_``):

* :class:`BetaGeoFitter` -- BG/NBD, Fader, Hardie & Lee (2005a), "'Counting Your Customers' the
  Easy Way: An Alternative to the Pareto/NBD Model", *Marketing Science* 24(2), 275-284.
* :class:`ParetoNBDFitter` -- Pareto/NBD, Schmittlein, Morrison & Colombo (1987), "Counting Your
  Customers: Who Are They and What Will They Do Next?", *Management Science* 33(1), 1-24, with
  the likelihood, P(alive) and conditional expectation as derived in Fader & Hardie (2005), "A
  Note on Deriving the Pareto/NBD Model and Related Expressions" (brucehardie.com/notes/009).
* :class:`ModifiedBetaGeoFitter` -- MBG/NBD, Batislam, Denizel & Filiztekin (2007), "Empirical
  validation and comparison of models for customer base analysis", *International Journal of
  Research in Marketing* 24(3), 201-209.
* :class:`GammaGammaFitter` -- gamma-gamma spend model, Colombo & Jiang (1999), "A stochastic
  RFM model", *Journal of Interactive Marketing* 13(3), 2-12; Fader, Hardie & Lee (2005b), "RFM
  and CLV: Using Iso-Value Curves for Customer Base Analysis", *Journal of Marketing Research*
  42(4), 415-430; Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value"
  (brucehardie.com/notes/025).

Data conventions (all models)
-----------------------------
For every customer, in one time unit of your choice (days, weeks, ...), used consistently:

* ``frequency`` (x): number of *repeat* purchases (purchase occasions after the first one),
  a non-negative integer.  Purchases on the same day are usually merged first.
* ``recency`` (t_x): time of the last purchase measured from the first purchase
  (0 <= t_x <= T, and t_x == 0 when x == 0).
* ``T``: the customer's age, i.e. time from the first purchase to the end of the calibration
  period.

Fitted rates are in the same time unit (``alpha`` and ``beta`` are time scales), so predictions
``t`` must be given in that unit too.

Numerics
--------
The log-likelihoods are written in log space (``gammaln``, ``betaln``, ``logaddexp``,
``log1p``/``expm1``).  The Pareto/NBD hypergeometric terms are evaluated in the Euler-transformed
form ``2F1(1, b; c; z)`` with ``0 <= z < 1`` after choosing the alpha >= beta / alpha < beta
branch (see :func:`_log_tail_integral`), the BG/NBD expectations in the Euler-transformed form of
FHL eq. (9) (see :func:`_bg_expected_from_alive`); elements where ``scipy.special.hyp2f1`` fails
or cancels catastrophically (extreme parameters) are recomputed by adaptive quadrature of the
defining one-dimensional integral, so predictions are finite.  Fitting optimises the mean negative log-likelihood over the logs of
the parameters with L-BFGS-B (central finite-difference gradients, evaluated as one vectorised
batch): the best ``n_starts`` points of a grid of data-scaled starting points are each optimised
to a loose tolerance, the best of them is refined to a tight one, and the optimum is polished
with a couple of safeguarded Newton steps that reuse the numerical Hessian also used for the
standard errors in ``summary``.  Identical (frequency, recency, T) rows are collapsed with
weights, and every special function that depends on ``x`` only is evaluated once per distinct
``x``.  Times (and money for the gamma-gamma model) are internally rescaled to O(1) during the
optimisation; parameters and log-likelihoods are reported in the caller's units.

Errors
------
* :class:`ValueError` for invalid inputs; the message names the first offending rows by their
  index labels (pandas index if a Series was passed, else 0-based positions).
* :class:`BTYDFitError` (a ``RuntimeError``) when the optimiser fails or the likelihood is not
  finite; parameters are never returned as NaN.
* :class:`NotFittedError` when predicting with an unfitted model.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special
from sklearn.base import BaseEstimator

from ..runtime import thread_limits

__all__ = [
    "BTYDFitError",
    "NotFittedError",
    "BTYDBoundaryWarning",
    "BTYDImplausibleWarning",
    "BTYDPredictionError",
    "PLAUSIBLE_SHAPE",
    "BetaGeoFitter",
    "ParetoNBDFitter",
    "ModifiedBetaGeoFitter",
    "GammaGammaFitter",
    "DAYS_PER_MONTH",
    "WEEKS_PER_MONTH",
]

#: Average number of days in a month (365.25 / 12); use as ``time_units_per_period`` for monthly
#: CLV periods when the BTYD model was fitted in days.
DAYS_PER_MONTH = 365.25 / 12  # 30.4375
#: Average number of weeks in a month (365.25 / 12 / 7 = 4.348...).  Note that some software
#: (e.g. the ``lifetimes`` package) uses the rounder 4.345; pass that explicitly if you need to
#: reproduce it.
WEEKS_PER_MONTH = DAYS_PER_MONTH / 7.0

_LOG_BOUND = 18.0  # bounds of the log-parameters on the internal (rescaled) scale
_FD_STEP = 1e-5  # finite-difference step for gradients (log-parameter scale)
_HESS_STEP = 1e-4  # finite-difference step for the Hessian (log-parameter scale)
_MAX_LISTED = 10  # offending row labels listed in error messages


class BTYDFitError(RuntimeError):
    """Raised when a BTYD model cannot be fitted (optimiser failure, non-finite likelihood)."""


class NotFittedError(ValueError, AttributeError):
    """Raised when a prediction method is called before ``fit``."""


class BTYDBoundaryWarning(RuntimeWarning):
    """The MLE looks degenerate: a log-parameter sits at the optimisation bound, or the observed
    information matrix is singular (standard errors unavailable)."""


class BTYDImplausibleWarning(BTYDBoundaryWarning):
    """The MLE ran to an implausible region: a shape parameter (``r``, ``a``, ``b``, ``s``, ``p``, ``q``)
    outside :data:`PLAUSIBLE_SHAPE`. A gamma shape ``r`` of 10,000 means purchase rates that differ by
    1 % across customers, a Beta(``a``, ``b``) with ``b`` in the millions a dropout probability that is
    the same for everybody: the data (too few customers or repeat purchases, too short a calibration
    period) do not identify heterogeneity. Predictions stay finite, but read them as those of a
    homogeneous model. The message lists the parameters."""


class BTYDPredictionError(FloatingPointError):
    """A prediction came out non-finite or negative (not expected for any parameter value; the message
    names the model, the method and the parameters)."""


#: range of shape parameters (r, a, b, s, p, q) that a customer base plausibly has; a fit outside it
#: warns (:class:`BTYDImplausibleWarning`)
PLAUSIBLE_SHAPE = (1e-3, 1e4)


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------


def _to_array(name, values):
    """Return ``(float ndarray, pandas index or None)`` for a scalar / array-like / Series."""
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be 1-D (array or Series), got a DataFrame")
    index = None
    try:
        if isinstance(values, pd.Series):
            index = values.index
            arr = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got shape {arr.shape}")
    return arr, index


def _coerce(named, *, allow_scalar):
    """Coerce several customer-level inputs to equally long float arrays.

    Returns ``(arrays, labels, index, scalar)``: ``labels`` are used in error messages, ``index``
    is the pandas index to attach to results (None for plain arrays), ``scalar`` is True when all
    inputs were scalars.
    """
    arrays, index, index_owner = {}, None, None
    for name, values in named.items():
        arr, idx = _to_array(name, values)
        if idx is not None:
            if index is None:
                index, index_owner = idx, name
            elif not idx.equals(index):
                raise ValueError(
                    f"{name} and {index_owner} are pandas Series with different indexes; "
                    "align them before calling"
                )
        arrays[name] = arr
    lengths = {name: arr.shape[0] for name, arr in arrays.items() if arr.ndim == 1}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length, got {lengths}")
    scalar = not lengths
    if scalar and not allow_scalar:
        arrays = {name: arr.reshape(1) for name, arr in arrays.items()}
        n = 1
    else:
        n = next(iter(lengths.values())) if lengths else 1
    if not scalar:
        arrays = {name: np.broadcast_to(arr, (n,)).copy() for name, arr in arrays.items()}
    if n == 0:
        raise ValueError("inputs are empty")
    labels = np.asarray(index) if index is not None else np.arange(n)
    return arrays, labels, index, scalar


def _raise_rows(mask, labels, message):
    mask = np.atleast_1d(mask)
    if mask.any():
        labels = np.atleast_1d(labels)
        bad = labels[np.flatnonzero(mask)] if labels.shape == mask.shape else np.flatnonzero(mask)
        shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in bad[:_MAX_LISTED])
        more = f" (first {_MAX_LISTED} of {bad.size})" if bad.size > _MAX_LISTED else ""
        raise ValueError(f"{message}; offending rows{more}: [{shown}]")


def _check_finite(arrays, labels):
    for name, arr in arrays.items():
        _raise_rows(~np.isfinite(arr), labels, f"{name} contains NaN or infinite values")


def _check_frequency(x, labels):
    _raise_rows(x < 0, labels, "frequency must be >= 0")
    _raise_rows(x != np.round(x), labels, "frequency must be integer-valued (repeat purchase counts)")


def _check_rfm(x, tx, T, labels):
    """Validate (frequency, recency, T); returns recency clipped to T for float round-off."""
    _check_finite({"frequency": x, "recency": tx, "T": T}, labels)
    _check_frequency(x, labels)
    _raise_rows(tx < 0, labels, "recency must be >= 0")
    tol = 1e-9 * np.maximum(1.0, np.abs(T))
    _raise_rows(tx > T + tol, labels, "recency must be <= T")
    _raise_rows((x == 0) & (tx != 0), labels, "recency must be 0 when frequency is 0")
    return np.minimum(tx, T)


def _check_weights(weights, n, labels):
    if weights is None:
        return np.ones(n)
    w, _ = _to_array("weights", weights)
    w = np.broadcast_to(w, (n,)).astype(float) if w.ndim == 0 else w
    if w.shape != (n,):
        raise ValueError(f"weights must have the same length as the data ({n}), got {w.shape[0]}")
    _raise_rows(~np.isfinite(w), labels, "weights contains NaN or infinite values")
    _raise_rows(w < 0, labels, "weights must be >= 0")
    if not w.sum() > 0:
        raise ValueError("weights must not all be zero")
    return w


def _check_t(t):
    """Prediction horizon(s): any shape broadcastable against the customers, finite and >= 0."""
    try:
        t_arr = np.asarray(t.to_numpy(dtype=float) if isinstance(t, pd.Series) else t, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"t must be numeric: {exc}") from None
    if not np.all(np.isfinite(t_arr)) or np.any(t_arr < 0):
        raise ValueError("t must be finite and >= 0")
    return t_arr


def _wrap(result, index, name):
    """Return a float for 0-d results, a Series when an index is known, else the array."""
    result = np.asarray(result, dtype=float)
    if result.ndim == 0:
        return float(result)
    if index is not None and result.shape == (len(index),):
        return pd.Series(result, index=index, name=name)
    return result


# ---------------------------------------------------------------------------------------------
# numerical building blocks
# ---------------------------------------------------------------------------------------------


def _log1mexp(d):
    """log(1 - exp(d)) for d <= 0, accurate near 0 and for very negative d; -inf for d >= 0."""
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > -math.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))
    return np.where(d >= 0, -np.inf, out)


def _log_tail_integral(m, n, A, B, u):
    """log of  I(u) = integral_u^inf (A + v)^(-m) (B + v)^(-n) dv,  for A, B > 0, u >= 0, m + n > 1.

    With y = A + v and w = (A + u) / y the integral is Euler's integral of the Gauss
    hypergeometric function:

        I(u) = (A+u)^(1-m-n) / (m+n-1) * 2F1(n, m+n-1; m+n; (A-B)/(A+u)),

    which after Euler's transformation 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) becomes

        I(u) = (A+u)^(-m) (B+u)^(1-n) / (m+n-1) * 2F1(1, m; m+n; (A-B)/(A+u))      if A >= B,

    and symmetrically (swap A<->B, m<->n) if A < B.  The argument z is then in [0, 1) and the
    series 2F1(1, b; c; z) with c > b has non-negative terms bounded by z^j, so it never
    overflows; the power prefactors are handled in logs.  This is the branch choice of Fader &
    Hardie (2005 note, Section 3) for the Pareto/NBD likelihood (m = r + x, n = s + 1).
    All arguments broadcast.
    """
    m, n, A, B, u = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (m, n, A, B, u)))
    la = np.log(A + u)
    lb = np.log(B + u)
    a_ge_b = A >= B
    z = np.where(a_ge_b, (A - B) / (A + u), (B - A) / (B + u))
    b2 = np.where(a_ge_b, m, n)
    pre = np.where(a_ge_b, -m * la + (1.0 - n) * lb, -n * lb + (1.0 - m) * la)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pre - np.log(m + n - 1.0) + np.log(special.hyp2f1(1.0, b2, m + n, z))


def _quad_log_integral(m, n, A, B, lo, hi):
    """Adaptive-quadrature fallback for one element of :func:`_log_integral_between`."""
    if not hi > lo:
        return -np.inf
    c = -m * math.log(A + lo) - n * math.log(B + lo)  # the integrand is largest at lo

    def f(v):
        return math.exp(-m * math.log1p((v - lo) / (A + lo)) - n * math.log1p((v - lo) / (B + lo)))

    val = integrate.quad(f, lo, hi, epsabs=0.0, epsrel=1e-11, limit=400)[0]
    return c + math.log(val) if val > 0 else -np.inf


def _log_integral_between(m, n, A, B, lo, hi):
    """log of integral_lo^hi (A+v)^(-m) (B+v)^(-n) dv (= -inf when lo == hi).

    Closed form: difference of two :func:`_log_tail_integral` values, combined in log space.
    Elements where the hypergeometric evaluation is not finite (extreme parameters) are
    recomputed by adaptive quadrature (scipy.integrate.quad).
    """
    m, n, A, B, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (m, n, A, B, lo, hi)))
    l_lo = _log_tail_integral(m, n, A, B, lo)
    l_hi = _log_tail_integral(m, n, A, B, hi)
    out = np.asarray(l_lo + _log1mexp(l_hi - l_lo), dtype=float)
    bad = (hi > lo) & ~np.isfinite(out)
    if np.any(bad):
        out = out.copy()
        flat = out.reshape(-1)  # view on the copy
        args = [v.reshape(-1) for v in (m, n, A, B, lo, hi)]
        for i in np.flatnonzero(bad):
            flat[i] = _quad_log_integral(*(v[i] for v in args))
    return out


def _bg_expected_quad(r, alpha, a, b, t):
    """Quadrature fallback for one element of :func:`_bg_expected_from_alive`:
    E = E_p[(1 - (1 + p t/alpha)^-r) / p], p ~ Beta(a, b) (QAWS rule with the Beta weight).

    For extreme Beta parameters (b in the thousands to millions with a << 1, or a in the thousands)
    the QAWS moments overflow; the expectation is then taken over the Beta quantile function,
    E = integral_0^1 g(F^-1(u)) du with g(p) = (1 - (1 + p t/alpha)^-r) / p, whose integrand is
    monotone and bounded by g(1) <= . <= g(0) = r t / alpha, so it is finite for every parameter value."""

    def h(p):
        return r * t / alpha if p <= 0 else -math.expm1(-r * math.log1p(p * t / alpha)) / p

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        log_beta = float(special.betaln(a, b))
        if log_beta > -700.0:  # 1 / B(a, b) representable
            val = integrate.quad(
                h, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b - 1.0), epsabs=0.0, epsrel=1e-11, limit=400
            )[0]
            out = val * math.exp(-log_beta)
            if math.isfinite(out) and 0.0 <= out <= r * t / alpha * (1 + 1e-9):
                return out
    return _bg_expected_quantile(r, alpha, a, b, t)


def _bg_expected_quantile(r, alpha, a, b, t):
    """E_p[g(p)] = integral_0^1 g(F^-1(u)) du, F the Beta(a, b) distribution function and
    g(p) = (1 - (1 + p t/alpha)^-r) / p: the quantile form of :func:`_bg_expected_quad`, finite for every
    (a, b) since g is monotone and bounded by g(0) = r t / alpha (scipy's ``betaincinv``)."""

    def h(p):
        return r * t / alpha if p <= 0 else -math.expm1(-r * math.log1p(p * t / alpha)) / p

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        q = integrate.quad(lambda u: h(float(special.betaincinv(a, b, u))), 0.0, 1.0, epsabs=0.0, epsrel=1e-10, limit=400)[0]
    return min(max(q, 0.0), r * t / alpha)


def _bg_expected_from_alive(r, alpha, a, b, t):
    """Expected purchases in (0, t] of a BG/NBD customer who is alive at 0 (just purchased or
    just acquired), with lambda ~ Gamma(r, alpha) and dropout p ~ Beta(a, b):

        E = (a+b-1)/(a-1) * [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]

    (Fader, Hardie & Lee 2005a, eq. 9).  Evaluated in the Euler-transformed form
    (alpha/(alpha+t))^r 2F1(r, b; c; z) = (1-z)^(a-1) 2F1(c-r, a-1; c; z), c = a+b-1,
    z = t/(alpha+t), which stays O(1) for large r and t.  The removable singularity at a = 1 is
    bridged by linear interpolation between a = 1 -/+ 1e-5 (relative error ~1e-9).  Elements
    where scipy's hyp2f1 fails (e.g. very large b with t >> alpha) or where 1 - (...) 2F1 < 1e-7
    (catastrophic cancellation: tiny t, or a ~ 1 with large b) are recomputed by adaptive
    quadrature of E_p[(1 - (1 + p t/alpha)^-r) / p].  All arguments broadcast.
    """
    r, alpha, a, b, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (r, alpha, a, b, t)))

    def raw(a_):
        c = a_ + b - 1.0
        log1mz = -np.log1p(t / alpha)  # log(alpha / (alpha + t))
        z = -np.expm1(log1mz)  # t / (alpha + t)
        with np.errstate(all="ignore"):
            one_minus = 1.0 - np.exp((a_ - 1.0) * log1mz) * special.hyp2f1(c - r, a_ - 1.0, c, z)
            return c / (a_ - 1.0) * one_minus, np.abs(one_minus)

    delta = 1e-5
    near_one = np.abs(a - 1.0) < delta
    out, gap = raw(np.where(near_one, 2.0, a))
    if np.any(near_one):
        (lo, gap_lo), (hi, gap_hi) = (
            raw(np.where(near_one, 1.0 - delta, a)),
            raw(np.where(near_one, 1.0 + delta, a)),
        )
        out = np.where(near_one, lo + (a - (1.0 - delta)) / (2 * delta) * (hi - lo), out)
        gap = np.where(near_one, np.minimum(gap_lo, gap_hi), gap)
    pos = t > 0
    out = np.where(pos, out, 0.0)
    # 1 - (...) 2F1 loses ~ -log10(gap) digits to cancellation: below 1e-7 use quadrature instead
    bad = ~np.isfinite(out) | (out < 0) | (pos & ~(gap >= 1e-7))
    if np.any(bad):
        out = np.array(out, dtype=float)
        flat = out.reshape(-1)  # view on the copy
        args = [v.reshape(-1) for v in (r, alpha, a, b, t)]
        for i in np.flatnonzero(bad):
            flat[i] = _bg_expected_quad(*(v[i] for v in args))
    return out


def _wsum(M, w):
    """Row-wise weighted sum M @ w without BLAS (multi-threaded BLAS matvecs on these small
    matrices only add thread overhead, and are very slow when the CPU is contended)."""
    return np.einsum("kn,n->k", M, w)


def _g_power(k, L):
    """(1 - exp(-k L)) / k, continuous at k = 0 (value L)."""
    k = np.asarray(k, dtype=float)
    small = np.abs(k) < 1e-10
    k_safe = np.where(small, 1.0, k)
    return np.where(small, L, -np.expm1(-k_safe * L) / k_safe)


@dataclass
class _RFMData:
    """Collapsed, rescaled (frequency, recency, T) data with index maps for vectorised terms."""

    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    w: np.ndarray
    scale: float  # internal time = original time * scale
    W: float = 0.0
    xu: np.ndarray = field(default=None)
    ix: np.ndarray = field(default=None)
    wx: np.ndarray = field(default=None)
    Tu: np.ndarray = field(default=None)
    iT: np.ndarray = field(default=None)
    txu: np.ndarray = field(default=None)
    itx: np.ndarray = field(default=None)
    # unique (x, u) pairs for the Pareto/NBD tail integrals, u in {t_x, T}
    px: np.ndarray = field(default=None)
    pu: np.ndarray = field(default=None)
    ip_tx: np.ndarray = field(default=None)
    ip_T: np.ndarray = field(default=None)

    @classmethod
    def build(cls, x, tx, T, w, scale):
        keys = np.column_stack([x, tx, T])
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        wu = np.bincount(inv.ravel(), weights=w, minlength=uniq.shape[0])
        keep = wu > 0
        uniq, wu = uniq[keep], wu[keep]
        d = cls(x=uniq[:, 0], tx=uniq[:, 1] * scale, T=uniq[:, 2] * scale, w=wu, scale=scale)
        d.W = float(wu.sum())
        d.xu, d.ix = np.unique(d.x, return_inverse=True)
        d.wx = np.bincount(d.ix, weights=d.w, minlength=d.xu.size)
        d.Tu, d.iT = np.unique(d.T, return_inverse=True)
        d.txu, d.itx = np.unique(d.tx, return_inverse=True)
        pairs = np.concatenate([np.column_stack([d.x, d.tx]), np.column_stack([d.x, d.T])])
        upairs, pinv = np.unique(pairs, axis=0, return_inverse=True)
        pinv = pinv.ravel()
        d.px, d.pu = upairs[:, 0], upairs[:, 1]
        d.ip_tx, d.ip_T = pinv[: d.x.size], pinv[d.x.size :]
        return d


# ---------------------------------------------------------------------------------------------
# shared fitting machinery
# ---------------------------------------------------------------------------------------------


class _MLEFitter(BaseEstimator):
    """Maximum-likelihood machinery shared by all models (not public). A scikit-learn estimator for its
    parameters (``get_params``/``set_params``/``sklearn.base.clone`` work; the contract test in
    ``tests/test_contracts.py`` checks every model)."""

    _param_names: tuple = ()
    _scaled_params: tuple = ()  # indices of parameters measured in the rescaled unit
    _shape_params: frozenset = frozenset({"r", "a", "b", "s", "p", "q"})  # checked against PLAUSIBLE_SHAPE

    def __init__(self, n_starts=3, max_iter=1000):
        self.n_starts = n_starts
        self.max_iter = max_iter

    # -- to be provided by subclasses --------------------------------------------------------
    def _batch_loglik(self, theta, data):  # pragma: no cover - abstract
        """Total (weighted) log-likelihood on the internal scale; theta has shape (k, P)."""
        raise NotImplementedError

    def _candidates(self, data):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------
    def __repr__(self):
        state = "fitted" if self._is_fitted() else "unfitted"
        if self._is_fitted():
            params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"<{type(self).__name__}: {state}, {params}, log_likelihood={self.log_likelihood_:.4f}>"
        return f"<{type(self).__name__}: {state}>"

    def _is_fitted(self):
        return getattr(self, "params_", None) is not None

    def _check_fitted(self):
        if not self._is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(...) before predicting"
            )

    def _p(self):
        self._check_fitted()
        return tuple(self.params_[k] for k in self._param_names)

    def _mean_nll(self, log_theta, data):
        """Mean negative log-likelihood for a batch of log-parameter vectors (k, P) -> (k,)."""
        with np.errstate(all="ignore"):
            ll = self._batch_loglik(np.exp(log_theta), data)
        return -ll / data.W

    def _value_and_grad(self, lt, data):
        P = lt.size
        steps = np.vstack([np.zeros(P), _FD_STEP * np.eye(P), -_FD_STEP * np.eye(P)])
        f = self._mean_nll(lt[None, :] + steps, data)
        f0, fp, fm = f[0], f[1 : P + 1], f[P + 1 :]
        if not np.isfinite(f0):
            return 1e10, np.zeros(P)
        g = np.where(
            np.isfinite(fp) & np.isfinite(fm),
            (fp - fm) / (2 * _FD_STEP),
            np.where(
                np.isfinite(fp), (fp - f0) / _FD_STEP, np.where(np.isfinite(fm), (f0 - fm) / _FD_STEP, 0.0)
            ),
        )
        return float(f0), g

    def _hessian(self, lt, data, h=_HESS_STEP):
        """Central-difference Hessian and gradient of the mean NLL (one batched evaluation)."""
        P = lt.size
        E = np.eye(P) * h
        pts = [lt]
        for i in range(P):
            pts += [lt + E[i], lt - E[i]]
        pairs = [(i, j) for i in range(P) for j in range(i + 1, P)]
        for i, j in pairs:
            pts += [lt + E[i] + E[j], lt + E[i] - E[j], lt - E[i] + E[j], lt - E[i] - E[j]]
        f = self._mean_nll(np.array(pts), data)
        f0 = f[0]
        H = np.empty((P, P))
        g = np.empty(P)
        for i in range(P):
            fp, fm = f[1 + 2 * i], f[2 + 2 * i]
            H[i, i] = (fp - 2 * f0 + fm) / h**2
            g[i] = (fp - fm) / (2 * h)
        base = 1 + 2 * P
        for k, (i, j) in enumerate(pairs):
            fpp, fpm, fmp, fmm = f[base + 4 * k : base + 4 * k + 4]
            H[i, j] = H[j, i] = (fpp - fpm - fmp + fmm) / (4 * h * h)
        return H, g

    def _optimise(self, data):
        """Multi-start L-BFGS-B on log-parameters + Newton polish.  Returns (log_theta, mean_nll)."""
        P = len(self._param_names)
        n_starts = int(self.n_starts)
        if n_starts < 1:
            raise ValueError("n_starts must be >= 1")
        cands = np.log(np.asarray(self._candidates(data), dtype=float))
        cands = np.clip(cands, -_LOG_BOUND + 1, _LOG_BOUND - 1)
        f_c = self._mean_nll(cands, data)
        order = np.argsort(np.where(np.isfinite(f_c), f_c, np.inf))
        starts = [cands[i] for i in order[:n_starts] if np.isfinite(f_c[i])]
        if not starts:
            raise BTYDFitError(
                f"{type(self).__name__}: the log-likelihood is not finite at any starting point"
            )
        bounds = [(-_LOG_BOUND, _LOG_BOUND)] * P

        def run(x0, gtol, ftol):
            res = optimize.minimize(
                self._value_and_grad,
                x0,
                args=(data,),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": int(self.max_iter), "ftol": ftol, "gtol": gtol, "maxcor": 20},
            )
            if not np.isfinite(res.fun) or res.fun >= 1e10:
                return res, False, False
            # projected gradient: ignore components pushing against an active bound
            lt, g = res.x, np.asarray(res.jac)
            at_lo, at_hi = lt <= -_LOG_BOUND + 1e-8, lt >= _LOG_BOUND - 1e-8
            pg = np.where((at_lo & (g > 0)) | (at_hi & (g < 0)), 0.0, g)
            return res, True, bool(res.success or np.max(np.abs(pg)) < 1e-5)

        # stage 1: every start to a loose tolerance; stage 2: refine the best one tightly
        finite, messages = [], []
        for x0 in starts:
            res, is_finite, ok = run(x0, gtol=1e-6, ftol=1e-12)
            messages.append(str(res.message))
            if is_finite:
                finite.append((float(res.fun), ok, res))
        if not finite:
            raise BTYDFitError(
                f"{type(self).__name__}: the log-likelihood is not finite at the end of any of the "
                f"{len(starts)} optimisation runs (messages: {messages})"
            )
        f1, ok1, res1 = min(finite, key=lambda item: item[0])
        res, is_finite, ok = run(res1.x, gtol=1e-9, ftol=1e-15)
        if not (is_finite and res.fun <= f1):
            res, is_finite, ok = res1, True, ok1
        # On a flat likelihood ridge (e.g. Pareto/NBD with s, beta -> inf when dropout is nearly
        # homogeneous) L-BFGS-B may stop with an "ABNORMAL" line search, its finite-difference
        # gradients being noise there. A point whose likelihood is at least as high as that of a run
        # that did converge is accepted as the optimum.
        f_converged = min((f for f, k, _ in finite if k), default=np.inf)
        ok = ok or bool(res.fun <= f_converged)
        if not ok:
            raise BTYDFitError(
                f"{type(self).__name__}: the optimiser did not converge from any of {len(starts)} "
                f"starting points (messages: {messages + [str(res.message)]})"
            )
        lt, f = self._newton_polish(res.x.copy(), float(res.fun), data)
        self.optimizer_result_ = res
        self.n_starts_run_ = len(starts)
        return lt, f

    def _newton_polish(self, lt, f, data, n_steps=3):
        """A few safeguarded Newton steps (numerical Hessian) to tighten the optimum."""
        for _ in range(n_steps):
            if np.any(np.abs(lt) >= _LOG_BOUND - 1e-6):
                break
            H, _ = self._hessian(lt, data)
            _, g = self._value_and_grad(lt, data)
            try:
                np.linalg.cholesky(H)
                step = -np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 0.5:
                break
            new = np.clip(lt + step, -_LOG_BOUND, _LOG_BOUND)
            f_new = float(self._mean_nll(new[None, :], data)[0])
            if not np.isfinite(f_new) or f_new > f + 1e-14 * max(1.0, abs(f)):
                break
            lt, f = new, min(f, f_new)
            if np.max(np.abs(step)) < 1e-9:
                break
        return lt, f

    def _finish(self, lt, f, data, ll_offset, unscale):
        """Store params_, log_likelihood_, covariance; raise BTYDFitError on non-finite results."""
        theta = np.exp(lt)
        theta_user = theta.copy()
        for i in self._scaled_params:
            theta_user[i] = theta[i] / unscale
        ll = -f * data.W + ll_offset
        if not (np.all(np.isfinite(theta_user)) and np.isfinite(ll)):
            raise BTYDFitError(
                f"{type(self).__name__}: non-finite parameters or log-likelihood at the optimum"
            )
        at_bound = np.abs(lt) >= _LOG_BOUND - 1e-3
        if at_bound.any():
            names = [self._param_names[i] for i in np.flatnonzero(at_bound)]
            warnings.warn(
                f"{type(self).__name__}: parameter(s) {names} ended at the optimisation bound; the "
                "maximum-likelihood estimate is degenerate (not identified by these data)",
                BTYDBoundaryWarning,
                stacklevel=3,
            )
        shapes = {k: float(v) for k, v in zip(self._param_names, theta_user, strict=True) if k in self._shape_params}
        odd = {k: v for k, v in shapes.items() if not PLAUSIBLE_SHAPE[0] <= v <= PLAUSIBLE_SHAPE[1]}
        if odd:
            params = ", ".join(f"{k}={v:.4g}" for k, v in zip(self._param_names, theta_user, strict=True))
            warnings.warn(
                f"{type(self).__name__}: the fit ran to an implausible region ({params}): shape parameter(s) "
                f"{sorted(odd)} outside {PLAUSIBLE_SHAPE[0]:g}..{PLAUSIBLE_SHAPE[1]:g}, i.e. no heterogeneity "
                "identified across customers; too few customers, repeat purchases or calibration days",
                BTYDImplausibleWarning,
                stacklevel=3,
            )
        H, _ = self._hessian(lt, data)
        cov = None
        try:
            cov_log = np.linalg.inv(H * data.W)
            if np.all(np.isfinite(cov_log)) and np.all(np.diag(cov_log) > 0):
                cov = cov_log
        except np.linalg.LinAlgError:
            pass
        if cov is None:
            warnings.warn(
                f"{type(self).__name__}: the observed information matrix is singular or not positive "
                "definite; standard errors are unavailable (parameters poorly identified)",
                BTYDBoundaryWarning,
                stacklevel=3,
            )
        self.params_ = {k: float(v) for k, v in zip(self._param_names, theta_user, strict=True)}
        self.log_likelihood_ = float(ll)
        self.covariance_log_params_ = cov
        self.converged_ = True

    @property
    def summary(self):
        """DataFrame indexed by parameter name: ``coef`` (MLE), ``se(coef)`` (delta method from the
        numerical observed-information matrix of the log-parameters: se = coef * se(log coef)),
        and a 95% interval computed on the log scale: coef * exp(-/+ 1.96 se(log coef)), which is
        always positive.  Standard errors are NaN if the information matrix is singular."""
        self._check_fitted()
        coef = np.array([self.params_[k] for k in self._param_names])
        if self.covariance_log_params_ is not None:
            se_log = np.sqrt(np.diag(self.covariance_log_params_))
        else:
            se_log = np.full(coef.size, np.nan)
        return pd.DataFrame(
            {
                "coef": coef,
                "se(coef)": coef * se_log,
                "lower 95% bound": coef * np.exp(-1.959963984540054 * se_log),
                "upper 95% bound": coef * np.exp(1.959963984540054 * se_log),
            },
            index=pd.Index(self._param_names, name="param"),
        )


class _TransactionModel(_MLEFitter):
    """Common API of the BG/NBD, MBG/NBD and Pareto/NBD fitters."""

    _scaled_params = (1,)  # alpha

    def fit(self, frequency, recency, T, weights=None):
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like or pandas Series, shape (n_customers,)
            Repeat-purchase count x (integer >= 0), time of the last purchase since the first
            t_x (0 <= t_x <= T, 0 when x == 0) and customer age T, all in the same time unit.
        weights : array-like, shape (n_customers,), optional
            Non-negative case weights (e.g. the number of customers sharing a row of an
            aggregated table).  Identical rows are collapsed internally anyway.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Invalid inputs (message names the first offending rows), or no repeat purchases.
        BTYDFitError
            The optimiser failed or the log-likelihood is not finite.
        """
        arrays, labels, _, _ = _coerce(
            {"frequency": frequency, "recency": recency, "T": T}, allow_scalar=False
        )
        x, T_ = arrays["frequency"], arrays["T"]
        tx = _check_rfm(x, arrays["recency"], T_, labels)
        w = _check_weights(weights, x.size, labels)
        if not np.sum(w * x) > 0:
            raise ValueError("no repeat purchases (all frequency == 0): the model is not identified")
        mean_T = float(np.sum(w * T_) / w.sum())
        if not mean_T > 0:
            raise ValueError("all customers have T == 0: the model is not identified")
        scale = 1.0 / mean_T
        data = _RFMData.build(x, tx, T_, w, scale)
        # L_original = L_internal * scale^x  (each purchase time contributes one 1/time density)
        ll_offset = float(np.sum(data.w * data.x)) * math.log(scale)
        with thread_limits(1, "blas"):  # tiny matrices: one thread is fastest
            lt, f = self._optimise(data)
            self._finish(lt, f, data, ll_offset, unscale=scale)
        self.n_customers_ = float(w.sum())
        self.n_unique_rows_ = int(data.x.size)
        return self

    def _customers(self, frequency, recency, T):
        arrays, labels, index, _ = _coerce(
            {"frequency": frequency, "recency": recency, "T": T}, allow_scalar=True
        )
        x, T_ = arrays["frequency"], arrays["T"]
        tx = _check_rfm(x, arrays["recency"], T_, labels)
        return x, tx, T_, index

    def _dispatch(self, t, frequency, recency, T, uncond, cond, name):
        given = [v is not None for v in (frequency, recency, T)]
        t_arr = _check_t(t)
        if not any(given):
            out = uncond(t_arr)
            self._check_prediction(out, name)
            return _wrap(out, None, name)
        if not all(given):
            raise ValueError("pass all of frequency, recency and T (conditional) or none (unconditional)")
        x, tx, T_, index = self._customers(frequency, recency, T)
        try:
            np.broadcast_shapes(t_arr.shape, x.shape)
        except ValueError as exc:
            raise ValueError(f"t cannot be broadcast against the customer arrays: {exc}") from None
        out = cond(t_arr, x, tx, T_)
        self._check_prediction(out, name)
        return _wrap(out, index, name)

    def _check_prediction(self, out, name):
        """Raise :class:`BTYDPredictionError` for a non-finite or negative prediction (never returned)."""
        out = np.asarray(out, dtype=float)
        if not np.all(np.isfinite(out)) or np.any(out < 0):  # pragma: no cover - defensive, should not happen
            params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            raise BTYDPredictionError(f"{type(self).__name__}.{name}: non-finite or negative result at {params}")

    def log_likelihood(self, frequency, recency, T):
        """Individual log-likelihoods log L(params_ | x, t_x, T) at the fitted parameters.

        Parameters: ``frequency``, ``recency``, ``T`` as in :meth:`fit` (arrays / Series of
        shape (n,) or scalars), in the time unit of the fit.  Returns shape (n,) (Series when
        Series were passed); ``log_likelihood(...).sum()`` on the training data equals
        ``log_likelihood_``.  Source: see the class docstring.

        Raises: NotFittedError, ValueError (invalid inputs, offending rows named).
        """
        x, tx, T_, index = self._customers(frequency, recency, T)
        return _wrap(self._row_loglik(x, tx, T_), index, "log_likelihood")

    def expected_purchases(self, t, frequency=None, recency=None, T=None):
        """Expected number of repeat purchases.

        * With customer data: E[Y(t) | x, t_x, T], the expected number of purchases in the
          window (T, T+t] following the calibration period (FHL 2005a eq. 10 for the BG/NBD;
          SMC 1987 / Fader & Hardie 2005 note Section 6 for the Pareto/NBD; Batislam et al. 2007
          for the MBG/NBD).
        * Without: E[X(t)], the expected number of repeat purchases in (0, t] of a new customer
          whose first purchase is at 0 (FHL 2005a eq. 9; note Section 4; Batislam et al. 2007).

        Parameters
        ----------
        t : float or array, >= 0, in the time unit of the fit
            Scalar, or an array broadcastable against the customers (e.g. shape (k, 1) to get a
            (k, n) grid of horizons x customers).
        frequency, recency, T : array-like / Series of shape (n,), or scalars, optional
            All three or none.

        Returns
        -------
        float, Series (index of the inputs) or ndarray, >= 0.

        Raises
        ------
        NotFittedError, ValueError (invalid inputs, offending rows named; only some of
        frequency/recency/T given; t not broadcastable).
        """
        return self._dispatch(
            t, frequency, recency, T, self._expected_uncond, self._expected_cond, "expected_purchases"
        )

    def probability_alive(self, frequency, recency, T):
        """P(customer still alive at T | x, t_x, T).

        Sources: FHL (2008) note for the BG/NBD, 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x));
        Fader & Hardie (2005 note) Section 5 for the Pareto/NBD; Batislam et al. (2007) for the
        MBG/NBD.  Inputs as in :meth:`fit` (shape (n,) or scalars); returns values in (0, 1] of
        shape (n,) (Series when Series were passed).

        Raises: NotFittedError, ValueError (invalid inputs, offending rows named).
        """
        x, tx, T_, index = self._customers(frequency, recency, T)
        return _wrap(self._p_alive(x, tx, T_), index, "probability_alive")

    def probability_of_purchases_in(self, t, frequency=None, recency=None, T=None):
        """P(at least one purchase in the next ``t`` time units), in closed form.

        * With customer data: P(Y(t) > 0 | x, t_x, T) for the window (T, T+t] =
          P(alive | x, t_x, T) * P(a purchase in (T, T+t] | alive at T, posterior of the rates);
          the second factor is derived in the class docstrings (BG/MBG: one minus the gamma
          mixture of exp(-lambda t); Pareto/NBD: hypergeometric integral).
        * Without: P(X(t) > 0) for a new customer over (0, t].

        ``t`` and the customer inputs as in :meth:`expected_purchases`; returns values in [0, 1].

        Raises: NotFittedError, ValueError (as :meth:`expected_purchases`).
        """
        return self._dispatch(
            t, frequency, recency, T, self._p_buy_uncond, self._p_buy_cond, "probability_of_purchases_in"
        )


# ---------------------------------------------------------------------------------------------
# BG/NBD and MBG/NBD
# ---------------------------------------------------------------------------------------------


class BetaGeoFitter(_TransactionModel):
    """BG/NBD model (Fader, Hardie & Lee 2005a).

    While alive, a customer buys as a Poisson process with rate lambda; after every repeat
    purchase he drops out with probability p.  Across customers lambda ~ Gamma(r, alpha) (shape
    r, rate alpha, so ``alpha`` is in time units) and p ~ Beta(a, b).

    Parameters (``params_``): ``r``, ``alpha``, ``a``, ``b``.

    Sources: likelihood FHL 2005a eq. (6); E[X(t)] eq. (9); E[Y(t) | x, t_x, T] eq. (10);
    P(alive) from Fader, Hardie & Lee (2008) "Computing P(alive) Using the BG/NBD Model"
    (brucehardie.com/notes/021).  P(purchase in (T, T+t]) is derived from the same posterior:
    given alive at T, lambda | data ~ Gamma(r+x, alpha+T) and dropout can only follow a purchase,
    so P(no purchase in (T, T+t] | alive) = ((alpha+T)/(alpha+T+t))^(r+x).

    Parameters
    ----------
    n_starts : int, default 3
        Number of best grid starting points from which L-BFGS-B is run (best optimum kept).
    max_iter : int, default 1000
        Maximum L-BFGS-B iterations per start.

    Attributes
    ----------
    params_ : dict  (r, alpha, a, b)
    log_likelihood_ : float, total log-likelihood at the MLE (original time unit)
    summary : DataFrame with coef, se(coef), 95% bounds
    n_customers_, n_unique_rows_, optimizer_result_, covariance_log_params_
    """

    _param_names = ("r", "alpha", "a", "b")
    _dropout_at_zero = False  # MBG/NBD: customers may also drop out right after the first purchase

    def _candidates(self, data):
        rate = np.sum(data.w * data.x) / np.sum(data.w * data.T)  # repeat purchases per unit time
        out = []
        for r in (0.25, 1.0, 4.0):
            for fa in (0.5, 2.0):
                for a in (0.5, 2.0):
                    for b in (1.0, 5.0):
                        out.append((r, fa * r / rate, a, b))
        return out

    def _beta_terms(self, a, b, xu):
        """log B(alive-term) / B(a,b) and log B(dead-term) / B(a,b) per distinct x."""
        bab = special.betaln(a, b)
        if self._dropout_at_zero:
            return special.betaln(a, b + xu + 1.0) - bab, special.betaln(a + 1.0, b + xu) - bab
        b1 = special.betaln(a, b + xu) - bab
        b2 = np.where(xu > 0, special.betaln(a + 1.0, b + np.maximum(xu, 1.0) - 1.0) - bab, -np.inf)
        return b1, b2

    def _batch_loglik(self, theta, d):
        r, al, a, b = (theta[:, i : i + 1] for i in range(4))
        xu = d.xu
        A = special.gammaln(r + xu) - special.gammaln(r) + r * np.log(al)  # (k, nx)
        B1, B2 = self._beta_terms(a, b, xu)
        lT = np.log(al + d.Tu)
        ltx = np.log(al + d.txu)
        rx = r + d.x
        t1 = B1[:, d.ix] - rx * lT[:, d.iT]
        t2 = B2[:, d.ix] - rx * ltx[:, d.itx]
        return _wsum(np.logaddexp(t1, t2), d.w) + _wsum(A, d.wx)

    def _row_loglik(self, x, tx, T):
        r, al, a, b = self._p()
        A = special.gammaln(r + x) - special.gammaln(r) + r * np.log(al)
        B1, B2 = self._beta_terms(a, b, x)
        return A + np.logaddexp(B1 - (r + x) * np.log(al + T), B2 - (r + x) * np.log(al + tx))

    def _log_odds_dead(self, x, tx, T):
        """log[P(dead)/P(alive)] = log(a/(b+x-1)) + (r+x) log((alpha+T)/(alpha+t_x)), x > 0."""
        r, al, a, b = self._p()
        bx = b + x if self._dropout_at_zero else b + x - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.log(a) - np.log(bx) + (r + x) * (np.log(al + T) - np.log(al + tx))
        if not self._dropout_at_zero:
            lo = np.where(x > 0, lo, -np.inf)
        return lo

    def _p_alive(self, x, tx, T):
        return special.expit(-self._log_odds_dead(x, tx, T))

    def _expected_uncond(self, t):
        r, al, a, b = self._p()
        if self._dropout_at_zero:  # survive the coin flip at 0 with prob b/(a+b); then p ~ Beta(a, b+1)
            return b / (a + b) * _bg_expected_from_alive(r, al, a, b + 1.0, t)
        return _bg_expected_from_alive(r, al, a, b, t)

    def _expected_cond(self, t, x, tx, T):
        r, al, a, b = self._p()
        b_post = b + x + 1.0 if self._dropout_at_zero else b + x
        return self._p_alive(x, tx, T) * _bg_expected_from_alive(r + x, al + T, a, b_post, t)

    def _p_buy_uncond(self, t):
        r, al, a, b = self._p()
        p = -np.expm1(-r * np.log1p(t / al))
        return b / (a + b) * p if self._dropout_at_zero else p

    def _p_buy_cond(self, t, x, tx, T):
        r, al, a, b = self._p()
        return self._p_alive(x, tx, T) * -np.expm1(-(r + x) * np.log1p(t / (al + T)))


class ModifiedBetaGeoFitter(BetaGeoFitter):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    As the BG/NBD, except that a customer may also drop out (probability p) immediately after
    the first purchase, so customers with x = 0 can be "dead".  Parameters ``r``, ``alpha``,
    ``a``, ``b``; same API and attributes as :class:`BetaGeoFitter`.

    Individual likelihood (Batislam et al. 2007):
        L = B(a, b+x+1)/B(a,b) * G(alpha+T) + B(a+1, b+x)/B(a,b) * G(alpha+t_x),
        G(y) = Gamma(r+x) alpha^r / (Gamma(r) y^(r+x)),
    P(alive) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)), and
    E[Y(t) | x, t_x, T] = P(alive) (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
                           2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))],
    E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))].
    P(purchase in the next t) = P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x)), and for a new
    customer b/(a+b) (1 - (alpha/(alpha+t))^r).
    """

    _dropout_at_zero = True


# ---------------------------------------------------------------------------------------------
# Pareto/NBD
# ---------------------------------------------------------------------------------------------


class ParetoNBDFitter(_TransactionModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    While alive a customer buys as a Poisson process with rate lambda, and his unobserved
    lifetime is exponential with rate mu; lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta)
    independently (``alpha``, ``beta`` in time units).

    Parameters (``params_``): ``r``, ``alpha``, ``s``, ``beta``.

    Sources (Fader & Hardie 2005 note): likelihood Section 3,

        L = Gamma(r+x) alpha^r beta^s / Gamma(r) * { (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) A0 },

    with A0 written with 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+.)) if alpha >= beta and
    2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+.)) if alpha < beta.  Here A0 is computed as
    (r+s+x) * integral_{t_x}^{T} (alpha+v)^-(r+x) (beta+v)^-(s+1) dv via
    :func:`_log_tail_integral` (same branch rule, Euler-transformed, in log space).
    P(alive) Section 5; E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] Section 4;
    E[Y(t) | x, t_x, T] = P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
    Section 6 (the s -> 1 limit, a logarithm, is handled continuously).

    P(purchase in (T, T+t] | alive) is the probability that the next purchase comes before both
    t and death: E[integral_0^t lambda e^-(lambda+mu)u du] over the posterior lambda ~
    Gamma(r+x, alpha+T), mu ~ Gamma(s, beta+T), i.e.
    (r+x)(alpha+T)^(r+x)(beta+T)^s * integral_0^t (alpha+T+u)^-(r+x+1)(beta+T+u)^-s du,
    evaluated in closed form with the same hypergeometric tail integral.

    Constructor arguments and attributes as :class:`BetaGeoFitter`.
    """

    _param_names = ("r", "alpha", "s", "beta")
    _scaled_params = (1, 3)  # alpha, beta

    def _candidates(self, data):
        rate = np.sum(data.w * data.x) / np.sum(data.w * data.T)
        out = []
        for r in (0.25, 1.0, 4.0):
            for fa in (0.5, 2.0):
                for s in (0.5, 2.0):
                    for fb in (1.0, 4.0):
                        out.append((r, fa * r / rate, s, fb * s))  # mean lifetime ~ fb * mean(T)
        return out

    @staticmethod
    def _terms(r, al, s, be, x, tx, T, l_int=None):
        """(log prefactor, log alive-term, log dead-term) of the likelihood; broadcasting."""
        A = special.gammaln(r + x) - special.gammaln(r) + r * np.log(al) + s * np.log(be)
        t1 = -(r + x) * np.log(al + T) - s * np.log(be + T)
        if l_int is None:
            l_int = _log_integral_between(r + x, s + 1.0, al, be, tx, T)
        t2 = np.log(s) + l_int
        return A, t1, t2

    def _batch_loglik(self, theta, d):
        r, al, s, be = (theta[:, i : i + 1] for i in range(4))
        xu = d.xu
        A = special.gammaln(r + xu) - special.gammaln(r) + r * np.log(al) + s * np.log(be)
        lI = _log_tail_integral(r + d.px, s + 1.0, al, be, d.pu)  # (k, n_pairs)
        l_lo, l_hi = lI[:, d.ip_tx], lI[:, d.ip_T]
        t2 = np.log(s) + l_lo + _log1mexp(l_hi - l_lo)
        t1 = -(r + d.x) * np.log(al + d.Tu)[:, d.iT] - s * np.log(be + d.Tu)[:, d.iT]
        return _wsum(np.logaddexp(t1, t2), d.w) + _wsum(A, d.wx)

    def _row_loglik(self, x, tx, T):
        A, t1, t2 = self._terms(*self._p(), x, tx, T)
        return A + np.logaddexp(t1, t2)

    def _p_alive(self, x, tx, T):
        _, t1, t2 = self._terms(*self._p(), x, tx, T)
        return special.expit(t1 - t2)

    def _expected_uncond(self, t):
        r, al, s, be = self._p()
        return r / al * be * _g_power(s - 1.0, np.log1p(t / be))

    def _expected_cond(self, t, x, tx, T):
        r, al, s, be = self._p()
        alive = self._p_alive(x, tx, T)
        return alive * (r + x) / (al + T) * (be + T) * _g_power(s - 1.0, np.log1p(t / (be + T)))

    @staticmethod
    def _p_buy_alive(r, al, s, be, t):
        """P(purchase in (0, t] | alive at 0) with lambda ~ Gamma(r, al), mu ~ Gamma(s, be)."""
        r, al, s, be, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (r, al, s, be, t)))
        out = np.zeros(t.shape)
        pos = t > 0
        if np.any(pos):
            li = _log_integral_between(r[pos] + 1.0, s[pos], al[pos], be[pos], 0.0, t[pos])
            out[pos] = np.exp(np.log(r[pos]) + r[pos] * np.log(al[pos]) + s[pos] * np.log(be[pos]) + li)
        return np.clip(out, 0.0, 1.0)

    def _p_buy_uncond(self, t):
        r, al, s, be = self._p()
        return self._p_buy_alive(r, al, s, be, t)

    def _p_buy_cond(self, t, x, tx, T):
        r, al, s, be = self._p()
        return self._p_alive(x, tx, T) * self._p_buy_alive(r + x, al + T, s, be + T, t)


# ---------------------------------------------------------------------------------------------
# Gamma-gamma spend model
# ---------------------------------------------------------------------------------------------


@dataclass
class _SpendData:
    x: np.ndarray
    m: np.ndarray
    w: np.ndarray
    W: float
    xu: np.ndarray
    ix: np.ndarray
    wx: np.ndarray
    log_m: np.ndarray
    log_xu: np.ndarray


class GammaGammaFitter(_MLEFitter):
    """Gamma-gamma model of the average transaction value (Colombo & Jiang 1999; Fader, Hardie &
    Lee 2005b; Fader & Hardie 2013 note).

    Individual transaction values z ~ Gamma(p, nu) (shape p, rate nu); across customers
    nu ~ Gamma(q, gamma).  The observed mean m of a customer's x repeat transactions then has the
    marginal density (Fader & Hardie 2013 note; FHL 2005b)

        f(m | p, q, gamma, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * gamma^q m^(px-1) x^(px)
                                / (gamma + m x)^(px+q),

    and the conditional expectation of the customer's mean transaction value is

        E[M | p, q, gamma, m, x] = (p gamma + p x m) / (p x + q - 1)
            = (q-1)/(px+q-1) * p gamma/(q-1) + px/(px+q-1) * m.

    Parameters (``params_``): ``p``, ``q`` and ``v`` (= gamma, in money units).  The model assumes
    monetary value is independent of the transaction process; check that on your data.

    Constructor arguments as :class:`BetaGeoFitter`.

    Attributes
    ----------
    params_ : dict (p, q, v)
    log_likelihood_ : float, total log-likelihood of the used rows at the MLE (money unit of the input)
    n_excluded_ : int, rows excluded by ``fit`` (frequency == 0 or monetary_value <= 0)
    excluded_rows_ : list of their index labels
    n_used_ : int, rows used
    summary : DataFrame with coef, se(coef), 95% bounds
    """

    _param_names = ("p", "q", "v")
    _scaled_params = (2,)  # v (money unit)

    def fit(self, frequency, monetary_value, weights=None):
        """Fit on repeat buyers only.

        Parameters
        ----------
        frequency : array-like or Series, shape (n,)
            Number of repeat transactions x (integer >= 0).
        monetary_value : array-like or Series, shape (n,)
            Mean value of the customer's repeat transactions (money unit).
        weights : array-like, shape (n,), optional
            Non-negative case weights.

        Rows with frequency == 0 or monetary_value <= 0 carry no information for this model and
        are excluded; their number is stored in ``n_excluded_`` and the index labels in
        ``excluded_rows_``.  ``n_used_`` is the number of rows used.

        Raises
        ------
        ValueError
            Non-finite values, negative / non-integer frequency, or no usable rows.
        BTYDFitError
            Optimiser failure or non-finite log-likelihood.
        """
        arrays, labels, _, _ = _coerce(
            {"frequency": frequency, "monetary_value": monetary_value}, allow_scalar=False
        )
        x, m = arrays["frequency"], arrays["monetary_value"]
        _check_finite(arrays, labels)
        _check_frequency(x, labels)
        w = _check_weights(weights, x.size, labels)
        use = (x > 0) & (m > 0) & (w > 0)
        excluded = (x == 0) | (m <= 0)
        self.n_excluded_ = int(excluded.sum())
        self.excluded_rows_ = np.asarray(labels)[excluded].tolist()
        self.n_used_ = int(use.sum())
        if not use.any():
            raise ValueError("no rows with frequency > 0 and monetary_value > 0 to fit the gamma-gamma model")
        x, m, w = x[use], m[use], w[use]
        scale = float(np.sum(w) / np.sum(w * m))  # internal money = money * scale (mean 1)
        ms = m * scale
        xu, ix = np.unique(x, return_inverse=True)
        data = _SpendData(
            x=x,
            m=ms,
            w=w,
            W=float(w.sum()),
            xu=xu,
            ix=ix,
            wx=np.bincount(ix, weights=w, minlength=xu.size),
            log_m=np.log(ms),
            log_xu=np.log(xu),
        )
        ll_offset = data.W * math.log(scale)  # density of m: f_orig(m) = scale * f_internal(m*scale)
        with thread_limits(1, "blas"):  # tiny matrices: one thread is fastest
            lt, f = self._optimise(data)
            self._finish(lt, f, data, ll_offset, unscale=scale)
        return self

    def _candidates(self, data):
        return [(p, q, (q - 1.0) / p) for p in (0.5, 2.0, 8.0) for q in (1.5, 3.0, 8.0)]

    def _batch_loglik(self, theta, d):
        p, q, v = (theta[:, i : i + 1] for i in range(3))
        px = p * d.xu
        Ax = special.gammaln(px + q) - special.gammaln(px) + px * d.log_xu  # (k, nx)
        pxr = p * d.x
        rows = (pxr - 1.0) * d.log_m - (pxr + q) * np.log(v + d.m * d.x)
        const = -special.gammaln(q) + q * np.log(v)
        return _wsum(rows, d.w) + _wsum(Ax, d.wx) + const[:, 0] * d.W

    def _spend_inputs(self, frequency, monetary_value):
        arrays, labels, index, _ = _coerce(
            {"frequency": frequency, "monetary_value": monetary_value}, allow_scalar=True
        )
        x, m = arrays["frequency"], arrays["monetary_value"]
        _check_finite(arrays, labels)
        _check_frequency(x, labels)
        _raise_rows((x > 0) & (m < 0), labels, "monetary_value must be >= 0 for repeat buyers")
        return x, m, labels, index

    def _spend(self, x, m, labels):
        p, q, v = self._p()
        denom = p * x + q - 1.0
        _raise_rows(
            denom <= 0,
            labels,
            f"expected spend is infinite because p*frequency + q - 1 <= 0 (q = {q:.4g}); the "
            "population mean p*v/(q-1) does not exist",
        )
        m_eff = np.where(x > 0, m, 0.0)  # one-time buyers: population mean p v / (q - 1)
        return (p * v + p * x * m_eff) / denom

    def expected_spend(self, frequency, monetary_value):
        """Conditional expected average transaction value E[M | p, q, v, m, x].

        Source: the posterior of nu given x repeat transactions with mean m is
        Gamma(px + q, v + x m), so E[p / nu] = p (v + x m) / (px + q - 1) (Colombo & Jiang 1999;
        FHL 2005b; Fader & Hardie 2013 note) -- a weighted average of the population mean
        p v / (q - 1) and the observed mean m.

        Parameters
        ----------
        frequency : array-like / Series / scalar, shape (n,)
            Repeat transactions x (integer >= 0).
        monetary_value : array-like / Series / scalar, shape (n,)
            Observed mean repeat-transaction value m (>= 0 for x > 0; ignored when x == 0).

        Returns
        -------
        float, Series or ndarray of shape (n,) in money units: (p v + p x m) / (p x + q - 1);
        customers with x == 0 get the population mean p v / (q - 1).

        Raises
        ------
        NotFittedError, ValueError (invalid inputs, or q <= 1 for one-time buyers).
        """
        self._check_fitted()
        x, m, labels, index = self._spend_inputs(frequency, monetary_value)
        return _wrap(self._spend(x, m, labels), index, "expected_spend")

    def customer_lifetime_value(
        self,
        transaction_model,
        frequency,
        recency,
        T,
        monetary_value,
        horizon=12,
        *,
        time_units_per_period,
        discount_rate=0.01,
    ):
        """Discounted expected customer lifetime value over ``horizon`` periods.

            CLV = sum_{i=1..horizon} E[purchases in period i | x, t_x, T] * E[M | x, m] / (1 + d)^i

        where period i covers (T + (i-1) k, T + i k] in the transaction model's time unit,
        k = ``time_units_per_period``, and the expected purchases in it are differences of the
        conditional expectation E[Y(i k)] - E[Y((i-1) k)] (clipped at 0 against round-off).
        Cash flows of period i are discounted as if received at its end.

        Parameters
        ----------
        transaction_model : fitted BetaGeoFitter / ModifiedBetaGeoFitter / ParetoNBDFitter
        frequency, recency, T : array-like / Series, shape (n,)
            In the transaction model's time unit (see the model's ``fit``).
        monetary_value : array-like / Series, shape (n,)
            Mean repeat-transaction value (ignored for one-time buyers, who are valued at the
            population mean spend).
        horizon : int, default 12
            Number of periods (e.g. months).
        time_units_per_period : float, keyword-only, required
            Length of one period in the model's time unit, e.g. ``WEEKS_PER_MONTH`` (4.348;
            ``lifetimes`` uses 4.345) for monthly periods with a weekly model, ``DAYS_PER_MONTH``
            (30.4375) for monthly periods with a daily model, or 1 if periods equal time units.
        discount_rate : float, default 0.01
            Discount rate *per period* (0.01 per month ~ 12.7% a year), >= 0.

        Returns
        -------
        Series / ndarray / float of shape (n,) in money units; finite and >= 0.

        Raises
        ------
        NotFittedError if either model is unfitted; ValueError for invalid inputs.
        """
        self._check_fitted()
        if not isinstance(transaction_model, _TransactionModel):
            raise TypeError(
                "transaction_model must be a BetaGeoFitter, ModifiedBetaGeoFitter or ParetoNBDFitter"
            )
        transaction_model._check_fitted()
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer number of periods, got {horizon!r}")
        horizon = int(horizon)
        k = float(time_units_per_period)
        if not (np.isfinite(k) and k > 0):
            raise ValueError(f"time_units_per_period must be finite and > 0, got {time_units_per_period!r}")
        d = float(discount_rate)
        if not (np.isfinite(d) and d >= 0):
            raise ValueError(f"discount_rate must be finite and >= 0, got {discount_rate!r}")

        x, tx, T_, index = transaction_model._customers(frequency, recency, T)
        xs, m, labels, index_m = self._spend_inputs(frequency, monetary_value)
        if xs.shape != x.shape:
            raise ValueError("monetary_value must have the same length as frequency")
        spend = self._spend(xs, m, labels)
        t_grid = (np.arange(horizon + 1, dtype=float) * k).reshape(-1, *([1] * x.ndim))
        cum = transaction_model._expected_cond(t_grid, x, tx, T_)  # (horizon + 1, n)
        inc = np.clip(np.diff(cum, axis=0), 0.0, None)
        disc = (1.0 + d) ** -np.arange(1, horizon + 1, dtype=float)
        clv = spend * np.tensordot(disc, inc, axes=(0, 0))
        bad = ~np.isfinite(clv)
        if np.any(bad):  # pragma: no cover - defensive
            _raise_rows(bad, labels, "CLV is not finite (numerical failure)")
        return _wrap(np.maximum(clv, 0.0), index if index is not None else index_m, "clv")
