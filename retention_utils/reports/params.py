"""Notebook parameters: what a notebook declares, and values converted to the declared types.

The same rules hold for every door into a notebook:

- **Declarations** are read from the cell tagged ``parameters`` with :mod:`ast` (every top-level
  ``NAME = ...`` or ``NAME: type = ...``), not with papermill's line regex, which silently skips a line
  whose comment contains ``=``.
- **Values** arrive typed (:func:`coerce`): text from a command line is converted to the declared type
  (``int``, ``float``, ``bool``, ``date``, ``datetime``, ``list``, ``dict``, ``str``); a declared ``str``
  receives the text as written (``-p LABEL 2011-12-09`` is the string ``"2011-12-09"``); YAML
  values from a config arrive as YAML types (an unquoted date given to a ``str`` parameter becomes its
  ISO text); path-like values become text. ``None`` (``-p NAME None`` or ``null``) arrives as ``None``,
  like papermill's own command line, and is accepted only by an ``Optional[...]``/``... | None`` or
  unannotated parameter. Malformed list or dict text is refused with one line naming the parameter.
- **Path parameters** (names ending in ``_PATH``) given explicitly must name a file in a writable
  folder: empty text, ``None`` and unwritable or missing-parent locations are refused before anything
  runs. A relative path is taken relative to the current directory and passed on as an absolute path
  (papermill runs the kernel in ``notebooks/``).
- **Dates inside the notebook**: papermill's own ``-p``/``-y`` deliver ISO strings, so every notebook
  converts its date parameters with :func:`retention_utils.schema.to_date` right after the parameters
  cell; the runner injects real ``datetime.date`` values (through the translator below).

Errors are :class:`ParameterError`, whose message is one line.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

#: Parameter names ending in this suffix are output paths (checked by :func:`check_path_parameter`).
PATH_SUFFIX = "_PATH"
#: Command-line words that mean ``None`` (papermill's CLI reads ``None``; YAML's ``null`` and ``~``).
NONE_WORDS = frozenset({"None", "null", "~"})


class CliText(str):
    """A value typed on a command line (``-p NAME VALUE``): text to be read as the declared type."""


class ParameterError(ValueError):
    """A parameter is not declared by the notebook, or cannot be converted to its declared type."""


class _DateLiteral(str):
    """An ISO date string that papermill's metadata stores as text and our translator injects as a
    ``datetime.date`` / ``datetime.datetime`` (papermill itself would fail to JSON-encode a date)."""

    kind = "date"


class _DateTimeLiteral(_DateLiteral):
    kind = "datetime"


def _wrap_dates(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _DateTimeLiteral(value.isoformat())
    if isinstance(value, dt.date):
        return _DateLiteral(value.isoformat())
    if isinstance(value, list | tuple):
        return [_wrap_dates(v) for v in value]
    if isinstance(value, dict):
        return {k: _wrap_dates(v) for k, v in value.items()}
    return value


def _register_translator() -> None:
    """Teach papermill's Python translator dates: ``datetime.date.fromisoformat('2017-01-01')``."""
    from papermill.translators import PythonTranslator, papermill_translators

    class DatePythonTranslator(PythonTranslator):
        @classmethod
        def translate(cls, val: Any) -> str:
            if isinstance(val, _DateLiteral):
                return f"datetime.{val.kind}.fromisoformat({str(val)!r})"
            return super().translate(val)

        @classmethod
        def translate_dict(cls, val: dict) -> str:
            return "{" + ", ".join(f"{cls.translate_str(k)}: {cls.translate(v)}" for k, v in val.items()) + "}"

        @classmethod
        def translate_list(cls, val: list) -> str:
            return "[" + ", ".join(cls.translate(v) for v in val) + "]"

        @classmethod
        def codify(cls, parameters: dict, comment: str = "Parameters") -> str:
            return "import datetime\n" + super().codify(parameters, comment)

    papermill_translators.register("python", DatePythonTranslator)


