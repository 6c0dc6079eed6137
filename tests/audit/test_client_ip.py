"""Which address is the client's (issue #14, finding 9): X-Forwarded-For is written by the client first
and by each of our proxies after; only the entries our own proxies appended can be believed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import Client

from conftest import World

# The client forged the first entry; 192.0.2.9 and 203.0.113.7 were appended by proxies; 10.0.0.2 is the
# proxy the application sees.
FORWARDED = "6.6.6.6, 192.0.2.9, 203.0.113.7"


@pytest.mark.parametrize(
    ("proxies", "client_address"), [(0, "10.0.0.2"), (1, "203.0.113.7"), (2, "192.0.2.9")]
)
def test_the_audited_address_is_the_entry_our_own_proxies_wrote(
    world: World, settings: Any, audit_rows: Callable[..., list[Any]], proxies: int, client_address: str
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # FANGPIN_BEHIND_PROXY=true
    settings.FANGPIN_TRUSTED_PROXIES = proxies
    client = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=FORWARDED)
    client.post("/login/", {"username": "nobody", "password": "Wrong-Guess-2026!"})
    assert [row.ip for row in audit_rows("LOGIN_FAILED")] == [client_address]


def test_a_short_or_malformed_header_never_yields_a_forged_address(world: World, settings: Any) -> None:
    from django.test import RequestFactory

    from fangpin.audit.middleware import client_ip

    settings.FANGPIN_TRUSTED_PROXIES = 2
    factory = RequestFactory(REMOTE_ADDR="10.0.0.2")
    assert client_ip(factory.get("/", HTTP_X_FORWARDED_FOR="203.0.113.7")) == "203.0.113.7"
    assert client_ip(factory.get("/", HTTP_X_FORWARDED_FOR="x, <script>")) == "10.0.0.2"
    assert client_ip(factory.get("/")) == "10.0.0.2"


def test_a_proxy_without_a_trusted_proxy_count_is_warned_about(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.FANGPIN_TRUSTED_PROXIES = 0
    assert "fangpin.W002" in [message.id for message in run_checks()]
    settings.FANGPIN_TRUSTED_PROXIES = 1
    assert "fangpin.W002" not in [message.id for message in run_checks()]
