"""Validation results meet their rows by `_row`, whatever order the engine returns them in.

DuckDB's parallel join for the region check returns a large file's rows in another order (issue 12:
the police snapshot of every county failed as a whole); the file here is above that size.
"""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pytest

from fangpin.lib import idcard
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.validate import validate

TODAY = dt.date(2026, 12, 31)
ROWS = 160_000
VILLAGES = [f"360722{100 + v:03d}{200 + v:03d}" for v in range(250)]


def _snapshot(n: int) -> tuple[pa.Table, dict[int, str]]:
    """A ps_person file of `n` rows whose every value is derived from its row number, with an unknown
    village every 997th row and a wrong check character every 1009th: {_row: the expected reason}."""
    columns: dict[str, list[str]] = {k: [] for k in ("id_number", "name", "gender", "birth_date")}
    columns |= {k: [] for k in ("household_no", "relation", "village_code", "status", "status_date")}
    expected: dict[int, str] = {}
    start = dt.date(1940, 1, 1)
    for i in range(n):
        row = i + 1
        born = start + dt.timedelta(days=i % 25_000)
        male = i % 2 == 0
        id_number = idcard.make("360722", born, (i // 25_000) % 500, male)
        village = VILLAGES[i % len(VILLAGES)]
        if row % 997 == 0:
            village, expected[row] = "360722999999", "region_unknown"
        elif row % 1009 == 0:
            id_number = id_number[:17] + ("1" if id_number[17] != "1" else "2")
            expected[row] = "id_check_char"
        columns["id_number"].append(id_number)
        columns["name"].append(f"人{row}")
        columns["gender"].append("1" if male else "2")
        columns["birth_date"].append(born.isoformat())
        columns["household_no"].append(f"{village}{row:06d}")
        columns["relation"].append("01")
        columns["village_code"].append(village)
        columns["status"].append("normal")
        columns["status_date"].append("")
    data = {k: pa.array(v, pa.string()) for k, v in columns.items()}
    data["_row"] = pa.array(range(1, n + 1), pa.int64())
    return pa.table(data), expected


@pytest.mark.slow
@pytest.mark.parametrize("threads", [2, 4])
def test_a_county_sized_file_with_region_checks_keeps_every_value_on_its_row(catalog, threads: int) -> None:  # type: ignore[no-untyped-def]
    table, expected = _snapshot(ROWS)
    engine = DuckDBEngine(threads=threads)
    try:
        v = validate(table, catalog["ps_person"], known_villages=set(VILLAGES), engine=engine, today=TODAY)
    finally:
        engine.close()
    rejected = dict(
        zip(v.rejected.column("_row").to_pylist(), v.rejected.column("reason_code").to_pylist(), strict=True)
    )
    assert rejected == expected
    assert v.accepted.num_rows == ROWS - len(expected)
    # every typed and text value is the one of its own row
    rows = v.accepted.column("_row").to_pylist()
    assert v.accepted.column("name").to_pylist() == [f"人{r}" for r in rows]
    start = dt.date(1940, 1, 1)
    assert v.accepted.column("birth_date").to_pylist() == [
        start + dt.timedelta(days=(r - 1) % 25_000) for r in rows
    ]


@pytest.mark.slow
@pytest.mark.spark
@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="Spark runs in the SQLite pass only (Django-free)"
)
def test_on_spark_every_value_stays_on_its_row(catalog) -> None:  # type: ignore[no-untyped-def]
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from fangpin.pipeline.engine import SparkEngine

    table, expected = _snapshot(20_000)
    v = validate(table, catalog["ps_person"], known_villages=set(VILLAGES), engine=SparkEngine(), today=TODAY)
    rejected = v.rejected.column("_row").to_pylist()
    assert dict(zip(rejected, v.rejected.column("reason_code").to_pylist(), strict=True)) == expected
    rows = v.accepted.column("_row").to_pylist()
    assert v.accepted.column("name").to_pylist() == [f"人{r}" for r in rows]
