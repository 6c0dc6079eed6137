"""The append-only, keyed hash chain of audit rows (SECURITY.md AUD-01..AUD-03, ADR 0003 and 0022).

Each row's MAC (HMAC-SHA256 with a key kept outside the database) covers its content and the previous
row's MAC, so editing or deleting a row breaks the chain from that row on, and without the key nobody can
recompute it; the anchor file (lib/anchors.py) catches a truncated tail. `fangpin audit verify` reports
the first broken row. The application never updates or deletes rows (the model refuses, and database
triggers refuse raw SQL too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC
from typing import Any, NoReturn

from django.db import models


class AuditLogIsAppendOnly(Exception):
    pass


# `chain`: how a row's `hash` was made. Rows written before ADR 0022 keep their unkeyed SHA-256; they are
# trusted only up to the first anchor's `legacy_until` (written by the owner at the upgrade).
SHA256_CHAIN = 1
HMAC_CHAIN = 2


class Outcome(models.TextChoices):
    SUCCESS = "success", "成功"
    FAILURE = "failure", "失败"
    DENIED = "denied", "拒绝"


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("审计日志只能追加，不能修改")

    def delete(self) -> NoReturn:
        raise AuditLogIsAppendOnly("审计日志只能追加，不能删除")


class AuditEvent(models.Model):
    at = models.DateTimeField("时间", db_index=True)
    # No foreign key: deleting or renaming a user must never touch the audit trail.
    actor_id = models.BigIntegerField("用户ID", null=True, blank=True)
    actor_username = models.CharField("用户名", max_length=150, blank=True)
    actor_role = models.CharField("角色", max_length=40, blank=True)
    actor_region = models.CharField("用户区划", max_length=15, blank=True)
    ip = models.CharField("来源IP", max_length=45, blank=True)
    request_id = models.CharField("请求ID", max_length=64, blank=True)
    event_type = models.CharField("事件类型", max_length=40, db_index=True)
    outcome = models.CharField("结果", max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    object_type = models.CharField("对象类型", max_length=40, blank=True)
    object_id = models.CharField("对象ID", max_length=64, blank=True)
    reason = models.CharField("事由", max_length=500, blank=True)
    data = models.JSONField("详情", default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    chain = models.PositiveSmallIntegerField("链版本", default=SHA256_CHAIN)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = "审计事件"
        ordering = ["id"]
        indexes = [models.Index(fields=["actor_id", "at"], name="audit_actor_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.event_type} {self.actor_username}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("审计日志只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("审计日志只能追加，不能删除")

    def canonical(self) -> str:
        """The row's content as hashed: stable across SQLite and PostgreSQL round trips."""
        content = {
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": self.actor_id,
            "actor_username": self.actor_username,
            "actor_role": self.actor_role,
            "actor_region": self.actor_region,
            "ip": self.ip,
            "request_id": self.request_id,
            "event_type": self.event_type,
            "outcome": self.outcome,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "reason": self.reason,
            "data": self.data,
        }
        return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def compute_hash(self, key: bytes) -> str:
        message = (self.prev_hash + self.canonical()).encode("utf-8")
        if self.chain == SHA256_CHAIN:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()
