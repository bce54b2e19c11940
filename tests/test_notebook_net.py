"""The regression net itself: the notebook tests pass on changes below the stated tolerances, fail on
a real change, and the notebooks accept their parameters from papermill's own command line."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from retention_utils.reports import read_records

ROOT = Path(__file__).resolve().parents[1]
NBVAL = ["--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
         "-q", "-p", "no:cacheprovider"]


def _pytest(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", str(path), *NBVAL], cwd=cwd, capture_output=True, text=True)


def _toy(path: Path, noise: float) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(f"NOISE: float = {noise!r}")
    p.metadata["tags"] = ["parameters"]
    nb.cells += [p, nbformat.v4.new_code_cell(
        "from retention_utils.reports import record\n"
        "auc = 0.8374 + NOISE\n"
        "print(f'ROC-AUC {auc:.4f} on 2,461 customers')\n"
        "record('roc_auc', auc, kind='metric')\n"
        "record('customers', 2461, kind='count')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_changes_below_the_tolerance_pass_and_above_fail(tmp_path):
    stored = _toy(tmp_path / "stored.ipynb", 0.0)
    book = nbformat.read(str(stored), as_version=4)
    NotebookClient(book, kernel_name="python3").execute()
    for noise, passes in [(6e-5, True), (2e-4, False)]:  # 0.8374 -> 0.8375 (a rounding boundary), -> 0.8376
        # the re-run differs from the stored outputs by `noise`: within one unit of the printed digit and
        # 1e-3 relative for a metric record it passes; beyond, the text and the record both fail
        moved = nbformat.read(str(_toy(tmp_path / f"n{noise}.ipynb", noise)), as_version=4)
        moved.cells[1].outputs = book.cells[1].outputs
        moved.cells[1].execution_count = book.cells[1].execution_count
        nbformat.write(moved, str(tmp_path / f"n{noise}.ipynb"))
        res = _pytest(tmp_path / f"n{noise}.ipynb", tmp_path)
        assert (res.returncode == 0) == passes, res.stdout[-2000:]
        if not passes:
            assert "number 0.8374 became 0.8376" in res.stdout


@pytest.mark.slow
def test_a_real_change_fails_the_notebook_test(tmp_path):
    """Copy notebook 01 with its stored outputs, change one setting (cohorts by week instead of month)
    and re-run the notebook test: the cells whose results moved fail."""
    nb = nbformat.read(str(ROOT / "notebooks" / "01_eda.ipynb"), as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'COHORT_PERIOD: str = "M"' in params.source
    params.source = params.source.replace('COHORT_PERIOD: str = "M"', 'COHORT_PERIOD: str = "W"')
    copy = tmp_path / "01_eda.ipynb"
    nbformat.write(nb, str(copy))
    res = _pytest(copy, tmp_path)
    assert res.returncode == 1
    assert "month3_retention" in res.stdout  # the headline record moved (a month-3 rate is not defined weekly)
    assert "outputs differ beyond the stated tolerances" in res.stdout


@pytest.mark.slow
def test_papermill_command_line_gives_dates_as_text(tmp_path):
    """`papermill ... -p OBSERVATION_END 2017-06-30` delivers text; the notebook parses it with the one
    date rule and runs."""
    out = tmp_path / "out.ipynb"
    res = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "01_eda.ipynb"), str(out),
         "-p", "OBSERVATION_START", "2017-01-01", "-p", "OBSERVATION_END", "2017-06-30", "-k", "python3",
         "--cwd", str(ROOT / "notebooks"), "--no-progress-bar"],
        capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    recs = read_records(out)
    assert recs["customers"] < 2467  # half a year: fewer customers than the whole year
    injected = next(c for c in json.loads(out.read_text())["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert 'OBSERVATION_END = "2017-06-30"' in "".join(injected["source"])  # papermill really passed text
