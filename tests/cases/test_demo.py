"""The demo's cases: every state, some overdue, all made through the actions."""

from __future__ import annotations

import datetime as dt

import pytest

from conftest import VILLAGE_A, VILLAGE_B, make_household
from fangpin.cases import demo
from fangpin.cases.models import Case, CaseStep
from fangpin.cases.transitions import State
from fangpin.warnings.models import Lead

pytestmark = pytest.mark.django_db


def test_the_demo_has_cases_in_every_state_and_some_overdue(world, audit_rows) -> None:
    for i in range(len(demo.PLAN)):
        village = VILLAGE_A if i % 3 else VILLAGE_B
        household = make_household(
            f"{village}9{i:03d}", village, [(f"测试{i}", "01", dt.date(1970, 1, 1), True)]
        )
        Lead.objects.create(
            household=household,
            village_id=village,
            channel="department",
            period="2026-10",
            risk_types="01;07",
            category="marginal",
            score=1 - i / 100,
            portrait_snapshot={"wage_income_12m": 5000, "medical_self_pay_12m": 12000},
        )
    made = demo.populate("360722", focus_village=VILLAGE_A)
    states = set(Case.objects.values_list("state", flat=True))
    assert states >= {str(s) for s in State} - {"comparing"}  # comparing passes automatically
    assert made["monitored"] >= 3 and made["verifying(绿色通道)"] == 1
    assert demo.overdue_count("360722") >= 3
    # made through the actions: every case has its trail and audit rows
    assert all(CaseStep.objects.filter(case=c).exists() for c in Case.objects.all())
    assert len(audit_rows("CASE_OPENED")) == Case.objects.count()
    from fangpin.notifications.models import Notification

    assert Notification.objects.filter(verb="case_overdue").exists()
    # the demo village's grid worker has tasks
    assert Case.objects.filter(assignee=world.users["xiao_grid"], state="verifying").exists()
