"""Headline-number records: what a notebook states as its result, read back without parsing HTML.

A notebook calls :func:`record` for each headline number. The value is displayed as a line of text
(``customers = 2467``) and as a JSON output of MIME type :data:`RECORD_MIME` carrying the name, the
value and its *kind*. :func:`read_records` reads them back from an executed notebook (the report index
and ``records.json`` show them); the notebook tests compare them at the tolerance of their kind
(:mod:`retention_utils.reports.nbcheck`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RECORD_MIME = "application/vnd.retention-utils.record+json"

#: Kinds of headline number, each compared at its own tolerance by the notebook tests (the values and
#: why: :data:`retention_utils.reports.nbcheck.RECORD_TOLERANCE`): ``count`` (an integer count,
#: exact), ``exact`` (text, dates, booleans, choices: exact), ``share`` (a ratio of counts), ``money``
#: (sums and means of recorded amounts), ``estimate`` (a fitted parameter or a model's prediction),
#: ``metric`` (an evaluation metric of a fitted model: ROC-AUC, NDCG, C-index, MASE ...), ``timing``
#: (wall-clock seconds on the machine that ran the notebook: kept for the reader and the report index,
#: never compared beyond its names, since no two machines or runs agree; the goals on time are
#: measured in ``benchmarks/``).
RECORD_KINDS: tuple[str, ...] = ("count", "exact", "share", "money", "estimate", "metric", "timing")


def jsonable(value: Any, digits: int = 12) -> Any:
    """Plain JSON types: floats rounded to ``digits`` significant digits (NaN/inf -> ``None``), dates
    and timestamps as ISO text, path-like values as text, numpy scalars as Python scalars, mappings
    and sequences recursively. Raises ``TypeError`` for anything else."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):  # numpy scalar
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}")
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, digits) for v in value]
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    raise TypeError(f"cannot record a value of type {type(value).__name__}")


def _default_kind(value: Any) -> str:
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | list | tuple | dict):
        return "exact"
    if isinstance(value, int):
        return "count"
    return "estimate"


def record(name: str, value: Any, digits: int = 10, kind: str | None = None) -> None:
    """Record a headline number of the running notebook and display it as ``name = value``.

    ``value`` is an int, float, str, bool, date or a list/dict of those (numpy scalars accepted);
    floats are rounded to ``digits`` significant digits, NaN/inf become ``None``. ``kind`` (one of
    :data:`RECORD_KINDS`) says how the notebook tests compare it; by default ints are ``count``,
    floats ``estimate`` and anything else ``exact``. Returns nothing (so a last-line call prints no
    echo). Raises ``TypeError`` for other types, ``ValueError`` for a name that is not an identifier or
    an unknown kind.
    """
    if not name.isidentifier():
        raise ValueError(f"record name must be an identifier, not {name!r}")
    kind = kind or _default_kind(value)
    if kind not in RECORD_KINDS:
        raise ValueError(f"record kind must be one of {list(RECORD_KINDS)}, not {kind!r}")
    try:
        v = jsonable(value, digits)
    except TypeError as err:
        raise TypeError(f"record({name!r}): {err}") from None
    from IPython.display import display

    display({RECORD_MIME: {"name": name, "value": v, "kind": kind}, "text/plain": f"{name} = {v!r}"}, raw=True)


def read_records(notebook: str | os.PathLike | Any, with_kind: bool = False) -> dict[str, Any]:
    """All values recorded by :func:`record` in an executed notebook (path or ``NotebookNode``), in
    output order; a name recorded twice keeps its last value. With ``with_kind``, each value is
    ``{"value": ..., "kind": ...}`` (``kind`` is ``None`` for records written before kinds existed)."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, str | Path | os.PathLike) else notebook
    out: dict[str, Any] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if RECORD_MIME in data:
                rec = data[RECORD_MIME]
                if isinstance(rec, str):
                    rec = json.loads(rec)
                out[rec["name"]] = {"value": rec["value"], "kind": rec.get("kind")} if with_kind else rec["value"]
    return out
