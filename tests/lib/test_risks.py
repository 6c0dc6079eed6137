"""Risk types and monitoring categories: one list (lib/risks.py) that the policy, the forms and the roster share."""

from __future__ import annotations

import pytest

from fangpin.lib.risks import CATEGORIES, MAX_RISK_TYPES, RISK_TYPES
from fangpin.pipeline.policy import PolicyError, load_policy, parse_policy


def test_the_code_list_is_the_one_policy_md_names() -> None:
    assert list(RISK_TYPES) == ["01", "02", "03", "04", "05", "06", "07", "09", "99"]
    assert RISK_TYPES["01"] == "因病" and RISK_TYPES["09"] == "因学"
    assert MAX_RISK_TYPES == 5
    assert list(CATEGORIES.values()) == ["脱贫不稳定户", "边缘易致贫户", "突发严重困难户"]


def test_a_policy_rule_must_name_a_known_risk_type() -> None:
    source = load_policy().source.replace('risk_type: "01"', 'risk_type: "08"', 1)
    assert source != load_policy().source
    with pytest.raises(PolicyError, match="risk_type '08' is not one of 01, 02"):
        parse_policy(source)


@pytest.mark.django_db
def test_the_roster_and_the_forms_offer_the_same_codes() -> None:
    from fangpin.assistance.forms import MeasureTypeForm
    from fangpin.assistance.roster import COLUMNS
    from fangpin.warnings.forms import RISK_CHOICES

    assert [key for _, key in COLUMNS if key.startswith("risk_")] == [f"risk_{i}" for i in range(1, 6)]
    assert [code for code, _ in RISK_CHOICES] == list(RISK_TYPES)
    assert [code for code, _ in MeasureTypeForm().fields["risk_types"].choices] == list(RISK_TYPES)
