"""The push API for single events (one department token each), documented by OpenAPI at /api/v1/docs."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer

from fangpin.audit.actions import record
from fangpin.audit.models import Outcome
from fangpin.exchange import actions, reports
from fangpin.exchange.models import DepartmentToken, Source
from fangpin.lib.periods import PERIOD_PATTERN

router = Router(tags=["数据交换 exchange"])
MAX_ROWS = 1000


class DepartmentTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> DepartmentToken | None:
        found = DepartmentToken.objects.filter(token_hash=DepartmentToken.digest(token), active=True).first()
        if found is None:
            record(
                "API_TOKEN_REJECTED",
                outcome=Outcome.DENIED,
                object_type="department_token",
                object_id=token[3:11],
            )
            return None
        DepartmentToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
        return found


class EventBatch(Schema):
    period: str = Field(..., pattern=PERIOD_PATTERN, description="期次 YYYY-MM")
    rows: list[dict[str, Any]] = Field(
        ..., min_length=1, max_length=MAX_ROWS, description="事件行，字段名同数据共享目录"
    )


class RejectedRow(Schema):
    index: int = Field(..., description="在请求 rows 中的位置（从0开始）")
    field: str
    reason_code: str
    message: str


class PushResult(Schema):
    delivery_id: int
    status: str
    read: int
    accepted: int
    rejected: int
    duplicates: int
    reasons: dict[str, int]
    message: str
    leads: int = Field(0, description="增量重算后，事件所涉农户未办结的预警线索数")
    rejected_rows: list[RejectedRow] = Field(
        default_factory=list, description="被拒收的行及原因（身份号码已脱敏）"
    )


class Problem(Schema):
    detail: str


@router.post(
    "/events/{dataset}",
    auth=DepartmentTokenAuth(),
    response={200: PushResult, 400: Problem, 403: Problem},
    summary="推送事件 / push events of one dataset",
)
def push_events(request: HttpRequest, dataset: str, batch: EventBatch) -> Status[Any]:
    """Events (e.g. an inpatient settlement) are validated exactly like delivered files; bad rows come back
    with reason codes, and re-pushing the same events does not duplicate them."""
    token: DepartmentToken = request.auth  # type: ignore[attr-defined]
    catalog = actions.active_catalog()
    spec = catalog.datasets.get(dataset)
    if spec is None:
        return Status(400, {"detail": f"未知数据集：{dataset}"})
    if spec.department != token.department:
        record(
            "ACCESS_DENIED",
            outcome=Outcome.DENIED,
            object_type="dataset",
            object_id=dataset,
            reason=f"token_of:{token.department}",
            username=f"token:{token.prefix}",
        )
        return Status(403, {"detail": f"该令牌属于{token.get_department_display()}，不能推送 {dataset}"})
    if spec.cadence != "events":
        return Status(400, {"detail": f"{dataset} 是快照数据集，请按期交付整个文件"})
    try:
        actions.check_period(batch.period)  # not a month still to come
    except actions.ExchangeError as exc:
        return Status(400, {"detail": str(exc)})
    names = [f.name for f in spec.fields]
    unknown = sorted({key for row in batch.rows for key in row} - set(names))
    if unknown:
        return Status(400, {"detail": f"未知字段：{', '.join(unknown)}；应为 {', '.join(names)}"})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{dataset}.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            for row in batch.rows:
                writer.writerow({k: "" if v is None else _text(v) for k, v in row.items()})
        delivery = actions.import_file(
            path,
            dataset,
            batch.period,
            source=Source.API,
            username=f"token:{token.prefix}",
            file_name=f"api-{dataset}.csv",
        )
    leads = 0
    if delivery.status == "accepted" and delivery.accepted:
        # the incremental path (issue #5): re-score the households these events are about
        from fangpin.warnings.screening import after_push

        leads = len(after_push(batch.period, batch.rows))
    return Status(
        200,
        {
            "delivery_id": delivery.pk,
            "status": delivery.status,
            "read": delivery.read,
            "accepted": delivery.accepted,
            "rejected": delivery.rejected,
            "duplicates": delivery.duplicates,
            "reasons": delivery.reasons,
            "message": delivery.message,
            "leads": leads,
            "rejected_rows": [
                # a pushed row is rows[i]; in the file written for the import it is Excel row i + 2
                {
                    "index": r["line"] - 2,
                    "field": r["field"],
                    "reason_code": r["reason_code"],
                    "message": r["message_zh"],
                }
                for r in reports.quarantine_rows(delivery, MAX_ROWS)
            ],
        },
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
