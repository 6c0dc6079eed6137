from django.db import migrations, models

# Raw SQL cannot edit or delete audit rows either (SECURITY.md AUD-03).
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_auditevent BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_auditevent BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
]
POSTGRES_TRIGGERS = [
    """CREATE FUNCTION audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
       FOR EACH ROW EXECUTE FUNCTION audit_append_only()""",
    """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_auditevent
       FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()""",
]


def add_triggers(apps, schema_editor):
    statements = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(
        schema_editor.connection.vendor, []
    )
    for sql in statements:
        schema_editor.execute(sql)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_no_update")
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    elif schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_no_update_delete ON audit_auditevent")
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_no_truncate ON audit_auditevent")
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_append_only()")


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(db_index=True, verbose_name="时间")),
                ("actor_id", models.BigIntegerField(blank=True, null=True, verbose_name="用户ID")),
                ("actor_username", models.CharField(blank=True, max_length=150, verbose_name="用户名")),
                ("actor_role", models.CharField(blank=True, max_length=40, verbose_name="角色")),
                ("actor_region", models.CharField(blank=True, max_length=15, verbose_name="用户区划")),
                ("ip", models.CharField(blank=True, max_length=45, verbose_name="来源IP")),
                ("request_id", models.CharField(blank=True, max_length=64, verbose_name="请求ID")),
                ("event_type", models.CharField(db_index=True, max_length=40, verbose_name="事件类型")),
                (
                    "outcome",
                    models.CharField(
                        choices=[("success", "成功"), ("failure", "失败"), ("denied", "拒绝")],
                        default="success",
                        max_length=10,
                        verbose_name="结果",
                    ),
                ),
                ("object_type", models.CharField(blank=True, max_length=40, verbose_name="对象类型")),
                ("object_id", models.CharField(blank=True, max_length=64, verbose_name="对象ID")),
                ("reason", models.CharField(blank=True, max_length=500, verbose_name="事由")),
                ("data", models.JSONField(blank=True, default=dict, verbose_name="详情")),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64, unique=True)),
            ],
            options={
                "verbose_name": "审计事件",
                "ordering": ["id"],
                "indexes": [models.Index(fields=["actor_id", "at"], name="audit_actor_at")],
            },
        ),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
