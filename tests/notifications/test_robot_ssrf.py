"""SSRF through group robots (security issue #14, finding 8). The server posts to robot URLs, so a URL
pointing inside the network made it call internal services and show their answers on the page. Robot
hosts are now a list kept by the security administrator, checked when a robot is saved and again at each
send (against the address actually connected to), redirects are not followed, and nothing of an answer's
body reaches the page."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fangpin.notifications.models import RobotHost, Webhook

from .test_notify import Robot

PUBLIC_IP = "93.184.216.34"


class Answering:
    """A local server that answers every request with a fixed status, headers and body, and records
    each request it gets (method and path)."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.hits: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                server.hits.append((self.command, self.path))
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Answering:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every outgoing connection attempt (refused: nothing leaves the test machine)."""
    made: list[tuple[str, int]] = []

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        made.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket, "create_connection", connect)
    yield made


def _resolve_to(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """robot.example resolves to answers[0], then answers[1], … (a rebinding DNS server)."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "robot.example":
            return real(host, port, *args, **kwargs)
        ip = answers[min(len(asked), len(answers) - 1)]
        asked.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 80)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def _add(client: Any, url: str) -> Any:
    return client.post(
        "/inbox/robots/", {"region_id": "360722100", "kind": "wecom", "name": "工作群", "url": url}
    )


def _test_button(client: Any, url: str) -> str:
    hook = Webhook.objects.create(region_id="360722100", kind="wecom", name="工作群", url=url)
    response = client.post(f"/inbox/robots/{hook.pk}/", {"action": "test"}, follow=True)
    return str(response.content.decode())


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/admin",  # the list allows 127.0.0.1 only in conftest: removed below
        "http://169.254.169.254/latest/meta-data/",
        "http://internal.example/x",  # not on the list
        "http://[::1]:{port}/x",
    ],
)
def test_an_internal_or_unlisted_robot_url_is_refused_at_save_and_at_send(
    world, client_for, url: str
) -> None:
    RobotHost.objects.filter(host="127.0.0.1").delete()
    RobotHost.objects.create(host="169.254.169.254", allow_private=True, added_by="x")  # still never
    client = client_for("sun_sysadmin")
    with Robot() as internal:
        address = url.format(port=internal.server.server_address[1])
        refused = _add(client, address)
        assert refused.status_code == 400 and not Webhook.objects.exists()
        assert "名单" in refused.content.decode() or "内网" in refused.content.decode()
        page = _test_button(client, address)  # a robot saved before the list existed
        assert "测试消息发送失败" in page and internal.posts == []


def test_a_listed_name_that_resolves_inside_is_refused(world, client_for, monkeypatch, connections) -> None:
    RobotHost.objects.create(host="robot.example", added_by="x")
    _resolve_to(monkeypatch, "10.1.2.3")
    client = client_for("sun_sysadmin")
    assert _add(client, "https://robot.example/send").status_code == 400
    assert "内网" in _test_button(client, "https://robot.example/send") and connections == []


def test_dns_rebinding_is_defeated_by_connecting_to_the_checked_address(
    world, client_for, monkeypatch, connections
) -> None:
    RobotHost.objects.create(host="robot.example", added_by="x")
    asked = _resolve_to(monkeypatch, PUBLIC_IP, "127.0.0.1")  # public when checked, then internal
    page = _test_button(client_for("sun_sysadmin"), "http://robot.example:8080/send")
    assert "测试消息发送失败" in page
    assert connections == [(PUBLIC_IP, 8080)] and asked == [PUBLIC_IP]  # one lookup, that address


def test_a_redirect_from_a_listed_robot_is_not_followed_and_its_body_not_shown(world, client_for) -> None:
    with Answering(200, b"INTERNAL-ADMIN-PAGE") as inside:
        location = {"Location": f"{inside.url}/admin"}
        with Answering(302, b"REDIRECT-BODY-SECRET", location) as robot:
            page = _test_button(client_for("sun_sysadmin"), f"{robot.url}/send")
    assert robot.hits == [("POST", "/send")] and inside.hits == []
    assert "测试消息发送失败：HTTP 302" in page
    assert "REDIRECT-BODY-SECRET" not in page and "INTERNAL-ADMIN-PAGE" not in page


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, '{"errcode": 40001, "errmsg": "db-password=hunter2"}'), (500, "Traceback: db-password=hunter2")],
)
def test_the_page_shows_the_status_never_the_answer(world, client_for, status: int, body: str) -> None:
    with Answering(status, body.encode()) as robot:
        page = _test_button(client_for("sun_sysadmin"), f"{robot.url}/send")
    assert f"HTTP {status}" in page and "hunter2" not in page and "40001" not in page


def test_only_the_security_administrator_keeps_the_list_and_each_change_is_audited(
    world, client_for, audit_rows
) -> None:
    assert client_for("sun_sysadmin").get("/inbox/robot-hosts/").status_code == 403
    assert client_for("sun_sysadmin").post("/inbox/robot-hosts/", {"host": "x.example"}).status_code == 403
    client = client_for("zhou_secadmin")
    assert client.post("/inbox/robot-hosts/", {"host": "http://x/"}).status_code == 400
    assert client.post("/inbox/robot-hosts/", {"host": "QYAPI.weixin.qq.com"}).status_code == 302
    entry = RobotHost.objects.get(host="qyapi.weixin.qq.com")
    assert (
        not entry.allow_private
        and "qyapi.weixin.qq.com" in client.get("/inbox/robot-hosts/").content.decode()
    )
    assert client.post(f"/inbox/robot-hosts/{entry.pk}/remove/").status_code == 302
    assert not RobotHost.objects.filter(host="qyapi.weixin.qq.com").exists()
    (added,) = audit_rows("ROBOT_HOST_ADDED")
    (removed,) = audit_rows("ROBOT_HOST_REMOVED")
    assert added.actor_username == removed.actor_username == "zhou_secadmin"
    assert added.data == {"host": "qyapi.weixin.qq.com", "allow_private": False}
