"""The report runner (the main job): papermill -> executed notebook -> HTML page -> index.

``python -m retention_utils.reports run --dataset complete_journey`` runs every notebook listed in the
dataset's YAML (``configs/<dataset>.yaml``; section ``notebooks:``) through papermill and writes, under
``reports/<dataset>/``: ``<notebook>.ipynb`` (executed), ``<notebook>.html`` (code hidden, figures
embedded, readable offline), ``index.html`` (status, duration and headline numbers of every notebook)
and ``records.json``. A failing notebook still gets its executed copy and an HTML page showing the full
error; the other notebooks still run; the command exits 1 and names the failures by the first line of
their message (the sentence), with the cell.

Parameters: the YAML's ``parameters:`` go to every notebook, ``notebooks: {name: {...}}`` to one, and
``-p NAME VALUE`` on the command line to all selected notebooks. ``DATASET`` is always set by the
runner to the config it was given (a ``-p DATASET`` that contradicts ``--dataset`` is an error). Every
value is checked against the notebook's declarations before the first notebook runs
(:mod:`retention_utils.reports.params`).

Before any kernel starts, the dataset is checked once (:func:`check_notebook_windows`, i.e.
:func:`retention_utils.data.check.check_dataset` for every observation window the selected notebooks
will use): a config that does not load, validate or clean stops the run with
:class:`DatasetCheckError` (exit code 2 on the command line) and its full message.

Kernels run with the thread settings of :data:`KERNEL_ENV` (see there why).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .html import index_page, to_html
from .params import ParameterError, _register_translator, _wrap_dates, declared_parameters, resolve_parameters
from .records import jsonable, read_records

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
REPORTS_ENV = "RETENTION_REPORTS_DIR"
#: Where reports and the tables notebooks write for later use (risk scores, at-risk lists, playbook
#: exports) go: ``$RETENTION_REPORTS_DIR`` or ``reports/``. The runner sets the variable for the kernels
#: it starts, so ``--output-dir`` moves those tables too.
REPORTS_DIR = Path(os.environ.get(REPORTS_ENV) or REPO_ROOT / "reports")


def shown_path(path: str | os.PathLike) -> str:
    """How a notebook names a file it wrote: relative to the repository when inside it
    (``reports/complete_journey/clv_at_risk.csv``), else the absolute path (``--output-dir`` elsewhere),
    never a path relative to some other folder."""
    p = Path(path).resolve()
    return p.relative_to(REPO_ROOT).as_posix() if p.is_relative_to(REPO_ROOT) else str(p)



class DatasetCheckError(ValueError):
    """The dataset did not pass :func:`retention_utils.data.check.check_dataset`; no notebook was run.
    The message is the loader's or cleaner's own, in full (its first line says what to change)."""


#: the parameters that give a notebook its observation window
WINDOW_PARAMETERS = ("OBSERVATION_START", "OBSERVATION_END")


def _declared_date(default: str) -> Any:
    """The value of a declared default such as ``date(2017, 1, 1)`` or ``"2017-01-01"`` (``None`` when it
    is neither)."""
    import ast
    import datetime as dt

    try:
        node = ast.parse(default, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "date":
        try:
            return dt.date(*(ast.literal_eval(a) for a in node.args))
        except (ValueError, TypeError):
            return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def check_notebook_windows(cfg: Mapping[str, Any], resolved: Mapping[Path, Mapping[str, Any]], log: Any = None) -> Any:
    """Check the dataset once for every observation window the notebooks will use (their resolved
    ``OBSERVATION_START``/``OBSERVATION_END``, or the declared defaults), print a one-line summary per
    window to ``log`` and return the :class:`retention_utils.data.check.DatasetCheck`. Raises
    :class:`DatasetCheckError` with the full message when the data does not load or clean."""
    from ..data.check import check_dataset

    windows = []
    for p, params in resolved.items():
        declared = declared_parameters(p)
        if not all(w in declared for w in WINDOW_PARAMETERS):
            continue
        pair = tuple(params[w] if w in params else _declared_date(declared[w]["default"]) for w in WINDOW_PARAMETERS)
        if pair not in windows:
            windows.append(pair)
    try:
        check = check_dataset(dict(cfg), windows or [(None, None)])
    except (ValueError, FileNotFoundError, KeyError) as err:
        raise DatasetCheckError(str(err).strip() or type(err).__name__) from err
    finally:
        _release_memory()
    if log is not None:
        for w in check.windows:
            r = w.report
            print(f"[check] {check.name}: {r.rows_in:,} lines -> {r.rows_kept:,} kept, {w.customers:,} customers, "
                  f"{w.orders:,} orders; window {w.window}; data {w.first_day.date()} .. {w.last_day.date()}",
                  file=log, flush=True)
        for msg in check.warnings:
            print(f"[check] warning: {msg}", file=log, flush=True)
    return check


def _release_memory() -> None:
    """Give back what loading the data for the check held, before the kernels load it again: Python's
    garbage and pyarrow's memory pool (mimalloc keeps freed blocks: about 0.16 GB after The Complete
    Journey's parquet files)."""
    import gc

    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()


