"""Each case decision carries an HMAC keyed outside the database (SECURITY.md CRY-03): a decision row
altered with SQL is named by `fangpin audit verify` and marked on the case page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection

from fangpin import cli
from fangpin.cases import integrity
from fangpin.cases.models import CaseStep


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["audit", "verify"])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_step_of_a_case_is_sealed_and_verifies(walk, capsys) -> None:
    case = walk("announced")
    steps = list(case.steps.all())
    assert len(steps) == 7 and all(s.seal.startswith("m1:") for s in steps)
    assert integrity.broken(steps) == set()
    code, out, _ = verify(capsys)
    assert code == 0 and "办理记录签章完整" in out


def test_an_approvers_name_swapped_with_raw_sql_is_named_and_marked_on_the_page(
    walk, world, client_for, capsys
) -> None:
    case = walk("announced")
    approval = case.steps.get(action="county_approve")
    # someone with database access makes the approval look like another approver's
    sql(
        "UPDATE cases_casestep SET actor_id = %s WHERE id = %s", world.users["huang_county_c"].pk, approval.pk
    )
    code, out, err = verify(capsys)
    assert code == 1 and f"办理记录 #{approval.pk}（案件 #{case.pk}，county_approve" in err
    assert "签章校验失败" in err and err.count("签章校验失败") == 1
    page = client_for("zhang_township").get(f"/cases/{case.pk}/")
    assert page.context["unsealed"] == {approval.pk}
    assert page.content.decode().count('data-testid="seal-broken"') == 1


def test_a_rejection_rewritten_as_an_approval_is_found(walk, capsys) -> None:
    case = walk("township_review")
    review = case.steps.get(action="end_publicity")
    data = json.dumps({**review.data, "note": "同意，无异议"}, ensure_ascii=False)
    sql("UPDATE cases_casestep SET data = %s WHERE id = %s", data, review.pk)
    sql(
        "UPDATE cases_casestep SET to_state = 'monitored' WHERE action = 'village_review' AND case_id = %s",
        case.pk,
    )
    broken = [s.pk for s in integrity.broken_steps()]
    assert broken == sorted([review.pk, case.steps.get(action="village_review").pk])
    assert verify(capsys)[0] == 1


def test_a_seal_copied_from_another_step_does_not_make_a_forged_row_pass(walk) -> None:
    case = walk("publicity")
    first, second = case.steps.order_by("id")[:2]
    sql("UPDATE cases_casestep SET seal = %s WHERE id = %s", first.seal, second.pk)
    assert integrity.broken(CaseStep.objects.filter(case=case)) == {second.pk}


def test_the_seal_is_written_by_every_path_that_records_a_step(walk, world) -> None:
    from fangpin.cases import actions

    case = walk("verifying")
    actions.reassign(
        case,
        actor=world.users["zhang_township"],
        assignee=world.users["xiao_grid"],
        expected_version=case.version,
    )
    assert {s.action for s in case.steps.all()} >= {"open", "reassign"}
    assert integrity.broken(case.steps.all()) == set()
