"""Link decisions made by people (the review queue), stored beside the lake's deliveries.

Delivered rows are immutable; a decision that row 17 of delivery D is person 4711 is a fact of its own,
with the time it was made, so that screening as of any moment sees only the decisions made by then.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("delivery_id", pa.string()),
        ("_row", pa.int64()),
        ("person_key", pa.int64()),
        ("household_key", pa.int64()),
        ("decided_at", pa.timestamp("us", tz="UTC")),
    ]
)


def folder(lake_root: Path) -> Path:
    return Path(lake_root) / "_link_decisions"


def record(lake_root: Path, decision: dict[str, Any]) -> Path:
    """Write one decision as its own small Parquet file (atomic rename; never rewrites another)."""
    target = folder(lake_root)
    target.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([decision], schema=SCHEMA)
    name = uuid.uuid4().hex
    partial = target / f".{name}.tmp"
    pq.write_table(table, partial)
    final = target / f"{name}.parquet"
    partial.replace(final)
    return final


def read(lake_root: Path, as_of_time: dt.datetime | None = None) -> pa.Table:
    """All decisions (made by `as_of_time` if given); the latest decision per delivered row wins."""
    files = sorted(folder(lake_root).glob("*.parquet"))
    if not files:
        return SCHEMA.empty_table()
    table = pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in files])
    rows = table.to_pylist()
    if as_of_time is not None:
        rows = [r for r in rows if r["decided_at"] <= as_of_time]
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["decided_at"]):
        latest[(row["delivery_id"], row["_row"])] = row
    return pa.Table.from_pylist(list(latest.values()), schema=SCHEMA)
