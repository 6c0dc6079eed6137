"""Sending one outbound message: the WeCom and DingTalk group-robot JSON styles, and email through Django's
email backend. Each function raises DeliveryError with a short reason; retries are the caller's business."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage

from fangpin.notifications.models import RobotHost, WebhookKind

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class Target:
    """A robot URL checked against the allowlist, with the one address it may be reached at."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    address: str  # the IP that was checked: the connection goes there, not to a second DNS answer


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    """Link-local (169.254.169.254 is the cloud metadata service), multicast, unspecified and reserved
    addresses never; loopback and private ones only for a host allowed with allow_private."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return True
    return not address.is_global and not allow_private


def check_target(url: str) -> Target:
    """The URL's host must be on the security administrator's list, and every address it resolves to
    must be allowed for it (all of them: a name answering one public and one internal address is
    refused). Raises DeliveryError with the reason."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DeliveryError("地址格式不正确") from exc
    if parts.scheme not in ("http", "https"):
        raise DeliveryError("地址须以 http:// 或 https:// 开头")
    if parts.username or parts.password:
        raise DeliveryError("地址中不能含用户名或密码")
    host = (parts.hostname or "").rstrip(".")
    entry = RobotHost.objects.filter(host=host).first()
    if entry is None:
        raise DeliveryError(f"主机 {host or '（空）'} 不在安全管理员允许的群机器人主机名单中")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DeliveryError(f"无法解析主机 {host}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found]
    if not addresses or any(_forbidden(a, entry.allow_private) for a in addresses):
        raise DeliveryError(f"主机 {host} 解析到内网、本机或保留地址，已拒绝")
    path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(parts.scheme, host, port, path, str(addresses[0]))


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the host."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, with the certificate verified for the host name (SNI)."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post_webhook(kind: str, url: str, secret: str, title: str, text: str) -> None:
    """One POST, never a redirect (a 3xx is a failure), and nothing of the answer's body in the error:
    the reason says success or failure and the HTTP status only (issue #14)."""
    if kind == WebhookKind.DINGTALK:
        payload, address = dingtalk_payload(title, text), signed_url(url, secret)
    else:
        payload, address = wecom_payload(title, text), url
    target = check_target(address)
    pinned = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = pinned(target, timeout=settings.FANGPIN_NOTIFY_TIMEOUT)
    try:
        connection.request(
            "POST",
            target.path,
            body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        response = connection.getresponse()
        status, raw = response.status, response.read(65536)
    except (OSError, http.client.HTTPException) as exc:
        log.warning("robot %s: connection failed: %s", target.host, exc)
        raise DeliveryError("连接失败") from exc
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")
    # Both robots answer 200 with {"errcode": 0, "errmsg": "ok"}; anything else is a refusal.
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        return
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        raise DeliveryError(f"机器人拒收（HTTP {status}，返回码非0）")


def send_email(to: str, title: str, text: str) -> None:
    message = EmailMessage(
        subject=f"[防贫监测] {title}", body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to]
    )
    try:
        message.send(fail_silently=False)
    except OSError as exc:  # smtplib errors are OSErrors
        raise DeliveryError(f"邮件发送失败：{exc}") from exc
