"""Canonical table layouts, column-name constants and validation.

Every loader in :mod:`retention_utils.data.datasets` returns tables in these layouts, and every function
downstream reads columns through these constants, never through string literals.

Transactions (one row per order line)
-------------------------------------
============  ====================  =====================================================
column        dtype                 meaning
============  ====================  =====================================================
customer_id   object (str)          the buyer (household in The Complete Journey)
order_id      object (str)          one checkout / basket; all its lines share ``order_ts``
order_ts      datetime64[ns]        when the order was placed, tz-naive local time
product_id    object (str)          the item bought
quantity      float64               units (or weight) on the line
revenue       float64               currency units actually received for the line
store_id      object (str)          optional
retail_disc   float64 (>= 0)        optional: loyalty discount, stored as a positive amount
coupon_disc   float64 (>= 0)        optional: manufacturer coupon, positive amount
coupon_match_disc float64 (>= 0)    optional: retailer's coupon match, positive amount
============  ====================  =====================================================

Products: ``product_id`` plus attributes (``department``, ``category``, ``brand``, ...).
Customers: ``customer_id`` plus attributes (demographics).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

# --- transactions -------------------------------------------------------------------------------
CUSTOMER_ID = "customer_id"
ORDER_ID = "order_id"
ORDER_TS = "order_ts"
PRODUCT_ID = "product_id"
QUANTITY = "quantity"
REVENUE = "revenue"
STORE_ID = "store_id"
RETAIL_DISC = "retail_disc"
COUPON_DISC = "coupon_disc"
COUPON_MATCH_DISC = "coupon_match_disc"

REQUIRED_TRANSACTION_COLUMNS: tuple[str, ...] = (CUSTOMER_ID, ORDER_ID, ORDER_TS, PRODUCT_ID, QUANTITY, REVENUE)
OPTIONAL_TRANSACTION_COLUMNS: tuple[str, ...] = (STORE_ID, RETAIL_DISC, COUPON_DISC, COUPON_MATCH_DISC)
ID_COLUMNS: tuple[str, ...] = (CUSTOMER_ID, ORDER_ID, PRODUCT_ID, STORE_ID)
FLOAT_COLUMNS: tuple[str, ...] = (QUANTITY, REVENUE, RETAIL_DISC, COUPON_DISC, COUPON_MATCH_DISC)

# --- products -----------------------------------------------------------------------------------
DEPARTMENT = "department"
CATEGORY = "category"
BRAND = "brand"
PRODUCT_TYPE = "product_type"
MANUFACTURER_ID = "manufacturer_id"
PACKAGE_SIZE = "package_size"

# Date strings such as "08/03/2014" read differently day-first and month-first.
_AMBIGUOUS_DATE = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})\b"
_AMBIGUOUS_DATE_ANYWHERE = r"(?<![\d/.\-])\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{1,2})(?![\d/.\-])"
#: day and month as two one- or two-digit numbers separated by spaces (``"05 04 2017"``): ambiguous too
_AMBIGUOUS_DATE_SPACED = r"^\s*\d{1,2}\s+\d{1,2}\s+\d{4}(?:\s|$)"
#: a date without its day (``"2017-12"``, ``"12/2017"``, ``"Dec 2017"``, ``"2017"``): parsers would read
#: the first day of the period, which is a guess
_PARTIAL_DATE = (r"^\s*(?:\d{4}(?:[-/.]\d{1,2})?|\d{1,2}[-/.]\d{4}|[A-Za-z]{3,9}\.?,?\s+\d{4}|\d{4}\s+[A-Za-z]{3,9})\s*$")

EXAMPLE_ROWS = 5


class SchemaError(ValueError):
    """A table does not have the canonical layout; the message names the column and example rows."""


class InsufficientDataError(ValueError):
    """The data is too small or too short for an analysis. The message is one sentence naming what the
    analysis needs and what the data has (raised by the ``require_...`` checks a notebook calls in its
    first analysis cell, so that it stops there with that sentence instead of failing deeper down)."""


def _examples(df: pd.DataFrame, mask: pd.Series | np.ndarray, column: str | None = None) -> str:
    rows = df.loc[np.asarray(mask)]
    shown = rows[[column]] if column is not None and column in rows else rows
    return f"{len(rows):,} row(s); first {min(EXAMPLE_ROWS, len(rows))} (index: values):\n" + shown.head(
        EXAMPLE_ROWS
    ).to_string()


def require_columns(df: pd.DataFrame, columns: Iterable[str], table: str = "transactions") -> None:
    """Raise :class:`SchemaError` naming every missing column of ``columns`` in ``df``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{table}: missing required column(s) {missing}; present: {list(df.columns)}. "
            "Map your column names to the canonical ones (see retention_utils.schema)."
        )


