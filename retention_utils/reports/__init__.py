"""Reports: headline-number records, notebook parameters, the papermill runner, HTML pages and the
notebook-test comparator.

- :mod:`.records`  -- :func:`record` / :func:`read_records` (what a notebook states as its result)
- :mod:`.params`   -- declared parameters and typed values, the same from every door
- :mod:`.runner`   -- :func:`run_reports` (the main job), :func:`refresh_notebook`
- :mod:`.html`     -- self-contained notebook pages and the index
- :mod:`.nbcheck`  -- the pytest plugin that makes nbval compare numbers at stated tolerances
- :mod:`.cli`      -- ``python -m retention_utils.reports run|check|datasets|refresh``

The names notebooks use are importable from here: ``from retention_utils.reports import record,
REPORTS_DIR, REPO_ROOT``.
"""

from .cli import main
from .params import (
    ParameterError,
    check_path_parameter,
    coerce,
    declared_parameters,
    output_path,
    resolve_parameters,
)
from .records import RECORD_KINDS, RECORD_MIME, jsonable, read_records, record
from .runner import (
    NOTEBOOK_DIR,
    REPO_ROOT,
    REPORTS_DIR,
    REPORTS_ENV,
    DatasetCheckError,
    NotebookRun,
    RunResult,
    error_summary,
    notebook_title,
    refresh_notebook,
    run_notebook,
    run_reports,
    select_notebooks,
    shown_path,
    write_index,
)

__all__ = [
    "NOTEBOOK_DIR", "REPO_ROOT", "REPORTS_DIR", "REPORTS_ENV", "RECORD_KINDS", "RECORD_MIME", "DatasetCheckError", "NotebookRun",
    "ParameterError", "RunResult", "check_path_parameter", "coerce", "declared_parameters", "error_summary",
    "jsonable", "main", "notebook_title", "output_path", "read_records", "record", "refresh_notebook", "resolve_parameters",
    "run_notebook", "run_reports", "select_notebooks", "shown_path", "write_index",
]
