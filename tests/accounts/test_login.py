"""Login, lockout, timeouts, password age and the TOTP second factor (SECURITY.md AUTH-02..04, SES-01/02)."""

from __future__ import annotations

import datetime as dt
import time

import pyotp
import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from conftest import PASSWORD, World, enrol_totp
from fangpin.accounts.actions import LOGIN_FAILED_MESSAGE
from fangpin.accounts.models import User
from fangpin.accounts.second_factor import has_second_factor


def login(client: Client, username: str, password: str = PASSWORD) -> object:
    return client.post("/login/", {"username": username, "password": password})


def test_it_logs_in_with_the_right_password_and_audits_it(world: World, audit_rows) -> None:
    client = Client()
    response = login(client, "zhang_township")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert len(audit_rows("LOGIN_SUCCEEDED", actor_username="zhang_township")) == 1


def test_it_issues_a_new_session_id_at_login(world: World) -> None:
    client = Client()
    client.get("/login/")
    before = client.session.session_key
    login(client, "zhang_township")
    assert client.session.session_key != before


def test_it_answers_unknown_user_and_wrong_password_identically(world: World) -> None:
    unknown = login(Client(), "nobody", "whatever-Pass-1")
    wrong = login(Client(), "zhang_township", "wrong-Pass-123")
    assert unknown.status_code == wrong.status_code == 200
    assert LOGIN_FAILED_MESSAGE in unknown.content.decode()
    assert LOGIN_FAILED_MESSAGE in wrong.content.decode()


def test_it_locks_the_account_after_five_failures(world: World, audit_rows) -> None:
    client = Client()
    for _ in range(5):
        login(client, "zhang_township", "wrong-Pass-123")
    response = login(client, "zhang_township")  # the right password, but locked
    assert response.status_code == 200 and LOGIN_FAILED_MESSAGE in response.content.decode()
    assert len(audit_rows("LOGIN_FAILED", actor_username="zhang_township", reason="bad_password")) == 5
    assert len(audit_rows("ACCOUNT_LOCKED", actor_username="zhang_township")) == 1


def test_it_unlocks_by_itself_after_the_lock_period(world: World) -> None:
    client = Client()
    for _ in range(5):
        login(client, "zhang_township", "wrong-Pass-123")
    with freeze_time(timezone.now() + dt.timedelta(minutes=31)):
        assert login(Client(), "zhang_township").status_code == 302


def test_it_forgets_old_failures_outside_the_window(world: World) -> None:
    for _ in range(4):
        login(Client(), "zhang_township", "wrong-Pass-123")
    with freeze_time(timezone.now() + dt.timedelta(minutes=16)):
        login(Client(), "zhang_township", "wrong-Pass-123")
        assert login(Client(), "zhang_township").status_code == 302


def test_it_refuses_an_inactive_account(world: World) -> None:
    User.objects.filter(username="zhang_township").update(is_active=False)
    assert login(Client(), "zhang_township").status_code == 200


