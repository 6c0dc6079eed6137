"""The stop-ship findings of the security review (#14 items 1-3), each replayed as the attacker did it:
the second factor bypassed with the password alone, an administrator taking over another administrator
(三员分立), and unlimited guesses at the second factor."""

from __future__ import annotations

import datetime as dt
import time

import pyotp
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time

from conftest import PASSWORD, enrol_totp
from fangpin.accounts import actions, second_factor
from fangpin.accounts.models import User
from fangpin.accounts.roles import Role
from fangpin.notifications.models import Notification
from fangpin.regions.models import Region


def login(client: Client, username: str, password: str = PASSWORD) -> str:
    response = client.post("/login/", {"username": username, "password": password})
    return str(response.get("Location", ""))


def other_code(secret: str) -> str:
    """A well-formed code that is not valid now (nor in the neighbouring steps)."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(timezone.now() + dt.timedelta(seconds=s)) for s in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


# --- 1. the second factor cannot be re-bound with the password alone -------------------------------------


def test_a_half_logged_in_user_is_not_shown_a_new_secret_when_a_second_factor_is_bound(
    world, audit_rows
) -> None:
    enrol_totp("wu_auditor")
    attacker = Client()
    assert login(attacker, "wu_auditor") == "/login/totp/"
    page = attacker.get("/account/totp/setup/")
    assert page.status_code == 302 and page["Location"] == "/login/totp/"
    assert "secret" not in (page.context or {})
    assert audit_rows("TOTP_SETUP_DENIED", actor_username="wu_auditor")


def test_a_forged_enrolment_post_neither_logs_in_nor_replaces_the_authenticator(world) -> None:
    real_secret = enrol_totp("wu_auditor")
    attacker = Client()
    login(attacker, "wu_auditor")
    attackers_secret = pyotp.random_base32()
    session = attacker.session
    session["totp_setup_secret"] = attackers_secret  # what the old flow trusted
    session.save()
    response = attacker.post("/account/totp/setup/", {"code": pyotp.TOTP(attackers_secret).now()})
    assert response.status_code == 302 and response["Location"] == "/login/totp/"
    assert attacker.get("/audit/").status_code == 302  # still not signed in
    owner = Client()
    login(owner, "wu_auditor")
    assert owner.post("/login/totp/", {"code": pyotp.TOTP(real_secret).now()}).status_code == 302


def test_rebinding_from_the_account_page_needs_the_current_code_and_is_audited_and_notified(
    world, client_for, audit_rows
) -> None:
    old_secret = enrol_totp("zhang_township")
    client = client_for("zhang_township")
    page = client.get("/account/totp/setup/")
    assert page.status_code == 200 and page.context["needs_current_code"]
    new_secret = page.context["secret"]
    refused = client.post(
        "/account/totp/setup/",
        {"current_code": other_code(old_secret), "code": pyotp.TOTP(new_secret).now()},
    )
    assert refused.status_code == 200
    assert "当前动态口令" in refused.content.decode()
    assert not audit_rows("TOTP_REBOUND")
    time.sleep(1.1)  # django-otp makes the next try after a wrong code wait a second
    done = client.post(
        "/account/totp/setup/",
        {"current_code": pyotp.TOTP(old_secret).now(), "code": pyotp.TOTP(new_secret).now()},
    )
    assert done.status_code == 302
    assert len(audit_rows("TOTP_REBOUND", actor_username="zhang_township")) == 1
    assert Notification.objects.filter(recipient__username="zhang_township", verb="account_security").exists()
    fresh = Client()
    login(fresh, "zhang_township")
    assert fresh.post("/login/totp/", {"code": pyotp.TOTP(old_secret).now()}).status_code == 200


def test_first_enrolment_at_login_still_works_for_an_administrator(world) -> None:
    client = Client()
    assert login(client, "wu_auditor") == "/account/totp/setup/"
    secret = client.get("/account/totp/setup/").context["secret"]
    assert client.post("/account/totp/setup/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert client.get("/audit/").status_code == 200


# --- 2. no administrator can become another administrator ----------------------------------------------


def test_the_system_admin_cannot_reset_the_auditors_password(world, client_for, audit_rows) -> None:
    auditor = User.objects.get(username="wu_auditor")
    response = client_for("sun_sysadmin").post(f"/users/{auditor.pk}/reset_password/")
    assert "initial" not in (response.context or {})
    assert User.objects.get(pk=auditor.pk).check_password(PASSWORD)
    assert not audit_rows("PASSWORD_RESET")
    assert audit_rows("ADMIN_SEPARATION_DENIED", actor_username="sun_sysadmin")


def test_the_system_admin_cannot_unlock_or_deactivate_another_administrator(world, client_for) -> None:
    secadmin = User.objects.get(username="zhou_secadmin")
    client = client_for("sun_sysadmin")
    client.post(f"/users/{secadmin.pk}/deactivate/")
    assert User.objects.get(pk=secadmin.pk).is_active


def test_the_system_admin_cannot_create_an_administrator_account(world, client_for) -> None:
    client_for("sun_sysadmin").post(
        "/users/new/",
        {"username": "shadow_auditor", "full_name": "影子", "role": "audit_admin", "region": "360722"},
    )
    assert not User.objects.filter(username="shadow_auditor").exists()


def test_an_administrators_reset_goes_through_the_security_admin_and_is_notified(
    world, client_for, audit_rows
) -> None:
    auditor = User.objects.get(username="wu_auditor")
    response = client_for("zhou_secadmin").post(f"/users/{auditor.pk}/reset_password/")
    assert User.objects.get(pk=auditor.pk).check_password(response.context["initial"])
    assert audit_rows("PASSWORD_RESET", actor_username="zhou_secadmin")
    assert Notification.objects.filter(recipient=auditor, verb="account_security").exists()


def test_one_security_admin_cannot_reset_both_factors_of_an_administrator(world, client_for) -> None:
    """The takeover: reset the auditor's password, then the second factor, then enrol one's own phone."""
    auditor = User.objects.get(username="wu_auditor")
    enrol_totp("wu_auditor")
    client = client_for("zhou_secadmin")
    client.post(f"/users/{auditor.pk}/reset_password/")
    client.post(f"/users/{auditor.pk}/reset_totp/")
    assert second_factor.has_second_factor(User.objects.get(pk=auditor.pk))
    # a second security administrator (here the province's) may do the other half
    province = Region.objects.get(prefix="36")
    second, _ = actions.create_user(
        actor=None,
        username="qian_secadmin",
        full_name="钱",
        role=Role.SECURITY_ADMIN,
        region=province,
        password=PASSWORD,
    )
    other = Client()
    other.force_login(second)
    other.post(f"/users/{auditor.pk}/reset_totp/")
    assert not second_factor.has_second_factor(User.objects.get(pk=auditor.pk))


def test_the_takeover_chain_of_the_review_fails_end_to_end(world, client_for) -> None:
    """Reset the auditor's password as an administrator, log in with it, then try the setup page."""
    auditor = User.objects.get(username="wu_auditor")
    enrol_totp("wu_auditor")
    initial = client_for("zhou_secadmin").post(f"/users/{auditor.pk}/reset_password/").context["initial"]
    attacker = Client()
    assert login(attacker, "wu_auditor", initial) == "/login/totp/"
    assert attacker.get("/account/totp/setup/")["Location"] == "/login/totp/"
    assert attacker.get("/audit/").status_code == 302


