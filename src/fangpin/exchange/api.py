"""The push API for single events (one department token each), documented by OpenAPI at /api/v1/docs."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome
from fangpin.exchange import actions, push, reports
from fangpin.exchange.models import DepartmentToken
from fangpin.lib.periods import PERIOD_PATTERN

router = Router(tags=["数据交换 exchange"])
MAX_ROWS = 1000


class DepartmentTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> DepartmentToken | None:
        found = DepartmentToken.objects.filter(token_hash=DepartmentToken.digest(token), active=True).first()
        if found is None:
            record(
                Event.API_TOKEN_REJECTED,
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
    try:
        pushed = push.push_events(token, dataset, batch.period, batch.rows)
    except PermissionDenied as exc:
        return Status(403, {"detail": str(exc)})
    except actions.ExchangeError as exc:
        return Status(400, {"detail": str(exc)})
    delivery = pushed.delivery
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
            "leads": pushed.leads,
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
