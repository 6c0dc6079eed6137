"""Resident identity numbers (公民身份号码, GB 11643-1999): check character, birth date, sex.

Django-free: used by the registry forms, the exchange validator and the simulator alike.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

# ISO 7064 MOD 11-2 weights for positions 1..17 and the check characters for remainders 0..10.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class IdProblem(StrEnum):
    """Why an ID number is not valid; values are the reason codes used in reports."""

    MISSING = "id_missing"
    SHAPE = "id_shape"
    BIRTH_DATE = "id_birth_date"
    CHECK_CHAR = "id_check_char"
    EXCEL_MANGLED = "id_excel_mangled"


PROBLEM_MESSAGES_ZH: dict[IdProblem, str] = {
    IdProblem.MISSING: "身份号码为空",
    IdProblem.SHAPE: "身份号码应为18位（前17位数字，末位数字或X）",
    IdProblem.BIRTH_DATE: "身份号码中的出生日期无效",
    IdProblem.CHECK_CHAR: "身份号码校验码错误",
    IdProblem.EXCEL_MANGLED: "身份号码被Excel改写（科学计数法或末三位变为000），无法还原",
}


def check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("check_char needs exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalize(raw: str | None) -> str:
    """Trim, upper-case the x, drop a leading apostrophe Excel users type to force text."""
    if raw is None:
        return ""
    return str(raw).strip().lstrip("'").replace("x", "X")


def looks_excel_mangled(raw: str) -> bool:
    """Excel turns an 18-digit number into 3.60722E+17 or keeps 15 significant digits (…000)."""
    value = normalize(raw)
    if re.fullmatch(r"\d(\.\d+)?E\+\d+", value, flags=re.IGNORECASE):
        return True
    return bool(re.fullmatch(r"\d{15}000", value)) and check_char(value[:17]) != value[17]


def birth_date_of(id_number: str) -> dt.date | None:
    try:
        return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def problem(raw: str | None, today: dt.date | None = None) -> IdProblem | None:
    """None if the ID is valid, else the first problem found (the order is stable for reports)."""
    value = normalize(raw)
    if not value:
        return IdProblem.MISSING
    if looks_excel_mangled(value):
        return IdProblem.EXCEL_MANGLED
    if not _SHAPE.match(value):
        return IdProblem.SHAPE
    born = birth_date_of(value)
    limit = today or dt.date.today()  # noqa: DTZ011 - a calendar date, the zone does not matter here
    if born is None or born.year < 1900 or born > limit:
        return IdProblem.BIRTH_DATE
    if check_char(value[:17]) != value[17]:
        return IdProblem.CHECK_CHAR
    return None


def is_valid(raw: str | None) -> bool:
    return problem(raw) is None


@dataclass(frozen=True)
class IdFacts:
    area_code: str
    birth_date: dt.date
    gender: str  # "1" male, "2" female, as in the police dataset

    @property
    def gender_zh(self) -> str:
        return "男" if self.gender == "1" else "女"


def facts(id_number: str, today: dt.date | None = None) -> IdFacts:
    """What a valid ID number says about its holder. Raises ValueError if invalid (`today` as in problem)."""
    found = problem(id_number, today)
    if found is not None:
        raise ValueError(PROBLEM_MESSAGES_ZH[found])
    value = normalize(id_number)
    born = birth_date_of(value)
    assert born is not None
    return IdFacts(area_code=value[:6], birth_date=born, gender="1" if int(value[16]) % 2 else "2")


def with_wrong_check_char(id_number: str, offset: int = 0) -> str:
    """The same ID with a wrong check character, one the validator reports as id_check_char.

    offset (0..9) picks which wrong character; one that would make the ID end in 000 (the shape Excel
    leaves, reported as id_excel_mangled) is skipped.
    """
    right = CHECK_CHARS.index(id_number[17])
    for step in range(1 + offset, 1 + offset + 11):
        wrong = CHECK_CHARS[(right + step) % 11]
        if wrong != id_number[17] and not looks_excel_mangled(id_number[:17] + wrong):
            return id_number[:17] + wrong
    raise AssertionError("unreachable: ten wrong characters, at most one of them looks mangled")


def make(area_code: str, birth_date: dt.date, sequence: int, male: bool) -> str:
    """Build a valid ID: 6-digit area, YYYYMMDD, 3-digit sequence whose parity is the sex, check char."""
    if not 0 <= sequence <= 499:
        raise ValueError("sequence must be 0..499 (it is doubled and the sex digit added)")
    seq = sequence * 2 + (1 if male else 0)
    first17 = f"{area_code}{birth_date:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)