def require_timestamps(df: pd.DataFrame, column: str = ORDER_TS, table: str = "transactions") -> None:
    """Raise :class:`SchemaError` unless ``df[column]`` is tz-naive ``datetime64`` without nulls (a NaT
    has no place in time: it would be dropped by every comparison with a cutoff, or read as the year
    1677 by day arithmetic). Text, numbers and tz-aware stamps are refused with the conversion to use."""
    col = df[column]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        raise SchemaError(
            f"{table}: {column!r} is tz-aware ({col.dtype}); give local time without a zone, e.g. "
            f"df[{column!r}] = df[{column!r}].dt.tz_convert('Europe/Berlin').dt.tz_localize(None)"
        )
    if not pd.api.types.is_datetime64_dtype(col):
        raise SchemaError(
            f"{table}: {column!r} must be datetime64, got {col.dtype}; parse it first, e.g. with "
            "retention_utils.schema.parse_timestamps or pd.to_datetime(..., format=...)"
        )
    n_null = int(col.isna().sum())
    if n_null:
        raise SchemaError(f"{table}: {column!r} has null timestamps (NaT): {_examples(df, col.isna())}")


def empty_table_error(table: str = "transactions") -> SchemaError:
    """The error for a table with no rows (the pandas path and the engines say the same)."""
    return SchemaError(f"{table}: the table is empty (0 rows); nothing to analyse.")


def require_non_empty(df: pd.DataFrame, table: str = "transactions") -> None:
    """Raise :class:`SchemaError` if ``df`` has no rows."""
    if len(df) == 0:
        raise empty_table_error(table)


def is_ambiguous_day_month(values: pd.Series) -> bool:
    """True when string dates are shaped ``a/b/yyyy`` (or with ``-``/``.``), e.g. ``"08/03/2014"``.

    Rule: such a column is always treated as ambiguous between day-first and month-first, even when
    some value (``"25/03/2014"``) would settle it, because a parser guessing per value reads
    ``"08/03/2014"`` month-first in a day-first file. ISO dates (``2014-03-08``) and ``YYYYMMDD``
    integers are never ambiguous. Non-string columns are never ambiguous.
    """
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return False
    sample = values.dropna().astype(str)
    return bool(sample.str.contains(_AMBIGUOUS_DATE_ANYWHERE).any() or sample.str.contains(_AMBIGUOUS_DATE_SPACED).any())


_RELATIVE_WORDS = r"^\s*(today|now|yesterday|tomorrow)\s*$"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"  # a UTC offset at the end of an ISO stamp
_TIME_WITH_OFFSET = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"  # a clock time then an offset
_DATE_PART = re.compile(r"(?<![\d/.\-])(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.\-])")
_ISO_DATE_PART = re.compile(r"(?<!\d)(\d{4})([/.\-]?)(\d{2})\2(\d{2})(?!\d)")
_TIME_PART = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(:\d{2})?(\.\d{1,6})?(\s*[AaPp][Mm])?(?![\d:])")


