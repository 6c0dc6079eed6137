from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from fangpin.accounts.roles import ADMIN_ROLES, DEPARTMENTS, ROLE_LEVELS, Can, Role, can
from fangpin.kernel import Versioned
from fangpin.regions.models import Region


class User(AbstractUser, Versioned):
    """One person, one account, one role, one region (SECURITY.md AUTH-01, AC-06)."""

    full_name = models.CharField("姓名", max_length=50, blank=True)
    role = models.CharField("角色", max_length=20, choices=Role.choices)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="users", verbose_name="所属区划"
    )
    department = models.CharField("所属部门", max_length=30, blank=True, choices=list(DEPARTMENTS.items()))
    password_changed_at = models.DateTimeField("密码修改时间", null=True, blank=True)
    must_change_password = models.BooleanField("下次登录须改密码", default=False)
    failed_logins = models.PositiveIntegerField(default=0)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField("锁定至", null=True, blank=True)

    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = "用户"
        ordering = ["username"]

    def __str__(self) -> str:
        return self.full_name or self.username

    def clean(self) -> None:
        super().clean()
        if self.role and self.region_id:
            region = self.region
            if region.level not in ROLE_LEVELS[self.role]:
                raise ValidationError(
                    {"region": f"{self.get_role_display()}不能设在{region.get_level_display()}级区划"}
                )
        if self.role == Role.DATA_OFFICER and not self.department:
            raise ValidationError({"department": "部门数据专员须指定所属部门"})
        if self.role != Role.DATA_OFFICER and self.department:
            raise ValidationError({"department": "只有部门数据专员属于部门"})

    def can(self, capability: Can) -> bool:
        return self.is_active and can(self.role, capability)

    @property
    def is_admin_role(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def needs_totp(self) -> bool:
        return self.is_admin_role or settings.FANGPIN_REQUIRE_TOTP_FOR_ALL

    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()

    def password_expired(self) -> bool:
        max_age = settings.FANGPIN_PASSWORD_MAX_AGE_DAYS
        if self.must_change_password:
            return True
        if not max_age or self.password_changed_at is None:
            return False
        return self.password_changed_at + timedelta(days=max_age) < timezone.now()


class PasswordHistory(models.Model):
    """The hashes of a user's recent passwords, the current one included (SECURITY.md AUTH-02: no
    re-use). Written by `passwords.PasswordHistoryValidator.password_changed` whenever a password is saved."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)  # a hash in Django's format, like User.password
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.created_at:%Y-%m-%d %H:%M}"
