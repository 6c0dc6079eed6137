"""China's official working days: the State Council's yearly holiday schedule (国务院办公厅 节假日安排).

Where a day's answer comes from, in order:
1. a year an administrator entered (`OfficialDay`, loaded with `fangpin calendar load FILE.yaml`): its
   listed holidays are off, its listed adjusted weekend days (调休上班) are working days, every other
   day goes by the weekday;
2. the `chinesecalendar` package (it knows the years published before its release);
3. nothing: Monday–Friday. Such a year is "unknown" (`WorkingCalendar.known`), a warning is logged once
   per year, and the pages that show a working-day deadline say it is provisional (deadlines.py).

The schedule file (docs/examples/holidays-2026.yaml):

    year: 2027
    notice: 国务院办公厅关于2027年部分节假日安排的通知
    holidays:                       # days off, each range inclusive (weekends inside may be listed)
      - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
    working_days:                   # weekend days made working days, with the holiday they serve
      - {name: 元旦, date: 2027-01-04}
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]
import yaml
from django.db.models import Q
from django.utils import timezone

from fangpin.cases.models import OfficialDay

log = logging.getLogger(__name__)

# A notice may reach into the previous December: the 2012 notice made Saturday 2011-12-31 a working day.
EARLIEST_DAY_BEFORE_YEAR = (12, 25)
MAX_HOLIDAY_DAYS = 15  # the longest break so far is 9 days (春节 2026); a longer range is a typing error
FILE_KEYS = {"year", "notice", "holidays", "working_days"}

# The package's English holiday names → the names the notices use.
PACKAGE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

_warned_years: set[int] = set()  # "unknown year" is logged once per year per process


class CalendarError(ValueError):
    """A schedule file that cannot be loaded; the message lists every problem (Chinese / English)."""


@dataclass(frozen=True)
class Schedule:
    year: int
    notice: str
    days: dict[dt.date, tuple[str, str]]  # date → (OfficialDay.Kind, holiday name)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.days.values() if k == kind)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value  # YAML reads an unquoted 2027-01-01 as a date
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _name(value: Any) -> str:
    return value.strip() if isinstance(value, str) and 0 < len(value.strip()) <= 20 else ""


def parse_schedule(text: str) -> Schedule:
    """Validate a schedule file strictly; raise CalendarError naming every problem, or return it."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # YAML itself raises ValueError for 2027-02-30
        raise CalendarError(
            "节假日安排文件无法读取：YAML 格式或日期有误（日期应为 YYYY-MM-DD）/ "
            f"not valid YAML, or an impossible date (dates are YYYY-MM-DD): {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise CalendarError(
            "节假日安排文件应为键值结构 / the file must be a mapping (year, notice, holidays)"
        )
    problems: list[str] = []
    unknown = sorted(str(k) for k in set(data) - FILE_KEYS)
    if unknown:
        problems.append(f"未知字段 {', '.join(unknown)} / unknown keys")
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise CalendarError("year 应为年度，如 2027 / year must be a year such as 2027")
    notice = data.get("notice")
    if not isinstance(notice, str) or not notice.strip() or len(notice) > 200:
        problems.append("notice 应为通知文号或标题（1–200 字）/ notice: the notice's number or title")
    first_allowed = dt.date(year - 1, *EARLIEST_DAY_BEFORE_YEAR)

    def in_year(day: dt.date, where: str) -> bool:
        if first_allowed <= day <= dt.date(year, 12, 31):
            return True
        problems.append(f"{where}：{day} 不在 {year} 年度内 / {where}: {day} is not in {year}")
        return False

    days: dict[dt.date, tuple[str, str]] = {}
    holidays = data.get("holidays")
    if not isinstance(holidays, list) or not holidays:
        problems.append("holidays 应为放假区间列表 / holidays must be a list of ranges")
        holidays = []
    for i, entry in enumerate(holidays, 1):
        where = f"holidays 第{i}项"
        if not isinstance(entry, dict) or set(entry) != {"name", "from", "to"}:
            problems.append(f"{where} 应含 name, from, to / {where}: needs exactly name, from, to")
            continue
        name, start, end = _name(entry["name"]), _date(entry["from"]), _date(entry["to"])
        if not name:
            problems.append(f"{where}：name 应为 1–20 字 / {where}: name must be 1–20 characters")
        if start is None or end is None:
            problems.append(f"{where}：日期应为 YYYY-MM-DD / {where}: dates must be YYYY-MM-DD")
            continue
        if start > end:
            problems.append(f"{where}：开始晚于结束 / {where}: from {start} is after to {end}")
            continue
        if (end - start).days + 1 > MAX_HOLIDAY_DAYS:
            problems.append(
                f"{where}：超过 {MAX_HOLIDAY_DAYS} 天 / {where}: longer than {MAX_HOLIDAY_DAYS} days"
            )
            continue
        if not (in_year(start, where) and in_year(end, where)):
            continue
        day = start
        while day <= end:
            if day in days:
                problems.append(f"{where}：{day} 与其他放假区间重叠 / {where}: {day} overlaps another range")
            days[day] = (OfficialDay.Kind.HOLIDAY, name)
            day += dt.timedelta(days=1)
    working = data.get("working_days") or []
    if not isinstance(working, list):
        problems.append("working_days 应为列表 / working_days must be a list")
        working = []
    for i, entry in enumerate(working, 1):
        where = f"working_days 第{i}项"
        if not isinstance(entry, dict) or set(entry) != {"name", "date"}:
            problems.append(f"{where} 应含 name, date / {where}: needs exactly name, date")
            continue
        name, when = _name(entry["name"]), _date(entry["date"])
        if not name:
            problems.append(f"{where}：name 应为 1–20 字 / {where}: name must be 1–20 characters")
        if when is None:
            problems.append(f"{where}：日期应为 YYYY-MM-DD / {where}: date must be YYYY-MM-DD")
            continue
        if not in_year(when, where):
            continue
        if when.weekday() < 5:
            problems.append(
                f"{where}：{when} 不是周末，无需调休上班 / {where}: {when} is not a Saturday or Sunday"
            )
        if when in days:
            problems.append(f"{where}：{when} 已列为放假或重复 / {where}: {when} is already listed")
        days[when] = (OfficialDay.Kind.WORKING, name)
    if problems:
        raise CalendarError("节假日安排文件有误 / invalid holiday schedule:\n  " + "\n  ".join(problems))
    return Schedule(year, str(notice).strip(), dict(sorted(days.items())))


