"""Every notebook copes with small or odd data (issue 10, item 8), and every shop shape runs.

The ``require_...`` checks are tested on hand-made tables: each raises
:class:`retention_utils.schema.InsufficientDataError` with one sentence. The runner test then takes a
one-customer, a five-customer and a two-week log through all seven notebooks (each runs, or stops at
its first analysis cell with that sentence), and every shop shape of tests/fixtures_shops.py through
``reports check`` and ``reports run``.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from retention_utils import reports
from retention_utils import schema as S
from retention_utils.models import clustering, clv, segments
from retention_utils.models import survival as sv
from retention_utils.recommend import split
from retention_utils.tables import cutoffs as CT
from retention_utils.tables import eda
from retention_utils.tables.summary import customer_summary

from . import fixtures_shops as F
from .conftest import make_tx


def _one_sentence(err):
    text = str(err.value)
    assert "\n" not in text and text.endswith("."), text
    return text


# ------------------------------------------------------------------------------------------------
# the require_ checks, on hand-made tables
# ------------------------------------------------------------------------------------------------


def test_require_eda():
    one = make_tx([("c", "o1", "2021-03-05 10:00", "p", 1, 3.0)])
    with pytest.raises(S.InsufficientDataError) as err:
        eda.require_eda(one)
    assert _one_sentence(err).startswith("the exploratory analysis needs at least one complete calendar week of orders "
                                         "and one customer who bought on two different days; the data has 1 customer(s)")
    # Monday 2021-03-01 .. Sunday 2021-03-07 is complete, and c bought on two days
    week = make_tx([("c", "o1", "2021-03-01", "p", 1, 3.0), ("c", "o2", "2021-03-07", "p", 1, 3.0)])
    eda.require_eda(week)


def test_require_profiles():
    tx = make_tx([("a", "1", "2021-01-04", "p1", 1, 10.0), ("b", "2", "2021-01-05", "p1", 1, 10.0)])
    products = pd.DataFrame({"product_id": ["p1", "p2"], "department": ["x", "y"]})
    s = customer_summary(tx)
    with pytest.raises(S.InsufficientDataError, match=r"need at least 2; the data has 1 customer"):
        segments.require_profiles(s.iloc[:1], tx.iloc[:1])
    segments.require_profiles(s, tx)  # no products: tags are skipped, nothing else needed
    with pytest.raises(S.InsufficientDataError) as err:  # both spend everything on x: lift 1, no tag
        segments.require_profiles(s, tx, products, "department")
    assert "none of the 2 customers has one" in _one_sentence(err)
    tagged = make_tx([("a", "1", "2021-01-04", "p1", 1, 10.0), ("b", "2", "2021-01-05", "p2", 1, 10.0)])
    segments.require_profiles(customer_summary(tagged), tagged, products, "department")


def test_require_clusters():
    tx = make_tx([("a", "1", "2021-01-04", "p", 1, 1.0), ("b", "2", "2021-01-04", "p", 1, 1.0)])
    with pytest.raises(S.InsufficientDataError) as err:
        clustering.require_clusters(tx, 2)
    assert _one_sentence(err) == "clustering customers into at least 2 groups needs at least 3 customers; the data has 2."
    clustering.require_clusters(make_tx([*[(c, c, "2021-01-04", "p", 1, 1.0) for c in "abc"]]), 2)


def test_require_cutoffs():
    tx = make_tx([("a", "1", "2021-01-04", "p", 1, 1.0)])
    with pytest.raises(S.InsufficientDataError, match=r"^repurchase prediction: no cutoff fits in 2021-01-01..2021-01-31"):
        CT.require_cutoffs(tx, "2021-01-01", "2021-01-31", 30, 30, 90)
    # cutoffs 01-31 (training), 02-14 (validation), 02-28 (test), H = 14 days; a and b are seen before each
    rows = [("a", "1", "2021-01-04", "p", 1, 1.0), ("b", "2", "2021-01-05", "p", 1, 1.0),
            ("a", "3", "2021-02-20", "p", 1, 1.0), ("b", "4", "2021-02-25", "p", 1, 1.0),
            ("b", "5", "2021-03-01", "p", 1, 1.0)]
    with pytest.raises(S.InsufficientDataError) as err:  # nobody orders in [01-31, 02-14)
        CT.require_cutoffs(make_tx(rows), "2021-01-01", "2021-03-13", 14, 14, 30, n_folds=1)
    assert "at the training cutoff 2021-01-31 0 of the 2 customers seen before it order" in _one_sentence(err)
    rows.append(("a", "6", "2021-02-02", "p", 1, 1.0))  # now a does; but both order in [02-14, 02-28)
    with pytest.raises(S.InsufficientDataError, match="at the validation cutoff 2021-02-14 2 of the 2 customers"):
        CT.require_cutoffs(make_tx(rows), "2021-01-01", "2021-03-13", 14, 14, 30, n_folds=1)
    rows.append(("c", "7", "2021-02-10", "p", 1, 1.0))  # c is seen by 02-14 and silent after it
    CT.require_cutoffs(make_tx(rows), "2021-01-01", "2021-03-13", 14, 14, 30, n_folds=1)


def test_require_churn_data():
    once = make_tx([("a", "1", "2021-01-04", "p", 1, 1.0), ("b", "2", "2021-01-05", "p", 1, 1.0)])
    with pytest.raises(S.InsufficientDataError, match="needs customers who bought on two different days"):
        sv.require_churn_data(once, "2021-12-31")
    twice = make_tx([("a", "1", "2021-06-04", "p", 1, 1.0), ("a", "2", "2021-06-10", "p", 1, 1.0)])
    with pytest.raises(S.InsufficientDataError) as err:
        sv.require_churn_data(twice, "2021-06-30", label_check_days=90)
    assert "checked 90 days before the end (2021-04-01), but the data starts on 2021-06-04" in _one_sentence(err)
    with pytest.raises(S.InsufficientDataError, match=r"at least 10 churn events and 10 censored customers at the landmark"):
        sv.require_churn_data(twice, "2021-12-31", window_days=1)


def test_require_btyd_data():
    rows = [(c, f"{c}{i}", f"2021-0{m}-1{i}", "p", 1, 5.0) for c in "abcdefghijkl" for i, m in ((1, 1), (2, 2))]
    tx = make_tx(rows + [("a", "a9", "2021-05-03", "p", 1, 5.0)])
    clv.require_btyd_data(tx, "2021-01-01", "2021-03-31", "2021-05-03")
    with pytest.raises(S.InsufficientDataError, match="OBSERVATION_START < CALIBRATION_END < OBSERVATION_END"):
        clv.require_btyd_data(tx, "2021-01-01", "2021-06-01", "2021-05-03")
    with pytest.raises(S.InsufficientDataError) as err:
        clv.require_btyd_data(tx, "2021-01-01", "2021-03-31", "2021-05-31")
    assert "the last order is on 2021-05-03" in _one_sentence(err) and "set OBSERVATION_END to 2021-05-03 or earlier" in str(err.value)
    with pytest.raises(S.InsufficientDataError, match=r"at least 10 customers who bought on two days by CALIBRATION_END \(2021-01-31\); the data has 0 of 12"):
        clv.require_btyd_data(tx, "2021-01-01", "2021-01-31", "2021-05-03")
    with pytest.raises(S.InsufficientDataError, match="12 of 12 buy again"):
        clv.require_btyd_data(make_tx(rows + [(c, c + "9", "2021-05-03", "p", 1, 5.0) for c in "abcdefghijkl"]),
                              "2021-01-01", "2021-03-31", "2021-05-03")


def test_require_protocols():
    tx = make_tx([("a", "1", "2021-03-05", "p", 1, 1.0), ("a", "2", "2021-03-06", "q", 1, 1.0)])
    baskets = split.basket_items(tx)
    with pytest.raises(S.InsufficientDataError) as err:
        split.require_protocols(baskets, "2021-04-01", 28, 28, 14)
    assert _one_sentence(err) == ("recommender evaluation cannot build the global-cutoff protocol (test cutoff 2021-03-04, "
                                  "validation cutoff 2021-02-04): no basket before the cutoff 2021-02-04: nothing to train on.")


# ------------------------------------------------------------------------------------------------
# the runner on small logs and on every shop shape
# ------------------------------------------------------------------------------------------------

#: notebooks that run to the end on each small log; the others stop at their first analysis cell
RUNS = {
    "one_customer": set(),
    "five_customers": {"01_eda", "02_customer_profiles", "03_segmentation_clustering"},
    "two_weeks": {"01_eda", "02_customer_profiles", "03_segmentation_clustering", "06_customer_lifetime_value"},
}


def _guard_cell(nb_path: Path) -> int:
    """Execution count of the cell holding the notebook's ``require_...`` guard, as papermill numbers
    it (its injected-parameters cell adds one)."""
    nb = nbformat.read(str(nb_path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    return next(i for i, c in enumerate(code, 1) if ".require_" in c.source) + 1


def _run(cfg: Path, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "retention_utils.reports", "run", "--dataset", str(cfg), "--output-dir", str(out)]
    env = {**os.environ, "RETENTION_PSEUDONYM_KEY": "test-small-data-key", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def test_every_notebook_runs_or_stops_at_its_first_analysis_cell(tmp_path):
    """A one-customer, a five-customer and a two-week log through every notebook with the runner: each
    notebook runs, or stops at the cell with its ``require_...`` guard with an InsufficientDataError
    sentence; the run's exit code is 1 when one stopped."""
    cfgs = {name: F.write_small_log(tmp_path, name) for name in RUNS}
    out = tmp_path / "out"
    with ThreadPoolExecutor(max_workers=2) as pool:  # two runners at a time on a two-core machine
        done = dict(zip(cfgs, pool.map(lambda c: _run(c, out), cfgs.values()), strict=True))
    for name, proc in done.items():
        assert "[check] " in proc.stderr, (name, proc.stderr[-2000:])  # the dataset was checked first
        status = {r["name"]: r for r in json.loads((out / name / "records.json").read_text())["notebooks"]}
        assert set(status) == {p.stem for p in reports.NOTEBOOK_DIR.glob("0*.ipynb")}
        assert proc.returncode == (0 if len(RUNS[name]) == len(status) else 1), (name, proc.stderr[-3000:])
        for nb, r in status.items():
            if nb in RUNS[name]:
                assert r["status"] == "ok", (name, nb, r["error"])
            else:
                cell = _guard_cell(reports.NOTEBOOK_DIR / f"{nb}.ipynb")
                # InsufficientDataError or its named cases (no product catalogue, no campaign tables)
                assert r["error"].split(":")[0] in {"InsufficientDataError", "PlaybookUnavailable", "NoCampaignDataError"}, (
                    name, nb, r["error"])
                assert r["error"].endswith(f". (cell [{cell}])"), (name, nb, r["error"])
    first = {r["name"]: r["error"] for r in json.loads((out / "one_customer" / "records.json").read_text())["notebooks"]}
    assert "needs at least one complete calendar week of orders" in first["01_eda"]
    assert "customer profiles compare customers and need at least 2" in first["02_customer_profiles"]


