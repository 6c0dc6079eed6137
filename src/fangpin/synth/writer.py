"""Writing delivery files (CSV UTF-8/GBK, parquet, xlsx) with the catalog's columns, byte-reproducibly."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fangpin.synth import events as ev
from fangpin.synth.catalog import Dataset

# Banks send parquet; the water bureau sends a spreadsheet; everybody else sends CSV.
FORMATS = {"fi_deposit": "parquet", "fi_microcredit": "parquet", "wr_water": "xlsx"}
_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
CSV_SLICE_ROWS = 250_000


def money_strings(values: pa.Array) -> pa.Array:
    """Yuan with exactly 2 decimals ('1234.50'), nulls kept; exact, no float formatting surprises."""
    arr = values.to_numpy(zero_copy_only=False)
    valid = ~np.isnan(arr)
    cents = np.round(np.where(valid, arr, 0) * 100).astype(np.int64)
    sign = pa.array(np.where(cents < 0, "-", ""))
    cents = np.abs(cents)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    out = pc.binary_join_element_wise(sign, whole, frac, "")
    out = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(out, 0, -2), pc.utf8_slice_codeunits(out, -2), "."
    )
    return pc.if_else(pa.array(valid), out, pa.nulls(len(arr), pa.string()))


def conform(ds: Dataset, table: pa.Table) -> pa.Table:
    """Columns in catalog order with the catalog's names; money rounded to 2 decimals."""
    cols = {}
    for f in ds.fields:
        col = ev.whole(table.column(f.name))
        if f.type == "money":
            col = pc.round(col.cast(pa.float64()), 2)
        cols[f.name] = col
    return pa.table(cols)


def to_text(ds: Dataset, table: pa.Table) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for f in ds.fields:
        col = ev.whole(table.column(f.name))
        if f.type == "money":
            col = money_strings(col)
        elif f.type == "bool":
            col = pc.if_else(col, pa.scalar("true"), pa.scalar("false"))
        else:
            col = pc.cast(col, pa.string())
        cols[f.name] = col
    return pa.table(cols)


def write(
    path_stem: Path, ds: Dataset, table: pa.Table, fmt: str, zh_headers: bool, gbk: bool
) -> dict[str, Any]:
    headers = [f.zh if zh_headers else f.name for f in ds.fields]
    if fmt == "parquet":
        path = path_stem.with_suffix(".parquet")
        pq.write_table(table.rename_columns(headers), path, compression="zstd")
        encoding = "binary"
    elif fmt == "xlsx":
        path = path_stem.with_suffix(".xlsx")
        _write_xlsx(path, headers, table)
        encoding = "binary"
    else:
        path = path_stem.with_suffix(".csv")
        _write_csv(path, ds, table, headers, gbk)
        encoding = "gbk" if gbk else "utf-8"
    return {
        "file": path.name,
        "rows": table.num_rows,
        "format": fmt,
        "encoding": encoding,
        "header": "zh" if zh_headers else "name",
    }


def _write_csv(path: Path, ds: Dataset, table: pa.Table, headers: list[str], gbk: bool) -> None:
    """Text conversion and CSV writing slice by slice: a 10-million-row file never exists as a whole in memory.
    The bytes equal a single write_csv of the whole table (header once, then the rows in order)."""
    with path.open("wb") as sink:
        for offset in range(0, max(table.num_rows, 1), CSV_SLICE_ROWS):
            part = to_text(ds, table.slice(offset, CSV_SLICE_ROWS)).rename_columns(headers)
            buffer = io.BytesIO()
            options = pacsv.WriteOptions(include_header=offset == 0, quoting_style="needed")
            pacsv.write_csv(part, buffer, options)
            data = buffer.getvalue()
            del part, buffer
            sink.write(data.decode("utf-8").encode("gbk") if gbk else data)


def _write_xlsx(path: Path, headers: list[str], table: pa.Table) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("data")
    ws.append(headers)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    for row in zip(*columns, strict=True):
        ws.append(list(row))
    # fixed document times and zip entry times: identical inputs give identical bytes
    import datetime as dt

    fixed = dt.datetime(2020, 1, 1)  # noqa: DTZ001 - a constant, not a time of day
    wb.properties.created = fixed
    wb.properties.modified = fixed
    buffer = io.BytesIO()
    wb.save(buffer)
    src = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _fix_core(data)
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)


def _fix_core(data: bytes) -> bytes:
    import re

    return re.sub(rb"<dcterms:modified([^>]*)>[^<]*<", rb"<dcterms:modified\1>2020-01-01T00:00:00Z<", data)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "_manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
