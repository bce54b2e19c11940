"""Checks on the stored notebooks that need no kernel: what every notebook promises its readers and
the notebook tests (house style of the repository)."""

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from retention_utils.reports import declared_parameters
from retention_utils.reports.html import tex_in_markdown, unrenderable_outputs
from retention_utils.reports.records import RECORD_KINDS, RECORD_MIME

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def nb(request):
    return request.param, nbformat.read(str(request.param), as_version=4)


def test_date_parameters_go_through_the_one_parser(nb):
    """papermill's -p/-y deliver ISO strings: every date parameter is converted with to_date in the
    notebook's code before use."""
    path, book = nb
    dates = [n for n, d in declared_parameters(path).items() if d["type"] in {"date", "datetime"}]
    code = "\n".join(c.source for c in book.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", []))
    for name in dates:
        assert re.search(rf"^{name} = (S\.)?to_date\({name}, \"{name}\"\)", code, re.M), f"{path.name}: {name} is not parsed with to_date"


def test_no_tex_no_stderr_no_unrenderable_output_and_python3_kernel(nb):
    path, book = nb
    assert tex_in_markdown(book) == [], f"{path.name}: TeX in markdown (the offline pages cannot typeset it)"
    assert unrenderable_outputs(book) == []
    stderr = [i for i, c in enumerate(book.cells) for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == [], f"{path.name}: stored stderr in cells {stderr}"
    assert book.metadata["kernelspec"]["name"] == "python3"
    assert not re.search(r"0x[0-9a-f]{8,}", json.dumps(book)), "memory address in stored outputs"


def test_records_carry_a_kind(nb):
    path, book = nb
    recs = [o["data"][RECORD_MIME] for c in book.cells for o in c.get("outputs", []) if RECORD_MIME in o.get("data", {})]
    assert recs, f"{path.name}: no headline record"
    for r in recs:
        r = json.loads(r) if isinstance(r, str) else r
        assert r.get("kind") in RECORD_KINDS, f"{path.name}: record {r['name']} without a kind"


def test_only_one_line_helpers_in_notebooks(nb):
    """Package logic lives in retention_utils: a notebook defines no function longer than one line."""
    path, book = nb
    for c in book.cells:
        if c.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(c.source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                assert node.end_lineno - node.lineno <= 1, f"{path.name}: {node.name} belongs in the package"
