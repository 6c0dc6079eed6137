from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone


@pytest.fixture
def toolbox(world: Any) -> None:
    """The default toolbox loaded into both counties of the test world."""
    from fangpin.assistance.actions import seed_toolbox
    from fangpin.regions.models import Region

    for county in ("360722", "360731"):
        seed_toolbox(Region.objects.get(prefix=county))


@pytest.fixture
def monitored(world: Any) -> Callable[..., Any]:
    """An identification case that ended with the household monitored (as W2's procedure leaves it)."""
    from fangpin.cases.models import Case

    def make(place: str = "own", *, risk_types: str = "01", category: str = "marginal", **visit: Any) -> Any:
        household = world.households[place]
        now = timezone.now()
        return Case.objects.create(
            household=household,
            village_id=household.village_id,
            state="monitored",
            category=category,
            risk_types=risk_types,
            found_at=now - dt.timedelta(days=40),
            opened_at=now - dt.timedelta(days=40),
            deadline_at=now - dt.timedelta(days=25),
            decided_at=now - dt.timedelta(days=30),
            monitored_at=now - dt.timedelta(days=30),
            visit=visit,
        )

    return make


@pytest.fixture
def plan(world: Any, toolbox: None, monitored: Callable[..., Any]) -> Any:
    from fangpin.assistance.actions import create_plan

    return create_plan(monitored("own", risk_types="01;09", able_members=1), actor=world.user("liu_cadre"))
