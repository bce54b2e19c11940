"""Headline-number records and the report runner (papermill -> executed notebook -> HTML -> index).

Records
-------
A notebook calls :func:`record` for each headline number. The value is displayed as a line of text
(``customers = 2469``, which nbval compares) and as a JSON output of MIME type :data:`RECORD_MIME`,
which :func:`read_records` reads back from the executed notebook without parsing HTML.

Runner (the main job)
---------------------
``python -m retention_utils.reports run --dataset complete_journey`` runs every notebook listed in the
dataset's YAML (``configs/<dataset>.yaml``; section ``notebooks:``) through papermill and writes, under
``reports/<dataset>/``: ``<notebook>.ipynb`` (executed), ``<notebook>.html`` (code hidden, figures
embedded as data URIs, readable offline), ``index.html`` (status, duration and headline numbers of
every notebook) and ``records.json``. A failing notebook still gets its executed copy and an HTML page
showing the error; the other notebooks still run; the command exits 1 and names the failures.

Parameters: the YAML's ``parameters:`` go to every notebook, ``notebooks: {name: {...}}`` to one, and
``-p NAME VALUE`` on the command line to all selected notebooks. ``DATASET`` is always set by the
runner to the config it was given (a ``-p DATASET`` that contradicts ``--dataset`` is an error). Each name must be declared in the
notebook's cell tagged ``parameters`` (else :class:`ParameterError` before anything runs). Values
arrive typed: YAML dates become ``datetime.date``, lists stay lists, and a command-line string is
converted to the type the notebook declares (``int``, ``float``, ``bool``, ``list``, ``dict``, ``date``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RECORD_MIME = "application/vnd.retention-utils.record+json"
REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
REPORTS_ENV = "RETENTION_REPORTS_DIR"
# where reports and the tables notebooks write for later use (risk scores, at-risk lists) go; the
# runner sets the variable for the kernels it starts, so --output-dir moves those tables too
REPORTS_DIR = Path(os.environ.get(REPORTS_ENV) or REPO_ROOT / "reports")


# ------------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------------


def _jsonable(value: Any, digits: int) -> Any:
    """Plain JSON types; floats rounded to ``digits`` significant digits (stable across platforms)."""
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
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, digits) for v in value]
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    raise TypeError(f"record(): cannot record a value of type {type(value).__name__}")


#: Kinds of headline number, each compared at its own tolerance by the notebook tests (see
#: :mod:`retention_utils.reports.nbcheck` for the tolerances and why): ``count`` (an integer count,
#: exact), ``exact`` (text, dates, booleans, choices: exact), ``share`` (a ratio of counts), ``money``
#: (sums and means of recorded amounts), ``estimate`` (a fitted parameter or a model's prediction),
#: ``metric`` (an evaluation metric of a fitted model: ROC-AUC, NDCG, C-index, MASE ...).
RECORD_KINDS: tuple[str, ...] = ("count", "exact", "share", "money", "estimate", "metric")


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
    v = _jsonable(value, digits)
    try:
        from IPython.display import display

        display({RECORD_MIME: {"name": name, "value": v, "kind": kind}, "text/plain": f"{name} = {v!r}"}, raw=True)
    except ImportError:  # pragma: no cover - IPython is a dependency
        print(f"{name} = {v!r}")


def read_records(notebook: str | os.PathLike | Any) -> dict[str, Any]:
    """All values recorded by :func:`record` in an executed notebook (path or ``NotebookNode``), in
    output order; a name recorded twice keeps its last value."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4) if isinstance(notebook, str | os.PathLike) else notebook
    out: dict[str, Any] = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if RECORD_MIME in data:
                rec = data[RECORD_MIME]
                if isinstance(rec, str):
                    rec = json.loads(rec)
                out[rec["name"]] = rec["value"]
    return out


# ------------------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------------------


class ParameterError(ValueError):
    """A parameter is not declared by the notebook, or cannot be converted to its declared type."""


