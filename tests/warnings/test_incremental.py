"""The incremental path (issue #5): one event pushed through the exchange API re-scores its household and
creates the warning at once."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from fangpin.exchange import actions as exchange_actions
from fangpin.warnings import screening
from fangpin.warnings.models import Lead, LeadSource


@pytest.fixture
def medical_token(world) -> str:
    from fangpin.accounts.models import User

    _, token = exchange_actions.create_token(
        department="medical_security", name="结算推送", actor=User.objects.get(username="zhou_secadmin")
    )
    return token


def push(token: str, dataset: str, body: object) -> object:
    return Client().post(
        f"/api/v1/exchange/events/{dataset}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_pushed_discharge_with_40000_self_pay_creates_a_lead_at_once(
    world, world_lake, medical_token, event, client_for
) -> None:
    person = world.persons["own"]
    # warm up once (the first push into a fresh lake trains the linkage model and parses the policy)
    push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(world.persons["sibling"].id_number, self_pay=500, n=9)]},
    )
    begin = time.perf_counter()
    response = push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(person.id_number, self_pay=40000)]},
    )
    elapsed = time.perf_counter() - begin
    assert response.status_code == 200, response.content
    assert response.json()["leads"] == 1
    lead = Lead.objects.get()
    assert lead.household == world.households["own"]
    assert (lead.channel, lead.kind, lead.status, lead.period) == ("department", "verify", "new", "2026-10")
    assert "01" in lead.risk_type_list()
    assert "MED-01" in lead.rules.split(";")
    assert "4.0万" in lead.reasons  # the rule's Chinese reason with the household's figure
    assert lead.portrait_snapshot["max_inpatient_self_pay_12m"] == 40000
    assert "ms_settlement" in lead.datasets
    assert LeadSource.objects.filter(lead=lead, department="medical_security").exists()
    assert lead.screening_run.trigger == "push"
    ranker = screening.active_ranker()
    assert lead.model_version == (ranker.version if ranker else "")
    if ranker is not None:  # the shipped model explains the warning in Chinese sentences, shown on the page
        assert lead.explanation
        page = client_for("zhang_township").get(f"/leads/{lead.pk}/").content.decode()
        assert lead.explanation.split("；")[0] in page and "模型解释" in page
    print(f"\nincremental push → lead: {elapsed * 1000:.0f} ms end to end (one event, test lake)")


def test_pushing_the_same_event_again_does_not_make_a_second_lead(
    world, world_lake, medical_token, event
) -> None:
    body = {"period": "2026-10", "rows": [event(world.persons["own"].id_number, self_pay=40000)]}
    push(medical_token, "ms_settlement", body)
    push(medical_token, "ms_settlement", body)
    assert Lead.objects.count() == 1


def test_a_small_self_pay_creates_no_lead(world, world_lake, medical_token, event) -> None:
    response = push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(world.persons["own"].id_number, self_pay=800)]},
    )
    assert response.status_code == 200
    assert response.json()["leads"] == 0
    assert not Lead.objects.exists()


def test_a_second_stay_updates_the_open_lead_instead_of_adding_one(
    world, world_lake, medical_token, event
) -> None:
    pid = world.persons["own"].id_number
    push(medical_token, "ms_settlement", {"period": "2026-10", "rows": [event(pid, self_pay=40000)]})
    push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(pid, self_pay=60000, n=2, day="2026-10-20")]},
    )
    lead = Lead.objects.get()
    assert lead.portrait_snapshot["max_inpatient_self_pay_12m"] == 60000
    assert lead.version == 2


def test_without_households_in_the_lake_the_push_still_succeeds(world, medical_token, event) -> None:
    response = push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(world.persons["own"].id_number, self_pay=40000)]},
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert not Lead.objects.exists()


def test_a_push_of_known_id_numbers_reads_only_those_persons_from_the_registry(
    world, world_lake, medical_token, event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At province scale the registry is 10 million persons: a push links by its own ID numbers."""
    # the first push trains and saves the linkage model (a fresh lake has none)
    push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(world.persons["sibling"].id_number, self_pay=500, n=9)]},
    )
    asked: list[object] = []
    whole = exchange_actions.registry_table

    def spy(id_numbers: object = None) -> object:
        asked.append(id_numbers)
        return whole(id_numbers)  # type: ignore[arg-type]

    monkeypatch.setattr(exchange_actions, "registry_table", spy)
    counted: list[object] = []
    state = exchange_actions._registry_state

    def count_spy() -> tuple[int, int]:
        counted.append(1)
        return state()

    monkeypatch.setattr(exchange_actions, "_registry_state", count_spy)
    own = world.persons["own"].id_number
    response = push(
        medical_token, "ms_settlement", {"period": "2026-10", "rows": [event(own, self_pay=40000)]}
    )
    assert response.status_code == 200 and response.json()["leads"] == 1
    assert asked and all(ids is not None for ids in asked) and own in asked[0]  # type: ignore[operator]
    assert not counted  # a province-wide count costs ~0.2 s at 10 million persons; known IDs don't need it
    assert Lead.objects.get().household == world.households["own"]
    # a valid ID the registry does not know goes to the probabilistic step, against the persons sharing a
    # blocking key with it (exchange.actions.candidate_registry), still not the whole registry
    import datetime as dt

    from fangpin.lib import idcard

    stranger = idcard.make("360722", dt.date(1990, 1, 1), 437, male=True)
    asked.clear()
    push(
        medical_token,
        "ms_settlement",
        {"period": "2026-10", "rows": [event(stranger, self_pay=100, n=3)]},
    )
    assert asked and None not in asked
    assert counted  # the probabilistic step's prior spreads over the whole registry: its size is counted
