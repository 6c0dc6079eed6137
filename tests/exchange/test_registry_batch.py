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
