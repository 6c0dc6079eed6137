"""Background delivery of webhook posts and emails (django-tasks)."""

from __future__ import annotations

from django_tasks import task

from fangpin.notifications import actions


@task()
def deliver_dispatch(dispatch_id: int) -> str:
    return actions.deliver(dispatch_id)
