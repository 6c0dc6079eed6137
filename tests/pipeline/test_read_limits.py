"""Attacks on the reader (security issue #14, finding 7): decompression bombs and XML bombs in XLSX, and
files over the row, column, cell and cell-length caps. Each is refused with a Chinese reason before it
costs real time or memory; memory is measured with tracemalloc, never a wall clock."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl.xml
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fangpin.pipeline.readers import DeliveryRejected, ReadLimits, read_file
from pipeline.xlsx_bombs import BILLION_LAUGHS, cell_row, repeated, sheet

SMALL_PEAK = 20 << 20  # bytes: what reading a refused file may allocate at most


def _refused(read: Callable[[], Any]) -> tuple[DeliveryRejected, int]:
    """The rejection and the peak memory Python allocated on the way to it."""
    tracemalloc.start()
    try:
        with pytest.raises(DeliveryRejected) as caught:
            read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return caught.value, peak


def test_a_million_row_zip_bomb_is_refused_from_the_zip_directory_alone(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    # 49 MB of sheet XML in a 150 KB file: the shape of the 1.6 MB file that held the worker for 144 s
    bomb = sheet(tmp_path / "ps_person.xlsx", repeated(cell_row("x"), 1_000_000))
    assert bomb.stat().st_size < 300_000
    error, peak = _refused(lambda: read_file(bomb, catalog["ps_person"]))
    assert error.code == "too_large" and "压缩比异常" in error.message_zh and "压缩炸弹" in error.message_zh
    assert peak < SMALL_PEAK


def test_rows_are_capped_while_streaming_when_the_zip_looks_normal(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    # blank rows count: the reader used to skip them without counting, for as long as the sheet went on
    bomb = sheet(
        tmp_path / "ps_person.xlsx",
        [cell_row(*catalog["ps_person"].field_names), *repeated(b"<row/>", 1_000_000)],
    )
    limits = ReadLimits(max_rows=50_000, max_ratio=10_000)
    error, peak = _refused(lambda: read_file(bomb, catalog["ps_person"], limits=limits))
    assert error.code == "too_large" and "行数超过 50,000" in error.message_zh
    assert peak < SMALL_PEAK


def test_a_sheet_claiming_the_whole_grid_is_refused_before_any_row(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    # openpyxl pads every row to the declared width: 16,384 empty cells a row for A1:XFD1048576
    bomb = sheet(tmp_path / "ps_person.xlsx", [cell_row("x")], dimension="A1:XFD1048576")
    error, peak = _refused(lambda: read_file(bomb, catalog["ps_person"]))
    assert error.code == "too_large" and "列数" in error.message_zh
    assert peak < SMALL_PEAK


def test_a_forged_small_dimension_does_not_let_wide_rows_through(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    wide = cell_row(*catalog["ps_person"].field_names, *(f"c{i}" for i in range(300)))
    bomb = sheet(tmp_path / "ps_person.xlsx", [wide], dimension="A1:B2")
    error, _ = _refused(lambda: read_file(bomb, catalog["ps_person"]))
    assert error.code == "too_large" and "列数超过 200" in error.message_zh


@pytest.mark.parametrize("where", ["sheet", "shared strings"])
def test_a_billion_laughs_xml_bomb_is_refused_as_unsafe(tmp_path: Path, catalog, where: str) -> None:  # type: ignore[no-untyped-def]
    assert openpyxl.xml.DEFUSEDXML  # openpyxl parses through defusedxml when it is installed
    path = tmp_path / "ps_person.xlsx"
    if where == "sheet":
        sheet(path, [b'<row><c t="inlineStr"><is><t>&lol9;</t></is></c></row>'], doctype=BILLION_LAUGHS)
    else:
        shared = (
            b'<?xml version="1.0"?>'
            + BILLION_LAUGHS
            + (
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol9;</t></si></sst>'
            )
        )
        sheet(path, [cell_row("x")], shared=shared)
    error, peak = _refused(lambda: read_file(path, catalog["ps_person"]))
    assert error.code == "unsafe" and "不安全的XML" in error.message_zh
    assert peak < SMALL_PEAK


def test_an_overlong_cell_is_refused_in_every_format(tmp_path: Path, catalog, tiny, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_CELL_CHARS", "4000")  # the default (10^6) takes a big file
    long_name = "吴" * 5_000
    csv_path = tiny.write_csv(
        tmp_path / "ps_person.csv", tiny.PERSON_HEADER, [tiny.person_row(name=long_name)]
    )
    xlsx_path = sheet(
        tmp_path / "ps_person.xlsx",
        [cell_row(*tiny.PERSON_HEADER), cell_row(*tiny.person_row(name=long_name))],
    )
    parquet_path = tmp_path / "ps_person.parquet"
    pq.write_table(
        pa.table(dict(zip(tiny.PERSON_HEADER, ([v] for v in tiny.person_row(name=long_name)), strict=True))),
        parquet_path,
    )
    for path in (csv_path, xlsx_path, parquet_path):
        with pytest.raises(DeliveryRejected, match="单元格长度") as caught:
            read_file(path, catalog["ps_person"])
        assert caught.value.code == "too_large", path


def test_row_caps_hold_for_csv_and_parquet_and_come_from_the_environment(
    tmp_path: Path, catalog, tiny, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    rows = [tiny.person_row() for _ in range(11)]
    csv_path = tiny.write_csv(tmp_path / "ps_person.csv", tiny.PERSON_HEADER, rows)
    parquet_path = tmp_path / "ps_person.parquet"
    pq.write_table(
        pa.table({h: [r[i] for r in rows] for i, h in enumerate(tiny.PERSON_HEADER)}), parquet_path
    )
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_ROWS", "10")
    for path in (csv_path, parquet_path):
        with pytest.raises(DeliveryRejected, match="行数超过 10") as caught:
            read_file(path, catalog["ps_person"])
        assert caught.value.code == "too_large"
    monkeypatch.setenv("FANGPIN_IMPORT_MAX_ROWS", "11")
    assert read_file(csv_path, catalog["ps_person"]).table.num_rows == 11


def test_an_ordinary_workbook_is_read_within_the_default_caps(tmp_path: Path, catalog, tiny) -> None:  # type: ignore[no-untyped-def]
    rows = [cell_row(*tiny.PERSON_HEADER), *(cell_row(*tiny.person_row(id_number=i)) for i in tiny.GOOD_IDS)]
    result = read_file(sheet(tmp_path / "ps_person.xlsx", rows), catalog["ps_person"])
    assert result.table.column("id_number").to_pylist() == list(tiny.GOOD_IDS)
