from __future__ import annotations

import datetime as dt

from django.utils import timezone

from fangpin.assistance import demo
from fangpin.assistance.models import AssistancePlan, FollowUpVisit, Measure
from fangpin.cases.models import Case


def test_the_demo_gives_every_monitored_household_a_plan_once(world, monitored) -> None:
    own = monitored("own", risk_types="01;09", able_members=1)
    own.monitored_at = timezone.now() - dt.timedelta(days=120)
    own.save()
    sibling = monitored("sibling", risk_types="07", able_members=2)
    now = timezone.now()
    Case.objects.create(  # eliminated since: it keeps its plan in the record
        kind="elimination",
        household=sibling.household,
        village_id=sibling.village_id,
        identification=sibling,
        state="eliminated",
        found_at=now,
        opened_at=now,
        deadline_at=now,
        decided_at=now,
    )
    monitored("other")  # another county
    made = demo.populate("360722", seed=3)
    assert made["toolbox"] == 22 and made["plans"] == 2
    assert set(AssistancePlan.objects.values_list("case_id", flat=True)) == {own.pk, sibling.pk}
    own_plan = AssistancePlan.objects.get(case=own)
    codes = set(Measure.objects.filter(plan=own_plan).values_list("measure_type__code", flat=True))
    assert len(codes) == 3 and codes & {"YL-01", "BZ-01", "JZ-01", "YL-02", "BX-01"}
    assert FollowUpVisit.objects.filter(plan=own_plan).count() == 3  # monthly since monitoring
    assert made["measures"] == Measure.objects.count() and made["visits"] == FollowUpVisit.objects.count()
    assert demo.populate("360722", seed=3)["plans"] == 0
