"""The security suite's world: the common personas and households, the matrix's objects, and personal
data that must never appear unmasked (a second household member and a self-declaration with a phone)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import PASSWORD, VILLAGE_A, make_id

from .crawl import Site


@pytest.fixture
def site(world: Any) -> Site:
    from fangpin.registry.models import Membership, Person
    from fangpin.warnings.models import Declaration, Lead

    household = world.households["own"]
    person = Person.objects.create(
        id_number=make_id(VILLAGE_A[:6], dt.date(1991, 4, 9), False),
        name="欧阳秋菊",
        gender="2",
        birth_date=dt.date(1991, 4, 9),
    )
    Membership.objects.create(
        person=person,
        household=household,
        relation="02",
        start_date=dt.date(2020, 1, 1),
        start_reason="registered",
    )
    lead = Lead.objects.create(
        household=household, village_id=VILLAGE_A, channel="self_declaration", period="2026-10"
    )
    Declaration.objects.create(
        lead=lead,
        name="司马春生",
        id_number=make_id(VILLAGE_A[:6], dt.date(1985, 11, 3), True),
        phone="13912345678",
        reason_category="01",
        consent_version="2024-1",
        consent_at=timezone.now(),
        client_key="k",
    )
    return Site(world)


def signed_in(username: str, *, secure: bool = False) -> Client:
    """A client signed in through the login form, as a browser would (its cookies as the server set them)."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/", secure=secure)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert token, "the login form carries no CSRF token"
    response = client.post(
        "/login/",
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        secure=secure,
        headers={"Origin": f"{'https' if secure else 'http'}://testserver"},  # as a browser sends it
    )
    assert response.status_code == 302 and response["Location"] == "/", response.status_code
    client.login_answers = [page, response]  # type: ignore[attr-defined]
    return client
