"""CRY-02: encrypt a self-declaration's ID number and phone in place; the rate limit's index moves to
the ID number's blind index (ADR 0023)."""

from typing import Any

from django.db import migrations, models

import fangpin.web.fields
from fangpin.web.fields import BlindIndexField, context_of, decrypt, keyring
from fangpin.lib import fieldcrypto

FULL = BlindIndexField(of="id_number")


def encrypt(apps: Any, schema_editor: Any) -> None:
    Declaration = apps.get_model("warnings", "Declaration")
    ring = keyring()
    id_context, phone_context = context_of(Declaration, "id_number"), context_of(Declaration, "phone")
    rows = list(Declaration.objects.only("pk", "id_number", "phone"))
    for d in rows:
        d.id_number_index = FULL.index_of(d.id_number)
        d.id_number = fieldcrypto.encrypt(ring, d.id_number, id_context)
        d.phone = fieldcrypto.encrypt(ring, d.phone, phone_context)
    Declaration.objects.bulk_update(rows, ["id_number", "id_number_index", "phone"], batch_size=2000)


def decrypt_back(apps: Any, schema_editor: Any) -> None:
    Declaration = apps.get_model("warnings", "Declaration")
    id_context, phone_context = context_of(Declaration, "id_number"), context_of(Declaration, "phone")
    rows = list(Declaration.objects.only("pk", "id_number", "phone"))
    for d in rows:
        d.id_number, d.phone = decrypt(d.id_number, id_context), decrypt(d.phone, phone_context)
    Declaration.objects.bulk_update(rows, ["id_number", "phone"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [("warnings", "0001_initial")]

    operations = [
        migrations.RemoveIndex(model_name="declaration", name="declaration_id_time"),
        migrations.AddField("declaration", "id_number_index", models.CharField(max_length=32, null=True)),
        migrations.AlterField("declaration", "id_number", models.TextField(verbose_name="公民身份号码")),
        migrations.AlterField("declaration", "phone", models.TextField(verbose_name="联系电话")),
        migrations.RunPython(encrypt, decrypt_back),
        migrations.AlterField(
            "declaration",
            "id_number",
            fangpin.web.fields.EncryptedTextField(index="id_number_index", verbose_name="公民身份号码"),
        ),
        migrations.AlterField(
            "declaration", "phone", fangpin.web.fields.EncryptedTextField(verbose_name="联系电话")
        ),
        migrations.AlterField(
            "declaration", "id_number_index", fangpin.web.fields.BlindIndexField(of="id_number")
        ),
        migrations.AddIndex(
            model_name="declaration",
            index=models.Index(fields=["id_number_index", "created_at"], name="declaration_id_time"),
        ),
    ]