@dataclass
class NotebookRun:
    """Outcome of one notebook: ``status`` is ``"ok"`` or ``"failed"``; ``error`` a one-line reason."""

    name: str
    title: str
    status: str
    seconds: float
    parameters: dict[str, Any]
    records: dict[str, Any] = field(default_factory=dict)
    record_kinds: dict[str, str] = field(default_factory=dict)  # name -> kind (how the index shows it)
    error: str = ""
    html: str = ""
    ipynb: str = ""
    earlier: bool = False  # kept from an earlier run of the runner (not re-run this time)
    lead: str = ""  # the notebook's opening question (:func:`notebook_lead`), shown on the index


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


def notebook_lead(path: str | os.PathLike) -> str:
    """The first sentence of the paragraph under a notebook's ``# H1`` (the question it answers), or ""."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if c.cell_type == "markdown" and c.source.lstrip().startswith("# "):
            paras = [p.strip() for p in c.source.split("\n\n")[1:] if p.strip()]
            if not paras:
                return ""
            text = " ".join(paras[0].split())
            m = re.search(r"(?<=[.?!])\s", text)
            return text[:m.start()] if m else text
    return ""


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


def error_summary(exc: BaseException) -> str:
    """One line for a failed notebook: the exception type, the *first* line of its message (the
    sentence; a schema error's example rows or a report's last line follow it) and the cell."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", str(exc))).strip()
    first = next((line.strip() for line in evalue.splitlines() if line.strip()), "")
    cell = getattr(exc, "exec_count", None)
    where = f" (cell [{cell}])" if cell else ""
    return f"{ename}: {first}{where}"


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
        status, error = "failed", error_summary(exc)
    seconds = time.perf_counter() - t0
    records: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    if executed.is_file():
        with_kind = read_records(executed, with_kind=True)
        records = {k: v["value"] for k, v in with_kind.items()}
        kinds = {k: v["kind"] for k, v in with_kind.items() if v.get("kind")}
        try:
            problems = to_html(executed, html_path, parameters)
        except Exception as exc:  # noqa: BLE001
            problems = [f"HTML export failed: {exc}"]
        if problems:
            status = "failed"
            error = (error + "; " if error else "") + "; ".join(problems)
    else:
        status = "failed"
        error = error or "papermill wrote no executed notebook"
    return NotebookRun(
        name=nb_path.stem,
        title=title,
        lead=notebook_lead(nb_path),
        status=status,
        seconds=round(seconds, 1),
        parameters=dict(parameters),
        records=records,
        record_kinds=kinds,
        error=error,
        html=html_path.name if html_path.is_file() else "",
        ipynb=executed.name if executed.is_file() else "",
    )


