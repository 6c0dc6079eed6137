"""Reading one delivery file (CSV / XLSX / Parquet) into an all-string Arrow table with canonical columns.

Every value stays text here (as given, so a rejected row can be shown to the department exactly as it was
sent); typing is the validator's job. A file that cannot be read as a whole (encoding, header) raises
DeliveryRejected with a Chinese message for the department.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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


def read_file(path: Path, dataset: Dataset, *, typed: bool = False) -> ReadResult:
    """The file as text columns; `typed=True` keeps Parquet columns of non-text fields as stored.

    The validator takes those typed columns (date32, numbers, bool) without a text round trip when
    their Arrow type already gives the field's value, and turns the others into text with `parquet_text`.
    """
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "csv":
        return _read_csv(path, dataset)
    if fmt == "xlsx":
        return _read_xlsx(path, dataset)
    if fmt == "parquet":
        return _read_parquet(path, dataset, typed=typed)
    raise DeliveryRejected(
        "format", f"不支持的文件格式：{path.suffix or '无扩展名'}（应为 csv、xlsx 或 parquet）"
    )


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


def _read_csv(path: Path, dataset: Dataset) -> ReadResult:
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
            return _parse_csv(path, dataset, encoding, _decode(first_line, encoding))
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
    return _parse_csv(io.BytesIO(data), dataset, "gb18030", _decode(data.split(b"\n", 1)[0], "utf-8"))


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


def _parse_csv(source: Path | io.BytesIO, dataset: Dataset, encoding: str, labels: list[str]) -> ReadResult:
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


def _read_parquet(path: Path, dataset: Dataset, *, typed: bool) -> ReadResult:
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DeliveryRejected("malformed", "Parquet文件无法读取", str(exc)[:300]) from exc
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


def _read_xlsx(path: Path, dataset: Dataset) -> ReadResult:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken zip/xml
        raise DeliveryRejected(
            "malformed", "Excel文件无法打开（文件损坏或不是xlsx格式）", str(exc)[:300]
        ) from exc
    try:
        ws = wb.worksheets[0]
        rows: Iterable[tuple[Any, ...]] = ws.iter_rows(values_only=True)
        it = iter(rows)
        first = next(it, None)
        if first is None:
            raise DeliveryRejected("schema", "文件为空（没有表头）")
        header = resolve_header([_header_text(v) for v in first], dataset)
        fields = [(dataset.field(name), i) for name, i in header.positions.items()]
        values: list[list[str | None]] = [[] for _ in fields]
        numbers: list[int] = []
        # openpyxl yields Python objects row by row; spreadsheets stay small (one per bureau and month)
        for sheet_row, row in enumerate(it, start=1):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            numbers.append(sheet_row)
            for out, (f, i) in zip(values, fields, strict=True):
                out.append(_cell_text(row[i] if i < len(row) else None, f))
    finally:
        wb.close()
    columns = {f.name: pa.array(col, pa.string()) for (f, _), col in zip(fields, values, strict=True)}
    table = _assemble(columns, header, dataset, len(numbers))
    # _row is the data row as Excel counts it minus the header, so row k is sheet line k+1
    table = table.set_column(table.schema.get_field_index(ROW), ROW, pa.array(numbers, pa.int64()))
    return ReadResult(table, "binary", header.style, "xlsx", header.extra, header.missing_optional)


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
