"""The plan on a phone: a cadre adopts a suggested measure and a grid worker records a follow-up visit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.getenv("FANGPIN_TEST_ARTIFACTS", "test-artifacts"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.getenv("CI"), reason="chromium not installed"),
]


def test_a_cadre_adopts_a_suggestion_and_the_grid_worker_records_a_visit_on_phones(
    transactional_db: Any, world: Any, live_server: Any, toolbox: None, monitored: Any
) -> None:
    from playwright.sync_api import Page, sync_playwright

    from fangpin.assistance.actions import create_plan
    from fangpin.assistance.models import Measure

    plan = create_plan(monitored("own", risk_types="01;09", able_members=1), actor=world.user("liu_cadre"))
    url = f"{live_server.url}/assistance/plans/{plan.pk}/"
    outside: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def sign_in(username: str) -> Page:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, locale="zh-CN"
            )
            page = context.new_page()
            page.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            return page

        cadre = sign_in("liu_cadre")
        cadre.goto(url)
        first = cadre.locator("[data-testid=suggestion]").first
        name = first.locator("strong").inner_text()
        first.locator("button:has-text('采用')").click()
        cadre.wait_for_selector("[data-testid=measure]")
        assert name in cadre.locator("[data-testid=measure]").first.inner_text()

        grid = sign_in("xiao_grid")
        grid.goto(url)
        grid.fill("#id_findings", "已落实医疗救助，户主按时复诊")
        grid.fill("#id_income_per_capita", "8200")
        grid.locator("button:has-text('登记走访')").click()
        grid.wait_for_selector("[data-testid=visit]")
        grid.screenshot(path=str(ARTIFACTS / "assistance-plan-phone.png"), full_page=True)
        browser.close()
    assert Measure.objects.filter(plan=plan).count() == 1 and plan.visits.count() == 1
    assert not outside
