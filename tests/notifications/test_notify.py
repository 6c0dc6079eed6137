"""notify(): the inbox row is written with the caller's change; robot posts and emails go out only after
commit, to real local servers; a robot that is down never breaks the caller."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction

from fangpin.notifications import actions
from fangpin.notifications.models import Dispatch, Notification, Webhook


class Robot:
    """A local chat robot: records each POST (path, query, JSON body) and answers like WeCom/DingTalk."""

    def __init__(self, answer: dict[str, Any] | None = None, status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parsed = urllib.parse.urlsplit(self.path)
                robot.posts.append(
                    {
                        "path": parsed.path,
                        "query": dict(urllib.parse.parse_qsl(parsed.query)),
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                payload = json.dumps(answer or {"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Robot:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robot() -> Iterator[Robot]:
    with Robot() as r:
        yield r


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on a local port (aiosmtpd)."""
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.FANGPIN_NOTIFY_EMAIL = True
    settings.DEFAULT_FROM_EMAIL = "fangpin@xinfeng.example"
    try:
        yield mailbox
    finally:
        controller.stop()


def _hook(region: str, kind: str, url: str, secret: str = "") -> Webhook:
    return Webhook.objects.create(region_id=region, kind=kind, name="嘉定镇工作群", url=url, secret=secret)


def test_it_posts_the_wecom_markdown_after_commit(
    world, robot, django_capture_on_commit_callbacks, settings
) -> None:
    settings.FANGPIN_BASE_URL = "https://fangpin.xinfeng.example"
    zhang = world.user("zhang_township")
    _hook("360722100", "wecom", f"{robot.url}/cgi-bin/webhook/send?key=abc")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        rows = actions.notify([zhang], "新的核实任务待分派", "水东村 1 户", "/cases/7/")
        assert robot.posts == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert [r.recipient for r in rows] == [zhang]
    (post,) = robot.posts
    assert post["path"] == "/cgi-bin/webhook/send" and post["query"] == {"key": "abc"}
    assert post["content_type"].startswith("application/json")
    assert post["body"]["msgtype"] == "markdown"
    content = post["body"]["markdown"]["content"]
    assert "新的核实任务待分派" in content
    assert "https://fangpin.xinfeng.example/cases/7/" in content
    assert "水东村 1 户" not in content  # the body stays in the inbox
    assert Dispatch.objects.get().status == "sent"


def test_it_signs_dingtalk_posts_with_hmac_sha256(world, robot, django_capture_on_commit_callbacks) -> None:
    secret = "SEC0123456789abcdef"
    _hook("360722100", "dingtalk", f"{robot.url}/robot/send?access_token=tok", secret=secret)
    with django_capture_on_commit_callbacks(execute=True):
        actions.notify([world.user("zhang_township")], "案件即将超期", url="/cases/9/")
    (post,) = robot.posts
    query = post["query"]
    assert query["access_token"] == "tok"
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{query['timestamp']}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"] == expected
    assert post["body"]["msgtype"] == "markdown"
    assert post["body"]["markdown"]["title"] == "案件即将超期"
    assert "案件即将超期" in post["body"]["markdown"]["text"]


def test_it_posts_only_to_active_robots_of_the_recipients_regions(
    world, robot, django_capture_on_commit_callbacks
) -> None:
    _hook("360722100", "wecom", f"{robot.url}/own")
    _hook("360722101", "wecom", f"{robot.url}/sibling")
    inactive = _hook("360722100", "wecom", f"{robot.url}/inactive")
    inactive.active = False
    inactive.save()
    with django_capture_on_commit_callbacks(execute=True):
        actions.notify([world.user("zhang_township")], "x")
    assert [p["path"] for p in robot.posts] == ["/own"]


def test_nothing_is_sent_when_the_callers_transaction_rolls_back(
    world, robot, django_capture_on_commit_callbacks
) -> None:
    _hook("360722100", "wecom", f"{robot.url}/own")

    class Boom(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Boom), transaction.atomic():
        actions.notify([world.user("zhang_township")], "x")
        raise Boom
    assert robot.posts == []
    assert not Notification.objects.exists() and not Dispatch.objects.exists()


def test_a_robot_that_is_down_never_breaks_the_caller(
    world, django_capture_on_commit_callbacks, audit_rows
) -> None:
    with Robot() as down:
        url = f"{down.url}/gone"
    _hook("360722100", "wecom", url)  # its server has been shut down: connection refused
    with django_capture_on_commit_callbacks(execute=True):
        rows = actions.notify([world.user("zhang_township")], "案件已退回")
    assert len(rows) == 1 and Notification.objects.count() == 1
    dispatch = Dispatch.objects.get()
    assert dispatch.status == "pending" and dispatch.attempts == 1
    assert dispatch.next_attempt_at is not None and "连接失败" in dispatch.last_error
    (failed,) = audit_rows("NOTIFICATION_FAILED")
    assert failed.data["attempt"] == 1 and not failed.data["final"]


