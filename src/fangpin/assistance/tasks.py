"""Background jobs of assistance (django-tasks): large roster exports."""

from __future__ import annotations

from django_tasks import task

from fangpin.assistance import actions


@task()
def build_roster(export_id: int) -> str:
    return actions.build_roster_export(export_id)


@task()
def onboard(import_id: int) -> str:
    from fangpin.assistance.onboarding import run_import

    return run_import(import_id)
