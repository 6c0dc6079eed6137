"""Hostile XLSX files, built in a fraction of a second: a real workbook whose first sheet's XML is swapped
for what an attacker writes (streamed into the zip, never held in memory whole)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from openpyxl import Workbook

_SHEET = "xl/worksheets/sheet1.xml"
_SHARED = "xl/sharedStrings.xml"
_TYPES = "[Content_Types].xml"
_SHARED_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
_NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
BILLION_LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]>"
)


def cell_row(*texts: str) -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{t}</t></is></c>' for t in texts)
    return f"<row>{cells}</row>".encode()


def repeated(row: bytes, n: int, per: int = 10_000) -> Iterator[bytes]:
    for start in range(0, n, per):
        yield row * min(per, n - start)


def sheet(
    path: Path, rows: Iterable[bytes], *, dimension: str = "", doctype: bytes = b"", shared: bytes = b""
) -> Path:
    """An .xlsx at `path` whose first sheet holds `rows` (<row> elements); `shared` replaces the shared
    strings part."""
    book = Workbook()
    book.active.append(["x"])
    buffer = io.BytesIO()
    book.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            if info.filename == _TYPES and shared:  # declare the shared strings part: openpyxl reads it
                types = source.read(_TYPES).replace(b"</Types>", _SHARED_TYPE + b"</Types>")
                target.writestr(info, types)
                continue
            if info.filename != _SHEET:
                target.writestr(info, source.read(info.filename))
                continue
            with target.open(_SHEET, "w") as out:
                out.write(b'<?xml version="1.0"?>' + doctype + _NS)
                out.write(f'<dimension ref="{dimension}"/>'.encode() if dimension else b"")
                out.write(b"<sheetData>")
                for chunk in rows:
                    out.write(chunk)
                out.write(b"</sheetData></worksheet>")
        if shared:
            target.writestr(_SHARED, shared)
    return path