def suggest_date_formats(example: str) -> list[str]:
    """``strftime`` formats that read the text ``example`` (e.g. ``"08.03.2014 14:05"`` ->
    ``["%d.%m.%Y %H:%M", "%m.%d.%Y %H:%M"]``): day-first before month-first, only the readings the
    example allows (``"25/03/2014"`` cannot be month-first), each checked with
    :func:`datetime.strptime`. Used in the error messages of :func:`parse_timestamps`; an empty list
    when no simple format reads it."""
    text = str(example).strip()
    m = _DATE_PART.search(text)
    iso = None if m else _ISO_DATE_PART.search(text)
    if m is None and iso is None:
        return []
    if m is not None:
        sep, year = m.group(2), m.group(4)
        y = "%Y" if len(year) == 4 else "%y"
        dates = [f"%d{sep}%m{sep}{y}", f"%m{sep}%d{sep}{y}"]
        span = m.span()
    else:
        sep = iso.group(2)
        dates = [f"%Y{sep}%m{sep}%d"]
        span = iso.span()
    head, tail = text[: span[0]], text[span[1] :]
    head = re.sub(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b", "%a", head.replace("%", "%%"))
    t = _TIME_PART.search(tail)
    if t is not None:
        ampm = t.group(5)
        clock = ("%I" if ampm else "%H") + ":%M" + (":%S" if t.group(3) else "") + (".%f" if t.group(4) else "")
        if ampm:
            clock += ampm[: len(ampm) - len(ampm.lstrip())] + "%p"
        rest = re.sub(r"[+-]\d{2}:?\d{2}\s*$", "%z", tail[t.end() :].replace("%", "%%"))
        tail = tail[: t.start()].replace("%", "%%") + clock + rest
    else:
        tail = tail.replace("%", "%%")
    out = []
    for d in dates:
        fmt = head + d + tail
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        out.append(fmt)
    return out


def _format_hint(example: str) -> str:
    fmts = suggest_date_formats(example)
    if not fmts:
        return "Set date_format: in the dataset config's source (date_format= in Python) to the strftime format of the dates."
    if len(fmts) == 2 and "%d" in fmts[0] and "%m" in fmts[1]:
        return (f"Set date_format: in the dataset config's source (date_format= in Python) to {fmts[0]!r} (day first) "
                f"or {fmts[1]!r} (month first).")
    return f"Set date_format: in the dataset config's source (date_format= in Python), e.g. {fmts[0]!r}."


def check_timezone(timezone: str) -> str:
    """The IANA name ``timezone`` (``"Europe/Berlin"``, ``"UTC"``) if :mod:`zoneinfo` knows it, else
    :class:`SchemaError` naming the config option."""
    import zoneinfo

    if not isinstance(timezone, str) or not timezone.strip():
        raise SchemaError(f"timezone: must be an IANA time-zone name such as 'Europe/Berlin' or 'UTC', not {timezone!r}")
    try:
        zoneinfo.ZoneInfo(timezone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise SchemaError(f"timezone: {timezone!r} is not an IANA time-zone name (e.g. 'Europe/Berlin', 'America/New_York', "
                          "'UTC')") from err
    return timezone.strip()


def parse_timestamps(
    values: pd.Series, column: str = ORDER_TS, date_format: str | None = None, timezone: str | None = None
) -> pd.Series:
    """Parse ``values`` into tz-naive ``datetime64[ns]`` local time.

    Parameters
    ----------
    values : Series of str, datetime-like, or integer / integral float ``YYYYMMDD``.
    column : name used in error messages.
    date_format : an explicit ``strftime`` format (e.g. ``"%d/%m/%Y"``). Required when the strings are
        ambiguous between day-first and month-first (e.g. ``"08/03/2014"``, anywhere in the string).
    timezone : an IANA time-zone name (``"Europe/Berlin"``, ``"UTC"``; the ``timezone:`` option of a
        dataset config). Every stamp must then carry a UTC offset (``+01:00``, ``Z``); each is converted
        to that zone's local clock and the zone dropped, so stamps whose offset changes with daylight
        saving (``+02:00`` in summer, ``+01:00`` in winter) all end on one local clock and each order
        stays on its local calendar day (``2023-10-29T00:30+02:00`` is 29 October in Berlin, 28 October
        in UTC).

    Returns
    -------
    Series of dtype ``datetime64[ns]``. Without ``timezone``, time-zone-aware input with *one* offset
    keeps its *local wall-clock time* and drops the offset (``2014-12-31T22:00-05:00`` ->
    ``2014-12-31 22:00``), so an evening order stays on its local day.

    Raises
    ------
    SchemaError
        the column is ambiguous and no format is given (the message suggests formats that read an
        example of the data, and names ``date_format:``); a value does not parse, is a relative word
        ("today", "now"), or is a number other than ``YYYYMMDD`` (epoch seconds, Excel serials); values
        with different time-zone offsets and no ``timezone`` (the message names ``timezone:``); with
        ``timezone``, stamps without an offset or an unknown zone name; missing values. Messages name
        the rows.
    """
    tz = None if timezone is None else check_timezone(timezone)
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
        if tz is not None:
            if getattr(out.dt, "tz", None) is None:
                raise SchemaError(
                    f"column {column!r}: timestamps have no time zone, so timezone: {tz!r} cannot convert them; "
                    "leave timezone: out when they are local times already"
                )
            out = out.dt.tz_convert(tz)
    else:
        if date_format is None and is_ambiguous_day_month(values):
            first = values.dropna().astype(str)
            example = first[first.str.contains(_AMBIGUOUS_DATE_ANYWHERE) | first.str.contains(_AMBIGUOUS_DATE_SPACED)].iloc[0]
            raise SchemaError(
                f"column {column!r}: dates such as {example!r} read differently day-first "
                f"and month-first. {_format_hint(example)}"
            )
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            whole = values.dropna()
            ok = (whole == np.floor(whole)) & (whole >= 1000_01_01) & (whole <= 9999_12_31)
            if not ok.all():
                raise SchemaError(
                    f"column {column!r}: numeric timestamps other than YYYYMMDD (epoch seconds, Excel serial "
                    "days) are not read; convert them to dates first: " + _examples(values.to_frame(column), ~values.isin(whole[ok]) & values.notna())
                )
            values = values.astype("Int64").astype(str).where(values.notna(), None)
            date_format = date_format or "%Y%m%d"
        text = values.astype(str)
        relative = values.notna() & text.str.match(_RELATIVE_WORDS, case=False)
        if relative.any():
            raise SchemaError(f"column {column!r}: relative dates are not timestamps: " + _examples(values.to_frame(column), relative))
        partial = values.notna() & text.str.match(_PARTIAL_DATE)
        if date_format is None and partial.any():
            raise SchemaError(
                f"column {column!r}: dates without a day (e.g. {str(values[partial].iloc[0])!r}) would be read as the first "
                "day of the period, a guess; give full dates such as '2017-12-31' (or date_format: in the dataset "
                "config's source when the file really holds months): " + _examples(values.to_frame(column), partial, column)
            )
        if tz is not None:
            naive = values.notna() & ~text.str.contains(_OFFSET, regex=True)
            if naive.any():
                raise SchemaError(
                    f"column {column!r}: timezone: {tz!r} converts stamps that carry a UTC offset (e.g. "
                    "'2023-10-29T00:30:00+02:00'), but some have none; leave timezone: out when all are local "
                    "times already: " + _examples(values.to_frame(column), naive, column)
                )
        if tz is None:  # stamps with and without a UTC offset in one column: no single reading is right
            with_offset = values.notna() & text.str.contains(_TIME_WITH_OFFSET, regex=True)
            if with_offset.any() and not with_offset[values.notna()].all():
                without = values.notna() & ~with_offset
                raise SchemaError(
                    f"column {column!r}: {int(with_offset.sum()):,} timestamp(s) carry a UTC offset (e.g. "
                    f"{str(values[with_offset].iloc[0])!r}) and {int(without.sum()):,} do not (e.g. {str(values[without].iloc[0])!r}); "
                    "make the export consistent: with an offset on every stamp, set timezone: to the shop's zone; "
                    "with none, every stamp is read as local time"
                )
        mixed_tz = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # pandas 2 warns before keeping mixed offsets
                out = pd.to_datetime(values, format=date_format if date_format else "mixed", errors="coerce",
                                     utc=tz is not None)
            mixed_tz = out.dtype == object  # mixed offsets: pandas 2 keeps Python datetimes
        except (ValueError, TypeError, OverflowError) as err:
            if "time zone" not in str(err) and "tz" not in str(err):
                raise SchemaError(f"column {column!r}: cannot parse timestamps ({err}).") from err
            mixed_tz = True
        if mixed_tz:
            offsets = sorted(set(text[values.notna()].str.extract(r"([+-]\d{2}:?\d{2}|Z)\s*$")[0].dropna()))
            shown = f" ({', '.join(offsets[:4])})" if offsets else ""
            raise SchemaError(
                f"column {column!r}: timestamps carry different time-zone offsets{shown}, e.g. from daylight saving; "
                "set timezone: in the dataset config's source (timezone= in Python) to the shop's zone, e.g. "
                "timezone: Europe/Berlin (or UTC), to convert every stamp to that one local clock: "
                + _examples(values.to_frame(column), values.notna())
            )
        bad = out.isna() & values.notna()
        if bad.any():
            example = str(values[bad].iloc[0])
            fmts = [f for f in suggest_date_formats(example) if f != date_format]
            hint = f" A format that reads {example!r}: {fmts[0]!r} (date_format:)." if fmts else ""
            raise SchemaError(
                f"column {column!r}: timestamps that do not parse"
                f"{' with format ' + repr(date_format) if date_format else ''} (or out of range).{hint} "
                + _examples(values.to_frame(column), bad, column)
            )
        if tz is not None:
            out = out.dt.tz_convert(tz)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)  # keep the local wall-clock time
    out = out.astype("datetime64[ns]")
    if out.isna().any():
        raise SchemaError(f"column {column!r}: missing timestamps: " + _examples(out.to_frame(column), out.isna()))
    return out


# --- dates: one type, one strict parser -----------------------------------------------------------

#: What every public function that takes a date accepts. Strings go through the strict parser
#: (:func:`to_day`); ambiguous day/month strings such as ``"05/04/2017"`` are refused.
DateLike = date | datetime | str | pd.Timestamp | np.datetime64

#: One calendar day.
DAY = pd.Timedelta(days=1)

#: Time units of the BTYD summaries and models: days per unit.
TIME_UNIT_DAYS: dict[str, float] = {"days": 1.0, "weeks": 7.0}


def time_unit_days(time_unit: str) -> float:
    """Days per ``time_unit`` (``"days"`` -> 1, ``"weeks"`` -> 7); ``ValueError`` for any other unit."""
    if time_unit not in TIME_UNIT_DAYS:
        raise ValueError(f"time_unit must be one of {list(TIME_UNIT_DAYS)}, not {time_unit!r}")
    return TIME_UNIT_DAYS[time_unit]


def to_day(value: DateLike, what: str = "date") -> pd.Timestamp:
    """A date argument as a tz-naive ``pd.Timestamp`` at midnight (the calendar day it names).

    Accepts ``datetime.date``/``datetime``, ``pd.Timestamp``, ``np.datetime64`` and strings. Strings go
    through :func:`parse_timestamps` (ISO ``"2017-09-30"`` and unambiguous formats; ``"05/04/2017"``,
    ``"today"`` and numbers are refused). A tz-aware value keeps its local wall-clock day. ``what`` names
    the argument in error messages. Raises :class:`SchemaError` for an unparseable or ambiguous string,
    ``TypeError`` for ``None``, numbers and other types.
    """
    if isinstance(value, str):
        iso = "give it as ISO text 'YYYY-MM-DD' (e.g. '2017-09-30') or a datetime.date"
        if re.search(_AMBIGUOUS_DATE_ANYWHERE, value) or re.search(_AMBIGUOUS_DATE_SPACED, value):
            raise SchemaError(f"{what} {value!r} reads differently day-first and month-first; {iso}")
        if re.match(_PARTIAL_DATE, value):
            raise SchemaError(f"{what} {value!r} has no day (it would be read as the first day of the period); {iso}")
        try:
            return parse_timestamps(pd.Series([value], dtype=object), what).iloc[0].normalize()
        except SchemaError:
            raise SchemaError(f"{what} {value!r} is not a date; {iso}") from None
    if isinstance(value, bool) or value is None or not isinstance(value, date | np.datetime64):
        raise TypeError(f"{what} must be a date (datetime.date, pandas Timestamp or an ISO string such as "
                        f"'2017-09-30'), got {value!r} of type {type(value).__name__}")
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise TypeError(f"{what} must be a date, got a missing value ({value!r})")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)  # local wall-clock time, as parse_timestamps does
    return ts.normalize()


