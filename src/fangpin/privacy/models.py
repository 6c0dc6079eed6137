"""A bulk export waiting for a second person's approval (SECURITY.md AC-07)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from fangpin.regions.models import Region


class ExportKind(models.TextChoices):
    ROSTER = "roster", "监测对象台账"
    HOUSEHOLDS = "households", "监测户名单"


class ExportRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "待审批"
        APPROVED = "approved", "已批准"
        DENIED = "denied", "未批准"
        USED = "used", "已生成"

    kind = models.CharField("导出类型", max_length=12, choices=ExportKind.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="范围")
    rows = models.PositiveIntegerField("行数")
    params = models.JSONField(default=dict, blank=True)  # what the export needs to run (e.g. reveal)
    purpose = models.CharField("用途", max_length=20)
    purpose_note = models.CharField("用途说明", max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField("审批意见", max_length=200, blank=True)
    expires_at = models.DateTimeField("有效期至", null=True, blank=True)
    export_id = models.PositiveIntegerField(null=True, blank=True)  # the RosterExport / ExportJob it made
    used_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "批量导出审批"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "export_id"], name="export_request_export")]

    def __str__(self) -> str:
        return f"export request #{self.pk}"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and timezone.now() > self.expires_at
