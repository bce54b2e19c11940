"""The report runner: papermill execution, typed parameters, failures, HTML and the index."""

import datetime as dt
import json

import nbformat
import pytest

from retention_utils import reports


def _nb(path, params_src, body_src):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# Title of {path.stem}\n\nIntro."))
    p = nbformat.v4.new_code_cell(params_src)
    p.metadata["tags"] = ["parameters"]
    nb.cells.append(p)
    nb.cells.append(nbformat.v4.new_code_cell(body_src))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


PARAMS = """from datetime import date
DATASET: str = "x"
SEED: int = 0
DAY: date = date(2000, 1, 1)
ITEMS: list = [1]
"""


@pytest.fixture
def project(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _nb(nb_dir / "01_ok.ipynb", PARAMS,
        "import datetime\n"
        "assert isinstance(DAY, datetime.date) and DAY == datetime.date(2017, 12, 31), DAY\n"
        "assert ITEMS == ['a', 'b'], ITEMS\n"
        "from retention_utils.reports import record\n"
        "record('n_items', len(ITEMS))\nrecord('share', 2 / 3)\nrecord('day', DAY)\nrecord('dataset', DATASET)\nprint('secret-code-cell-output')\n"
        "from retention_utils.reports import REPORTS_DIR\nrecord('reports_dir', str(REPORTS_DIR))\n"
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
    _nb(nb_dir / "02_fails.ipynb", PARAMS, "raise ValueError('boom: the data is bad')")
    _nb(nb_dir / "03_ok_after.ipynb", PARAMS + "EXTRA: int = 1\n",
        "from retention_utils.reports import record\nrecord('extra', EXTRA * SEED)")
    (tmp_path / "log.csv").write_text("customer_id,order_id,order_ts,product_id,quantity,revenue\n1,a,2020-01-01,p,1,1\n")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(
        "name: toy\ntitle: Toy data\nsource: {kind: file, path: log.csv}\n"
        "parameters:\n  SEED: 3\n  DAY: 2017-12-31\n  ITEMS: [a, b]\n"
        "notebooks:\n  01_ok: {}\n  02_fails: {}\n  03_ok_after: {EXTRA: 5}\n"
    )
    return tmp_path, nb_dir, cfg


def test_run_writes_everything_and_reports_the_failure(project, capsys):
    root, nb_dir, cfg = project
    res = reports.run_reports(str(cfg), output_dir=root / "out", notebook_dir=nb_dir)
    out = root / "out" / "toy"
    assert [r.status for r in res.runs] == ["ok", "failed", "ok"]
    assert not res.ok and [r.name for r in res.failed] == ["02_fails"]
    assert "ValueError" in res.failed[0].error and "boom" in res.failed[0].error
    for stem in ("01_ok", "02_fails", "03_ok_after"):
        assert (out / f"{stem}.ipynb").is_file() and (out / f"{stem}.html").is_file()
    assert res.runs[0].records == {"n_items": 2, "share": 0.6666666667, "day": "2017-12-31", "dataset": str(cfg),
                                   "reports_dir": str((root / "out").resolve())}  # tables follow --output-dir
    assert res.runs[2].records == {"extra": 15}  # per-notebook parameter and common SEED
    # HTML: code hidden, outputs shown, the error visible in the failed page
    page = (out / "01_ok.html").read_text()
    assert "secret-code-cell-output" in page and "record('n_items'" not in page
    assert "data:image/png;base64" in page  # figures embedded
    assert 'src="http' not in page  # nothing fetched from the network to read the page
    assert "boom: the data is bad" in (out / "02_fails.html").read_text()
    # the parameter panel: every declared parameter, its value, where it came from; records read rounded
    panel = page[page.index("<summary>Parameters</summary>"):]
    assert "<code>SEED</code></td><td><code>3</code></td><td>this run" in panel
    assert "<code>DAY</code></td><td><code>2017-12-31</code></td><td>this run" in panel
    assert "share = 0.6667" in page and "0.6666666667" not in page
    page3 = (out / "03_ok_after.html").read_text()
    assert "<code>EXTRA</code></td><td><code>5</code></td><td>this run" in page3
    index = (out / "index.html").read_text()
    assert "Title of 01_ok" in index and "failed" in index and "n_items" in index and "01_ok.html" in index
    assert '<div class="lead">Intro.</div>' in index  # the paragraph under each notebook's title
    data = json.loads((out / "records.json").read_text())
    assert [n["status"] for n in data["notebooks"]] == ["ok", "failed", "ok"]
    err = capsys.readouterr().err
    assert "[1/3] 01_ok: ok" in err and "[2/3] 02_fails: failed" in err


def test_cli_exit_code_names_failure(project, capsys, monkeypatch):
    root, nb_dir, cfg = project
    monkeypatch.setattr(reports.runner, "NOTEBOOK_DIR", nb_dir)
    code = reports.main(["run", "--dataset", str(cfg), "--notebooks", "02", "--output-dir", str(root / "out")])
    assert code == 1
    assert "FAILED: 1 of 1 notebook(s): 02_fails" in capsys.readouterr().err
    code = reports.main(["run", "--dataset", str(cfg), "--notebooks", "01_ok", "--output-dir", str(root / "o2")])
    assert code == 0


def test_partial_run_keeps_earlier_results_in_the_index(project):
    root, nb_dir, cfg = project
    reports.run_reports(str(cfg), output_dir=root / "out", notebook_dir=nb_dir)
    reports.run_reports(str(cfg), notebooks=["03"], parameters={"EXTRA": 7}, output_dir=root / "out", notebook_dir=nb_dir)
    data = json.loads((root / "out" / "toy" / "records.json").read_text())
    by_name = {n["name"]: n for n in data["notebooks"]}
    assert list(by_name) == ["01_ok", "02_fails", "03_ok_after"]
    assert by_name["01_ok"]["earlier"] and by_name["02_fails"]["earlier"] and not by_name["03_ok_after"]["earlier"]
    assert by_name["03_ok_after"]["records"] == {"extra": 21}
    assert "earlier run" in (root / "out" / "toy" / "index.html").read_text()


def test_undeclared_parameter_is_an_error_before_running(project, capsys, monkeypatch):
    root, nb_dir, cfg = project
    with pytest.raises(reports.ParameterError, match=r"\['TYPO'\]"):
        reports.run_reports(str(cfg), parameters={"TYPO": 1}, output_dir=root / "out", notebook_dir=nb_dir)
    assert not (root / "out" / "toy" / "01_ok.ipynb").exists()
    monkeypatch.setattr(reports.runner, "NOTEBOOK_DIR", nb_dir)
    assert reports.main(["run", "--dataset", str(cfg), "-p", "TYPO", "1", "--output-dir", str(root / "o")]) == 2
    assert "TYPO" in capsys.readouterr().err


def test_cli_values_converted_to_declared_types(project):
    _, nb_dir, _ = project
    nb = nb_dir / "01_ok.ipynb"
    got = reports.resolve_parameters(nb, reports.params.parse_cli_parameters(
        [("DAY", "2018-02-03"), ("SEED", "7"), ("ITEMS", "[x, y]"), ("DATASET", "cdnow")]))
    assert got == {"DAY": dt.date(2018, 2, 3), "SEED": 7, "ITEMS": ["x", "y"], "DATASET": "cdnow"}
    with pytest.raises(reports.ParameterError, match="SEED"):
        reports.resolve_parameters(nb, {"SEED": "seven"})
    with pytest.raises(reports.ParameterError, match="DAY"):
        reports.resolve_parameters(nb, {"DAY": "31/12/2017"})


def test_parameter_with_equals_in_its_comment_is_declared(tmp_path):
    # papermill's own line parser skips this line; ours must not
    nb = _nb(tmp_path / "n.ipynb", "from datetime import date\nMIN_LIFT: float = 2.0  # share >= 2x the population\n"
             "START: date = date(2017, 1, 1)\nK = 3", "pass")
    got = reports.declared_parameters(nb)
    assert {k: v["type"] for k, v in got.items()} == {"MIN_LIFT": "float", "START": "date", "K": "None"}
    assert got["MIN_LIFT"]["help"] == "share >= 2x the population"
    assert reports.resolve_parameters(nb, {"MIN_LIFT": "3"}) == {"MIN_LIFT": 3.0}


def test_dataset_parameter_follows_the_config(project):
    root, nb_dir, cfg = project
    with pytest.raises(reports.ParameterError, match="contradicts"):
        reports.run_reports(str(cfg), notebooks=["01"], parameters={"DATASET": "cdnow"},
                            output_dir=root / "out", notebook_dir=nb_dir)
    res = reports.run_reports(str(cfg), notebooks=["01"], output_dir=root / "out", notebook_dir=nb_dir)
    assert res.runs[0].records["dataset"] == str(cfg)  # a config outside configs/ is passed by path


def test_unknown_notebook_selection(project):
    root, nb_dir, cfg = project
    with pytest.raises(ValueError, match="no notebook matches '09'"):
        reports.run_reports(str(cfg), notebooks=["09"], output_dir=root / "out", notebook_dir=nb_dir)


def test_record_rounds_and_rejects():
    assert reports.jsonable(0.1 + 0.2, 10) == 0.3
    assert reports.jsonable(float("nan"), 10) is None
    with pytest.raises(TypeError):
        reports.jsonable(object(), 10)
    with pytest.raises(ValueError, match="identifier"):
        reports.record("not a name", 1)


def test_repository_notebooks_declare_the_common_parameters():
    """Every notebook must accept the parameters each dataset config sends to all notebooks."""
    from retention_utils.data.datasets import config_dir, load_config

    for cfg_path in sorted(config_dir().glob("*.yaml")):
        cfg = load_config(cfg_path.stem)
        for nb in reports.select_notebooks(cfg, None, reports.NOTEBOOK_DIR):
            params = {**cfg.get("parameters", {}), **(cfg.get("notebooks", {}).get(nb.stem) or {})}
            reports.resolve_parameters(nb, params)  # raises on an undeclared name or a bad type


def test_nbval_setup_catches_a_moved_headline_number(tmp_path):
    """The nbval options of `make test` compare recorded numbers: a stored value that no longer
    matches the re-run fails the notebook test (and the sanitize patterns do not hide it)."""
    import subprocess
    import sys
    from pathlib import Path

    from nbclient import NotebookClient

    path = tmp_path / "nb.ipynb"
    _nb(path, "SEED: int = 0", "from retention_utils.reports import record\nrecord('customers', 2467)\nprint('took 1.5 s')")
    nb = nbformat.read(str(path), as_version=4)
    NotebookClient(nb, kernel_name="python3").execute()
    nbformat.write(nb, str(path))
    sanitize = Path(__file__).with_name("nbval_sanitize.cfg")
    cmd = [sys.executable, "-m", "pytest", str(path), "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(sanitize), "-q", "-p", "no:cacheprovider"]
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode == 0
    text = path.read_text().replace('"value": 2467', '"value": 2468')
    path.write_text(text)
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 1 and "record customers (count): value: 2468 became 2467" in res.stdout


# --- parameters arrive the same way from every door ------------------------------------------------

STR_PARAMS = """from datetime import date
from pathlib import Path
DATASET: str = "x"
LABEL: str = "a"
DAY: date = date(2000, 1, 1)
GROUPS: list = [0, 1]
OPTIONAL: int | None = None
ANY = 1
OUT_PATH: str = ""
"""


def test_cli_text_is_read_as_the_declared_type(tmp_path):
    nb = _nb(tmp_path / "n.ipynb", STR_PARAMS, "pass")
    cli = reports.params.parse_cli_parameters
    got = reports.resolve_parameters(nb, cli([("LABEL", "2011-12-09"), ("DAY", "2018-02-03"), ("OPTIONAL", "None"),
                                              ("ANY", "None"), ("GROUPS", "[0, 5]")]))
    assert got == {"LABEL": "2011-12-09", "DAY": dt.date(2018, 2, 3), "OPTIONAL": None, "ANY": None, "GROUPS": [0, 5]}
    # a YAML config's unquoted date given to a str parameter arrives as its text
    assert reports.resolve_parameters(nb, {"LABEL": dt.date(2011, 12, 9)}) == {"LABEL": "2011-12-09"}
    # path-like values arrive as text, for str and unannotated parameters alike
    from pathlib import Path

    assert reports.resolve_parameters(nb, {"LABEL": Path("a/b"), "ANY": Path("c")}) == {"LABEL": "a/b", "ANY": "c"}


def test_none_and_malformed_values_are_refused_in_one_line(tmp_path):
    nb = _nb(tmp_path / "n.ipynb", STR_PARAMS, "pass")
    cli = reports.params.parse_cli_parameters
    with pytest.raises(reports.ParameterError, match="LABEL is declared str; None is not allowed"):
        reports.resolve_parameters(nb, cli([("LABEL", "None")]))
    with pytest.raises(reports.ParameterError) as err:
        reports.resolve_parameters(nb, cli([("GROUPS", "[0, 1, 2")]))
    assert "GROUPS" in str(err.value) and "\n" not in str(err.value)


def test_path_parameters_must_name_a_writable_file(tmp_path):
    nb = _nb(tmp_path / "n.ipynb", STR_PARAMS, "pass")
    cli = reports.params.parse_cli_parameters
    with pytest.raises(reports.ParameterError, match="OUT_PATH is declared str; None is not allowed"):
        reports.resolve_parameters(nb, cli([("OUT_PATH", "None")]))
    for bad in ("", " "):
        with pytest.raises(reports.ParameterError, match="OUT_PATH must name an output file"):
            reports.resolve_parameters(nb, cli([("OUT_PATH", bad)]))
    with pytest.raises(reports.ParameterError, match="is a folder"):
        reports.resolve_parameters(nb, {"OUT_PATH": str(tmp_path)})
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if not os.access(locked, os.W_OK):  # root may write anywhere: only check where the OS refuses
            with pytest.raises(reports.ParameterError, match="cannot be written"):
                reports.resolve_parameters(nb, {"OUT_PATH": str(locked / "x.csv")})
    finally:
        locked.chmod(0o700)
    got = reports.resolve_parameters(nb, {"OUT_PATH": "sub/x.csv"})
    assert got["OUT_PATH"].endswith("sub/x.csv") and got["OUT_PATH"].startswith("/")  # absolute: the kernel runs elsewhere
    assert reports.output_path("", tmp_path / "d.csv") == tmp_path / "d.csv"
    with pytest.raises(reports.ParameterError):
        reports.output_path(None, tmp_path / "d.csv")


def test_cli_malformed_value_exits_2_with_one_line(project, capsys, monkeypatch):
    root, nb_dir, cfg = project
    monkeypatch.setattr(reports.runner, "NOTEBOOK_DIR", nb_dir)
    code = reports.main(["run", "--dataset", str(cfg), "--notebooks", "01", "-p", "ITEMS", "[0, 1, 2", "--output-dir", str(root / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "ITEMS" in err[0] and "Traceback" not in err[0]


def test_failed_notebook_is_summarised_by_the_first_line_of_its_message(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _nb(nb_dir / "01_multi.ipynb", PARAMS,
        "raise ValueError('no line is left after cleaning (window 2015-01-01 .. 2015-12-31)\\n  rows in 3\\nreconciles: True')")
    (tmp_path / "log.csv").write_text("customer_id,order_id,order_ts,product_id,quantity,revenue\n1,a,2020-01-01,p,1,1\n")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text("name: toy\nsource: {kind: file, path: log.csv}\nparameters: {ITEMS: [a, b], DAY: 2017-12-31}\n")
    res = reports.run_reports(str(cfg), output_dir=tmp_path / "out", notebook_dir=nb_dir)
    err = res.runs[0].error
    assert err.startswith("ValueError: no line is left after cleaning (window 2015-01-01 .. 2015-12-31)")
    assert "reconciles" not in err
    page = (tmp_path / "out" / "toy" / "01_multi.html").read_text()
    assert "reconciles: True" in page  # the full message stays in the notebook's page


def test_output_the_page_cannot_show_fails_the_page(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    _nb(nb_dir / "01_plotly.ipynb", PARAMS,
        "from IPython.display import display\n"
        "display({'application/vnd.plotly.v1+json': {'data': []}, 'text/plain': 'Figure()'}, raw=True)")
    (tmp_path / "log.csv").write_text("customer_id,order_id,order_ts,product_id,quantity,revenue\n1,a,2020-01-01,p,1,1\n")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text("name: toy\nsource: {kind: file, path: log.csv}\nparameters: {ITEMS: [a, b], DAY: 2017-12-31}\n")
    res = reports.run_reports(str(cfg), output_dir=tmp_path / "out", notebook_dir=nb_dir)
    assert res.runs[0].status == "failed" and "application/vnd.plotly.v1+json" in res.runs[0].error
    assert "This page is incomplete" in (tmp_path / "out" / "toy" / "01_plotly.html").read_text()


def test_index_is_written_whatever_was_recorded(tmp_path):
    from pathlib import Path

    run = reports.NotebookRun("01", "t", "ok", 1.0, {"P": Path("/x"), "O": object()},
                              records={"median_days": None, "ci": [0.861, 0.892], "sizes": {"a": 1},
                                       "seconds": {"EASE": 2.46, "ALS": 0.04}, "violations": []},
                              record_kinds={"seconds": "timing"})
    reports.write_index([run], tmp_path, {"name": "toy", "title": "Toy"})
    data = json.loads((tmp_path / "records.json").read_text())
    assert data["notebooks"][0]["parameters"]["P"] == "/x"
    assert data["notebooks"][0]["record_kinds"] == {"seconds": "timing"}
    page = (tmp_path / "index.html").read_text()
    assert "median_days</code> = –" in page and "0.8610 – 0.8920" in page and "a: 1" in page
    assert "EASE: 2.5 s; ALS: 0.0 s" in page  # wall-clock seconds to 0.1 s, not four significant digits
    assert "violations</code> = none" in page  # an empty list was shown as nothing after the "="


def test_shown_path_is_repo_relative_or_absolute(tmp_path):
    inside = reports.REPO_ROOT / "reports" / "x" / "a.csv"
    assert reports.shown_path(inside) == "reports/x/a.csv"
    assert reports.shown_path(tmp_path / "a.csv") == str((tmp_path / "a.csv").resolve())