def to_date(value: DateLike, what: str = "date") -> date:
    """:func:`to_day` as a ``datetime.date``: what a notebook's date parameter becomes, whether it
    arrived as a date (the runner, JupyterLab) or as an ISO string (papermill's ``-p`` and ``-y``)."""
    return to_day(value, what).date()


#: an id written as a decimal with only zeros after the point (``"17850.0"``): the integer id ``"17850"``
DECIMAL_ID = r"^([+-]?\d+)\.0+$"


def normalise_ids(values: pd.Series) -> tuple[pd.Series, int, int]:
    """:func:`as_id` and what it changed: ``(ids, distinct_values_normalised, rows_normalised)``.

    An id written as an integer-valued decimal is the same id however it was read: ``"17850.0"`` (a
    spreadsheet export of a numeric column), ``17850.0`` (a float column) and ``"17850"`` all become
    ``"17850"``. The counts are of the values that changed that way (text ``"17850.0"``, or a float
    read from a binary file); white space and empty strings are not counted here."""
    if pd.api.types.is_integer_dtype(values) and not isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        # integers: nothing to strip or normalise; each distinct id is formatted once (ids repeat a lot)
        codes, uniques = pd.factorize(values.to_numpy())
        text = np.asarray(uniques.astype(str), dtype=object)
        return pd.Series(text[codes], index=values.index, name=values.name, dtype=object), 0, 0
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        integral = bool((whole == np.floor(whole)).all()) and bool((whole.abs() < 2**53).all())
        if integral:
            changed = values.notna()
            out = values.astype("Int64").astype(object)
            out = out.where(values.notna(), None)
            out[changed] = out[changed].astype(str)
            return out.where(out.notna(), None), int(whole.nunique()), int(changed.sum())
        values = values.astype(object).where(values.notna(), None)
        values[values.notna()] = values[values.notna()].map(repr)
    out = values.astype(object)
    mask = out.notna()
    text = out[mask].astype(str).str.strip()
    candidate = text.str.contains(".", regex=False)
    n_distinct = n_rows = 0
    if candidate.any():
        sub = text[candidate]
        decimal = sub.str.match(DECIMAL_ID)
        n_distinct, n_rows = int(sub[decimal].nunique()), int(decimal.sum())
        if n_rows:
            text[decimal[decimal].index] = sub[decimal].str.replace(DECIMAL_ID, r"\1", regex=True)
    out[mask] = text
    out[mask & (out == "")] = None
    return out.where(out.notna(), None), n_distinct, n_rows