class _DateLiteral(str):
    """An ISO date string that papermill's metadata stores as text and our translator injects as a
    ``datetime.date`` / ``datetime.datetime`` (papermill itself would fail to JSON-encode a date)."""

    kind = "date"


class _DateTimeLiteral(_DateLiteral):
    kind = "datetime"


def _wrap_dates(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _DateTimeLiteral(value.isoformat())
    if isinstance(value, dt.date):
        return _DateLiteral(value.isoformat())
    if isinstance(value, list | tuple):
        return [_wrap_dates(v) for v in value]
    if isinstance(value, dict):
        return {k: _wrap_dates(v) for k, v in value.items()}
    return value


def _register_translator() -> None:
    """Teach papermill's Python translator dates: ``datetime.date.fromisoformat('2017-01-01')``."""
    from papermill.translators import PythonTranslator, papermill_translators

    class DatePythonTranslator(PythonTranslator):
        @classmethod
        def translate(cls, val: Any) -> str:
            if isinstance(val, _DateLiteral):
                return f"datetime.{val.kind}.fromisoformat({str(val)!r})"
            return super().translate(val)

        @classmethod
        def translate_dict(cls, val: dict) -> str:
            return "{" + ", ".join(f"{cls.translate_str(k)}: {cls.translate(v)}" for k, v in val.items()) + "}"

        @classmethod
        def translate_list(cls, val: list) -> str:
            return "[" + ", ".join(cls.translate(v) for v in val) + "]"

        @classmethod
        def codify(cls, parameters: dict, comment: str = "Parameters") -> str:
            return "import datetime\n" + super().codify(parameters, comment)

    papermill_translators.register("python", DatePythonTranslator)


def declared_parameters(notebook: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Parameters declared in a notebook's ``parameters`` cell: ``{name: {"type": str, "default": str,
    "help": str}}``.

    The cell is parsed with :mod:`ast` (every top-level ``NAME = ...`` or ``NAME: type = ...``), not
    with papermill's line regex, which silently skips a line whose comment contains ``=`` (e.g.
    ``# share >= 5 %``). ``type`` is the annotation's source text (``"None"`` without one), ``help``
    the line's trailing comment. Raises ``ValueError`` if the notebook has no such cell or the cell
    is not valid Python.
    """
    import ast

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{notebook}: no cell tagged 'parameters'")
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"{notebook}: the parameters cell is not valid Python: {err}") from err
    lines = source.splitlines()
    out: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, ann, value = node.target.id, ast.unparse(node.annotation), node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, ann, value = node.targets[0].id, "None", node.value
        else:
            continue
        line = lines[node.end_lineno - 1] if node.end_lineno else ""
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        out[name] = {"type": ann, "default": ast.unparse(value) if value is not None else "", "help": comment}
    return out


def _coerce(name: str, value: Any, declared: str, notebook: str) -> Any:
    """Convert ``value`` to the declared annotation (``str``, ``int``, ``float``, ``bool``, ``list``,
    ``dict``, ``date``, ``datetime``; ``Optional[...]``/``None`` accepts None). Unknown annotations pass
    the value through unchanged."""
    t = (declared or "None").replace("typing.", "")
    optional = t.startswith("Optional[") or t.endswith("| None")
    base = t.removeprefix("Optional[").removesuffix("]").replace("| None", "").strip()
    base = base.split("[")[0].lower()
    if value is None and (optional or base in {"none", "nonetype"}):
        return None
    try:
        if base == "date":
            if isinstance(value, dt.datetime):
                return value.date()
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        if base == "datetime":
            return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        if base == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in {"true", "1", "yes"}:
                return True
            if str(value).lower() in {"false", "0", "no"}:
                return False
            raise ValueError(value)
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if base == "str":
            if not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
        if base in {"list", "tuple", "dict"}:
            if isinstance(value, str):
                value = yaml.safe_load(value)
            want = dict if base == "dict" else list
            if isinstance(value, tuple):
                value = list(value)
            if not isinstance(value, want):
                raise ValueError(value)
            return value
    except (ValueError, TypeError) as err:
        raise ParameterError(f"{notebook}: parameter {name} = {value!r} is not a valid {t}") from err
    return value


def resolve_parameters(
    notebook: str | os.PathLike, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``parameters`` against the notebook's declarations and convert them to the declared types.

    Raises :class:`ParameterError` naming the notebook and every undeclared name.
    """
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    nb = Path(notebook).name
    if unknown:
        raise ParameterError(f"{nb}: parameter(s) {unknown} not declared in its 'parameters' cell; declared: {sorted(declared)}")
    return {k: _coerce(k, v, declared[k]["type"], nb) for k, v in parameters.items()}


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------


