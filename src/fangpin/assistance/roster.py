"""The monitoring roster (监测对象台账) as Excel, in the order of the national system's public field list
(docs/assistance.md maps each column). IDs and household numbers are TEXT cells; ID numbers and names are
masked unless the export was approved for revealing (REVEAL_PI + a stated reason, audited)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

from django.db import models
from django.db.models import Prefetch
from django.utils import timezone
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from fangpin.assistance.models import Category, Measure, MeasureStatus
from fangpin.cases import monitoring
from fangpin.cases.models import Case
from fangpin.cases.transitions import State
from fangpin.lib.masking import mask_id_number, mask_name
from fangpin.lib.risks import CATEGORIES, MAX_RISK_TYPES, RISK_TYPES
from fangpin.lib.spreadsheet import Workbook
from fangpin.registry.models import HouseholdType, Membership, Relation

MAX_RISK_COLUMNS = MAX_RISK_TYPES  # 风险类型1…5
CHUNK = 500
# (header, key); headers follow the national system's 监测对象 fields as far as they are public.
COLUMNS: list[tuple[str, str]] = [
    ("县", "county"),
    ("乡镇", "township"),
    ("行政村", "village"),
    ("户编号", "household_no"),
    ("户主姓名", "head_name"),
    ("户主证件号码", "head_id"),
    ("家庭人口数", "members"),
    ("户类型", "household_type"),
    ("监测对象类别", "category"),
    *[(f"风险类型{i}", f"risk_{i}") for i in range(1, MAX_RISK_COLUMNS + 1)],
    ("识别时间", "identified_on"),
    ("是否绿色通道", "green_channel"),
    ("帮扶责任人", "responsible"),
    ("帮扶措施", "measures"),
    ("措施增收（元/年）", "income_gained"),
    ("风险消除状态", "elimination_status"),
    ("风险消除时间", "eliminated_on"),
]
CATEGORY_LABELS = dict(Category.choices)
STATUS_LABELS = dict(MeasureStatus.choices)
TEXT_KEYS = {"household_no", "head_id"}  # never numbers: 3.60722E+17 would lose digits


def roster_cases(cases: models.QuerySet[Case]) -> models.QuerySet[Case]:
    """Every household taken into monitoring and not rejected, eliminated or not (cases.monitoring)."""
    return (
        monitoring.identified(cases)
        .select_related("household", "village__parent__parent", "plan__responsible")
        .prefetch_related(
            Prefetch(
                "household__memberships",
                queryset=Membership.objects.filter(end_date__isnull=True).select_related("person"),
                to_attr="current",
            ),
            Prefetch(
                "plan__measures",
                queryset=Measure.objects.select_related("measure_type").order_by("start_date", "id"),
                to_attr="all_measures",
            ),
            Prefetch(
                "eliminations", queryset=Case.objects.order_by("-opened_at"), to_attr="elimination_cases"
            ),
        )
        .order_by("village_id", "household__household_no", "id")
    )


def _elimination(case: Case) -> tuple[str, str]:
    for elim in getattr(case, "elimination_cases", []):
        if elim.state == State.ELIMINATED:
            when = elim.decided_at
            return "已消除风险", timezone.localtime(when).strftime("%Y-%m-%d") if when else ""
        if elim.state == State.HELD:
            return "暂缓消除（继续监测）", ""
        if elim.state not in (State.REJECTED,):
            return "风险消除程序中", ""
    return "未消除（监测中）", ""


def row(case: Case, *, reveal: bool) -> dict[str, Any]:
    household = case.household
    members = getattr(household, "current", [])
    head = next((m.person for m in members if m.relation == Relation.HEAD), None)
    village = case.village
    township = village.parent
    county = township.parent if township else None
    plan = getattr(case, "plan", None)
    measures = getattr(plan, "all_measures", []) if plan else []
    gained = sum((m.income_gained for m in measures if m.income_gained is not None), start=0)
    status, eliminated_on = _elimination(case)
    risks = case.risk_type_list()[:MAX_RISK_COLUMNS]
    values: dict[str, Any] = {
        "county": county.name if county else "",
        "township": township.name if township else "",
        "village": village.name,
        "household_no": household.household_no,
        "head_name": (head.name if reveal else mask_name(head.name)) if head else "",
        "head_id": (head.id_number if reveal else mask_id_number(head.id_number)) if head else "",
        "members": len(members),
        "household_type": HouseholdType(household.household_type).label
        if household.household_type in HouseholdType.values
        else household.household_type,
        "category": CATEGORIES.get(case.category, case.category),
        "identified_on": timezone.localtime(case.monitored_at).strftime("%Y-%m-%d")
        if case.monitored_at
        else "",
        "green_channel": "是" if case.green_channel else "否",
        "responsible": _responsible(plan),
        "measures": "；".join(
            f"{m.source_text or CATEGORY_LABELS.get(m.measure_type.category, '') + '-' + m.measure_type.name}"
            f"（{STATUS_LABELS.get(m.status, m.status)}）"
            for m in measures
        ),
        "income_gained": float(gained) if measures else None,
        "elimination_status": status,
        "eliminated_on": eliminated_on,
    }
    for i in range(1, MAX_RISK_COLUMNS + 1):
        code = risks[i - 1] if i <= len(risks) else ""
        values[f"risk_{i}"] = f"{code} {RISK_TYPES.get(code, '')}".strip() if code else ""
    return values


def _responsible(plan: Any) -> str:
    """The cadre's name; for a plan imported from the national 台账 whose cadre matched no user, as written."""
    if plan is None:
        return ""
    if plan.responsible is not None:
        return str(plan.responsible.full_name or plan.responsible.username)
    return str(plan.responsible_name)


def rows(cases: models.QuerySet[Case], *, reveal: bool) -> Iterator[dict[str, Any]]:
    """In chunks, so a county's roster never sits in memory as model objects all at once."""
    ids = list(monitoring.identified(cases).values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK):
        for case in roster_cases(Case.objects.filter(pk__in=ids[start : start + CHUNK])):
            yield row(case, reveal=reveal)


def workbook(
    cases: models.QuerySet[Case],
    *,
    reveal: bool,
    title: str,
    progress: Callable[[int], None] | None = None,
) -> tuple[bytes, int]:
    """The roster as .xlsx bytes and the number of households in it (openpyxl's streaming writer)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("监测对象台账")
    sheet.freeze_panes = "A4"
    for letter, width in (("D", 20), ("F", 22), ("R", 60)):
        sheet.column_dimensions[letter].width = width
    sheet.append([title])
    stamp = timezone.localtime().strftime("%Y-%m-%d %H:%M")
    sheet.append([f"导出时间 {stamp}；证件号码{'为完整号码，注意保密' if reveal else '已脱敏'}"])
    bold = Font(bold=True)
    sheet.append([_cell(sheet, header, font=bold) for header, _ in COLUMNS])
    count = 0
    for values in rows(cases, reveal=reveal):
        sheet.append(
            [
                _cell(sheet, str(values[key]), text=True) if key in TEXT_KEYS else values[key]
                for _, key in COLUMNS
            ]
        )
        count += 1
        if progress and count % 200 == 0:
            progress(count)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), count


def _cell(sheet: Any, value: Any, *, text: bool = False, font: Font | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if text:
        cell.number_format = "@"  # IDs stay text in Excel, never 3.60722E+17
    if font is not None:
        cell.font = font
    return cell