def as_id(values: pd.Series) -> pd.Series:
    """Ids as Python ``str`` (object dtype), the same rule for every table: integer-valued decimals lose
    their zeros after the point (``3.0`` and ``"3.0"`` -> ``"3"``; :func:`normalise_ids` counts them),
    surrounding white space is stripped (``" 1"`` -> ``"1"``), empty strings and nulls become null
    (``None``). Other text is kept as is (``"007"`` keeps its zeros, ``"C536379"`` its letter)."""
    return normalise_ids(values)[0]


_as_id = as_id

#: a number written with a thousands comma and an optional decimal point (``"1,234.50"``)
_THOUSANDS_COMMA = r"^\s*[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*$"
#: a number written with a decimal comma (``"19,90"``, ``"1.234,50"``)
_DECIMAL_COMMA = r"^\s*[+-]?(?:\d{1,3}(?:[.\s]\d{3})+|\d+),\d+\s*$"


def to_float(values: pd.Series, column: str) -> pd.Series:
    """Convert to ``float64`` or raise :class:`SchemaError` naming the rows that are not numbers. When
    they look like decimal commas (``"19,90"``) the message says to set ``decimal: ","`` (and
    ``thousands: "."`` when thousands are dotted)."""
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        shown = values[bad].astype(str)
        hint = ""
        if shown.str.match(_DECIMAL_COMMA).mean() >= 0.5:
            dotted = shown.str.contains(r"\d\.\d{3}", regex=True).any()
            hint = (" They look like numbers with a decimal comma (e.g. " + repr(shown.iloc[0]) + "): set decimal: ','"
                    + (" and thousands: '.'" if dotted else "") + " in the dataset config's source (decimal=',' in Python).")
        elif shown.str.match(_THOUSANDS_COMMA).mean() >= 0.5:
            hint = (" They look like numbers with a thousands comma (e.g. " + repr(shown.iloc[0]) + "): set thousands: ','"
                    " in the dataset config's source (thousands=',' in Python).")
        raise SchemaError(f"column {column!r}: values that are not numbers.{hint} " + _examples(values.to_frame(column), bad))
    return num.astype("float64")


