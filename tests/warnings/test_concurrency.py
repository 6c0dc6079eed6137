"""Two people (or two pushed events) acting on the same lead at the same moment (PostgreSQL, real
connections; SQLite serialises writers, so the race is not meaningful there)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from fangpin.warnings import actions, screening
from fangpin.warnings.models import Lead
from screening.tinylake import put

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _race(*jobs: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_accept_and_reject_at_once_make_exactly_one_decision(world, make_lead) -> None:
    lead = make_lead(world.households["own"])
    township, county = world.user("zhang_township"), world.user("wang_county")
    results = _race(
        lambda: actions.accept_lead(Lead.objects.get(pk=lead.pk), actor=township, expected_version=1),
        lambda: actions.reject_lead(
            Lead.objects.get(pk=lead.pk), actor=county, reason="重复线索，已在核实", expected_version=1
        ),
    )
    conflicts = [r for r in results if isinstance(r, actions.Conflict)]
    assert len(conflicts) == 1 and "请刷新后重试" in str(conflicts[0]), results
    fresh = Lead.objects.get(pk=lead.pk)
    assert fresh.version == 2 and fresh.status in ("accepted", "rejected")


def test_two_events_for_one_household_at_once_make_one_lead(world, world_lake) -> None:
    person, household = world.persons["own"], world.households["own"]
    put(
        world_lake,
        "ms_settlement",
        "2026-10",
        [
            {
                "settlement_id": "R1",
                "id_number": person.id_number,
                "settle_date": dt.date(2026, 10, 9),
                "visit_type": "inpatient",
                "total_cost": 90000,
                "basic_paid": 40000,
                "critical_paid": 10000,
                "assistance_paid": 0,
                "self_pay": 40000,
                "person_key": person.pk,
                "household_key": household.pk,
            }
        ],
    )
    screening.active_policy()  # parsed once before the race (as in a warm server)
    results = _race(
        lambda: screening.rescore_households([household.pk], "2026-10"),
        lambda: screening.rescore_households([household.pk], "2026-10"),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Lead.objects.filter(household=household, channel="department").count() == 1
