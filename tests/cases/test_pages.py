"""The pages: dispatch from a lead, the grid worker's task list, the step forms, the village notice."""

from __future__ import annotations

import re

import pytest

from fangpin.cases.models import Case

from .conftest import VISIT, scan

pytestmark = pytest.mark.django_db
ID_PATTERN = re.compile(r"\d{17}[\dXx]")


def test_a_township_reviewer_dispatches_a_lead_to_the_grid_worker(client_for, world, make_lead) -> None:
    lead = make_lead()
    response = client_for("zhang_township").post(
        f"/leads/{lead.pk}/open-case/", {"assignee": world.users["xiao_grid"].pk}
    )
    case = Case.objects.get(lead=lead)
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    assert case.assignee == world.users["xiao_grid"]


def test_the_dispatch_form_refuses_a_worker_of_another_village(client_for, world, make_lead) -> None:
    lead = make_lead()
    client_for("zhang_township").post(
        f"/leads/{lead.pk}/open-case/", {"assignee": world.users["wang_county"].pk}
    )
    assert not Case.objects.exists()


def test_the_grid_workers_task_list_shows_the_household_the_reasons_and_the_clock(walk, client_for) -> None:
    case = walk("verifying")
    page = client_for("xiao_grid").get("/cases/tasks/")
    html = page.content.decode().split('data-testid="tasks"')[1]  # (the header shows the user's own name)
    assert page.status_code == 200 and f"/cases/{case.pk}/" in html
    assert "户主 肖*香" in html and "肖凤香" not in html
    assert "住院自付" in html and "剩余" in html and "提交入户核实" in html
    # the township reviewer has nothing to do at this step
    assert client_for("zhang_township").get("/cases/tasks/").context["tasks"] == []


def test_the_visit_form_is_submitted_from_the_phone_with_the_scan(walk, client_for) -> None:
    case = walk("verifying")
    data = {k: v for k, v in VISIT.items() if not isinstance(v, bool)}
    data.update({k: "on" for k, v in VISIT.items() if v is True})
    data["version"] = str(case.version)
    data["authorization"] = scan()
    response = client_for("xiao_grid").post(f"/cases/{case.pk}/act/submit_visit/", data)
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).state == "village_review"
    scan_response = client_for("zhang_township").get(f"/cases/{case.pk}/authorization/")
    assert scan_response.status_code == 200 and scan_response.content.startswith(b"\x89PNG")


def test_a_bad_form_is_shown_again_with_the_reason_and_nothing_changes(walk, client_for) -> None:
    case = walk("verifying")
    response = client_for("xiao_grid").post(
        f"/cases/{case.pk}/act/submit_visit/",
        {"version": str(case.version), "members": "2", "able_members": "5"},
    )
    assert response.status_code == 400 and "有劳动能力人数不能多于家庭人口" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "verifying"


def test_a_step_the_user_may_not_take_is_refused_with_a_reason(walk, client_for) -> None:
    case = walk("township_review")
    response = client_for("xiao_grid").post(
        f"/cases/{case.pk}/act/township_approve/", {"version": str(case.version)}
    )
    assert response.status_code == 400 and "乡镇人员办理" in response.content.decode()


def test_the_printable_notice_never_shows_id_phone_bank_or_health(walk, client_for, world) -> None:
    case = walk("publicity")
    from fangpin.registry.models import Person

    Person.objects.filter(pk=world.persons["own"].pk).update(phone="13812345678") if hasattr(
        Person, "phone"
    ) else None
    html = client_for("liu_cadre").get(f"/cases/{case.pk}/notice/").content.decode()
    assert "公示" in html and "肖*香" in html and "2</td>" in html
    assert not ID_PATTERN.search(html)
    assert "13812345678" not in html and not re.search(r"1[3-9]\d{9}", html)
    for health in ("因病", "住院", "疾病", "残疾", "医疗", "自付"):
        assert health not in html
    assert "银行" not in html and "账号" not in html
    assert "肖凤香" not in html


def test_the_case_page_shows_the_clock_the_steps_and_the_forms_of_this_level(walk, client_for) -> None:
    case = walk("township_review")
    html = client_for("zhang_township").get(f"/cases/{case.pk}/").content.decode()
    assert 'data-testid="action-township_approve"' in html and 'data-testid="action-reject"' in html
    assert 'data-testid="action-county_approve"' not in html
    assert "剩余" in html and "村级民主评议" in html


def test_the_menu_shows_my_tasks_to_field_roles(client_for) -> None:
    html = client_for("xiao_grid").get("/cases/").content.decode()
    assert "我的任务" in html and "监测识别" in html