def replace_year(schedule: Schedule, *, entered_by: str) -> int:
    """Replace the rows of the schedule's year (call inside the loading action's transaction).
    Returns how many rows the year had before."""
    taken = (
        OfficialDay.objects.filter(date__in=list(schedule.days))
        .exclude(year=schedule.year)
        .values_list("date", "year")
    )
    clashes = [f"{d}（{y}年度安排）" for d, y in taken]
    if clashes:
        raise CalendarError(
            f"以下日期已属其他年度的安排 / these days belong to another year's schedule: {', '.join(clashes)}"
        )
    replaced, _ = OfficialDay.objects.filter(year=schedule.year).delete()
    now = timezone.now()
    OfficialDay.objects.bulk_create(
        OfficialDay(
            date=day,
            year=schedule.year,
            kind=kind,
            name=name,
            notice=schedule.notice,
            entered_by=entered_by[:150],
            entered_at=now,
        )
        for day, (kind, name) in schedule.days.items()
    )
    return replaced


def package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass
class _Year:
    entered: bool  # an administrator loaded this year's notice
    days: dict[dt.date, bool]  # listed days of this calendar year → working?


@dataclass
class WorkingCalendar:
    """Answers for one computation (a deadline, a recompute run): each year is read from the table once.
    Make a new one per request or run, so a schedule loaded meanwhile is seen."""

    _years: dict[int, _Year] = field(default_factory=dict)

    def _year(self, year: int) -> _Year:
        if year not in self._years:
            rows = OfficialDay.objects.filter(
                Q(year=year) | Q(date__gte=dt.date(year, 1, 1), date__lte=dt.date(year, 12, 31))
            ).values_list("date", "kind", "year")
            self._years[year] = _Year(
                entered=any(y == year for _, _, y in rows),
                days={d: k == OfficialDay.Kind.WORKING for d, k, _ in rows if d.year == year},
            )
        return self._years[year]

    def source(self, year: int) -> str:
        """ "table", "package" or "" (unknown: Monday–Friday)."""
        if self._year(year).entered:
            return "table"
        return "package" if package_knows(year) else ""

    def known(self, year: int) -> bool:
        return self.source(year) != ""

    def is_working_day(self, day: dt.date) -> bool:
        entered = self._year(day.year)
        if day in entered.days:
            return entered.days[day]
        if entered.entered:
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in _warned_years:
                _warned_years.add(day.year)
                log.warning(
                    "no holiday schedule for %s: working days are estimated as Monday–Friday "
                    "(enter the State Council's notice with `fangpin calendar load`)",
                    day.year,
                )
            return day.weekday() < 5


def package_schedule(year: int) -> dict[str, Any]:
    """The package's data for a year in the file format (how docs/examples/holidays-2026.yaml was made)."""
    holidays = sorted((d, n) for d, n in chinese_calendar.holidays.items() if d.year == year)
    ranges: list[dict[str, Any]] = []
    for day, name in holidays:
        zh = PACKAGE_NAMES.get(str(name), str(name))
        if ranges and ranges[-1]["name"] == zh and ranges[-1]["to"] == day - dt.timedelta(days=1):
            ranges[-1]["to"] = day
        else:
            ranges.append({"name": zh, "from": day, "to": day})
    working = [
        {"name": PACKAGE_NAMES.get(str(n), str(n)), "date": d}
        for d, n in sorted(chinese_calendar.workdays.items())
        if d.year == year and d.weekday() >= 5
    ]
    return {
        "year": year,
        "notice": f"国务院办公厅关于{year}年部分节假日安排的通知",
        "holidays": ranges,
        "working_days": working,
    }
