"""One rule for every number a person reads: notebook tables, sentences and the report index.

The rule
--------
- **Counts** (integers, and integer-valued columns of counts) print as integers with thousands
  separators: ``2,467``, never ``2,467.00``.
- **Other numbers** print with a fixed number of **significant digits** per column (4 by default):
  ``0.8515``, ``12.35``, ``1,166``; no column mixes significant digits (the old ``10.2200`` next to
  ``179.72``) and no count shows decimals (``141,178.00``). Magnitudes of 10**digits and above print as
  integers with separators. Quantities known to an absolute precision (ranking metrics to 0.001) use
  fixed ``decimals`` instead; a column can also share one number of decimals (``per_value=False``).
- **Missing** values (``None``, ``NaN``, ``NaT``, ``pd.NA``) print as :data:`MISSING` (an en dash).
- ``-0`` prints as ``0`` (a sign the computation does not support is noise).
- **Model estimates** that are shown rounded (a CLV total, a weakly identified parameter, any
  estimate printed as an integer) carry ``≈``: ``≈ 2,018,244``. The notebook tests then allow 0.1 %
  (:mod:`retention_utils.reports.nbcheck`), since their last digits move with the machine.
- Tables whose rows are different quantities (a parameter table: r = 0.2426, alpha = 4.414,
  log-likelihood = -9,582) show each with its significant digits, which the rule gives anyway.

Why significant digits: the notebook tests compare what is printed. A number printed with more digits
than its computation supports (a sum of a million floats to the cent, a standard error from a numerical
Hessian to four decimals) changes with the machine's BLAS kernel and thread count; four significant
digits are what a reader uses and what every kernel reproduces. Quantities known less precisely pass
``digits`` explicitly (e.g. standard errors with 2).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Text shown for a missing value.
MISSING = "–"
#: Default significant digits.
DIGITS = 4


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(pd.isna(x)) if np.ndim(x) == 0 else False
    except (TypeError, ValueError):
        return False


def decimals_for(magnitude: float, digits: int = DIGITS) -> int:
    """Decimals that show ``digits`` significant digits of a number of size ``magnitude`` (>= 0):
    ``decimals_for(0.01234) == 5``, ``decimals_for(12.3) == 2``, ``decimals_for(12345) == 0``."""
    if not math.isfinite(magnitude) or magnitude == 0:
        return digits - 1
    return max(0, digits - 1 - math.floor(math.log10(abs(magnitude))))


def number(x: Any, digits: int = DIGITS, decimals: int | None = None, approx: bool = False) -> str:
    """One value by the rule (module docstring): ints as ``1,234``; floats with ``digits`` significant
    digits (or exactly ``decimals`` decimals when given); missing as :data:`MISSING`; ``-0`` as ``0``;
    dates as ISO; anything else as ``str``. Very small non-zero floats (below 10**-(digits+2)) print in
    scientific notation with ``digits`` significant digits (p-values). ``approx`` prefixes ``≈ `` (a
    model estimate shown rounded)."""
    if approx:
        if decimals is None and isinstance(x, float | np.floating):
            x = _significant(float(x), digits)
        text = number(x, digits, decimals)
        return text if text == MISSING else f"≈ {text}"
    if _is_missing(x):
        return MISSING
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "∞" if x > 0 else "−∞"
        if decimals is None:
            if x != 0 and abs(x) < 10 ** -(digits + 2):
                return f"{x:.{digits - 1}e}"
            decimals = decimals_for(abs(x), digits)
        s = f"{x:,.{decimals}f}"
        return s[1:] if s.startswith("-") and float(s.replace(",", "")) == 0 else s
    if isinstance(x, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(x)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(x, dt.date):
        return x.isoformat()
    return str(x)


def _significant(x: float, digits: int) -> float:
    """``x`` rounded to ``digits`` significant digits when its integer part has more (229 with 2 ->
    230): an estimate marked ``≈`` shows no digit its computation does not support, since such digits
    move between machines' BLAS kernels. Smaller and non-finite values are returned as they are."""
    if not math.isfinite(x) or abs(x) < 10**digits:
        return x
    return float(round(x, digits - 1 - math.floor(math.log10(abs(x)))))


def percent(x: Any, decimals: int = 1) -> str:
    """A share in [0, 1] as a percentage with ``decimals`` decimals (``0.8379 -> "83.8 %"``)."""
    if _is_missing(x):
        return MISSING
    return f"{number(100 * float(x), decimals=decimals)} %"


