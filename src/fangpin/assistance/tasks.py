"""Background jobs of assistance (django-tasks): large roster exports."""

from __future__ import annotations

from django_tasks import task

from fangpin.assistance import actions


@task()
def build_roster(export_id: int) -> str:
    return actions.build_roster_export(export_id)