def test_it_logs_out_only_by_post(world: World, client_for) -> None:
    client = client_for("zhang_township")
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_it_ends_an_idle_session_after_thirty_minutes(world: World, audit_rows) -> None:
    client = Client()
    login(client, "zhang_township")
    old_key = client.session.session_key
    with freeze_time(timezone.now() + dt.timedelta(minutes=31)):
        response = client.get("/households/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not Session.objects.filter(session_key=old_key).exists()
    assert len(audit_rows("SESSION_TIMEOUT", actor_username="zhang_township")) == 1


def test_it_keeps_an_active_session_alive(world: World) -> None:
    client = Client()
    login(client, "zhang_township")
    start = timezone.now()
    for minutes in (20, 40, 60):
        with freeze_time(start + dt.timedelta(minutes=minutes)):
            assert client.get("/households/").status_code == 200


def test_it_records_activity_at_most_once_a_minute_so_a_page_view_does_not_rewrite_the_session(
    world: World,
) -> None:
    client = Client()
    login(client, "zhang_township")
    key = client.session.session_key
    start = timezone.now()
    with freeze_time(start + dt.timedelta(seconds=5)):
        assert client.get("/households/").status_code == 200
    stored = Session.objects.get(session_key=key).session_data
    with freeze_time(start + dt.timedelta(seconds=30)):
        assert client.get("/households/").status_code == 200
    assert Session.objects.get(session_key=key).session_data == stored  # not written again
    with freeze_time(start + dt.timedelta(seconds=90)):
        assert client.get("/households/").status_code == 200
    assert Session.objects.get(session_key=key).session_data != stored  # a minute later: activity recorded


def test_it_ends_a_session_after_twelve_hours_even_if_active(world: World) -> None:
    client = Client()
    login(client, "zhang_township")
    start = timezone.now()
    for minutes in range(20, 12 * 60, 25):
        with freeze_time(start + dt.timedelta(minutes=minutes)):
            client.get("/")
    with freeze_time(start + dt.timedelta(hours=12, minutes=1)):
        assert client.get("/households/").status_code == 302


def test_it_sends_an_expired_password_to_the_change_page(world: World) -> None:
    User.objects.filter(username="zhang_township").update(
        password_changed_at=timezone.now() - dt.timedelta(days=91)
    )
    client = Client()
    login(client, "zhang_township")
    response = client.get("/households/")
    assert response.status_code == 302 and response["Location"] == "/account/password/"


def test_it_lets_a_user_change_the_password_and_then_work(world: World, audit_rows) -> None:
    User.objects.filter(username="zhang_township").update(must_change_password=True)
    client = Client()
    login(client, "zhang_township")
    response = client.post(
        "/account/password/",
        {
            "current_password": PASSWORD,
            "new_password": "Ganzhou-Navel-Orange-9",
            "new_password_again": "Ganzhou-Navel-Orange-9",
        },
    )
    assert response.status_code == 302
    assert client.get("/households/").status_code == 200
    assert len(audit_rows("PASSWORD_CHANGED")) == 1


@pytest.mark.parametrize(
    ("new_password", "why"),
    [
        ("Short-1a", "too short"),
        ("password1234", "common"),
        ("alllowercaseletters", "one class only"),
        ("Zhang_township-2026", "contains the username"),
    ],
)
def test_it_rejects_weak_new_passwords(world: World, client_for, new_password: str, why: str) -> None:
    client = client_for("zhang_township")
    response = client.post(
        "/account/password/",
        {"current_password": PASSWORD, "new_password": new_password, "new_password_again": new_password},
    )
    assert response.status_code == 200, why
    assert User.objects.get(username="zhang_township").check_password(PASSWORD)


def test_it_accepts_a_long_passphrase(world: World, client_for) -> None:
    long_one = "水东村的脐橙今年丰收了-" * 6 + "A1"
    response = client_for("zhang_township").post(
        "/account/password/",
        {"current_password": PASSWORD, "new_password": long_one, "new_password_again": long_one},
    )
    assert response.status_code == 302


def test_the_production_hasher_is_pbkdf2(world: World) -> None:
    from fangpin import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("PBKDF2PasswordHasher")


# --- TOTP ---------------------------------------------------------------------------------------


def _enrol(username: str) -> str:
    return enrol_totp(username)


def test_an_administrator_without_a_second_factor_must_enrol_before_anything(world: World) -> None:
    client = Client()
    response = login(client, "wu_auditor")
    assert response["Location"] == "/account/totp/setup/"
    assert client.get("/audit/").status_code == 302  # not signed in yet
    page = client.get("/account/totp/setup/")
    secret = page.context["secret"]
    response = client.post("/account/totp/setup/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert client.get("/audit/").status_code == 200
    assert has_second_factor(User.objects.get(username="wu_auditor"))


def test_it_asks_for_the_code_after_the_password_when_enrolled(world: World) -> None:
    secret = _enrol("zhang_township")
    client = Client()
    assert login(client, "zhang_township")["Location"] == "/login/totp/"
    assert client.get("/households/").status_code == 302
    assert (
        client.post(
            "/login/totp/", {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"}
        ).status_code
        == 200
    )
    time.sleep(1.1)  # django-otp makes the next try after a wrong code wait a second
    assert client.post("/login/totp/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert client.get("/households/").status_code == 200


def test_it_refuses_a_code_used_twice(world: World, audit_rows) -> None:
    secret = _enrol("zhang_township")
    code = pyotp.TOTP(secret).now()
    first = Client()
    login(first, "zhang_township")
    assert first.post("/login/totp/", {"code": code}).status_code == 302
    second = Client()
    login(second, "zhang_township")
    assert second.post("/login/totp/", {"code": code}).status_code == 200
    assert audit_rows("TOTP_FAILED", reason="replayed")


def test_it_refuses_an_expired_code(world: World) -> None:
    secret = _enrol("zhang_township")
    old_code = pyotp.TOTP(secret).at(time.time() - 120)
    client = Client()
    login(client, "zhang_township")
    assert client.post("/login/totp/", {"code": old_code}).status_code == 200


def test_the_second_step_expires_after_five_minutes(world: World) -> None:
    secret = _enrol("zhang_township")
    client = Client()
    login(client, "zhang_township")
    with freeze_time(timezone.now() + dt.timedelta(minutes=6)):
        response = client.post("/login/totp/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == "/login/"
