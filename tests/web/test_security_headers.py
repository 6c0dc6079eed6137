"""Headers that keep PI out of caches and third-party code out of pages (PI-05, CFG-01)."""

from __future__ import annotations

from django.test import Client


def test_pages_carry_a_strict_content_security_policy(world, client_for) -> None:
    response = client_for("zhang_township").get("/households/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_signed_in_pages_are_not_cached(world, client_for) -> None:
    assert client_for("zhang_township").get("/").get("Cache-Control") == "no-store"


def test_every_response_has_a_request_id_for_the_audit_trail(db: None) -> None:
    response = Client().get("/login/", HTTP_X_REQUEST_ID="abc12345-trace")
    assert response["X-Request-ID"] == "abc12345-trace"
    assert len(Client().get("/login/", HTTP_X_REQUEST_ID="bad id\n").headers["X-Request-ID"]) == 32


def test_the_health_check_needs_no_login_and_says_nothing_about_data(db: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_audit_retention_check_refuses_less_than_six_months(settings) -> None:
    from fangpin.audit.checks import audit_retention

    settings.AUDIT_MIN_RETENTION_DAYS = 90
    assert [e.id for e in audit_retention(None)] == ["fangpin.E001"]
    settings.AUDIT_MIN_RETENTION_DAYS = 183
    assert audit_retention(None) == []


def test_the_policy_from_django_csp_is_the_one_written_by_hand_before(db: None) -> None:
    """django-csp builds the header now (issue #14 asked for the field's library); the policy is unchanged:
    nothing but this server, no inline script, no framing."""
    response = Client().get("/login/")
    directives = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
        "base-uri": "'self'",
    }
