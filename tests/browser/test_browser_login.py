"""A person at a phone: log in, search, open a household file (Playwright + Debian's chromium)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.getenv("FANGPIN_TEST_ARTIFACTS", "test-artifacts"))
# Chromium's own background traffic is refused on this closed network; these flags keep it quiet.
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


def test_a_township_reviewer_logs_in_on_a_phone_and_opens_a_household_file(
    transactional_db, world, live_server
) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        page = context.new_page()
        page.on(
            "request",
            lambda request: None if request.url.startswith(live_server.url) else outside.append(request.url),
        )

        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", "zhang_township")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        assert page.inner_text("[data-testid=household-count]") == "1"

        page.goto(f"{live_server.url}/households/")
        page.fill("input[name=q]", "肖凤香")
        page.click("button:has-text('查询')")
        page.wait_for_selector("[data-testid=search-results] [data-testid=household-link]")
        assert page.url == f"{live_server.url}/households/"  # htmx swapped the results in; no PI in the URL
        page.click("[data-testid=search-results] [data-testid=household-link]")
        page.wait_for_selector("[data-testid=members]")
        members = page.inner_text("[data-testid=members]")
        assert "肖*香" in members and "肖凤香" not in members
        page.screenshot(path=str(ARTIFACTS / "household-file-phone.png"), full_page=True)

        # The stylesheet really applied (a page without CSS would still pass the text checks).
        assert page.evaluate("getComputedStyle(document.querySelector('.btn, .card')).borderRadius") != "0px"
        browser.close()
    assert not outside, f"requests left the server: {outside}"