@dataclass
class NotebookRun:
    """Outcome of one notebook: ``status`` is ``"ok"`` or ``"failed"``; ``error`` a one-line reason."""

    name: str
    title: str
    status: str
    seconds: float
    parameters: dict[str, Any]
    records: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    html: str = ""
    ipynb: str = ""
    earlier: bool = False  # kept from an earlier run of the runner (not re-run this time)


def notebook_title(path: str | os.PathLike) -> str:
    """The first ``# H1`` of a notebook's markdown, else its file stem."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if c.cell_type == "markdown":
            for line in c.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return Path(path).stem


def select_notebooks(cfg: Mapping[str, Any], wanted: Sequence[str] | None, notebook_dir: Path) -> list[Path]:
    """Notebook paths in run order: the config's ``notebooks:`` keys (or every ``*.ipynb``), filtered
    by ``wanted`` (full stems or prefixes such as ``"01"``). Raises ``ValueError`` for a name that
    matches nothing or a configured notebook that does not exist."""
    listed = list((cfg.get("notebooks") or {}).keys()) or sorted(p.stem for p in notebook_dir.glob("*.ipynb"))
    missing = [n for n in listed if not (notebook_dir / f"{n}.ipynb").is_file()]
    if missing:
        raise ValueError(f"dataset config lists notebook(s) not in {notebook_dir}: {missing}")
    if wanted:
        chosen = []
        for w in wanted:
            w = Path(w).stem
            hits = [n for n in listed if n == w or n.startswith(w)]
            if not hits:
                raise ValueError(f"no notebook matches {w!r}; available for this dataset: {listed}")
            chosen += [h for h in hits if h not in chosen]
        listed = chosen
    return [notebook_dir / f"{n}.ipynb" for n in listed]


def _error_summary(nb_path: Path, exc: BaseException) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    cell = getattr(exc, "exec_count", None)
    where = f" (cell [{cell}])" if cell else ""
    return f"{ename}: {str(evalue).strip().splitlines()[-1] if str(evalue).strip() else ''}{where}"


def to_html(executed: Path, target: Path, parameters: Mapping[str, Any] | None = None) -> Path:
    """Export an executed notebook to self-contained HTML with the code hidden.

    Figures are embedded as data URIs and the stylesheet is inline, so the page reads offline.
    A short header lists the parameters the notebook ran with.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    if parameters:
        items = "".join(f"<li><code>{html.escape(k)} = {html.escape(repr(v))}</code></li>" for k, v in parameters.items())
        header = nbformat.v4.new_markdown_cell(f"<details><summary>Parameters</summary><ul>{items}</ul></details>")
        nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, header)
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    # the lab template links require.js and MathJax from a CDN; the pages need neither to read
    body = re.sub(r'<script[^>]*src="https?://[^"]*"[^>]*>\s*</script>\s*', "", body)
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(target)
    return target


