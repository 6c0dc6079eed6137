from __future__ import annotations

import datetime as dt

import pytest

from fangpin.lib import idcard
from fangpin.lib.idcard import IdProblem

VALID = "11010519491231002X"  # the GB 11643 standard's own example


def test_it_accepts_the_standard_example() -> None:
    assert idcard.problem(VALID) is None
    facts = idcard.facts(VALID)
    assert facts.birth_date == dt.date(1949, 12, 31)
    assert facts.gender == "2"


def test_it_accepts_a_lower_case_x_and_surrounding_blanks() -> None:
    assert idcard.problem(" 11010519491231002x ") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", IdProblem.MISSING),
        (None, IdProblem.MISSING),
        ("110105194912310021", IdProblem.CHECK_CHAR),
        ("11010519491331002X", IdProblem.BIRTH_DATE),
        ("1101051949123100", IdProblem.SHAPE),
        ("3.60722E+17", IdProblem.EXCEL_MANGLED),
        ("360722198505151000", IdProblem.EXCEL_MANGLED),
    ],
)
def test_it_names_the_problem(raw: str | None, expected: IdProblem) -> None:
    assert idcard.problem(raw) == expected


def test_it_accepts_a_real_id_that_happens_to_end_in_000() -> None:
    first17 = next(
        f"36072219850515{seq:03d}"
        for seq in range(1000)
        if idcard.check_char(f"36072219850515{seq:03d}") == "0" and f"{seq:03d}".endswith("00")
    )
    assert idcard.problem(first17 + "0") is None


def test_it_rejects_a_birth_date_in_the_future() -> None:
    future = idcard.make("360722", dt.date(2030, 1, 1), 5, True)
    assert idcard.problem(future, today=dt.date(2026, 11, 29)) == IdProblem.BIRTH_DATE


@pytest.mark.parametrize("sequence", [0, 1, 17, 250, 499])
@pytest.mark.parametrize("male", [True, False])
def test_it_makes_valid_ids_whose_sex_digit_is_right(sequence: int, male: bool) -> None:
    made = idcard.make("360722", dt.date(1990, 2, 28), sequence, male)
    assert idcard.problem(made) is None
    assert idcard.facts(made).gender == ("1" if male else "2")


def test_every_single_digit_change_breaks_the_check_character() -> None:
    made = idcard.make("360722", dt.date(1985, 6, 15), 42, True)
    for position in range(17):
        for digit in "0123456789":
            if digit == made[position]:
                continue
            changed = made[:position] + digit + made[position + 1 :]
            assert idcard.problem(changed) is not None, changed


@pytest.mark.parametrize("sequence", [1, 50, 100, 150, 499])
@pytest.mark.parametrize("male", [True, False])
def test_a_wrong_check_character_is_always_reported_as_one_never_as_excel_mangling(
    sequence: int, male: bool
) -> None:
    # sequence 50, female, gives …100x: a wrong "0" there would read as Excel's …000
    valid = idcard.make("360722", dt.date(1980, 5, 17), sequence, male)
    for offset in range(10):
        wrong = idcard.with_wrong_check_char(valid, offset)
        assert wrong[:17] == valid[:17] and wrong != valid
        assert idcard.problem(wrong, dt.date(2026, 1, 1)) is IdProblem.CHECK_CHAR
