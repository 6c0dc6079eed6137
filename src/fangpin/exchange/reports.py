"""The per-delivery report (read = accepted + rejected, reasons, the quarantined rows) as pages and Excel,
the rejected rows as a workbook to correct and upload again, and a blank template per dataset."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, sheet_row
from fangpin.lib.masking import mask_id_number, mask_name
from fangpin.lib.spreadsheet import Workbook
from fangpin.pipeline.catalog import Dataset, Field, bilingual

SAMPLE_LIMIT = 100
SHOWN_CHARS = 200  # of a raw value on a page or in the report (a 100 KB string stays in the quarantine)
# The correction workbook: its first column is the row in the delivered file, its properties name the
# delivery; an upload of it is recognised by both (corrections.py).
CORRECTION_ROW = "原文件行号"
CORRECTION_REASON = "拒收原因（上传时忽略）"
CORRECTION_MARK = "fangpin-correction:"
TEMPLATE_ROWS = 5000  # rows of the template that carry the drop-down lists


def mask_for(f: Field) -> Callable[[str | None], str] | None:
    """How a field's value is masked outside the lake (SECURITY.md PI-03): IDs and person names."""
    if f.type == "id":
        return mask_id_number
    if f.name == "name":
        return mask_name
    return None


_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def shown(value: Any) -> str | None:
    """A raw value as a page may show it: control characters visible as \\uXXXX (a U+202E would turn the
    row round on screen), long values cut."""
    if value is None:
        return None
    text = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"…（共{len(text)}字）"


def quarantine_rows(delivery: Delivery, limit: int | None = SAMPLE_LIMIT) -> list[dict[str, Any]]:
    """The delivery's rejected rows with their reason; IDs and names masked (the lake keeps them as given).
    `line` is the row as Excel shows it (header = row 1); `keys` the record key's values, masked too."""
    if not delivery.lake_delivery_id or not delivery.rejected:
        return []
    try:
        table = actions.lake().quarantine(delivery.lake_delivery_id)
    except FileNotFoundError:  # purged after its retention period (privacy/retention.py)
        return []
    if limit is not None:
        table = table.slice(0, limit)
    spec = actions.active_catalog().datasets.get(delivery.dataset)
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        row["line"] = sheet_row(row.pop("_row"))  # (templates cannot read names starting with "_")
        field = spec.field(row["field"]) if spec and row.get("field") in spec.field_names else None
        mask = mask_for(field) if field else None
        if mask and row.get("raw_value"):
            row["raw_value"] = mask(str(row["raw_value"]))
        row["raw_value"] = shown(row.get("raw_value"))
        row["keys"] = [shown(_masked(spec.field(k), row.get(k))) for k in record_key(spec)] if spec else []
    return rows


def record_key(spec: Dataset) -> tuple[str, ...]:
    """The fields a rejected row is found by: the catalog key, else the ID and the first date."""
    if spec.key_fields:
        return spec.key_fields
    first_date = next((f.name for f in spec.fields if f.type == "date"), None)
    return tuple(n for n in (spec.id_field, first_date) if n)


def _masked(f: Field, value: Any) -> Any:
    mask = mask_for(f)
    return mask(str(value)) if mask and value not in (None, "") else value


def reason_messages(rows: list[dict[str, Any]]) -> dict[str, str]:
    """One Chinese explanation per reason code, as the validator worded it."""
    messages: dict[str, str] = {}
    for row in rows:
        messages.setdefault(row["reason_code"], row["message_zh"])
    return messages


def _text(cell: Cell) -> None:
    cell.number_format = "@"  # IDs and codes stay text in Excel, never 3.60722E+17


def _put_text(ws: Worksheet, row: int, column: int, value: Any) -> None:
    """A delivered value as a text cell: never a formula (a department's `=HYPERLINK(…)` stays text)."""
    cell = ws.cell(row=row, column=column, value=None if value is None else str(value))
    if value is not None:
        cell.data_type = "s"
    _text(cell)


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
        ("状态", delivery.outcome_label),
        ("读取行数", delivery.read),
        ("入库行数", delivery.accepted),
        ("拒收行数", delivery.rejected),
        ("重复事件（未重复入库）", delivery.duplicates),
        ("代码以中文名称填写、已转换（行）", delivery.normalized_rows),
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
    spec = actions.active_catalog().datasets.get(delivery.dataset)
    keys = [spec.field(k) for k in record_key(spec)] if spec else []
    detail.append(
        ["Excel行号", "字段", "原因代码", "说明", "原值（已脱敏）"] + [f"{f.zh}（记录键）" for f in keys]
    )
    for row in rows:
        line = detail.max_row + 1
        detail.cell(row=line, column=1, value=row.get("line"))
        for column, value in enumerate(
            [
                row.get("field"),
                row.get("reason_code"),
                row.get("message_zh"),
                row.get("raw_value"),
                *row["keys"],
            ],
            start=2,
        ):
            _put_text(detail, line, column, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), len(rows)


