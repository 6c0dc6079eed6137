"""Issue #14, finding 10: common passwords in disguise and re-used old passwords (SECURITY.md AUTH-02)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from conftest import PASSWORD, World
from fangpin.accounts.models import User


def change(client: Client, current: str, new: str) -> Any:
    return client.post(
        "/account/password/",
        {"current_password": current, "new_password": new, "new_password_again": new},
    )


@pytest.mark.parametrize(
    "common",
    ["Password123!", "P@ssw0rd2026!", "Iloveyou2026#", "!!Qwerty123456", "Dragon-2026-2026"],
)
def test_a_common_password_with_digits_symbols_or_leetspeak_is_refused(
    world: World, client_for: Callable[[str], Client], common: str
) -> None:
    response = change(client_for("zhang_township"), PASSWORD, common)
    assert response.status_code == 200
    assert "常见" in response.content.decode()
    assert User.objects.get(username="zhang_township").check_password(PASSWORD)


def test_an_uncommon_password_is_still_accepted(world: World, client_for: Callable[[str], Client]) -> None:
    assert change(client_for("zhang_township"), PASSWORD, "Ganzhou-Navel-Orange-9").status_code == 302


def test_none_of_the_last_five_passwords_may_come_back(
    world: World, client_for: Callable[[str], Client]
) -> None:
    client = client_for("zhang_township")
    history = [PASSWORD] + [f"Ganzhou-Orange-Harvest-{n}" for n in range(1, 5)]
    for previous, new in zip(history, history[1:], strict=False):
        assert change(client, previous, new).status_code == 302
    current = history[-1]
    for old in history[:-1]:
        response = change(client, current, old)
        assert response.status_code == 200 and "最近5次" in response.content.decode(), old
    assert change(client, current, "Ganzhou-Orange-Harvest-5").status_code == 302
    # six passwords later the first one has left the history
    assert change(client, "Ganzhou-Orange-Harvest-5", PASSWORD).status_code == 302


def test_the_initial_password_counts_as_a_previous_one(
    world: World, client_for: Callable[[str], Client]
) -> None:
    admin = client_for("sun_sysadmin")
    response = admin.post(
        "/users/new/",
        {"username": "gu_grid", "full_name": "顾小红", "role": "grid_worker", "region": "360722100200"},
    )
    initial = response.context["initial"]
    client = Client()
    client.post("/login/", {"username": "gu_grid", "password": initial})
    assert change(client, initial, "Ganzhou-Navel-Orange-9").status_code == 302
    response = change(client, "Ganzhou-Navel-Orange-9", initial)
    assert response.status_code == 200 and "最近5次" in response.content.decode()
