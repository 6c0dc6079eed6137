"""Fixtures for the lead queue: a lake holding the world's households, leads in each place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from fangpin.pipeline.lake import Lake
from screening.tinylake import put


def lake_of_world(world: Any, period: str = "2026-09") -> Lake:
    """The police snapshot of the world's households committed to the test's lake (keys = Django pks)."""
    from fangpin.exchange.actions import active_catalog
    from fangpin.registry.models import Membership

    lake = Lake(Path(settings.FANGPIN_LAKE), catalog=active_catalog())
    current = Membership.objects.filter(end_date__isnull=True).select_related("person", "household")
    rows = [
        {
            "id_number": m.person.id_number,
            "name": m.person.name,
            "gender": m.person.gender,
            "birth_date": m.person.birth_date,
            "household_no": m.household.household_no,
            "relation": m.relation,
            "village_code": m.household.village_id,
            "status": "normal",
            "status_date": None,
            "person_key": m.person.pk,
            "household_key": m.household.pk,
        }
        for m in current
    ]
    put(lake, "ps_person", period, rows)
    # heads earn well (income far above the line), so only a new event can make a household a warning
    jobs = [
        {
            "id_number": r["id_number"],
            "employer": "某公司",
            "region": "county",
            "start_date": dt.date(2020, 1, 1),
            "end_date": None,
            "monthly_wage": 6000,
            "person_key": r["person_key"],
            "household_key": r["household_key"],
        }
        for r in rows
        if r["relation"] == "01"
    ]
    put(lake, "hr_employment", period, jobs)
    return lake


def settlement(id_number: str, *, self_pay: float, n: int = 1, day: str = "2026-10-12") -> dict[str, Any]:
    return {
        "settlement_id": f"S{n}",
        "id_number": id_number,
        "settle_date": day,
        "visit_type": "inpatient",
        "total_cost": self_pay * 2,
        "basic_paid": self_pay * 0.75,
        "critical_paid": self_pay * 0.2,
        "assistance_paid": self_pay * 0.05,
        "self_pay": self_pay,
    }


@pytest.fixture
def world_lake(world: Any) -> Lake:
    return lake_of_world(world)


def _make_lead(household: Any, **fields: Any) -> Any:
    from fangpin.warnings.models import Lead

    values: dict[str, Any] = {
        "household": household,
        "village_id": household.village_id,
        "channel": "department",
        "kind": "verify",
        "period": "2026-10",
        "risk_types": "01",
        "grade": "高",
        "score": 0.8,
        "reasons": "近12个月住院自付4.0万元",
        "rules": "MED-01",
        "provenance": [{"channel": "department", "at": dt.datetime(2026, 10, 31).isoformat()}],
    }
    values.update(fields)
    return Lead.objects.create(**values)


@pytest.fixture
def make_lead(world: Any) -> Any:
    return _make_lead


@pytest.fixture
def event() -> Any:
    return settlement
