"""Reading a county's 监测对象台账 (the national 防返贫监测信息系统's export) as counties have it in Excel:
title rows above the header, text or number cells, dates as dates or text, ID numbers masked or full. The
columns are those fangpin's own roster export writes (roster.COLUMNS), found by their header, in any order.
Each row is parsed on its own; a bad row gets a Chinese reason and its row number as Excel shows it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils import timezone
from openpyxl import load_workbook

from fangpin.assistance.models import Category
from fangpin.assistance.roster import COLUMNS, MAX_RISK_COLUMNS
from fangpin.lib.risks import CATEGORIES, RISK_TYPES

REQUIRED = ("户编号", "监测对象类别", "识别时间")
HEADER_SEARCH_ROWS = 20
EARLIEST = dt.date(2020, 1, 1)  # the monitoring mechanism (防止返贫监测和帮扶机制) dates from March 2020
EXCEL_EPOCH = dt.date(1899, 12, 30)
_MASKED_ID = re.compile(r"^(\d{6})\*+(\d{3}[\dXx])$")
_FULL_ID = re.compile(r"^\d{17}[\dXx]$")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_STATUS = re.compile(r"[（(](?P<status>[^（）()]*)[）)]\s*$")
CATEGORY_CODES = {**{k: k for k in CATEGORIES}, **{v: k for k, v in CATEGORIES.items()}}
RISK_CODES = {**{k: k for k in RISK_TYPES}, **{v: k for k, v in RISK_TYPES.items()}}
ELIMINATION = {
    "": "monitored",
    "未消除（监测中）": "monitored",
    "未消除": "monitored",
    "监测中": "monitored",
    "风险消除程序中": "monitored",  # the national procedure is not carried over: fangpin starts its own
    "已消除风险": "eliminated",
    "风险已消除": "eliminated",
    "已消除": "eliminated",
    "暂缓消除（继续监测）": "held",
    "暂缓消除": "held",
}
MEASURE_STATUS = {"": "active", "计划": "planned", "实施中": "active", "已完成": "done", "已终止": "stopped"}
HEADER_KEYS = {header: key for header, key in COLUMNS}
CATEGORY_LABELS = {label for _, label in Category.choices}


class LedgerError(ValueError):
    """The file as a whole cannot be read (the message names the fix)."""


@dataclass
class MeasureText:
    category: str  # the label as written (产业帮扶), may be empty
    name: str
    status: str  # a MeasureStatus value

    @property
    def text(self) -> str:
        return f"{self.category}-{self.name}" if self.category else self.name


@dataclass
class LedgerRow:
    row: int  # as Excel shows it
    household_no: str
    head_id: str = ""  # as written: masked or full
    head_name: str = ""
    category: str = ""
    risk_types: list[str] = field(default_factory=list)
    identified_on: dt.date | None = None
    green_channel: bool = False
    responsible: str = ""
    measures: list[MeasureText] = field(default_factory=list)
    income_gained: float | None = None
    state: str = "monitored"  # monitored | eliminated | held
    eliminated_on: dt.date | None = None
    original: dict[str, str] = field(default_factory=dict)  # every column as text, for the case record


@dataclass
class Rejected:
    row: int
    household_no: str
    reason: str


def _text(value: Any) -> str:
    """A cell as text: numbers without '.0', so 户编号 typed as a number stays the same digits."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def parse_date(value: Any) -> dt.date | None:
    """A date cell, an Excel serial number, or text (2023-05-12, 2023/5/12, 2023年5月12日, 20230512)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and 20_000 < value < 80_000:
        return EXCEL_EPOCH + dt.timedelta(days=int(value))
    text = _text(value)
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    found = _DATE.match(text)
    if not found:
        raise ValueError(text)
    return dt.date(int(found[1]), int(found[2]), int(found[3]))


def _risk(text: str) -> str:
    """ "01 因病", "01", "1" or "因病" → "01"."""
    code = text.split()[0] if text.split() else ""
    if code.isdigit():
        code = code.zfill(2)
    found = RISK_CODES.get(code) or RISK_CODES.get(text.split()[-1] if text.split() else "")
    if not found:
        raise ValueError(text)
    return found


def parse_measures(text: str) -> list[MeasureText]:
    """`类别-名称（状态）；…` as the roster export writes it; a name may hold parentheses of its own
    (学生资助（助学金、免学费、生活补助）), so only a last one naming a status is the status."""
    out = []
    for raw in re.split(r"[；;\n]+", text):
        item = raw.strip()
        if not item:
            continue
        status = ""
        last = _STATUS.search(item)
        if last and last["status"].strip() in MEASURE_STATUS:
            status, item = last["status"].strip(), item[: last.start()].strip()
        parts = re.split(r"\s*[-－]\s*", item, maxsplit=1)
        category, name = (
            (parts[0], parts[1]) if len(parts) == 2 and parts[0] in CATEGORY_LABELS else ("", item)
        )
        if not name:
            raise ValueError(item)
        out.append(MeasureText(category, name, MEASURE_STATUS[status]))
    return out


def _header(rows: list[tuple[Any, ...]]) -> tuple[int, dict[str, int]]:
    for index, values in enumerate(rows):
        cells = {_text(v): i for i, v in enumerate(values) if _text(v)}
        if all(name in cells for name in REQUIRED):
            unknown = {h: i for h, i in cells.items() if h in HEADER_KEYS}
            return index, {HEADER_KEYS[h]: i for h, i in unknown.items()}
    raise LedgerError(
        f"前 {HEADER_SEARCH_ROWS} 行中找不到表头（须含“{'”“'.join(REQUIRED)}”列）：请使用全国防返贫监测信息系统"
        "导出的监测对象台账，列名与本系统台账导出一致"
    )


def read(path: Path) -> tuple[list[LedgerRow], list[Rejected], int]:
    """The rows of the first sheet: (parsed rows, rejected rows, data rows read)."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise LedgerError(f"无法读取 Excel 文件（请上传 .xlsx 格式）：{type(exc).__name__}") from exc
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # files from other tools (WPS, the national system) often state them wrong
        values = iter(sheet.iter_rows(values_only=True))
        head = [next(values, ()) for _ in range(HEADER_SEARCH_ROWS)]
        index, columns = _header(head)
        data = [*head[index + 1 :], *values]
    finally:
        book.close()
    parsed, rejected, read_rows = [], [], 0
    for excel_row, cells in _numbered(data, first=index + 2):
        read_rows += 1
        raw = {key: cells[i] if i < len(cells) else None for key, i in columns.items()}
        try:
            parsed.append(parse_row(excel_row, raw))
        except ValueError as exc:
            rejected.append(Rejected(excel_row, _text(raw.get("household_no")), str(exc)))
    return parsed, rejected, read_rows


