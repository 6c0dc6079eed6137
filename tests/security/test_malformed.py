"""#14: hostile values in every path parameter, every query parameter a page reads and every field of
every form answer 4xx or a form error — never 5xx — and never come back unescaped, not even later on
another page (a stored value). One test per URL namespace, each route as a persona who may use it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from .crawl import (
    HOSTILE,
    SHORT_HOSTILE,
    SPECS,
    Form,
    Site,
    body_text,
    echo_problems,
    parse_page,
    path_variants,
    persona_for,
    query_names,
)

NAMESPACES = sorted({n.split(":")[0] for n in SPECS if not n.startswith("api:")})
WRONG_TYPES: list[Any] = [["1", "2"], SimpleUploadedFile("x.txt", b"<script>", "text/html")]


class Prober:
    """Sends requests as one persona per route and keeps what went wrong."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.problems: list[str] = []
        self.sent = 0
        self._clients: dict[str, Client] = {}

    def client(self, persona: str) -> Client:
        if persona not in self._clients:
            client = Client()
            if persona != "visitor":
                client.force_login(self.site.world.users[persona])
            self._clients[persona] = client
        return self._clients[persona]

    def send(self, persona: str, method: str, url: str, data: Any = None) -> Any:
        client = self.client(persona)
        response = client.post(url, data or {}) if method == "POST" else client.get(url, data or {})
        self.sent += 1
        text = body_text(response)
        found = [f"status {response.status_code}"] if response.status_code >= 500 else []
        found += echo_problems(response, text)
        shown = {k: (v[:40] if isinstance(v, str) else v) for k, v in (data or {}).items()}
        self.problems += [f"{persona} {method} {url[:120]} {shown}: {p}" for p in found]
        if (
            response.status_code == 302
            and response["Location"].startswith("/login/")
            and persona != "visitor"
        ):
            self._clients.pop(persona)  # signed out (an account action or logout): sign in again
        return response


def _persona(name: str) -> str:
    return "visitor" if SPECS[name].public and not name.startswith("api:") else persona_for(name)


def _fields(form: Form) -> list[str]:
    return [f for f in form.fields if f != "csrfmiddlewaretoken"]


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_hostile_values_get_4xx_or_a_form_error_and_are_never_echoed(site: Site, namespace: str) -> None:
    probe = Prober(site)
    names = sorted(n for n in SPECS if n.split(":")[0] == namespace)
    posts: dict[str, tuple[str, set[str]]] = {}  # form target → (persona, its fields)
    for name in names:
        persona = _persona(name)
        user = site.world.users.get(persona)
        url = site.url(name, user)
        method = SPECS[name].method
        for bad in path_variants(name):
            probe.send(persona, method, bad, SPECS[name].data)
        if method == "POST":
            posts.setdefault(url, (persona, set()))[1].update(SPECS[name].data)
            continue
        page = probe.send(persona, "GET", url)
        if "html" not in page.get("Content-Type", ""):
            continue
        forms, links = parse_page(page.content.decode())
        for value in SHORT_HOSTILE:
            probe.send(persona, "GET", url, {q: value for q in query_names(url, forms, links) | {"page"}})
        for form in forms:
            if form.method == "post" and form.action.split(":")[0] not in ("http", "https"):
                posts.setdefault(form.action or url, (persona, set()))[1].update(_fields(form))
    for url, (persona, fields) in sorted(posts.items()):
        for value in [*HOSTILE, *WRONG_TYPES]:
            probe.send(persona, "POST", url, {f: value for f in fields or {"q"}})
    # a hostile value that was stored comes back escaped on every page of the namespace
    for name in names:
        if SPECS[name].method == "GET":
            probe.send(_persona(name), "GET", site.url(name, site.world.users.get(_persona(name))))

    assert probe.sent > len(names)
    assert not probe.problems, "\n".join(probe.problems)
    assert not stored_hidden_characters(), "a form kept a hostile control character"


def stored_hidden_characters() -> list[str]:
    """Text fields that kept a NUL or a right-to-left override from the hostile values (audit rows encode
    them on purpose). Looked for in Python: SQLite's LIKE cannot match a NUL."""
    from django.apps import apps
    from django.db import models

    found = []
    for model in apps.get_models():
        if model._meta.label_lower == "audit.auditevent":
            continue
        text = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField)
        ]
        for row in model._default_manager.values_list(*text) if text else []:
            found += [f"{model._meta.label}: {v[:60]!r}" for v in row if v and ("\x00" in v or "\u202e" in v)]
    return found
