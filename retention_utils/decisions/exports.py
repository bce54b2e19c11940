"""Exports of the playbook and the campaign-effect hook.

Files (under ``<reports dir>/<dataset>/playbook/``, where the reports dir is
:data:`retention_utils.reports.REPORTS_DIR`, which follows the runner's ``--output-dir``): one file per
scenario, ``welcome``, ``winback``, ``maintenance``, ``seasonal``, plus ``summary``, each as ``.csv``
(UTF-8, header, no index, floats with 10 significant digits, empty field = missing) and ``.parquet``
(pyarrow). A folder manifest (:data:`retention_utils.schema.MANIFEST_NAME`) lists the files written
with their SHA-256: an export never overwrites a file it did not write, nor one edited since
(:func:`retention_utils.schema.claim_export_path`); a refused file stops the export before it is
written, with the path in the message.

Privacy: customer ids in every export are pseudonyms (:mod:`retention_utils.privacy`: keyed
HMAC-SHA256, ``c_`` + 16 hex digits). The key is resolved from the dataset config / environment
before anything is computed (:func:`retention_utils.privacy.pseudonym_key`; a user's dataset without
``RETENTION_PSEUDONYM_KEY`` stops with :class:`retention_utils.privacy.PrivacyError`);
:func:`pseudonymised` refuses to hand out a table whose ids are not all pseudonyms when a key is set.
The summary suppresses the counts and amounts of scenarios with fewer than ``min_cell`` customers
(:func:`retention_utils.privacy.suppress_small_cells`; the cell reads ``"<10"``).

Scenario files (:data:`PLAYBOOK_COLUMNS`), one row per listed customer, sorted by ``rank``:

=========================  =======  ========================================================================
column                     dtype    meaning
=========================  =======  ========================================================================
customer_id                str      pseudonym of the customer (or the raw id when pseudonyms are off)
scenario                   str      ``welcome``, ``winback``, ``maintenance`` or ``seasonal``
priority                   int      1..4, the order in which the scenario rules are applied
rank                       int      1 = first to contact within the scenario
rank_basis                 str      ``"expected value"`` or ``"incremental value"`` (campaign-effect hook)
as_of                      str      ISO date of the last day whose data the list uses
horizon_days               int      days after ``as_of`` that scores and values refer to
score                      float    the scenario's score (``score_meaning``), in [0, 1]
score_meaning              str      what the score is
expected_value             float    currency over the horizon (``value_meaning``)
value_meaning              str      how ``expected_value`` is computed
value_if_retained          float    expected spend over the horizon if the customer stays active (currency)
incremental_value          float    expected extra spend caused by a contact over the horizon (currency),
                                    from the campaign-effect file; empty without one
reason_1 .. reason_3       str      why the customer is on the list, most important first (may be empty)
recommended_products       str      ``"NAME [DEPARTMENT]"`` joined by ``"; "``, in rank order
repeat_products            str      the recommended products the customer bought before
explore_products           str      the recommended products new to the customer
recommended_product_ids    str      product ids joined by ``";"``
recommendation_model       str      which recommender produced the products
=========================  =======  ========================================================================

Summary file (:data:`SUMMARY_COLUMNS`), one row per scenario in priority order: ``scenario``,
``priority``, ``as_of``, ``horizon_days``, ``eligible`` (customers whose rule holds before the priority
order), ``assigned`` (in the list before the budget), ``listed`` (after the budget), ``budget``,
``budget_mode``, ``expected_value_total`` and ``expected_value_mean`` of the listed customers
(currency over the horizon, rounded to cents), ``score_meaning``, ``value_meaning``, ``recommendation_model``, ``note``.
Counts and amounts of a scenario with fewer than ``min_cell`` listed customers read ``"<10"``.

Campaign-effect hook
--------------------
When the campaign-effect work (issue 13) has written per-household effect estimates to
``<reports dir>/<dataset>/causal/household_effects.csv`` (:func:`household_effects_path`), with a
pseudonymised id column and the estimated effect of a contact on weekly spend,
:func:`read_household_effects` reads it and :func:`rank_by_incremental_value` ranks every list by the
expected **incremental** value, effect x ``horizon_days`` / 7 (currency over the horizon): the value a
contact causes, instead of the value at risk. Customers without an estimate keep their order after
those with one. Without the file nothing changes (``rank_basis`` = ``"expected value"``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import privacy
from .. import schema as S
from .scenarios import SCENARIOS, PlaybookError

PLAYBOOK_COLUMNS: tuple[str, ...] = (
    S.CUSTOMER_ID, "scenario", "priority", "rank", "rank_basis", "as_of", "horizon_days", "score", "score_meaning",
    "expected_value", "value_meaning", "value_if_retained", "incremental_value", "reason_1", "reason_2", "reason_3",
    "recommended_products", "repeat_products", "explore_products", "recommended_product_ids", "recommendation_model",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "scenario", "priority", "as_of", "horizon_days", "eligible", "assigned", "listed", "budget", "budget_mode",
    "expected_value_total", "expected_value_mean", "score_meaning", "value_meaning", "recommendation_model", "note",
)
#: Where the campaign-effect work writes its per-household estimates, relative to ``<reports>/<dataset>``.
EFFECTS_FILE = Path("causal") / "household_effects.csv"
#: Accepted names of its columns, in order of preference.
EFFECT_ID_COLUMNS: tuple[str, ...] = (S.CUSTOMER_ID, "household_id", "pseudonym")
EFFECT_VALUE_COLUMNS: tuple[str, ...] = ("effect_spend_per_week", "effect_weekly_spend", "effect_on_weekly_spend", "weekly_spend_effect",
                                         "effect")
EXPORT_FOLDER = "playbook"


def playbook_dir(reports_dir: str | os.PathLike, dataset: str) -> Path:
    """``<reports_dir>/<dataset>/playbook``."""
    return Path(reports_dir) / str(dataset) / EXPORT_FOLDER


def is_pseudonym(values: pd.Series) -> pd.Series:
    """True where a value has the pseudonym form ``c_`` + 16 lower-case hex digits."""
    return values.astype(str).str.fullmatch(privacy.PREFIX + "[0-9a-f]{" + str(privacy.DIGITS) + "}")


def pseudonymised(table: pd.DataFrame, key: privacy.PseudonymKey) -> pd.DataFrame:
    """A copy of ``table`` with ``customer_id`` replaced by its pseudonym under ``key`` (unchanged
    when pseudonyms are off). Raises :class:`retention_utils.privacy.PrivacyError` if, with a key, any
    id is not a pseudonym afterwards (a guard for every table shown or written)."""
    out = table.copy()
    out[S.CUSTOMER_ID] = privacy.pseudonymise(out[S.CUSTOMER_ID].astype(str), key).to_numpy()
    if key.enabled and len(out) and not is_pseudonym(out[S.CUSTOMER_ID]).all():
        raise privacy.PrivacyError("a customer id escaped pseudonymisation")
    return out


def summary_table(lists: pd.DataFrame, assigned_counts: dict[str, int], eligible: dict[str, int], as_of: str,
                  horizon_days: int, budget: int, budget_mode: str, models: dict[str, str], notes: dict[str, str],
                  min_cell: int = privacy.MIN_CELL) -> pd.DataFrame:
    """The summary (:data:`SUMMARY_COLUMNS`) of the budgeted ``lists`` (rows with ``scenario``,
    ``expected_value``, ``score_meaning``, ``value_meaning``), small cells suppressed."""
    from .scenarios import SCORE_MEANING, VALUE_MEANING

    rows = []
    for prio, sc in enumerate(SCENARIOS, 1):
        sub = lists[lists["scenario"] == sc]
        ev = sub["expected_value"].astype("float64")
        rows.append({"scenario": sc, "priority": prio, "as_of": as_of, "horizon_days": int(horizon_days),
                     "eligible": int(eligible.get(sc, 0)), "assigned": int(assigned_counts.get(sc, 0)),
                     "listed": len(sub), "budget": int(budget), "budget_mode": budget_mode,
                     "expected_value_total": round(float(ev.sort_values().sum()), 2) if len(sub) else 0.0,
                     "expected_value_mean": round(float(ev.mean()), 2) if len(sub) else float("nan"),
                     "score_meaning": SCORE_MEANING[sc], "value_meaning": VALUE_MEANING[sc],
                     "recommendation_model": models.get(sc, ""), "note": notes.get(sc, "")})
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    small = ["eligible", "assigned", "listed", "expected_value_total", "expected_value_mean"]
    out = out.assign(_n=out["listed"])
    # no complementary cells: the lists written beside the summary hold every listed customer's row
    out = privacy.suppress_small_cells(out, "_n", min_cell, columns=small, complementary=False).drop(columns="_n")
    # eligible/assigned describe more customers than listed: suppress them on their own counts too
    for c in ("eligible", "assigned"):
        n = pd.to_numeric(out[c], errors="coerce")
        out[c] = out[c].astype(object).where(~(n < min_cell), f"<{min_cell}")
    return out[list(SUMMARY_COLUMNS)]


def export_playbook(lists: pd.DataFrame, summary: pd.DataFrame, folder: str | os.PathLike,
                    key: privacy.PseudonymKey) -> list[Path]:
    """Write every scenario file and the summary as CSV and Parquet into ``folder`` (module
    docstring) and return the paths. ``lists``: :data:`PLAYBOOK_COLUMNS` rows with **raw** ids (they are
    pseudonymised here). Every target is checked (:func:`retention_utils.schema.claim_export_path`)
    before the first one is written, so a refused file leaves the folder as it was."""
    folder = Path(folder)
    tables = {sc: pseudonymised(lists[lists["scenario"] == sc], key).reset_index(drop=True) for sc in SCENARIOS}
    targets = [folder / f"{name}.{ext}" for name in [*SCENARIOS, "summary"] for ext in ("csv", "parquet")]
    for t in targets:
        S.claim_export_path(t)
    written = []
    for name in [*SCENARIOS, "summary"]:
        tab, cols = (summary, SUMMARY_COLUMNS) if name == "summary" else (tables[name], PLAYBOOK_COLUMNS)
        written.append(S.write_checked_csv(tab, folder / f"{name}.csv", cols, f"playbook {name}", manifest=True))
        written.append(S.write_checked_parquet(tab.astype({c: str for c in cols if tab[c].dtype == object}),
                                               folder / f"{name}.parquet", cols, f"playbook {name}", manifest=True))
    return written


# ------------------------------------------------------------------------------------------------
# campaign-effect hook
# ------------------------------------------------------------------------------------------------


def household_effects_path(reports_dir: str | os.PathLike, dataset: str) -> Path:
    """``<reports_dir>/<dataset>/causal/household_effects.csv`` (may not exist)."""
    return Path(reports_dir) / str(dataset) / EFFECTS_FILE


def read_household_effects(path: str | os.PathLike, id_column: str | None = None,
                           effect_column: str | None = None) -> pd.DataFrame:
    """Read per-household effect estimates: returns ``customer_id`` (pseudonym, str) and
    ``effect_weekly_spend`` (float, currency per week), one row per customer.

    The id column is ``id_column`` or the first of :data:`EFFECT_ID_COLUMNS` present; the effect
    column ``effect_column`` or the first of :data:`EFFECT_VALUE_COLUMNS` present. Raises
    :class:`PlaybookError` naming the columns found when neither is there (pass the names), when ids
    are not pseudonyms (the file must carry the same keyed pseudonyms as the lists), when an id is
    repeated or when an effect is not a finite number.
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    idc = id_column or next((c for c in EFFECT_ID_COLUMNS if c in df), None)
    efc = effect_column or next((c for c in EFFECT_VALUE_COLUMNS if c in df), None)
    if idc not in df or efc not in df:
        raise PlaybookError(f"{path}: cannot find the id and effect columns (found {list(df.columns)}); expected one of "
                            f"{list(EFFECT_ID_COLUMNS)} and one of {list(EFFECT_VALUE_COLUMNS)}, or pass id_column= "
                            "and effect_column=")
    ids = df[idc].str.strip()
    if len(ids) and not is_pseudonym(ids).all():
        raise PlaybookError(f"{path}: column {idc!r} holds ids that are not pseudonyms (e.g. "
                            f"{list(ids[~is_pseudonym(ids)][:1])}); the effects must be keyed with the same pseudonyms")
    if ids.duplicated().any():
        raise PlaybookError(f"{path}: customer(s) {list(ids[ids.duplicated()][:3])} appear more than once")
    eff = pd.to_numeric(df[efc], errors="coerce")
    if not np.isfinite(eff.to_numpy(dtype="float64")).all():
        raise PlaybookError(f"{path}: column {efc!r} has values that are not finite numbers")
    return pd.DataFrame({S.CUSTOMER_ID: ids, "effect_weekly_spend": eff.astype("float64")}).sort_values(
        S.CUSTOMER_ID, kind="stable").reset_index(drop=True)


