"""The Parquet fast path: typed columns skip the text round trip, with exactly the text path's results.

Every case writes the same data as typed Parquet and as the CSV the text path would see, validates both
and compares accepted tables and rejected rows (field, reason, raw value) one to one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fangpin.pipeline.catalog import Catalog, Dataset
from fangpin.pipeline.engine import DuckDBEngine
from fangpin.pipeline.readers import read_file
from fangpin.pipeline.validate import Validated, _typed_columns, validate

TODAY = dt.date(2026, 8, 31)
IDS = ("360722197111180017", "360722198101290006", "36072219860602001X", "360722200606270019")
D = dt.date


def _default(f: Any, n: int) -> pa.Array:
    if f.type == "id":
        return pa.array([IDS[i % len(IDS)] for i in range(n)])
    if f.type == "enum":
        return pa.array([next(iter(f.values))] * n)
    if f.type == "str":
        return pa.array([f"S{i:06d}" for i in range(n)])
    if f.type == "date":
        return pa.array([D(2025, 1, 1)] * n)
    if f.type == "money":
        return pa.array([100.0] * n)
    if f.type == "int":
        return pa.array([int(f.range[0]) if f.range else 2] * n, pa.int64())
    if f.type == "float":
        return pa.array([float(f.range[0]) if f.range else 1.5] * n)
    return pa.array([True] * n)


def _both(tmp: Path, ds: Dataset, engine: DuckDBEngine, **columns: pa.Array) -> tuple[Validated, Validated]:
    n = len(next(iter(columns.values())))
    table = pa.table({f.name: columns.get(f.name, _default(f, n)) for f in ds.fields})
    parquet = tmp / f"{ds.name}.parquet"
    pq.write_table(table, parquet)
    text = read_file(parquet, ds).table.drop(["_row"])  # what the text path makes of the typed values
    csv = tmp / f"{ds.name}.csv"
    pacsv.write_csv(text, csv)
    results = []
    for path, typed in ((csv, False), (parquet, False), (parquet, True)):
        read = read_file(path, ds, typed=typed)
        results.append(validate(read.table, ds, known_villages=None, engine=engine, today=TODAY))
    _same(results[1], results[2])  # Parquet through the text path = Parquet through the fast path
    return results[0], results[2]


def _same(a: Validated, b: Validated, *, csv: bool = False) -> None:
    assert a.accepted.schema == b.accepted.schema
    assert a.accepted.to_pylist() == b.accepted.to_pylist()
    rows = b.rejected.to_pylist()
    if csv:  # a CSV cannot carry NULL: the raw values it shows are ""
        rows = [
            {k: "" if v is None and k not in ("_row", "field") else v for k, v in r.items()} for r in rows
        ]
    assert a.rejected.to_pylist() == rows
    assert a.reasons == b.reasons


def _fast(tmp: Path, ds: Dataset, **columns: pa.Array) -> frozenset[str]:
    """The fields that take the fast path for these typed columns."""
    n = len(next(iter(columns.values())))
    table = pa.table({f.name: columns.get(f.name, _default(f, n)) for f in ds.fields})
    return _typed_columns(table, ds)[1]


def test_clean_typed_columns_take_the_fast_path(
    tmp_path: Path, catalog: Catalog, engine: DuckDBEngine
) -> None:
    ds = catalog["fi_microcredit"]
    cols = {
        "amount_yuan": pa.array([30000.0, 1234.5, 0.07, None, -12.25, 9_999_999_999.99]),
        "due_date": pa.array(
            [D(2027, 1, 1), None, D(1, 1, 1), D(9999, 12, 31), D(2026, 2, 28), D(2026, 3, 1)]
        ),
        "loan_id": pa.array(["DK1", "DK2", "DK3", "DK4", "DK1", None]),
        "id_number": pa.array([IDS[0], "360722197111180018", "3.60722E+17", IDS[1], IDS[2], IDS[3]]),
    }
    assert _fast(tmp_path, ds, **cols) == {"amount_yuan", "due_date"}
    csv, parquet = _both(tmp_path, ds, engine, **cols)
    _same(csv, parquet, csv=True)
    assert set(csv.reasons) == {
        "required_missing",
        "id_check_char",
        "id_excel_mangled",
        "out_of_range",  # a negative loan (DK1 again: rejected for that before it could be a duplicate)
    }


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("exponent_form", pa.array([100.0, 1e10, 2.5e12])),  # Arrow prints 1e+10: the text path rejects
        ("three_decimals", pa.array([1.005, 2.675, 100.0])),
        ("not_finite", pa.array([float("nan"), float("inf"), 1.0])),
        ("float32", pa.array([0.1, 1234.5, 3.0], pa.float32())),
        ("ints", pa.array([1, -5, 9_999_999_999_999_999, 10**16], pa.int64())),
        ("small_ints", pa.array([1, 200, None], pa.int16())),
        ("decimal", pa.array(["1.5", "-2", None]).cast(pa.decimal128(10, 2))),
        ("decimal_scale_3", pa.array(["1.005", "2.675"]).cast(pa.decimal128(12, 3))),
        ("text_with_bad_values", pa.array([" 12.50 ", "1,000", "", "abc", "1e3", "-0"])),
    ],
)
def test_money_columns_of_every_type(
    tmp_path: Path, catalog: Catalog, engine: DuckDBEngine, name: str, values: pa.Array
) -> None:
    n = len(values)
    ids = pa.array([f"DK{i}" for i in range(n)])
    _same(*_both(tmp_path, catalog["fi_microcredit"], engine, amount_yuan=values, loan_id=ids), csv=True)


def test_random_money_floats(tmp_path: Path, catalog: Catalog, engine: DuckDBEngine) -> None:
    rng = np.random.default_rng(7)
    cents = rng.integers(-(10**11), 10**11, 20_000)
    values = pa.array(np.concatenate([cents / 100, rng.uniform(-1e9, 1e9, 100).round(2)]))
    ids = pa.array([f"DK{i}" for i in range(len(values))])
    ds = catalog["fi_microcredit"]
    assert "amount_yuan" in _fast(tmp_path, ds, amount_yuan=values, loan_id=ids)
    csv, parquet = _both(tmp_path, ds, engine, amount_yuan=values, loan_id=ids)
    _same(csv, parquet, csv=True)
    # every value parses; those outside the catalog's loan range (0～500,000 yuan) are refused for it
    low, high = ds.field("amount_yuan").range or (0, 0)
    inside = int(((values.to_numpy() >= low) & (values.to_numpy() <= high)).sum())
    assert csv.accepted.num_rows == inside and set(csv.reasons) == {"out_of_range"}


def test_dates_stored_as_text_or_timestamps(tmp_path: Path, catalog: Catalog, engine: DuckDBEngine) -> None:
    ds = catalog["fi_microcredit"]
    text = pa.array(["2027-01-01", "2025-02-30", "2025-1-5", "", None, " 2026-12-31 ", "20260101", "abc"])
    ids = pa.array([f"DK{i}" for i in range(len(text))])
    assert "due_date" not in _fast(tmp_path, ds, due_date=text, loan_id=ids)
    csv, parquet = _both(tmp_path, ds, engine, due_date=text, loan_id=ids)
    _same(csv, parquet, csv=True)
    assert csv.reasons == {"date_invalid": 4, "required_missing": 2}
    stamps = pa.array([dt.datetime(2027, 1, 1), dt.datetime(2027, 1, 1, 23, 59), None], pa.timestamp("ms"))
    ids = pa.array(["A", "B", "C"])
    assert "due_date" in _fast(tmp_path, ds, due_date=stamps, loan_id=ids)
    _same(*_both(tmp_path, ds, engine, due_date=stamps, loan_id=ids), csv=True)


@pytest.mark.parametrize(
    "year",
    [
        pa.array([2025, 2026, None], pa.int32()),
        pa.array([2025.0, 2026.0, None]),
        pa.array([2025.0, 2025.5, 2026.0]),
        pa.array([2**63, 2025, 1], pa.uint64()),
        pa.array(["2025", "２０２５", "2025.0"]),
    ],
)
def test_int_and_bool_columns(tmp_path: Path, catalog: Catalog, engine: DuckDBEngine, year: pa.Array) -> None:
    ds = catalog["ms_enrollment"]
    ids = pa.array(list(IDS[:3]))
    insured = pa.array([True, None, False])
    subsidized = pa.array([1, 0, 2], pa.int8())  # not bool: the text path ("1", "0", "2")
    _same(
        *_both(tmp_path, ds, engine, id_number=ids, year=year, insured=insured, subsidized=subsidized),
        csv=True,
    )


def test_ranges_on_typed_values(tmp_path: Path, catalog: Catalog, engine: DuckDBEngine) -> None:
    ids = pa.array([IDS[0], IDS[1], IDS[2], IDS[3], IDS[0][:17] + "1", IDS[1][:17] + "1"])
    grade = pa.array([0, 1, 4, 5, None, 2], pa.int64())
    ds = catalog["df_disability"]
    assert "grade" in _fast(tmp_path, ds, id_number=ids, grade=grade)
    csv, parquet = _both(tmp_path, ds, engine, id_number=ids, grade=grade)
    _same(csv, parquet, csv=True)
    assert csv.reasons["out_of_range"] == 2
    water = catalog["wr_water"]
    rate = pa.array([0.0, 1.0, 1.5, -0.1, 1e-7, None])
    codes = pa.array([f"36072210000{i}" for i in range(6)])
    assert "guarantee_rate" in _fast(tmp_path, water, guarantee_rate=rate, village_code=codes)
    _same(*_both(tmp_path, water, engine, guarantee_rate=rate, village_code=codes), csv=True)
