"""Every batch export and every reveal asks for a purpose (a choice and a note), records it in its audit
row and is refused without one (SECURITY.md PI-04), through the client for each export kind."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fangpin.audit.models import AuditEvent


@dataclass(frozen=True)
class Kind:
    persona: str
    method: str
    url: str
    audit: str
    data: dict[str, str] = field(default_factory=dict)


def _delivery_url() -> str:
    from fangpin.exchange.models import Delivery

    delivery = Delivery.objects.create(
        dataset="ms_settlement",
        department="medical_security",
        period="2026-08",
        content_hash="h",
        source="cli",
        file_name="f",
        status="rejected_whole",
    )
    return f"/exchange/deliveries/{delivery.pk}/report.xlsx"


KINDS = {
    "roster": Kind("zhang_township", "POST", "/assistance/roster/export/", "ROSTER_EXPORT"),
    "households_job": Kind(
        "zhang_township", "POST", "/analytics/region/360722100/export/", "ANALYTICS_EXPORT_REQUESTED"
    ),
    "households_table": Kind(
        "zhang_township", "GET", "/analytics/region/360722100/table/households.xlsx", "ANALYTICS_EXPORTED"
    ),
    "report": Kind("wang_county", "GET", "/analytics/region/360722/report.xlsx", "ANALYTICS_EXPORTED"),
    "table": Kind("wang_county", "GET", "/analytics/region/360722/table/children.csv", "ANALYTICS_EXPORTED"),
    "delivery_report": Kind("wang_county", "GET", "delivery", "EXPORT"),
    "audit": Kind("wu_auditor", "POST", "/audit/export/", "AUDIT_EXPORTED"),
}


def _send(client, kind: Kind, **data: str):
    url = _delivery_url() if kind.url == "delivery" else kind.url
    send = client.post if kind.method == "POST" else client.get
    return send(url, {**kind.data, **data})


@pytest.mark.parametrize("name", sorted(KINDS))
def test_an_export_without_a_purpose_is_refused_and_nothing_is_exported(world, client_for, name) -> None:
    kind = KINDS[name]
    client = client_for(kind.persona)
    for data in ({}, {"purpose": "nonsense"}, {"purpose": "other", "purpose_note": ""}):
        response = _send(client, kind, **data)
        assert response.status_code in (302, 400), data
        assert not response.has_header("Content-Disposition"), data
        if response.status_code == 400:
            assert "须说明用途" in response.content.decode()
    assert not AuditEvent.objects.filter(event_type=kind.audit).exists()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_an_export_with_a_purpose_records_it_in_its_audit_row(world, client_for, name) -> None:
    kind = KINDS[name]
    response = _send(client_for(kind.persona), kind, purpose="other", purpose_note="省里专项检查抽样")
    assert response.status_code in (200, 302)
    (row,) = AuditEvent.objects.filter(event_type=kind.audit)
    assert row.data["purpose"] == "other" and row.data["purpose_note"] == "省里专项检查抽样"


def test_the_export_forms_offer_the_purpose_choice(world, client_for) -> None:
    page = client_for("zhang_township").get("/assistance/roster/").content.decode()
    assert 'name="purpose"' in page and "统计分析与工作报告" in page


def test_a_reveal_without_a_purpose_is_refused(world, client_for) -> None:
    person = world.persons["own"]
    client = client_for("zhang_township")
    refused = client.post(f"/persons/{person.pk}/reveal/", {"field": "id_number", "reason": "入户核实身份"})
    assert refused.status_code == 400 and person.id_number not in refused.content.decode()
    assert not AuditEvent.objects.filter(event_type="PI_REVEAL").exists()
    shown = client.post(
        f"/persons/{person.pk}/reveal/",
        {"field": "id_number", "purpose": "verification", "reason": "入户核实身份"},
    )
    assert person.id_number in shown.content.decode()
    (row,) = AuditEvent.objects.filter(event_type="PI_REVEAL")
    assert row.data["purpose"] == "verification" and row.reason == "入户核实身份"
