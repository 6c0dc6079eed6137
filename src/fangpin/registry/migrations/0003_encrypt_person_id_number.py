"""CRY-02: encrypt Person.id_number in place and fill its blind indexes (ADR 0023).

The column becomes plain text first, the values are rewritten as ciphertext in chunks, then the field
becomes the encrypted one (same column type: no further change in the database)."""

from typing import Any

from django.db import migrations, models

import fangpin.web.fields
from fangpin.web.fields import BlindIndexField, context_of, decrypt, keyring
from fangpin.lib import fieldcrypto

CHUNK = 5000
FULL = BlindIndexField(of="id_number")
ID14 = BlindIndexField(of="id_number", prefix=14)


def encrypt(apps: Any, schema_editor: Any) -> None:
    Person = apps.get_model("registry", "Person")
    context, ring = context_of(Person, "id_number"), keyring()
    pks = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), CHUNK):
        persons = list(Person.objects.filter(pk__in=pks[start : start + CHUNK]).only("pk", "id_number"))
        for p in persons:
            plain = p.id_number
            p.id_number_index, p.id14_index = FULL.index_of(plain), ID14.index_of(plain[:14])
            p.id_number = fieldcrypto.encrypt(ring, plain, context)
        Person.objects.bulk_update(persons, ["id_number", "id_number_index", "id14_index"])


def decrypt_back(apps: Any, schema_editor: Any) -> None:
    Person = apps.get_model("registry", "Person")
    context = context_of(Person, "id_number")
    persons = list(Person.objects.only("pk", "id_number"))
    for p in persons:
        p.id_number = decrypt(p.id_number, context)
    Person.objects.bulk_update(persons, ["id_number"], batch_size=CHUNK)


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_person_name_birth")]

    operations = [
        migrations.AddField("person", "id_number_index", models.CharField(max_length=32, null=True)),
        migrations.AddField("person", "id14_index", models.CharField(max_length=32, null=True)),
        migrations.AlterField("person", "id_number", models.TextField(verbose_name="公民身份号码")),
        migrations.RunPython(encrypt, decrypt_back),
        migrations.AlterField(
            "person",
            "id_number",
            fangpin.web.fields.EncryptedTextField(index="id_number_index", verbose_name="公民身份号码"),
        ),
        migrations.AlterField(
            "person", "id_number_index", fangpin.web.fields.BlindIndexField(of="id_number", unique=True)
        ),
        migrations.AlterField(
            "person",
            "id14_index",
            fangpin.web.fields.BlindIndexField(db_index=True, of="id_number", prefix=14),
        ),
    ]