def declared_parameters(notebook: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Parameters declared in a notebook's ``parameters`` cell: ``{name: {"type": str, "default": str,
    "help": str}}``.

    The cell is parsed with :mod:`ast` (every top-level ``NAME = ...`` or ``NAME: type = ...``), not
    with papermill's line regex, which silently skips a line whose comment contains ``=`` (e.g.
    ``# share >= 5 %``). ``type`` is the annotation's source text (``"None"`` without one), ``help``
    the line's trailing comment. Raises ``ValueError`` if the notebook has no such cell or the cell
    is not valid Python.
    """
    import ast

    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{notebook}: no cell tagged 'parameters'")
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"{notebook}: the parameters cell is not valid Python: {err}") from err
    lines = source.splitlines()
    out: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, ann, value = node.target.id, ast.unparse(node.annotation), node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, ann, value = node.targets[0].id, "None", node.value
        else:
            continue
        line = lines[node.end_lineno - 1] if node.end_lineno else ""
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        out[name] = {"type": ann, "default": ast.unparse(value) if value is not None else "", "help": comment}
    return out


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _yaml(name: str, text: str, want: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or _first_line(err)
        raise ParameterError(f"parameter {name} = {text!r} is not valid YAML for a {want} ({problem})") from None


def _split_type(declared: str) -> tuple[str, bool]:
    t = (declared or "None").replace("typing.", "").strip()
    optional = t.startswith("Optional[") or t.replace(" ", "").endswith("|None") or t.replace(" ", "").startswith("None|")
    base = t.removeprefix("Optional[").removesuffix("]") if t.startswith("Optional[") else t
    base = "|".join(p.strip() for p in base.split("|") if p.strip() != "None") or "None"
    return base.split("[")[0].strip().lower(), optional


def coerce(name: str, value: Any, declared: str, notebook: str = "notebook") -> Any:
    """Convert ``value`` to the declared annotation ``declared`` (its source text, e.g. ``"int"``,
    ``"date"``, ``"list"``, ``"str | None"``); see the module docstring for the rules. Unknown
    annotations receive the value unchanged (text from a command line parsed as YAML). Raises
    :class:`ParameterError` (one line, naming the notebook and parameter)."""
    base, optional = _split_type(declared)
    if isinstance(value, CliText) and str(value).strip() in NONE_WORDS:
        value = None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None:
        if optional or base in {"none", "nonetype", "any"}:
            return None
        raise ParameterError(f"{notebook}: parameter {name} is declared {declared}; None is not allowed "
                             "(leave the parameter out to use the notebook's default)")
    want = declared or "value"
    try:
        if base == "date":
            from ..schema import to_date

            return to_date(value, name)
        if base == "datetime":
            if isinstance(value, dt.datetime):
                return value
            if isinstance(value, dt.date):
                return dt.datetime(value.year, value.month, value.day)
            return dt.datetime.fromisoformat(str(value).strip())
        if base == "bool":
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in {"true", "1", "yes"}:
                return True
            if word in {"false", "0", "no"}:
                return False
            raise ValueError(value)
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(str(value).strip()) if isinstance(value, str) else int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(str(value).strip()) if isinstance(value, str) else float(value)
        if base == "str":
            if isinstance(value, dt.datetime | dt.date):
                return value.isoformat()  # an unquoted YAML date given to a str parameter
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ValueError(value)
            return str(value)
        if base in {"list", "tuple", "dict"}:
            if isinstance(value, str):
                value = _yaml(name, value, base)
            wanted = dict if base == "dict" else list
            if isinstance(value, tuple):
                value = list(value)
            if not isinstance(value, wanted):
                raise ValueError(value)
            return _plain(name, value)
    except ParameterError as err:
        raise ParameterError(f"{notebook}: {err}") from None
    except (ValueError, TypeError, OverflowError) as err:
        why = f": {err}" if base == "date" else ""  # the date rule says what is wrong (ambiguous, no day, ...)
        raise ParameterError(f"{notebook}: parameter {name} = {value!r} is not a valid {want}{why}") from err
    if isinstance(value, CliText):
        parsed = _yaml(name, str(value), "value") if str(value).strip() else str(value)
        return _plain(name, parsed)
    return _plain(name, value)


def _plain(name: str, value: Any) -> Any:
    """Values papermill can pass on: JSON types, dates (injected by the translator), path-like as
    text; anything else is refused here rather than failing inside papermill."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, bool | int | float | str | dt.date):
        return str(value) if isinstance(value, CliText) else value
    if isinstance(value, list | tuple):
        return [_plain(name, v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(name, v) for k, v in value.items()}
    raise ParameterError(f"parameter {name}: a value of type {type(value).__name__} cannot be passed to a notebook "
                         "(use text, a number, a date, a list or a dict)")


def check_path_parameter(name: str, value: Any, notebook: str = "notebook") -> str:
    """An explicitly given output path (parameter named ``*_PATH``) as an absolute path, or
    :class:`ParameterError` when it is not text, empty, ``None``/``"None"``, an existing folder, or in
    a folder that does not exist or cannot be written."""
    if not isinstance(value, str) or not value.strip() or value.strip() in NONE_WORDS:
        raise ParameterError(f"{notebook}: parameter {name} must name an output file; got {value!r} "
                             "(leave it out to write to the default location under the reports folder)")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        raise ParameterError(f"{notebook}: parameter {name} = {value!r} is a folder; give a file name inside it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ParameterError(f"{notebook}: parameter {name} = {value!r}: the folder {str(parent)!r} cannot be written")
    return str(path)


def output_path(value: Any, default: str | os.PathLike, name: str = "path parameter") -> Path:
    """Inside a notebook: the file an output path parameter names. ``""`` (the notebook's default) means
    ``default`` (under the reports folder); any other text must pass :func:`check_path_parameter`;
    ``None`` or ``"None"`` (what papermill's ``-p NAME None`` delivers) is refused with
    :class:`ParameterError`, never written to a file called ``None``."""
    if isinstance(value, str) and value == "":
        return Path(default)
    return Path(check_path_parameter(name, value))


def resolve_parameters(notebook: str | os.PathLike, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``parameters`` against the notebook's declarations and convert them to the declared types
    (:func:`coerce`; path parameters through :func:`check_path_parameter`).

    Raises :class:`ParameterError` naming the notebook and every undeclared name.
    """
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    nb = Path(notebook).name
    if unknown:
        raise ParameterError(f"{nb}: parameter(s) {unknown} not declared in its 'parameters' cell; declared: {sorted(declared)}")
    out = {}
    for k, v in parameters.items():
        out[k] = coerce(k, v, declared[k]["type"], nb)
        if k.endswith(PATH_SUFFIX):
            out[k] = check_path_parameter(k, out[k], nb)
    return out


def parse_cli_parameters(pairs: Iterable[Sequence[str]]) -> dict[str, CliText]:
    """``[(NAME, VALUE), ...]`` from ``-p NAME VALUE`` as :class:`CliText`, read later as the type each
    notebook declares. Raises :class:`ParameterError` for a name that is not an identifier."""
    out: dict[str, CliText] = {}
    for name, raw in pairs:
        if not name.isidentifier():
            raise ParameterError(f"-p {name!r}: a parameter name must be an identifier such as HORIZON_DAYS")
        out[name] = CliText(raw)
    return out
