"""Background jobs of the lead queue (django-tasks; the database backend by default)."""

from __future__ import annotations

from django_tasks import task

from fangpin.warnings import retrain, screening


@task()
def screen_and_import(as_of: str) -> int:
    """The monthly department screening: screen the lake as of `as_of` with the policy and risk model in
    force and store the pushed warnings as leads. Returns the ScreeningRun id."""
    return screening.screen_period(as_of, trigger="batch").pk


@task()
def rescore(household_ids: list[int], period: str) -> int | None:
    """The incremental path as a job (for callers that must not wait; the push API re-scores inline)."""
    run = screening.rescore_households(household_ids, period)
    return run.pk if run else None


@task()
def retrain_model() -> str:
    """The monthly retraining on the county's own history, when due (champion/challenger decides
    whether the new version becomes active). Returns the one-line verdict."""
    return retrain.retrain_if_due().why