def correction_workbook(delivery: Delivery) -> tuple[bytes, int]:
    """The rejected rows to correct and upload again: one row each with its Excel row in the delivered
    file, the reason, and every field as delivered (IDs and names masked: a masked value left unchanged
    is restored from the quarantine on upload). Returns the bytes and the rows exported."""
    spec = actions.active_catalog().datasets.get(delivery.dataset)
    fields = spec.fields if spec else []  # (a dataset the catalog in force no longer has: rows only)
    rows = quarantine_rows(delivery, None)
    raw = actions.lake().quarantine(delivery.lake_delivery_id).to_pylist() if rows else []
    book = Workbook()
    sheet = book.active
    sheet.title = "更正后重新上传"
    book.properties.identifier = f"{CORRECTION_MARK}{delivery.pk}"
    sheet.append([CORRECTION_ROW, CORRECTION_REASON] + [bilingual(f) for f in fields])
    for row, original in zip(rows, raw, strict=True):
        line = sheet.max_row + 1
        sheet.cell(row=line, column=1, value=row["line"])
        _put_text(sheet, line, 2, row["message_zh"])
        for column, f in enumerate(fields, start=3):
            _put_text(sheet, line, column, _masked(f, original.get(f.name)))
    _header_style(sheet)
    notes = book.create_sheet("说明")
    for text in [
        f"交付 #{delivery.pk}：{spec.zh if spec else ''}（{delivery.dataset}），期次 {delivery.period}，文件 {delivery.file_name}",
        "在第一张表中改正各行的值后，在“上传交付”页面选择同一数据集和期次上传本文件。",
        "已脱敏的身份号码和姓名如未改动，系统按原交付的值导入；需要更正时请填写完整的值。",
        "“原文件行号”请勿修改；改正后仍有问题的行会再次列入拒收明细。",
        "快照类数据：系统以原交付已入库的行加上更正的行作为该期的完整快照；事件类数据：已入库的事件不会重复入库。",
    ]:
        notes.append([text])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), len(rows)


def template_workbook(spec: Dataset) -> bytes:
    """A blank file for one dataset: two-language headers, code lists as drop-downs, a sheet describing
    every field (type, required, range, codes)."""
    book = Workbook()
    sheet = book.active
    sheet.title = spec.zh[:31]
    sheet.append([bilingual(f) for f in spec.fields])
    for column, f in enumerate(spec.fields, start=1):
        letter = sheet.cell(row=1, column=column).column_letter
        sheet.cell(row=1, column=column).comment = Comment(describe(spec, f), "fangpin")
        choices = (
            list((f.values or {}).values()) if f.type == "enum" else ["是", "否"] if f.type == "bool" else []
        )
        if choices:
            check = DataValidation(
                type="list", formula1='"' + ",".join(choices) + '"', allow_blank=f.nullable
            )
            check.error, check.errorTitle = "请从下拉列表中选择", spec.zh
            check.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
            sheet.add_data_validation(check)
        if f.type in ("id", "str", "enum"):  # text columns keep leading zeros and all 18 digits of an ID
            sheet.column_dimensions[letter].number_format = "@"
    _header_style(sheet)
    fields = book.create_sheet("字段说明")
    fields.append(["中文表头", "英文表头", "类型", "必填", "说明（范围、代码表）"])
    for f in spec.fields:
        fields.append([f.zh, f.name, TYPE_ZH[f.type], "否" if f.nullable else "是", describe(spec, f)])
    _header_style(fields)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


TYPE_ZH = {
    "id": "身份号码（18位，文本）",
    "str": "文本",
    "enum": "代码",
    "date": "日期 YYYY-MM-DD",
    "money": "金额（元，最多两位小数）",
    "int": "整数",
    "float": "数值",
    "bool": "是/否",
}


def describe(spec: Dataset, f: Field) -> str:
    """One line on what a field accepts, from the catalog."""
    parts = [f"{f.zh}（{f.name}）：{TYPE_ZH[f.type]}", "可为空" if f.nullable else "必填"]
    if f.values:
        parts.append(
            "可选：" + "、".join(f"{code}={zh}" for code, zh in f.values.items()) + "（代码或中文名称均可）"
        )
    if f.range is not None:
        parts.append(f"范围 {_num(f.range[0])}～{_num(f.range[1])}")
    if f.not_above:
        parts.append(f"不大于{spec.field(f.not_above).zh}")
    if f.type == "date":
        ahead = f"交付期末后{f.years_ahead}年" if f.years_ahead else "交付期次的月末"
        parts.append(f"不早于 {f.min_date.isoformat()}，不晚于{ahead}")
    if f.max_length:
        parts.append(f"最多{f.max_length}个字")
    if f.key:
        parts.append("主键")
    return "；".join(parts)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _header_style(sheet: Worksheet) -> None:
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
