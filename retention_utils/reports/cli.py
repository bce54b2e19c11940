"""Command line of the report runner: ``python -m retention_utils.reports run|check|datasets|refresh``.

Exit codes: 0 all notebooks ok (``check``: the data loads and cleans; warnings are printed); 1 a
notebook failed (named, with the first line of its error); 2 the command itself is wrong (unknown
dataset or notebook, a parameter that is undeclared, of the wrong type, malformed or an unusable path),
reported in one line before any notebook runs, or the data does not load, validate or clean (``check``,
and ``run`` before its first notebook), reported with the full message, its first line saying what to
change.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from ..privacy import PrivacyError
from .params import ParameterError, parse_cli_parameters
from .runner import NOTEBOOK_DIR, WINDOW_PARAMETERS, DatasetCheckError, refresh_notebook, run_reports


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run``, ``datasets``, ``refresh`` (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m retention_utils.reports",
                                     description="Run the notebooks for a dataset and write HTML reports.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run notebooks for a dataset and write HTML reports")
    run.add_argument("--dataset", default="complete_journey", help="config name in configs/ or a YAML path")
    run.add_argument("--notebooks", nargs="+", help="notebook names or prefixes (default: all of the config)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override a parameter; the text is read as the type the notebook declares "
                          "(None means None)")
    run.add_argument("--output-dir", default=None, help="default: reports/")
    run.add_argument("--engine", choices=["pandas", "duckdb", "spark"], default=None,
                     help="where the transaction-level tables run (default: the config's engine:, else pandas "
                          "unless the log would not fit in memory)")
    chk = sub.add_parser("check", help="load, validate and clean a dataset once; print the cleaning report and "
                                       "the window the data covers (exit 2 with the full message on error)")
    chk.add_argument("--dataset", default="complete_journey", help="config name in configs/ or a YAML path")
    chk.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override OBSERVATION_START or OBSERVATION_END (default: the config's parameters)")
    sub.add_parser("datasets", help="list dataset configs")
    ref = sub.add_parser("refresh", help="re-execute notebooks in place (the stored outputs nbval compares)")
    ref.add_argument("paths", nargs="*", help="notebook paths, names or prefixes (default: every notebook)")
    args = parser.parse_args(argv)

    if args.cmd == "datasets":
        from ..data.datasets import config_dir

        for p in sorted(config_dir().glob("*.yaml")):
            try:
                cfg = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
                title = cfg.get("title", "") if isinstance(cfg, dict) else ""
            except (yaml.YAMLError, ValueError, UnicodeDecodeError) as err:
                title = f"(unreadable: {' '.join(str(err).split())[:80]})"
            print(f"{p.stem:24s} {title}")
        return 0
    if args.cmd == "refresh":
        try:
            paths = [_notebook_path(p) for p in args.paths] or sorted(NOTEBOOK_DIR.glob("*.ipynb"))
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for p in paths:
            t0 = time.perf_counter()
            stderr = refresh_notebook(p)
            print(f"refreshed {p} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            for line in stderr:
                print(f"  stderr not stored: {line}", file=sys.stderr)
        return 0
    if args.cmd == "check":
        return _check(args)
    if args.output_dir is not None and not str(args.output_dir).strip():
        print("error: --output-dir is empty; give a folder (or leave the option out for reports/)", file=sys.stderr)
        return 2
    if args.notebooks is not None and not any(str(n).strip() for n in args.notebooks):
        print("error: --notebooks is empty; give notebook names or prefixes (or leave the option out for all)", file=sys.stderr)
        return 2
    if args.output_dir is not None and Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        print(f"error: --output-dir {args.output_dir} is a file, not a folder", file=sys.stderr)
        return 2
    try:
        result = run_reports(args.dataset, args.notebooks, parse_cli_parameters(args.parameter), args.output_dir,
                             engine=args.engine)
    except DatasetCheckError as err:
        _print_error(err)
        return 2
    except (ParameterError, ValueError, FileNotFoundError, LookupError, PrivacyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"error: {first}", file=sys.stderr)
        return 2
    if not result.ok:
        names = ", ".join(f"{r.name} ({r.error})" for r in result.failed)
        print(f"FAILED: {len(result.failed)} of {len(result.runs)} notebook(s): {names}", file=sys.stderr)
        return 1
    n_skipped = sum(r.status == "skipped" for r in result.runs)
    pages = [r for r in result.runs if r.status != "skipped" and r.name == "00_engine_tables"]  # not a notebook
    n_ok = len(result.runs) - n_skipped - len(pages)
    print(("engine tables ok; " if pages else "") + (f"all {n_ok} notebook(s) ok" if n_ok or not pages else "no notebook run")
          + (f", {n_skipped} skipped (reasons in the index)" if n_skipped else "")
          + f"; reports in {result.out_dir}", file=sys.stderr)
    return 0


def _notebook_path(name: str) -> Path:
    """A notebook given as a path, a name or a prefix (``01``, ``04_repurchase``), as ``run`` takes them."""
    p = Path(name)
    if p.suffix == ".ipynb" and p.is_file():
        return p
    hits = sorted(NOTEBOOK_DIR.glob(f"{p.name.removesuffix('.ipynb')}*.ipynb"))
    if len(hits) != 1:
        known = ", ".join(q.stem for q in sorted(NOTEBOOK_DIR.glob("*.ipynb")))
        raise FileNotFoundError(f"notebook {name!r} matches {len(hits)} notebooks in {NOTEBOOK_DIR}; known: {known}")
    return hits[0]


def _print_error(err: BaseException) -> None:
    """``error: <first line>`` then the rest of the message (example rows, the cleaning report)."""
    text = str(err).strip() or type(err).__name__
    print("error: " + text, file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    """``check``: print :meth:`retention_utils.data.check.DatasetCheck.text`; 2 on error."""
    from ..data.check import check_dataset
    from ..data.datasets import load_config

    try:
        cfg = load_config(args.dataset)
        window = {k: v for k, v in (cfg.get("parameters") or {}).items() if k in WINDOW_PARAMETERS}
        for name, value in args.parameter:
            if name not in WINDOW_PARAMETERS:
                raise ParameterError(f"check: -p {name}: only {list(WINDOW_PARAMETERS)} can be set here")
            window[name] = None if value.strip() in {"None", "null", "~"} else value
        result = check_dataset(cfg, [(window.get(WINDOW_PARAMETERS[0]), window.get(WINDOW_PARAMETERS[1]))])
    except (ParameterError, ValueError, FileNotFoundError, LookupError, TypeError) as err:
        _print_error(err)
        return 2
    print(result.text())
    return 0
