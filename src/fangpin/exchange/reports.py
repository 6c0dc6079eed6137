"""The per-delivery report (read = accepted + rejected, reasons, the quarantined rows) as pages and Excel."""

from __future__ import annotations

import io
from typing import Any

from django.utils import timezone
from openpyxl.cell.cell import Cell

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery
from fangpin.lib.masking import mask_id_number, mask_name
from fangpin.lib.spreadsheet import Workbook

SAMPLE_LIMIT = 100
MASKED_FIELDS = {"id_number": mask_id_number, "name": mask_name}


def quarantine_rows(delivery: Delivery, limit: int | None = SAMPLE_LIMIT) -> list[dict[str, Any]]:
    """The delivery's rejected rows with their reason; IDs and names masked (the lake keeps them as given)."""
    if not delivery.lake_delivery_id or not delivery.rejected:
        return []
    try:
        table = actions.lake().quarantine(delivery.lake_delivery_id)
    except FileNotFoundError:  # purged after its retention period (privacy/retention.py)
        return []
    if limit is not None:
        table = table.slice(0, limit)
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        row["line"] = row.pop("_row")  # templates cannot read names that start with an underscore
        mask = MASKED_FIELDS.get(row.get("field") or "")
        if mask and row.get("raw_value"):
            row["raw_value"] = mask(str(row["raw_value"]))
    return rows


def reason_messages(rows: list[dict[str, Any]]) -> dict[str, str]:
    """One Chinese explanation per reason code, as the validator worded it."""
    messages: dict[str, str] = {}
    for row in rows:
        messages.setdefault(row["reason_code"], row["message_zh"])
    return messages


def _text(cell: Cell) -> None:
    cell.number_format = "@"  # IDs and codes stay text in Excel, never 3.60722E+17


def delivery_workbook(delivery: Delivery) -> tuple[bytes, int]:
    """Three sheets: summary, reasons, rejected rows (masked). Returns the bytes and the rows exported."""
    book = Workbook()
    summary = book.active
    summary.title = "概况"
    for label, value in [
        ("数据集", delivery.dataset),
        ("部门", delivery.get_department_display()),
        ("期次", delivery.period),
        ("文件", delivery.file_name),
        ("状态", delivery.get_status_display()),
        ("读取行数", delivery.read),
        ("入库行数", delivery.accepted),
        ("拒收行数", delivery.rejected),
        ("重复事件（未重复入库）", delivery.duplicates),
        ("已关联人员/农户", delivery.linked),
        ("待人工确认", delivery.review),
        ("未关联", delivery.unlinked),
        ("编码", delivery.encoding),
        ("表头", delivery.header_style),
        ("说明", delivery.message),
        ("目录版本", delivery.catalog_version),
        ("接收时间", timezone.localtime(delivery.received_at).strftime("%Y-%m-%d %H:%M")),
        ("核对：读取 = 入库 + 拒收 + 重复", "一致" if delivery.reconciles else "不一致"),
    ]:
        summary.append([label, value])
    rows = quarantine_rows(delivery, None)
    explained = reason_messages(rows)
    reasons = book.create_sheet("拒收原因")
    reasons.append(["原因代码", "说明（示例）", "行数"])
    for code, count in sorted(delivery.reasons.items(), key=lambda kv: -kv[1]):
        reasons.append([code, explained.get(code, ""), count])
    detail = book.create_sheet("拒收明细")
    detail.append(["文件行号", "字段", "原因代码", "说明", "原值（已脱敏）"])
    for row in rows:
        detail.append(
            [
                row.get("line"),
                row.get("field"),
                row.get("reason_code"),
                row.get("message_zh"),
                row.get("raw_value"),
            ]
        )
        _text(detail.cell(row=detail.max_row, column=5))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), len(rows)
