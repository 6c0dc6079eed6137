"""State changes of the registry: households, persons and their dated membership."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from django.db import transaction

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.pipeline.readers import ROW
from fangpin.regions.models import Level, Region
from fangpin.registry import snapshot
from fangpin.registry.models import (
    Household,
    Membership,
    MembershipChange,
    Person,
    PersonStatus,
)
from fangpin.registry.snapshot import SNAPSHOT_SCHEMA, SnapshotResult


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class PersonRow:
    """One row of the police household-registration snapshot (ps_person), already validated."""

    id_number: str
    name: str
    gender: str
    birth_date: dt.date
    household_no: str
    relation: str
    village_code: str
    status: str = PersonStatus.NORMAL
    status_date: dt.date | None = None


@transaction.atomic
def register_household(*, actor: Any, household_no: str, household_type: str, village: Region) -> Household:
    if village.level != Level.VILLAGE:
        raise RegistryError("农户必须登记在村（社区）")
    if Household.objects.filter(household_no=household_no).exists():
        raise RegistryError(f"户编号已存在: {household_no}")
    household = Household.objects.create(
        household_no=household_no, household_type=household_type, village=village
    )
    record(
        Event.HOUSEHOLD_CREATED,
        actor=actor,
        object_type="household",
        object_id=household.pk,
        data={"village": village.prefix},
    )
    return household


@transaction.atomic
def add_member(
    *,
    actor: Any,
    household: Household,
    person: Person,
    relation: str,
    since: dt.date,
    reason: str = MembershipChange.MOVED_IN,
) -> Membership:
    """Join a person to a household; an open membership elsewhere ends the same day (a move or split)."""
    open_elsewhere = (
        Membership.objects.select_for_update().filter(person=person, end_date__isnull=True).first()
    )
    if open_elsewhere is not None:
        if open_elsewhere.household_id == household.pk:
            raise RegistryError("此人已是该户成员")
        open_elsewhere.end_date = since
        open_elsewhere.end_reason = (
            MembershipChange.SPLIT if reason == MembershipChange.SPLIT else MembershipChange.MOVED_OUT
        )
        open_elsewhere.save(update_fields=["end_date", "end_reason"])
    membership = Membership.objects.create(
        person=person, household=household, relation=relation, start_date=since, start_reason=reason
    )
    record(
        Event.MEMBER_ADDED,
        actor=actor,
        object_type="household",
        object_id=household.pk,
        data={
            "person": person.pk,
            "relation": relation,
            "since": since.isoformat(),
            "reason": reason,
            "left_household": open_elsewhere.household_id if open_elsewhere else None,
        },
    )
    return membership


@transaction.atomic
def record_status(*, actor: Any, person: Person, status: str, on: dt.date) -> Person:
    """Death or moving out of the county: the person's household membership ends, the record stays."""
    if status not in (PersonStatus.DECEASED, PersonStatus.MOVED_OUT):
        raise RegistryError("只能登记死亡注销或迁出")
    old = person.status
    person.status, person.status_date = status, on
    person.version += 1
    person.save(update_fields=["status", "status_date", "version"])
    Membership.objects.filter(person=person, end_date__isnull=True).update(end_date=on, end_reason=status)
    record(
        Event.PERSON_STATUS_CHANGED,
        actor=actor,
        object_type="person",
        object_id=person.pk,
        data={"old": old, "new": status, "on": on.isoformat()},
    )
    return person


