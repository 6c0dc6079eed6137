"""The official holiday calendar behind working-day deadlines: entered years, the package, the fallback."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from django.urls import reverse
from freezegun import freeze_time

from conftest import VILLAGE_A, make_household
from fangpin.cases import actions, deadlines, holidays
from fangpin.cases.holidays import CalendarError, WorkingCalendar
from fangpin.cases.models import Case, CaseStep, DeadlineRule, OfficialDay
from fangpin.cli import main
from fangpin.warnings.models import Lead

LOCAL = deadlines.LOCAL
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "holidays-2026.yaml"

# INVENTED FOR THE TESTS — not the real 2027 schedule (not published when this was written). Only the
# shape matters: a New Year break on Friday 1 January and one adjusted Saturday.
TEST_2027 = """
year: 2027
notice: 测试用虚构安排 / invented for tests
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-06, to: 2027-02-12}
working_days:
  - {name: 春节, date: 2027-01-30}
"""

pytestmark = pytest.mark.django_db


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=LOCAL)


def _open(world: Any, make_lead: Any, place: str, found: dt.date) -> Case:
    if place not in world.households:
        world.households[place] = make_household(f"{VILLAGE_A}{len(world.households):04d}", VILLAGE_A, [])
    lead = make_lead(place)
    Lead.objects.filter(pk=lead.pk).update(created_at=_at(found))  # the clock starts when it was found
    lead.refresh_from_db()
    users = world.users
    return actions.open_case(lead, actor=users["zhang_township"], assignee=users["xiao_grid"], at=_at(found))


def test_it_falls_back_to_weekdays_for_a_year_nobody_entered_and_says_so_once(monkeypatch, caplog) -> None:
    monkeypatch.setattr(holidays, "_warned_years", set())
    assert deadlines.calendar_known(2026) and not deadlines.calendar_known(2027)
    with caplog.at_level(logging.WARNING, logger="fangpin.cases.holidays"):
        assert deadlines.is_working_day(dt.date(2027, 1, 1))  # a Friday: the estimate, not the truth
        assert deadlines.add_days(dt.date(2026, 12, 31), 1, working_days=True) == dt.date(2027, 1, 1)
    assert [r.getMessage()[:21] for r in caplog.records] == ["no holiday schedule f"]


def test_it_marks_a_deadline_reaching_an_unknown_year_as_provisional(world, make_lead, client_for) -> None:
    DeadlineRule.objects.create(region_id="360722", days=15, working_days=True)
    case = _open(world, make_lead, "own", dt.date(2026, 12, 20))
    assert case.deadline_at.astimezone(LOCAL).date() == dt.date(
        2027, 1, 8
    )  # 1 January counted as a working day
    notice = "2027年节假日安排尚未录入，工作日时限按周一至周五估算"
    assert notice in CaseStep.objects.get(case=case, action="open").note
    page = client_for("zhang_township").get(reverse("cases:case_detail", kwargs={"pk": case.pk}))
    assert notice in page.content.decode()
    with freeze_time("2026-12-05 09:00:00+08:00"):
        settings_page = client_for("wang_county").get("/cases/deadlines/").content.decode()
    assert notice in settings_page


def test_a_case_within_a_known_year_shows_no_notice(world, make_lead, client_for) -> None:
    DeadlineRule.objects.create(region_id="360722", days=15, working_days=True)
    case = _open(world, make_lead, "own", dt.date(2026, 9, 30))
    assert case.deadline_at.astimezone(LOCAL).date() == dt.date(
        2026, 10, 27
    )  # National Day week off, 10 October worked
    page = client_for("zhang_township").get(reverse("cases:case_detail", kwargs={"pk": case.pk}))
    assert "尚未录入" not in page.content.decode()
    assert "尚未录入" not in CaseStep.objects.get(case=case, action="open").note


def test_it_counts_an_entered_year_s_holidays_and_adjusted_working_days(audit_rows, client_for) -> None:
    report = deadlines.load_holidays(TEST_2027, username="sun_sysadmin")
    assert (report.year, report.holidays, report.working_days, report.replaced) == (2027, 10, 1, 0)
    assert deadlines.calendar_known(2027)
    assert deadlines.add_days(dt.date(2026, 12, 31), 1, working_days=True) == dt.date(2027, 1, 4)
    assert deadlines.is_working_day(dt.date(2027, 1, 30))  # the adjusted Saturday
    assert not deadlines.is_working_day(dt.date(2027, 2, 8))  # a Monday of the (invented) break
    assert deadlines.is_working_day(dt.date(2027, 3, 1))  # an ordinary Monday
    assert not deadlines.is_working_day(dt.date(2027, 3, 6))  # an ordinary Saturday
    [row] = audit_rows("CASE_HOLIDAYS_LOADED")
    assert row.object_id == "2027" and row.data["holidays"] == 10 and row.actor_username == "sun_sysadmin"


BAD_FILES = {
    "not a date": (TEST_2027.replace("2027-02-12", "2027-02-30"), "YYYY-MM-DD"),
    "overlapping ranges": (
        TEST_2027.replace("working_days:", "  - {name: 补, from: 2027-01-03, to: 2027-01-04}\nworking_days:"),
        "2027-01-03 与其他放假区间重叠",
    ),
    "a working weekday": (TEST_2027.replace("2027-01-30", "2027-01-29"), "不是周末"),
    "a working day inside a break": (TEST_2027.replace("2027-01-30", "2027-02-06"), "已列为放假"),
    "a date of another year": (TEST_2027.replace("2027-01-30", "2028-01-29"), "不在 2027 年度内"),
    "a year that is not a year": (TEST_2027.replace("year: 2027", "year: next"), "year must be a year"),
    "an unknown key": (TEST_2027 + "source: 网上\n", "unknown keys"),
    "no holidays": ("year: 2027\nnotice: x\nholidays: []\n", "holidays must be a list"),
    "a typo making a break months long": (TEST_2027.replace("2027-01-03", "2027-11-03"), "longer than 15"),
    "not YAML": ("year: [2027\n", "not valid YAML"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_it_rejects_a_bad_file_and_loads_nothing(name, audit_rows) -> None:
    deadlines.load_holidays(EXAMPLE.read_text(encoding="utf-8"))  # a year loaded earlier stays as it was
    before = list(OfficialDay.objects.values_list("date", "kind"))
    text, message = BAD_FILES[name]
    with pytest.raises(CalendarError, match=message):
        deadlines.load_holidays(text)
    assert list(OfficialDay.objects.values_list("date", "kind")) == before
    assert not OfficialDay.objects.filter(year=2027).exists()
    assert len(audit_rows("CASE_HOLIDAYS_LOADED")) == 1


def test_loading_a_year_again_replaces_it(audit_rows) -> None:
    deadlines.load_holidays(TEST_2027)
    corrected = TEST_2027.replace("to: 2027-02-12", "to: 2027-02-11").replace("测试用", "更正后的测试用")
    report = deadlines.load_holidays(corrected)
    assert report.replaced == 11 and OfficialDay.objects.filter(year=2027).count() == 10
    assert deadlines.is_working_day(dt.date(2027, 2, 12))
    assert set(OfficialDay.objects.values_list("notice", flat=True)) == {
        "更正后的测试用虚构安排 / invented for tests"
    }
    assert [r.data["replaced"] for r in audit_rows("CASE_HOLIDAYS_LOADED")] == [0, 11]


def test_the_example_file_gives_the_package_s_answer_for_every_day_of_2026() -> None:
    deadlines.load_holidays(EXAMPLE.read_text(encoding="utf-8"))
    calendar = WorkingCalendar()
    assert calendar.source(2026) == "table"
    day, differ = dt.date(2026, 1, 1), []
    while day.year == 2026:
        if calendar.is_working_day(day) != chinese_calendar.is_workday(day):
            differ.append(day)
        day += dt.timedelta(days=1)
    assert differ == []


def test_recompute_changes_only_running_working_day_cases_the_year_touches(
    world, make_lead, audit_rows
) -> None:
    DeadlineRule.objects.create(region_id="360722", days=15, working_days=True)
    rule_changed = _open(world, make_lead, "own", dt.date(2026, 12, 20))
    DeadlineRule.objects.filter(region_id="360722").update(days=20)  # applies to cases opened from now on
    touched = _open(world, make_lead, "second", dt.date(2026, 12, 21))
    november = _open(world, make_lead, "third", dt.date(2026, 11, 2))
    decided = _open(world, make_lead, "fourth", dt.date(2026, 12, 22))
    Case.objects.filter(pk=decided.pk).update(state="rejected", decided_at=_at(dt.date(2026, 12, 23)))
    before = {c.pk: c.deadline_at for c in Case.objects.all()}
    assert touched.deadline_at.astimezone(LOCAL).date() == dt.date(2027, 1, 18)

    report = deadlines.load_holidays(TEST_2027, recompute=True)

    assert report.recomputed == deadlines.RecomputeReport(checked=2, changed=1, rule_changed=1)
    after = {c.pk: c.deadline_at for c in Case.objects.all()}
    assert after[touched.pk].astimezone(LOCAL).date() == dt.date(2027, 1, 19)  # 1 January is off now
    assert {pk for pk in after if after[pk] != before[pk]} == {touched.pk}
    step = CaseStep.objects.get(action="deadline_recomputed")
    assert step.case_id == touched.pk and "2027-01-18 改为 2027-01-19" in step.note
    [row] = audit_rows("CASE_DEADLINE_RECOMPUTED")
    assert row.object_id == str(touched.pk)
    assert november.pk in after and rule_changed.pk in after
    # loading without --recompute leaves stored deadlines alone
    assert deadlines.load_holidays(TEST_2027).recomputed is None


def test_the_command_line_loads_shows_and_refuses(tmp_path, capsys, world) -> None:
    good, bad = tmp_path / "2027.yaml", tmp_path / "bad.yaml"
    good.write_text(TEST_2027, encoding="utf-8")
    bad.write_text(TEST_2027.replace("2027-01-30", "2027-01-29"), encoding="utf-8")
    assert main(["calendar", "load", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "不是周末" in err and "nothing was loaded" in err
    assert main(["calendar", "load", str(good), "--recompute"]) == 0
    out = capsys.readouterr().out
    assert "已录入 2027 年节假日安排" in out and "改变 0 件" in out
    assert main(["calendar", "show", "--year", "2027"]) == 0
    assert "2027-01-30 周六  调休上班 春节" in capsys.readouterr().out
    assert main(["calendar", "show", "--year", "2031"]) == 0
    assert "2031年节假日安排尚未录入" in capsys.readouterr().out
    assert main(["calendar", "show"]) == 0
    assert "2027  11 天" in capsys.readouterr().out


def test_the_database_check_warns_until_the_coming_year_is_entered() -> None:
    from django.core.checks import run_checks

    def warnings() -> list[str]:
        with freeze_time("2026-12-05 09:00:00+08:00"):
            return [m.id for m in run_checks(databases=["default"], tags=["database"]) if m.id]

    assert "fangpin.W010" in warnings()
    deadlines.load_holidays(TEST_2027)
    assert "fangpin.W010" not in warnings()


def test_a_deadline_reads_each_year_of_the_calendar_once(django_assert_num_queries) -> None:
    rule = deadlines.Rule(days=30, working_days=True)
    with django_assert_num_queries(2):  # 2026 and 2027, not one query per day counted
        deadlines.deadline_for(_at(dt.date(2026, 12, 20)), rule)