def _numbered(rows: list[tuple[Any, ...]], *, first: int) -> Iterator[tuple[int, tuple[Any, ...]]]:
    for offset, cells in enumerate(rows):
        if any(_text(v) for v in cells):  # blank rows (and trailing formatting) are not data
            yield first + offset, cells


def parse_row(excel_row: int, raw: dict[str, Any]) -> LedgerRow:
    """One row, or ValueError with the Chinese reason."""
    text = {k: _text(v) for k, v in raw.items()}
    number = text.get("household_no", "")
    if not number:
        raise ValueError("户编号为空")
    if not number.isdigit():
        raise ValueError(f"户编号“{number}”应为数字")
    head_id = text.get("head_id", "").upper()
    if head_id and not (_FULL_ID.match(head_id) or _MASKED_ID.match(head_id)):
        raise ValueError(f"户主证件号码“{head_id}”格式不对（应为 18 位或脱敏的 前6位****后4位）")
    category = CATEGORY_CODES.get(text.get("category", ""))
    if category is None:
        raise ValueError(
            f"监测对象类别“{text.get('category', '')}”应为 脱贫不稳定户、边缘易致贫户 或 突发严重困难户"
        )
    risks = []
    for i in range(1, MAX_RISK_COLUMNS + 1):
        value = text.get(f"risk_{i}", "")
        if value:
            try:
                risks.append(_risk(value))
            except ValueError:
                raise ValueError(f"风险类型{i}“{value}”不是已知的风险类型（如 01 因病）") from None
    if not risks:
        raise ValueError("至少须有一项风险类型")
    identified = _date(raw.get("identified_on"), "识别时间", required=True)
    state = ELIMINATION.get(text.get("elimination_status", ""))
    if state is None:
        raise ValueError(
            f"风险消除状态“{text.get('elimination_status')}”应为 已消除风险、未消除（监测中）或 暂缓消除（继续监测）"
        )
    eliminated = _date(raw.get("eliminated_on"), "风险消除时间", required=state == "eliminated")
    if eliminated and state != "eliminated":
        raise ValueError("填写了风险消除时间，但风险消除状态不是“已消除风险”")
    if eliminated and identified and eliminated < identified:
        raise ValueError("风险消除时间早于识别时间")
    try:
        measures = parse_measures(text.get("measures", ""))
    except ValueError as exc:
        raise ValueError(f"帮扶措施无法识别：{exc}") from None
    income = text.get("income_gained", "")
    try:
        gained = float(income) if income else None
    except ValueError:
        raise ValueError(f"措施增收“{income}”应为数字") from None
    if gained is not None and gained < 0:
        raise ValueError("措施增收不能为负数")
    green = text.get("green_channel", "")
    if green not in ("", "是", "否"):
        raise ValueError(f"是否绿色通道“{green}”应为 是 或 否")
    return LedgerRow(
        row=excel_row,
        household_no=number,
        head_id=head_id,
        head_name=text.get("head_name", ""),
        category=category,
        risk_types=list(dict.fromkeys(risks)),
        identified_on=identified,
        green_channel=green == "是",
        responsible=text.get("responsible", ""),
        measures=measures,
        income_gained=gained,
        state=state,
        eliminated_on=eliminated,
        original={k: v for k, v in text.items() if v},
    )


def _date(value: Any, label: str, *, required: bool) -> dt.date | None:
    try:
        found = parse_date(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{label}“{_text(value)}”不是日期（如 2023-05-12）") from None
    if found is None:
        if required:
            raise ValueError(f"{label}为空")
        return None
    if found < EARLIEST:
        raise ValueError(f"{label} {found} 早于 2020 年（防返贫监测机制建立于 2020 年）")
    if found > timezone.localdate():
        raise ValueError(f"{label} {found} 晚于今天")
    return found
