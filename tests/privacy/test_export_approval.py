"""Bulk exports above FANGPIN_EXPORT_APPROVAL_ROWS need a second person's approval (SECURITY.md AC-07):
the export becomes a request, another user trusted with full personal information in whose region it lies
approves it (never the requester), then the requester generates and downloads it once, within
FANGPIN_EXPORT_APPROVAL_HOURS. Every step is audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fangpin.analytics.models import ExportJob
from fangpin.assistance.models import RosterExport
from fangpin.audit.models import AuditEvent
from fangpin.notifications.models import Notification
from fangpin.privacy.models import ExportRequest


@pytest.fixture
def monitored_households(world, settings) -> None:
    """Two monitored households in township A, and a threshold of one row, so the export needs approval."""
    from fangpin.cases.models import Case
    from fangpin.registry.models import Household

    settings.FANGPIN_EXPORT_APPROVAL_ROWS = 1
    second = Household.objects.create(
        household_no="3607221002000002", household_type="ordinary", village_id="360722100200"
    )
    now = timezone.now()
    for household in (world.households["own"], second):
        Case.objects.create(
            household=household,
            village_id=household.village_id,
            state="monitored",
            category="marginal",
            risk_types="01",
            found_at=now,
            opened_at=now,
            deadline_at=now + dt.timedelta(days=15),
            monitored_at=now,
        )


def _events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


def _request_roster(client) -> ExportRequest:
    response = client.post(
        "/assistance/roster/export/", {"purpose": "assistance", "purpose_note": "年底核查"}
    )
    request = ExportRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/privacy/exports/{request.pk}/"
    return request


def test_a_roster_above_the_threshold_becomes_a_request_and_nothing_is_exported(
    world, client_for, monitored_households
) -> None:
    request = _request_roster(client_for("zhang_township"))
    assert not RosterExport.objects.exists()
    assert (request.kind, request.rows, request.status) == ("roster", 2, "pending")
    (row,) = _events("EXPORT_APPROVAL_REQUESTED")
    assert row.data["rows"] == 2 and row.data["purpose"] == "assistance"
    # the county approver above the township is told; the requester and the other township are not
    told = set(Notification.objects.values_list("recipient__username", flat=True))
    assert told == {"wang_county"}


def test_the_requester_cannot_approve_their_own(world, client_for, monitored_households) -> None:
    client = client_for("zhang_township")
    request = _request_roster(client)
    page = client.get(f"/privacy/exports/{request.pk}/").content.decode()
    assert "批准</button>" not in page
    response = client.post(f"/privacy/exports/{request.pk}/decide/", {"decision": "approve"}, follow=True)
    assert "不能审批本人提出的导出申请" in response.content.decode()
    request.refresh_from_db()
    assert request.status == "pending" and request.decided_by is None
    (refused,) = _events("EXPORT_DECISION_REFUSED")
    assert refused.outcome == "denied" and refused.actor_username == "zhang_township"
    assert client.post(f"/privacy/exports/{request.pk}/use/").status_code == 302
    assert not RosterExport.objects.exists()


@pytest.mark.parametrize("persona", ["li_township_b", "chen_analyst", "huang_county_c"])
def test_people_outside_the_region_or_without_full_pi_rights_cannot_see_or_approve(
    world, client_for, monitored_households, persona
) -> None:
    request = _request_roster(client_for("zhang_township"))
    response = client_for(persona).post(f"/privacy/exports/{request.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.status == "pending"


def test_approved_by_another_person_the_requester_downloads_once(
    world, client_for, monitored_households, django_capture_on_commit_callbacks
) -> None:
    zhang = client_for("zhang_township")
    request = _request_roster(zhang)
    approver = client_for("wang_county")
    assert "批准</button>" in approver.get(f"/privacy/exports/{request.pk}/").content.decode()
    approver.post(f"/privacy/exports/{request.pk}/decide/", {"decision": "approve", "note": "同意"})
    request.refresh_from_db()
    assert request.status == "approved" and request.decided_by.username == "wang_county"
    assert request.expires_at > timezone.now()
    # the approver cannot run it in the requester's place
    assert approver.post(f"/privacy/exports/{request.pk}/use/").status_code == 302
    assert not RosterExport.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = zhang.post(f"/privacy/exports/{request.pk}/use/")
    export = RosterExport.objects.get()
    assert response["Location"] == f"/assistance/roster/exports/{export.pk}/"
    first = zhang.get(f"/assistance/roster/exports/{export.pk}/download/")
    assert first.status_code == 200 and first.has_header("Content-Disposition")
    second = zhang.get(f"/assistance/roster/exports/{export.pk}/download/", follow=True)
    assert not second.has_header("Content-Disposition")
    assert "只能下载一次" in second.content.decode()
    # used once: it cannot make a second file either
    zhang.post(f"/privacy/exports/{request.pk}/use/")
    assert RosterExport.objects.count() == 1
    assert [e.event_type for e in AuditEvent.objects.filter(object_type="export_request")] == [
        "EXPORT_APPROVAL_REQUESTED",
        "EXPORT_APPROVED",
    ]
    assert _events("ROSTER_EXPORT")[0].data["approval"] == request.pk
    assert len(_events("ROSTER_DOWNLOADED")) == 1 and len(_events("EXPORT_DOWNLOAD_REFUSED")) == 1


def test_an_approval_expires(world, client_for, monitored_households, settings) -> None:
    zhang = client_for("zhang_township")
    request = _request_roster(zhang)
    client_for("wang_county").post(f"/privacy/exports/{request.pk}/decide/", {"decision": "approve"})
    ExportRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = zhang.post(f"/privacy/exports/{request.pk}/use/", follow=True)
    assert "审批已过有效期" in response.content.decode()
    assert not RosterExport.objects.exists()


def test_a_denied_request_cannot_be_used(world, client_for, monitored_households) -> None:
    zhang = client_for("zhang_township")
    request = _request_roster(zhang)
    client_for("wang_county").post(f"/privacy/exports/{request.pk}/decide/", {"decision": "deny"})
    zhang.post(f"/privacy/exports/{request.pk}/use/")
    assert not RosterExport.objects.exists() and len(_events("EXPORT_DENIED")) == 1


def test_a_household_list_above_the_threshold_needs_approval_too(
    world, client_for, monitored_households
) -> None:
    zhang = client_for("zhang_township")
    # the direct download is sent to the background export, which asks for the approval
    direct = zhang.get("/analytics/region/360722100/table/households.xlsx", {"purpose": "statistics"})
    assert direct.status_code == 302 and not direct.has_header("Content-Disposition")
    response = zhang.post("/analytics/region/360722100/export/", {"purpose": "statistics"})
    request = ExportRequest.objects.get()
    assert response["Location"] == f"/privacy/exports/{request.pk}/" and not ExportJob.objects.exists()
    client_for("wang_county").post(f"/privacy/exports/{request.pk}/decide/", {"decision": "approve"})
    job = ExportJob.objects.get(
        pk=int(zhang.post(f"/privacy/exports/{request.pk}/use/")["Location"].split("/")[-2])
    )
    assert job.status == "done" and job.total == 2
    assert zhang.get(f"/analytics/exports/{job.pk}/download/").status_code == 200
    assert zhang.get(f"/analytics/exports/{job.pk}/download/").status_code == 403


def test_below_the_threshold_nothing_changes(world, client_for, monitored_households, settings) -> None:
    settings.FANGPIN_EXPORT_APPROVAL_ROWS = 2
    response = client_for("zhang_township").post(
        "/analytics/region/360722100/export/", {"purpose": "statistics"}
    )
    job = ExportJob.objects.get()
    assert response["Location"] == f"/analytics/exports/{job.pk}/" and not ExportRequest.objects.exists()
