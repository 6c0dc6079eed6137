"""监测分析: dashboards (map, trends, funnel, deadlines), drill-down, regional-risk alerts, reports, exports.

Every page reads the Indicator table (dashboard.py) except the household list at the bottom of a drill-down,
which is a scoped list of cases. Regions and alerts come through accounts/scope (out of scope → 404).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.analytics import actions as analytics_actions
from fangpin.analytics import dashboard, exports
from fangpin.analytics import model_health as health
from fangpin.analytics.indicators import DEFINITIONS
from fangpin.analytics.models import ExportJob, RegionalAlert
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.lib.periods import is_period
from fangpin.privacy import actions as privacy
from fangpin.privacy.models import ExportKind, ExportRequest
from fangpin.regions.models import Region


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _region(request: HttpRequest, prefix: str) -> Region:
    return scope.get_or_404(_user(request), Region, prefix=prefix)


def _month(request: HttpRequest, region: Region) -> tuple[str, list[str]]:
    available = dashboard.months(region.prefix)
    wanted = request.GET.get("month", "")
    if is_period(wanted):
        return wanted, available
    return (available[0] if available else ""), available


@requires(Can.VIEW_ANALYTICS)
def home(request: HttpRequest) -> HttpResponse:
    return redirect("analytics:dashboard", prefix=_user(request).region_id)


@requires(Can.VIEW_ANALYTICS)
def region_dashboard(request: HttpRequest, prefix: str) -> HttpResponse:
    user = _user(request)
    region = _region(request, prefix)
    month, available = _month(request, region)
    detail = dashboard.entitled(user)
    code = request.GET.get("indicator", "monitored_households")
    if code not in dashboard.MAP_CHOICES:
        code = "monitored_households"

    def compute() -> dict[str, Any]:
        areas = dashboard.map_areas(region)
        kids = dashboard.children(region)
        return {
            "summary": dashboard.summary(region.prefix, month, detail) if month else [],
            "breakdowns": dashboard.breakdowns(region.prefix, month, detail) if month else [],
            "children": dashboard.table(kids, month, detail) if month else [],
            "chart": {
                "level": region.level,
                "region": region.prefix,
                "mapLevel": dashboard.MAP_LEVEL.get(region.level, ""),
                "indicator": DEFINITIONS[code].name,
                "unit": DEFINITIONS[code].unit,
                "areas": dashboard.map_values(areas, month, code, detail) if month else [],
                "trend": dashboard.trend(region.prefix, available, detail),
                "deadline": dashboard.map_values(kids, month, "within_deadline_share", detail)
                if month
                else [],
                "drill": reverse("analytics:dashboard", args=["PREFIX"]),
            },
        }

    province = region.prefix[:2]
    version = dashboard.cache_version()
    context = {
        "region": region,
        "ancestors": [a for a in region.ancestors() if a.prefix.startswith(user.region_id)],
        "month": month,
        "months": available,
        "indicator": code,
        "map_choices": [(c, DEFINITIONS[c].name) for c in dashboard.MAP_CHOICES],
        "cache_version": version,
        "detail": detail,
        # read only when the rendered body is not cached itself (the template's {% cache %} fragment)
        "page": SimpleLazyObject(
            lambda: dashboard.cached(("dashboard", region.prefix, month, code, detail), compute, version)
        ),
        "geo_url": f"fangpin/geo/{province}.json",
        "points_url": f"fangpin/geo/{province}-points.json",
        "alerts": scope.regional_alerts(user).filter(county__startswith=region.prefix[:6])[:5]
        if len(region.prefix) >= 6
        else scope.regional_alerts(user).filter(county__startswith=region.prefix)[:5],
    }
    return render(request, "analytics/dashboard.html", context)


@requires(Can.VIEW_ANALYTICS)
def households(request: HttpRequest, prefix: str) -> HttpResponse:
    """The bottom of the drill-down: the monitored households of a village / township (masked, in scope)."""
    user = _user(request)
    region = _region(request, prefix)
    if region.level not in ("township", "village"):
        raise Http404("户名单只在乡镇、村一级查看")
    cases = exports.monitored_cases(user, region)
    # paginate the keys only, then read the page's rows (with their heads of household) in one go
    page = Paginator(cases.values_list("pk", flat=True), 50).get_page(request.GET.get("page"))
    rows = list(exports.household_rows(cases.filter(pk__in=list(page.object_list)), stream=False))
    record(
        Event.HOUSEHOLD_LIST_VIEWED,
        actor=user,
        object_type="region",
        object_id=region.prefix,
        data={"rows": len(rows), "page": page.number},
    )
    return render(
        request,
        "analytics/households.html",
        {
            "region": region,
            "rows": rows,
            "page": page,
            "header": exports.HOUSEHOLD_HEADER,
            "large": page.paginator.count > exports.LARGE_EXPORT_ROWS
            or privacy.needs_approval(page.paginator.count),
        },
    )


@requires(Can.VIEW_ANALYTICS)
def report(request: HttpRequest, prefix: str) -> HttpResponse:
    """The printable monthly report (Ctrl+P); ?public=1 is the publication version (all small cells hidden)."""
    user = _user(request)
    region = _region(request, prefix)
    month, available = _month(request, region)
    public = request.GET.get("public") == "1"
    detail = dashboard.entitled(user, public)

    def compute() -> dict[str, Any]:
        summary = dashboard.summary(region.prefix, month, detail)
        return {
            "summary": summary,
            "children": dashboard.table(dashboard.children(region), month, detail),
            "breakdowns": dashboard.breakdowns(region.prefix, month, detail),
            "names": [f.name for f in summary],
        }

    context = {"region": region, "month": month, "months": available, "public": public}
    context.update(dashboard.cached(("report", region.prefix, month, detail), compute))
    return render(request, "analytics/report.html", context)


@requires(Can.VIEW_ANALYTICS)
def model_health(request: HttpRequest, prefix: str) -> HttpResponse:
    """模型健康卡: predicted vs confirmed per month in the region, the active model, drift."""
    region = _region(request, prefix)
    return render(request, "analytics/model_health.html", {"region": region, "card": health.card(region)})


def _download(data: bytes, name: str, content_type: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "privacy/refused.html", {"message": message}, status=status)


@requires(Can.VIEW_ANALYTICS)
def report_xlsx(request: HttpRequest, prefix: str) -> HttpResponse:
    user = _user(request)
    region = _region(request, prefix)
    month, _ = _month(request, region)
    public = request.GET.get("public") == "1"
    try:
        purpose = privacy.purpose_from(request.GET)
    except privacy.PrivacyError as exc:
        return _refused(request, str(exc))
    data = exports.report_workbook(region, month, user, public)
    record(
        Event.ANALYTICS_EXPORTED,
        actor=user,
        object_type="region",
        object_id=region.prefix,
        reason=purpose.note,
        data={"table": "report", "month": month, "public": public, **purpose.audit_data()},
    )
    return _download(data, f"monthly-report-{region.prefix}-{month}.xlsx", XLSX)


@requires(Can.VIEW_ANALYTICS)
def table_export(request: HttpRequest, prefix: str, name: str, fmt: str) -> HttpResponse:
    user = _user(request)
    region = _region(request, prefix)
    if name not in exports.TABLES or fmt not in ("csv", "xlsx"):
        raise Http404("没有这个表格")
    try:
        purpose = privacy.purpose_from(request.GET)
    except privacy.PrivacyError as exc:
        return _refused(request, str(exc))
    if name == "households":
        if region.level not in ("township", "village"):
            raise Http404("户名单只在乡镇、村一级导出")
        rows_in_list = exports.monitored_cases(user, region).count()
        if rows_in_list > exports.LARGE_EXPORT_ROWS or privacy.needs_approval(rows_in_list):
            # large or needing approval: the background job (a POST), which asks for the approval
            messages.info(request, "名单较大，请使用后台导出（超过审批门槛时须经他人审批）")
            return redirect("analytics:households", prefix=region.prefix)
    month, _ = _month(request, region)
    header, rows = exports.table(name, region, month, user, request.GET.get("public") == "1")
    record(
        Event.ANALYTICS_EXPORTED,
        actor=user,
        object_type="region",
        object_id=region.prefix,
        reason=purpose.note,
        data={"table": name, "month": month, "rows": len(rows), "format": fmt, **purpose.audit_data()},
    )
    file_name = f"{name}-{region.prefix}-{month or 'all'}.{fmt}"
    if fmt == "csv":
        return _download(exports.csv_bytes(header, rows), file_name, "text/csv; charset=utf-8")
    return _download(exports.xlsx_bytes(exports.TABLES[name], header, rows), file_name, XLSX)


@requires(Can.VIEW_ANALYTICS)
@require_POST
def export_start(request: HttpRequest, prefix: str) -> HttpResponse:
    user = _user(request)
    region = _region(request, prefix)
    if region.level not in ("township", "village", "county"):
        raise Http404("户名单导出只在县、乡镇、村一级")
    try:
        purpose = privacy.purpose_from(request.POST)
    except privacy.PrivacyError as exc:
        return _refused(request, str(exc))
    started = analytics_actions.start_household_export(user, region, purpose)
    if isinstance(started, ExportRequest):
        messages.info(request, f"导出 {started.rows} 户超过审批门槛，已提交审批，批准后可生成并下载一次")
        return redirect("privacy:export_request_detail", started.pk)
    return redirect("analytics:export_status", pk=started.pk)


@requires(Can.VIEW_ANALYTICS)
def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    job = scope.get_or_404(_user(request), ExportJob, pk=pk)
    template = (
        "analytics/_export_progress.html" if request.headers.get("HX-Request") else "analytics/export.html"
    )
    return render(request, template, {"job": job})


@requires(Can.VIEW_ANALYTICS)
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    job = scope.get_or_404(user, ExportJob, pk=pk)
    if job.status != ExportJob.Status.DONE or not job.file_name:
        raise Http404("导出尚未完成")
    path = exports.export_dir() / job.file_name
    if not path.exists():
        raise Http404("文件已清理，请重新导出")
    try:
        privacy.claim_download(ExportKind.HOUSEHOLDS, job.pk, actor=user)
    except privacy.PrivacyError as exc:
        return _refused(request, str(exc), status=403)
    # small files (a county's roster is a few MB): read whole, so the view keeps the HttpResponse contract
    return _download(path.read_bytes(), f"households-{job.region_id}.xlsx", XLSX)


@requires(Can.VIEW_ANALYTICS)
def alerts(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    rows = list(scope.regional_alerts(user).order_by("-as_of", "p_value")[:100])
    names = dict(
        Region.objects.filter(
            prefix__in={v for a in rows for v in a.villages} | {a.centre for a in rows}
        ).values_list("prefix", "name")
    )
    items = [
        {
            "alert": a,
            "village_names": [names.get(v, v) for v in a.villages],
            "centre_name": names.get(a.centre, a.centre),
        }
        for a in rows
    ]
    chart = [{"id": a.pk, "villages": a.villages, "rr": round(a.relative_risk, 1)} for a in rows]
    province = user.region_id[:2]
    return render(
        request,
        "analytics/alerts.html",
        {
            "items": items,
            "chart": chart,
            "geo_url": f"fangpin/geo/{province}.json",
            "points_url": f"fangpin/geo/{province}-points.json",
            "region": user.region,
        },
    )


@requires(Can.VIEW_ANALYTICS)
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    alert = scope.get_or_404(user, RegionalAlert, pk=pk)
    # only the households the viewer may see are listed (an alert can reach into a neighbouring township)
    visible = sorted(
        scope.households(user).filter(household_no__in=alert.households).values_list("household_no", "pk")
    )
    names = dict(Region.objects.filter(prefix__in=alert.villages).values_list("prefix", "name"))
    return render(
        request,
        "analytics/alert_detail.html",
        {
            "alert": alert,
            "villages": [(v, names.get(v, v)) for v in alert.villages],
            "households": visible,
            "hidden": len(alert.households) - len(visible),
        },
    )
