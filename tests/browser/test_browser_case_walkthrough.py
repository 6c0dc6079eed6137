"""A lead walked on phones: the township dispatches it, the grid worker visits the household from the task
list, the village reviews and posts the notice, the township and the county approve, the township starts
an assistance plan — and later the same household goes through risk elimination."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

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
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x0bIDATx\x9cc\xf8\x0f\x04\x00\t\xfb\x03\xfd\xfb^k+\x00\x00\x00\x00IEND\xaeB`\x82"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.getenv("CI"), reason="chromium not installed"),
]


def _backdate_publicity(case_id: int) -> None:
    """Five days of village notice pass (the test cannot wait them out)."""
    from django.db.models import F

    from fangpin.cases.models import Case

    Case.objects.filter(pk=case_id).update(
        publicity_started_at=F("publicity_started_at") - dt.timedelta(days=6)
    )


def test_a_lead_goes_from_the_grid_workers_phone_to_monitored_and_later_to_eliminated(
    transactional_db: Any, world: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, sync_playwright

    from fangpin.cases.models import Case
    from fangpin.warnings.models import Lead

    settings.FANGPIN_MEDIA = str(tmp_path / "media")
    household = world.households["own"]
    lead = Lead.objects.create(
        household=household,
        village_id=household.village_id,
        channel="department",
        period="2026-10",
        risk_types="01",
        category="unstable",
        grade="高",
        score=0.92,
        reasons="近 3 个月住院自付 12,000 元，超过 10,000 元",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def sign_in(username: str) -> Page:
            context = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
            )
            page = context.new_page()
            page.on(
                "request",
                lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
            )
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            return page

        def state(page: Page) -> str:
            return page.inner_text("[data-testid=case-state]")

        def step(
            page: Page, action: str, fields: dict[str, str] | None = None, checks: tuple[str, ...] = ()
        ) -> None:
            card = page.locator(f"[data-testid=action-{action}]")
            for name, value in (fields or {}).items():
                field = card.locator(f"[name={name}]")
                if field.evaluate("e => e.tagName") == "SELECT":
                    field.select_option(value)
                else:
                    field.fill(value)
            for selector in checks:
                card.locator(selector).check()
            card.locator(f"[data-testid=submit-{action}]").click()
            page.wait_for_load_state()

        # 乡镇: dispatch the lead to the grid worker from the lead's page
        township = sign_in("zhang_township")
        township.goto(f"{live_server.url}/leads/{lead.pk}/")
        form = township.locator("[data-testid=open-case-form]")
        form.locator("select[name=assignee]").select_option(str(world.users["xiao_grid"].pk))
        form.locator("button[type=submit]").click()
        township.wait_for_selector("[data-testid=case-state]")
        assert state(township) == "入户核实"
        case_url = township.url

        # 网格员 on the phone: 我的任务 → the household, the reasons, the clock → the visit form with the scan
        grid = sign_in("xiao_grid")
        grid.goto(f"{live_server.url}/cases/tasks/")
        task = grid.locator("[data-testid=task]").first
        assert "住院自付" in task.inner_text() and "剩余" in task.inner_text()
        grid.screenshot(path=str(ARTIFACTS / "case-tasks-phone.png"), full_page=True)
        task.click()
        grid.wait_for_selector("[data-testid=action-submit_visit]")
        grid.screenshot(path=str(ARTIFACTS / "case-visit-form-phone.png"), full_page=True)
        card = grid.locator("[data-testid=action-submit_visit]")
        card.locator("[name=authorization]").set_input_files(
            files=[{"name": "授权书.png", "mimeType": "image/png", "buffer": PNG}]
        )
        step(
            grid,
            "submit_visit",
            {
                "members": "2",
                "able_members": "1",
                "wage_income": "6000",
                "transfer_income": "1500",
                "medical_spending": "4000",
            },
            (
                "[name=education_ok]",
                "[name=medical_insurance_ok]",
                "[name=housing_ok]",
                "[name=water_ok]",
                "input[name=risk_types][value='01']",
            ),
        )
        assert state(grid) == "村级民主评议"
        assert grid.locator("[data-testid=comparison]").is_visible()

        # 村: democratic review, the notice, five days later the end of the notice
        village = sign_in("liu_cadre")
        village.goto(case_url)
        step(
            village,
            "village_review",
            {"meeting_date": "2026-11-20", "attendees": "15", "votes_for": "14", "result": "同意纳入"},
        )
        assert state(village) == "村内公示"
        with village.expect_popup() as popup:
            village.click("[data-testid=notice-link]")
        notice = popup.value
        notice.wait_for_load_state()
        assert "肖*香" in notice.content() and "因病" not in notice.content()
        notice.close()
        _backdate_publicity(int(case_url.rstrip("/").rsplit("/", 1)[1]))
        village.goto(case_url)
        step(village, "end_publicity", {"note": "公示无异议"})
        assert state(village) == "乡镇审核"

        # 乡镇 then 县
        township.goto(case_url)
        step(township, "township_approve", {"note": "同意"})
        assert state(township) == "县级审批"
        county = sign_in("wang_county")
        county.goto(case_url)
        step(county, "county_approve", {"category": "unstable"}, ("input[name=risk_types][value='01']",))
        assert state(county) == "公告"
        township.goto(case_url)
        step(township, "announce", {"note": "已在乡镇公告"})
        assert state(township) == "已纳入监测"
        township.screenshot(path=str(ARTIFACTS / "case-monitored-phone.png"), full_page=True)

        # 一户一策: the township starts the household's assistance plan
        township.goto(f"{live_server.url}/assistance/")
        row = township.locator("[data-testid=monitored-household]").first
        row.locator("button:has-text('建立帮扶计划')").click()
        township.wait_for_load_state()
        assert "/assistance/plans/" in township.url

        # Later: risk elimination, mirrored
        township.goto(case_url)
        township.locator("[data-testid=submit-start-elimination]").click()
        township.wait_for_selector("[data-testid=case-state]")
        assert state(township) == "入户核实" and township.url != case_url
        elimination_url = township.url
        grid.goto(f"{live_server.url}/cases/tasks/")
        grid.locator("[data-testid=task]").first.click()
        step(
            grid,
            "submit_visit",
            {"members": "2", "able_members": "1", "wage_income": "30000", "months_above_line": "8"},
            ("[name=education_ok]", "[name=medical_insurance_ok]", "[name=housing_ok]", "[name=water_ok]"),
        )
        assert state(grid) == "村级民主评议"
        village.goto(elimination_url)
        step(
            village,
            "village_review",
            {"meeting_date": "2027-06-01", "attendees": "12", "votes_for": "12", "result": "同意消除风险"},
        )
        _backdate_publicity(int(elimination_url.rstrip("/").rsplit("/", 1)[1]))
        village.goto(elimination_url)
        step(village, "end_publicity", {"note": "无异议"})
        township.goto(elimination_url)
        step(township, "township_approve", {"note": "同意"})
        county.goto(elimination_url)
        step(county, "county_approve", {"note": "收入稳定，三保障和饮水安全"})
        assert state(county) == "已消除风险"
        county.screenshot(path=str(ARTIFACTS / "case-eliminated-phone.png"), full_page=True)
        browser.close()

    assert not outside, f"requests left the server: {outside}"
    assert list(Case.objects.order_by("pk").values_list("kind", "state")) == [
        ("identification", "monitored"),
        ("elimination", "eliminated"),
    ]
