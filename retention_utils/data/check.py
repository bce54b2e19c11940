"""Check a dataset before anything runs: load, validate and clean it once, and say what it holds.

``python -m retention_utils.reports check --dataset X`` prints :meth:`DatasetCheck.text`; the report
runner calls :func:`check_dataset` before it starts the first kernel, so a wrong mapping, date format or
separator stops the run once, with the full message, instead of failing every notebook at its fourth
cell.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import schema as S
from .cleaning import CleaningReport, clean_transactions, remember_clean
from .datasets import ObservationWindow, load_config, load_dataset


@dataclass
class WindowCheck:
    """The data cleaned for one observation window.

    ``start``/``end``: the window asked for (``None`` = open); ``window``: the
    :class:`~retention_utils.data.datasets.ObservationWindow` the notebooks will analyse; ``report``:
    the :class:`~retention_utils.data.cleaning.CleaningReport`; ``first_day``/``last_day``: the first
    and last day with a clean order; ``customers``/``orders``: distinct clean counts; ``warnings``: one
    sentence per oddity (the window reaching beyond the data)."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    window: ObservationWindow
    report: CleaningReport
    first_day: pd.Timestamp
    last_day: pd.Timestamp
    customers: int
    orders: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class DatasetCheck:
    """What :func:`check_dataset` found: the config (``name``, ``title``, ``path``), how the canonical
    columns were derived (``notes``), warnings raised while loading (``load_warnings``), the raw rows and
    the days they cover, one :class:`WindowCheck` per window, and where pseudonyms get their key
    (``privacy``; ``privacy_ok`` false when no key is set for a dataset of personal data), and how many
    products the product table describes (``catalogue``: 0 without one; notebook 07 needs one)."""

    name: str
    title: str
    path: str
    notes: list[str]
    load_warnings: list[str]
    rows_loaded: int
    raw_first_day: pd.Timestamp
    raw_last_day: pd.Timestamp
    windows: list[WindowCheck]
    privacy: str
    privacy_ok: bool
    catalogue: int = 0

    @property
    def warnings(self) -> list[str]:
        """Every warning: loading, each window, pseudonym key."""
        out = list(self.load_warnings)
        for w in self.windows:
            out += w.warnings
        if not self.privacy_ok:
            out.append(self.privacy)
        return out

    def text(self) -> str:
        """The report ``check`` prints: source, derivations, per window the cleaning report and the days
        the clean data covers, warnings, and a last line ``ok`` (with the number of warnings)."""
        days = (self.raw_last_day - self.raw_first_day).days + 1
        lines = [f"dataset {self.name} ({self.title}) from {self.path}",
                 f"loaded {self.rows_loaded:,} lines with order days {self.raw_first_day.date()} .. "
                 f"{self.raw_last_day.date()} ({days:,} day(s))"]
        lines += [f"- {n}" for n in self.notes]
        for w in self.windows:
            asked = f"{_day_text(w.start)} .. {_day_text(w.end)}"
            lines.append("")
            lines.append(f"window {asked}: cleaning report")
            lines += ["  " + ln for ln in w.report.summary().splitlines()]
            lines.append(f"the window analysed is {w.window} ({w.window.days:,} days); the clean data covers "
                         f"{w.first_day.date()} .. {w.last_day.date()}: {w.customers:,} customers, {w.orders:,} orders")
        lines.append("")
        lines.append(f"product table: {self.catalogue:,} products" if self.catalogue else
                     "product table: none (07, the recommenders, needs one: products: in the config)")
        # without a key, the message is the warning below (printed once)
        lines.append(f"pseudonyms: {self.privacy}" if self.privacy_ok else "pseudonyms: no key set (the warning below)")
        for msg in self.warnings:
            lines.append(f"warning: {msg}")
        n = len(self.warnings)
        lines.append("ok" + (f" ({n} warning{'s' if n != 1 else ''})" if n else ""))
        return "\n".join(lines)


def _day_text(day: pd.Timestamp | None) -> str:
    return "open" if day is None else str(day.date())


