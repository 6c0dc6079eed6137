"""Reading one delivery file (CSV / XLSX / Parquet) into an all-string Arrow table with canonical columns.

Every value stays text here (as given, so a rejected row can be shown to the department exactly as it was
sent); typing is the validator's job. A file that cannot be read as a whole (encoding, header) raises
DeliveryRejected with a Chinese message for the department.

Every file is read within ReadLimits (rows, columns, cells, one cell's length; for XLSX the zip's entries,
unpacked size and compression ratio, checked before anything is unpacked): a decompression bomb is refused
in well under a second instead of holding the import worker for minutes (docs/security.md, FILE-03).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fangpin.conf import env_int
from fangpin.pipeline.catalog import Dataset, Field

ROW = "_row"
STRING_TYPES = ("id", "str", "enum")  # catalog types whose accepted value is text
FORMATS = ("csv", "xlsx", "parquet")
HeaderStyle = Literal["canonical", "zh"]
FileFormat = Literal["csv", "xlsx", "parquet"]
_BOM = codecs.BOM_UTF8
_CSV_BLOCK = 16 << 20  # pyarrow parses blocks in parallel; 16 MB keeps both cores busy on big files


class DeliveryRejected(Exception):
    """The whole file is refused (nothing of it is imported). `code` is machine-readable."""

    def __init__(self, code: str, message_zh: str, detail: str = "") -> None:
        super().__init__(f"{code}: {message_zh}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.message_zh = message_zh
        self.detail = detail


@dataclass(frozen=True)
class ReadLimits:
    """Caps on what one delivery file may hold. The defaults fit a county's police snapshot (~700,000
    persons, 9 columns, a few hundred MB of sheet XML); a province raises them with the variables."""

    max_rows: int = 1_000_000
    max_columns: int = 200
    max_cells: int = 50_000_000
    # a memory guard only: a long value in a field is the catalog's `too_long`, rejected by row (ADR 0028)
    max_cell_chars: int = 1_000_000
    max_zip_entries: int = 1_000
    max_unpacked_mb: int = 1_024
    max_ratio: int = 100  # uncompressed / compressed size of one zip entry; real sheets are ~5-15

    @classmethod
    def from_env(cls) -> ReadLimits:
        return cls(
            max_rows=env_int("FANGPIN_IMPORT_MAX_ROWS", cls.max_rows, minimum=1),
            max_columns=env_int("FANGPIN_IMPORT_MAX_COLUMNS", cls.max_columns, minimum=1),
            max_cells=env_int("FANGPIN_IMPORT_MAX_CELLS", cls.max_cells, minimum=1),
            max_cell_chars=env_int("FANGPIN_IMPORT_MAX_CELL_CHARS", cls.max_cell_chars, minimum=1),
            max_zip_entries=env_int("FANGPIN_XLSX_MAX_ENTRIES", cls.max_zip_entries, minimum=1),
            max_unpacked_mb=env_int("FANGPIN_XLSX_MAX_UNPACKED_MB", cls.max_unpacked_mb, minimum=1),
            max_ratio=env_int("FANGPIN_XLSX_MAX_RATIO", cls.max_ratio, minimum=1),
        )


def _too_large(what: str, limit: int, detail: str = "") -> DeliveryRejected:
    return DeliveryRejected(
        "too_large", f"文件超出导入上限：{what}超过 {limit:,}（如确需导入，请联系管理员调整上限）", detail
    )


@dataclass(frozen=True)
class ReadResult:
    table: pa.Table
    encoding: str
    header_style: HeaderStyle
    format: FileFormat
    extra_columns: tuple[str, ...] = field(default=())
    missing_optional: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Header:
    positions: dict[str, int]  # canonical name → column position in the file
    style: HeaderStyle
    extra: tuple[str, ...]
    missing_optional: tuple[str, ...]


def read_file(
    path: Path, dataset: Dataset, *, typed: bool = False, limits: ReadLimits | None = None
) -> ReadResult:
    """The file as text columns; `typed=True` keeps Parquet columns of non-text fields as stored.

    The validator takes those typed columns (date32, numbers, bool) without a text round trip when
    their Arrow type already gives the field's value, and turns the others into text with `parquet_text`.
    `limits`: ReadLimits.from_env() unless given.
    """
    limits = limits or ReadLimits.from_env()
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "csv":
        return _within(_read_csv(path, dataset, limits), limits)
    if fmt == "xlsx":
        return _within(_read_xlsx(path, dataset, limits), limits)
    if fmt == "parquet":
        return _within(_read_parquet(path, dataset, limits, typed=typed), limits)
    raise DeliveryRejected(
        "format", f"不支持的文件格式：{path.suffix or '无扩展名'}（应为 csv、xlsx 或 parquet）"
    )


def _within(result: ReadResult, limits: ReadLimits) -> ReadResult:
    """The caps every format shares, on the table as read (XLSX also checks them while streaming)."""
    table = result.table
    _check_columns(table.num_columns - 1, table.num_rows, limits)
    for name in table.column_names:
        col = table.column(name)
        if name == ROW or not pa.types.is_string(col.type) or len(col) == 0:
            continue
        # bytes first (read off the offsets): characters are never more than bytes
        if (pc.max(pc.binary_length(col)).as_py() or 0) <= limits.max_cell_chars:
            continue
        longest = pc.max(pc.utf8_length(col)).as_py() or 0
        if longest > limits.max_cell_chars:
            raise _too_large(f"单元格长度（字段 {name}）", limits.max_cell_chars, f"{longest} chars")
    return result


def _check_columns(count: int, rows: int, limits: ReadLimits) -> None:
    if count > limits.max_columns:
        raise _too_large("列数", limits.max_columns, f"{count} columns")
    if rows > limits.max_rows:
        raise _too_large("行数", limits.max_rows, f"{rows} rows")
    if count * rows > limits.max_cells:
        raise _too_large("单元格数", limits.max_cells, f"{count} x {rows}")


def resolve_header(labels: list[str], dataset: Dataset) -> _Header:
    """Map file column labels to catalog fields; refuse duplicates and missing required columns."""
    mapping = dataset.header_map()
    positions: dict[str, int] = {}
    extra: list[str] = []
    zh_used = 0
    seen: set[str] = set()
    for i, raw in enumerate(labels):
        label = (raw or "").strip().lstrip("\ufeff")
        if label in seen and label:
            raise DeliveryRejected("schema", f"表头重复：{label}")
        seen.add(label)
        name = mapping.get(label)
        if name is None:
            extra.append(label or f"(第{i + 1}列无表头)")
            continue
        if name in positions:
            raise DeliveryRejected("schema", f"表头重复：{label}（与第{positions[name] + 1}列为同一字段）")
        positions[name] = i
        zh_used += label != name
    missing = [f for f in dataset.fields if f.name not in positions]
    required = [f for f in missing if not f.nullable]
    if required:
        listed = "、".join(f"{f.zh}({f.name})" for f in required)
        raise DeliveryRejected("schema", f"缺少字段：{listed}", f"found columns: {labels}")
    style: HeaderStyle = "zh" if zh_used * 2 > len(positions) else "canonical"
    return _Header(positions, style, tuple(extra), tuple(f.name for f in missing))


def _assemble(columns: dict[str, pa.Array], header: _Header, dataset: Dataset, n: int) -> pa.Table:
    out: dict[str, pa.Array] = {}
    for f in dataset.fields:
        col = columns.get(f.name)
        out[f.name] = col if col is not None else pa.nulls(n, pa.string())
    out[ROW] = pa.array(np.arange(1, n + 1, dtype=np.int64))
    return pa.table(out)


# --- CSV -------------------------------------------------------------------------------------------------


def _read_csv(path: Path, dataset: Dataset, limits: ReadLimits) -> ReadResult:
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    if not head.strip():
        raise DeliveryRejected("schema", "文件为空（没有表头）")
    first_line = head.split(b"\n", 1)[0]
    if head.startswith(_BOM):
        encoding = "utf-8-sig"
    elif _is_utf8(first_line):
        encoding = "utf-8"
    else:
        encoding = "gb18030"
    if encoding != "gb18030":
        try:
            return _parse_csv(path, dataset, encoding, _decode(first_line, encoding), limits)
        except pa.ArrowInvalid as exc:
            if encoding == "utf-8-sig":
                raise DeliveryRejected("encoding", "文件以UTF-8标记开头，但内容不是有效的UTF-8编码") from exc
    # not UTF-8: GB18030 is a superset of GBK and GB2312, the encodings Chinese office software writes
    try:
        text = path.read_bytes().decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DeliveryRejected(
            "encoding", "文件编码无法识别：既不是UTF-8也不是GBK/GB18030，请另存为UTF-8编码的CSV", str(exc)
        ) from exc
    data = text.encode("utf-8")
    del text
    labels = _decode(data.split(b"\n", 1)[0], "utf-8")
    return _parse_csv(io.BytesIO(data), dataset, "gb18030", labels, limits)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode(line: bytes, encoding: str) -> list[str]:
    text = line.decode(encoding).rstrip("\r")
    return next(csv.reader([text]), [])


def _malformed(exc: Exception) -> DeliveryRejected:
    return DeliveryRejected("malformed", "CSV格式错误：某行的字段数与表头不一致或引号不匹配", str(exc)[:300])


def _parse_csv(
    source: Path | io.BytesIO, dataset: Dataset, encoding: str, labels: list[str], limits: ReadLimits
) -> ReadResult:
    _check_columns(len(labels), 0, limits)
    header = resolve_header(labels, dataset)
    names = [f"c{i}" for i in range(len(labels))]
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_CSV_BLOCK),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                include_columns=[names[i] for i in header.positions.values()],
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "utf8" in str(exc).lower():
            raise  # the caller retries as GB18030
        raise _malformed(exc) from exc
    columns = {name: table.column(names[i]) for name, i in header.positions.items()}
    result = _assemble(columns, header, dataset, table.num_rows)
    return ReadResult(result, encoding, header.style, "csv", header.extra, header.missing_optional)


# --- Parquet ---------------------------------------------------------------------------------------------


def _read_parquet(path: Path, dataset: Dataset, limits: ReadLimits, *, typed: bool) -> ReadResult:
    try:
        meta = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DeliveryRejected("malformed", "Parquet文件无法读取", str(exc)[:300]) from exc
    # the footer says how many rows the (compressed) file expands to: refuse before reading any
    _check_columns(meta.num_columns, meta.num_rows, limits)
    header = resolve_header(list(schema.names), dataset)
    table = pq.read_table(path, columns=[schema.names[i] for i in header.positions.values()])
    columns: dict[str, pa.Array] = {}
    for name, i in header.positions.items():
        col, f = table.column(schema.names[i]), dataset.field(name)
        if typed and f.type not in STRING_TYPES:
            columns[name] = col.dictionary_decode() if pa.types.is_dictionary(col.type) else col
        else:
            columns[name] = parquet_text(col, f)
    result = _assemble(columns, header, dataset, table.num_rows)
    return ReadResult(result, "binary", header.style, "parquet", header.extra, header.missing_optional)


def parquet_text(col: pa.Array, f: Field) -> pa.Array:
    """Typed parquet values as the text a CSV would carry: ISO dates, true/false, plain numbers."""
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    t = col.type
    if pa.types.is_timestamp(t) and f.type == "date":
        col = pc.cast(col, pa.date32())
    elif pa.types.is_timestamp(t):
        col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
    elif pa.types.is_floating(t) and f.type in ("id", "int", "str", "enum"):
        # a bank exporting IDs or codes as doubles: integral values print without the '.0'
        whole = pc.equal(col, pc.floor(col))
        col = pc.if_else(
            whole, pc.cast(pc.cast(col, pa.int64(), safe=False), pa.string()), col.cast(pa.string())
        )
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    return col


# --- XLSX ------------------------------------------------------------------------------------------------


def _read_xlsx(path: Path, dataset: Dataset, limits: ReadLimits) -> ReadResult:
    from openpyxl import load_workbook

    _check_zip(path, limits)
    _stop_dimension_scan_at_the_data()
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip/xml
        raise _xlsx_error(exc) from exc
    try:
        ws = wb.worksheets[0]
        # the sheet's own <dimension> is a claim, not a fact: refuse a claim over the caps at once, then
        # ignore it (openpyxl would pad every row to its width: 16,384 empty cells a row for A1:XFD…)
        _check_columns(ws.max_column or 0, ws.max_row or 0, limits)
        ws.reset_dimensions()
        rows: Iterable[tuple[Any, ...]] = ws.iter_rows(values_only=True)
        numbers, header, values = _stream_rows(iter(rows), dataset, limits)
    except DeliveryRejected:
        raise
    except Exception as exc:  # the sheet XML is parsed while iterating: a bad or unsafe one fails here
        raise _xlsx_error(exc) from exc
    finally:
        wb.close()
    fields = [(dataset.field(name), i) for name, i in header.positions.items()]
    columns = {f.name: pa.array(col, pa.string()) for (f, _), col in zip(fields, values, strict=True)}
    table = _assemble(columns, header, dataset, len(numbers))
    # _row is the data row as Excel counts it minus the header, so row k is sheet line k+1
    table = table.set_column(table.schema.get_field_index(ROW), ROW, pa.array(numbers, pa.int64()))
    return ReadResult(table, "binary", header.style, "xlsx", header.extra, header.missing_optional)


def _stream_rows(
    it: Iterator[tuple[Any, ...]], dataset: Dataset, limits: ReadLimits
) -> tuple[list[int], _Header, list[list[str | None]]]:
    """The data rows of the sheet, counted against the caps as they stream (blank rows count too: a
    million empty rows is the cheapest bomb there is)."""
    first = next(it, None)
    if first is None:
        raise DeliveryRejected("schema", "文件为空（没有表头）")
    _check_columns(len(first), 0, limits)
    header = resolve_header([_header_text(v) for v in first], dataset)
    fields = [(dataset.field(name), i) for name, i in header.positions.items()]
    values: list[list[str | None]] = [[] for _ in fields]
    numbers: list[int] = []
    cells = len(first)
    for sheet_row, row in enumerate(it, start=1):
        cells += len(row)
        if sheet_row > limits.max_rows or len(row) > limits.max_columns or cells > limits.max_cells:
            _check_columns(len(row), sheet_row, limits)
            raise _too_large("单元格数", limits.max_cells)
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        numbers.append(sheet_row)
        for out, (f, i) in zip(values, fields, strict=True):
            value = row[i] if i < len(row) else None
            if isinstance(value, str) and len(value) > limits.max_cell_chars:
                raise _too_large(f"单元格长度（第{sheet_row + 1}行）", limits.max_cell_chars)
            out.append(_cell_text(value, f))
    return numbers, header, values


def _stop_dimension_scan_at_the_data() -> None:
    """openpyxl's read-only sheet looks for <dimension> at load time by parsing until the END of
    <sheetData> when there is none: the whole sheet, before a single row can be counted (that is where
    a bomb without a dimension spent its minutes). Stop at the START of <sheetData> instead."""
    from openpyxl.worksheet._reader import DATA_TAG, DIMENSION_TAG, WorkSheetParser
    from openpyxl.worksheet.dimensions import SheetDimension
    from openpyxl.xml.functions import iterparse

    def parse_dimensions(self: WorkSheetParser) -> tuple[int, int, int, int] | None:
        for _event, element in iterparse(self.source, events=("start",)):
            if element.tag == DIMENSION_TAG:
                boundaries: tuple[int, int, int, int] = SheetDimension.from_tree(element).boundaries
                return boundaries
            if element.tag == DATA_TAG:
                return None
        return None

    WorkSheetParser.parse_dimensions = parse_dimensions


def _check_zip(path: Path, limits: ReadLimits) -> None:
    """An XLSX is a zip: count its entries and add up their declared sizes from the central directory,
    unpacking nothing. A bomb shows as a huge total or an implausible compression ratio."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DeliveryRejected(
            "malformed", "Excel文件无法打开（文件损坏或不是xlsx格式）", str(exc)[:300]
        ) from exc
    if len(entries) > limits.max_zip_entries:
        raise _too_large("压缩包内文件数", limits.max_zip_entries, f"{len(entries)} entries")
    unpacked = sum(e.file_size for e in entries)
    if unpacked > limits.max_unpacked_mb << 20:
        raise _too_large("解压后大小（MB）", limits.max_unpacked_mb, f"{unpacked >> 20} MB")
    for e in entries:
        # tiny entries (rels, a one-line sheet) compress oddly but cannot amount to anything
        if e.file_size > 1 << 20 and e.file_size > limits.max_ratio * max(e.compress_size, 1):
            raise DeliveryRejected(
                "too_large",
                f"Excel文件的压缩比异常（{e.file_size // max(e.compress_size, 1)}倍，上限{limits.max_ratio}倍），"
                "疑似压缩炸弹，已拒收",
                e.filename,
            )


def _xlsx_error(exc: Exception) -> DeliveryRejected:
    from defusedxml import DefusedXmlException

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, DefusedXmlException):
        cause = cause.__cause__ or cause.__context__  # openpyxl wraps what the parser raised
    if cause is not None:
        return DeliveryRejected(
            "unsafe", "Excel文件含有不安全的XML内容（实体或外部引用定义），已拒收", type(cause).__name__
        )
    return DeliveryRejected("malformed", "Excel文件无法打开（文件损坏或不是xlsx格式）", str(exc)[:300])


def _header_text(value: object) -> str:
    return "" if value is None else str(value)


def _cell_text(value: object, f: Field) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if f.type == "date" or value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float) and f.type == "date":
        from openpyxl.utils.datetime import from_excel

        # a date column formatted as a number still holds the Excel serial day
        try:
            return str(from_excel(value).date().isoformat())
        except (ValueError, OverflowError, TypeError):
            return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            # Excel keeps 15 significant digits: an ID typed into a number cell reads 3607221981012900…00,
            # which the validator recognises as id_excel_mangled rather than a wrong check character
            return format(Decimal(f"{value:.15g}"), "f") if abs(value) >= 1e15 else str(int(value))
        return repr(value)
    return str(value)
