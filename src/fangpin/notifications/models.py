"""The in-app inbox, the chat-robot webhooks configured per region, and the outbound messages (one row per
webhook post or email, so a failed delivery is retried and visible, never lost)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from fangpin.regions.models import Region


class Notification(models.Model):
    """One message in one user's inbox. Inbox text may name a household: only the recipient reads it."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name="接收人",
    )
    verb = models.CharField("类型", max_length=64, blank=True)
    title = models.CharField("标题", max_length=200)
    body = models.TextField("内容", blank=True)
    url = models.CharField("链接", max_length=500, blank=True)
    # What it is about (a case, a lead, a plan), optional; the link is what the user follows.
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    target_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    created_at = models.DateTimeField("时间", auto_now_add=True)
    read_at = models.DateTimeField("已读时间", null=True, blank=True)

    class Meta:
        verbose_name = "站内消息"
        ordering = ["-created_at", "-id"]
        indexes = [
            # the unread badge on every page: count(*) where recipient = ? and read_at is null
            models.Index(
                fields=["recipient"], condition=models.Q(read_at__isnull=True), name="notification_unread"
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_inbox"),
        ]

    def __str__(self) -> str:
        return self.title


class WebhookKind(models.TextChoices):
    WECOM = "wecom", "企业微信群机器人"
    DINGTALK = "dingtalk", "钉钉群机器人"


class Webhook(models.Model):
    """A work group's robot: messages for users of `region` are posted to it (title and link only)."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="webhooks", verbose_name="区划")
    kind = models.CharField("类型", max_length=10, choices=WebhookKind.choices)
    name = models.CharField("名称", max_length=100)
    url = models.URLField("地址", max_length=500)
    secret = models.CharField("加签密钥", max_length=200, blank=True)  # DingTalk 加签; WeCom has none
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "群机器人"
        ordering = ["region_id", "name"]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_kind_display()}）"


class RobotHost(models.Model):
    """A host that group robots may be pointed at, allowed by a security administrator. The server posts to
    robot URLs, so without this list anyone who may configure a robot could make it call an internal
    address (SSRF, issue #14). Addresses inside the network are refused unless `allow_private` says so."""

    host = models.CharField("主机名", max_length=253, unique=True)  # lower case, no port
    allow_private = models.BooleanField("允许内网地址", default=False)
    note = models.CharField("说明", max_length=200, blank=True)
    added_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "群机器人允许主机"
        ordering = ["host"]

    def __str__(self) -> str:
        return self.host


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "群机器人"
    EMAIL = "email", "邮件"


class DispatchStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败"  # gave up after the last retry


class Dispatch(models.Model):
    """One outbound message (webhook post or email) and its delivery attempts."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL)
    email_to = models.CharField(max_length=254, blank=True)
    title = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=DispatchStatus.choices, default=DispatchStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "外发消息"
        ordering = ["-created_at", "-id"]
        indexes = [
            # the retry sweep: pending rows whose time has come
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="dispatch_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.title}"
