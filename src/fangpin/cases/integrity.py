"""CRY-03: is every case decision the one the application wrote? Each CaseStep carries an HMAC over
its decision (models.SEALED_FIELDS), keyed outside the database; a row changed with SQL no longer
matches. Used by `fangpin audit verify` and the case page."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fangpin.cases.models import CaseStep
from fangpin.web.fields import RecordMacField

_CHUNK = 2000


def is_intact(step: CaseStep) -> bool:
    field = CaseStep._meta.get_field("seal")
    assert isinstance(field, RecordMacField)
    return field.matches(step)


def broken(steps: Iterable[CaseStep]) -> set[int]:
    """The ids of the steps whose seal does not match their content."""
    return {step.pk for step in steps if not is_intact(step)}


def broken_steps() -> Iterator[CaseStep]:
    """Every altered step in the database, in id order (read in chunks: millions of steps)."""
    last = 0
    while True:
        chunk = list(CaseStep.objects.filter(pk__gt=last).order_by("pk")[:_CHUNK])
        if not chunk:
            return
        yield from (step for step in chunk if not is_intact(step))
        last = chunk[-1].pk


def describe(step: CaseStep) -> str:
    return (
        f"办理记录 #{step.pk}（案件 #{step.case_id}，{step.action}，{step.from_state or '—'}→{step.to_state}，"
        f"操作人 #{step.actor_id or '系统'}，{step.at:%Y-%m-%d %H:%M}）签章校验失败"
    )
