"""One date rule for every public entry point: ``retention_utils.schema.to_day``.

Every public function or method that takes a date (annotated ``DateLike``) refuses the ambiguous
``"05/04/2017"`` (5 April or 4 May?) with a SchemaError, and accepts the ISO text. The registry below
calls each one; a discovery test fails when a new entry point is added without an entry here.
"""

import importlib
import inspect
import pkgutil

import pandas as pd
import pytest

import retention_utils
from retention_utils import engines
from retention_utils import schema as S
from retention_utils.causal import panel as causal_panel
from retention_utils.data import check, cleaning
from retention_utils.decisions import backtest, playbook, recommendations, seasonal, signals, welcome
from retention_utils.engines import backend as engine_backend
from retention_utils.engines import tables as engine_tables
from retention_utils.models import clv, prediction, survival
from retention_utils.recommend import split
from retention_utils.tables import cohorts, cutoffs, durations, summary

from .conftest import make_tx

AMBIGUOUS = "05/04/2017"
TX = make_tx([
    ("a", "o1", "2017-01-02", "p", 1.0, 5.0), ("a", "o2", "2017-02-01", "p", 1.0, 5.0),
    ("b", "o3", "2017-01-05", "q", 1.0, 7.0), ("b", "o4", "2017-03-01", "p", 1.0, 7.0),
])


engine_clean = importlib.import_module("retention_utils.engines.clean")  # the package re-exports clean()


def _engine_log():
    return engine_clean.read_log(engine_backend.connect("duckdb", threads=1), TX)


def _engine_clean():
    return engine_clean.clean(_engine_log(), None, "2017-01-01", "2017-06-30")


def _history():
    return cutoffs.CustomerHistory(TX, observation_end="2017-06-30")


