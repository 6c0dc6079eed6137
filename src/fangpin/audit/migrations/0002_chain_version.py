from django.db import migrations, models

# Rows written before ADR 0022 keep their unkeyed SHA-256 (chain 1); record() writes HMAC rows (chain 2).
# No existing row is updated. On SQLite, adding a NOT NULL column rebuilds the table and loses its
# triggers: they are created again (PostgreSQL adds the column in place and keeps its triggers).
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_auditevent BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_auditevent BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
]


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_TRIGGERS:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.PositiveSmallIntegerField(default=1, verbose_name="链版本"),
        ),
        migrations.RunPython(restore_sqlite_triggers, migrations.RunPython.noop),
    ]