@transaction.atomic
def split_household(
    *,
    actor: Any,
    source: Household,
    new_household_no: str,
    members: Iterable[tuple[Person, str]],
    on: dt.date,
) -> Household:
    """分户: some members leave to form a new household in the same village, with their new relations."""
    members = list(members)
    if not members:
        raise RegistryError("分户至少需要一名成员")
    current = {m.person_id for m in source.current_memberships()}
    if any(p.pk not in current for p, _ in members):
        raise RegistryError("只能从本户现有成员中分出")
    new = register_household(
        actor=actor,
        household_no=new_household_no,
        household_type=source.household_type,
        village=source.village,
    )
    for person, relation in members:
        add_member(
            actor=actor,
            household=new,
            person=person,
            relation=relation,
            since=on,
            reason=MembershipChange.SPLIT,
        )
    record(
        Event.HOUSEHOLD_SPLIT,
        actor=actor,
        object_type="household",
        object_id=source.pk,
        data={"new_household": new.pk, "members": len(members)},
    )
    return new


def load_police_snapshot(
    rows: Iterable[PersonRow],
    *,
    as_of: dt.date,
    actor: Any = None,
    household_types: dict[str, str] | None = None,
) -> dict[str, int]:
    """`apply_police_snapshot` for rows given one by one (tests, small callers): the counts; a refused
    row is counted under `refused` and changes nothing."""
    listed = list(rows)
    table = pa.table(
        {
            **{
                name: pa.array([getattr(r, name) for r in listed], kind)
                for name, kind in SNAPSHOT_SCHEMA.items()
            },
            ROW: pa.array(range(1, len(listed) + 1), pa.int64()),
        }
    )
    return apply_police_snapshot(table, as_of=as_of, actor=actor, household_types=household_types).counts


@transaction.atomic
def apply_police_snapshot(
    table: pa.Table,
    *,
    as_of: dt.date,
    actor: Any = None,
    household_types: dict[str, str] | None = None,
) -> SnapshotResult:
    """Apply a police 户籍 snapshot (SNAPSHOT_SCHEMA columns + `_row`) as dated history: new persons and
    households are registered, changed household numbers become moves/splits, deaths and moves out end
    memberships. A row the registry cannot take (its gender or birth date contradicts its ID, a relation
    code it does not know, a status date after the snapshot, a new household in a village not loaded) is
    refused with a reason and changes nothing; the others are applied.

    Set-based at county scale (728,000 persons): the rows are compared with the registry as Arrow
    tables, read and written in chunks (registry/snapshot.py); no model instance per row."""
    born_by = max(as_of, dt.datetime.now(dt.UTC).date())  # the bound ingest_file validated them with
    refused = snapshot.refusals(table, as_of=as_of, born_by=born_by)
    rows = table.filter(pc.invert(pc.is_in(table.column(ROW), value_set=refused.column(ROW))))
    counts = {"rows": table.num_rows, "refused": 0, "persons_created": 0, "households_created": 0}
    counts |= {"moved": 0, "status_changed": 0}
    households = snapshot.existing_households(rows)
    new = snapshot.new_households(rows, households, household_types or {})
    counts["households_created"] = snapshot.insert_households(new)
    # the registry is read once; what this snapshot added is looked up by its keys (a month adds few)
    households = snapshot.with_new_households(households, new)
    unplaced = pc.invert(pc.is_in(rows.column("household_no"), value_set=households.column("household_no")))
    if pc.any(unplaced).as_py():  # a new household in a village that is not loaded
        refused = pa.concat_tables([refused, snapshot.refusal(rows.filter(unplaced), "registry_village")])
        rows = rows.filter(pc.invert(unplaced))
    counts["refused"] = refused.num_rows
    persons = snapshot.existing_persons(rows)
    counts["persons_created"], born_with_status = snapshot.insert_persons(rows, persons, as_of)
    persons = snapshot.with_new_persons(persons, rows)
    state = snapshot.with_registry(rows, persons, households)
    counts["status_changed"] = born_with_status + snapshot.apply_status(state, as_of)
    counts["moved"] = snapshot.apply_moves(state, as_of)
    record(
        Event.POLICE_SNAPSHOT_APPLIED,
        actor=actor,
        object_type="registry",
        object_id=as_of.isoformat(),
        data=counts,
    )
    return SnapshotResult(counts, refused.sort_by(ROW))
