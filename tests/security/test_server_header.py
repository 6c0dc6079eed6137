"""#14 "no server version leak", checked on the real server (gunicorn workers), not the test client."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fangpin.web import server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:  # noqa: S310 - our own server, http
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.slow
def test_the_server_names_no_version_and_its_error_pages_no_framework(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "FANGPIN_HOME": str(tmp_path), "FANGPIN_WEB_WORKERS": "1"}
    env.pop("DATABASE_URL", None)
    web = subprocess.Popen(
        server.gunicorn_argv("127.0.0.1", port), env=server.gunicorn_env(env), stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120  # a loaded CI machine boots workers slowly
        while True:
            try:
                answers = [
                    _fetch(f"http://127.0.0.1:{port}{path}") for path in ("/healthz", "/no-such-page/")
                ]
                break
            except OSError:
                assert web.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
    finally:
        web.terminate()
        web.communicate(timeout=15)
    (ok, ok_headers, _), (missing, missing_headers, page) = answers
    assert ok == 200 and missing == 404
    for headers in (ok_headers, missing_headers):
        assert not any(ch.isdigit() for ch in headers.get("Server", "")), headers.get("Server")
        assert "X-Powered-By" not in headers
    assert b"Django" not in page and b"Traceback" not in page
