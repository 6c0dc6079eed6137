"""Helpers to build Arrow columns for event and snapshot tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Arr = npt.NDArray[Any]


def serial(prefix: str, start: int, n: int, width: int = 7) -> pa.StringArray:
    """prefix + zero-padded running number: stable, unique keys such as settlement ids."""
    numbers = pc.utf8_lpad(
        pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string()), width, "0"
    )
    out: pa.StringArray = pc.binary_join_element_wise(pa.scalar(prefix), numbers, "")
    return out


def dates(days: Arr, nullable: bool = True) -> pa.Array:
    """int days since 1970 as a date32 column; negative = null unless the column holds pre-1970 dates."""
    d = np.asarray(days, np.int64)
    return pa.array(d.astype(np.int32), pa.int32(), mask=(d < 0) if nullable else None).cast(pa.date32())


def money(x: Arr, mask: Arr | None = None) -> pa.Array:
    return pa.array(np.round(np.asarray(x, np.float64), 2), pa.float64(), mask=mask)


def codes(values: Arr, labels: list[str], mask: Arr | None = None) -> pa.Array:
    """Small-int codes as their string labels (enum keys of the catalog)."""
    arr = pa.array(labels).take(pa.array(np.asarray(values, np.int64)))
    if mask is not None:
        arr = pc.if_else(pa.array(mask), pa.nulls(len(arr), pa.string()), arr)
    return arr


def strings_of_ints(x: Arr) -> pa.StringArray:
    out: pa.StringArray = pc.cast(pa.array(np.asarray(x, np.int64)), pa.string())
    return out


def whole(column: pa.ChunkedArray) -> pa.Array:
    """One contiguous array; a single chunk is returned as is (combine_chunks would copy it)."""
    if column.num_chunks == 1:
        out: pa.Array = column.chunk(0)
        return out
    return column.combine_chunks()


def recorded(index: Arr, share: float, salt: int) -> Arr:
    """Which persons/households (by index) a department records, at `share` of them: a hash of the index,
    so the same ones every month and no draw from the simulation's random streams."""
    index = np.asarray(index, np.uint64)
    if share >= 1.0:
        return np.ones(len(index), bool)
    mixed = (index * np.uint64(2654435761) + np.uint64(salt * 40503)) % np.uint64(1 << 32)
    hashed = (mixed * np.uint64(2246822519)) % np.uint64(1 << 32)
    out: Arr = hashed.astype(np.float64) / float(1 << 32) < share
    return out


def keep_recorded(columns: dict[str, pa.Array], index: Arr, share: float, salt: int) -> dict[str, pa.Array]:
    """The event columns of the rows whose person the department records (`recorded`)."""
    if share >= 1.0:
        return columns
    mask = pa.array(recorded(index, share, salt))
    return {name: values.filter(mask) for name, values in columns.items()}
