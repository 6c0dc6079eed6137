"""Leads (预警线索): one queue fed by three channels — department screening, farmers' self-declarations and
cadres' field reports. Each lead keeps its provenance; duplicates for one household merge into one open lead.

A screening run is recorded (what policy/model produced which leads), and the lake datasets behind each
department lead are kept so the data owner sees what became of its warnings (`LeadSource`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from fangpin.kernel import Versioned
from fangpin.regions.models import Region
from fangpin.registry.models import Household
from fangpin.web.fields import BlindIndexField, EncryptedTextField


class Channel(models.TextChoices):
    DEPARTMENT = "department", "部门筛查预警"
    SELF_DECLARATION = "self_declaration", "农户自主申报"
    CADRE_REPORT = "cadre_report", "干部走访排查"


class LeadKind(models.TextChoices):
    VERIFY = "verify", "待核实"
    ADJUST = "adjust_assistance", "调整帮扶"
    ELIMINATION = "consider_elimination", "可启动风险消除"


class LeadStatus(models.TextChoices):
    NEW = "new", "待受理"
    ACCEPTED = "accepted", "已受理"
    IN_CASE = "in_case", "核实中"
    REJECTED = "rejected", "不予受理"
    MERGED = "merged", "已合并"
    CLOSED = "closed", "已办结"


OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.ACCEPTED, LeadStatus.IN_CASE)


class Outcome(models.TextChoices):
    CONFIRMED = "confirmed", "核实属实，纳入监测"
    NOT_CONFIRMED = "not_confirmed", "核实不属实"
    ADJUSTED = "adjusted", "已调整帮扶措施"
    ELIMINATED = "eliminated", "已消除风险"
    KEPT = "kept", "维持现状"
    REJECTED = "rejected", "不予受理"


class ScreeningRun(models.Model):
    """One import of a screening result: which policy and model produced which leads."""

    as_of = models.CharField("筛查期", max_length=7)
    policy_id = models.CharField("政策版本", max_length=60)
    policy_hash = models.CharField("政策摘要", max_length=64)
    model_version = models.CharField("模型版本", max_length=60, blank=True)
    engine = models.CharField("计算引擎", max_length=20, default="duckdb")
    trigger = models.CharField("触发方式", max_length=20, default="batch")  # batch | push | cli
    households = models.PositiveIntegerField("筛查户数", default=0)
    warnings = models.PositiveIntegerField("推送预警数", default=0)
    created = models.PositiveIntegerField("新建线索", default=0)
    updated = models.PositiveIntegerField("更新线索", default=0)
    merged = models.PositiveIntegerField("合并线索", default=0)
    skipped = models.PositiveIntegerField("跳过（已监测同类风险/无匹配农户）", default=0)
    started_at = models.DateTimeField("开始时间")
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "筛查批次"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"screening {self.as_of} #{self.pk}"


class Lead(Versioned):
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, null=True, blank=True, related_name="leads", verbose_name="农户"
    )
    village = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="leads", verbose_name="所在村")
    channel = models.CharField("来源渠道", max_length=20, choices=Channel.choices)
    kind = models.CharField("线索类型", max_length=24, choices=LeadKind.choices, default=LeadKind.VERIFY)
    status = models.CharField("状态", max_length=12, choices=LeadStatus.choices, default=LeadStatus.NEW)
    period = models.CharField("期别", max_length=7)  # YYYY-MM
    risk_types = models.CharField("风险类型", max_length=20, blank=True)  # "01;02", at most 5
    category = models.CharField("建议类别", max_length=10, blank=True)  # unstable | marginal | sudden | ""
    grade = models.CharField("预警等级", max_length=2, blank=True)  # 高 | 中 | 低 | ""
    score = models.FloatField("风险评分", default=0.0)
    reasons = models.TextField("预警原因", blank=True)
    explanation = models.TextField("模型解释", blank=True)
    rules = models.CharField("命中规则", max_length=300, blank=True)
    policy_id = models.CharField("政策版本", max_length=60, blank=True)
    policy_hash = models.CharField("政策摘要", max_length=64, blank=True)
    model_version = models.CharField("模型版本", max_length=60, blank=True)
    portrait_snapshot = models.JSONField("画像快照", default=dict, blank=True)
    datasets = models.JSONField("触发数据集", default=list, blank=True)
    provenance = models.JSONField("来源记录", default=list, blank=True)  # list of {channel, at, ...}
    screening_run = models.ForeignKey(
        ScreeningRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    accept_deadline = models.DateTimeField("受理时限", null=True, blank=True)
    accepted_at = models.DateTimeField("受理时间", null=True, blank=True)
    decided_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reject_reason = models.TextField("不予受理理由", blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_leads"
    )
    outcome = models.CharField("处理结果", max_length=16, choices=Outcome.choices, blank=True)
    outcome_at = models.DateTimeField("结果时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "预警线索"
        ordering = ["-created_at"]
        constraints = [
            # one open department lead per household, period and kind (re-imports update it)
            models.UniqueConstraint(
                fields=["household", "period", "kind"],
                condition=Q(channel="department", status__in=["new", "accepted", "in_case"]),
                name="one_open_department_lead",
            ),
        ]
        indexes = [
            # the queue: open leads of a village subtree
            models.Index(fields=["village", "status"], name="lead_village_status"),
            models.Index(fields=["household", "status"], name="lead_household_status"),
        ]

    def __str__(self) -> str:
        return f"lead #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def risk_type_list(self) -> list[str]:
        return [t for t in self.risk_types.split(";") if t]


class LeadSource(models.Model):
    """The department datasets whose data triggered a lead (for feedback to the data owners)."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="sources")
    dataset = models.CharField("数据集", max_length=60)
    department = models.CharField("部门", max_length=30)

    class Meta:
        verbose_name = "线索数据来源"
        constraints = [models.UniqueConstraint(fields=["lead", "dataset"], name="lead_source_once")]
        indexes = [models.Index(fields=["department"], name="leadsource_department")]

    def __str__(self) -> str:
        return f"{self.lead_id}:{self.dataset}"


class Declaration(models.Model):
    """A farmer's self-declaration (自主申报): the declarant's personal data, kept apart from the lead."""

    lead = models.OneToOneField(Lead, on_delete=models.PROTECT, related_name="declaration")
    name = models.CharField("申报人姓名", max_length=50)
    id_number = EncryptedTextField("公民身份号码", index="id_number_index")  # encrypted at rest (CRY-02)
    id_number_index = BlindIndexField(of="id_number")
    phone = EncryptedTextField("联系电话")
    reason_category = models.CharField("申报原因", max_length=4)  # a risk type code
    reason_text = models.TextField("情况说明", blank=True)
    consent_version = models.CharField("授权书版本", max_length=20)
    consent_at = models.DateTimeField("授权时间")
    client_key = models.CharField("来源标识", max_length=64)  # salted hash of the IP (rate limiting)
    # given to the declarant: random, so it says nothing about how many declarations there are
    receipt = models.CharField("受理编号", max_length=16, unique=True, null=True, blank=True)
    created_at = models.DateTimeField("申报时间", auto_now_add=True)

    class Meta:
        verbose_name = "自主申报"
        indexes = [
            models.Index(fields=["id_number_index", "created_at"], name="declaration_id_time"),
            models.Index(fields=["client_key", "created_at"], name="declaration_client_time"),
        ]

    def __str__(self) -> str:
        return f"declaration #{self.pk}"
