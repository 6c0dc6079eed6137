"""#14 (SES-03): every POST route, pages and API alike, refuses a request that carries the session and
CSRF cookies but no token, as a forged cross-site form would; nothing changes. The one exception is the
department push, which authenticates by a token in a header that no other site can make a browser send."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from .crawl import SPECS, Site, changed, parse_page, persona_for, snapshot

MACHINE_ROUTES = {"api:push_events"}  # Authorization: Bearer <department token>, never a cookie
ANONYMOUS_FORMS = {"accounts:login", "warnings:declare", "accounts:totp", "accounts:totp_setup"}


def _refused_as_forgery(response: Any) -> bool:
    return response.status_code == 403 and re.search(rb"csrf", response.content, re.IGNORECASE) is not None


def test_every_post_route_refuses_a_request_without_a_csrf_token(site: Site) -> None:
    targets = {
        (site.url(n, site.world.users[persona_for(n)]), persona_for(n), n.startswith("api:"))
        for n, s in SPECS.items()
        if s.method == "POST" and n not in MACHINE_ROUTES
    } | _form_actions(site)
    before = snapshot()
    accepted = []
    for url, persona, is_api in sorted(targets):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(site.world.users[persona])
        browser.get("/")  # the browser now holds the CSRF cookie, as a victim's would
        if is_api:
            response = browser.post(url, {}, content_type="application/json")
        else:
            response = browser.post(url, {"name": "伪造", "action": "disable", "decision": "approve"})
        if not _refused_as_forgery(response):
            accepted.append(f"{persona} POST {url}: {response.status_code}")
    assert not accepted, "\n".join(accepted)
    assert not changed(before, snapshot())
    assert len(targets) >= 45


def _form_actions(site: Site) -> set[tuple[str, str, bool]]:
    """The targets of the POST forms on every page (pages that post to themselves included)."""
    found = set()
    for name, spec in SPECS.items():
        if spec.method != "GET" or name.startswith("api:") or spec.public:
            continue
        persona = persona_for(name)
        client = Client()
        client.force_login(site.world.users[persona])
        url = site.url(name, site.world.users[persona])
        response = client.get(url)
        if "html" in response.get("Content-Type", ""):
            forms, _ = parse_page(response.content.decode())
            found |= {(f.action or url, persona, False) for f in forms if f.method == "post"}
    return found


def test_forms_for_visitors_refuse_a_post_without_a_token(site: Site) -> None:
    for name in sorted(ANONYMOUS_FORMS):
        browser = Client(enforce_csrf_checks=True)
        url = site.url(name)
        browser.get(url)
        response = browser.post(url, {"username": "zhang_township", "password": "x", "code": "123456"})
        assert _refused_as_forgery(response), name


def test_the_token_of_another_session_is_refused(site: Site) -> None:
    """A token lifted from the attacker's own session does not work with the victim's cookie."""
    attacker = Client(enforce_csrf_checks=True)
    page = attacker.get("/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    victim = Client(enforce_csrf_checks=True)
    victim.force_login(site.world.users["zhang_township"])
    victim.get("/")
    response = victim.post(site.url("notifications:read_all"), {"csrfmiddlewaretoken": token.group(1)})
    assert _refused_as_forgery(response)
