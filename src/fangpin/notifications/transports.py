"""Sending one outbound message: the WeCom and DingTalk group-robot JSON styles, and email through Django's
email backend. Each function raises DeliveryError with a short reason; retries are the caller's business."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from fangpin.notifications.models import WebhookKind


class DeliveryError(RuntimeError):
    """The message did not get through; the text is stored on the dispatch row and in the audit log."""


def markdown(title: str, text: str) -> str:
    return f"### {title}\n\n{text}".strip()


def wecom_payload(title: str, text: str) -> dict[str, Any]:
    # 企业微信群机器人: markdown content, at most 4096 bytes.
    content = markdown(title, text).encode("utf-8")[:4000].decode("utf-8", "ignore")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_payload(title: str, text: str) -> dict[str, Any]:
    # 钉钉自定义机器人: the title is what the conversation list shows.
    return {"msgtype": "markdown", "markdown": {"title": title[:64], "text": markdown(title, text)}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """加签: base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}")), URL-encoded by the caller."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(url: str, secret: str, timestamp_ms: int | None = None) -> str:
    if not secret:
        return url
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    query = urllib.parse.urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(secret, timestamp_ms)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def post_webhook(kind: str, url: str, secret: str, title: str, text: str) -> None:
    if kind == WebhookKind.DINGTALK:
        payload, target = dingtalk_payload(title, text), signed_url(url, secret)
    else:
        payload, target = wecom_payload(title, text), url
    if not target.startswith(("https://", "http://")):
        raise DeliveryError("地址须以 http:// 或 https:// 开头")
    request = urllib.request.Request(  # noqa: S310 — scheme checked above
        target,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.FANGPIN_NOTIFY_TIMEOUT) as response:  # noqa: S310
            raw = response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"连接失败：{getattr(exc, 'reason', exc)}") from exc
    # Both robots answer 200 with {"errcode": 0, "errmsg": "ok"}; anything else is a refusal.
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        raise DeliveryError(f"机器人拒收：{answer.get('errcode')} {str(answer.get('errmsg', ''))[:200]}")


def send_email(to: str, title: str, text: str) -> None:
    message = EmailMessage(
        subject=f"[防贫监测] {title}", body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    try:
        message.send(fail_silently=False)
    except OSError as exc:  # smtplib errors are OSErrors
        raise DeliveryError(f"邮件发送失败：{exc}") from exc
