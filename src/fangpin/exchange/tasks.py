"""Background jobs of the exchange (django-tasks; the database backend by default)."""

from __future__ import annotations

from pathlib import Path

from django_tasks import task

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery


@task()
def import_uploaded(delivery_id: int, path: str) -> str:
    """Import a file saved by the upload page; the delivery record shows progress and the outcome.
    The file is deleted afterwards whatever happens (SECURITY.md RES-01)."""
    delivery = Delivery.objects.get(pk=delivery_id)
    try:
        done = actions.import_file(
            Path(path),
            delivery.dataset,
            delivery.period,
            source=delivery.source,
            username=delivery.operator,
            delivery=delivery,
            file_name=delivery.file_name,
        )
        return str(done.status)
    finally:
        Path(path).unlink(missing_ok=True)
