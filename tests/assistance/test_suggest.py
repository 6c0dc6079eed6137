"""The suggestion ranking on its own (no database): which toolbox measures suit which household."""

from __future__ import annotations

from fangpin.assistance.actions import load_toolbox
from fangpin.assistance.suggest import Entry, Situation, new_risk_types, suggest, unmet_needs

TOOLBOX = [
    Entry(
        code=e["code"],
        name=e["name"],
        category=e["category"],
        risk_types=tuple(t for t in e["risk_types"].split(";") if t),
        categories=tuple(c for c in e["categories"].split(";") if c),
        labour=e["labour"],
        priority=e["priority"],
    )
    for e in load_toolbox()
]


def codes(situation: Situation, limit: int = 8) -> list[str]:
    return [s.code for s in suggest(TOOLBOX, situation, limit)]


def test_an_illness_household_gets_medical_and_social_help_not_schooling_or_credit() -> None:
    found = codes(Situation(risk_types=("01",), able_members=1))
    assert found[0] == "BZ-01"  # 低保 suits 因病 and its priority is highest among equals
    assert "YL-01" in found and "YL-02" in found
    assert not {"JZ-01", "XD-01", "ZF-01"} & set(found)


def test_a_household_without_labour_gets_bottom_line_protection_and_no_development_measures() -> None:
    found = codes(Situation(risk_types=("04",), able_members=0))
    assert found[0] == "BZ-02"  # 特困供养 first: it is for households that cannot work
    assert "GY-01" not in found and "JY-02" not in found  # public-welfare posts need someone able to work


def test_development_measures_come_for_those_who_can_work() -> None:
    found = codes(Situation(risk_types=("07",), able_members=2))
    assert {"JY-01", "JY-02", "JY-03", "GY-01", "XD-01"} <= set(found)
    assert "BZ-02" not in found


def test_an_unmet_housing_need_brings_housing_even_without_a_matching_risk_type() -> None:
    found = codes(Situation(risk_types=("07",), able_members=1, unmet=frozenset({"housing"})))
    assert found[0] == "ZF-01"
    suggestion = suggest(TOOLBOX, Situation(risk_types=(), unmet=frozenset({"housing"})))[0]
    assert "住房" in suggestion.reason


def test_measures_already_open_in_the_plan_are_not_suggested_again() -> None:
    found = codes(Situation(risk_types=("09",), existing=frozenset({"JZ-01"})))
    assert found == ["JZ-02"]


def test_a_measure_for_other_monitoring_categories_is_left_out() -> None:
    only_sudden = [Entry(code="X", name="x", category="other", risk_types=("05",), categories=("sudden",))]
    assert suggest(only_sudden, Situation(risk_types=("05",), category="marginal")) == []
    assert [s.code for s in suggest(only_sudden, Situation(risk_types=("05",), category="sudden"))] == ["X"]


def test_the_ranking_is_deterministic_and_matches_more_risks_first() -> None:
    situation = Situation(risk_types=("01", "05"), able_members=1)
    assert codes(situation) == codes(situation)
    ranked = suggest(TOOLBOX, situation)
    assert ranked[0].code in {"YL-01", "BX-01", "BZ-01", "BZ-03"}  # each matches both risks
    assert ranked[0].score == 22.0  # 12 for the main risk type, 10 for the second
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)


def test_unmet_needs_and_new_risk_types() -> None:
    assert unmet_needs({"housing_ok": False, "water_ok": True, "medical_ok": False}) == {"housing", "medical"}
    assert unmet_needs({}) == frozenset()
    assert new_risk_types(["01"], ["01", "07", "07"]) == ("07",)


def test_the_catch_all_risk_type_weighs_little_and_relocation_is_never_suggested() -> None:
    ranked = suggest(TOOLBOX, Situation(risk_types=("01", "07", "99"), able_members=1))
    codes = [s.code for s in ranked]
    assert "BQ-01" not in codes
    assert {"BZ-01", "YL-01"} <= set(codes[:4])  # the main risk (illness) is answered near the top
    social = next(s for s in ranked if s.code == "SH-01") if "SH-01" in codes else None
    assert social is None or social.score == 3.0
