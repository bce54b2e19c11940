"""Pseudonyms for customer ids and suppression of small cells: what every export and report applies.

Customer ids in a shop's export are personal data. Every table that leaves the package for people or
other tools (contact lists, effect estimates, HTML reports) carries **pseudonyms**, never raw ids, and
aggregate tables hide cells describing fewer than ``min_cell`` customers.

Pseudonym
---------
``pseudonym(id) = "c_" + hex(HMAC-SHA256(key, id))[:16]`` (RFC 2104 with SHA-256; Python's
:mod:`hmac`). The same key gives the same pseudonym on every run and machine, so lists can be joined
across runs by whoever holds the key, and nobody without the key can recompute or reverse them (a plain
hash of an id could be reversed by hashing every candidate id). 16 hex digits (64 bits) make a collision
between two customers negligible (about n² / 2⁶⁵: 3e-8 for a million customers); a collision is
detected and raised, never silently merged.

Where the key comes from (:func:`pseudonym_key`)
-------------------------------------------------
1. The environment variable :data:`KEY_ENV` (``RETENTION_PSEUDONYM_KEY``): the normal case for a
   user's own data. Keep it out of the repository.
2. A dataset config that declares its data public and already anonymous may fix a documented key::

       privacy:
         public_dataset: true          # the bundled Complete Journey and CDNOW
         pseudonym_key: complete_journey-public-2017

   so that ``make reports`` needs no set-up and its outputs are reproducible.
3. ``privacy: {pseudonymise: false}`` turns pseudonyms off, for internal use only; the export then
   says so in its header (see :func:`pseudonymise`).

Without any of these a user's dataset counts as personal data and :func:`pseudonym_key` raises
:class:`PrivacyError` *before* anything is written, naming the variable to set.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import schema as S

#: Shortest accepted key from the environment (characters).
MIN_KEY_LENGTH = 12

#: Environment variable holding the pseudonymisation key of a user's own dataset.
KEY_ENV = "RETENTION_PSEUDONYM_KEY"
#: Prefix of every pseudonym, so a pseudonym is never mistaken for a raw id.
PREFIX = "c_"
#: Hex digits kept from the HMAC-SHA256 digest (64 bits).
DIGITS = 16
#: Default minimum number of customers behind a published aggregate cell.
MIN_CELL = 10
#: Text shown in a suppressed cell.
SUPPRESSED = f"<{MIN_CELL}"
#: Text shown in a cell hidden only so that a lone suppressed cell cannot be recovered from a total
#: (its own count may be large: "<10" would say something false).
COMPLEMENT = "(hidden)"


class PrivacyError(RuntimeError):
    """No pseudonymisation key is available for a dataset that counts as personal data, or two ids
    collide; the message says which variable or config key to set."""


@dataclass(frozen=True)
class PseudonymKey:
    """A resolved key: ``key`` (bytes, or ``None`` when pseudonyms are off) and ``source`` (where it
    came from: ``"environment"``, ``"config (public dataset)"`` or ``"off (config)"``)."""

    key: bytes | None
    source: str

    @property
    def enabled(self) -> bool:
        return self.key is not None


def pseudonym_key(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> PseudonymKey:
    """Resolve the pseudonymisation key for a dataset config (see the module docstring for the order).

    Raises :class:`PrivacyError` when the dataset is not declared public, pseudonyms are not turned
    off and ``$RETENTION_PSEUDONYM_KEY`` is unset or empty; ``ValueError`` for a malformed
    ``privacy:`` block.
    """
    environ = os.environ if environ is None else environ
    raw_block = (config or {}).get("privacy") or {}
    if not isinstance(raw_block, Mapping):
        raise ValueError(f"privacy: must be a mapping such as privacy: {{pseudonymise: false}}, not {raw_block!r}")
    block = dict(raw_block)
    for flag in ("pseudonymise", "public_dataset"):
        if flag in block and not isinstance(block[flag], bool):
            raise ValueError(f"privacy: {flag}: must be true or false (a YAML boolean, unquoted), not {block[flag]!r}")
    unknown = set(block) - {"public_dataset", "pseudonym_key", "pseudonymise"}
    if unknown:
        raise ValueError(f"privacy: unknown key(s) {sorted(unknown)}; known: public_dataset, pseudonym_key, pseudonymise")
    if block.get("pseudonymise") is False:
        return PseudonymKey(None, "off (config)")
    env = environ.get(KEY_ENV, "")
    if env.strip():
        if len(env.strip()) < MIN_KEY_LENGTH:
            raise PrivacyError(f"{KEY_ENV} is {len(env.strip())} character(s) long; use a secret of at least "
                               f"{MIN_KEY_LENGTH} characters (a short key can be found by trying keys against one "
                               "known id and its pseudonym)")
        return PseudonymKey(env.encode("utf-8"), "environment")
    if block.get("public_dataset") is True:
        fixed = block.get("pseudonym_key")
        if not isinstance(fixed, str) or not fixed:
            raise ValueError("privacy: a public_dataset needs a non-empty pseudonym_key (a documented fixed key)")
        return PseudonymKey(fixed.encode("utf-8"), "config (public dataset)")
    name = (config or {}).get("name", "this dataset")
    raise PrivacyError(
        f"{name}: customer ids are personal data and no pseudonymisation key is set. Set the environment "
        f"variable {KEY_ENV} to a secret of your choice (the same secret gives the same pseudonyms on every "
        "run), or, for internal use only, set 'privacy: {pseudonymise: false}' in the dataset config."
    )


def pseudonymise(ids: pd.Series | pd.Index, key: PseudonymKey | bytes | str | None) -> pd.Series:
    """Pseudonyms for ``ids`` (any values; compared as ``str``), same index and order.

    ``key``: a :class:`PseudonymKey`, raw bytes/str, or ``None``/a disabled key (ids returned as ``str``
    unchanged: pseudonyms turned off). Returns a Series of ``str`` named like the input. Nulls stay
    null. Raises :class:`PrivacyError` if two different ids receive the same pseudonym.
    """
    s = ids.to_series(index=ids) if isinstance(ids, pd.Index) else ids
    raw = key.key if isinstance(key, PseudonymKey) else (key.encode("utf-8") if isinstance(key, str) else key)
    if raw is None:
        return s.map(lambda v: None if pd.isna(v) else str(v))
    if not raw.strip():
        raise PrivacyError("an empty pseudonymisation key gives pseudonyms anyone can recompute; pass a secret "
                           f"(privacy.pseudonym_key() reads it from {KEY_ENV}) or None to turn pseudonyms off")
    canon = pd.Series(S.as_id(pd.Series(s.to_numpy())).to_numpy(), index=s.index, name=s.name)  # 7.0 and "7": one id
    uniq = pd.unique(canon.dropna())
    table = {u: PREFIX + hmac.new(raw, u.encode("utf-8"), hashlib.sha256).hexdigest()[:DIGITS] for u in uniq}
    if len(set(table.values())) != len(table):
        raise PrivacyError("two customer ids received the same pseudonym; raise privacy.DIGITS")
    return canon.map(lambda v: None if pd.isna(v) else table[v])


def suppress_small_cells(table: pd.DataFrame, count_column: str, min_cell: int = MIN_CELL,
                         columns: list[str] | None = None,
                         numerators: Mapping[str, Sequence[str]] | None = None,
                         complementary: bool = True,
                         within: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Hide aggregate cells that describe fewer than ``min_cell`` customers.

    ``table`` has one row per group and a column ``count_column`` with the number of customers behind
    the row. In rows below ``min_cell``, ``columns`` (default: every column) become the text
    ``"<{min_cell}"``; the table keeps its rows and index, so a reader sees that a group exists but not
    its numbers. ``numerators`` maps a column that counts customers *within* the row (e.g. ``redeemed``
    of ``households``) to the columns derived from it (e.g. ``["redeemed", "rate"]``): where it is
    between 1 and ``min_cell - 1`` those columns are suppressed too, so a few customers' behaviour is
    not shown either (0 is shown).

    ``complementary`` (secondary suppression): a column's total, or its shares' 1, is often published
    (a total row, the page's text, another table), and then one hidden cell is that total less the
    shown ones. So where a column has exactly one hidden cell, the cell of the row with the fewest
    customers (``count_column``; the first such row on ties) among its shown ones is hidden too, as
    :data:`COMPLEMENT` (``"(hidden)"``: its count need not be small); the two hidden cells' sum is then
    all a reader can recover. ``within``: index level(s) or column(s)
    whose groups have totals of their own (e.g. ``"campaign_type"`` when each type's total is shown):
    the rule then holds within each group. Cross-table sums that no table shows whole are not
    tracked. (Secondary cell suppression: Hundepool et al., *Statistical Disclosure Control*, Wiley,
    2012, on frequency tables.)

    Returns a new DataFrame (object dtype in the suppressed columns). Raises ``KeyError`` if
    ``count_column``, a numerator or a ``within`` name is missing, ``ValueError`` for ``min_cell < 1``.
    """
    if count_column not in table:
        raise KeyError(f"suppress_small_cells: no column {count_column!r}; columns: {list(table.columns)}")
    if min_cell < 1:
        raise ValueError(f"min_cell must be at least 1, got {min_cell}")
    n = len(table)
    hidden: dict[str, Any] = {}  # column -> boolean numpy mask of its hidden rows
    small = (table[count_column] < min_cell).to_numpy()
    for c in columns or list(table.columns):
        hidden[c] = small.copy()
    for num, derived in (numerators or {}).items():
        if num not in table:
            raise KeyError(f"suppress_small_cells: no numerator column {num!r}; columns: {list(table.columns)}")
        few = ((table[num] > 0) & (table[num] < min_cell)).to_numpy()
        for c in dict.fromkeys([num, *derived]):
            hidden[c] = hidden.get(c, np.zeros(n, bool)) | few
    if complementary:
        keys = [within] if isinstance(within, str) else list(within or [])
        missing = [k for k in keys if k not in table.columns and k not in (table.index.names or [])]
        if missing:
            raise KeyError(f"suppress_small_cells: within {missing} is neither a column nor an index level")
        groups = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys else None
        extra = {c: complementary_cells(mask, table[count_column], groups) & ~mask for c, mask in hidden.items()}
    else:
        extra = {c: np.zeros(n, bool) for c in hidden}
    out = table.copy()
    for c, mask in hidden.items():
        if mask.any():
            out[c] = out[c].astype(object)
            out.loc[mask, c] = f"<{min_cell}"
            out.loc[extra[c], c] = COMPLEMENT
    return out


