"""A county leader opens the dashboards: the county map and the funnel draw from local files only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.getenv("FANGPIN_TEST_ARTIFACTS", "test-artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.getenv("CI"), reason="chromium not installed"),
]


def test_a_county_leader_sees_the_map_and_the_funnel(transactional_db, world, live_server) -> None:
    from playwright.sync_api import sync_playwright
    from tests.analytics.factory import at, household, lead, monitored_via_warning

    from fangpin.analytics.refresh import refresh_month

    for day in range(2, 9):
        monitored_via_warning("360722100200", found=f"2026-10-{day:02d}", decided=f"2026-10-{day + 9:02d}")
    monitored_via_warning("360722101200", found="2026-10-05", decided="2026-10-25")
    for _ in range(12):
        lead("360722100201", household("360722100201"), status="closed", outcome="not_confirmed")
    refresh_month("2026-10", now=at("2026-11-05"))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.on(
            "request",
            lambda request: None if request.url.startswith(live_server.url) else outside.append(request.url),
        )
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "wang_county")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        page.goto(f"{live_server.url}/analytics/region/360722/?month=2026-10")
        assert page.inner_text("[data-testid=kpi-monitored_households]") == "8"
        page.wait_for_selector("#map[data-ready='1'] canvas", timeout=20000)
        page.wait_for_selector("#funnel[data-ready='1'] canvas", timeout=20000)
        assert "加载失败" not in page.inner_text("#map")
        page.locator("#map").screenshot(path=str(ARTIFACTS / "analytics-map.png"))
        page.locator("#funnel").screenshot(path=str(ARTIFACTS / "analytics-funnel.png"))
        page.screenshot(path=str(ARTIFACTS / "analytics-dashboard.png"), full_page=True)
        # the canvas is not blank: some pixels differ from the background
        painted = page.evaluate(
            """() => { const c = document.querySelector('#funnel canvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i+3] > 0 && d[i] < 200) n++; } return n; }"""
        )
        assert painted > 500

        page.click("[data-testid=drill-link]:has-text('嘉定镇')")
        page.wait_for_url(f"{live_server.url}/analytics/region/360722100/?month=2026-10")
        page.wait_for_selector("#map[data-ready='1'] canvas", timeout=20000)
        page.locator("#map").screenshot(path=str(ARTIFACTS / "analytics-map-township.png"))
        browser.close()
    assert not errors, errors
    assert not outside, f"requests left the server: {outside}"
