"""Attacks on the login (issue #14): username probing by timing, a spoofed X-Forwarded-For, and the
shared township-office address that 30 failures would close for everyone (SECURITY.md AUTH-03)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.utils import timezone

from conftest import PASSWORD, World
from fangpin.accounts.actions import LOGIN_FAILED_MESSAGE
from fangpin.accounts.models import User

WRONG = "Wrong-Guess-2026!"


def login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def refused(response: Any) -> bool:
    return response.status_code == 200 and LOGIN_FAILED_MESSAGE in response.content.decode()


def spray_from_the_office(count: int = 30) -> None:
    """An attacker behind the township office's one address tries `count` guessed accounts."""
    for i in range(count):
        login(Client(), f"guess_{i}", WRONG)


def known_device(username: str) -> Client:
    """A browser that signed in before (and signed out): it holds its device cookie."""
    client = Client()
    assert login(client, username).status_code == 302
    client.post("/logout/")
    return client


# --- finding 6: the answer takes as long for an unknown user as for a known one ---------------------


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    original = MD5PasswordHasher.encode

    def counting(self: MD5PasswordHasher, password: str, salt: str) -> str:
        calls.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    yield calls


def _lock(username: str) -> None:
    User.objects.filter(username=username).update(
        locked_until=timezone.now() + timezone.timedelta(minutes=30)
    )


SITUATIONS: dict[str, tuple[Callable[[], None], str, str]] = {
    "unknown user": (lambda: None, "nobody_here", WRONG),
    "inactive user": (
        lambda: User.objects.filter(username="zhang_township").update(is_active=False),
        "zhang_township",
        PASSWORD,
    ),
    "locked user": (lambda: _lock("zhang_township"), "zhang_township", PASSWORD),
    "wrong password": (lambda: None, "zhang_township", WRONG),
    "right password": (lambda: None, "zhang_township", PASSWORD),
    "throttled address": (spray_from_the_office, "zhang_township", PASSWORD),
}


@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_login_answer_runs_the_password_hasher_exactly_once(
    world: World, hash_calls: list[str], situation: str
) -> None:
    prepare, username, password = SITUATIONS[situation]
    prepare()
    hash_calls.clear()
    login(Client(), username, password)
    assert len(hash_calls) == 1, f"{situation}: the hasher ran {len(hash_calls)} times"


@pytest.mark.slow
def test_unknown_and_locked_users_answer_as_slowly_as_a_known_one_with_the_real_hasher(
    world: World, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    for username in ("zhang_township", "li_township_b", "xiao_grid"):
        user = User.objects.get(username=username)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    _lock("li_township_b")
    User.objects.filter(username="xiao_grid").update(is_active=False)

    def median_seconds(username: str, password: str) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            login(Client(), username, password)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known = median_seconds("zhang_township", WRONG)
    for case, (username, password) in {
        "unknown": ("nobody_here", WRONG),
        "locked": ("li_township_b", PASSWORD),
        "inactive": ("xiao_grid", PASSWORD),
    }.items():
        took = median_seconds(username, password)
        assert took >= 0.5 * known, f"{case}: {took:.3f} s against {known:.3f} s for a known user"


# --- finding 9: the client writes X-Forwarded-For; only our own proxies' entries count --------------


def test_rotating_a_spoofed_forwarded_for_does_not_escape_the_address_throttle(
    world: World, settings: Any, audit_rows: Callable[..., list[Any]]
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.FANGPIN_TRUSTED_PROXIES = 1
    for i in range(30):
        behind_proxy = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, 203.0.113.7")
        login(behind_proxy, f"guess_{i}", WRONG)
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.7")
    assert refused(login(attacker, "zhang_township"))
    assert [row.ip for row in audit_rows("LOGIN_THROTTLED")] == ["203.0.113.7"]


# --- finding 10: a shared address; device cookies (OWASP) ---------------------------------------


def test_thirty_failures_from_the_office_do_not_shut_out_a_colleague_on_a_known_device(
    world: World, audit_rows: Callable[..., list[Any]]
) -> None:
    colleague = known_device("zhang_township")
    spray_from_the_office(30)
    assert len(audit_rows("LOGIN_FAILED", reason="unknown_user")) == 30  # every failure still audited
    assert login(colleague, "zhang_township").status_code == 302
    assert refused(login(Client(), "li_township_b"))  # a browser without the cookie stays throttled
    assert audit_rows("LOGIN_THROTTLED", actor_username="li_township_b")


def test_an_attacker_on_a_fresh_device_cannot_lock_the_owner_out_of_a_known_device(
    world: World, audit_rows: Callable[..., list[Any]]
) -> None:
    owner = known_device("zhang_township")
    for _ in range(5):
        login(Client(), "zhang_township", WRONG)
    assert len(audit_rows("ACCOUNT_LOCKED", actor_username="zhang_township")) == 1
    assert refused(login(Client(), "zhang_township"))  # locked for every unknown browser
    assert login(owner, "zhang_township").status_code == 302


def test_a_known_device_is_locked_by_its_own_failures(
    world: World, audit_rows: Callable[..., list[Any]]
) -> None:
    device = known_device("zhang_township")
    for _ in range(5):
        assert refused(login(device, "zhang_township", WRONG))
    assert len(audit_rows("LOGIN_FAILED", actor_username="zhang_township", reason="bad_password")) == 5
    assert len(audit_rows("DEVICE_LOCKED", actor_username="zhang_township")) == 1
    assert refused(login(device, "zhang_township"))
    assert login(Client(), "zhang_township").status_code == 302  # the account itself is not locked


def test_a_forged_or_borrowed_device_cookie_earns_no_trust(world: World) -> None:
    borrowed = known_device("li_township_b")  # li's browser is not zhang's device
    spray_from_the_office(30)
    assert refused(login(borrowed, "zhang_township"))
    forged = Client()
    forged.cookies["fangpin_device"] = "zhang_township:trusted"
    assert refused(login(forged, "zhang_township"))
