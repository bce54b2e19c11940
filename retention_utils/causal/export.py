"""Per-household campaign effects for the retention playbook, pseudonymised.

Written by :func:`write_household_effects` to ``<reports dir>/<dataset>/causal/household_effects.csv``
and ``household_effects.parquet`` (the reports dir is :data:`retention_utils.reports.REPORTS_DIR`,
which follows the runner's ``--output-dir``). CSV: UTF-8, comma separated, header row, no index, floats
with 10 significant digits. One row per household active in the ``pre_weeks`` before ``as_of``, sorted by
``effect_rank``.

======================  ========  ===================================================================
column                  dtype     meaning
======================  ========  ===================================================================
customer_id             str       pseudonym of the household (:func:`retention_utils.privacy.pseudonymise`)
campaign_type           str       the campaign type whose effect is estimated (e.g. ``"Type A"``)
as_of                   str       ISO date: features use orders strictly before this day
model                   str       the estimator, e.g. ``"econml ForestDRLearner"``
effect_spend_per_week   float     estimated effect of receiving the campaign on spend per week (currency)
effect_ci_low           float     lower end of its 95 % interval
effect_ci_high          float     upper end of its 95 % interval
effect_rank             int       1 = largest estimated effect (ties by pseudonym)
======================  ========  ===================================================================

The files carry a mark of this package (the CSV's exact header, the parquet's schema metadata key
``retention_utils``): :func:`write_household_effects` refuses to replace a file at the target path that
does not carry it, so a file the project did not write is never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from .. import schema as S
from ..privacy import PseudonymKey, pseudonymise

HOUSEHOLD_EFFECT_COLUMNS: tuple[str, ...] = (
    "customer_id", "campaign_type", "as_of", "model", "effect_spend_per_week", "effect_ci_low", "effect_ci_high",
    "effect_rank",
)
#: parquet schema-metadata key and value marking a file written by :func:`write_household_effects`
MARK_KEY = b"retention_utils"
MARK_VALUE = b"causal.household_effects"


def household_effects_table(effects: pd.DataFrame, key: PseudonymKey | bytes | str | None, campaign_type: str,
                            as_of: Any, model: str) -> pd.DataFrame:
    """The export table (columns :data:`HOUSEHOLD_EFFECT_COLUMNS`) from per-household effects.

    ``effects``: indexed by raw ``customer_id`` with ``effect``, ``ci_low``, ``ci_high``
    (:meth:`retention_utils.causal.uplift.CateModel.effect`); ``key``: from
    :func:`retention_utils.privacy.pseudonym_key`. Raw ids never reach the output. Raises ``ValueError``
    for missing columns or a non-unique index.
    """
    for c in ("effect", "ci_low", "ci_high"):
        if c not in effects:
            raise ValueError(f"effects needs column {c!r}; columns: {list(effects.columns)}")
    if not effects.index.is_unique:
        raise ValueError("effects: one row per household (the index must be unique)")
    pseud = pseudonymise(pd.Series(effects.index.astype(str), index=effects.index), key)
    out = pd.DataFrame({
        "customer_id": pseud.to_numpy(),
        "campaign_type": str(campaign_type),
        "as_of": S.to_day(as_of, "as_of").date().isoformat(),
        "model": str(model),
        "effect_spend_per_week": effects["effect"].to_numpy(dtype="float64"),
        "effect_ci_low": effects["ci_low"].to_numpy(dtype="float64"),
        "effect_ci_high": effects["ci_high"].to_numpy(dtype="float64"),
    })
    out = out.sort_values(["effect_spend_per_week", "customer_id"], ascending=[False, True], kind="stable")
    out["effect_rank"] = range(1, len(out) + 1)
    return out.reset_index(drop=True)[list(HOUSEHOLD_EFFECT_COLUMNS)]


def _ours_csv(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.readline().rstrip("\r\n") == ",".join(HOUSEHOLD_EFFECT_COLUMNS)


def _ours_parquet(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception:  # noqa: BLE001 - not a parquet file at all: not ours
        return False
    return meta.get(MARK_KEY) == MARK_VALUE


def write_household_effects(table: pd.DataFrame, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write :func:`household_effects_table` output as ``household_effects.csv`` and ``.parquet`` in
    ``folder`` (created), each through a temporary file replaced at the end.

    Raises ``ValueError`` when the columns are not :data:`HOUSEHOLD_EFFECT_COLUMNS` in order;
    ``FileExistsError`` when a target file exists
    and was not written by this function (move it away or choose another ``--output-dir``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if list(table.columns) != list(HOUSEHOLD_EFFECT_COLUMNS):
        raise ValueError(f"household effects columns must be {list(HOUSEHOLD_EFFECT_COLUMNS)}, got {list(table.columns)}")
    folder = Path(folder)
    csv, parquet = folder / "household_effects.csv", folder / "household_effects.parquet"
    for p, ours in ((csv, _ours_csv), (parquet, _ours_parquet)):
        if p.exists() and not ours(p):
            raise FileExistsError(f"{p} exists and was not written by retention_utils.causal.export; "
                                  "move it away or write the report to another --output-dir")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = csv.with_suffix(".csv.tmp")
    S.write_checked_csv(table, tmp, HOUSEHOLD_EFFECT_COLUMNS, "household effects")
    tmp.replace(csv)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), MARK_KEY: MARK_VALUE})
    tmpq = parquet.with_suffix(".parquet.tmp")
    pq.write_table(arrow, tmpq)
    tmpq.replace(parquet)
    return csv, parquet


def read_household_effects(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``household_effects.csv`` with the documented dtypes (text columns as str). Raises
    ``ValueError`` when the columns differ from :data:`HOUSEHOLD_EFFECT_COLUMNS`."""
    text = ("customer_id", "campaign_type", "as_of", "model")
    df = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=False,
                     na_values={c: [""] for c in HOUSEHOLD_EFFECT_COLUMNS if c not in text})
    if list(df.columns) != list(HOUSEHOLD_EFFECT_COLUMNS):
        raise ValueError(f"{path}: columns must be {list(HOUSEHOLD_EFFECT_COLUMNS)}, got {list(df.columns)}")
    return df
