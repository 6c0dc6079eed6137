"""Owner-only maintenance of the audit table: the append-only triggers are suspended for one block.

Used by the retention purge (rows past AUDIT_MIN_RETENTION_DAYS) and by the test suite to empty its
database. The application's own database role should not own the table in production (see
docs/security.md): then this raises a permission error instead of suspending anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.base.base import BaseDatabaseWrapper

_SQLITE_TRIGGERS = {
    "audit_no_update": "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
    "audit_no_delete": "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END",
}


@contextmanager
def append_only_suspended(connection: BaseDatabaseWrapper) -> Iterator[None]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        elif connection.vendor == "sqlite":
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
            elif connection.vendor == "sqlite":
                for sql in _SQLITE_TRIGGERS.values():
                    cursor.execute(sql)
