"""Pre-aggregated indicators (the only table the dashboards read), refresh runs, regional-risk alerts, exports.

Dashboards never query case tables live: `refresh.refresh_month` computes every indicator per village, rolls
it up to township / county / city / province and replaces one county's rows at a time (atomic), so a crash
leaves whole counties either old or new, and a re-run resumes where the run stopped (docs/analytics.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from fangpin.regions.models import Region


class Indicator(models.Model):
    # the region's prefix (not a foreign key: prefix lookups and no join on the dashboards' hot path)
    region = models.CharField("区划", max_length=15)
    level = models.CharField("层级", max_length=10)
    month = models.CharField("月份", max_length=7)  # YYYY-MM
    code = models.CharField("指标", max_length=40)
    dimension = models.CharField(
        "分组", max_length=40, blank=True
    )  # category / risk type / measure type / channel
    value = models.FloatField("值", null=True)
    numerator = models.FloatField("分子", null=True)
    denominator = models.FloatField("分母", null=True)
    # the number of households behind the figure (small-cell suppression, docs/analytics.md)
    households = models.IntegerField("涉及户数", null=True)
    computed_at = models.DateTimeField("计算时间")

    class Meta:
        verbose_name = "监测指标"
        constraints = [
            # covering: every dashboard read (an area's figures for a month, its 12-month trend, the months
            # it has) is an index-only scan, no visits to rows scattered over the table (docs/analytics.md)
            models.UniqueConstraint(
                fields=["region", "month", "code", "dimension"],
                include=["value", "households", "numerator", "denominator"],
                name="indicator_once",
            ),
        ]
        indexes = [
            models.Index(fields=["month", "code", "level", "region"], name="indicator_map"),
            models.Index(fields=["region", "code", "month"], name="indicator_trend"),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.month} {self.code}/{self.dimension}={self.value}"


class RefreshRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "计算中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    month = models.CharField("月份", max_length=7)
    scope = models.CharField("范围", max_length=15, default="")  # region prefix ("" = all)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    counties_total = models.PositiveIntegerField(default=0)
    counties_done = models.JSONField(default=list)  # county prefixes finished (the resume point)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "指标计算批次"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"refresh {self.month} {self.status}"


class RegionalAlert(models.Model):
    """A space-time cluster of shocks or warnings found by `fangpin.pipeline.scan` (区域规模性风险)."""

    as_of = models.CharField("监测期", max_length=7)
    source = models.CharField("数据", max_length=20, default="shocks")  # shocks | warnings
    centre = models.CharField("中心村", max_length=15)
    county = models.CharField("所在县", max_length=6)
    villages = models.JSONField("涉及村", default=list)
    start = models.CharField("起始月", max_length=7)
    end = models.CharField("截止月", max_length=7)
    observed = models.PositiveIntegerField("实际户数")
    expected = models.FloatField("期望户数")
    relative_risk = models.FloatField("相对风险")
    llr = models.FloatField("对数似然比")
    p_value = models.FloatField("P 值")
    radius_km = models.FloatField("半径（公里）")
    cause = models.CharField("可能原因", max_length=300)
    risk_types = models.JSONField(default=list)
    datasets = models.JSONField(default=list)
    households = models.JSONField("涉及农户", default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "区域规模性风险预警"
        ordering = ["-as_of", "p_value"]
        indexes = [models.Index(fields=["county", "as_of"], name="regionalalert_county")]

    def __str__(self) -> str:
        return f"alert {self.as_of} {self.centre}"


class ExportJob(models.Model):
    """A large export (report or table) built in the background; the page polls its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "生成中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20)  # report | households
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    month = models.CharField(max_length=7)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "导出任务"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export #{self.pk} {self.kind}"