CALLS = {
    "data.cleaning.clean_transactions": lambda d: cleaning.clean_transactions(TX, None, None, d, "2017-06-30"),
    "data.cleaning.load_clean": lambda d: cleaning.load_clean("cdnow", d, "1998-06-30"),
    "models.clv.repeat_purchase_tracking": lambda d: clv.repeat_purchase_tracking(TX, None, d, "2017-03-01", "2017-06-30"),
    "models.clv.at_risk_table": lambda d: clv.at_risk_table(pd.DataFrame(), pd.DataFrame(), d, "2017-01-01", "m", 6, 0.01),
    "models.prediction.risk_score_table": lambda d: prediction.risk_score_table(pd.Series(dtype=float), pd.DataFrame(), d, 30, "m"),
    "models.prediction.forward_classifier_scores": lambda d: prediction.forward_classifier_scores(None, d, "2017-06-30", 30),
    "models.survival.next_purchase_scores": lambda d: survival.next_purchase_scores(TX, "2017-01-01", d, "2017-06-30"),
    "recommend.split.global_cutoff_split": lambda d: split.global_cutoff_split(split.basket_items(TX), d),
    "recommend.split.global_cutoff_protocol": lambda d: split.global_cutoff_protocol(split.basket_items(TX), "2017-03-01", d),
    "schema.to_day": lambda d: S.to_day(d),
    "schema.to_date": lambda d: S.to_date(d),
    "tables.cohorts.cohort_retention": lambda d: cohorts.cohort_retention(TX, start=d),
    "tables.cohorts.activity_window": lambda d: cohorts.activity_window(pd.Timestamp("2017-01-01"), pd.Timestamp("2017-06-30"), d, None),
    "tables.cutoffs.plan_cutoffs": lambda d: cutoffs.plan_cutoffs(d, "2017-06-30", 30),
    "tables.cutoffs.time_splits": lambda d: cutoffs.time_splits([d, "2017-06-01", "2017-07-01"], 30),
    "tables.cutoffs.CustomerHistory.__init__": lambda d: cutoffs.CustomerHistory(TX, observation_end=d),
    "tables.cutoffs.CustomerHistory.from_dataset": lambda d: cutoffs.CustomerHistory.from_dataset(
        type("DS", (), {"transactions": TX, "products": None, "customers": None, "tables": {}})(), d),
    "tables.cutoffs.CustomerHistory.labels": lambda d: _history().labels(d, 30),
    "tables.cutoffs.CustomerHistory.features": lambda d: _history().features(d),
    "tables.cutoffs.CustomerHistory.panel": lambda d: _history().panel([d], 30),
    "tables.durations.threshold_table": lambda d: durations.threshold_table(TX, d),
    "tables.durations.censor_at_cutoff": lambda d: durations.censor_at_cutoff(pd.Series(dtype="datetime64[ns]"), pd.Series(dtype="datetime64[ns]"), d),
    "tables.durations.churn_durations": lambda d: durations.churn_durations(TX, 30, d),
    "tables.durations.first_window_transactions": lambda d: durations.first_window_transactions(TX, 30, d),
    "tables.durations.first_window_features": lambda d: durations.first_window_features(TX, 30, d),
    "tables.durations.next_purchase_training_cutoff": lambda d: durations.next_purchase_training_cutoff("2017-01-01", d, "2017-06-30"),
    "tables.durations.next_purchase_table": lambda d: durations.next_purchase_table(TX, d),
    "tables.summary.segmentation_summary": lambda d: summary.segmentation_summary(TX, d),
    "tables.summary.btyd_summary": lambda d: summary.btyd_summary(TX, d),
    "tables.summary.customer_summary": lambda d: summary.customer_summary(TX, d),
    "tables.summary.calibration_holdout_split": lambda d: summary.calibration_holdout_split(TX, d),
    # the wings: campaign effects and the retention playbook (dates are parsed before anything else)
    "causal.panel.campaign_cross_section": lambda d: causal_panel.campaign_cross_section(TX, None, "A", d, "2017-06-30"),
    "causal.panel.campaign_windows": lambda d: causal_panel.campaign_windows(pd.DataFrame(), d, "2017-06-30"),
    "causal.panel.first_contact_cohorts": lambda d: causal_panel.first_contact_cohorts(None, [], d),
    "causal.panel.household_week_panel": lambda d: causal_panel.household_week_panel(TX, d, "2017-06-30"),
    "causal.panel.n_panel_weeks": lambda d: causal_panel.n_panel_weeks(d, "2017-06-30"),
    "causal.panel.top_departments": lambda d: causal_panel.top_departments(TX, None, d),
    "causal.panel.week_index": lambda d: causal_panel.week_index(pd.Series(dtype="datetime64[ns]"), d),
    "decisions.backtest.outcomes": lambda d: backtest.outcomes(TX, d, 30),
    "decisions.playbook.backtest_as_of": lambda d: playbook.backtest_as_of(d, 92),
    "decisions.playbook.build_playbook": lambda d: playbook.build_playbook(None, d),
    "decisions.playbook.require_playbook_data": lambda d: playbook.require_playbook_data(None, "x", d),
    "decisions.recommendations.cold_start_items": lambda d: recommendations.cold_start_items(TX, None, None, d),
    "decisions.recommendations.popularity_by_department": lambda d: recommendations.popularity_by_department(TX, None, d),
    "decisions.recommendations.seasonal_items": lambda d: recommendations.seasonal_items(None, TX, None, None, [], None, d),
    "decisions.seasonal.customer_affinity": lambda d: seasonal.customer_affinity(TX, None, d, None, 4),
    "decisions.seasonal.weekly_department_revenue": lambda d: seasonal.weekly_department_revenue(TX, None, d),
    "decisions.signals.btyd_values": lambda d: signals.btyd_values(TX, d, 30),
    "decisions.signals.hazard_ratio": lambda d: signals.hazard_ratio(TX, d, 30),
    "decisions.signals.known_at": lambda d: signals.known_at(TX, d),
    "decisions.signals.prepare": lambda d: signals.prepare(None, d, 30),
    "decisions.signals.repurchase_risk": lambda d: signals.repurchase_risk(None, d),
    "decisions.signals.Prepared.lines_at": lambda d: signals.Prepared.lines_at(type("P", (), {"tx": TX})(), d),
    "decisions.signals.Prepared.orders_at": lambda d: signals.Prepared.orders_at(type("P", (), {"orders": TX})(), d),
    "decisions.welcome.fit_welcome_model": lambda d: welcome.fit_welcome_model(TX, None, None, None, "2017-01-01", d, 30),
    "decisions.welcome.welcome_cohort": lambda d: welcome.welcome_cohort(None, d, 90),
    "data.check.check_dataset": lambda d: check.check_dataset("cdnow", [(d, "1998-06-30")]),
    "models.clv.require_btyd_data": lambda d: clv.require_btyd_data(TX, "2017-01-01", d, "2017-06-30"),
    "models.survival.require_churn_data": lambda d: survival.require_churn_data(TX, d),
    "recommend.split.require_protocols": lambda d: split.require_protocols(split.basket_items(TX), d, 28, 28, 14),
    "tables.cutoffs.require_cutoffs": lambda d: cutoffs.require_cutoffs(TX, d, "2017-06-30", 30),
    # the engines (DuckDB here; Spark goes through the same code)
    "engines.customer_tables": lambda d: engines.customer_tables("cdnow", "duckdb", start=d),
    "engines.clean.clean": lambda d: engine_clean.clean(_engine_log(), None, d, "2017-06-30"),
    "engines.tables.segmentation_summary": lambda d: engine_tables.segmentation_summary(_engine_clean(), d),
    "engines.tables.btyd_summary": lambda d: engine_tables.btyd_summary(_engine_clean(), d),
    "engines.tables.customer_summary": lambda d: engine_tables.customer_summary(_engine_clean(), d),
    "engines.tables.calibration_holdout_split": lambda d: engine_tables.calibration_holdout_split(_engine_clean(), d),
    "engines.tables.cohort_retention": lambda d: engine_tables.cohort_retention(_engine_clean(), start=d),
    "engines.tables.btyd_triples": lambda d: engine_tables.btyd_triples(_engine_clean(), d),
}


def _public_date_entry_points():
    found = set()
    for info in pkgutil.walk_packages(retention_utils.__path__, "retention_utils."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            members = [(name, obj)] if inspect.isfunction(obj) else [
                (f"{name}.{k}", v.__func__ if isinstance(v, classmethod) else v) for k, v in vars(obj).items()
                if (inspect.isfunction(v) or isinstance(v, classmethod)) and (not k.startswith("_") or k == "__init__")
            ] if inspect.isclass(obj) else []
            for qn, f in members:
                if any("DateLike" in str(p.annotation) for p in inspect.signature(f).parameters.values()):
                    found.add(f"{info.name.removeprefix('retention_utils.')}.{qn}")
    return found


def test_every_public_date_entry_point_is_checked():
    assert _public_date_entry_points() <= set(CALLS), sorted(_public_date_entry_points() - set(CALLS))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_ambiguous_date_is_refused(name):
    with pytest.raises(S.SchemaError, match="05/04/2017"):
        CALLS[name](AMBIGUOUS)
