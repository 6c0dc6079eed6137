"""A refused page is an expected event, already audited as ACCESS_DENIED: the server log gets one line for
it, not a traceback (issue #14, finding 10)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from conftest import World


def test_a_403_is_logged_as_one_line_without_a_traceback(
    world: World,
    client_for: Callable[[str], Client],
    audit_rows: Callable[..., list[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client_for("sun_sysadmin").get("/households/").status_code == 403
    forbidden = [r for r in caplog.records if r.name == "django.request"]
    assert len(forbidden) == 1
    assert forbidden[0].exc_info is None and forbidden[0].exc_text is None
    assert "Traceback" not in caplog.text and "/households/" in caplog.text
    assert len(audit_rows("ACCESS_DENIED", actor_username="sun_sysadmin")) == 1


def test_a_server_error_still_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    from fangpin.web.logfilters import DenialsWithoutTraceback

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /", (), None
        )
        record.exc_info = sys.exc_info()
        record.status_code = 500
    assert DenialsWithoutTraceback().filter(record) and record.exc_info is not None
