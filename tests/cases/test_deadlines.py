"""Time limits: calendar and working days, inheritance, the clock, overdue lists and escalation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from fangpin.cases import actions, deadlines
from fangpin.cases.models import Case, DeadlineRule, Escalation

LOCAL = deadlines.LOCAL


@pytest.mark.django_db  # working days read the entered holiday schedule
def test_fifteen_calendar_days_by_default() -> None:
    found = dt.datetime(2026, 9, 28, 10, 0, tzinfo=LOCAL)
    assert deadlines.deadline_for(found, deadlines.Rule()) == dt.datetime(
        2026, 10, 13, 23, 59, 59, tzinfo=LOCAL
    )


@pytest.mark.django_db  # working days read the entered holiday schedule
def test_working_days_skip_national_day_and_count_the_adjusted_saturday() -> None:
    # 2026: 1–7 October off, 25 September (Mid-Autumn) off; Sunday 20 September and Saturday 10 October
    # are adjusted working days.
    found = dt.date(2026, 9, 30)
    assert deadlines.add_days(found, 1, working_days=True) == dt.date(2026, 10, 8)
    assert deadlines.add_days(found, 3, working_days=True) == dt.date(2026, 10, 10)
    assert deadlines.add_days(dt.date(2026, 9, 24), 1, working_days=True) == dt.date(2026, 9, 28)
    assert deadlines.add_days(dt.date(2026, 9, 18), 1, working_days=True) == dt.date(2026, 9, 20)


@pytest.mark.django_db  # working days read the entered holiday schedule
def test_years_the_calendar_does_not_know_fall_back_to_weekdays() -> None:
    assert deadlines.add_days(dt.date(2030, 1, 4), 1, working_days=True) == dt.date(2030, 1, 7)


@pytest.mark.django_db
def test_a_village_inherits_its_county_rule_unless_the_township_sets_one(world) -> None:
    assert deadlines.rule_for("360722100200") == deadlines.Rule()
    DeadlineRule.objects.create(region_id="360722", days=20, working_days=True)
    assert deadlines.rule_for("360722100200").days == 20
    DeadlineRule.objects.create(region_id="360722100", days=10)
    assert deadlines.rule_for("360722100200") == deadlines.Rule(10, False, 3, "360722100")
    assert deadlines.rule_for("360722101200").days == 20
    assert deadlines.rule_for("360731100200") == deadlines.Rule()


@pytest.mark.django_db
def test_the_county_sets_its_limit_on_the_settings_page(client_for, world) -> None:
    response = client_for("wang_county").post(
        "/cases/deadlines/", {"days": "20", "working_days": "on", "escalate_days_before": "2"}
    )
    assert response.status_code == 302
    assert deadlines.rule_for("360722100200") == deadlines.Rule(20, True, 2, "360722")
    assert client_for("zhang_township").get("/cases/deadlines/").status_code == 403


@pytest.mark.django_db
def test_the_clock_counts_down_and_then_shows_overdue(walk) -> None:
    case = walk("verifying")
    now = case.deadline_at - dt.timedelta(days=2)
    assert deadlines.clock(case, now).days_left == 2 and deadlines.clock(case, now).label == "剩余 2 天"
    late = case.deadline_at + dt.timedelta(days=3)
    clock = deadlines.clock(case, late)
    assert clock.overdue and clock.label == "已超期 3 天"
    assert list(deadlines.overdue(Case.objects.all(), late)) == [case]
    assert list(deadlines.overdue(Case.objects.all(), now)) == []


@pytest.mark.django_db
def test_escalation_goes_to_the_next_level_once_per_deadline(
    walk, world, django_capture_on_commit_callbacks
) -> None:
    from fangpin.notifications.models import Notification

    case = walk(
        "verifying", at=timezone.now() - dt.timedelta(days=13)
    )  # due in ~2 days: within the 3-day notice
    with django_capture_on_commit_callbacks(execute=True):
        first = deadlines.escalate()
        again = deadlines.escalate()
    assert (first.due_soon, first.overdue) == (1, 0) and again.already_sent == 1 and again.due_soon == 0
    notices = Notification.objects.filter(verb="case_due_soon")
    assert [n.recipient.username for n in notices] == ["zhang_township"]  # the township above the village
    # past the deadline: one overdue notice more
    later = case.deadline_at + dt.timedelta(hours=1)
    assert deadlines.escalate(later).overdue == 1 and deadlines.escalate(later).overdue == 0
    assert Escalation.objects.filter(case=case).count() == 2


@pytest.mark.django_db
def test_a_township_step_escalates_to_the_county(walk, world) -> None:
    from fangpin.notifications.models import Notification

    case = walk("township_review", at=timezone.now() - dt.timedelta(days=20))
    assert deadlines.escalate().overdue == 1
    assert {n.recipient.username for n in Notification.objects.filter(verb="case_overdue")} == {"wang_county"}
    assert case.escalations.get().level == "county"


@pytest.mark.django_db
def test_the_escalation_command_is_idempotent(walk, capsys) -> None:
    walk("verifying", at=timezone.now() - dt.timedelta(days=30))
    call_command("cases_escalate")
    call_command("cases_escalate")
    out = capsys.readouterr().out
    assert "超期提醒 1 件" in out and "已提醒过 1 件" in out


@pytest.mark.django_db
def test_overdue_lists_per_level(walk, client_for, world) -> None:
    walk("verifying", at=timezone.now() - dt.timedelta(days=30))
    page = client_for("zhang_township").get("/cases/?overdue=1")
    assert page.status_code == 200 and "已超期" in page.content.decode()
    assert client_for("li_township_b").get("/cases/?overdue=1").context["counts"]["overdue"] == 0
    assert client_for("wang_county").get("/cases/?overdue=1").context["counts"]["overdue"] == 1
    assert actions  # the actions module is the one path that opened the case above


@pytest.mark.django_db
def test_the_clock_escalates_overdue_cases_without_anyone_opening_a_page(walk, capsys) -> None:
    case = walk("verifying", at=timezone.now() - dt.timedelta(days=30))
    call_command("periodic", once=True)
    assert case.escalations.count() == 1
    assert "超期提醒 1 件" in capsys.readouterr().out


def test_a_county_sets_its_time_limit_in_one_audited_action(world, client_for, audit_rows) -> None:
    response = client_for("wang_county").post(
        "/cases/deadlines/", {"days": "20", "working_days": "on", "escalate_days_before": "4"}
    )
    assert response.status_code == 302
    rule = DeadlineRule.objects.get(region_id="360722")
    assert (rule.days, rule.working_days, rule.escalate_days_before) == (20, True, 4)
    assert rule.updated_by == world.user("wang_county")
    (row,) = audit_rows("CASE_DEADLINE_RULE_SET", object_id="360722")
    assert row.actor_username == "wang_county"
    assert row.data == {"days": 20, "working_days": True, "escalate_days_before": 4}


def test_only_a_county_approver_sets_a_time_limit_and_only_for_its_own_county(world, audit_rows) -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        deadlines.set_rule(
            "360722100",
            actor=world.user("zhang_township"),
            days=5,
            working_days=False,
            escalate_days_before=1,
        )
    with pytest.raises(PermissionDenied):
        deadlines.set_rule(
            "360722", actor=world.user("huang_county_c"), days=5, working_days=False, escalate_days_before=1
        )
    assert not DeadlineRule.objects.exists() and not audit_rows("CASE_DEADLINE_RULE_SET")
