from __future__ import annotations

import json

from fangpin.assistance.models import Measure, MeasureType


def _post(client, url: str, body: dict) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_api_reads_the_plan_with_suggestions_within_scope(world, client_for, plan) -> None:
    body = client_for("xiao_grid").get(f"/api/v1/assistance/plans/{plan.pk}").json()
    assert body["household_no"] == plan.household.household_no
    assert body["risk_types"] == ["01", "09"]
    assert {"YL-01", "JZ-01"} <= {s["code"] for s in body["suggestions"]}
    assert client_for("li_township_b").get(f"/api/v1/assistance/plans/{plan.pk}").status_code == 404
    assert client_for("zhao_data").get(f"/api/v1/assistance/plans/{plan.pk}").status_code == 403
    codes = {t["code"] for t in client_for("liu_cadre").get("/api/v1/assistance/toolbox").json()}
    assert "GY-01" in codes and len(codes) == 22  # its own county's toolbox only


def test_the_api_adds_and_updates_measures_with_optimistic_locking(world, client_for, plan) -> None:
    client = client_for("zhang_township")
    credit = MeasureType.objects.get(county_id="360722", code="XD-01")
    added = _post(
        client,
        f"/api/v1/assistance/plans/{plan.pk}/measures",
        {"measure_type_id": credit.pk, "start_date": "2026-03-01", "amount": "30000"},
    )
    assert added.status_code == 200 and added.json()["version"] == 1
    measure_id = added.json()["id"]
    update = {"version": 1, "status": "active", "effect": "发展养殖", "income_gained": "2400"}
    assert _post(client, f"/api/v1/assistance/measures/{measure_id}", update).status_code == 200
    stale = _post(client, f"/api/v1/assistance/measures/{measure_id}", {**update, "effect": "旧"})
    assert stale.status_code == 409 and "已被他人修改" in stale.json()["detail"]
    assert Measure.objects.get(pk=measure_id).effect == "发展养殖"
    refused = _post(client_for("xiao_grid"), f"/api/v1/assistance/measures/{measure_id}", update)
    assert refused.status_code == 403
    bad = _post(
        client, f"/api/v1/assistance/plans/{plan.pk}/visits", {"visited_on": "2026-01-02", "findings": " "}
    )
    assert bad.status_code == 400 and bad.json()["detail"] == "请填写走访情况"
