"""A folder of monthly files reads the (province-sized) registry once, and again only after it changed."""

from __future__ import annotations

import datetime as dt

import pytest

from fangpin.exchange import actions
from fangpin.registry.actions import record_status


def test_within_a_batch_the_registry_is_read_once_until_it_changes(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    read = actions._read_registry

    def counting(id_numbers: object) -> object:
        reads.append(id_numbers)
        return read(id_numbers)  # type: ignore[arg-type]

    monkeypatch.setattr(actions, "_read_registry", counting)
    with actions.registry_snapshot():
        first = actions.registry_table()
        assert actions.registry_table() is first and len(reads) == 1
        # a death ends a membership (the police snapshot of the same folder does this): read again
        record_status(
            actor=world.users["zhou_secadmin"],
            person=world.persons["own"],
            status="deceased",
            on=dt.date(2026, 10, 3),
        )
        after = actions.registry_table()
        assert len(reads) == 2 and after.num_rows == first.num_rows - 1
        assert actions.registry_table() is after and len(reads) == 2
        # a push's lookup by ID numbers is never served from the batch
        actions.registry_table([world.persons["sibling"].id_number])
        assert len(reads) == 3
    actions.registry_table()  # outside a batch: always read (another process may have changed it)
    assert len(reads) == 4


def test_a_large_files_persons_by_id_are_served_from_the_batch_read_equal_to_the_lookups(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actions, "WHOLE_READ_IDS", 2)  # the test county's files count as large
    reads: list[object] = []
    read = actions._read_registry

    def counting(id_numbers: object) -> object:
        reads.append(id_numbers)
        return read(id_numbers)  # type: ignore[arg-type]

    own, sibling = world.persons["own"].id_number, world.persons["sibling"].id_number
    wanted = [sibling, own, own, "360722199901010000", own.lower()]  # repeats, an ID nobody has, a variant
    looked_up = actions.registry_table(wanted).sort_by("person_key")  # outside a batch: indexed lookups
    assert sorted(looked_up.column("id_number").to_pylist()) == sorted([own, sibling])
    monkeypatch.setattr(actions, "_read_registry", counting)
    with actions.registry_snapshot():
        assert actions.registry_table(wanted).sort_by("person_key").equals(looked_up)
        assert actions.registry_table([own, sibling]).sort_by("person_key").equals(looked_up)
        whole = actions.registry_table()  # the same read serves the files linked against everyone
        assert len(reads) == 1 and whole.num_rows > looked_up.num_rows
        # one person: a push-sized lookup, not the batch's read
        assert actions.registry_table([own]).column("id_number").to_pylist() == [own] and len(reads) == 2
        record_status(
            actor=world.users["zhou_secadmin"],
            person=world.persons["own"],
            status="deceased",
            on=dt.date(2026, 10, 3),
        )
        after = actions.registry_table(wanted)
        assert len(reads) == 3 and after.column("id_number").to_pylist() == [sibling]
        assert after.equals(read(wanted))
