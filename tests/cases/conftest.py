"""Fixtures for the case workflow: a lead in village A, walking a case forward, a tiny scan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

# A real 1×1 white PNG that decodes (the upload check re-encodes images, so a broken one is refused).
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\x0bIDATx\x9cc\xf8\x0f\x04\x00\t\xfb\x03\xfd\xfb^k+\x00\x00\x00\x00IEND\xaeB`\x82"
)

VISIT: dict[str, Any] = {
    "members": 2,
    "able_members": 1,
    "wage_income": "6000",
    "business_income": "2000",
    "property_income": "0",
    "transfer_income": "1500",
    "medical_spending": "4000",
    "schooling_spending": "0",
    "other_rigid_spending": "0",
    "education_ok": True,
    "medical_insurance_ok": True,
    "housing_ok": True,
    "water_ok": True,
    "risk_types": ["01"],
    "notes": "户主住院，自付较多",
}

ELIMINATION_VISIT: dict[str, Any] = {
    **VISIT,
    "wage_income": "30000",
    "months_above_line": 7,
    "risk_types": [],
}


def scan(name: str = "授权书.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG, content_type="image/png")


@pytest.fixture(autouse=True)
def _private_media(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.FANGPIN_MEDIA = str(tmp_path_factory.mktemp("media"))


@pytest.fixture
def make_lead(world: Any) -> Callable[..., Any]:
    from fangpin.warnings.models import Lead

    def make(place: str = "own", **fields: Any) -> Any:
        household = world.households[place]
        values = {
            "household": household,
            "village_id": household.village_id,
            "channel": "department",
            "kind": "verify",
            "status": "new",
            "period": "2026-10",
            "risk_types": "01",
            "category": "unstable",
            "grade": "高",
            "score": 0.9,
            "reasons": "近 3 个月住院自付 12,000 元，超过 10,000 元",
            "portrait_snapshot": {
                "cars": 0,
                "urban_properties": 0,
                "active_businesses": 0,
                "deposits": 2000.0,
            },
            **fields,
        }
        return Lead.objects.create(**values)

    return make


@pytest.fixture
def walk(world: Any, make_lead: Callable[..., Any]) -> Callable[..., Any]:
    """walk(until) → a case in village A taken through the identification steps up to `until` (a state).
    Each step by the persona of its level; publicity back-dated via the `at` of the actions."""
    from fangpin.cases import actions

    users = world.users

    def go(until: str = "monitored", *, kind: str = "identification", at: dt.datetime | None = None) -> Any:
        from django.utils import timezone

        start = at or timezone.now() - dt.timedelta(days=8)
        if kind == "elimination":
            base = go("monitored", at=start - dt.timedelta(days=200))
            case = actions.open_elimination(
                base, actor=users["zhang_township"], assignee=users["xiao_grid"], at=start
            )
            visit = ELIMINATION_VISIT
            files = None
        else:
            lead = make_lead()
            case = actions.open_case(
                lead, actor=users["zhang_township"], assignee=users["xiao_grid"], at=start
            )
            visit = VISIT
            files = {"authorization": scan()}
        plan: list[tuple[str, str, dict[str, Any], Any, dt.timedelta]] = [
            ("verifying", "submit_visit", visit, "xiao_grid", dt.timedelta(hours=1)),
            (
                "village_review",
                "village_review",
                {
                    "meeting_date": start.date().isoformat(),
                    "attendees": 12,
                    "votes_for": 11,
                    "result": "同意",
                },
                "liu_cadre",
                dt.timedelta(days=1),
            ),
            ("publicity", "end_publicity", {"note": "无异议"}, "liu_cadre", dt.timedelta(days=6, hours=1)),
            (
                "township_review",
                "township_approve",
                {"note": "同意"},
                "zhang_township",
                dt.timedelta(days=6, hours=2),
            ),
            (
                "county_approval",
                "county_approve",
                {"category": "unstable", "risk_types": ["01"], "note": "同意"}
                if kind == "identification"
                else {"note": "同意"},
                "wang_county",
                dt.timedelta(days=6, hours=3),
            ),
            ("announced", "announce", {"note": "已公告"}, "zhang_township", dt.timedelta(days=6, hours=4)),
        ]
        for state, action, payload, persona, offset in plan:
            if case.state == until:
                return case
            assert case.state == state, (case.state, state)
            case = actions.submit(
                case,
                action,
                actor=users[persona],
                payload={**payload, "version": case.version},
                files=files if action == "submit_visit" else None,
                at=start + offset,
            )
        assert case.state == until, (case.state, until)
        return case

    return go
