"""Bulk reveals are throttled (issue #14 item 10): beyond FANGPIN_REVEAL_LIMIT_PER_HOUR full values per user
and hour the reveal is refused with a clear message, audited PI_REVEAL_THROTTLED, and the security
administrator is alerted (once per hour, not once per attempt)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from freezegun import freeze_time

from fangpin.audit.models import AuditEvent
from fangpin.notifications.models import Notification

REVEAL = {"field": "id_number", "purpose": "verification", "reason": "入户核实核对身份"}


def test_the_attack_150_reveals_in_a_burst_stops_at_the_limit(world, client_for, settings) -> None:
    settings.FANGPIN_REVEAL_LIMIT_PER_HOUR = 5
    person = world.persons["own"]
    client = client_for("zhang_township")
    statuses = [client.post(f"/persons/{person.pk}/reveal/", REVEAL).status_code for _ in range(150)]
    assert statuses[:5] == [200] * 5 and set(statuses[5:]) == {429}
    refused = client.post(f"/persons/{person.pk}/reveal/", REVEAL)
    body = refused.content.decode()
    assert "上限" in body and "安全管理员" in body and person.id_number not in body
    assert AuditEvent.objects.filter(event_type="PI_REVEAL").count() == 5
    throttled = AuditEvent.objects.filter(event_type="PI_REVEAL_THROTTLED")
    assert throttled.count() == 146 and throttled.first().actor_username == "zhang_township"
    alerts = Notification.objects.filter(verb="pi_reveal_throttled")
    assert [a.recipient.username for a in alerts] == ["zhou_secadmin"]
    assert "zhang_township" in alerts[0].title


def test_the_limit_is_per_user_and_per_hour(world, client_for, settings) -> None:
    settings.FANGPIN_REVEAL_LIMIT_PER_HOUR = 2
    person = world.persons["own"]
    zhang = client_for("zhang_township")
    for _ in range(2):
        later = client_for("zhang_township")  # (the earlier session has timed out by then)
        assert later.post(f"/persons/{person.pk}/reveal/", REVEAL).status_code == 200
    assert zhang.post(f"/persons/{person.pk}/reveal/", REVEAL).status_code == 429
    assert client_for("wang_county").post(f"/persons/{person.pk}/reveal/", REVEAL).status_code == 200
    # an hour later the earlier reveals no longer count
    with freeze_time(timezone.now() + dt.timedelta(hours=1, minutes=1)):
        later = client_for("zhang_township")  # (the earlier session has timed out by then)
        assert later.post(f"/persons/{person.pk}/reveal/", REVEAL).status_code == 200
