"""Assistance (帮扶, "一户一策"): each county's policy toolbox of measure types, one plan per monitored
household (tied to the identification case that made it monitored), its measures and follow-up visits."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from fangpin.kernel import Versioned
from fangpin.regions.models import Region
from fangpin.registry.models import Household, Person


class Category(models.TextChoices):
    INDUSTRY = "industry", "产业帮扶"
    EMPLOYMENT = "employment", "就业帮扶"
    PUBLIC_POST = "public_post", "公益岗位"
    SOCIAL_ASSISTANCE = "social_assistance", "低保/特困/临时救助"
    MEDICAL = "medical", "医疗救助"
    EDUCATION = "education", "教育资助"
    HOUSING = "housing", "住房安全"
    WATER = "water", "饮水安全"
    MICROCREDIT = "microcredit", "小额信贷"
    SOCIAL_HELP = "social_help", "社会帮扶"
    RELOCATION = "relocation", "易地搬迁后续扶持"
    OTHER = "other", "其他"


class Labour(models.TextChoices):
    """Development-type help needs someone able to work; bottom-line protection (兜底) is for those without."""

    ANY = "any", "不限"
    ABLE = "able", "须有劳动能力"
    UNABLE = "unable", "无劳动能力（兜底）"


class MeasureType(Versioned):
    """One entry of a county's policy toolbox (政策工具箱)."""

    county = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="measure_types", verbose_name="县"
    )
    code = models.CharField("编号", max_length=20)
    category = models.CharField("类别", max_length=20, choices=Category.choices)
    name = models.CharField("措施名称", max_length=100)
    risk_types = models.CharField(
        "适用风险类型", max_length=40, blank=True
    )  # "01;09"; empty: chosen by hand only
    categories = models.CharField(
        "适用监测类别", max_length=40, blank=True
    )  # "unstable;marginal"; empty = any
    labour = models.CharField("劳动能力条件", max_length=8, choices=Labour.choices, default=Labour.ANY)
    per_person = models.BooleanField("到人（否则到户）", default=False)
    eligibility = models.TextField("享受条件", blank=True)
    amount = models.DecimalField("标准金额（元）", max_digits=10, decimal_places=2, null=True, blank=True)
    standard = models.CharField("补助标准", max_length=200, blank=True)
    department = models.CharField("责任部门", max_length=60, blank=True)
    continues_after_elimination = models.BooleanField("风险消除后可延续", default=False)
    priority = models.PositiveSmallIntegerField("推荐优先级", default=50)  # higher first among equals
    active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "帮扶措施类型"
        ordering = ["county_id", "category", "code"]
        constraints = [
            models.UniqueConstraint(fields=["county", "code"], name="measure_type_code_per_county")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def risk_type_list(self) -> list[str]:
        return [t for t in self.risk_types.split(";") if t]

    def category_list(self) -> list[str]:
        return [c for c in self.categories.split(";") if c]


class AssistancePlan(models.Model):
    """一户一策: the plan of one monitoring period of one household (a re-entry gets a new plan)."""

    case = models.OneToOneField(
        "cases.Case", on_delete=models.PROTECT, related_name="plan", verbose_name="纳入监测案件"
    )
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="assistance_plans", verbose_name="农户"
    )
    village = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="所在村")
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assistance_plans",
        verbose_name="帮扶责任人",
    )
    summary = models.TextField("帮扶思路", blank=True)
    # the 台账's 帮扶责任人 as written, when it matched no user (kept so the re-export reproduces it)
    responsible_name = models.CharField("帮扶责任人（台账原文）", max_length=60, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField("建立时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "帮扶计划"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["village"], name="plan_village")]  # scope by village prefix

    def __str__(self) -> str:
        return f"plan #{self.pk}"


class MeasureStatus(models.TextChoices):
    PLANNED = "planned", "计划"
    ACTIVE = "active", "实施中"
    DONE = "done", "已完成"
    STOPPED = "stopped", "已终止"


OPEN_MEASURE_STATUSES = (MeasureStatus.PLANNED, MeasureStatus.ACTIVE)


class Measure(Versioned):
    plan = models.ForeignKey(AssistancePlan, on_delete=models.PROTECT, related_name="measures")
    measure_type = models.ForeignKey(
        MeasureType, on_delete=models.PROTECT, related_name="measures", verbose_name="措施类型"
    )
    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="帮扶对象（到人）",
    )  # None: the whole household
    start_date = models.DateField("开始日期")
    end_date = models.DateField("结束日期", null=True, blank=True)
    amount = models.DecimalField("金额（元）", max_digits=10, decimal_places=2, null=True, blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="帮扶责任人",
    )
    status = models.CharField(
        "状态", max_length=8, choices=MeasureStatus.choices, default=MeasureStatus.ACTIVE
    )
    effect = models.TextField("帮扶成效", blank=True)
    income_gained = models.DecimalField(
        "增收（元/年）", max_digits=10, decimal_places=2, null=True, blank=True
    )
    # The screening prompt (a Lead of kind adjust_assistance) that led to this measure, if any.
    lead = models.ForeignKey(
        "warnings.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField("备注", blank=True)
    # "类别-名称" as the imported 台账 wrote it (the type may be the nearest toolbox entry, not the same)
    source_text = models.CharField("台账原文", max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "帮扶措施"
        ordering = ["start_date", "id"]

    def __str__(self) -> str:
        return f"{self.measure_type.name}"


class FollowUpVisit(models.Model):
    """A cadre's return visit (走访): what was found, the current income, whether 两不愁三保障 and water hold."""

    plan = models.ForeignKey(AssistancePlan, on_delete=models.PROTECT, related_name="visits")
    visited_on = models.DateField("走访日期")
    visitor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="走访人"
    )
    findings = models.TextField("走访情况")
    income_per_capita = models.DecimalField(
        "当前人均纯收入（元/年）", max_digits=10, decimal_places=2, null=True, blank=True
    )
    food_clothing_ok = models.BooleanField("不愁吃穿", default=True)
    education_ok = models.BooleanField("义务教育有保障", default=True)
    medical_ok = models.BooleanField("基本医疗有保障", default=True)
    housing_ok = models.BooleanField("住房安全有保障", default=True)
    water_ok = models.BooleanField("饮水安全有保障", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "帮扶回访"
        ordering = ["-visited_on", "-id"]

    def __str__(self) -> str:
        return f"{self.plan_id}@{self.visited_on}"

    @property
    def secured(self) -> bool:
        return all(
            (self.food_clothing_ok, self.education_ok, self.medical_ok, self.housing_ok, self.water_ok)
        )


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "排队中"
    RUNNING = "running", "生成中"
    DONE = "done", "已完成"
    FAILED = "failed", "失败"


class JobProgress:
    """The progress bar of a background job with `total`, `done` and `status` fields."""

    total: int
    done: int
    status: str

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else (100 if self.status == "done" else 0)


class RosterExport(JobProgress, models.Model):
    """A monitoring roster (台账) export: large ones run as a background job with progress."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="范围")
    reveal = models.BooleanField("显示完整身份号码", default=False)
    reason = models.CharField("查看理由", max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "台账导出"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"roster export #{self.pk}"


class RosterImport(JobProgress, models.Model):
    """The import of a county's existing 监测对象台账 (onboarding): counts and every rejected row."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: the command line (operator below)
    operator = models.CharField("操作人", max_length=150, blank=True)
    county = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="县")
    file_name = models.CharField("文件名", max_length=200)
    stored_path = models.CharField(max_length=500, blank=True)  # the upload, until the job has read it
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    total = models.PositiveIntegerField("数据行", default=0)
    done = models.PositiveIntegerField(default=0)
    counts = models.JSONField("结果", default=dict, blank=True)
    rejected = models.JSONField("拒收行", default=list, blank=True)  # [{"row": 5, "household_no", "reason"}]
    reported = models.JSONField("已有案件未重复建立", default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "监测对象台账导入"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"roster import #{self.pk}"


class Discrepancy(Versioned):
    """A household on which the agriculture roster (ag_roster) and fangpin's cases disagree, listed for
    the county to resolve; the reconciliation never changes a case itself."""

    class Kind(models.TextChoices):
        ROSTER_ONLY = "roster_only", "名册为监测对象，本系统未纳入监测"
        ROSTER_MONITORED_ELIMINATED = "roster_monitored", "名册为监测中，本系统已消除风险"
        FANGPIN_ONLY = "fangpin_only", "本系统监测中，名册未列为监测对象"
        FANGPIN_MONITORED_ELIMINATED = "fangpin_monitored", "本系统监测中，名册为风险已消除"

    class Status(models.TextChoices):
        OPEN = "open", "待核实"
        RESOLVED = "resolved", "已处理"
        GONE = "gone", "已一致（自动关闭）"

    county = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="县")
    village = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name="所在村")
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="+", verbose_name="农户")
    kind = models.CharField("差异", max_length=20, choices=Kind.choices)
    roster_status = models.CharField("名册状态", max_length=12, blank=True)
    fangpin_status = models.CharField("本系统状态", max_length=12, blank=True)
    first_period = models.CharField("首次发现期次", max_length=7)
    last_period = models.CharField("最近一次期次", max_length=7)
    status = models.CharField("处理状态", max_length=8, choices=Status.choices, default=Status.OPEN)
    note = models.TextField("处理说明", blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "名册核对差异"
        ordering = ["village_id", "household_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "kind"],
                condition=models.Q(status="open"),
                name="one_open_discrepancy_per_household_kind",
            )
        ]
        indexes = [models.Index(fields=["county", "status"], name="discrepancy_county_status")]  # the list

    def __str__(self) -> str:
        return f"{self.household_id}:{self.kind}"