def run_notebook(
    nb_path: Path,
    out_dir: Path,
    parameters: Mapping[str, Any],
    kernel_name: str = "python3",
    progress: bool = False,
) -> NotebookRun:
    """Execute one notebook with papermill into ``out_dir`` and export its HTML (also on failure)."""
    import papermill as pm

    _register_translator()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / nb_path.name
    html_path = out_dir / f"{nb_path.stem}.html"
    title = notebook_title(nb_path)
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        pm.execute_notebook(
            str(nb_path),
            str(executed),
            parameters=_wrap_dates(dict(parameters)),
            kernel_name=kernel_name,
            cwd=str(nb_path.parent),
            progress_bar=progress,
            log_output=False,
        )
    except Exception as exc:  # noqa: BLE001 - any failure is reported and the run goes on
        status, error = "failed", _error_summary(nb_path, exc)
    seconds = time.perf_counter() - t0
    records: dict[str, Any] = {}
    if executed.is_file():
        records = read_records(executed)
        try:
            to_html(executed, html_path, parameters)
        except Exception as exc:  # noqa: BLE001
            status = "failed"
            error = (error + "; " if error else "") + f"HTML export failed: {exc}"
    else:
        status = "failed"
        error = error or "papermill wrote no executed notebook"
    return NotebookRun(
        name=nb_path.stem,
        title=title,
        status=status,
        seconds=round(seconds, 1),
        parameters=dict(parameters),
        records=records,
        error=error,
        html=html_path.name if html_path.is_file() else "",
        ipynb=executed.name if executed.is_file() else "",
    )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def write_index(runs: Sequence[NotebookRun], out_dir: Path, cfg: Mapping[str, Any]) -> Path:
    """Write ``index.html`` (one row per notebook: link, status, duration, headline numbers) and
    ``records.json`` (the same, machine-readable) into ``out_dir``."""
    title = cfg.get("title", cfg.get("name", "dataset"))
    rows = []
    for r in runs:
        link = f'<a href="{html.escape(r.html)}">{html.escape(r.title)}</a>' if r.html else html.escape(r.title)
        recs = "".join(f"<li><code>{html.escape(k)}</code> = {html.escape(_fmt(v))}</li>" for k, v in r.records.items())
        err = f'<div class="err">{html.escape(r.error)}</div>' if r.error else ""
        rows.append(
            f'<tr class="{r.status}"><td>{html.escape(r.name)}</td><td>{link}{err}</td>'
            f'<td class="status">{r.status}{"<br><small>earlier run</small>" if r.earlier else ""}</td>'
            f'<td class="num">{r.seconds:.1f} s</td><td><ul>{recs}</ul></td></tr>'
        )
    n_failed = sum(r.status != "ok" for r in runs)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Reports: {html.escape(str(title))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }}
