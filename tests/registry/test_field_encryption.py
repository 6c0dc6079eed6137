"""ID numbers and phones are encrypted at rest with a blind index for lookups (SECURITY.md CRY-02).

Each check reads the column with raw SQL, as a stolen database or backup would be read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import VILLAGE_A, make_id
from fangpin import cli
from fangpin.lib import fieldcrypto
from fangpin.regions.models import Region
from fangpin.registry.models import Membership, Person
from fangpin.warnings.models import Declaration
from fangpin.warnings.views import village_token
from fangpin.web import fields


def raw(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


@pytest.fixture
def private_keys(settings: Any, tmp_path: Any) -> Iterator[Any]:
    """A key file of this test's own (rotation rewrites it); the shared one is read again afterwards."""
    settings.FANGPIN_HOME = tmp_path
    fields.keyring(reload=True)
    yield tmp_path
    fields._ring = None


def person(id_number: str, name: str = "肖凤香") -> Person:
    facts_born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    gender = "1" if int(id_number[16]) % 2 else "2"
    return Person.objects.create(id_number=id_number, name=name, gender=gender, birth_date=facts_born)


def test_the_column_holds_ciphertext_and_the_orm_reads_the_number(world) -> None:
    own = world.persons["own"]
    (stored, index), *_ = raw("SELECT id_number, id_number_index FROM registry_person WHERE id = %s", own.pk)
    assert own.id_number not in stored and own.id_number[-6:] not in stored
    assert stored.startswith(fields.keyring().current + ":") and len(index) == 32
    assert Person.objects.get(pk=own.pk).id_number == own.id_number


def test_a_person_is_found_by_id_number_through_the_blind_index_only(world) -> None:
    own = world.persons["own"]
    with CaptureQueriesContext(connection) as queries:
        assert Person.objects.get(id_number=own.id_number) == own
        found = Membership.objects.filter(person__id_number__in=[own.id_number, "360722190001010000"])
        assert [m.person_id for m in found] == [own.pk]
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert own.id_number not in sql and "id_number_index" in sql  # the number never goes to the database
    assert not Person.objects.filter(id_number=make_id()).exists()


def test_the_household_search_by_id_number_still_finds_the_household(world, client_for) -> None:
    own = world.households["own"]
    body = client_for("zhang_township").post("/households/search/", {"q": world.persons["own"].id_number})
    assert own.household_no in body.content.decode()


def test_a_lookup_that_would_compare_ciphertext_is_refused_not_silently_empty(world) -> None:
    for lookup in ("startswith", "gte", "contains", "iexact"):
        with pytest.raises(FieldError, match="加密字段 id_number 只支持等值查找"):
            Person.objects.filter(**{f"id_number__{lookup}": "360722"}).exists()
    with pytest.raises(FieldError, match="加密字段 phone"):
        Declaration.objects.filter(phone="13812345678").exists()


def test_a_duplicate_id_number_is_refused_by_the_unique_blind_index(world) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        person(world.persons["own"].id_number, name="冒名")


def test_bulk_create_as_the_snapshot_loader_uses_it_encrypts_and_indexes(world) -> None:
    ids = [make_id(born=dt.date(1990, 1, 1)) for _ in range(3)]
    Person.objects.bulk_create(
        [
            Person(id_number=i, name="钟", gender=str(2 - int(i[16]) % 2), birth_date=dt.date(1990, 1, 1))
            for i in ids
        ]
    )
    stored = [s for (s,) in raw("SELECT id_number FROM registry_person")]
    assert not any(i in s for i in ids for s in stored)
    assert {p.id_number for p in Person.objects.filter(id_number__in=ids)} == set(ids)
    # the linker's "same first 14 digits" block finds all three through the prefix index
    prefix_index = fields.index_column(Person, "id14_index", [ids[0][:14]])[0]
    assert Person.objects.filter(id14_index=prefix_index).count() == 3