def check_dataset(
    dataset: str | os.PathLike | dict[str, Any],
    windows: list[tuple[S.DateLike | None, S.DateLike | None]] | None = None,
) -> DatasetCheck:
    """Load a dataset (config name, YAML path or config dict) once, validate it, clean it once per
    observation window and describe the result.

    ``windows``: ``[(start, end), ...]`` inclusive days (``None`` = open); default: the config's
    ``parameters: OBSERVATION_START / OBSERVATION_END`` (what every notebook receives). Each distinct
    window is cleaned once. Returns a :class:`DatasetCheck` (:meth:`DatasetCheck.text` is what the
    command prints).

    Raises what loading and cleaning raise, with their full messages: ``FileNotFoundError`` (config or
    data file), :class:`retention_utils.schema.SchemaError` (mapping, dates, numbers, separators, joins),
    ``ValueError`` (malformed config, no line left in a window: the message gives the days the data
    covers).
    """
    from ..privacy import PrivacyError, pseudonym_key

    cfg = dataset if isinstance(dataset, dict) else load_config(dataset)
    params = dict(cfg.get("parameters") or {})
    if windows is None:
        windows = [(params.get("OBSERVATION_START"), params.get("OBSERVATION_END"))]
    bounds = []
    for start, end in windows:
        b = (None if start is None else S.to_day(start, "OBSERVATION_START"),
             None if end is None else S.to_day(end, "OBSERVATION_END"))
        if b not in bounds:
            bounds.append(b)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(cfg)
    load_warnings = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    loaded = [(str(w.message), w.category) for w in caught]
    notes = [n for n in ds.notes if not n.startswith("warning: ")]
    raw_ts = ds.transactions[S.ORDER_TS]
    raw_first, raw_last = raw_ts.min().normalize(), raw_ts.max().normalize()
    checks = []
    for lo, hi in bounds:
        with warnings.catch_warnings(record=True) as caught_clean:
            warnings.simplefilter("always")
            clean, report = clean_transactions(ds.transactions, ds.products, cfg.get("cleaning"), lo, hi)
        for w in caught_clean:  # given as before; recorded for the cache too
            warnings.warn(w.message, w.category, stacklevel=2)
        if clean.empty:
            raise ValueError(
                f"dataset {cfg.get('name')!r}: no line is left after cleaning in the window {_day_text(lo)} .. "
                f"{_day_text(hi)}; the data covers {raw_first.date()} .. {raw_last.date()}; {report.main_cause()}:\n"
                + report.summary()
            )
        ts = clean[S.ORDER_TS]
        first, last = ts.min().normalize(), ts.max().normalize()
        window = ObservationWindow(lo if lo is not None else first, hi if hi is not None else last)
        # what load_clean returns for this window, for the notebooks that follow (the disk cache)
        remember_clean(cfg, lo, hi, dataclasses.replace(ds, transactions=clean, window=window), report,
                       loaded + [(str(w.message), w.category) for w in caught_clean])
        notes_w = []
        if hi is not None and last < hi:
            notes_w.append(f"the window ends {(hi - last).days:,} day(s) after the last clean order ({last.date()}); "
                           "those days count as days without purchases (set OBSERVATION_END to the data's last day if "
                           "the export simply ends there)")
        if lo is not None and first > lo + pd.Timedelta(days=31):
            notes_w.append(f"the window starts {(first - lo).days:,} days before the first clean order ({first.date()})")
        checks.append(WindowCheck(lo, hi, window, report, first, last, int(clean[S.CUSTOMER_ID].nunique()),
                                  int(clean[S.ORDER_ID].nunique()), notes_w))
    try:
        key = pseudonym_key(cfg)
        privacy, ok = f"key from the {key.source}" if key.enabled else "off (privacy: pseudonymise: false)", True
    except PrivacyError as err:
        privacy, ok = (f"{err} Notebooks that export customer ids (04, 06, 08, 09) will stop until then; pages show "
                       "neutral labels instead of ids.",
                       False)
    return DatasetCheck(
        name=str(cfg.get("name")), title=str(cfg.get("title", cfg.get("name"))), path=str(cfg.get("_path", "(dict)")),
        notes=notes, load_warnings=load_warnings, rows_loaded=len(ds.transactions), raw_first_day=raw_first,
        raw_last_day=raw_last, windows=checks, privacy=privacy, privacy_ok=ok,
        catalogue=int(ds.products[S.PRODUCT_ID].nunique())
        if isinstance(ds.products, pd.DataFrame) and S.PRODUCT_ID in ds.products else 0,
    )


__all__ = ["DatasetCheck", "WindowCheck", "check_dataset"]
