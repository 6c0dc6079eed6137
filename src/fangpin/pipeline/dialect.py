"""SQL dialects: the few places where engines spell the same thing differently.

Pipeline steps build SQL from standard pieces (substr, cast, case, regexp_replace, row_number) and ask
the dialect for the rest, so the same step runs on DuckDB now and Spark later (splink's SplinkDialect
pattern). Anything an engine cannot do raises NotImplementedError naming the engine.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import ClassVar


class Dialect(ABC):
    name: ClassVar[str]
    # SQL type names for the typed columns the validator produces
    types: ClassVar[dict[str, str]] = {
        "str": "VARCHAR",
        "id": "VARCHAR",
        "enum": "VARCHAR",
        "date": "DATE",
        "money": "DECIMAL(18, 2)",
        "int": "BIGINT",
        "float": "DOUBLE",
        "bool": "BOOLEAN",
    }

    def quote(self, ident: str) -> str:
        return '"' + ident.replace('"', '""') + '"'

    def literal(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def try_cast(self, expr: str, sql_type: str) -> str:
        return f"TRY_CAST({expr} AS {sql_type})"

    @abstractmethod
    def full_match(self, expr: str, pattern: str) -> str:
        """True when the whole string matches the regular expression (RE2/Java common subset)."""

    @abstractmethod
    def parse_date(self, expr: str, fmt: str) -> str:
        """A DATE from text in `fmt` ('yyyymmdd' or 'yyyy-mm-dd'), NULL when it is no real date."""

    @abstractmethod
    def int_div(self, a: str, b: str) -> str:
        """Integer division of two BIGINT expressions, truncating."""

    @abstractmethod
    def hash64(self, exprs: list[str]) -> str:
        """A 64-bit hash of the values together (NULLs hash too); equal values give equal hashes."""

    def date_literal(self, iso: str) -> str:
        return f"DATE '{iso}'"

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS {self.types['str']})"

    @abstractmethod
    def fixed(self, expr: str, decimals: int, thousands: bool) -> str:
        """A DOUBLE as text with `decimals` decimals, rounded like Python's format (exact binary value,
        ties to even), with ',' thousands separators when `thousands`."""

    def expression(self, duckdb_sql: str) -> str:
        """A policy expression (written and validated in DuckDB SQL) in this dialect."""
        return duckdb_sql

    @classmethod
    def from_string(cls, name: str) -> Dialect:
        for sub in (DuckDBDialect, SparkDialect):
            if sub.name == name:
                return sub()
        raise NotImplementedError(f"no SQL dialect named {name!r}")


class DuckDBDialect(Dialect):
    name = "duckdb"
    _formats: ClassVar[dict[str, str]] = {"yyyymmdd": "%Y%m%d", "yyyy-mm-dd": "%Y-%m-%d"}

    def full_match(self, expr: str, pattern: str) -> str:
        return f"regexp_full_match({expr}, {self.literal(pattern)})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} // {b})"

    def hash64(self, exprs: list[str]) -> str:
        return f"hash({', '.join(exprs)})"

    def parse_date(self, expr: str, fmt: str) -> str:
        # try_strptime rejects 2025-02-30 (a plain cast would too, but also accepts 2025-1-5)
        return f"CAST(try_strptime({expr}, {self.literal(self._formats[fmt])}) AS DATE)"

    def fixed(self, expr: str, decimals: int, thousands: bool) -> str:
        # format() is the fmt library: the same correctly rounded output as Python's format
        return f"format('{{:{',' if thousands else ''}.{int(decimals)}f}}', {expr})"


class SparkDialect(Dialect):
    """Spark SQL (ANSI mode), run by engine.SparkEngine."""

    name = "spark"
    types: ClassVar[dict[str, str]] = {**Dialect.types, "str": "STRING", "id": "STRING", "enum": "STRING"}
    _formats: ClassVar[dict[str, str]] = {"yyyymmdd": "yyyyMMdd", "yyyy-mm-dd": "yyyy-MM-dd"}

    def quote(self, ident: str) -> str:
        return "`" + ident.replace("`", "``") + "`"

    def literal(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def full_match(self, expr: str, pattern: str) -> str:
        return f"({expr} RLIKE {self.literal('^(?:' + pattern + ')$')})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} DIV {b})"

    def hash64(self, exprs: list[str]) -> str:
        return f"xxhash64({', '.join(exprs)})"

    def parse_date(self, expr: str, fmt: str) -> str:
        return f"CAST(try_to_timestamp({expr}, {self.literal(self._formats[fmt])}) AS DATE)"

    def fixed(self, expr: str, decimals: int, thousands: bool) -> str:
        # format_number is java.text.DecimalFormat with HALF_EVEN on the exact binary value
        out = f"format_number({expr}, {int(decimals)})"
        return out if thousands else f"replace({out}, ',', '')"

    def expression(self, duckdb_sql: str) -> str:
        return _to_spark(duckdb_sql)


@functools.lru_cache(maxsize=1024)
def _to_spark(duckdb_sql: str) -> str:
    """Transpile with sqlglot (as splink does); unsupported constructs raise instead of guessing."""
    import sqlglot
    from sqlglot.errors import ErrorLevel

    return sqlglot.transpile(duckdb_sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)[0]
