"""Household search and file, masking and reveal (SECURITY.md AC-02, PI-03, PI-05, AUD-01)."""

from __future__ import annotations

import re

import pytest

FULL_ID = re.compile(r"\d{17}[\dX]")


def test_a_township_reviewer_lists_only_own_township_households(world, client_for) -> None:
    response = client_for("zhang_township").get("/households/")
    body = response.content.decode()
    assert world.households["own"].household_no in body
    assert world.households["sibling"].household_no not in body
    assert world.households["other"].household_no not in body


def test_a_county_approver_sees_both_townships_but_not_the_other_county(world, client_for) -> None:
    body = client_for("wang_county").get("/households/").content.decode()
    assert world.households["own"].household_no in body and world.households["sibling"].household_no in body
    assert world.households["other"].household_no not in body


def test_it_finds_a_household_by_name_id_number_or_household_number(world, client_for, audit_rows) -> None:
    client = client_for("zhang_township")
    own = world.households["own"]
    for query in ("肖凤香", world.persons["own"].id_number, own.household_no):
        body = client.post("/households/search/", {"q": query}).content.decode()
        assert own.household_no in body, query
    kinds = [row.data["kind"] for row in audit_rows("SEARCH", actor_username="zhang_township")]
    assert kinds == ["name", "id_number", "household_no"]
    assert all(world.persons["own"].id_number not in str(row.data) for row in audit_rows("SEARCH"))


def test_search_never_finds_out_of_scope_households(world, client_for) -> None:
    body = client_for("zhang_township").post("/households/search/", {"q": "谢春兰"}).content.decode()
    assert world.households["other"].household_no not in body


def test_search_refuses_get_so_no_personal_information_lands_in_a_url(world, client_for) -> None:
    assert client_for("zhang_township").get("/households/search/", {"q": "肖凤香"}).status_code == 405


def test_the_search_answers_htmx_with_a_fragment(world, client_for) -> None:
    response = client_for("zhang_township").post(
        "/households/search/", {"q": "肖凤香"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "<html" not in response.content.decode()


def test_the_household_file_masks_names_and_id_numbers(world, client_for, audit_rows) -> None:
    own = world.households["own"]
    response = client_for("zhang_township").get(f"/households/{own.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "肖*香" in body and "肖凤香" not in body
    assert not FULL_ID.search(body)
    assert response["Cache-Control"] == "no-store"
    assert len(audit_rows("HOUSEHOLD_VIEWED", object_id=str(own.pk))) == 1


def test_an_out_of_scope_household_is_not_found_and_the_attempt_is_audited(
    world, client_for, audit_rows
) -> None:
    other = world.households["sibling"]
    response = client_for("zhang_township").get(f"/households/{other.pk}/")
    assert response.status_code == 404
    denied = audit_rows("ACCESS_DENIED", actor_username="zhang_township", object_type="household")
    assert [row.object_id for row in denied] == [str(other.pk)]


def test_a_reviewer_reveals_an_id_number_with_a_reason_and_it_is_audited(
    world, client_for, audit_rows
) -> None:
    person = world.persons["own"]
    response = client_for("zhang_township").post(
        f"/persons/{person.pk}/reveal/",
        {"field": "id_number", "purpose": "verification", "reason": "入户核实需核对身份"},
    )
    assert response.status_code == 200 and person.id_number in response.content.decode()
    rows = audit_rows("PI_REVEAL", actor_username="zhang_township")
    assert (
        len(rows) == 1
        and rows[0].reason == "入户核实需核对身份"
        and rows[0].data
        == {"field": "id_number", "purpose": "verification", "purpose_note": "入户核实需核对身份"}
    )


def test_reveal_without_a_reason_is_refused(world, client_for, audit_rows) -> None:
    person = world.persons["own"]
    response = client_for("zhang_township").post(
        f"/persons/{person.pk}/reveal/", {"field": "id_number", "purpose": "verification", "reason": ""}
    )
    assert response.status_code == 400 and person.id_number not in response.content.decode()
    assert not audit_rows("PI_REVEAL")


@pytest.mark.parametrize("persona", ["xiao_grid", "liu_cadre", "chen_analyst"])
def test_roles_without_the_right_cannot_reveal(world, client_for, persona: str) -> None:
    person = world.persons["own"]
    response = client_for(persona).post(
        f"/persons/{person.pk}/reveal/", {"field": "id_number", "purpose": "other", "reason": "想看看而已"}
    )
    assert response.status_code == 403


def test_reveal_of_an_out_of_scope_person_is_not_found(world, client_for) -> None:
    person = world.persons["other"]
    response = client_for("wang_county").post(
        f"/persons/{person.pk}/reveal/",
        {"field": "name", "purpose": "verification", "reason": "核对身份信息"},
    )
    assert response.status_code == 404


def test_names_are_escaped(world, client_for) -> None:
    from fangpin.registry.models import Person

    Person.objects.filter(pk=world.persons["own"].pk).update(name="<script>x</script>")
    body = client_for("zhang_township").get(f"/households/{world.households['own'].pk}/").content.decode()
    assert "<script>x" not in body
