# ruff: noqa: S608 - SQL over quoted identifiers and file paths the lake chose
"""Engine access behind one small abstract class (splink's DatabaseAPI pattern).

The base class owns locking, registration lifetime and error wrapping in final methods; a backend
implements four hooks. DuckDB is the engine now; a SparkEngine later implements the same hooks.
"""

from __future__ import annotations

import functools
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, final

import pyarrow as pa

from fangpin.pipeline.dialect import Dialect, DuckDBDialect
from fangpin.pipeline.readers import ROW


class EngineError(RuntimeError):
    """A generated SQL statement failed; carries the SQL for the log."""

    def __init__(self, message: str, sql: str) -> None:
        super().__init__(f"{message}\n--- SQL ---\n{sql}")
        self.sql = sql


@dataclass(frozen=True)
class SqlStep:
    """One named step of a pipeline: `sql` may refer to the outputs of earlier steps by name."""

    sql: str
    output: str


@dataclass(frozen=True)
class ParquetSource:
    """Parquet files an engine reads itself, instead of an Arrow table handed over from Python.

    The engine scans the files in parallel with the projection pushed down, and nothing passes through
    the Python heap. `files` are in delivery order; `schema` is what the statement sees (a column no file
    holds reads as NULL of its type). `latest_by`: a keyed snapshot (key columns): per key, the row of
    the last file holding it (ties within a file by `_row`). `households`: only rows of these
    household_keys (a literal filter the engine pushes into its scan: the lake's files are clustered by
    household_key, so row-group statistics skip all but one group per file). See Lake.source().
    """

    files: tuple[str, ...]
    schema: pa.Schema
    latest_by: tuple[str, ...] = ()
    households: tuple[int, ...] | None = None

    def present(self) -> set[str]:
        """Columns at least one file holds (footers only)."""
        names: set[str] = set()
        for f in self.files:
            names.update(_file_columns(f))
        return names


@functools.lru_cache(maxsize=4096)
def _file_columns(path: str) -> frozenset[str]:
    """A Parquet file's column names; cached: a committed lake file never changes (ADR 0007)."""
    import pyarrow.parquet as pq

    return frozenset(pq.read_schema(path).names)


Source: TypeAlias = pa.Table | ParquetSource


def cte_sql(steps: list[SqlStep]) -> str:
    """Chain steps into one WITH … SELECT: the engine plans them together and materialises nothing."""
    if not steps:
        raise ValueError("no steps")
    ctes = ",\n".join(f"{s.output} AS (\n{s.sql}\n)" for s in steps[:-1])
    return (f"WITH {ctes}\n" if ctes else "") + steps[-1].sql


class Engine(ABC):
    dialect: Dialect

    def __init__(self) -> None:
        # one connection per engine; the web app may share an engine between threads
        self._lock = threading.RLock()

    @final
    def query(
        self, sql: str, tables: Mapping[str, Source] | None = None, *, ordered: bool = True
    ) -> pa.Table:
        """Run `sql` with `tables` (Arrow tables or Parquet files) visible under their names for this
        statement only; Arrow out. `ordered=False`: the statement has no ORDER BY and its caller no
        use for input order (the engine may then stream results out of order: faster, less memory)."""
        with self._lock:
            registered: list[str] = []
            try:
                for name, table in (tables or {}).items():
                    if isinstance(table, ParquetSource):
                        self._register_files(name, table)
                    else:
                        self._register(name, table)
                    registered.append(name)
                try:
                    return self._execute(sql) if ordered else self._execute_unordered(sql)
                except Exception as exc:
                    raise EngineError(f"{self.dialect.name}: {exc}", sql) from exc
            finally:
                for name in registered:
                    self._unregister(name)

    @abstractmethod
    def _register(self, name: str, table: pa.Table) -> None: ...

    @abstractmethod
    def _register_files(self, name: str, source: ParquetSource) -> None: ...

    @abstractmethod
    def _unregister(self, name: str) -> None: ...

    @abstractmethod
    def _execute(self, sql: str) -> pa.Table: ...

    def _execute_unordered(self, sql: str) -> pa.Table:
        return self._execute(sql)

    @abstractmethod
    def close(self) -> None: ...


