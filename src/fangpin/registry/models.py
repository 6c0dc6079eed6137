"""Households (户) and persons (人), with dated membership so that splits, merges, moves and deaths keep
their history: a person belongs to at most one household at a time, and past memberships stay."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from fangpin.lib import idcard
from fangpin.regions.models import Region
from fangpin.web.fields import BlindIndexField, EncryptedTextField


class HouseholdType(models.TextChoices):
    FORMER_POOR = "former_poor", "脱贫户"
    ORDINARY = "ordinary", "一般农户"


class Household(models.Model):
    household_no = models.CharField("户编号", max_length=20, unique=True)
    household_type = models.CharField("户类型", max_length=12, choices=HouseholdType.choices)
    village = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="households", verbose_name="所在村"
    )
    created_at = models.DateTimeField("建档时间", auto_now_add=True)
    closed_on = models.DateField("注销日期", null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "农户"
        ordering = ["household_no"]

    def __str__(self) -> str:
        return self.household_no

    def current_memberships(self) -> models.QuerySet[Membership]:
        return self.memberships.filter(end_date__isnull=True).select_related("person")

    def head(self) -> Person | None:
        m = self.current_memberships().filter(relation=Relation.HEAD).first()
        return m.person if m else None


class Gender(models.TextChoices):
    MALE = "1", "男"
    FEMALE = "2", "女"


class LabourCapacity(models.TextChoices):
    SKILLED = "skilled", "技能劳动力"
    ORDINARY = "ordinary", "普通劳动力"
    WEAK = "weak", "弱劳动力或半劳动力"
    LOST = "lost", "丧失劳动力"
    NONE = "none", "无劳动力"


class PersonStatus(models.TextChoices):
    NORMAL = "normal", "正常"
    DECEASED = "deceased", "死亡注销"
    MOVED_OUT = "moved_out", "迁出"


class Person(models.Model):
    # encrypted at rest (CRY-02); equality lookups go to the blind index, the linker's "same first 14
    # digits" (area + birth date) blocking rule to id14_index
    id_number = EncryptedTextField("公民身份号码", index="id_number_index")
    id_number_index = BlindIndexField(of="id_number", unique=True)
    id14_index = BlindIndexField(of="id_number", prefix=14, db_index=True)
    name = models.CharField("姓名", max_length=50)
    gender = models.CharField("性别", max_length=1, choices=Gender.choices)
    birth_date = models.DateField("出生日期")
    labour_capacity = models.CharField("劳动能力", max_length=10, choices=LabourCapacity.choices, blank=True)
    status = models.CharField(
        "户籍状态", max_length=10, choices=PersonStatus.choices, default=PersonStatus.NORMAL
    )
    status_date = models.DateField("状态变动日期", null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = "人员"
        ordering = ["id"]
        # the linker looks up the persons sharing a defective row's name and birth date (exchange.actions)
        indexes = [models.Index(fields=["name", "birth_date"], name="person_name_birth")]

    def __str__(self) -> str:
        return f"person #{self.pk}"

    def clean(self) -> None:
        super().clean()
        validate_id_number(self.id_number, self.birth_date, self.gender)

    def age_on(self, day: dt.date) -> int:
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def is_minor_under_14(self, today: dt.date) -> bool:
        return self.age_on(today) < 14

    def sensitivity_label(self, today: dt.date) -> str:
        """THE place a person's sensitive-PI label is decided (SECURITY.md PI-02): under 14 on `today`
        (the display date), their information is sensitive personal information (PIPL Art. 28)."""
        return MINOR_LABEL if self.is_minor_under_14(today) else ""


MINOR_LABEL = "未成年人(不满14周岁)"


def validate_id_number(
    id_number: str,
    birth_date: dt.date | None = None,
    gender: str | None = None,
    *,
    today: dt.date | None = None,
) -> None:
    """`today` bounds the birth date inside the ID (default: today); a snapshot passes its own date."""
    found = idcard.problem(id_number, today)
    if found is not None:
        raise ValidationError({"id_number": idcard.PROBLEM_MESSAGES_ZH[found]})
    facts = idcard.facts(id_number, today)
    if birth_date is not None and facts.birth_date != birth_date:
        raise ValidationError({"birth_date": "出生日期与身份号码不一致"})
    if gender and facts.gender != gender:
        raise ValidationError({"gender": "性别与身份号码不一致"})


class Relation(models.TextChoices):
    HEAD = "01", "户主"
    SPOUSE = "02", "配偶"
    CHILD = "03", "子女"
    PARENT = "04", "父母"
    GRANDCHILD = "05", "孙子女"
    SIBLING = "06", "兄弟姐妹"
    OTHER = "09", "其他"


class MembershipChange(models.TextChoices):
    REGISTERED = "registered", "建档登记"
    BIRTH = "birth", "出生"
    MOVED_IN = "moved_in", "迁入"
    MOVED_OUT = "moved_out", "迁出"
    DECEASED = "deceased", "死亡"
    SPLIT = "split", "分户"
    MERGED = "merged", "合户"


class Membership(models.Model):
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="memberships")
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="memberships")
    relation = models.CharField("与户主关系", max_length=2, choices=Relation.choices)
    start_date = models.DateField("起始日期")
    start_reason = models.CharField("加入原因", max_length=12, choices=MembershipChange.choices)
    end_date = models.DateField("终止日期", null=True, blank=True)
    end_reason = models.CharField("终止原因", max_length=12, choices=MembershipChange.choices, blank=True)

    class Meta:
        verbose_name = "家庭成员关系"
        ordering = ["household_id", "relation", "start_date"]
        constraints = [
            # A person belongs to at most one household at a time.
            models.UniqueConstraint(
                fields=["person"], condition=Q(end_date__isnull=True), name="one_open_membership"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="membership_dates_ordered",
            ),
        ]
        indexes = [models.Index(fields=["household", "end_date"], name="membership_household_open")]

    def __str__(self) -> str:
        return f"{self.household_id}:{self.person_id}"
