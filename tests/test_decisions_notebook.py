"""Notebook 08 end to end through the report runner, on a synthetic user dataset whose customer ids are
distinctive (``hh-0001-raw``): without a pseudonymisation key it stops before writing any list; with
one, no raw id appears in the HTML report, the executed notebook or any export. About a minute."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from retention_utils import privacy
from retention_utils.reports import DatasetCheckError, run_reports

from .decisions_synthetic import synthetic_tables

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop_config(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("shop")
    tx, products = synthetic_tables()
    tx.assign(order_ts=tx["order_ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(d / "orders.csv", index=False)
    products.to_csv(d / "products.csv", index=False)
    cfg = {
        "name": "synth_shop", "title": "Synthetic shop",
        "source": {"kind": "file", "path": "orders.csv", "products": "products.csv"},
        "cleaning": {"drop_non_positive": True},
        "parameters": {"OBSERVATION_START": "2017-01-01", "OBSERVATION_END": "2017-12-31", "SEED": 3},
        "notebooks": {"08_retention_playbook": {"FORECAST_DEPARTMENTS": 4, "FORECAST_WEEKS": 8, "BUDGET": 20}},
    }
    path = d / "synth_shop.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _texts(folder: Path):
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            if p.suffix == ".parquet":
                import pandas as pd

                yield p, pd.read_parquet(p).to_csv(index=False)
            else:
                yield p, p.read_text(encoding="utf-8", errors="replace")


def test_without_a_key_the_playbook_stops_before_any_list(shop_config, tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    # the runner refuses before any kernel starts (the notebook itself would stop at its first cell, too)
    with pytest.raises(DatasetCheckError, match="RETENTION_PSEUDONYM_KEY.*need it: 08_retention_playbook"):
        run_reports(shop_config, ["08"], output_dir=tmp_path, log=open("/dev/null", "w"))
    assert not (tmp_path / "synth_shop" / "playbook").exists()


def test_with_a_key_no_raw_id_in_the_report_or_the_exports(shop_config, tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "a-secret-of-the-shop")
    res = run_reports(shop_config, ["08"], output_dir=tmp_path, log=open("/dev/null", "w"))
    assert res.runs[0].status == "ok", res.runs[0].error
    out = tmp_path / "synth_shop"
    files = dict(_texts(out))
    assert (out / "08_retention_playbook.html") in files and any(p.suffix == ".parquet" for p in files)
    for p, text in files.items():
        assert "-raw" not in text, f"a raw customer id in {p}"
    html = files[out / "08_retention_playbook.html"]
    assert "c_" in html and "maintenance" in html