#: ``DataFrame.attrs`` key under which :func:`validate_transactions` records the ids it normalised:
#: ``{column: {"ids": distinct values, "rows": rows}}`` for every id column with at least one
#: (read by :func:`retention_utils.data.cleaning.clean_transactions` into its report).
NORMALISED_IDS = "normalised_ids"


def validate_transactions(
    df: pd.DataFrame,
    date_format: str | None = None,
    table: str = "transactions",
    timezone: str | None = None,
) -> pd.DataFrame:
    """Check and coerce a transaction table to the canonical layout (module docstring).

    Returns a new DataFrame with the required columns first, then any optional canonical columns,
    then the rest untouched; dtypes coerced (ids to ``str``, ``order_ts`` to ``datetime64[ns]``,
    amounts to ``float64``). Null customer ids are kept here (cleaning counts and removes them). Ids
    written as integer-valued decimals (``"17850.0"``) are normalised (:func:`normalise_ids`) and
    counted in ``out.attrs[NORMALISED_IDS]`` (kept from the input's attrs when it has them).
    ``timezone``: see :func:`parse_timestamps`.

    Raises
    ------
    SchemaError
        empty table; missing required columns; timestamps that do not parse or are ambiguous without
        ``date_format``; non-numeric quantity/revenue; missing order or product ids; one order id used
        by several customers.
    """
    require_columns(df, REQUIRED_TRANSACTION_COLUMNS, table)
    require_non_empty(df, table)
    out = df.copy()
    out[ORDER_TS] = parse_timestamps(out[ORDER_TS], ORDER_TS, date_format, timezone)
    counts = {k: dict(v) for k, v in (df.attrs.get(NORMALISED_IDS) or {}).items()}
    for col in ID_COLUMNS:
        if col in out:
            out[col], n_ids, n_rows = normalise_ids(out[col])
            if n_rows:
                counts[col] = {"ids": counts.get(col, {}).get("ids", 0) + n_ids,
                               "rows": counts.get(col, {}).get("rows", 0) + n_rows}
    for col in FLOAT_COLUMNS:
        if col in out:
            out[col] = to_float(out[col], col)
    for col in (ORDER_ID, PRODUCT_ID):
        miss = out[col].isna()
        if miss.any():
            raise SchemaError(f"{table}: column {col!r} has missing values: " + _examples(out, miss))
    for col in (QUANTITY, REVENUE):
        miss = out[col].isna() | ~np.isfinite(out[col].to_numpy())
        if miss.any():
            raise SchemaError(f"{table}: column {col!r} has missing or infinite values: " + _examples(out, miss))
    known = out[out[CUSTOMER_ID].notna()]
    n_cust = known.groupby(ORDER_ID, sort=False)[CUSTOMER_ID].nunique()
    shared = n_cust[n_cust > 1]
    if len(shared):
        rows = known[ORDER_ID].isin(shared.index[:EXAMPLE_ROWS])
        raise SchemaError(
            f"{table}: {len(shared):,} order id(s) belong to more than one customer; "
            "order ids must identify one checkout: " + _examples(known, rows)
        )
    order = [*REQUIRED_TRANSACTION_COLUMNS, *(c for c in OPTIONAL_TRANSACTION_COLUMNS if c in out)]
    out = out[order + [c for c in out.columns if c not in order]]
    out.attrs = {k: v for k, v in df.attrs.items() if k != NORMALISED_IDS}
    if counts:
        out.attrs[NORMALISED_IDS] = counts
    return out


