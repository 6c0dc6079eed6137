"""The migration encrypts the ID numbers already in a database and fills their blind indexes (CRY-02)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conftest import make_regions

BEFORE = [
    ("registry", "0002_person_name_birth"),
    ("warnings", "0001_initial"),
    ("cases", "0002_official_day"),
]
NUMBER = "360722198005170011"


@pytest.mark.slow
def test_existing_plaintext_ids_become_ciphertext_with_their_index(transactional_db: None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    make_regions()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO registry_person (id_number, name, gender, birth_date, labour_capacity, status, version)"
            " VALUES (%s, '肖凤香', '1', '1980-05-17', '', 'normal', 1)",
            [NUMBER],
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from fangpin.registry.models import Person

    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, id_number_index, id14_index FROM registry_person")
        stored, index, id14 = cursor.fetchone()
    assert NUMBER not in stored and index and id14
    assert Person.objects.get(id_number=NUMBER).id_number == NUMBER