_BATCH_ROWS = 1 << 16


class DuckDBEngine(Engine):
    dialect = DuckDBDialect()

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        import duckdb  # imported here: `import fangpin.pipeline` must not need an engine installed

        super().__init__()
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        self._con = duckdb.connect(":memory:", config=config)
        # insertion order of the output must follow the input (_row order) for stable reports
        self._con.execute("SET preserve_insertion_order = true")
        self._con.execute("SET enable_progress_bar = false")  # imports report progress themselves
        # lake files never change once committed: keep their footers between statements (a re-score
        # of one household then opens ~25 files without re-reading their metadata)
        self._con.execute("SET parquet_metadata_cache = true")
        self._views: set[str] = set()

    def _register(self, name: str, table: pa.Table) -> None:
        # DuckDB scans Arrow one record batch per thread: slice (zero-copy) so both cores get work
        batches = table.to_batches(max_chunksize=_BATCH_ROWS)
        self._con.register(name, pa.Table.from_batches(batches, schema=table.schema))

    def _register_files(self, name: str, source: ParquetSource) -> None:
        q = self.dialect.quote
        present = source.present()
        cols = ", ".join(
            q(f.name) if f.name in present else f"CAST(NULL AS {_duckdb_type(f.type)}) AS {q(f.name)}"
            for f in source.schema
        )
        where = ""
        if source.households is not None:
            wanted = ", ".join(str(int(k)) for k in source.households) or "NULL"
            where = f" WHERE household_key IN ({wanted})"
        if not source.latest_by:
            files = ", ".join(self.dialect.literal(f) for f in source.files)
            body = f"SELECT {cols} FROM read_parquet([{files}], union_by_name = true){where}"
        else:
            union = " UNION ALL BY NAME ".join(
                f"SELECT *, {i} AS __file FROM read_parquet({self.dialect.literal(f)}){where}"
                for i, f in enumerate(source.files)
            )
            keys = ", ".join(q(k) for k in source.latest_by)
            body = (
                f"SELECT {cols} FROM ({union}) QUALIFY ROW_NUMBER() OVER "
                f"(PARTITION BY {keys} ORDER BY __file DESC, {q(ROW)}) = 1"
            )
        self._con.execute(f"CREATE OR REPLACE TEMP VIEW {q(name)} AS {body}")
        self._views.add(name)

    def _unregister(self, name: str) -> None:
        if name in self._views:
            self._views.discard(name)
            self._con.execute(f"DROP VIEW IF EXISTS {self.dialect.quote(name)}")
        else:
            self._con.unregister(name)

    def _execute(self, sql: str) -> pa.Table:
        result: pa.Table = self._con.sql(sql).to_arrow_table()
        return result

    def _execute_unordered(self, sql: str) -> pa.Table:
        self._con.execute("SET preserve_insertion_order = false")
        try:
            return self._execute(sql)
        finally:
            self._con.execute("SET preserve_insertion_order = true")

    def close(self) -> None:
        self._con.close()


_DUCKDB_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE"}
_DUCKDB_TYPES |= {"bool": "BOOLEAN", "date32[day]": "DATE"}


def _duckdb_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    return _DUCKDB_TYPES[str(t)]


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    names = {"string": "string", "int64": "bigint", "int32": "int", "double": "double", "bool": "boolean"}
    return {**names, "date32[day]": "date"}[str(t)]


_SPARK: Any = None  # the one SparkSession of this process (Spark allows one active context per JVM)
_SPARK_LOCK = threading.Lock()


SPARK_CONF = {
    "spark.master": "local[2]",  # FANGPIN_SPARK_MASTER overrides (a cluster's master URL)
    "spark.app.name": "fangpin",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "2g",  # FANGPIN_SPARK_DRIVER_MEMORY overrides
}
# tiny inputs (tests): compiling generated code per stage costs more than interpreting a few rows
SMALL_DATA_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.shuffle.partitions": "1"}