#: the tiny notebook set of the shape runs: one notebook per name a config may list, each declaring
#: every parameter the fixture configs send, loading and cleaning the data and recording what it saw
TINY_PARAMS = """from datetime import date
DATASET: str = "x"
OBSERVATION_START: date = date(2000, 1, 1)
OBSERVATION_END: date = date(2000, 12, 31)
SEED: int = 0
COHORT_PERIOD: str = "M"
HORIZON_DAYS: int = 30
CUTOFF_STEP_DAYS: int = 30
MIN_HISTORY_DAYS: int = 90
CALIBRATION_END: date = date(2000, 6, 30)
TIME_UNIT: str = "days"
"""
TINY_BODY = """from retention_utils.data.cleaning import load_clean
from retention_utils.reports import record
from retention_utils.tables.summary import customer_summary
ds, report = load_clean(DATASET, OBSERVATION_START, OBSERVATION_END)
s = customer_summary(ds.transactions, OBSERVATION_END)
print(report.summary())
record("customers", len(s), kind="count")
record("orders", int(s["n_orders"].sum()), kind="count")
record("repeat_customers", int((s["frequency"] > 0).sum()), kind="count")
record("revenue", float(report.revenue_kept), kind="money")
"""


def _tiny_notebooks(folder: Path) -> Path:
    folder.mkdir()
    for p in sorted(reports.NOTEBOOK_DIR.glob("0*.ipynb")):
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_markdown_cell(f"# {p.stem} (tiny)\n\nLoads the dataset."))
        cell = nbformat.v4.new_code_cell(TINY_PARAMS)
        cell.metadata["tags"] = ["parameters"]
        nb.cells += [cell, nbformat.v4.new_code_cell(TINY_BODY)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(folder / p.name))
    return folder


