"""Connections to the engines (DuckDB, Spark) and reading a transaction log into them.

Everything downstream (:mod:`.clean`, :mod:`.tables`) is written once as Ibis expressions
(https://ibis-project.org); this module holds the few things that differ between backends:

* how a connection is made (:func:`connect`): DuckDB in-process with a thread count, a memory limit
  and a spill folder; Spark as a local ``SparkSession`` (``local[2]``), a session you built for a
  cluster, or a ``master`` URL (``spark://host:7077``, ``yarn``, ``k8s://...``);
* how a parquet log is read with each line's *input position* (file number, row within the file),
  which the cleaning rules use to break ties exactly as the pandas path does (input order);
* two scalar functions whose names differ: round half to even (``round_even`` / ``bround``, the
  rule of ``numpy.round``) and a 64-bit row hash for the duplicate pre-filter (``hash`` / ``xxhash64``).

Spark needs Java 17 or newer (:func:`java_version` reads it); the error says so when it is missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd

from .. import schema as S

ENGINES = ("duckdb", "spark")
POS = "_pos"  # input position: file number << 40 | row number within the file
_FILE_SHIFT = 40
MIN_JAVA = 17


class EngineError(RuntimeError):
    """An engine cannot be started or cannot read the source (the message says what to install or set)."""


# --- backend-specific scalar functions ----------------------------------------------------------


@ibis.udf.scalar.builtin(name="round_even")
def _duck_round_even(x, digits) -> dt.float64:  # pragma: no cover - a DuckDB builtin
    ...


@ibis.udf.scalar.builtin(name="bround")
def _spark_bround(x, digits) -> dt.float64:  # pragma: no cover - a Spark builtin
    ...


@ibis.udf.scalar.builtin(name="hash")
def _duck_hash5(a, b, c, d, e) -> dt.uint64:  # pragma: no cover - a DuckDB builtin
    ...


@ibis.udf.agg.builtin(name="sum_no_overflow")
def _duck_sum_int64(x: dt.int64) -> dt.Decimal(38, 0):  # pragma: no cover - a DuckDB builtin
    ...


@ibis.udf.scalar.builtin(name="xxhash64")
def _spark_hash5(a, b, c, d, e) -> dt.int64:  # pragma: no cover - a Spark builtin
    ...


# --- Java (Spark) -------------------------------------------------------------------------------


def java_version() -> int | None:
    """Major version of the ``java`` on ``PATH`` (or under ``$JAVA_HOME``), ``None`` when there is none."""
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" is Java 8


def spark_unavailable_reason() -> str | None:
    """Why Spark cannot run here (``None`` when it can): pyspark not installed, or no Java >= 17."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -r requirements.lock)"
    v = java_version()
    if v is None:
        return f"Spark needs Java {MIN_JAVA}+ and no java was found (apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
    if v < MIN_JAVA:
        return f"Spark needs Java {MIN_JAVA}+, found Java {v} (install openjdk-17-jre-headless or set JAVA_HOME)"
    return None


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class Engine:
    """An Ibis connection plus what differs between backends. Build it with :func:`connect`.

    Attributes
    ----------
    name : ``"duckdb"`` or ``"spark"``.
    con : the Ibis backend.
    spark : the ``SparkSession`` (Spark only).
    """

    name: str
    con: Any
    spark: Any = None
    _own_session: bool = False
    _tmp: list[str] = field(default_factory=list)
    _persisted: list[Any] = field(default_factory=list)
    _files: dict[str, str] = field(default_factory=dict)  # DuckDB views of parquet files made by materialize
    _spill: str | None = None  # DuckDB's spill folder (absolute), where materialize(on_disk=True) writes

    # scalar functions ----------------------------------------------------------------------
    def round_even(self, x: ir.FloatingValue) -> ir.FloatingValue:
        """Round half to even to an integer (``numpy.round``'s rule), as float."""
        return _duck_round_even(x, 0) if self.name == "duckdb" else _spark_bround(x, 0)

    def text_ids(self, x: ir.StringValue) -> ir.StringValue:
        """Text ids as :func:`retention_utils.schema.as_id` reads them: trimmed, ``""`` as null,
        integer-valued decimals (``"17850.0"``) as the integer's digits (``schema.DECIMAL_ID``; the
        back-reference is ``\\1`` in DuckDB's RE2, ``$1`` in Java's)."""
        x = x.strip().nullif("")
        return x.contains(".").ifelse(x.re_replace(S.DECIMAL_ID, r"\1" if self.name == "duckdb" else "$1"), x)

    def sum_int(self, x: ir.IntegerColumn) -> ir.IntegerScalar:
        """The sum of an int64 column as int64, for sums whose every partial sum is known to fit in
        int64 (money in micro-units: :func:`~retention_utils.engines.clean.validate` refuses totals
        of absolute revenue beyond 9e12 currency units, 9e18 micro-units). DuckDB's ``sum`` keeps a
        128-bit state per group; its ``sum_no_overflow`` (what DuckDB itself uses when statistics
        prove the bound) keeps 64 bits, so a large aggregation holds less and spills less. Spark:
        ``sum`` (64-bit)."""
        if self.name == "duckdb":
            return _duck_sum_int64(x).cast("int64")
        return x.sum().cast("int64")

    def row_hash(self, a: ir.Value, b: ir.Value, c: ir.Value, d: ir.Value, e: ir.Value) -> ir.IntegerValue:
        """A 64-bit hash of five columns (for pre-filters only: equal rows hash equal): DuckDB's
        ``hash`` (UBIGINT, kept as it is: Ibis dropped a cast to BIGINT from the SQL, and the join of
        the hashes with their stored BIGINT copies then compared both as HUGEINT), Spark's
        ``xxhash64`` (BIGINT)."""
        if self.name == "duckdb":
            return _duck_hash5(a, b, c, d, e)
        return _spark_hash5(a, b, c, d, e)

    # tables --------------------------------------------------------------------------------
    def read_parquet(self, path: str | os.PathLike) -> ir.Table:
        """A parquet file, a folder of parquet files (read recursively) or a glob, with the input
        position column ``_pos`` (files in sorted path order, the order pandas/pyarrow read them).

        Raises ``FileNotFoundError`` when nothing matches.
        """
        files = parquet_files(path)
        if self.name == "duckdb":
            listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            sql = (f"SELECT *, (file_index::BIGINT << {_FILE_SHIFT}) | file_row_number AS {POS} "
                   f"FROM read_parquet([{listing}], hive_partitioning = false)")
            name = f"src_{uuid.uuid4().hex[:10]}"
            self.con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
            return self.con.table(name)
        from pyspark.sql import functions as F

        df = self.spark.read.option("recursiveFileLookup", "false").parquet(*files)
        # Spark spells one file "file:///x" in inputFiles() and "file:/x" in _metadata: compare paths
        # without scheme and authority, in the sorted order of the files we listed
        uris = sorted(_uri_path(u) for u in df.inputFiles())
        if uris != sorted(_uri_path(f) for f in files):  # pragma: no cover - Spark listed other files
            raise EngineError(f"Spark read {len(uris)} files, expected {len(files)} ({files[:3]} ...)")
        path = F.regexp_replace(F.col("_metadata.file_path"), _URI_PREFIX, "")
        index = F.array_position(F.array(*[F.lit(u) for u in uris]), path) - 1
        df = df.select("*", ((index.cast("long") * (1 << _FILE_SHIFT)) + F.col("_metadata.row_index")).alias(POS))
        return self._register_spark(df)

    def from_pandas(self, df: pd.DataFrame) -> ir.Table:
        """An in-memory table (tests, small data) with ``_pos`` = row position.

        Object columns with no value (every row null, or no rows) become text columns (their type
        cannot be inferred). Timestamps keep nanoseconds on DuckDB when some value has them.

        Raises ``SchemaError``, naming the column and the conversion, for a duration (timedelta)
        column, zoned timestamps with nanoseconds (and on Spark, which keeps microseconds, any
        timestamps with nanoseconds), a column of a type the conversion cannot read (an object column
        mixing numbers and text, periods ...), and for column names that are not text, repeated, or
        ``_pos``."""
        df, types = _pandas_ready(df, self.name)
        df = df.reset_index(drop=True).assign(**{POS: range(len(df))})
        if self.name == "duckdb":
            try:
                schema = None
                if types:  # every column's type, the few fixed ones included
                    schema = {**dict(ibis.memtable(df.drop(columns=list(types))).schema().items()), **types}
                    schema = {c: schema[c] for c in df.columns}
                return self.con.create_table(f"mem_{uuid.uuid4().hex[:10]}", ibis.memtable(df, schema=schema), temp=True)
            except Exception as err:  # a type the conversion cannot read: name the column(s)
                raise _unreadable(self.con, df, err) from err
        ready = _spark_ready(df)
        spark_schema = None
        if not all(ready[c].notna().any() for c in ready.columns):  # Spark infers no type from no value
            import pyarrow as pa
            from pyspark.sql.pandas.types import from_arrow_schema

            spark_schema = from_arrow_schema(pa.Schema.from_pandas(ready, preserve_index=False))
        return self._register_spark(self.spark.createDataFrame(ready, schema=spark_schema))

    def _register_spark(self, df: Any) -> ir.Table:
        name = f"src_{uuid.uuid4().hex[:10]}"
        df.createOrReplaceTempView(name)
        return self.con.table(name)

    def materialize(self, expr: ir.Table, name: str = "t", on_disk: bool = False) -> ir.Table:
        """Compute ``expr`` once and keep it (DuckDB: a temporary table that may spill; Spark: a
        local checkpoint), so that the tables built from it do not recompute it.

        ``on_disk`` (DuckDB): a parquet file in the engine's spill folder instead, read by a view: for
        a wide table read seldom, which would otherwise hold memory that the large aggregations
        need. At 100 M lines, the 6.6 M lines of the returned pairs (a 0.27-GB file) kept so cut
        what the later passes spilled from 1.46 to 1.14 GB. The file goes with :meth:`drop` or
        :meth:`close`. A temporary table all the same when the expression reads in-memory (pandas)
        tables (small data) or the engine was not made by :func:`connect`."""
        if self.name == "duckdb":
            table = f"{name}_{uuid.uuid4().hex[:10]}"
            if not on_disk or self._spill is None or expr.op().find(ops.InMemoryTable):
                return self.con.create_table(table, expr, temp=True)
            os.makedirs(self._spill, exist_ok=True)
            path = os.path.join(self._spill, f"{table}.parquet")
            quoted = path.replace("'", "''")  # a SQL string literal: backslashes are plain characters
            self.con.raw_sql(f"COPY ({self.con.compile(expr)}) TO '{quoted}' (FORMAT parquet, COMPRESSION uncompressed)")
            self._files[table] = path
            return self.con.read_parquet(path, table_name=table)
        df = self.con._session.sql(self.con.compile(expr))
        # computed now and cut from its lineage (memory and disk of the executors): later queries
        # read it as a leaf, so their plans stay small however many steps built it
        df = df.localCheckpoint(eager=True)
        self._persisted.append(df)
        return self._register_spark(df)

    @contextmanager
    def build_on_right(self) -> Iterator[None]:
        """Within the block, DuckDB builds each join's hash table on the join's right side (its
        optimizer's ``build_side_probe_side`` is off). For a semi-join of the lines with a small
        table, where DuckDB's estimate of the filtered lines can fall below the small table's and
        it would build on the lines (at 100 M lines: 19 s instead of 5). Spark: no change.

        ``disabled_optimizers`` is a global DuckDB setting: while the block runs, other connections to
        the same database see it too, and two blocks overlapping on one database from two threads
        can leave it set. One engine is meant for one thread."""
        if self.name != "duckdb":
            yield
            return
        before = self.con.raw_sql("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
        off = ",".join([x for x in str(before or "").split(",") if x.strip()] + ["build_side_probe_side"])
        self.con.raw_sql(f"SET disabled_optimizers = '{off}'")
        try:
            yield
        finally:
            self.con.raw_sql(f"SET disabled_optimizers = '{before or ''}'")

    def drop(self, *tables: ir.Table | None) -> None:
        """Free intermediate tables made by :meth:`materialize` (memory for the next steps)."""
        for t in tables:
            if t is None:
                continue
            name = t.get_name()
            if self.name == "duckdb":
                # get_name() is qualified ("temp.main.<name>"): quoted whole it named no table, and
                # nothing was ever freed (2 GB of intermediate tables spilled at 100 M lines)
                bare = name.rsplit(".", 1)[-1]
                if bare in self._files:
                    self.con.raw_sql(f'DROP VIEW IF EXISTS "{bare}"')
                    with contextlib.suppress(OSError):
                        os.remove(self._files.pop(bare))
                else:
                    self.con.raw_sql(f'DROP TABLE IF EXISTS temp.main."{bare}"')
            else:
                self.spark.catalog.dropTempView(name)

    def clear(self) -> None:
        """Drop what :meth:`materialize` kept (Spark: unpersist; DuckDB keeps temporary tables until
        :meth:`close`). Call it between independent jobs on one long-lived Spark session."""
        for df in self._persisted:
            df.unpersist()
        self._persisted.clear()

    def to_pandas(self, expr: ir.Expr) -> Any:
        return expr.to_pandas() if isinstance(expr, ir.Table) else expr.execute()

    def close(self) -> None:
        """Release the connection (and stop the SparkSession this engine started)."""
        if self.name == "spark":
            self.clear()
            if self._own_session and self.spark is not None:
                self.spark.stop()
        elif self.name == "duckdb":
            self.con.disconnect()
            for path in self._files.values():  # in a spill folder given by the user
                with contextlib.suppress(OSError):
                    os.remove(path)
            self._files.clear()
        for d in self._tmp:
            shutil.rmtree(d, ignore_errors=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def decimal_id_counts(source: ir.Table) -> dict[str, dict[str, int]]:
    """Text ids written as integer-valued decimals (``"17850.0"``) in the lines as read, per id
    column: ``{column: {"ids": distinct such values, "rows": rows}}``, only columns with one (the
    cleaning report's ``normalised``, as :func:`retention_utils.schema.normalise_ids` counts them in
    pandas). One pass over the text id columns; ``{}`` without any."""
    text = [c for c in S.ID_COLUMNS if c in source.columns and source.schema()[c].is_string()]
    if not text:
        return {}
    aggs = {}
    for c in text:
        v = source[c].strip()
        hit = v.contains(".") & v.re_search(S.DECIMAL_ID)
        aggs[f"{c}__rows"] = hit.cast("int64").sum()
        aggs[f"{c}__ids"] = v.nunique(where=hit)
    row = source.aggregate(**aggs).to_pandas().iloc[0]
    count = lambda v: int(v) if pd.notna(v) else 0  # noqa: E731 - Spark gives NaN for a sum of nothing
    out = {c: {"ids": count(row[f"{c}__ids"]), "rows": count(row[f"{c}__rows"])} for c in text}
    return {c: v for c, v in out.items() if v["rows"]}


def frame_ready(df: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame log's canonical columns as the pandas path reads them where the engine's reading
    would differ: zoned stamps as local wall-clock time (:func:`retention_utils.schema.parse_timestamps`),
    and a column with no value (object dtype: all null, or no rows) typed as its canonical column
    (timestamps, numbers), so validation names the missing values, not a type."""
    fix: dict[str, Any] = {}
    for col, kind in ((S.ORDER_TS, "datetime64[ns]"), (S.QUANTITY, "float64"), (S.REVENUE, "float64")):
        if col not in df.columns or isinstance(df[col], pd.DataFrame):
            continue
        v = df[col]
        if v.dtype == object and not v.notna().any():
            fix[col] = v.astype(kind)
        elif col == S.ORDER_TS and _zone(v) is not None:
            fix[col] = S.parse_timestamps(v, S.ORDER_TS)
    return df.assign(**fix) if fix else df


def _zone(values: pd.Series) -> Any:
    """The time zone of a pandas or Arrow timestamp column, ``None`` for any other column."""
    try:
        return values.dt.tz
    except (AttributeError, TypeError):
        return None


def _pandas_ready(df: pd.DataFrame, engine: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """``df`` with its value-less object columns as text, and the ibis types to give explicitly
    (``timestamp(9)`` for DuckDB timestamps with nanoseconds: the default conversion to microseconds
    fails on them). See :meth:`Engine.from_pandas`."""
    named = [c for c in df.columns if not isinstance(c, str)]
    if named:
        raise S.SchemaError(f"column names must be text, found {named}; rename them (df.columns = df.columns.astype(str))")
    twice = sorted(set(df.columns[df.columns.duplicated()]))
    if twice:
        raise S.SchemaError(f"column name(s) {twice} appear more than once; keep one column of each name")
    if POS in df.columns:
        raise S.SchemaError(f"column {POS!r} is the engines' own (each line's input position); rename it")
    fixed: dict[str, Any] = {}
    types: dict[str, str] = {}
    for c in df.columns:
        col = df[c]
        if isinstance(col.dtype, pd.DatetimeTZDtype) and col.dtype.unit == "ns":
            v = col.dropna().dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("int64")
            if (v % 1000 != 0).any():
                raise S.SchemaError(
                    f"column {c!r}: zoned timestamps with nanoseconds, which the engines cannot hold (they keep "
                    f"microseconds with a zone); floor them first: df[{c!r}] = df[{c!r}].dt.floor('us')"
                )
        if col.dtype == "float16":  # DuckDB has no 16-bit float; every float16 is a float32 exactly
            fixed[c] = col.astype("float32")
        if pd.api.types.is_timedelta64_dtype(col):
            raise S.SchemaError(
                f"column {c!r}: durations (timedelta64) cannot be read by the engines; convert the column "
                f"(e.g. df[{c!r}].dt.total_seconds()) or leave it out of the table given to read_log"
            )
        if col.dtype == object and not col.notna().any():
            fixed[c] = col.astype("string")
        elif pd.api.types.is_datetime64_dtype(col) and col.dtype == "datetime64[ns]":
            v = col.dropna().to_numpy().astype("int64")
            if (v % 1000 != 0).any():
                if engine != "duckdb":
                    raise S.SchemaError(
                        f"column {c!r}: timestamps with nanoseconds, which Spark cannot hold (it keeps "
                        f"microseconds); floor them first: df[{c!r}] = df[{c!r}].dt.floor('us')"
                    )
                types[c] = "timestamp(9)"
    return (df.assign(**fixed) if fixed else df), types


def _unreadable(con: Any, df: pd.DataFrame, err: Exception) -> S.SchemaError:
    """The error for a DataFrame the pandas -> DuckDB conversion could not read, naming the columns
    that fail on their own (e.g. an object column mixing numbers and text, periods, intervals)."""
    bad = []
    for c in df.columns:
        name = f"probe_{uuid.uuid4().hex[:10]}"
        try:
            con.create_table(name, ibis.memtable(df[[c]]), temp=True)
            con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
        except Exception:  # noqa: BLE001 - any failure names the column
            bad.append(c)
    where = f"column(s) {bad}" if bad else "the table"
    return S.SchemaError(f"{where}: the engines cannot read this pandas type ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:200]}); convert the column(s) (e.g. .astype(str) for text "
                         "that mixes numbers and words) or leave them out of the table given to read_log")


def _spark_ready(df: pd.DataFrame) -> pd.DataFrame:
    """pandas -> Spark: nanosecond timestamps become microseconds (Spark's unit)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].astype("datetime64[us]")
    return out


_URI_PREFIX = r"^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?"


def _uri_path(uri: str) -> str:
    """``file:///a/b``, ``file:/a/b``, ``hdfs://nn:8020/a/b`` and ``/a/b`` all give ``/a/b``."""
    return re.sub(_URI_PREFIX, "", uri)


def parquet_files(path: str | os.PathLike) -> list[str]:
    """Sorted absolute paths of the parquet files a source names (file, folder, or glob)."""
    p = str(path)
    if os.path.isdir(p):
        files = [str(q) for q in Path(p).rglob("*.parquet")] + [str(q) for q in Path(p).rglob("*.pq")]
    elif any(ch in p for ch in "*?["):
        files = glob.glob(p, recursive=True)
    else:
        files = [p] if os.path.isfile(p) else []
    if not files:
        raise FileNotFoundError(f"no parquet file found at {p!r} (a .parquet file, a folder of them, or a glob)")
    return sorted(os.path.abspath(f) for f in files)


def connect(
    engine: str = "duckdb",
    *,
    threads: int | None = 2,
    memory_limit: str | None = "3GB",
    temp_directory: str | os.PathLike | None = None,
    master: str | None = None,
    session: Any = None,
    spark_conf: dict[str, str] | None = None,
) -> Engine:
    """Start an engine.

    Parameters
    ----------
    engine : ``"duckdb"`` (embedded; out-of-core on parquet) or ``"spark"``.
    threads : DuckDB worker threads (default 2); for Spark ``local[threads]`` when ``master`` is not given.
    memory_limit : DuckDB's memory limit (``"3GB"``); beyond it DuckDB spills to ``temp_directory``.
        For a local Spark it is the driver memory.
    temp_directory : DuckDB's spill folder (default: a fresh folder under the system temp dir).
    master : Spark master URL (``"local[2]"``, ``"spark://host:7077"``, ``"yarn"``, ...).
    session : an existing ``SparkSession`` to use as it is (e.g. one ``spark-submit`` made); the engine
        then never stops it.
    spark_conf : extra Spark settings for a session this function builds.

    Returns
    -------
    :class:`Engine` (a context manager: ``with connect("duckdb") as eng: ...``).

    Raises
    ------
    ValueError : unknown ``engine``.
    EngineError : Spark asked for where pyspark or Java 17+ is missing (the message says which).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES} (or 'pandas' where a function takes it), not {engine!r}")
    if engine == "duckdb":
        # expanded and made absolute once: DuckDB's spill files and materialize(on_disk=True)'s files
        # go to the same folder, whatever the current directory is later
        tmp = (os.path.abspath(os.path.expanduser(os.fspath(temp_directory))) if temp_directory
               else tempfile.mkdtemp(prefix="retention-duckdb-"))
        cfg: dict[str, Any] = {"temp_directory": tmp, "preserve_insertion_order": False}
        if threads:
            cfg["threads"] = int(threads)
        if memory_limit:
            cfg["memory_limit"] = memory_limit
        con = ibis.duckdb.connect(**cfg)
        return Engine("duckdb", con, _tmp=[] if temp_directory else [tmp], _spill=tmp)
    if session is None:
        reason = spark_unavailable_reason()
        if reason:
            raise EngineError(reason)
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName("retention_utils").master(master or f"local[{int(threads or 2)}]")
        conf = {
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.timestampType": "TIMESTAMP_NTZ",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(max(2, 2 * int(threads or 2))),
            "spark.sql.ansi.enabled": "false",
        }
        if (master or "local").startswith("local") and memory_limit:
            conf["spark.driver.memory"] = memory_limit.lower().replace("gb", "g").replace("mb", "m")
        conf.update(spark_conf or {})
        for k, v in conf.items():
            builder = builder.config(k, v)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        own = True
    else:
        own = False
    con = ibis.pyspark.connect(session)
    return Engine("spark", con, spark=session, _own_session=own)


def canonical_lines(table: ir.Table, engine: Engine) -> ir.Table:
    """Checks and puts a raw log in the canonical layout of :mod:`retention_utils.schema`:
    string ids read as :func:`retention_utils.schema.as_id` reads them (trimmed, empty strings as
    null, integer-valued decimals such as ``"17850.0"`` as ``"17850"``; :func:`decimal_id_counts`
    counts those), integer ids kept as integers (turned into ``str`` only in the customer-level
    outputs), amounts as float64 (:meth:`Engine.text_ids`).

    Raises :class:`retention_utils.schema.SchemaError` for a missing column, a column type that
    cannot be canonical (e.g. ``order_ts`` stored as text: convert it when writing the parquet), or
    a column whose name starts with ``_`` (the engines' own columns are named so).
    """
    missing = [c for c in S.REQUIRED_TRANSACTION_COLUMNS if c not in table.columns]
    if missing:
        raise S.SchemaError(
            f"transactions: missing required column(s) {missing}; present: {[c for c in table.columns if c != POS]}. "
            "Map your column names to the canonical ones (see retention_utils.schema)."
        )
    reserved = [c for c in table.columns if c.startswith("_") and c != POS]
    if reserved:
        raise S.SchemaError(
            f"transactions: column name(s) {reserved} start with '_', which the engines keep for their own "
            "columns; rename them (or leave them out of the parquet / DataFrame given to read_log)"
        )
    schema = table.schema()
    fix: dict[str, ir.Value] = {}
    for col in S.ID_COLUMNS:
        if col not in schema:
            continue
        dt = schema[col]
        if dt.is_string():
            fix[col] = engine.text_ids(table[col])
        elif not dt.is_integer():
            raise S.SchemaError(f"column {col!r}: ids must be text or integers in an engine source, found {dt}")
    ts = schema[S.ORDER_TS]
    if (ts.is_timestamp() and ts.timezone is not None) or "TIMESTAMPTZ" in str(ts).upper():
        raise S.SchemaError(
            f"column {S.ORDER_TS!r}: an engine source needs local time without a zone, found a timestamp with a "
            "time zone; write the local wall-clock time to the parquet (pandas: df['order_ts'] = "
            "df['order_ts'].dt.tz_convert('Europe/Berlin').dt.tz_localize(None); DuckDB: "
            "timezone('Europe/Berlin', order_ts)), so that each order keeps its local calendar day"
        )
    if not ts.is_timestamp():
        raise S.SchemaError(
            f"column {S.ORDER_TS!r}: an engine source needs a timestamp column, found {schema[S.ORDER_TS]}; "
            "parse it when writing the parquet (pandas: pd.to_datetime, then to_parquet)"
        )
    for col in S.FLOAT_COLUMNS:
        if col in schema and not schema[col].is_floating():
            if not schema[col].is_numeric():
                raise S.SchemaError(f"column {col!r}: amounts must be numbers, found {schema[col]}")
            fix[col] = table[col].cast("float64")
    return table.mutate(**fix) if fix else table
