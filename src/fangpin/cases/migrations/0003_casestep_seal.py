"""CRY-03: every case step carries a MAC over its decision; the steps already recorded are sealed as
they stand (their history before this is the audit chain's to prove) (ADR 0023)."""

from typing import Any

from django.db import migrations

import fangpin.web.fields


def seal(apps: Any, schema_editor: Any) -> None:
    CaseStep = apps.get_model("cases", "CaseStep")
    field = CaseStep._meta.get_field("seal")
    steps = list(CaseStep.objects.all())
    for step in steps:
        field.pre_save(step, False)  # sets step.seal
    CaseStep.objects.bulk_update(steps, ["seal"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_official_day")]

    operations = [
        migrations.AddField(
            model_name="casestep",
            name="seal",
            field=fangpin.web.fields.RecordMacField(
                over=[
                    "case_id",
                    "action",
                    "from_state",
                    "to_state",
                    "level",
                    "actor_id",
                    "at",
                    "note",
                    "data",
                    "attachment",
                    "attachment_type",
                ]
            ),
        ),
        migrations.RunPython(seal, migrations.RunPython.noop),
    ]
