"""The action kernel on a measure: a stale form is refused with one Conflict, two people saving the same
version at the same moment make exactly one change (PostgreSQL: real row locks), and the public action
owns its transaction."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction

from fangpin.assistance import actions
from fangpin.assistance.models import Measure, MeasureType
from fangpin.audit.models import AuditEvent
from fangpin.kernel import Conflict, lock


def _measure(world: Any, plan: Any) -> Measure:
    loan = MeasureType.objects.get(county_id="360722", code="XD-01")
    return actions.add_measure(
        plan, actor=world.user("liu_cadre"), measure_type=loan, start_date=dt.date(2026, 3, 1)
    )


def _update(measure: Measure, actor: Any, effect: str, version: int = 1) -> Measure:
    return actions.update_measure(
        Measure.objects.get(pk=measure.pk),
        actor=actor,
        expected_version=version,
        status="active",
        effect=effect,
    )


@pytest.mark.django_db
def test_a_stale_version_is_one_conflict_with_a_chinese_message(world, plan) -> None:
    measure = _measure(world, plan)
    cadre = world.user("liu_cadre")
    assert _update(measure, cadre, "第一次").version == 2
    with pytest.raises(Conflict, match="请刷新后重试"):
        _update(measure, cadre, "过时的表单")
    assert Measure.objects.get(pk=measure.pk).effect == "第一次"
    assert AuditEvent.objects.filter(event_type="MEASURE_UPDATED").count() == 1


@pytest.mark.django_db
def test_lock_without_a_version_only_locks(world, plan) -> None:
    measure = _measure(world, plan)
    assert lock(Measure, measure.pk, None).pk == measure.pk
    assert lock(Measure.objects.select_related("plan"), measure.pk, 1).plan_id == plan.pk


@pytest.mark.django_db
def test_a_public_action_refuses_to_run_inside_a_callers_transaction(world, plan) -> None:
    measure = _measure(world, plan)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        _update(measure, world.user("liu_cadre"), "嵌套调用")
    assert Measure.objects.get(pk=measure.pk).version == 1


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


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_edits_of_the_same_version_at_once_make_one_change_and_one_conflict(world, plan) -> None:
    measure = _measure(world, plan)
    cadre, township = world.user("liu_cadre"), world.user("zhang_township")
    results = _race(
        lambda: _update(measure, cadre, "村干部的记录"), lambda: _update(measure, township, "乡镇的记录")
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    saved = [r for r in results if isinstance(r, Measure)]
    assert len(conflicts) == 1 and len(saved) == 1, results
    fresh = Measure.objects.get(pk=measure.pk)
    assert fresh.version == 2 and fresh.effect == saved[0].effect
    assert AuditEvent.objects.filter(event_type="MEASURE_UPDATED", object_id=str(measure.pk)).count() == 1
