"""The JSON API: the same guards, scope and conflict answers as the pages."""

from __future__ import annotations

import json

import pytest

from fangpin.cases.models import Case

pytestmark = pytest.mark.django_db


def _post(client, url: str, body: dict) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_a_township_reviewer_opens_and_approves_through_the_api(client_for, world, make_lead, walk) -> None:
    client = client_for("zhang_township")
    lead = make_lead("sibling")
    opened = _post(
        client_for("wang_county"), "/api/v1/cases/open", {"lead_id": lead.pk, "assignee_id": _grid_b().pk}
    )
    assert opened.status_code == 200 and opened.json()["state"] == "verifying"
    case = walk("township_review")
    body = client.get(f"/api/v1/cases/{case.pk}").json()
    assert "township_approve" in body["available_actions"] and body["steps"][0]["action"] == "open"
    done = _post(
        client, f"/api/v1/cases/{case.pk}/actions/township_approve", {"version": case.version, "data": {}}
    )
    assert done.status_code == 200 and done.json()["state"] == "county_approval"
    stale = _post(
        client, f"/api/v1/cases/{case.pk}/actions/reject", {"version": case.version, "data": {"reason": "x"}}
    )
    assert stale.status_code == 409 and "请刷新后重试" in stale.json()["detail"]


def test_the_api_refuses_a_step_of_another_level_and_cases_out_of_scope(client_for, walk) -> None:
    case = walk("township_review")
    refused = _post(
        client_for("wang_county"),
        f"/api/v1/cases/{case.pk}/actions/township_approve",
        {"version": case.version},
    )
    assert refused.status_code == 400 and "乡镇" in refused.json()["detail"]
    assert client_for("li_township_b").get(f"/api/v1/cases/{case.pk}").status_code == 404
    assert client_for("huang_county_c").get("/api/v1/cases/").json() == []
    assert client_for("zhao_data").get("/api/v1/cases/").status_code == 403
    assert Case.objects.get(pk=case.pk).state == "township_review"


def test_the_api_lists_tasks_and_overdue_cases(client_for, walk) -> None:
    case = walk("verifying")
    tasks = client_for("xiao_grid").get("/api/v1/cases/tasks").json()
    assert [t["id"] for t in tasks] == [case.pk] and tasks[0]["available_actions"][0] == "submit_visit"
    assert client_for("wang_county").get("/api/v1/cases/?overdue=true").json() == []


def test_anonymous_callers_get_401(db) -> None:
    from django.test import Client

    assert Client().get("/api/v1/cases/").status_code == 401


def _grid_b():
    from conftest import VILLAGE_B
    from fangpin.accounts.models import User

    return User.objects.create(username="grid_b", role="grid_worker", region_id=VILLAGE_B, full_name="钟网格")


def test_the_visit_with_its_scan_is_submitted_as_json(client_for, walk) -> None:
    import base64

    from .conftest import PNG, VISIT

    case = walk("verifying")
    client = client_for("xiao_grid")
    url = f"/api/v1/cases/{case.pk}/actions/submit_visit"
    gif = {
        "version": case.version,
        "data": VISIT,
        "authorization_base64": base64.b64encode(b"GIF89a....").decode(),
    }
    refused = _post(client, url, gif)
    assert refused.status_code == 400 and "JPG、PNG 或 PDF" in refused.json()["detail"]
    body = {"version": case.version, "data": VISIT, "authorization_base64": base64.b64encode(PNG).decode()}
    done = _post(client, url, body)
    assert done.status_code == 200 and done.json()["state"] == "village_review"
