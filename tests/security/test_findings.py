"""What the crawl found (#14), each replayed as the attack it was. On PostgreSQL the first two ended in an
error page (500): it cannot store or compare a NUL, nor a name longer than its column."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import VILLAGE_A


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("GET", "/regions/3607%00/", {}),
        ("GET", "/households/", {"village": "36\x00"}),
        ("POST", f"/regions/{VILLAGE_A}/grids/", {"name": "网格\x00一"}),
    ],
    ids=["path", "query", "form"],
)
def test_a_nul_anywhere_in_a_request_is_refused_with_400(
    client_for: Any, audit_rows: Any, method: str, url: str, data: dict[str, str]
) -> None:
    client = client_for("liu_cadre")
    response = client.post(url, data) if method == "POST" else client.get(url, data)
    assert response.status_code == 400
    assert "空字符" in response.content.decode()
    assert response["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in response
    assert not audit_rows("GRID_CREATED")


def test_a_nul_escaped_in_json_is_refused_but_an_escaped_backslash_is_text(client_for: Any) -> None:
    client = client_for("zhang_township")
    forged = client.post(
        "/api/v1/cases/open", '{"lead_id": 1, "note": "a\\u0000b"}', content_type="application/json"
    )
    literal = client.post(
        "/api/v1/cases/open", '{"lead_id": 1, "note": "a\\\\u0000b"}', content_type="application/json"
    )
    assert forged.status_code == 400 and "空字符" in forged.json()["detail"]
    assert literal.status_code != 400 or "空字符" not in literal.content.decode()


@pytest.mark.parametrize(
    ("name", "message"),
    [("水东\u202e一组", "控制字符"), ("一组\n二组", "控制字符"), ("组" * 101, "不能超过100个字")],
    ids=["right-to-left-override", "line-break", "longer-than-the-column"],
)
def test_a_grid_name_that_hides_characters_or_overflows_is_refused_with_a_message(
    client_for: Any, audit_rows: Any, name: str, message: str
) -> None:
    from fangpin.regions.models import Region

    client = client_for("liu_cadre")
    response = client.post(f"/regions/{VILLAGE_A}/grids/", {"name": name}, follow=True)
    assert message in response.content.decode()
    assert not Region.objects.filter(parent_id=VILLAGE_A).exists() and not audit_rows("GRID_CREATED")


def test_a_plain_grid_name_of_the_full_length_is_kept(client_for: Any) -> None:
    from fangpin.regions.models import Region

    client_for("liu_cadre").post(f"/regions/{VILLAGE_A}/grids/", {"name": "组" * 100})
    assert Region.objects.get(parent_id=VILLAGE_A).name == "组" * 100