def test_an_administrator_role_is_only_given_to_an_account_whose_holder_set_their_own_password(
    world, client_for
) -> None:
    created = client_for("sun_sysadmin").post(
        "/users/new/",
        {"username": "gu_analyst", "full_name": "古", "role": "analyst", "region": "360722"},
    )
    assert created.status_code == 200
    target = User.objects.get(username="gu_analyst")
    data = {"role": "audit_admin", "region": "360722", "department": "", "version": target.version}
    response = client_for("zhou_secadmin").post(f"/users/{target.pk}/", data)
    assert "本人修改初始密码" in response.content.decode()
    assert User.objects.get(pk=target.pk).role == "analyst"


# --- 3. guesses at the second factor are limited ---------------------------------------------------------


def test_forty_wrong_codes_lock_the_account_and_the_right_code_then_fails(world, audit_rows) -> None:
    secret = enrol_totp("wu_auditor")
    attacker = Client()
    login(attacker, "wu_auditor")
    wrong = other_code(secret)
    for _ in range(40):
        attacker.post("/login/totp/", {"code": wrong})
    response = attacker.post("/login/totp/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert attacker.get("/audit/").status_code == 302
    assert len(audit_rows("ACCOUNT_LOCKED", actor_username="wu_auditor")) == 1
    assert len(audit_rows("TOTP_FAILED", actor_username="wu_auditor")) <= 6
    assert login(Client(), "wu_auditor") == ""  # the password alone is refused while locked


def test_the_lock_from_wrong_codes_ends_after_the_lock_period(world) -> None:
    secret = enrol_totp("wu_auditor")
    attacker = Client()
    login(attacker, "wu_auditor")
    for _ in range(5):
        attacker.post("/login/totp/", {"code": other_code(secret)})
    with freeze_time(timezone.now() + dt.timedelta(minutes=31)):
        owner = Client()
        assert login(owner, "wu_auditor") == "/login/totp/"
        assert owner.post("/login/totp/", {"code": pyotp.TOTP(secret).now()}).status_code == 302


def test_wrong_codes_at_enrolment_are_limited_too(world) -> None:
    client = Client()
    login(client, "wu_auditor")
    secret = client.get("/account/totp/setup/").context["secret"]
    for _ in range(10):
        client.post("/account/totp/setup/", {"code": other_code(secret)})
    response = client.post("/account/totp/setup/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert User.objects.get(username="wu_auditor").is_locked()


def test_a_known_browser_passes_both_steps_while_a_stranger_has_locked_the_account(world) -> None:
    """Device cookies (ADR 0021) reach the code step too: a stranger's wrong passwords lock the account
    for unknown browsers only, and the administrator's own browser still signs in with password + code."""
    secret = enrol_totp("wu_auditor")
    owner = Client()
    login(owner, "wu_auditor")
    assert owner.post("/login/totp/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    owner.post("/logout/")
    for _ in range(5):
        login(Client(), "wu_auditor", "Wrong-pass-1234")
    assert User.objects.get(username="wu_auditor").is_locked()
    assert login(owner, "wu_auditor") == "/login/totp/"
    with freeze_time(timezone.now() + dt.timedelta(seconds=31)):  # the next code, not the used one
        assert owner.post("/login/totp/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
