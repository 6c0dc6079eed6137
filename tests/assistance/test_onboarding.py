"""Day one of a county: its existing 监测对象台账 imported as cases in their current state (rejected rows
with reasons, idempotent, scoped), and the monthly reconciliation with the agriculture roster."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import Workbook
from tests.conftest import VILLAGE_A, make_household

from fangpin.accounts import scope
from fangpin.assistance import onboarding, roster
from fangpin.assistance.actions import AssistanceError
from fangpin.assistance.models import Discrepancy, RosterImport
from fangpin.cases.models import Case, CaseStep
from fangpin.cases.monitoring import monitored_households
from fangpin.regions.models import Region
from fangpin.registry.models import Household

HEADERS = [h for h, _ in roster.COLUMNS]


def _row(**values: object) -> list[object]:
    keys = [k for _, k in roster.COLUMNS]
    return [values.get(k) for k in keys]


@pytest.fixture
def ledger_rows(world, monitored) -> list[list[object]]:
    """An odd 台账 as counties have it: a household number as a number, a masked and a full ID, a date as
    text, a category written as its label, an unknown household, a duplicate, another county's household,
    a bad category, and a household fangpin already monitors."""
    own, sibling, other = (world.households[k] for k in ("own", "sibling", "other"))
    third = make_household(f"{VILLAGE_A}0003", VILLAGE_A, [("曾春生", "01", dt.date(1970, 1, 1), True)])
    monitored_by_fangpin = make_household(
        f"{VILLAGE_A}0004", VILLAGE_A, [("钟秀英", "01", dt.date(1966, 2, 3), False)]
    )
    case = monitored()
    case.household = monitored_by_fangpin
    case.save()
    own_id = world.persons["own"].id_number
    return [
        _row(  # row 4
            county="信丰县",
            township="嘉定镇",
            village="水东村委会",
            household_no=own.household_no,
            head_name="肖*香",
            head_id=f"{own_id[:6]}********{own_id[-4:]}",
            members=2,
            household_type="脱贫户",
            category="边缘易致贫户",
            risk_1="01 因病",
            risk_2="07 务工就业不稳",
            identified_on=dt.datetime(2023, 3, 15),
            green_channel="否",
            responsible="刘建国",
            measures="产业帮扶-到户产业奖补（实施中）；医疗救助-大病专项救治（已完成）；其他-村里自办的帮扶（计划）；"
            "教育资助-学生资助（助学金、免学费、生活补助）（实施中）",
            income_gained=1200,
            elimination_status="未消除（监测中）",
        ),
        _row(  # row 5: the number typed as a number, a full ID, the date as text, eliminated
            household_no=int(sibling.household_no),
            head_id=world.persons["sibling"].id_number,
            category="脱贫不稳定户",
            risk_1="07",
            identified_on="2022年5月12日",
            responsible="不认识的人",
            measures="就业帮扶-乡村公益性岗位（已完成）",
            elimination_status="已消除风险",
            eliminated_on="2024/6/30",
        ),
        _row(household_no="360722100200999", category="marginal", risk_1="01", identified_on="2023-01-01"),
        _row(household_no=own.household_no, category="marginal", risk_1="01", identified_on="2023-01-01"),
        _row(household_no=other.household_no, category="marginal", risk_1="01", identified_on="2023-01-01"),
        _row(household_no=third.household_no, category="一般户", risk_1="01", identified_on="2023-01-01"),
        _row(
            household_no=monitored_by_fangpin.household_no,
            category="sudden",
            risk_1="02",
            identified_on=45000,
        ),
    ]


def _workbook(rows: list[list[object]], headers: list[str] = HEADERS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["信丰县防止返贫致贫监测对象台账"])
    sheet.append(["导出时间 2026-11-30；证件号码已脱敏"])
    sheet.append(headers)
    for values in rows:
        sheet.append(values)
    sheet.append([])  # trailing blank row: not data
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def upload(client_for, django_capture_on_commit_callbacks):
    def run(username: str, content: bytes, name: str = "台账.xlsx"):
        client = client_for(username)
        file = io.BytesIO(content)
        file.name = name
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/assistance/onboard/", {"file": file})
        assert response.status_code == 302, response.content
        return client, response["Location"]

    return run


def test_an_odd_ledger_becomes_cases_in_their_current_state(
    world, ledger_rows, upload, toolbox, audit_rows
) -> None:
    client, location = upload("wang_county", _workbook(ledger_rows))
    page = client.get(location)
    job = RosterImport.objects.get()
    assert job.status == "done", job.message
    assert job.counts["read"] == 7 and job.counts["created"] == 2 and job.counts["eliminated"] == 1
    reasons = {r["row"]: r["reason"] for r in job.rejected}
    assert set(reasons) == {6, 7, 8, 9}  # rows as Excel shows them: two title rows and the header above
    assert "在户籍中不存在" in reasons[6]
    assert "与第 4 行重复" in reasons[7]
    assert "不属于信丰县" in reasons[8]
    assert "监测对象类别“一般户”" in reasons[9]
    assert [r["row"] for r in job.reported] == [10] and "已有本系统案件" in job.reported[0]["reason"]
    assert "与第 4 行重复" in page.content.decode()

    own = Case.objects.get(household=world.households["own"], kind="identification")
    assert own.state == "monitored" and own.source == "national" and own.category == "marginal"
    assert own.risk_types == "01;07" and own.plan.responsible == world.user("liu_cadre")
    assert CaseStep.objects.get(case=own).action == "import"
    assert "全国防返贫监测信息系统" in client.get(f"/cases/{own.pk}/").content.decode()
    measures = {m.source_text: m for m in own.plan.measures.select_related("measure_type")}
    assert measures["产业帮扶-到户产业奖补"].note == ""  # matched by name
    assert measures["教育资助-学生资助（助学金、免学费、生活补助）"].note == ""  # parentheses in the name
    assert measures["医疗救助-大病专项救治"].measure_type.category == "medical"  # the nearest type, text kept
    assert "台账原文" in measures["医疗救助-大病专项救治"].note
    sibling = Case.objects.get(household=world.households["sibling"], kind="identification")
    assert sibling.plan.responsible is None and sibling.plan.responsible_name == "不认识的人"
    elimination = sibling.eliminations.get()
    assert elimination.state == "eliminated" and timezone.localdate(elimination.decided_at) == dt.date(
        2024, 6, 30
    )
    assert set(monitored_households()) >= {world.households["own"]}
    assert world.households["sibling"] not in set(monitored_households())
    [event] = audit_rows("ROSTER_IMPORTED")
    assert event.data["created"] == 2 and event.data["rejected"] == 4


def test_the_same_file_again_changes_nothing(world, ledger_rows, upload, toolbox) -> None:
    content = _workbook(ledger_rows)
    upload("wang_county", content)
    cases, steps = Case.objects.count(), CaseStep.objects.count()
    upload("wang_county", content)
    again = RosterImport.objects.order_by("-pk").first()
    assert again.counts["created"] == 0 and again.counts["unchanged"] == 2
    assert (Case.objects.count(), CaseStep.objects.count()) == (cases, steps)


def test_a_re_export_reproduces_the_imported_rows(world, ledger_rows, upload, toolbox) -> None:
    upload("wang_county", _workbook(ledger_rows[:2]))
    exported = {
        r["household_no"]: r for r in roster.rows(scope.cases(world.user("wang_county")), reveal=False)
    }
    own = exported[world.households["own"].household_no]
    written = dict(zip([k for _, k in roster.COLUMNS], ledger_rows[0], strict=True))
    for key in (
        "household_no",
        "head_id",
        "risk_1",
        "risk_2",
        "responsible",
        "elimination_status",
        "category",
    ):
        assert own[key] == written[key], key
    assert own["identified_on"] == "2023-03-15"
    assert own["measures"] == written["measures"]
    sibling = exported[world.households["sibling"].household_no]
    assert (sibling["elimination_status"], sibling["eliminated_on"]) == ("已消除风险", "2024-06-30")
    assert sibling["responsible"] == "不认识的人"


def test_another_countys_approver_can_neither_see_nor_import(
    world, ledger_rows, upload, client_for, tmp_path: Path
) -> None:
    _, location = upload("wang_county", _workbook(ledger_rows))
    assert client_for("huang_county_c").get(location).status_code == 404
    assert client_for("zhang_township").post("/assistance/onboard/", {}).status_code == 403
    path = tmp_path / "ledger.xlsx"
    path.write_bytes(_workbook(ledger_rows))
    with pytest.raises(AssistanceError, match="本县的县级审批员"):
        onboarding.import_ledger(
            path, Region.objects.get(prefix="360722"), actor=world.user("huang_county_c")
        )


def test_a_file_that_is_not_a_ledger_is_refused_with_the_fix(world, upload, audit_rows) -> None:
    upload("wang_county", b"PK not really a workbook")
    upload("wang_county", _workbook([["1", "2"]], headers=["编号", "姓名"]))
    broken, headless = RosterImport.objects.order_by("pk")
    assert broken.status == "failed" and "Excel" in broken.message
    assert headless.status == "failed" and "找不到表头" in headless.message
    assert Case.objects.count() == 0
    assert len(audit_rows("ROSTER_IMPORT_REFUSED")) == 2


def test_reconciliation_lists_what_the_roster_and_the_cases_disagree_on(
    world, ledger_rows, upload, toolbox, tmp_path: Path, django_capture_on_commit_callbacks, client_for
) -> None:
    from fangpin.exchange.actions import import_file

    upload("wang_county", _workbook(ledger_rows[:2]))  # own monitored, sibling eliminated
    third = Household.objects.get(household_no=f"{VILLAGE_A}0003")
    csv = tmp_path / "ag_roster.csv"
    csv.write_text(
        "household_no,household_type,exit_year,monitor_status,monitor_category\n"
        f"{world.households['own'].household_no},former_poor,2019,eliminated,marginal\n"
        f"{world.households['sibling'].household_no},former_poor,2019,eliminated,unstable\n"
        f"{third.household_no},ordinary,,monitored,sudden\n",
        encoding="utf-8",
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery = import_file(csv, "ag_roster", "2026-10")
    assert delivery.status == "accepted", delivery.message
    kinds = {(d.household_id, d.kind) for d in Discrepancy.objects.filter(status="open")}
    assert (world.households["own"].pk, "fangpin_monitored") in kinds
    assert (third.pk, "roster_only") in kinds
    # the 4th household fangpin monitors (its own case) is absent from the roster
    assert (Household.objects.get(household_no=f"{VILLAGE_A}0004").pk, "fangpin_only") in kinds
    assert not any(h == world.households["sibling"].pk for h, _ in kinds)  # both say eliminated
    assert Case.objects.get(household=world.households["own"], kind="identification").state == "monitored"
    api = client_for("zhang_township").get("/api/v1/assistance/reconciliation").json()
    assert {d["kind"] for d in api} == {"fangpin_monitored", "roster_only", "fangpin_only"}
    assert client_for("huang_county_c").get("/api/v1/assistance/reconciliation").json() == []
    page = client_for("wang_county").get("/assistance/reconciliation/").content.decode()
    assert "名册为监测对象，本系统未纳入监测" in page
    item = Discrepancy.objects.get(household=third)
    response = client_for("wang_county").post(
        f"/assistance/reconciliation/{item.pk}/resolve/", {"note": "已安排入户核实", "version": item.version}
    )
    assert response.status_code == 302
    assert Discrepancy.objects.get(pk=item.pk).status == "resolved"
    assert (
        client_for("huang_county_c")
        .post(f"/assistance/reconciliation/{item.pk}/resolve/", {"note": "x", "version": 1})
        .status_code
        == 404
    )


def test_a_dashboard_indicator_counts_the_imported_monitored_households(
    world, ledger_rows, upload, toolbox
) -> None:
    from fangpin.analytics.models import Indicator
    from fangpin.analytics.refresh import refresh_county

    upload("wang_county", _workbook(ledger_rows))
    month = timezone.localdate().strftime("%Y-%m")
    refresh_county("360722", month)
    county = Indicator.objects.get(region="360722", code="monitored_households", dimension="", month=month)
    # own (imported, monitored) + the household fangpin monitored itself; sibling was eliminated in 2024
    assert county.value == 2


def test_the_command_line_imports_and_lists_rejected_rows(
    world, ledger_rows, toolbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fangpin import cli

    path = tmp_path / "台账.xlsx"
    path.write_bytes(_workbook(ledger_rows))
    assert cli.main(["cases", "onboard", str(path), "--county", "360722"]) == 0
    out = capsys.readouterr().out
    assert "新建监测案件 2 户" in out and "第 6 行" in out and "在户籍中不存在" in out
    assert cli.main(["cases", "onboard", str(path), "--county", "360722"]) == 0
    assert "新建监测案件 0 户" in capsys.readouterr().out
    assert cli.main(["cases", "onboard", str(path), "--county", "999999"]) == 2
