"""The leads JSON API: session auth, the same role and scope checks and masking as the pages."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from fangpin.warnings.models import Lead


def _post(client: Client, url: str, body: object):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_the_list_is_scoped_sorted_and_masked(world, client_for, make_lead) -> None:
    own = world.households["own"]
    low = make_lead(own, grade="低", score=0.3, channel="cadre_report")
    high = make_lead(own, grade="高", score=0.9)
    make_lead(world.households["sibling"])
    body = client_for("zhang_township").get("/api/v1/leads/").json()
    assert [row["id"] for row in body] == [high.pk, low.pk]
    assert body[0]["household_no"] == f"{own.household_no[:6]}******{own.household_no[-4:]}"
    assert own.household_no not in json.dumps(body)
    assert (
        client_for("zhang_township").get("/api/v1/leads/", {"channel": "cadre_report"}).json()[0]["id"]
        == low.pk
    )


def test_the_detail_carries_the_explanation_and_snapshot(world, client_for, make_lead) -> None:
    lead = make_lead(
        world.households["own"],
        explanation="单次住院自付4.0万元",
        portrait_snapshot={"max_inpatient_self_pay_12m": 40000.0},
    )
    body = client_for("xiao_grid").get(f"/api/v1/leads/{lead.pk}").json()
    assert body["explanation"] == "单次住院自付4.0万元"
    assert body["portrait"] == [
        {
            "column": "max_inpatient_self_pay_12m",
            "label": "近12个月单次住院最高自付（元）",
            "value": 40000.0,
            "display": "40,000",
        }
    ]
    assert body["risk_labels"] == ["因病"]
    assert body["head"] and "*" in body["head"]


def test_out_of_scope_is_404_and_anonymous_is_401(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["own"])
    assert client_for("li_township_b").get(f"/api/v1/leads/{lead.pk}").status_code == 404
    assert Client().get("/api/v1/leads/").status_code == 401


def test_accept_and_reject_with_the_version_seen(world, client_for, make_lead) -> None:
    lead = make_lead(world.households["own"])
    client = client_for("zhang_township")
    accepted = _post(client, f"/api/v1/leads/{lead.pk}/accept", {"version": 1})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    stale = _post(client, f"/api/v1/leads/{lead.pk}/reject", {"version": 1, "reason": "重复上报的线索"})
    assert stale.status_code == 409 and "已被他人处理" in stale.json()["detail"]
    assert _post(client, f"/api/v1/leads/{lead.pk}/reject", {"version": 2, "reason": ""}).status_code == 422
    done = _post(client, f"/api/v1/leads/{lead.pk}/reject", {"version": 2, "reason": "重复上报的线索"})
    assert done.status_code == 200 and done.json()["outcome"] == "rejected"


@pytest.mark.parametrize(
    ("persona", "status"), [("xiao_grid", 403), ("chen_analyst", 403), ("li_township_b", 404)]
)
def test_who_may_not_accept_through_the_api(world, client_for, make_lead, persona, status) -> None:
    lead = make_lead(world.households["own"])
    assert _post(client_for(persona), f"/api/v1/leads/{lead.pk}/accept", {"version": 1}).status_code == status
    assert Lead.objects.get().status == "new"


def test_report_through_the_api(world, client_for) -> None:
    own = world.households["own"]
    client = client_for("liu_cadre")
    body = {"household_no": own.household_no, "risk_types": ["02"], "note": "房屋被洪水冲毁"}
    response = _post(client, "/api/v1/leads/report", body)
    assert response.status_code == 200 and response.json()["channel"] == "cadre_report"
    outside = {**body, "household_no": world.households["other"].household_no}
    assert _post(client, "/api/v1/leads/report", outside).status_code == 400
    assert _post(client_for("chen_analyst"), "/api/v1/leads/report", body).status_code == 403


def test_the_openapi_schema_documents_the_leads_api(world, client_for) -> None:
    paths = client_for("chen_analyst").get("/api/v1/openapi.json").json()["paths"]
    assert {
        "/api/v1/leads/",
        "/api/v1/leads/{pk}",
        "/api/v1/leads/{pk}/accept",
        "/api/v1/leads/report",
    } <= set(paths)
