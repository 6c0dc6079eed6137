"""Two reviewers approving the same case at the same moment: exactly one transition (PostgreSQL, two
real connections; SQLite serialises writers and has no row locks, so the race is not meaningful there)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections

from fangpin.cases import actions
from fangpin.cases.models import Case, CaseStep

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def test_two_reviewers_approving_at_once_make_exactly_one_transition(walk, world) -> None:
    from fangpin.accounts.models import User

    second = User.objects.create(
        username="qian_township", role="township_reviewer", region_id="360722100", full_name="钱敏"
    )
    case = walk("township_review")
    version = case.version
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def approve(user: Any) -> None:
        try:
            mine = Case.objects.get(pk=case.pk)  # each thread loaded the page: same version
            barrier.wait(timeout=10)
            actions.submit(
                mine, "township_approve", actor=user, payload={"version": version, "note": user.username}
            )
            results[user.username] = "ok"
        except actions.Conflict as exc:
            results[user.username] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (world.users["zhang_township"], second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    outcomes = sorted(results.values(), key=lambda r: r == "ok")
    assert len(outcomes) == 2 and outcomes[1] == "ok", results
    assert isinstance(outcomes[0], actions.Conflict) and "请刷新后重试" in str(outcomes[0])
    assert CaseStep.objects.filter(case=case, action="township_approve").count() == 1
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.state == "county_approval" and fresh.version == version + 1


def test_a_stale_form_after_someone_else_acted_is_refused_through_the_web(walk, world, client_for) -> None:
    case = walk("township_review")
    stale = case.version
    actions.submit(case, "township_approve", actor=world.users["zhang_township"], payload={"version": stale})
    response = client_for("zhang_township").post(
        f"/cases/{case.pk}/act/reject/", {"version": str(stale), "reason": "迟到的意见"}
    )
    assert response.status_code == 409 and "请刷新后重试" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "county_approval"