#: customers, orders and repeat customers each shape yields: the hand-written core plus 20 generated
#: customers (tests/fixtures_shops.py); the core's own values are checked in tests/test_shops.py
SHAPE_FACTS = {"online_retail": (23, 70), "marketplace": (23, 71), "order_log": (23, 70), "dst_shop": (23, 70),
               "euro_shop": (22, 69)}


def test_every_shop_shape_goes_through_check_and_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RETENTION_PSEUDONYM_KEY", "test-small-data-key")
    monkeypatch.setattr(reports.runner, "NOTEBOOK_DIR", _tiny_notebooks(tmp_path / "notebooks"))
    out = tmp_path / "out"
    for name, (customers, orders) in SHAPE_FACTS.items():
        cfg = F.SHAPES[name](tmp_path / name, filler=20)
        assert reports.main(["check", "--dataset", str(cfg)]) == 0, capsys.readouterr()
        assert capsys.readouterr().out.strip().splitlines()[-1].startswith("ok")
        assert reports.main(["run", "--dataset", str(cfg), "--notebooks", "01", "--output-dir", str(out)]) == 0
        err = capsys.readouterr().err
        assert f"[check] {name}: " in err and "all 1 notebook(s) ok" in err, err[-2000:]
        rec = json.loads((out / name / "records.json").read_text())["notebooks"][0]["records"]
        assert (rec["customers"], rec["orders"]) == (customers, orders), name
        assert rec["repeat_customers"] > 0, name  # people, not per-order ids: repeat buyers exist