def _integer_column(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s):
        return False
    if pd.api.types.is_integer_dtype(s):
        return True
    return False


def column(s: pd.Series, digits: int = DIGITS, per_value: bool = True, approx: bool = False,
           decimals: int | None = None) -> pd.Series:
    """A column by the rule: integer dtypes as counts; floats with ``digits`` significant digits each
    (``per_value``, the default), or with one number of decimals from the column's largest finite
    magnitude (``per_value=False``), or exactly ``decimals`` decimals (metrics known to an absolute
    precision, e.g. ranking metrics to 0.001); other values through :func:`number`; ``approx`` marks
    every number with ``≈``. Returns a Series of ``str`` with the same index and name."""
    if approx:
        if decimals is None and per_value and pd.api.types.is_float_dtype(s):
            s = s.map(lambda v: _significant(float(v), digits))
        plain = column(s, digits, per_value, decimals=decimals)
        return plain.map(lambda t: t if t == MISSING or not any(ch.isdigit() for ch in t) else f"≈ {t}")
    if decimals is not None and pd.api.types.is_float_dtype(s):
        return s.map(lambda v: number(float(v), decimals=decimals))
    if per_value and pd.api.types.is_float_dtype(s):
        return s.map(lambda v: number(float(v), digits))
    if _integer_column(s):
        return s.map(lambda v: number(int(v)) if not _is_missing(v) else MISSING)
    if pd.api.types.is_float_dtype(s):
        finite = s[np.isfinite(s.to_numpy(dtype="float64", na_value=np.nan))].abs()
        top = float(finite.max()) if len(finite) else 0.0
        if top >= 10**digits:
            return s.map(lambda v: number(float(v), decimals=0))
        dec = decimals_for(top, digits)
        return s.map(lambda v: number(float(v), decimals=dec))
    return s.map(lambda v: number(v, digits))


def table(df: pd.DataFrame | pd.Series, digits: int | Mapping[str, int] = DIGITS,
          percent_columns: tuple[str, ...] = (), per_value: bool = True,
          approx: tuple[str, ...] | bool = (), decimals: int | None = None,
          row_decimals: Mapping[Any, int] | None = None, zero_below: float | None = None) -> pd.DataFrame:
    """A table for display by the rule: every cell a string, columns formatted one by one
    (:func:`column`), index and column labels kept. ``digits`` is one number or ``{column: digits}``
    (columns not named get :data:`DIGITS`); ``percent_columns`` print as percentages with one decimal;
    ``per_value=False`` gives each float column one number of decimals;
    ``approx`` (column names, or ``True`` for all) marks model estimates with ``≈``; ``decimals``
    fixes the decimals of every float column (quantities known to an absolute precision);
    ``row_decimals`` gives some rows fewer (``{"ALS": 2}``: rows whose label, or first index level, is
    ``"ALS"``), for results known less precisely than the others; ``zero_below`` shows floats of smaller
    magnitude as 0 (the caller knows they are rounding noise of a zero, e.g. the mean of centred
    principal components; p-values of 1e-65 are real and keep their digits by default).
    A Series is shown as a one-column table. The numbers themselves are not changed: format for display
    only, compute on the original."""
    frame = df.to_frame() if isinstance(df, pd.Series) else df
    if zero_below is not None:
        frame = frame.apply(lambda c: c.mask(c.abs() < zero_below, 0.0) if pd.api.types.is_float_dtype(c) else c)
    out = {}
    for c in frame.columns:
        d = digits.get(c, DIGITS) if isinstance(digits, Mapping) else digits
        ap = approx is True or (not isinstance(approx, bool) and c in approx)
        out[c] = frame[c].map(percent) if c in percent_columns else column(frame[c], d, per_value, ap, decimals)
    res = pd.DataFrame(out, index=frame.index)
    res.columns = frame.columns
    for label, d in (row_decimals or {}).items():
        rows = [i for i, lab in enumerate(frame.index) if (lab[0] if isinstance(lab, tuple) else lab) == label]
        for c in frame.columns:
            if pd.api.types.is_float_dtype(frame[c]) and c not in percent_columns:
                for i in rows:
                    res.iat[i, list(frame.columns).index(c)] = number(float(frame[c].iat[i]), decimals=d)
    return res


def pandas_float_format(x: float) -> str:
    """``display.float_format`` for pandas in the notebooks: :func:`number` with :data:`DIGITS`
    significant digits, the fallback for frames not passed through :func:`table`."""
    return number(float(x))
