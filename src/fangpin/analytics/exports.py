"""Monthly reports (Excel workbook; the printable page is a template) and table exports.

Every export goes through the same figures as the pages (`dashboard.py`), so scope and small-cell
suppression apply alike; the household list is masked (names, IDs) and built in the background.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from openpyxl.styles import Font

from fangpin.accounts import scope
from fangpin.accounts.models import User
from fangpin.analytics import dashboard
from fangpin.analytics.indicators import DEFINITIONS
from fangpin.analytics.models import ExportJob
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases import monitoring
from fangpin.cases.models import Case
from fangpin.lib.masking import mask_name
from fangpin.lib.risks import CATEGORIES
from fangpin.lib.spreadsheet import Workbook, csv_writer
from fangpin.regions.models import Region
from fangpin.registry.models import Membership, Relation

TABLES = {
    "children": "下级区划指标",
    "trend": "月度趋势",
    "breakdowns": "分组指标",
    "households": "监测户名单",
}
LARGE_EXPORT_ROWS = 2000  # household lists above this are built in the background


def table(
    name: str, region: Region, month: str, user: User, public: bool = False
) -> tuple[list[str], list[list[Any]]]:
    """(header, rows) of one dashboard table."""
    detail = dashboard.entitled(user, public)
    if name == "children":
        header = ["区划代码", "名称"] + [f.name for f in dashboard.summary(region.prefix, month, detail)]
        rows: list[list[Any]] = [
            [a.prefix, a.name, *[f.number if not f.suppressed else "<5" for f in figures]]
            for a, figures in dashboard.table(dashboard.children(region), month, detail)
        ]
        return header, rows
    if name == "trend":
        data = dashboard.trend(region.prefix, dashboard.months(region.prefix), detail)
        header = ["月份"] + [s["name"] for s in data["series"]]
        rows = [[m] + [s["data"][i] for s in data["series"]] for i, m in enumerate(data["months"])]
        return header, rows
    if name == "breakdowns":
        rows = [
            [title, label, f.name, f.number if not f.suppressed else "<5", f.households]
            for title, items in dashboard.breakdowns(region.prefix, month, detail)
            for label, f in items
        ]
        return ["分组", "类别", "指标", "值", "户数"], rows
    if name == "households":
        return HOUSEHOLD_HEADER, list(household_rows(monitored_cases(user, region)))
    raise KeyError(name)


def monitored_cases(user: User, region: Region) -> QuerySet[Case]:
    """The households on the roster now in a region (a list, not an aggregate: read from the cases, in scope)."""
    return (
        monitoring.monitored(scope.cases(user))
        .filter(village__prefix__startswith=region.prefix)
        .select_related("household", "village")
        .order_by("household__household_no")
    )


HOUSEHOLD_HEADER = ["户编号", "所在村", "户主", "监测类别", "风险类型", "纳入监测时间"]


def household_rows(cases: QuerySet[Case], *, stream: bool = True) -> Iterator[list[Any]]:
    """The list's rows; `stream=False` for one page (a plain query instead of a server-side cursor)."""
    # the heads of household in one query per chunk (not one per row)
    heads = Prefetch(
        "household__memberships",
        queryset=Membership.objects.filter(end_date__isnull=True, relation=Relation.HEAD).select_related(
            "person"
        ),
        to_attr="current_heads",
    )
    with_heads = cases.prefetch_related(heads)
    for case in with_heads.iterator(chunk_size=1000) if stream else with_heads:
        found = case.household.current_heads  # type: ignore[attr-defined]
        head = found[0].person if found else None
        yield [
            case.household.household_no,
            case.village.name,
            mask_name(head.name) if head else "",
            CATEGORIES.get(case.category, case.category),
            case.risk_types.replace(";", "、"),
            timezone.localtime(case.monitored_at).strftime("%Y-%m-%d") if case.monitored_at else "",
        ]


def _sheet(book: Workbook, title: str, header: list[str], rows: list[list[Any]], first: bool = False) -> None:
    sheet = book.active if first else book.create_sheet()
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for column in sheet.iter_cols(min_col=1, max_col=1, min_row=2):
        for cell in column:
            cell.number_format = "@"  # region codes and household numbers stay text in Excel
    sheet.freeze_panes = "A2"


def report_workbook(region: Region, month: str, user: User, public: bool = False) -> bytes:
    """The monthly report of a county / township: summary, areas below, breakdowns, trend, definitions."""
    detail = dashboard.entitled(user, public)
    book = Workbook()
    figures = dashboard.summary(region.prefix, month, detail)
    _sheet(
        book,
        "概况",
        ["指标", "值", "单位", "涉及户数", "报道参照"],
        [[f.name, f.number if not f.suppressed else "<5", f.unit, f.households, f.seed] for f in figures],
        first=True,
    )
    for name in ("children", "breakdowns", "trend"):
        header, rows = table(name, region, month, user, public)
        _sheet(book, TABLES[name], header, rows)
    notes = [
        ["区划", f"{region.full_name or region.name}（{region.prefix}）"],
        ["月份", month],
        ["生成时间", timezone.localtime().strftime("%Y-%m-%d %H:%M")],
        [
            "小数值保护",
            "不足 5 户的格子显示为 <5" + ("（对外发布版：全部保护）" if public else "（无权查看明细时）"),
        ],
    ] + [[d.name, d.code] for d in DEFINITIONS.values()]
    _sheet(book, "说明", ["项目", "内容"], notes)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 CSV correctly


def xlsx_bytes(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    _sheet(book, title[:31], header, rows, first=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_dir() -> Path:
    path = Path(settings.FANGPIN_HOME) / "exports" / "analytics"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_export_job(job_id: int) -> str:
    """Build a household list in the background, recording progress on the job (polled by the page)."""
    job = ExportJob.objects.select_related("user", "region").get(pk=job_id)
    job.status = ExportJob.Status.RUNNING
    cases = monitored_cases(job.user, job.region)
    job.total = cases.count()
    job.save(update_fields=["status", "total"])
    try:
        book = Workbook(write_only=True)
        sheet = book.create_sheet(TABLES["households"])
        sheet.append(HOUSEHOLD_HEADER)
        for i, row in enumerate(household_rows(cases), 1):
            sheet.append(row)
            if i % 500 == 0:
                ExportJob.objects.filter(pk=job.pk).update(done=i)
        name = f"analytics-{job.pk}.xlsx"
        book.save(export_dir() / name)
    except Exception as exc:
        job.status, job.error = ExportJob.Status.FAILED, str(exc)[:500]
        job.save(update_fields=["status", "error"])
        raise
    job.status, job.done, job.file_name, job.finished_at = (
        ExportJob.Status.DONE,
        job.total,
        name,
        timezone.now(),
    )
    job.save(update_fields=["status", "done", "file_name", "finished_at"])
    record(
        Event.ANALYTICS_EXPORTED,
        actor=job.user,
        object_type="region",
        object_id=job.region_id,
        data={"table": job.kind, "rows": job.total, "job": job.pk},
    )
    return job.status