def rename_columns(df: pd.DataFrame, mapping: Mapping[str, str], table: str = "transactions") -> pd.DataFrame:
    """Rename a user's columns to canonical names.

    ``mapping`` is ``{canonical_name: user_column}`` (as in a dataset YAML's ``columns:`` block).
    Raises :class:`SchemaError` if a mapped user column is absent, one column is mapped to two
    canonical names, or a mapping would overwrite a canonical column the file already has.
    """
    twice = sorted({src for src in mapping.values() if list(mapping.values()).count(src) > 1})
    if twice:
        raise SchemaError(
            f"{table}: the column mapping maps several canonical names to the same column(s) {twice}: "
            f"{ {c: src for c, src in mapping.items() if src in twice} }; map each column once."
        )
    absent = {canon: src for canon, src in mapping.items() if src not in df.columns}
    if absent:
        raise SchemaError(
            f"{table}: the column mapping names column(s) not in the file: {absent}; "
            f"the file has {list(df.columns)}."
        )
    clash = [c for c, src in mapping.items() if c != src and c in df.columns]
    if clash:
        raise SchemaError(
            f"{table}: the file already has column(s) {clash} and the mapping maps another column onto them "
            f"({ {c: mapping[c] for c in clash} }); drop one of the two or map the file's own column."
        )
    return df.rename(columns={src: canon for canon, src in mapping.items()})


