"""The linkage review queue, data-quality alerts and department tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fangpin.exchange import quality
from fangpin.exchange.models import Delivery, DepartmentToken, LinkReview, Status


def a_delivery(**overrides: object) -> Delivery:
    values = {
        "dataset": "ms_settlement",
        "department": "medical_security",
        "period": "2026-08",
        "content_hash": "h",
        "source": "cli",
        "file_name": "f.csv",
        "status": Status.ACCEPTED,
        "read": 100,
        "accepted": 100,
    }
    values.update(overrides)
    return Delivery.objects.create(**values)


@pytest.fixture
def review(world) -> LinkReview:
    person, household = world.persons["own"], world.households["own"]
    candidates = [
        {
            "person_key": person.pk,
            "household_key": household.pk,
            "probability": 0.8,
            "features": "姓名一致；出生日期一致",
        }
    ]
    return LinkReview.objects.create(
        delivery=a_delivery(),
        row=7,
        candidates=candidates,
        best_probability=0.8,
        village_id=household.village_id,
    )


def test_a_township_reviewer_confirms_a_link_in_scope(review, client_for, audit_rows) -> None:
    client = client_for("zhang_township")
    assert "肖*香" in client.get("/exchange/reviews/").content.decode()
    person = review.candidates[0]["person_key"]
    response = client.post(
        f"/exchange/reviews/{review.pk}/decide/", {"person": person, "version": review.version}
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert (
        review.decision == "linked" and review.chosen_id == person and review.decided_by == "zhang_township"
    )
    assert audit_rows("LINK_DECIDED")


def test_a_second_decision_on_the_same_row_is_a_conflict(review, client_for) -> None:
    person = review.candidates[0]["person_key"]
    first = client_for("zhang_township").post(
        f"/exchange/reviews/{review.pk}/decide/", {"person": person, "version": review.version}
    )
    second = client_for("wang_county").post(
        f"/exchange/reviews/{review.pk}/decide/", {"version": review.version}
    )
    assert first.status_code == 302 and second.status_code == 409
    review.refresh_from_db()
    assert review.decision == "linked"


def test_only_a_listed_candidate_can_be_chosen(review, client_for, world) -> None:
    stranger = world.persons["sibling"].pk
    response = client_for("wang_county").post(
        f"/exchange/reviews/{review.pk}/decide/", {"person": stranger, "version": 1}
    )
    assert response.status_code == 400
    review.refresh_from_db()
    assert review.decision == "pending"


def test_none_of_the_candidates_is_a_decision_too(review, client_for) -> None:
    client_for("zhang_township").post(f"/exchange/reviews/{review.pk}/decide/", {"version": review.version})
    review.refresh_from_db()
    assert review.decision == "not_found" and review.chosen_id is None


def test_a_reviewer_of_another_township_cannot_see_or_decide(review, client_for) -> None:
    client = client_for("li_township_b")
    assert "肖*香" not in client.get("/exchange/reviews/").content.decode()
    assert client.post(f"/exchange/reviews/{review.pk}/decide/", {"version": 1}).status_code == 404


def test_a_department_that_has_not_delivered_after_the_due_day_is_flagged(world) -> None:
    a_delivery(period="2026-08")
    table = quality.department_months(Delivery.objects.all(), months=3, today=dt.date(2026, 10, 20))
    late = {
        a.department: a.message
        for a in quality.alerts(table, today=dt.date(2026, 10, 20))
        if a.kind == "late"
    }
    assert "2026-08" in late["public_security"] and "2026-09" in late["public_security"]
    assert "2026-10" not in late["public_security"]  # not yet due
    assert "2026-08（缺1个）" in late["medical_security"]  # one of its two datasets arrived


def test_months_before_the_first_delivery_are_not_expected(world) -> None:
    a_delivery(period="2026-08")
    table = quality.department_months(Delivery.objects.all(), months=4, today=dt.date(2026, 10, 20))
    assert table.rows["public_security"]["2026-07"].expected == 0
    assert all("2026-07" not in a.message for a in quality.alerts(table, today=dt.date(2026, 10, 20)))


def test_a_jump_in_the_rejection_rate_is_flagged(world) -> None:
    for period, rejected in (("2026-06", 1), ("2026-07", 2), ("2026-08", 1), ("2026-09", 30)):
        a_delivery(period=period, rejected=rejected, accepted=100 - rejected, content_hash=period)
    table = quality.department_months(Delivery.objects.all(), months=4, today=dt.date(2026, 9, 30))
    jumps = [a for a in quality.alerts(table, today=dt.date(2026, 9, 30)) if a.kind == "rejection_jump"]
    assert [(a.department, a.period) for a in jumps] == [("medical_security", "2026-09")]


def test_a_delivery_after_the_due_day_counts_as_late(world) -> None:
    late = a_delivery(period="2026-08")
    Delivery.objects.filter(pk=late.pk).update(received_at=timezone.make_aware(dt.datetime(2026, 9, 15, 9)))
    table = quality.department_months(Delivery.objects.all(), months=2, today=dt.date(2026, 9, 30))
    assert table.rows["medical_security"]["2026-08"].late == 1


def test_the_security_admin_creates_a_token_shown_once_and_stored_hashed(
    world, client_for, audit_rows
) -> None:
    response = client_for("zhou_secadmin").post(
        "/exchange/tokens/", {"department": "health", "name": "卫健推送"}
    )
    token = response.context["new_token"]
    stored = DepartmentToken.objects.get()
    assert (
        token.startswith("fp_")
        and stored.token_hash == DepartmentToken.digest(token)
        and token not in stored.token_hash
    )
    assert token not in client_for("zhou_secadmin").get("/exchange/tokens/").content.decode()
    client_for("zhou_secadmin").post(f"/exchange/tokens/{stored.pk}/revoke/")
    stored.refresh_from_db()
    assert not stored.active and audit_rows("TOKEN_CREATED") and audit_rows("TOKEN_REVOKED")


def test_the_annual_income_survey_is_expected_only_in_its_month(world) -> None:
    a_delivery(period="2026-02", content_hash="feb")
    table = quality.department_months(Delivery.objects.all(), months=2, today=dt.date(2026, 3, 20))
    assert table.rows["agriculture"]["2026-02"].expected == 2  # roster, self-declarations
    assert table.rows["agriculture"]["2026-03"].expected == 3  # … and the income survey


def test_a_confirmed_link_is_written_beside_the_lake_for_screening(
    review, client_for, settings, django_capture_on_commit_callbacks
) -> None:
    from pathlib import Path

    from fangpin.pipeline import link_decisions

    person = review.candidates[0]["person_key"]
    with django_capture_on_commit_callbacks(execute=True):
        client_for("zhang_township").post(
            f"/exchange/reviews/{review.pk}/decide/", {"person": person, "version": review.version}
        )
    decided = link_decisions.read(Path(settings.FANGPIN_LAKE)).to_pylist()
    assert [(d["_row"], d["person_key"]) for d in decided] == [(7, person)]
    before = timezone.now() - dt.timedelta(hours=1)
    assert link_decisions.read(Path(settings.FANGPIN_LAKE), as_of_time=before).num_rows == 0