def test_a_refusing_robot_is_retried_with_backoff_then_given_up(
    world, django_capture_on_commit_callbacks, audit_rows
) -> None:
    with Robot(answer={"errcode": 93000, "errmsg": "invalid webhook url"}) as refusing:
        _hook("360722100", "wecom", f"{refusing.url}/x")
        with django_capture_on_commit_callbacks(execute=True):
            actions.notify([world.user("zhang_township")], "x")
        dispatch = Dispatch.objects.get()
        delays = []
        while dispatch.status == "pending":
            delays.append((dispatch.next_attempt_at - dispatch.created_at).total_seconds())
            assert actions.retry_due(now=dispatch.next_attempt_at) == 1
            dispatch.refresh_from_db()
    assert dispatch.status == "failed" and dispatch.attempts == len(actions.BACKOFF) + 1
    assert "机器人拒收" in dispatch.last_error and "93000" not in dispatch.last_error  # no body
    assert len(refusing.posts) == len(actions.BACKOFF) + 1
    assert delays == sorted(delays) and delays[0] >= actions.BACKOFF[0]  # backoff grows
    assert audit_rows("NOTIFICATION_FAILED")[-1].data["final"] is True


def test_a_robot_back_up_gets_the_message_on_retry(world, django_capture_on_commit_callbacks) -> None:
    with Robot() as robot:
        port = robot.server.server_address[1]
    _hook("360722100", "wecom", f"http://127.0.0.1:{port}/send")
    with django_capture_on_commit_callbacks(execute=True):
        actions.notify([world.user("zhang_township")], "x")
    dispatch = Dispatch.objects.get()
    assert dispatch.status == "pending"
    # the robot comes back on the same address
    again = Robot()
    again.server.server_close()
    from http.server import ThreadingHTTPServer as Server

    again.server = Server(("127.0.0.1", port), again.server.RequestHandlerClass)
    again.thread = threading.Thread(target=again.server.serve_forever, daemon=True)
    with again:
        actions.retry_due(now=dispatch.next_attempt_at)
    dispatch.refresh_from_db()
    assert dispatch.status == "sent" and len(again.posts) == 1


def test_it_emails_recipients_with_an_address(
    world, smtp, django_capture_on_commit_callbacks, settings
) -> None:
    settings.FANGPIN_BASE_URL = "https://fangpin.xinfeng.example"
    zhang, wang = world.user("zhang_township"), world.user("wang_county")
    zhang.email = "zhangwei@xinfeng.example"
    zhang.save()
    with django_capture_on_commit_callbacks(execute=True):
        actions.notify([zhang, wang], "待县级审批：1 件", url="/cases/3/", webhook=False, email=True)
    (envelope,) = smtp.messages  # wang has no address
    assert envelope.rcpt_tos == ["zhangwei@xinfeng.example"]
    assert envelope.mail_from == "fangpin@xinfeng.example"
    text = envelope.content.decode("utf-8")
    assert "https://fangpin.xinfeng.example/cases/3/" in text
    assert Dispatch.objects.get().status == "sent"
    assert Notification.objects.count() == 2


def test_email_to_a_mail_server_that_is_down_is_recorded_not_raised(
    world, settings, django_capture_on_commit_callbacks
) -> None:
    port = _free_port()  # nothing listens there
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.FANGPIN_NOTIFY_EMAIL = "127.0.0.1", port, True
    zhang = world.user("zhang_township")
    zhang.email = "zhangwei@xinfeng.example"
    zhang.save()
    with django_capture_on_commit_callbacks(execute=True):
        actions.notify([zhang], "x", webhook=False, email=True)
    dispatch = Dispatch.objects.get()
    assert dispatch.status == "pending" and "邮件发送失败" in dispatch.last_error


def test_email_is_off_without_an_smtp_host(world, settings) -> None:
    settings.FANGPIN_NOTIFY_EMAIL = False
    zhang = world.user("zhang_township")
    zhang.email = "zhangwei@xinfeng.example"
    zhang.save()
    actions.notify([zhang], "x", email=True)
    assert not Dispatch.objects.exists() and Notification.objects.count() == 1


def test_inactive_users_and_duplicates_get_one_or_no_message(world) -> None:
    zhang, xiao = world.user("zhang_township"), world.user("xiao_grid")
    xiao.is_active = False
    xiao.save()
    rows = actions.notify([zhang, zhang, xiao], "x", target=world.households["own"])
    assert [r.recipient_id for r in rows] == [zhang.pk]
    assert rows[0].target == world.households["own"]


def test_the_short_form_with_a_link_as_third_argument_keeps_it_a_link(world) -> None:
    (row,) = actions.notify([world.user("zhang_township")], "新的自主申报待受理", "/leads/5/")
    assert row.url == "/leads/5/" and row.body == ""