#: File, in an export folder, listing the files this package wrote there with their SHA-256 digests
#: (:func:`write_checked_csv` / :func:`write_checked_parquet` with ``manifest=True``).
MANIFEST_NAME = "MANIFEST.retention_utils.json"


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(folder: Path) -> dict[str, str]:
    import json

    m = folder / MANIFEST_NAME
    if not m.exists():
        return {}
    try:
        data = json.loads(m.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("written_by") != "retention_utils" or not isinstance(files, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError) as err:
        raise FileExistsError(f"{m} exists but is not a manifest written by retention_utils; move it away") from err
    return {str(k): str(v) for k, v in files.items()}


def claim_export_path(path: str | Path) -> None:
    """Refuse to overwrite a file this package did not write: raise ``FileExistsError`` when ``path``
    exists and is not listed in its folder's manifest (:data:`MANIFEST_NAME`) with its current SHA-256
    digest (a file written by someone else, or ours edited since). Nothing is written."""
    p = Path(path)
    if not p.exists():
        return
    recorded = _read_manifest(p.parent).get(p.name)
    if recorded is None:
        raise FileExistsError(f"{p} exists and was not written by retention_utils (not in {MANIFEST_NAME}); "
                              "move it away or write to another folder (--output-dir)")
    if recorded != _sha256(p):
        raise FileExistsError(f"{p} was changed since retention_utils wrote it (its digest differs from "
                              f"{MANIFEST_NAME}); move it away or write to another folder (--output-dir)")


def record_export(path: str | Path) -> None:
    """Add ``path`` with its SHA-256 digest to its folder's manifest (:data:`MANIFEST_NAME`)."""
    import json

    p = Path(path)
    files = _read_manifest(p.parent)
    files[p.name] = _sha256(p)
    body = {"written_by": "retention_utils", "note": "files written by retention_utils in this folder, with their "
            "SHA-256; a listed file is overwritten by the next run only while its digest matches",
            "files": dict(sorted(files.items()))}
    (p.parent / MANIFEST_NAME).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def _check_layout(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if list(table.columns) != list(columns):
        raise ValueError(f"{what} columns must be {list(columns)}, got {list(table.columns)}")


def _claim_same_layout(p: Path, columns: list[str], parquet: bool) -> None:
    """Without a manifest, overwrite only an earlier export of the same table: ``FileExistsError`` when
    ``p`` exists and its header (CSV) or schema (Parquet) is not exactly ``columns``."""
    if not p.exists():
        return
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder; give the path of a file to write")
    try:
        if parquet:
            import pyarrow.parquet as pq

            found = list(pq.read_schema(p).names)
        else:
            with open(p, encoding="utf-8", newline="") as fh:
                found = fh.readline().rstrip("\r\n").split(",")
    except Exception:  # noqa: BLE001 - unreadable as our layout: not ours
        found = None
    if found != columns:
        raise FileExistsError(f"{p} exists and is not an earlier export of this table (its columns differ); "
                              "move it away or give another path")


def _write_checked(table: pd.DataFrame, path: str | Path, columns: Iterable[str], what: str, manifest: bool,
                   parquet: bool) -> Path:
    cols = list(columns)
    _check_layout(table, cols, what)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if manifest:
        claim_export_path(p)
    else:
        _claim_same_layout(p, cols, parquet)
    if parquet:
        table.to_parquet(p, index=False, engine="pyarrow")
    else:
        table.to_csv(p, index=False, float_format="%.10g")
    if manifest:
        record_export(p)
    return p


def write_checked_csv(table: pd.DataFrame, path: str | Path, columns: Iterable[str], what: str,
                      manifest: bool = False) -> Path:
    """Write a table meant for other tools (e.g. the retention playbook) as CSV: UTF-8, header, no
    index, floats with 10 significant digits, missing values as empty fields; creates the folder.

    Raises ``ValueError`` when ``table``'s columns are not exactly ``columns`` in that order, so a
    reader can rely on the layout. An existing file is never overwritten blindly (``FileExistsError``):
    with ``manifest=True`` only if :func:`claim_export_path` allows it (a file this package wrote,
    unchanged since; the file is then recorded in the folder's manifest), otherwise only when it is an
    earlier export of the same table (same header). Returns the path written.
    """
    return _write_checked(table, path, columns, what, manifest, parquet=False)


def write_checked_parquet(table: pd.DataFrame, path: str | Path, columns: Iterable[str], what: str,
                          manifest: bool = False) -> Path:
    """:func:`write_checked_csv` for Parquet (pyarrow, no index, column dtypes kept)."""
    return _write_checked(table, path, columns, what, manifest, parquet=True)
