"""Cases: one identification (纳入识别) or elimination (风险消除) procedure for one household.

The states and who may move a case between them live in `transitions.py`; every change goes through
`actions.py`. A case keeps every step (`CaseStep`), so the record stays after elimination and a household
can re-enter through a new identification case.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models import Q

from fangpin.cases.transitions import (
    FINAL_STATES,
    KIND_LABELS,
    LEVEL_LABELS,
    STATE_LABELS,
    Kind,
    State,
)
from fangpin.kernel import Versioned
from fangpin.lib.risks import CATEGORIES
from fangpin.regions.models import Region
from fangpin.registry.models import Household
from fangpin.web.fields import RecordMacField

KIND_CHOICES = [(k.value, label) for k, label in KIND_LABELS.items()]
STATE_CHOICES = [(str(s), label) for s, label in STATE_LABELS.items()]
CATEGORY_CHOICES = [(k, label) for k, label in CATEGORIES.items()]
LEVEL_CHOICES = [(k.value, label) for k, label in LEVEL_LABELS.items()]


class AttachmentStorage(FileSystemStorage):
    """Signed authorisations are personal data: kept under FANGPIN_HOME (no URL: served only by a
    scoped view). The root is read on every use, not once at import: Django builds the field's storage
    when the model loads, before a test (or a command) has set FANGPIN_MEDIA."""

    @property
    def base_location(self) -> str:
        return str(getattr(settings, "FANGPIN_MEDIA", None) or Path(settings.FANGPIN_HOME) / "media")

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def attachment_storage() -> FileSystemStorage:
    return AttachmentStorage(base_url=None)


SOURCE_NATIONAL = "national"
SOURCE_CHOICES = [("", "本系统办理"), (SOURCE_NATIONAL, "全国防返贫监测信息系统")]


class Case(Versioned):
    kind = models.CharField("类型", max_length=16, choices=KIND_CHOICES, default=Kind.IDENTIFICATION.value)
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="cases", verbose_name="农户"
    )
    village = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="cases", verbose_name="所在村")
    lead = models.ForeignKey(
        "warnings.Lead",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        verbose_name="来源线索",
    )
    identification = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="eliminations",
        verbose_name="对应的纳入案件",
    )  # an elimination case ends the monitoring that this identification case started
    state = models.CharField("状态", max_length=16, choices=STATE_CHOICES, default=State.VERIFYING.value)
    return_to = models.CharField("退回至", max_length=16, choices=STATE_CHOICES, blank=True)
    category = models.CharField("监测对象类别", max_length=10, choices=CATEGORY_CHOICES, blank=True)
    risk_types = models.CharField("风险类型", max_length=30, blank=True)  # "01;04", at most 5
    green_channel = models.BooleanField("绿色通道（先帮扶后补程序）", default=False)
    monitored_at = models.DateTimeField("纳入监测时间", null=True, blank=True)
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name="核实责任人",
    )
    opened_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    found_at = models.DateTimeField("发现时间")  # the clock starts when the lead was found
    opened_at = models.DateTimeField("立案时间")
    deadline_at = models.DateTimeField("办结时限")
    decided_at = models.DateTimeField("决定时间", null=True, blank=True)
    publicity_started_at = models.DateTimeField("公示开始", null=True, blank=True)
    visit = models.JSONField("入户核实表", default=dict, blank=True)
    comparison = models.JSONField("信息比对结果", default=dict, blank=True)
    review = models.JSONField("民主评议记录", default=dict, blank=True)
    reason = models.TextField("不予通过/暂缓/退回理由", blank=True)
    # "national": imported from the county's 监测对象台账 (assistance.onboarding), in its current state
    source = models.CharField("来源", max_length=10, choices=SOURCE_CHOICES, blank=True, default="")
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "识别/消除案件"
        ordering = ["deadline_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "kind"],
                condition=~Q(state__in=sorted(s.value for s in FINAL_STATES)),
                name="one_open_case_per_household_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["village", "state"], name="case_village_state"),  # lists per region
            models.Index(fields=["state", "deadline_at"], name="case_state_deadline"),  # overdue lists
            models.Index(fields=["assignee", "state"], name="case_assignee_state"),  # 我的任务
        ]

    def __str__(self) -> str:
        return f"case #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state not in FINAL_STATES

    def risk_type_list(self) -> list[str]:
        return [t for t in self.risk_types.split(";") if t]


# what a decision is: who moved which case from which state to which, when, with what form and file
SEALED_FIELDS = (
    "case_id",
    "action",
    "from_state",
    "to_state",
    "level",
    "actor_id",
    "at",
    "note",
    "data",
    "attachment",
    "attachment_type",
)


class CaseStep(models.Model):
    """One action taken on a case: the trail the procedure leaves (also objections and reassignments)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="steps")
    action = models.CharField("操作", max_length=24)
    from_state = models.CharField("原状态", max_length=16, blank=True)
    to_state = models.CharField("新状态", max_length=16)
    level = models.CharField("层级", max_length=10, choices=LEVEL_CHOICES, blank=True)
    actor = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="case_steps"
    )  # None: the system (信息比对)
    at = models.DateTimeField("时间")
    note = models.TextField("说明", blank=True)
    data = models.JSONField("表单", default=dict, blank=True)
    attachment = models.FileField(
        "附件", storage=attachment_storage, upload_to="cases/%Y/%m/", null=True, blank=True
    )
    attachment_type = models.CharField(max_length=40, blank=True)
    # CRY-03: an HMAC over the decision, keyed outside the database; cases/integrity.py verifies it
    seal = RecordMacField(over=SEALED_FIELDS)

    class Meta:
        verbose_name = "办理记录"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.action}"


