"""Background jobs of the analytics app (django-tasks)."""

from __future__ import annotations

from django_tasks import task

from fangpin.analytics import actions


@task()
def refresh_indicators(months: list[str], scope: str = "", changed_only: bool = True) -> list[str]:
    """The scheduled refresh: the recent months, only those whose leads/cases/measures changed."""
    return actions.refresh(months, scope=scope, changed_only=changed_only)


@task()
def build_export(job_id: int) -> str:
    from fangpin.analytics.exports import run_export_job

    return str(run_export_job(job_id))
