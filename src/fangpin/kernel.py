"""The action kernel: what every state-changing action shares (docs/architecture.md, "The action kernel").

    class Measure(Versioned): ...

    @outermost
    def update_measure(measure, *, actor, expected_version, ...):
        locked = lock(Measure, measure.pk, expected_version)   # row locked, stale version → Conflict
        ...
        locked.bump(["status"])                                # version + 1, saved with the fields
        record(Event.MEASURE_UPDATED, actor=actor, ...)

`outermost` is `transaction.atomic(durable=True)`: the public action owns the transaction, so a caller
that wraps it in its own atomic block fails loudly instead of silently widening (or, on a savepoint
rollback, half-undoing) the unit of work. An action that another action calls is split into the durable
public function and a plain `@transaction.atomic` helper (`_transition`, ...) that the callers use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from django.db import models, transaction

__all__ = ["ActionError", "Conflict", "Versioned", "lock", "outermost"]

M = TypeVar("M", bound="Versioned")

P = ParamSpec("P")
R = TypeVar("R")


def outermost(action: Callable[P, R]) -> Callable[P, R]:
    """The public, outermost action of a unit of work (see the module docstring)."""
    return transaction.atomic(durable=True)(action)


class ActionError(ValueError):
    """A request an action cannot carry out: the message is Chinese and shown to the user as is."""


class Conflict(ActionError):
    """Someone else changed the row since the form was loaded (optimistic locking)."""

    def __init__(self, message: str = "该记录已被他人修改，您看到的是旧版本，请刷新后重试") -> None:
        super().__init__(message)


class Versioned(models.Model):
    """A row edited through forms that may go stale: each saved change raises `version` by one."""

    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True

    def bump(self, fields: Iterable[str]) -> None:
        """Save `fields` with the next version (and `updated_at` where the model keeps one)."""
        self.version += 1
        names = [*fields, "version"]
        if any(f.name == "updated_at" for f in self._meta.concrete_fields):
            names.append("updated_at")
        self.save(update_fields=list(dict.fromkeys(names)))


def lock(
    source: type[M] | models.QuerySet[M],
    pk: Any,
    expected_version: int | None,
    *,
    message: str | Callable[[M], str] | None = None,
) -> M:
    """The row `pk` of `source` (a model or a queryset, e.g. with select_related), locked until the
    transaction ends. Raises Conflict when its version is not `expected_version` (None: lock only, for
    actions that check the row's state instead). `message` may name who changed it."""
    queryset = source if isinstance(source, models.QuerySet) else source._default_manager.all()
    # of=("self",): lock this row only, not the rows a select_related joins in (PostgreSQL)
    row = queryset.select_for_update(of=("self",)).get(pk=pk)
    if expected_version is not None and row.version != expected_version:
        text = message(row) if callable(message) else message
        raise Conflict(text) if text else Conflict()
    return row
