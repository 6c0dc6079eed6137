"""The administrators' network allowlist (SECURITY.md AC-08): the system, security and audit
administrators sign in and act only from FANGPIN_ADMIN_NETWORKS; a refusal is audited and ends the
session. The address is the one the audit context records for the request."""

from __future__ import annotations

import pyotp
import pytest
from django.core.checks import run_checks
from django.test import Client

from conftest import PASSWORD, enrol_totp
from fangpin.audit.models import AuditEvent

INSIDE, OUTSIDE = "10.20.3.4", "203.0.113.9"


@pytest.fixture
def allowlist(settings) -> None:
    settings.FANGPIN_ADMIN_NETWORKS = ["10.20.0.0/16", "2001:db8::/32"]


def _login(client: Client, username: str, secret: str):
    client.post("/login/", {"username": username, "password": PASSWORD})
    return client.post("/login/totp/", {"code": pyotp.TOTP(secret).now()})


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type="ADMIN_NETWORK_REFUSED"))


def test_an_administrator_logging_in_from_outside_is_refused_and_audited(world, allowlist) -> None:
    secret = enrol_totp("wu_auditor")
    client = Client(REMOTE_ADDR=OUTSIDE)
    response = _login(client, "wu_auditor", secret)
    assert response.status_code == 403 and "管理网络" in response.content.decode()
    assert client.get("/audit/").status_code == 302  # not signed in
    (row,) = _refusals()
    assert row.actor_username == "wu_auditor" and row.ip == OUTSIDE and row.outcome == "denied"


def test_an_administrator_inside_the_networks_works_as_before(world, allowlist) -> None:
    secret = enrol_totp("wu_auditor")
    client = Client(REMOTE_ADDR=INSIDE)
    assert _login(client, "wu_auditor", secret).status_code == 302
    assert client.get("/audit/").status_code == 200
    assert not _refusals()


@pytest.mark.parametrize("persona", ["sun_sysadmin", "zhou_secadmin", "wu_auditor"])
def test_an_administrator_session_used_from_outside_is_refused_and_ended(
    world, allowlist, persona: str
) -> None:
    client = Client(REMOTE_ADDR=INSIDE)
    client.force_login(world.users[persona])
    assert client.get("/").status_code == 200
    response = client.get("/", REMOTE_ADDR=OUTSIDE)
    assert response.status_code == 403
    assert client.get("/", REMOTE_ADDR=INSIDE).status_code == 302  # the session was ended
    assert [r.actor_username for r in _refusals()] == [persona]


def test_other_roles_are_not_restricted(world, allowlist, client_for) -> None:
    assert client_for("zhang_township").get("/households/", REMOTE_ADDR=OUTSIDE).status_code == 200
    assert not _refusals()


def test_without_an_allowlist_administrators_are_not_restricted(world, settings) -> None:
    settings.FANGPIN_ADMIN_NETWORKS = []
    client = Client(REMOTE_ADDR=OUTSIDE)
    client.force_login(world.users["wu_auditor"])
    assert client.get("/audit/").status_code == 200


def test_manage_check_warns_in_production_without_an_allowlist_and_rejects_a_bad_network(settings) -> None:
    settings.FANGPIN_ADMIN_NETWORKS, settings.HTTPS = [], True
    assert "fangpin.W030" in {m.id for m in run_checks()}
    settings.HTTPS = False
    assert "fangpin.W030" not in {m.id for m in run_checks()}
    settings.FANGPIN_ADMIN_NETWORKS = ["10.20.0.0/33"]
    assert "fangpin.E030" in {m.id for m in run_checks()}
