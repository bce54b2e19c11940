"""What the notebook tests compare, and at which tolerance: a pytest plugin for nbval.

``make test`` re-runs every notebook with nbval and compares each cell's outputs with the outputs
stored in the notebook. nbval compares text by string equality, which ties the stored outputs to one
machine: the last digits of an iterative fit, a numerical Hessian or a threaded sum change with the CPU,
the BLAS kernel and the thread count while the analysis is the same. This plugin (a ``pytest11`` entry
point of the package, so it is active whenever nbval runs with the package installed) replaces nbval's comparison of a cell's
outputs with the one below; execution, sanitizing (``tests/nbval_sanitize.cfg``), cell markers and
reporting stay nbval's.

The rules
---------
1. **stderr is not compared.** Warnings and progress bars depend on library versions and terminals; the
   stored notebooks hold none (``make notebooks`` drops them and prints them), and a new warning at
   test time does not fail the test. Errors still fail: a cell that raises fails whatever it printed.
2. **Records** (:func:`retention_utils.reports.record`) are compared by name, kind and value, the value
   at the tolerance of its kind (:data:`RECORD_TOLERANCE`); their text twin (``name = value``) is not
   compared again.
3. **Text** (``text/plain``, ``text/html``, ``text/markdown``, streams) is split into numbers and the
   rest. The rest must be identical up to runs of white space (a number one character wider shifts a
   table's alignment). Integers (no decimal point, no exponent: counts, ids, dates, years) must be
   identical. A decimal number may differ by at most **one unit in its last printed digit** (two
   machines' values on either side of a rounding boundary); every number is printed at the precision
   its computation supports (:mod:`retention_utils.formatting`), so anything more is a real change.
4. Images are not compared (nbval's default); a figure's numbers are compared where a table or a
   sentence states them.

Record tolerances (relative, ``|a - b| <= rtol * max(|a|, |b|)``; lists and dicts element-wise)
-------------------------------------------------------------------------------------------------
``count`` and ``exact``: 0 (identical). ``share`` and ``money``: 1e-9, one unit in the tenth
significant digit at which records are rounded: ratios of counts and sums of amounts in a fixed order
are reproducible to ~1e-15. ``estimate``: 1e-4; ``metric``: 1e-3. ``timing`` (wall-clock seconds):
any number, only its structure (a dict's keys, a list's length) must match. Measured on this project's notebooks
across OpenBLAS kernels (SkylakeX, Haswell) and 1 or 2 threads (``make test-portable``), the largest
relative differences were about 1e-5 for estimates (optimiser stopping points, P(alive) of a weakly
identified BTYD fit) and 2e-4 for metrics (ranking metrics whose near-tied scores swap); the
tolerances sit a factor of about 10 above, and at least 10 times below the smallest change that a
different setting causes (a change of horizon, k or cleaning rule moves the records it touches by 1 %
or more; ``tests/test_nbcheck.py`` shows both sides).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .records import RECORD_MIME

#: Relative tolerance of a number marked with ``≈`` in text (rule 3).
APPROX_RTOL = 1e-3

#: Relative tolerance per record kind (see the module docstring for the reasons).
RECORD_TOLERANCE: dict[str, float] = {
    "count": 0.0,
    "exact": 0.0,
    "share": 1e-9,
    "money": 1e-9,
    "estimate": 1e-4,
    "metric": 1e-3,
    "timing": math.inf,  # wall-clock seconds: only the names (a dict's keys, a list's length) compare
}

# a number: optional sign (ASCII or Unicode minus), digits with optional thousands separators, optional
# decimals and exponent; not glued to a preceding letter, digit or dot (so "x2", "log1p", "3.1.2" parts
# and the "-12" of "2017-12-04" are not read as numbers)
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")
_SPACE = re.compile(r"\s+")


def _tokens(text: str) -> list[str | tuple[float, float | None, str]]:
    """Text as alternating literal pieces (white space collapsed) and numbers ``(value, quantum, raw)``;
    ``quantum`` is one unit of the last printed digit for a decimal number, ``None`` for an integer; a
    number after ``≈`` has ``raw`` starting with ``≈`` and a quantum even when it is an integer."""
    out: list[str | tuple[float, float | None, str]] = []
    pos = 0
    for m in _NUMBER.finditer(text):
        lit = _SPACE.sub(" ", text[pos:m.start()])
        if lit:
            out.append(lit)
        raw = m.group(0)
        num = raw.replace(",", "").replace("−", "-")
        mant, _, exp = num.lower().partition("e")
        decimals = len(mant.split(".")[1]) if "." in mant else 0
        approx = text[:m.start()].rstrip().endswith("≈")
        if "." in mant or exp or approx:
            quantum = 10.0 ** (-decimals + (int(exp) if exp else 0))
        else:
            quantum = None
        out.append((float(num), quantum, ("≈" + raw) if approx else raw))
        pos = m.end()
    tail = _SPACE.sub(" ", text[pos:])
    if tail:
        out.append(tail)
    # leading/trailing white space of the whole text does not matter
    if out and isinstance(out[0], str):
        out[0] = out[0].lstrip() or ""
    if out and isinstance(out[-1], str):
        out[-1] = out[-1].rstrip() or ""
    return [t for t in out if t != ""]


def compare_text(reference: str, test: str) -> str | None:
    """``None`` when ``test`` matches ``reference`` under rule 3 of the module docstring, else a short
    description of the first difference."""
    ref, got = _tokens(reference), _tokens(test)
    for i, (r, t) in enumerate(zip(ref, got, strict=False)):
        if isinstance(r, str) or isinstance(t, str):
            if r != t:
                shown = r if isinstance(r, str) else r[2]
                return f"text differs at piece {i}: expected {shown!r}, got {t if isinstance(t, str) else t[2]!r}"
            continue
        (rv, rq, rraw), (tv, tq, traw) = r, t
        if rq is None and tq is None:
            if rv != tv:
                return f"integer {rraw} became {traw}"
            continue
        quantum = max(q for q in (rq, tq, 0.0) if q is not None)
        rtol = APPROX_RTOL if rraw.startswith("≈") or traw.startswith("≈") else 0.0
        if not math.isclose(rv, tv, rel_tol=rtol, abs_tol=quantum * (1 + 1e-9)):
            allowed = f"one unit of the last digit, {quantum:g}" + (f", or {rtol:g} relative" if rtol else "")
            return f"number {rraw} became {traw} (allowed: {allowed})"
    if len(ref) != len(got):
        return f"expected {len(ref)} pieces of text and numbers, got {len(got)}"
    return None


def compare_values(reference: Any, test: Any, rtol: float, path: str = "value") -> str | None:
    """``None`` when two recorded values agree (numbers at relative tolerance ``rtol``, everything
    else exactly, containers element-wise), else the first difference."""
    if isinstance(reference, bool) or isinstance(test, bool) or reference is None or test is None:
        return None if reference == test else f"{path}: {reference!r} became {test!r}"
    if isinstance(reference, int | float) and isinstance(test, int | float):
        if isinstance(reference, int) and isinstance(test, int) and rtol == 0:
            return None if reference == test else f"{path}: {reference} became {test}"
        if math.isclose(reference, test, rel_tol=rtol, abs_tol=0.0):
            return None
        rel = abs(reference - test) / max(abs(reference), abs(test))
        return f"{path}: {reference!r} became {test!r} (relative difference {rel:.2g} > {rtol:g})"
    if isinstance(reference, list) and isinstance(test, list):
        if len(reference) != len(test):
            return f"{path}: {len(reference)} items became {len(test)}"
        for i, (r, t) in enumerate(zip(reference, test, strict=True)):
            d = compare_values(r, t, rtol, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(reference, dict) and isinstance(test, dict):
        if set(reference) != set(test):  # stored notebooks keep JSON keys sorted: order is not compared
            return f"{path}: keys {sorted(reference)} became {sorted(test)}"
        for k in reference:
            d = compare_values(reference[k], test[k], rtol, f"{path}[{k!r}]")
            if d:
                return d
        return None
    return None if reference == test else f"{path}: {reference!r} became {test!r}"


def compare_records(reference: dict, test: dict) -> str | None:
    """Compare two record payloads ``{"name", "value", "kind"}`` (rule 2)."""
    if isinstance(reference, str):
        reference = json.loads(reference)
    if isinstance(test, str):
        test = json.loads(test)
    if reference.get("name") != test.get("name"):
        return f"record {reference.get('name')!r} became {test.get('name')!r}"
    kind = reference.get("kind") or "exact"
    if test.get("kind") != reference.get("kind"):
        return f"record {reference['name']}: kind {reference.get('kind')!r} became {test.get('kind')!r}"
    d = compare_values(reference.get("value"), test.get("value"), RECORD_TOLERANCE[kind], "value")
    return None if d is None else f"record {reference['name']} ({kind}): {d}"


def _flatten(outputs: Iterable[Any], skip: Sequence[str], sanitize: Callable[[str], str]) -> dict[str, list[Any]]:
    """Outputs keyed like nbval does (MIME types of ``data`` flattened, streams by name), without stderr
    and without the text twin of a record."""
    flat: dict[str, list[Any]] = defaultdict(list)
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            if o.get("name") == "stderr":
                continue
            flat[o.get("name", "stdout")].append(sanitize(o.get("text", "")))
            continue
        if kind == "error":
            flat["error"].append(f"{o.get('ename')}: {o.get('evalue')}")
            continue
        data = o.get("data", {})
        for mime, value in data.items():
            if mime in skip or (mime == "text/plain" and RECORD_MIME in data):
                continue
            flat[mime].append(sanitize(value) if isinstance(value, str) else value)
    return flat


def compare_outputs(reference: Iterable[Any], test: Iterable[Any], skip: Sequence[str] = ("image/png", "image/jpeg"),
                    sanitize: Callable[[str], str] = lambda s: s) -> list[str]:
    """All differences between a cell's stored outputs and its re-run outputs under the rules of the
    module docstring (empty list: the cell passes)."""
    ref, got = _flatten(reference, skip, sanitize), _flatten(test, skip, sanitize)
    problems = []
    if set(ref) != set(got):
        missing, extra = sorted(set(ref) - set(got)), sorted(set(got) - set(ref))
        if missing:
            problems.append(f"missing output(s) of type {missing}")
        if extra:
            problems.append(f"unexpected output(s) of type {extra}")
        return problems
    for key in ref:
        r, t = ref[key], got[key]
        if len(r) != len(t):
            problems.append(f"{key}: {len(r)} output(s) stored, {len(t)} produced")
            continue
        for a, b in zip(r, t, strict=True):
            if key == RECORD_MIME:
                d = compare_records(a, b)
            elif isinstance(a, str) and isinstance(b, str):
                d = compare_text(a, b)
            else:
                d = None if a == b else "values differ"
            if d:
                problems.append(f"{key}: {d}")
    return problems


# ------------------------------------------------------------------------------------------------
# pytest plugin
# ------------------------------------------------------------------------------------------------

_NBVAL_SKIP = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
               "application/vnd.jupyter.widget-view+json")


def _cell_compare_outputs(self: Any, test: list, ref: list, skip_compare: Sequence[str] | None = None) -> bool:
    """Replacement for ``nbval.plugin.IPyNbCell.compare_outputs`` (same signature and contract: return
    ``True`` when the outputs match, else fill ``self.comparison_traceback``)."""
    skip = tuple(skip_compare or self.parent.skip_compare)
    problems = compare_outputs(ref, test, skip=skip, sanitize=self.sanitize)
    self.comparison_traceback = [f"  {p}" for p in problems]
    if problems:
        self.comparison_traceback.insert(0, "outputs differ beyond the stated tolerances "
                                            "(retention_utils.reports.nbcheck):")
    return not problems


def pytest_configure(config: Any) -> None:
    """Install the comparison when nbval runs (``--nbval``); without nbval the plugin does nothing."""
    if not getattr(config.option, "nbval", False) and not getattr(config.option, "nbval_lax", False):
        return
    from nbval import plugin as nbval_plugin

    nbval_plugin.IPyNbCell.compare_outputs = _cell_compare_outputs
