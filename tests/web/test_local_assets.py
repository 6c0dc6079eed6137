"""Government intranets have no internet: every asset is served by fangpin itself (no CDN, ever)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fangpin

PACKAGE = Path(fangpin.__file__).parent
EXTERNAL_ATTR = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']\s*(?:https?:)?//""", re.IGNORECASE)
EXTERNAL_CSS = re.compile(
    r"""(?:url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?(?:url\()?\s*["']?(?:https?:)?//)""", re.IGNORECASE
)


def test_no_template_references_an_external_asset() -> None:
    offenders = [
        str(p) for p in PACKAGE.rglob("*.html") if EXTERNAL_ATTR.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders


def test_no_stylesheet_pulls_in_an_external_file() -> None:
    css_files = list(PACKAGE.rglob("static/**/*.css"))
    assert css_files, "the UI kit's stylesheet should be vendored under static/"
    offenders = [
        str(p) for p in css_files if EXTERNAL_CSS.search(p.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offenders


@pytest.mark.parametrize("persona", ["zhang_township", "wu_auditor", "sun_sysadmin"])
def test_rendered_pages_reference_only_local_assets(world, client_for, persona: str) -> None:
    client = client_for(persona)
    for url in ("/", "/households/", "/regions/360722/", "/users/", "/audit/", "/account/password/"):
        response = client.get(url, follow=True)
        body = response.content.decode()
        assert not EXTERNAL_ATTR.search(body), url
        for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)""", body):
            assert client.get(asset).status_code == 200, asset


def test_the_login_page_works_without_a_session(db: None) -> None:
    from django.test import Client

    body = Client().get("/login/").content.decode()
    assert "登录" in body and not EXTERNAL_ATTR.search(body)