def spark_session(conf: Mapping[str, str] | None = None) -> Any:
    """The process's SparkSession: local[2], 2 shuffle partitions, UTC, quiet logs, Arrow transfer.

    `conf` adds settings when the session is first created (later calls share the running session).
    """
    global _SPARK
    with _SPARK_LOCK:
        if _SPARK is None:
            import os

            from pyspark.sql import SparkSession

            settings = {**SPARK_CONF, **(conf or {})}
            settings["spark.master"] = os.environ.get("FANGPIN_SPARK_MASTER", settings["spark.master"])
            memory = os.environ.get("FANGPIN_SPARK_DRIVER_MEMORY")
            if memory:
                settings["spark.driver.memory"] = memory
            # the JVM logs to stderr before setLogLevel can run: start it at ERROR
            os.environ.setdefault(
                "PYSPARK_SUBMIT_ARGS", "--driver-java-options=-Dlog4j2.rootLogger.level=error pyspark-shell"
            )
            builder = SparkSession.builder
            for key, value in settings.items():
                builder = builder.config(key, value)
            _SPARK = builder.getOrCreate()
            _SPARK.sparkContext.setLogLevel("ERROR")
        return _SPARK


def stop_spark() -> None:
    """Stop the process's SparkSession (tests' session teardown, the CLI at exit)."""
    global _SPARK
    with _SPARK_LOCK:
        if _SPARK is not None:
            _SPARK.stop()
            _SPARK = None


class SparkEngine(Engine):
    """Spark SQL in local mode (pyspark); Arrow tables in and out, registered as temporary views.

    Every SparkEngine of a process shares one SparkSession (spark_session()); close() leaves it running
    for the others, stop_spark() ends it.
    """

    from fangpin.pipeline.dialect import SparkDialect as _SparkDialect

    dialect = _SparkDialect()

    def __init__(self, conf: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._spark = spark_session(conf)

    def _register(self, name: str, table: pa.Table) -> None:
        # Spark has no dictionary types: decode them before handing the table over
        fields = [
            pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema
        ]
        self._spark.createDataFrame(table.cast(pa.schema(fields))).createOrReplaceTempView(name)

    def _register_files(self, name: str, source: ParquetSource) -> None:
        # Spark reads the files itself (on a cluster: its executors, from shared storage)
        from functools import reduce

        from pyspark.sql import functions as F  # noqa: N812 - pyspark's convention

        frames = []
        for i, path in enumerate(source.files):
            df = self._spark.read.parquet(path)
            if source.households is not None:
                df = df.where(F.col("household_key").isin(list(source.households)))
            have = set(df.columns)
            cols = [
                F.col(f"`{f.name}`")
                if f.name in have
                else F.lit(None).cast(_spark_type(f.type)).alias(f.name)
                for f in source.schema
            ]
            if source.latest_by:
                cols += [F.lit(i).alias("__file")]
                cols += [F.col(f"`{k}`").alias(f"__key_{k}") for k in (*source.latest_by, ROW)]
            frames.append(df.select(*cols))
        frame = reduce(lambda a, b: a.unionByName(b), frames)
        if source.latest_by:
            from pyspark.sql import Window

            keys = [F.col(f"__key_{k}") for k in source.latest_by]
            order = [F.col("__file").desc(), F.col(f"__key_{ROW}")]
            rn = F.row_number().over(Window.partitionBy(*keys).orderBy(*order))
            frame = frame.withColumn("__rn", rn).where("__rn = 1").select(*source.schema.names)
        frame.createOrReplaceTempView(name)

    def _unregister(self, name: str) -> None:
        self._spark.catalog.dropTempView(name)

    def _execute(self, sql: str) -> pa.Table:
        result: pa.Table = self._spark.sql(sql).toArrow()
        return result

    def close(self) -> None:
        pass


def engine_named(name: str) -> Engine:
    """`duckdb` or `spark` (the CLI's --engine)."""
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        return SparkEngine()
    raise ValueError(f"unknown engine {name!r} (duckdb or spark)")
