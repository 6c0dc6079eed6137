"""State changes of the registry: households, persons and their dated membership."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from fangpin.audit.actions import record
from fangpin.regions.models import Level, Region
from fangpin.registry.models import (
    Household,
    Membership,
    MembershipChange,
    Person,
    PersonStatus,
    validate_id_number,
)


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
        "HOUSEHOLD_CREATED",
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
        "MEMBER_ADDED",
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
        "PERSON_STATUS_CHANGED",
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
        "HOUSEHOLD_SPLIT",
        actor=actor,
        object_type="household",
        object_id=source.pk,
        data={"new_household": new.pk, "members": len(members)},
    )
    return new


@transaction.atomic
def load_police_snapshot(
    rows: Iterable[PersonRow],
    *,
    as_of: dt.date,
    actor: Any = None,
    household_types: dict[str, str] | None = None,
) -> dict[str, int]:
    """Apply a police 户籍 snapshot as dated history: new persons and households are registered, changed
    household numbers become moves/splits, deaths and moves out end memberships. Rows must be valid
    (the exchange validates and quarantines bad rows before this is called)."""
    rows = list(rows)
    born_by = max(as_of, dt.datetime.now(dt.UTC).date())  # the bound ingest_file validated them with
    villages = set(
        Region.objects.filter(level=Level.VILLAGE, prefix__in={r.village_code for r in rows}).values_list(
            "prefix", flat=True
        )
    )
    households = {
        h.household_no: h for h in Household.objects.filter(household_no__in={r.household_no for r in rows})
    }
    persons = {p.id_number: p for p in Person.objects.filter(id_number__in={r.id_number for r in rows})}
    open_memberships = {
        m.person_id: m for m in Membership.objects.filter(person__in=persons.values(), end_date__isnull=True)
    }
    counts = {
        "rows": len(rows),
        "persons_created": 0,
        "households_created": 0,
        "moved": 0,
        "status_changed": 0,
        "skipped_unknown_village": 0,
    }
    types = household_types or {}
    new_households = []
    for row in rows:
        if row.household_no not in households:
            if row.village_code not in villages:
                counts["skipped_unknown_village"] += 1
                continue
            household = Household(
                household_no=row.household_no,
                household_type=types.get(row.household_no, "ordinary"),
                village_id=row.village_code,
            )
            households[row.household_no] = household
            new_households.append(household)
    Household.objects.bulk_create(new_households)
    counts["households_created"] = len(new_households)
    new_persons = []
    for row in rows:
        if row.id_number not in persons and row.household_no in households:
            # bounded like the exchange's validation of the same rows: a child born later in the month
            # of the snapshot is valid there, so it must be here (the import stopped on it before)
            validate_id_number(row.id_number, row.birth_date, row.gender, today=born_by)
            person = Person(
                id_number=row.id_number, name=row.name, gender=row.gender, birth_date=row.birth_date
            )
            persons[row.id_number] = person
            new_persons.append(person)
    Person.objects.bulk_create(new_persons)
    counts["persons_created"] = len(new_persons)
    new_memberships = []
    for row in rows:
        if row.household_no not in households:
            continue
        person, household = persons[row.id_number], households[row.household_no]
        current = open_memberships.get(person.pk)
        if row.status != PersonStatus.NORMAL:
            if person.status != row.status:
                person.status, person.status_date = row.status, row.status_date or as_of
                person.save(update_fields=["status", "status_date"])
                if current is not None:
                    current.end_date, current.end_reason = (
                        max(person.status_date, current.start_date),
                        row.status,
                    )
                    current.save(update_fields=["end_date", "end_reason"])
                counts["status_changed"] += 1
            continue
        if current is not None and current.household_id == household.pk:
            continue
        if current is not None:
            current.end_date, current.end_reason = max(as_of, current.start_date), MembershipChange.MOVED_OUT
            current.save(update_fields=["end_date", "end_reason"])
            counts["moved"] += 1
        reason = MembershipChange.REGISTERED if current is None else MembershipChange.MOVED_IN
        # The snapshot tells where a person is at its date, not since when: history starts here.
        new_memberships.append(
            Membership(
                person=person,
                household=household,
                relation=row.relation,
                start_date=as_of,
                start_reason=reason,
            )
        )
    Membership.objects.bulk_create(new_memberships)
    record(
        "POLICE_SNAPSHOT_APPLIED",
        actor=actor,
        object_type="registry",
        object_id=as_of.isoformat(),
        data=counts,
    )
    return counts
