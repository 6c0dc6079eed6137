"""The shared cache table (settings.CACHES, ADR 0017): every web worker process sees the same cache."""

from typing import Any

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    # idempotent: creates the table of every DatabaseCache in settings.CACHES that does not exist yet
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = []  # type: ignore[var-annotated]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
