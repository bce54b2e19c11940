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


def suppress_small_cells(table: pd.DataFrame, count_column: Any, min_cell: int = MIN_CELL,
                         columns: Sequence[Any] | None = None,
                         numerators: Mapping[Any, Sequence[Any]] | None = None,
                         complementary: bool = True,
                         within: Any = None) -> pd.DataFrame:
    """Hide aggregate cells that describe fewer than ``min_cell`` customers.

    ``table`` has one row per group and a column ``count_column`` with the number of customers behind
    the row. In rows below ``min_cell``, ``columns`` (default: every column but the ``within`` ones)
    become the text ``"<{min_cell}"``; the table keeps its rows and index, so a reader sees that a
    group exists but not its numbers (a missing count hides nothing). ``numerators`` maps a column
    that counts customers *within* the row (e.g. ``redeemed`` of ``households``) to the columns
    derived from it (e.g. ``["rate"]``): where it is between 1 and ``min_cell - 1`` it and those
    columns are suppressed too, so a few customers' behaviour is not shown either (0 is shown).

    ``complementary`` (secondary suppression): a column's total, or its shares' 1, is often published
    (a total row, the page's text, another table), and then one hidden cell is that total less the
    shown ones. So where a column has exactly one hidden cell, a second row is hidden too, shown as
    :data:`COMPLEMENT` (``"(hidden)"``: its own count need not be small), in every column that the
    rule which hid the first one hides (so the second row's own derived columns do not give it back).
    The second row is, among the shown ones, the one with the fewest customers whose count under that
    rule is at least ``2 * min_cell - 1``, so that the hidden pair's sum leaves the small cell anywhere
    in its range, even to a reader who knows the second one is not small (no zero is chosen: a sum
    with a zero is the small cell itself); failing such a row, the one with the largest count.
    ``within``: index level(s) or column(s) whose groups have totals of their own (e.g.
    ``"campaign_type"`` when each type's total is shown): the rule then holds within each group and
    over the whole table. Only sums over a column are protected: sums across a row, percentages of
    small counts in other tables and other tables' cells are the caller's to check. (Secondary cell
    suppression: Hundepool et al., *Statistical Disclosure Control*, Wiley, 2012, on frequency tables.)

    Returns a new DataFrame (object dtype in the suppressed columns). Raises ``KeyError`` if
    ``count_column``, a column of ``columns`` or ``numerators`` or a ``within`` name is missing,
    ``ValueError`` for ``min_cell < 1``.
    """
    if count_column not in table:
        raise KeyError(f"suppress_small_cells: no column {count_column!r}; columns: {list(table.columns)}")
    if min_cell < 1:
        raise ValueError(f"min_cell must be at least 1, got {min_cell}")
    keys = [] if within is None else list(within) if isinstance(within, list) else [within]
    missing = [k for k in keys if k is None or (k not in table.columns and k not in table.index.names)]
    if missing:
        raise KeyError(f"suppress_small_cells: within {missing} is neither a column nor a named index level")
    cols = list(columns) if columns is not None else [c for c in table.columns if c not in keys]
    named = [*cols, *(c for num, derived in (numerators or {}).items() for c in (num, *derived))]
    unknown = [c for c in dict.fromkeys(named) if c not in table.columns]
    if unknown:
        raise KeyError(f"suppress_small_cells: no column(s) {unknown}; columns: {list(table.columns)}")
    n = len(table)
    counts = _numbers(table[count_column])
    rules = [(counts < min_cell, counts, cols)]  # (hidden rows, the count they hide, the columns hidden)
    for num, derived in (numerators or {}).items():
        v = _numbers(table[num])
        rules.append(((v > 0) & (v < min_cell), v, list(dict.fromkeys([num, *derived]))))
    hidden: dict[Any, np.ndarray] = {}
    for mask, _, rule_cols in rules:
        for c in rule_cols:
            hidden[c] = hidden.get(c, np.zeros(n, bool)) | mask
    extra = {c: np.zeros(n, bool) for c in hidden}
    if complementary and n:
        levels = [table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()] if keys else []
        _complement(hidden, extra, rules, counts, [*levels, np.zeros(n, np.int64)], 2 * min_cell - 1)
    out = table.copy()
    for c, mask in hidden.items():
        if mask.any():
            out[c] = out[c].astype(object)
            out.loc[mask & ~extra[c], c] = f"<{min_cell}"
            out.loc[extra[c], c] = COMPLEMENT
    return out


def _numbers(values: pd.Series) -> np.ndarray:
    """float64 values (missing and non-numbers as NaN, which compares false with every bound)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _complement(hidden: dict[Any, np.ndarray], extra: dict[Any, np.ndarray], rules: list, counts: np.ndarray,
                levels: list[np.ndarray], enough: int) -> None:
    """Secondary suppression in place (:func:`suppress_small_cells`): until no column of any group of
    any level has exactly one hidden cell, hide a second row in that group under the rule(s) that hid
    the first."""
    changed = True
    while changed:
        changed = False
        for labels in levels:
            for c, mask in hidden.items():
                for g in np.unique(labels[mask]):
                    lone = np.flatnonzero(mask & (labels == g))
                    if len(lone) != 1:
                        continue
                    own = [(v, rule_cols) for m, v, rule_cols in rules if m[lone[0]] and c in rule_cols]
                    value = own[0][0] if own else counts
                    cand = (labels == g) & ~mask & np.isfinite(counts) & (value > 0)
                    if not cand.any():
                        continue  # nothing left to pair it with: every other cell of the group is 0 or hidden
                    big = cand & (value >= enough)
                    r = (np.flatnonzero(big)[np.argmin(counts[big])] if big.any()
                         else np.flatnonzero(cand)[np.argmax(value[cand])])
                    for x in dict.fromkeys(x for _, rule_cols in own for x in rule_cols) if own else [c]:
                        if not hidden[x][r]:
                            hidden[x][r] = extra[x][r] = True
                    changed = True


def complementary_cells(hidden: Any, counts: Any, groups: Any = None, min_cell: int = MIN_CELL) -> np.ndarray:
    """One column's secondary suppression (the rule of :func:`suppress_small_cells`): ``hidden`` (bool,
    one per row) plus, where a group (``groups``: one label per row; and the whole column) has
    exactly one hidden cell, a second row chosen by ``counts``. Returns a new bool array. Raises
    ``ValueError`` when the lengths differ."""
    mask = np.array(hidden, dtype=bool)
    size = _numbers(pd.Series(counts))
    if len(size) != len(mask) or (groups is not None and len(groups) != len(mask)):
        raise ValueError(f"complementary_cells: {len(mask)} hidden flags, {len(size)} counts"
                         + ("" if groups is None else f", {len(groups)} group labels"))
    cells = {"cell": mask}
    levels = [pd.factorize(pd.Series(groups), use_na_sentinel=False)[0]] if groups is not None else []
    _complement(cells, {"cell": np.zeros(len(mask), bool)}, [(mask.copy(), size, ["cell"])], size,
                [*levels, np.zeros(len(mask), np.int64)], 2 * min_cell - 1)
    return cells["cell"]


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