class DeadlineRule(models.Model):
    """A region's time limit (set at county level; townships and villages inherit)."""

    region = models.OneToOneField(Region, on_delete=models.PROTECT, primary_key=True, related_name="+")
    days = models.PositiveSmallIntegerField("时限天数", default=15)
    working_days = models.BooleanField("按工作日计算（法定节假日及调休）", default=False)
    escalate_days_before = models.PositiveSmallIntegerField("到期前几天提醒上级", default=3)
    updated_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "办理时限设置"

    def __str__(self) -> str:
        return f"{self.region_id}: {self.days}{'工作日' if self.working_days else '天'}"


class Escalation(models.Model):
    """A notice sent to the next level about a case near or past its deadline (sent once per deadline)."""

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", "即将到期"
        OVERDUE = "overdue", "已超期"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="escalations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    deadline_at = models.DateTimeField()
    level = models.CharField(max_length=10, choices=LEVEL_CHOICES)
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField()

    class Meta:
        verbose_name = "超期提醒"
        constraints = [
            models.UniqueConstraint(fields=["case", "kind", "deadline_at"], name="escalation_once"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id}:{self.kind}"


class OfficialDay(models.Model):
    """One day of the State Council's yearly holiday schedule (国务院办公厅 节假日安排), entered by an
    administrator (`fangpin calendar load`): a day off, or a weekend made a working day (调休上班).
    A year entered here overrides the `chinesecalendar` package for that year (cases/holidays.py)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", "放假"
        WORKING = "working", "调休上班"

    date = models.DateField("日期", unique=True)
    year = models.PositiveSmallIntegerField("安排年度", db_index=True)  # the notice's year (see holidays.py)
    kind = models.CharField("类型", max_length=8, choices=Kind.choices)
    name = models.CharField("节日", max_length=20)  # 元旦, 春节 … (for a working day: the holiday it serves)
    notice = models.CharField("通知文号/标题", max_length=200)
    entered_by = models.CharField("录入人", max_length=150, blank=True)
    entered_at = models.DateTimeField("录入时间")

    class Meta:
        verbose_name = "法定节假日安排"
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.get_kind_display()} {self.name}"
