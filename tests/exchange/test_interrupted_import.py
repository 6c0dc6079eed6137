"""An import killed mid-way (security issue #14, finding 10): it used to stay "processing" forever, and
the registry could hold a police snapshot whose delivery never completed. Interrupted imports are found
at start and by the clock, marked failed (导入中断) and audited; importing the file again ends exactly
where a clean run would, whichever step the first one died in.

A kill is simulated in-process by an exception no handler of the import catches (BaseException): what
was committed before it stays, nothing after it happens, as with SIGKILL (tests/pipeline/test_kill.py
kills a real process for the lake's part)."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.pipeline.lake import Lake
from fangpin.registry.models import Membership, Person

from .conftest import PERIODS


class Killed(BaseException):
    """The process dies here."""


def _snapshot(county_deliveries: Path) -> Path:
    (path,) = (county_deliveries / "deliveries" / PERIODS[0]).glob("ps_person.*")
    return path


def _dead_worker() -> str:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}"


def _die(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    def killed(*args: object, **kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(target, name, killed)


def _registry() -> tuple[int, int]:
    return Person.objects.count(), Membership.objects.filter(end_date__isnull=True).count()


def test_an_import_killed_in_the_lake_commit_is_recovered_and_a_rerun_completes_it(
    xinfeng, county_deliveries: Path, monkeypatch, audit_rows
) -> None:  # type: ignore[no-untyped-def]
    path = _snapshot(county_deliveries)
    _die(monkeypatch, Lake, "commit")  # the registry is already updated: that is where it died
    with pytest.raises(Killed):
        actions.import_file(path, "ps_person", PERIODS[0])
    monkeypatch.undo()
    interrupted = Delivery.objects.get()
    registry = _registry()
    assert interrupted.status == Status.PROCESSING and registry[0] > 0
    assert actions.recover_interrupted() == []  # its process (this one) is alive

    Delivery.objects.filter(pk=interrupted.pk).update(worker=_dead_worker())
    call_command("periodic", "--once")  # the clock finds it
    interrupted.refresh_from_db()
    assert interrupted.status == Status.FAILED and interrupted.message.startswith("导入中断")
    (row,) = audit_rows("DELIVERY_INTERRUPTED")
    assert row.object_id == str(interrupted.pk) and row.reason == "导入中断"

    done = actions.import_file(path, "ps_person", PERIODS[0])
    assert done.status == Status.ACCEPTED and done.reconciles
    # as a clean run: the snapshot applied twice changes nothing (rows with a broken ID are accepted when
    # linkage repairs them, but never register a person: at most one person per accepted row)
    assert _registry() == registry and 0 < registry[0] <= done.accepted


def test_an_import_killed_before_its_final_record_is_completed_from_the_lake(
    xinfeng, county_deliveries: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    path = _snapshot(county_deliveries)
    _die(monkeypatch, actions, "_finish")  # the lake holds the file; no record says so
    with pytest.raises(Killed):
        actions.import_file(path, "ps_person", PERIODS[0])
    monkeypatch.undo()
    Delivery.objects.update(worker=_dead_worker())
    registry = _registry()
    assert actions.recover_interrupted() == [Delivery.objects.get().pk]

    done = actions.import_file(path, "ps_person", PERIODS[0])
    # it used to say "duplicate" and leave no accepted delivery for a file that is in the lake
    assert done.status == Status.ACCEPTED and done.lake_delivery_id and "补全" in done.message
    assert done.reconciles and 0 < registry[0] <= done.accepted and _registry() == registry
    assert actions.import_file(path, "ps_person", PERIODS[0]).status == Status.DUPLICATE


def test_an_import_on_another_machine_counts_as_interrupted_only_after_hours_without_a_stage(
    xinfeng,
) -> None:  # type: ignore[no-untyped-def]
    def processing(hours_ago: int) -> Delivery:
        return Delivery.objects.create(
            dataset="ms_settlement",
            department="medical_security",
            period=PERIODS[0],
            content_hash="",
            source="upload",
            file_name="s.csv",
            status=Status.PROCESSING,
            worker="another-host:4242",
            heartbeat_at=timezone.now() - dt.timedelta(hours=hours_ago),
        )

    quiet, busy = processing(7), processing(1)
    assert actions.recover_interrupted() == [quiet.pk]
    busy.refresh_from_db()
    assert busy.status == Status.PROCESSING