def write_index(runs: Sequence[NotebookRun], out_dir: Path, cfg: Mapping[str, Any]) -> Path:
    """Write ``index.html`` (one row per notebook: link, status, duration, headline numbers) and
    ``records.json`` (the same, machine-readable) into ``out_dir``. Whatever a notebook recorded or was
    given as parameters, both files are written (values JSON cannot hold are written as text)."""
    title = str(cfg.get("title", cfg.get("name", "dataset")))
    page = index_page(title, str(cfg.get("name")), runs, str(cfg.get("caveat") or ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.html").write_text(page, encoding="utf-8")

    def safe(value: Any) -> Any:
        try:
            return jsonable(value, 12)
        except TypeError:
            return str(value)

    payload = {
        "dataset": cfg.get("name"),
        "notebooks": [
            {"name": r.name, "title": r.title, "lead": r.lead, "status": r.status, "seconds": r.seconds, "error": r.error,
             "records": safe(r.records), "record_kinds": dict(r.record_kinds),
             "parameters": {k: safe(v) for k, v in r.parameters.items()},
             "html": r.html, "ipynb": r.ipynb, "earlier": r.earlier}
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
                name=n["name"], title=n.get("title", n["name"]), lead=n.get("lead", ""), status=n.get("status", "?"),
                seconds=float(n.get("seconds", 0.0)), parameters=n.get("parameters", {}), records=n.get("records", {}),
                record_kinds=n.get("record_kinds", {}), error=n.get("error", ""), html=n["html"], ipynb=n.get("ipynb", ""), earlier=True,
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
        """Runs that failed (a notebook *skipped* on an engine, with its reason, is not a failure)."""
        return [r for r in self.runs if r.status not in ("ok", "skipped")]

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
    engine: str | None = None,
) -> RunResult:
    """Run the selected notebooks for a dataset and write the reports (see the module docstring).

    ``engine``: ``"pandas"``, ``"duckdb"`` or ``"spark"`` (default: the config's ``engine:``, else
    pandas unless the source would not fit in memory; :func:`retention_utils.engines.choose_engine`).
    On an engine other than pandas the transaction-level tables are computed there and the notebooks
    are listed as skipped with their reasons (:mod:`retention_utils.reports.engine_run`).

    Parameters are checked for every selected notebook, then the dataset itself
    (:func:`check_notebook_windows`), before the first one runs, so a typo or a wrong mapping fails
    fast. Returns a :class:`RunResult`; raises :class:`ParameterError` / ``ValueError`` /
    ``FileNotFoundError`` for a bad dataset, notebook selection or parameter, and
    :class:`DatasetCheckError` for data that does not load or clean.
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
    from ..engines import choose_engine

    eng = choose_engine(dict(cfg), engine)
    if eng != "pandas":
        return _run_on_engine(cfg, eng, paths, resolved, out_dir, nb_dir, log)
    check = check_notebook_windows(cfg, resolved, log)
    need = [q.stem for q in paths if "require_products(" in q.read_text(encoding="utf-8")]
    if need and not check.catalogue:  # they would stop at their first data cell: say it before anything runs
        raise DatasetCheckError(
            f"{cfg['name']}: {', '.join(need)} need(s) a product table (product_id plus attributes such as "
            "department, category, brand) and this dataset has none. Add products: (and product_columns:) to "
            "the config (README, 'Bring your own data'), or leave the notebook out with --notebooks or the config's "
            "notebooks: list."
        )
    need = [q.stem for q in paths if "pseudonym_key(" in q.read_text(encoding="utf-8")]
    if need:  # they would compute everything and stop at their export: say it before the first one runs
        from ..privacy import PrivacyError, pseudonym_key

        try:
            pseudonym_key(cfg)
        except PrivacyError as err:
            raise DatasetCheckError(f"{err} These notebooks export customer ids and need it: {', '.join(need)} "
                                    "(or leave them out with --notebooks).") from err
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


def _run_on_engine(cfg: Mapping[str, Any], engine: str, paths: Sequence[Path], resolved: Mapping[Path, Any],
                   out_dir: Path, nb_dir: Path, log: Any) -> RunResult:
    """The run of :mod:`retention_utils.reports.engine_run`: engine tables, every notebook skipped with
    its reason, the index."""
    from .engine_run import engine_tables_run, skipped_notebooks

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    _, records = engine_tables_run(cfg, engine, resolved, out_dir, log)
    runs = [NotebookRun("00_engine_tables", f"Transaction-level tables on {engine}", "ok",
                        round(time.perf_counter() - t0, 1), {"engine": engine}, records, html="engine_tables.html")]
    for name, reason in skipped_notebooks(cfg, paths).items():
        print(f"{name}: skipped - {reason}", file=log, flush=True)
        nb = nb_dir / f"{name}.ipynb"
        runs.append(NotebookRun(name, notebook_title(nb) if nb.is_file() else name, "skipped", 0.0,
                                dict(resolved.get(nb, {})), error=reason))
    index = write_index(runs, out_dir, cfg)
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


def refresh_notebook(path: str | os.PathLike, kernel_name: str = "python3", timeout: int = 1800) -> list[str]:
    """Execute a notebook in place with its default parameters (the outputs that nbval compares),
    without timing metadata, so the stored file changes only when results change.

    Text written to stderr (warnings, progress bars) is not stored: it differs between machines and
    library versions, and the notebook tests ignore it. It is returned (``"cell N: text"``) so the
    caller can show it; fix what it reports rather than hide it."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(
        nb, kernel_name=kernel_name, timeout=timeout, record_timing=False,
        resources={"metadata": {"path": str(Path(path).parent)}},
    )
    client.execute()
    stderr = []
    for i, c in enumerate(nb.cells):
        c.metadata.pop("execution", None)
        if c.get("outputs"):
            kept = [o for o in c.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            stderr += [f"cell {i}: {o.get('text', '').strip()[:200]}" for o in c.outputs if o not in kept]
            c.outputs = kept
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, str(path))
    return stderr