td.num {{ text-align: right; white-space: nowrap; }}
tr.ok td.status {{ color: #1a7f37; font-weight: 600; }}
tr.failed td.status {{ color: #cf222e; font-weight: 600; }}
.err {{ color: #cf222e; font-family: monospace; font-size: .9em; }}
ul {{ margin: 0; padding-left: 1.1rem; }}
</style></head><body>
<h1>Reports: {html.escape(str(title))}</h1>
<p>Dataset config <code>{html.escape(str(cfg.get("name")))}</code>; {len(runs)} notebook(s), {n_failed} failed.
Generated {dt.datetime.now().strftime("%Y-%m-%d %H:%M")}.</p>
<table><thead><tr><th>notebook</th><th>report</th><th>status</th><th>duration</th><th>headline numbers</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    payload = {
        "dataset": cfg.get("name"),
        "notebooks": [
            {"name": r.name, "title": r.title, "status": r.status, "seconds": r.seconds, "error": r.error,
             "records": r.records, "parameters": _jsonable(r.parameters, 12), "html": r.html, "ipynb": r.ipynb,
             "earlier": r.earlier}
            for r in runs
        ],
    }
    (out_dir / "records.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return out_dir / "index.html"


def _read_earlier(out_dir: Path) -> dict[str, NotebookRun]:
    """Notebook runs recorded in ``out_dir/records.json`` by an earlier call, whose HTML still exists."""
    path = out_dir / "records.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for n in data.get("notebooks", []):
        if n.get("html") and (out_dir / n["html"]).is_file():
            out[n["name"]] = NotebookRun(
                name=n["name"], title=n.get("title", n["name"]), status=n.get("status", "?"),
                seconds=float(n.get("seconds", 0.0)), parameters=n.get("parameters", {}), records=n.get("records", {}),
                error=n.get("error", ""), html=n["html"], ipynb=n.get("ipynb", ""), earlier=True,
            )
    return out


def _with_earlier(runs: Sequence[NotebookRun], earlier: Mapping[str, NotebookRun], order: Sequence[str]) -> list[NotebookRun]:
    """This call's runs plus earlier runs of the other notebooks, in the config's order."""
    now = {r.name: r for r in runs}
    return [now[n] if n in now else earlier[n] for n in order if n in now or n in earlier]


@dataclass
class RunResult:
    """All notebook runs of one :func:`run_reports` call; ``ok`` when none failed."""

    dataset: str
    out_dir: Path
    runs: list[NotebookRun]

    @property
    def failed(self) -> list[NotebookRun]:
        return [r for r in self.runs if r.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed


def run_reports(
    dataset: str | os.PathLike = "complete_journey",
    notebooks: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    output_dir: str | os.PathLike | None = None,
    notebook_dir: str | os.PathLike | None = None,
    kernel_name: str = "python3",
    log: Any = None,
) -> RunResult:
    """Run the selected notebooks for a dataset and write the reports (see the module docstring).

    Parameters are checked for every selected notebook before the first one runs, so a typo fails
    fast. Returns a :class:`RunResult`; raises :class:`ParameterError` / ``ValueError`` /
    ``FileNotFoundError`` for a bad dataset, notebook selection or parameter.
    """
    from ..data.datasets import load_config

    log = log or sys.stderr
    cfg = load_config(dataset)
    nb_dir = Path(notebook_dir) if notebook_dir else NOTEBOOK_DIR
    paths = select_notebooks(cfg, notebooks, nb_dir)
    out_dir = Path(output_dir or REPORTS_DIR) / str(cfg["name"])
    from ..data.datasets import config_dir

    # DATASET always names the config the runner was given (its name, or its path when it lives outside
    # configs/), so a report can never carry one dataset's title and another's numbers
    cfg_path = Path(cfg["_path"])
    dataset_ref = str(cfg["name"]) if cfg_path.parent == config_dir().resolve() and cfg_path.stem == cfg["name"] else str(cfg_path)
    overrides = dict(parameters or {})
    if "DATASET" in overrides and str(overrides["DATASET"]) not in {dataset_ref, str(cfg["name"]), str(dataset)}:
        raise ParameterError(
            f"-p DATASET {overrides['DATASET']!r} contradicts --dataset {str(dataset)!r}; choose the data with --dataset"
        )
    common = dict(cfg.get("parameters") or {})
    per_nb = cfg.get("notebooks") or {}
    resolved = {}
    for p in paths:
        params = {**common, **(per_nb.get(p.stem) or {}), **overrides}
        if "DATASET" in declared_parameters(p):
            params["DATASET"] = dataset_ref
        resolved[p] = resolve_parameters(p, params)
    # a partial run (some notebooks, other parameters) keeps the other notebooks' earlier results in
    # the index, marked as earlier, instead of dropping them from it
    all_names = [q.stem for q in select_notebooks(cfg, None, nb_dir)]
    earlier = _read_earlier(out_dir)
    runs: list[NotebookRun] = []
    previous_env = os.environ.get(REPORTS_ENV)
    os.environ[REPORTS_ENV] = str(out_dir.parent.resolve())
    try:
        for i, p in enumerate(paths, 1):
            _run_one(i, p, paths, out_dir, resolved[p], kernel_name, log, runs, cfg, earlier, all_names)
    finally:
        if previous_env is None:
            os.environ.pop(REPORTS_ENV, None)
        else:
            os.environ[REPORTS_ENV] = previous_env
    index = write_index(_with_earlier(runs, earlier, all_names), out_dir, cfg)
    print(f"index: {index}", file=log, flush=True)
    return RunResult(str(cfg["name"]), out_dir, runs)


def _run_one(
    i: int, p: Path, paths: Sequence[Path], out_dir: Path, params: Mapping[str, Any], kernel_name: str,
    log: Any, runs: list[NotebookRun], cfg: Mapping[str, Any], earlier: Mapping[str, NotebookRun],
    all_names: Sequence[str],
) -> None:
    """Run notebook ``i`` of ``paths``, report progress, append to ``runs`` and refresh the index."""
    print(f"[{i}/{len(paths)}] {p.stem}: running ...", file=log, flush=True)
    run = run_notebook(p, out_dir, params, kernel_name)
    runs.append(run)
    msg = f"[{i}/{len(paths)}] {p.stem}: {run.status} in {run.seconds:.1f} s"
    print(msg + (f" - {run.error}" if run.error else ""), file=log, flush=True)
    # keep the index current after each notebook, so a long run can be watched
    write_index(_with_earlier(runs, earlier, all_names), out_dir, cfg)


# ------------------------------------------------------------------------------------------------
# stored outputs for nbval
# ------------------------------------------------------------------------------------------------


def refresh_notebook(path: str | os.PathLike, kernel_name: str = "python3", timeout: int = 1800) -> None:
    """Execute a notebook in place with its default parameters (the outputs that nbval compares),
    without timing metadata, so the stored file changes only when results change."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(
        nb, kernel_name=kernel_name, timeout=timeout, record_timing=False,
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    client.execute()
    for c in nb.cells:
        c.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, str(path))


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------


def _parse_cli_params(pairs: Iterable[Sequence[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in pairs:
        try:
            out[name] = yaml.safe_load(raw) if raw.strip() else raw
        except (yaml.YAMLError, ValueError):  # e.g. "2017-13-01" looks like a YAML date but is none
            out[name] = raw
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run``, ``datasets``, ``refresh`` (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m retention_utils.reports", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run notebooks for a dataset and write HTML reports")
    run.add_argument("--dataset", default="complete_journey", help="config name in configs/ or a YAML path")
    run.add_argument("--notebooks", nargs="+", help="notebook names or prefixes (default: all of the config)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override a parameter (value parsed as YAML, then converted to the declared type)")
    run.add_argument("--output-dir", default=None, help="default: reports/")
    sub.add_parser("datasets", help="list dataset configs")
    ref = sub.add_parser("refresh", help="re-execute notebooks in place (stored outputs for nbval)")
    ref.add_argument("paths", nargs="*")
    args = parser.parse_args(argv)

    if args.cmd == "datasets":
        from ..data.datasets import config_dir

        for p in sorted(config_dir().glob("*.yaml")):
            cfg = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            print(f"{p.stem:24s} {cfg.get('title', '')}")
        return 0
    if args.cmd == "refresh":
        paths = [Path(p) for p in args.paths] or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
        for p in paths:
            t0 = time.perf_counter()
            refresh_notebook(p)
            print(f"refreshed {p} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return 0
    try:
        result = run_reports(
            args.dataset, args.notebooks, _parse_cli_params(args.parameter), args.output_dir
        )
    except (ParameterError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not result.ok:
        names = ", ".join(f"{r.name} ({r.error})" for r in result.failed)
        print(f"FAILED: {len(result.failed)} of {len(result.runs)} notebook(s): {names}", file=sys.stderr)
        return 1
    print(f"all {len(result.runs)} notebook(s) ok; reports in {result.out_dir}", file=sys.stderr)
    return 0

