"""Deliveries from the departments, the catalog versions they were read with, department API tokens,
and the review queue of uncertain record links. The rows themselves live in the Parquet lake."""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q

from fangpin.accounts.roles import DEPARTMENTS
from fangpin.kernel import Versioned
from fangpin.regions.models import Region


def sheet_row(row: int) -> int:
    """A file row (`_row`: 1 = the first data row) as Excel shows it: the header is row 1."""
    return row + 1


class CatalogVersion(models.Model):
    """The data contract as loaded; every delivery records the version it was validated against."""

    version = models.CharField("版本", max_length=12, unique=True)
    yaml_text = models.TextField()
    loaded_at = models.DateTimeField(auto_now_add=True)
    loaded_by = models.CharField(max_length=150, blank=True)
    active = models.BooleanField(default=False)

    class Meta:
        verbose_name = "数据共享目录版本"
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_catalog")
        ]

    def __str__(self) -> str:
        return self.version


class Source(models.TextChoices):
    CLI = "cli", "命令行导入"
    UPLOAD = "upload", "页面上传"
    API = "api", "接口推送"


class Status(models.TextChoices):
    QUEUED = "queued", "排队中"
    PROCESSING = "processing", "处理中"
    ACCEPTED = "accepted", "已入库"
    DUPLICATE = "duplicate", "重复交付（未改变）"
    REJECTED_WHOLE = "rejected_whole", "整批退回"
    FAILED = "failed", "处理失败"


class Delivery(models.Model):
    """One file of one dataset for one period. (dataset, period, content hash) identifies it: importing
    the same file again changes nothing and says so."""

    dataset = models.CharField("数据集", max_length=40, db_index=True)
    department = models.CharField("部门", max_length=30, choices=list(DEPARTMENTS.items()), db_index=True)
    period = models.CharField("期次", max_length=7, db_index=True)
    content_hash = models.CharField(max_length=64)
    lake_delivery_id = models.CharField(max_length=64, blank=True)
    source = models.CharField("来源", max_length=10, choices=Source.choices)
    file_name = models.CharField("文件名", max_length=255)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField("进度%", default=0)
    read = models.PositiveIntegerField("读取行数", default=0)
    accepted = models.PositiveIntegerField("入库行数", default=0)
    rejected = models.PositiveIntegerField("拒收行数", default=0)
    duplicates = models.PositiveIntegerField("重复事件", default=0)
    linked = models.PositiveIntegerField("已关联", default=0)
    review = models.PositiveIntegerField("待人工确认", default=0)
    unlinked = models.PositiveIntegerField("未关联", default=0)
    reasons = models.JSONField("拒收原因", default=dict, blank=True)
    # per field: stored rows whose code was written as its Chinese label (住院) and stored as the code
    normalized = models.JSONField("代码名称已转换", default=dict, blank=True)
    encoding = models.CharField(max_length=20, blank=True)
    header_style = models.CharField(max_length=10, blank=True)
    message = models.TextField("说明", blank=True)
    catalog_version = models.CharField(max_length=12, blank=True)
    operator = models.CharField("操作人", max_length=150, blank=True)
    received_at = models.DateTimeField("接收时间", auto_now_add=True)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)
    # who is importing it ("host:pid") and when it last reported a stage: an import killed mid-way is
    # found by these and marked failed (exchange.actions.recover_interrupted)
    worker = models.CharField(max_length=80, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "数据交付"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "period", "content_hash"],
                condition=Q(status="accepted"),
                name="one_accepted_delivery",
            )
        ]
        indexes = [models.Index(fields=["department", "period"], name="delivery_dept_period")]

    def __str__(self) -> str:
        return f"{self.dataset} {self.period}"

    @property
    def reconciles(self) -> bool:
        """Every row read is accounted for: stored, quarantined, or an event delivered before."""
        return self.read == self.accepted + self.rejected + self.duplicates

    @property
    def outcome(self) -> tuple[str, str]:
        """(label, colour) the pages show: an accepted file with rejected rows is only partly stored
        (amber), one whose every row was rejected stored nothing (red); green means every row is in."""
        if self.status == Status.ACCEPTED and self.rejected:
            return ("部分入库", "warning") if self.accepted else ("未入库", "danger")
        colour = {
            Status.ACCEPTED: "success",
            Status.DUPLICATE: "secondary",
            Status.REJECTED_WHOLE: "danger",
            Status.FAILED: "danger",
        }.get(Status(self.status), "blue")
        return self.get_status_display(), colour

    @property
    def outcome_label(self) -> str:
        return self.outcome[0]

    @property
    def outcome_colour(self) -> str:
        return self.outcome[1]

    @property
    def normalized_rows(self) -> int:
        return sum(int(n) for n in (self.normalized or {}).values())

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.read if self.read else 0.0

    @property
    def link_rate(self) -> float:
        return self.linked / self.accepted if self.accepted else 0.0


class LinkReview(Versioned):
    """A delivered row the linker could not place with confidence: its candidates are shown to a person
    who picks one or says none fits. Nothing is guessed."""

    class Decision(models.TextChoices):
        PENDING = "pending", "待确认"
        LINKED = "linked", "已确认关联"
        NOT_FOUND = "not_found", "无匹配人员"

    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="link_reviews")
    row = models.PositiveIntegerField("文件行号")
    # [{person_key, household_key, probability, features}] best first
    candidates = models.JSONField("候选人员", default=list)
    best_probability = models.FloatField("最高匹配概率")
    # The best candidate's village when the review was raised: the scope of who may decide.
    village = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    chosen = models.ForeignKey(
        "registry.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "关联待确认"
        ordering = ["decision", "-best_probability", "id"]
        constraints = [models.UniqueConstraint(fields=["delivery", "row"], name="one_review_per_row")]

    def __str__(self) -> str:
        return f"review {self.delivery_id}:{self.row}"

    @property
    def sheet_row(self) -> int:
        return sheet_row(self.row)


class DepartmentToken(models.Model):
    """A push-API credential for one department. Only its SHA-256 is stored; the token is shown once."""

    department = models.CharField("部门", max_length=30, choices=list(DEPARTMENTS.items()))
    name = models.CharField("用途", max_length=100)
    prefix = models.CharField(max_length=8, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    active = models.BooleanField(default=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "部门接口令牌"

    def __str__(self) -> str:
        return f"{self.department}:{self.prefix}"

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()
