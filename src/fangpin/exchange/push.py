"""The push action: a department's events (e.g. an inpatient settlement) through the same import as a
delivered file, then the households they are about re-scored (issue #5's incremental path).

    pushed = push_events(token, "ms_settlement", "2026-10", rows)   # PermissionDenied / ExchangeError

Not one transaction: the import writes the lake and commits its delivery in steps of its own (ADR 0007,
ADR 0025), and re-scoring is a screening run of its own. Each step is audited where it happens
(DELIVERY_IMPORTED, SCREENING_IMPORTED); the push itself ends with one EVENTS_PUSHED row that ties them
together (who pushed, the delivery, the leads it left open).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome
from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, DepartmentToken, Source


@dataclass(frozen=True)
class Pushed:
    delivery: Delivery
    leads: int  # open leads of the pushed households after re-scoring (0 when nothing was accepted)


def push_events(token: DepartmentToken, dataset: str, period: str, rows: Sequence[dict[str, Any]]) -> Pushed:
    """Validate and store `rows` of an events dataset of the token's own department, then re-score."""
    names = _check(token, dataset, period, rows)
    username = f"token:{token.prefix}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{dataset}.csv"
        _write_csv(path, names, rows)
        delivery = actions.import_file(
            path, dataset, period, source=Source.API, username=username, file_name=f"api-{dataset}.csv"
        )
    leads = 0
    if delivery.status == "accepted" and delivery.accepted:
        from fangpin.warnings.screening import after_push  # warnings builds on exchange, not the reverse

        leads = len(after_push(period, rows))
    with transaction.atomic(durable=True):  # and a caller's transaction around the push fails loudly
        record(
            Event.EVENTS_PUSHED,
            username=username,
            object_type="delivery",
            object_id=delivery.pk,
            data={"dataset": dataset, "period": period, "rows": len(rows), "leads": leads},
        )
    return Pushed(delivery, leads)


def _check(token: DepartmentToken, dataset: str, period: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    """The field names of `dataset`, or a refusal (nothing is stored for a refused push)."""
    spec = actions.active_catalog().datasets.get(dataset)
    if spec is None:
        raise actions.ExchangeError(f"未知数据集：{dataset}")
    if spec.department != token.department:
        record(
            Event.ACCESS_DENIED,
            outcome=Outcome.DENIED,
            object_type="dataset",
            object_id=dataset,
            reason=f"token_of:{token.department}",
            username=f"token:{token.prefix}",
        )
        raise PermissionDenied(f"该令牌属于{token.get_department_display()}，不能推送 {dataset}")
    if spec.cadence != "events":
        raise actions.ExchangeError(f"{dataset} 是快照数据集，请按期交付整个文件")
    actions.check_period(period)  # not a month still to come
    names = [f.name for f in spec.fields]
    unknown = sorted({key for row in rows for key in row} - set(names))
    if unknown:
        raise actions.ExchangeError(f"未知字段：{', '.join(unknown)}；应为 {', '.join(names)}")
    return names


def _write_csv(path: Path, names: list[str], rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else _text(v) for k, v in row.items()})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
