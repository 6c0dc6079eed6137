"""The generated authorisation matrix (SECURITY.md AC-01, AC-02): every URL × every persona × an object in
the persona's own place, in the sibling township and in the other county.

A new URL must be described in SPECS below, or this test fails: nothing ships unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from conftest import PERSONAS, VILLAGE_A, VILLAGE_B, VILLAGE_C
from fangpin.audit.models import AuditEvent


@dataclass(frozen=True)
class Spec:
    method: str = "GET"
    kind: str | None = None  # the object the URL is about: household, person, region, user
    public: bool = False
    data: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)


SPECS: dict[str, Spec] = {
    "web:home": Spec(),
    "web:healthz": Spec(public=True),
    "accounts:login": Spec(public=True),
    "accounts:totp": Spec(public=True),
    "accounts:totp_setup": Spec(public=True),
    "accounts:logout": Spec(method="POST", public=True),
    "accounts:password_change": Spec(),
    "accounts:user_list": Spec(),
    "accounts:user_create": Spec(),
    "accounts:user_detail": Spec(kind="user"),
    "accounts:user_action": Spec(method="POST", kind="user", extra={"action": "unlock"}),
    "regions:region_home": Spec(),
    "regions:region_detail": Spec(kind="region"),
    "regions:grid_create": Spec(method="POST", kind="region", data={"name": "矩阵测试网格"}),
    "regions:grid_rename": Spec(method="POST", kind="region", data={"name": "矩阵测试"}),
    "registry:household_list": Spec(),
    "registry:household_search": Spec(method="POST", data={"q": "肖凤香"}),
    "registry:household_detail": Spec(kind="household"),
    "registry:person_reveal": Spec(
        method="POST", kind="person", data={"field": "name", "reason": "矩阵测试核对"}
    ),
    "audit:audit_list": Spec(),
    "audit:audit_export": Spec(method="POST"),
    "audit:audit_verify": Spec(method="POST"),
}


def all_url_names() -> dict[str, Any]:
    """Every named URL in the URLconf with its view function."""
    found: dict[str, Any] = {}

    def walk(patterns: list[Any], namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name:
                found[f"{namespace}{p.name}"] = p.callback

    walk(get_resolver().url_patterns, "")
    return found


def test_every_url_is_described_in_the_matrix() -> None:
    missing = sorted(set(all_url_names()) - set(SPECS))
    assert not missing, f"describe these URLs in SPECS: {missing}"


def test_every_non_public_view_declares_what_it_requires() -> None:
    """Deny by default: a view without @requires would be open to any signed-in user."""
    undeclared = [
        name
        for name, view in all_url_names().items()
        if not SPECS[name].public and not hasattr(view, "required_capabilities")
    ]
    assert not undeclared


def _targets(world: Any, kind: str) -> dict[str, tuple[Any, str]]:
    """place → (object, its region prefix)."""
    from fangpin.accounts.models import User
    from fangpin.regions.models import Region

    if kind == "household":
        return {p: (h, h.village_id) for p, h in world.households.items()}
    if kind == "person":
        return {p: (world.persons[p], world.households[p].village_id) for p in world.households}
    if kind == "region":
        return {
            p: (Region.objects.get(prefix=v), v)
            for p, v in (("own", VILLAGE_A), ("sibling", VILLAGE_B), ("other", VILLAGE_C))
        }
    users = {"own": "xiao_grid", "sibling": "li_township_b", "other": "huang_county_c"}
    return {
        p: (User.objects.get(username=u), User.objects.get(username=u).region_id) for p, u in users.items()
    }


def _url(name: str, spec: Spec, obj: Any = None) -> str:
    kwargs = dict(spec.extra)
    if obj is not None:
        kwargs["prefix" if spec.kind == "region" else "pk"] = obj.pk
    return reverse(name, kwargs=kwargs)


def _call(client: Client, spec: Spec, url: str) -> int:
    response = client.post(url, spec.data) if spec.method == "POST" else client.get(url)
    return response.status_code


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if not s.public))
def test_anonymous_visitors_are_sent_to_login(world, name: str) -> None:
    spec = SPECS[name]
    obj = next(iter(_targets(world, spec.kind).values()))[0] if spec.kind else None
    response = (
        Client().post(_url(name, spec, obj), spec.data)
        if spec.method == "POST"
        else Client().get(_url(name, spec, obj))
    )
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_each_persona_reaches_exactly_its_own_scope(world, client_for, persona: str) -> None:
    views = all_url_names()
    user = world.users[persona]
    client = client_for(persona)
    failures = []
    for name, spec in sorted(SPECS.items()):
        if spec.public:
            continue
        capabilities = views[name].required_capabilities
        allowed_role = not capabilities or any(user.can(c) for c in capabilities)
        targets = _targets(world, spec.kind) if spec.kind else {"-": (None, user.region_id)}
        for place, (obj, prefix) in targets.items():
            denied_before = AuditEvent.objects.filter(
                event_type="ACCESS_DENIED", actor_username=persona
            ).count()
            status = _call(client, spec, _url(name, spec, obj))
            in_scope = prefix.startswith(user.region_id)
            if not allowed_role:
                expected = {403}
            elif in_scope:
                expected = {200, 302, 400}
            else:
                expected = {404}
            if status not in expected:
                failures.append(f"{name} {place}: got {status}, expected {sorted(expected)}")
            if status in (403, 404):
                denied_after = AuditEvent.objects.filter(
                    event_type="ACCESS_DENIED", actor_username=persona
                ).count()
                if denied_after != denied_before + 1:
                    failures.append(f"{name} {place}: {status} without exactly one ACCESS_DENIED audit row")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.method == "POST"))
def test_state_changing_urls_refuse_get(world, client_for, name: str) -> None:
    """No state change by GET (SECURITY.md SES-03): every POST URL answers GET with 405."""
    spec = SPECS[name]
    obj = _targets(world, spec.kind)["own"][0] if spec.kind else None
    persona = {
        "accounts:user_action": "sun_sysadmin",
        "audit:audit_export": "wu_auditor",
        "audit:audit_verify": "wu_auditor",
    }.get(name, "zhang_township")
    assert client_for(persona).get(_url(name, spec, obj)).status_code == 405
