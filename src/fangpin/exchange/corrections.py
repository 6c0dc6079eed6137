"""Uploading the rejected rows again, corrected: the workbook `reports.correction_workbook` wrote.

Its rows carry masked IDs and names (SECURITY.md PI-03); a masked value the clerk left unchanged is
restored here from the original delivery's quarantine, so full IDs never leave the server and the round
trip still imports them. A snapshot is delivered whole: the original delivery's stored rows plus the
corrected ones become the period's snapshot. Events: only the corrected rows; the lake never stores an
event twice.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.exchange.reports import CORRECTION_MARK, CORRECTION_ROW, mask_for
from fangpin.pipeline.catalog import Dataset
from fangpin.pipeline.readers import ROW, _cell_text, parquet_text


def correction_of(path: Path) -> int | None:
    """The delivery a correction workbook was written for, or None for any other file."""
    if path.suffix.lower() != ".xlsx":
        return None
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True)
    except Exception:  # noqa: BLE001 - not a workbook we can open: the import reports it as usual
        return None
    try:
        mark = book.properties.identifier or ""
        first = next(book.worksheets[0].iter_rows(max_row=1, values_only=True), ())
    finally:
        book.close()
    if not mark.startswith(CORRECTION_MARK) or not first or first[0] != CORRECTION_ROW:
        return None
    number = mark[len(CORRECTION_MARK) :]
    return int(number) if number.isdigit() else None


def check_original(original: Delivery, dataset: str, period: str) -> None:
    """The correction goes to the same dataset and period, and (snapshots) is still that period's state."""
    if (original.dataset, original.period) != (dataset, period):
        raise actions.ExchangeError(
            f"该更正表属于交付#{original.pk}（{original.dataset}，期次{original.period}），请选择相同的数据集和期次"
        )
    if original.status != Status.ACCEPTED or not original.lake_delivery_id:
        raise actions.ExchangeError(f"交付#{original.pk}没有入库记录，无法按更正表导入")
    spec = actions.active_catalog().datasets[dataset]
    later = (
        Delivery.objects.filter(dataset=dataset, period=period, status=Status.ACCEPTED, pk__gt=original.pk)
        .order_by("-pk")
        .first()
    )
    if spec.cadence == "snapshot" and later is not None:
        raise actions.ExchangeError(f"期次{period}已有更新的交付#{later.pk}，请下载该交付的拒收行更正表")


def restore(path: Path, original: Delivery, folder: Path) -> Path:
    """The corrected rows (masked values restored), plus for a snapshot the rows the original delivery
    stored, as one text Parquet file in `folder` ready for import."""
    spec = actions.active_catalog().datasets[original.dataset]
    store = actions.lake()
    quarantined = {r[ROW]: r for r in store.quarantine(original.lake_delivery_id).to_pylist()}
    rows = [_restored(row, quarantined, spec) for row in _sheet_rows(path, spec)]
    table = pa.table({f.name: pa.array([r.get(f.name) for r in rows], pa.string()) for f in spec.fields})
    if spec.cadence == "snapshot":
        stored = pq.read_table(
            store.data_path(original.dataset, original.period, original.lake_delivery_id),
            columns=spec.field_names,
        )
        kept = pa.table(
            {f.name: parquet_text(stored.column(f.name), f).cast(pa.string()) for f in spec.fields}
        )
        table = pa.concat_tables([table, kept])
    out = folder / f"{uuid.uuid4().hex}.parquet"
    pq.write_table(table, out)
    return out


def _sheet_rows(path: Path, spec: Dataset) -> list[dict[str, Any]]:
    """The first sheet's rows as {field or CORRECTION_ROW: text}; empty lines skipped."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        lines = book.worksheets[0].iter_rows(values_only=True)
        header = [str(v or "").strip() for v in next(lines, ())]
        names = spec.header_map()
        columns = {i: names[label] for i, label in enumerate(header) if label in names}
        where = header.index(CORRECTION_ROW)
        out = []
        for line in lines:
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in line):
                continue
            row: dict[str, Any] = {CORRECTION_ROW: line[where] if where < len(line) else None}
            for i, name in columns.items():
                value = line[i] if i < len(line) else None
                text = _cell_text(value, spec.field(name))
                row[name] = text.strip() if text is not None else None
            out.append(row)
        return out
    finally:
        book.close()


def _restored(row: dict[str, Any], quarantined: dict[int, dict[str, Any]], spec: Dataset) -> dict[str, Any]:
    """A masked value left as it was is the original value; anything the clerk typed is kept."""
    try:
        original = quarantined.get(int(str(row[CORRECTION_ROW])) - 1)  # Excel row → file row
    except (TypeError, ValueError):
        original = None
    if original is None:
        return row
    out = dict(row)
    for f in spec.fields:
        mask = mask_for(f)
        before = original.get(f.name)
        if mask and before and out.get(f.name) == mask(str(before)):
            out[f.name] = before
    return out
