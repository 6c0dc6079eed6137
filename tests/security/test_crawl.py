"""#14: every page and API route as every persona (and as a visitor), each answer checked for its
headers, cookies, forms and masking; a read never changes the database. Links found on the pages are
followed too (one of each route and query shape), so filters and pagination are crawled as well."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from conftest import PERSONAS

from .conftest import signed_in
from .crawl import (
    SPECS,
    Secrets,
    Site,
    body_text,
    changed,
    cookie_problems,
    every_url_name,
    form_problems,
    get_form_urls,
    header_problems,
    masking_problems,
    parse_page,
    route_of,
    snapshot,
)

MAX_FOLLOWED = 150  # links followed per persona beyond the routes themselves


def crawl(client: Client, site: Site, user: Any, *, https: bool = False) -> tuple[int, list[str]]:
    """GET every route and the links found on its pages; the number of answers and their problems."""
    secrets = Secrets.of_world()
    queue = [r.url for r in site.routes(user, "GET")]
    seen_shapes: set[tuple[str | None, frozenset[str]]] = set()
    problems: list[str] = []
    answers = 0
    while queue:
        url = queue.pop(0)
        response = client.get(url, secure=https)
        answers += 1
        text = body_text(response)
        found = [f"status {response.status_code}"] if response.status_code >= 500 else []
        # the health check is for the load balancer, with no data: cacheable on purpose
        private = user is not None and route_of(url) != "web:healthz"
        found += header_problems(response, signed_in=private, https=https)
        found += cookie_problems(response, https=https)
        found += masking_problems(text, secrets)
        if "html" in response.get("Content-Type", ""):
            found += form_problems(text)
            forms, links = parse_page(text)
            for link in links + get_form_urls(url, forms):
                parts = urlsplit(link)
                shape = (route_of(parts.path or url), frozenset(parts.query.split("&")[0:1]))
                if (
                    shape[0]
                    and not parts.netloc
                    and shape not in seen_shapes
                    and len(seen_shapes) < MAX_FOLLOWED
                ):
                    seen_shapes.add(shape)
                    queue.append(link if parts.path else urlsplit(url).path + link)
        problems += [f"GET {url}: {p}" for p in found]
    return answers, problems


def test_the_crawl_reaches_every_named_url() -> None:
    assert every_url_name() <= set(SPECS)


@pytest.mark.parametrize("persona", [*sorted(PERSONAS), "visitor"])
def test_every_answer_has_safe_headers_protected_forms_and_masked_data(site: Site, persona: str) -> None:
    user = site.world.users.get(persona)
    client = Client()
    if user is not None:
        client.force_login(user)
    site.routes(user)  # every object the crawl reads exists before the snapshot
    before = snapshot()

    answers, problems = crawl(client, site, user)

    assert answers >= len([s for s in SPECS.values() if s.method == "GET"])
    after = snapshot()
    assert not changed(before, after), [after[m][-3:] for m in changed(before, after)]
    assert not problems, "\n".join(problems)


def test_a_search_answer_is_masked(site: Site, client_for: Any) -> None:
    """Searches are POST-only (queries stay out of logs); their answers are masked like any page."""
    client = client_for("zhang_township")
    for query in ("欧阳秋菊", "司马春生", site.world.persons["own"].id_number):
        response = client.post(site.url("registry:household_search"), {"q": query})
        assert response.status_code == 200
        page = body_text(response).replace(f'value="{query}"', "")  # the query stays in its own box
        assert not masking_problems(page, Secrets.of_world()), query


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_a_real_sign_in_sets_only_protected_cookies(site: Site, settings: Any, https: bool) -> None:
    """Sign in through the form, crawl, sign out: every cookie set on the way is HttpOnly and SameSite,
    and Secure (with HSTS on every answer) when FANGPIN_HTTPS=true."""
    if https:
        for name, value in https_settings().items():
            setattr(settings, name, value)
    client = signed_in("zhang_township", secure=https)
    problems = [p for r in client.login_answers for p in cookie_problems(r, https=https)]
    set_names = {name for r in client.login_answers for name in r.cookies}
    assert {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME} <= set_names

    answers, crawled = crawl(client, site, site.world.users["zhang_township"], https=https)

    assert not problems + crawled, "\n".join(problems + crawled)
    if https:
        plain = Client().get("/login/")
        assert plain.status_code == 301 and plain["Location"].startswith("https://")


def https_settings() -> dict[str, Any]:
    """The settings that FANGPIN_HTTPS=true changes, computed by the settings module itself."""
    import importlib.util
    import os

    import fangpin.settings as current

    spec = importlib.util.spec_from_file_location("fangpin_settings_https", current.__file__)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    previous = os.environ.get("FANGPIN_HTTPS")
    os.environ["FANGPIN_HTTPS"] = "true"
    try:
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            del os.environ["FANGPIN_HTTPS"]
        else:
            os.environ["FANGPIN_HTTPS"] = previous
    names = [
        n for n in dir(module) if n.isupper() and any(w in n for w in ("HTTPS", "SECURE", "HSTS", "COOKIE"))
    ]
    found = {n: getattr(module, n) for n in names if getattr(module, n) != getattr(current, n, None)}
    assert found.get("SESSION_COOKIE_SECURE") is True, found
    return found