def test_a_writer_bypassing_the_orm_encrypts_with_one_call(world) -> None:
    number = make_id(born=dt.date(1991, 2, 3), male=False)
    (cipher,) = fields.encrypt_column(Person, "id_number", [number])
    (full,), (id14,) = (
        fields.index_column(Person, "id_number_index", [number]),
        fields.index_column(Person, "id14_index", [number[:14]]),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_person (id_number, id_number_index, id14_index, name, gender, birth_date,"
            " labour_capacity, status, version) VALUES (%s, %s, %s, '曾', '2', '1991-02-03', '', 'normal', 1)",
            [cipher, full, id14],
        )
    assert Person.objects.get(id_number=number).id_number == number
    stored = raw("SELECT id_number FROM registry_person WHERE id_number_index = %s", full)[0][0]
    assert fields.decrypt_column(Person, "id_number", [stored, None]) == [number, None]


def test_two_declarations_of_the_same_id_share_the_index_not_the_ciphertext(world) -> None:
    url = reverse("warnings:declare", args=[village_token(Region.objects.get(prefix=VILLAGE_A))])
    number = world.persons["own"].id_number
    data = {
        "name": "曾秋英",
        "id_number": number,
        "phone": "13812345678",
        "reason_category": "01",
        "consent": "on",
    }
    for _ in range(2):
        assert Client().post(url, data).status_code == 200
    rows = raw("SELECT id_number, id_number_index, phone FROM warnings_declaration ORDER BY id")
    (id1, index1, phone1), (id2, index2, phone2) = rows
    assert id1 != id2 and phone1 != phone2 and index1 == index2
    assert not any(
        secret in value for value in (id1, id2, phone1, phone2) for secret in (number, "13812345678")
    )
    # the person and the declaration index the same number alike (one purpose): joinable without decrypting
    assert (
        raw("SELECT id_number_index FROM registry_person WHERE id = %s", world.persons["own"].pk)[0][0]
        == index1
    )
    assert {d.phone for d in Declaration.objects.filter(id_number=number)} == {"13812345678"}


def test_rotation_re_encrypts_every_column_and_the_values_and_lookups_stay(
    private_keys, world, audit_rows, capsys
) -> None:
    own, other = world.persons["own"], world.persons["other"]
    before = dict(raw("SELECT id, id_number FROM registry_person"))
    assert all(v.startswith("1:") for v in before.values())
    call_command("field_keys", "rotate")
    after = dict(raw("SELECT id, id_number FROM registry_person"))
    assert all(v.startswith("2:") for v in after.values()) and after.keys() == before.keys()
    assert Person.objects.get(id_number=own.id_number).pk == own.pk
    assert Person.objects.get(pk=other.pk).id_number == other.id_number
    ring = json.loads((private_keys / fieldcrypto.KEY_FILE).read_text())
    assert ring["current"] == "2" and [k["id"] for k in ring["data"]] == ["1", "2"]  # backups still readable
    assert "当前数据密钥 2" in capsys.readouterr().out
    assert audit_rows("FIELD_KEYS_ROTATED")[0].data["rows"]["registry.Person"] == Person.objects.count()


def test_a_process_that_missed_the_rotation_reads_new_values(private_keys, world) -> None:
    own = world.persons["own"]
    stale = fields.keyring()
    call_command("field_keys", "rotate")
    fields._ring = stale  # e.g. a web worker started before the rotation
    assert Person.objects.get(pk=own.pk).id_number == own.id_number


def test_rotation_is_refused_when_the_keys_come_from_the_environment(
    private_keys, world, monkeypatch
) -> None:
    monkeypatch.setenv("FANGPIN_FIELD_KEYS", fields.keyring().to_json())
    with pytest.raises(CommandError, match="FANGPIN_FIELD_KEYS"):
        call_command("field_keys", "rotate")
    before = raw("SELECT id_number FROM registry_person ORDER BY id")
    # the operator installed the keyring; the command line re-encrypts under its current key
    assert cli.main(["keys", "reencrypt"]) == 0
    after = raw("SELECT id_number FROM registry_person ORDER BY id")
    assert all(a[0].startswith("1:") and a != b for a, b in zip(after, before, strict=True))
    assert Person.objects.get(pk=world.persons["own"].pk).id_number == world.persons["own"].id_number


def test_with_sm4_configured_new_keys_are_sm4_and_values_round_trip(private_keys, settings, db) -> None:
    settings.FIELD_CIPHER, settings.FANGPIN_HOME = "sm4-gcm", private_keys / "sm4"
    fields._ring = None  # a fresh installation: no key file yet
    assert fields.keyring().data["1"].alg == "sm4-gcm" and fields.keyring().index.alg == "hmac-sm3"
    number = make_id(born=dt.date(1985, 6, 1))
    created = person(number)
    assert Person.objects.get(id_number=number).pk == created.pk
    assert number not in raw("SELECT id_number FROM registry_person")[0][0]


def test_a_keyring_or_lake_open_to_other_users_is_a_startup_warning(private_keys, settings) -> None:
    from django.core.checks import run_checks

    lake = private_keys / "lake"
    lake.mkdir(mode=0o755)
    lake.chmod(0o755)
    settings.FANGPIN_LAKE = str(lake)
    (private_keys / fieldcrypto.KEY_FILE).chmod(0o644)
    assert {"fangpin.W020", "fangpin.W021"} <= {m.id for m in run_checks()}
    lake.chmod(0o700)
    (private_keys / fieldcrypto.KEY_FILE).chmod(0o600)
    assert not {"fangpin.W020", "fangpin.W021"} & {m.id for m in run_checks()}