def complementary_cells(hidden: Any, counts: Any, groups: Any = None) -> np.ndarray:
    """The cells to hide in one column so that no lone hidden cell can be recovered from a total:
    ``hidden`` (bool, one per row) plus, in each group (``groups``: one label per row; default the
    whole column) with exactly one hidden cell, the shown row with the fewest customers (``counts``;
    the first on ties). See :func:`suppress_small_cells`. Returns a new bool array."""
    mask = np.array(hidden, dtype=bool)
    size = np.asarray(counts, dtype="float64")
    labels = np.zeros(len(mask), dtype=np.int64) if groups is None else np.asarray(groups)
    for g in np.unique(labels[mask]):
        rows = np.flatnonzero(labels == g)
        shown = rows[~mask[rows]]
        if mask[rows].sum() == 1 and len(shown):
            mask[shown[np.argmin(size[shown])]] = True
    return mask


def display_ids(ids: pd.Index | pd.Series, config: Mapping[str, Any] | None) -> pd.Index:
    """Customer ids as a report may show them: pseudonyms when the dataset's key is available
    (:func:`pseudonym_key`), otherwise neutral labels ``"customer 1"``, ``"customer 2"`` ... in the
    given order (a report is not an export: it does not stop for a missing key, it hides the ids).
    With pseudonyms turned off in the config, the ids themselves. Returns an Index named
    ``customer``."""
    values = pd.Index(ids)
    try:
        key = pseudonym_key(config)
    except PrivacyError:
        return pd.Index([f"customer {i + 1}" for i in range(len(values))], name="customer")
    return pd.Index(pseudonymise(values, key).tolist(), name="customer")


def pseudonymise_table(table: pd.DataFrame, key: PseudonymKey | bytes | str | None,
                       column: str = "customer_id") -> pd.DataFrame:
    """A copy of ``table`` whose ``column`` (or index, when ``column`` is the index name) holds
    :func:`pseudonymise` values: what every export writes. Raises ``KeyError`` when there is no such
    column or index level, :class:`PrivacyError` on a collision."""
    out = table.copy()
    if column in out.columns:
        out[column] = pseudonymise(out[column], key).to_numpy()
    elif out.index.name == column:
        out.index = pd.Index(pseudonymise(out.index, key).tolist(), name=column)
    else:
        raise KeyError(f"pseudonymise_table: no column or index {column!r}; columns: {list(out.columns)}")
    return out
