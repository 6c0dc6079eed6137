from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def local_robots_allowed(db: None) -> None:
    """The robots of these tests are local servers: the security administrator's list allows 127.0.0.1
    with internal addresses (tests/notifications/test_robot_ssrf.py removes or narrows it)."""
    from fangpin.notifications.models import RobotHost

    RobotHost.objects.create(host="127.0.0.1", allow_private=True, added_by="zhou_secadmin")