def rank_by_incremental_value(assigned: pd.DataFrame, effects: pd.DataFrame | None, key: privacy.PseudonymKey,
                              horizon_days: int) -> pd.DataFrame:
    """The lists of :func:`retention_utils.decisions.scenarios.assign_scenarios` (raw ids) with
    ``incremental_value`` = effect x ``horizon_days`` / 7 and, when ``effects`` is given, re-ranked
    within each scenario by it (descending; customers without an estimate after, in their previous
    order); ``rank_basis`` says which. Joins on the pseudonyms of the ids under ``key``."""
    out = assigned.copy()
    if effects is None:
        out["incremental_value"] = np.nan
        out["rank_basis"] = "expected value"
        return out
    pseudo = privacy.pseudonymise(out[S.CUSTOMER_ID].astype(str), key)
    eff = effects.set_index(S.CUSTOMER_ID)["effect_weekly_spend"]
    out["incremental_value"] = pseudo.map(eff).to_numpy(dtype="float64") * int(horizon_days) / 7.0
    out["rank_basis"] = "incremental value"
    parts = []
    for sc in SCENARIOS:
        sub = out[out["scenario"] == sc].copy()
        sub["_has"] = sub["incremental_value"].notna()
        sub = sub.sort_values(["_has", "incremental_value", "rank"], ascending=[False, False, True], kind="stable")
        sub["rank"] = np.arange(1, len(sub) + 1, dtype="int64")
        parts.append(sub.drop(columns="_has"))
    res = pd.concat(parts, ignore_index=True)
    res.attrs = dict(assigned.attrs)
    return res
