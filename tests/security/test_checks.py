"""The crawl's checks catch what they are for: each is shown an answer with the defect it looks for."""

from __future__ import annotations

from django.http import HttpResponse

from .crawl import Secrets, cookie_problems, echo_problems, form_problems, header_problems, masking_problems

SAFE = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _answer(**headers: str) -> HttpResponse:
    response = HttpResponse("<p>ok</p>")
    for name, value in {**SAFE, **headers}.items():
        if value:
            response[name] = value
    return response


def test_a_safe_answer_passes() -> None:
    assert header_problems(_answer(), signed_in=True) == []


def test_each_missing_or_weak_header_is_reported() -> None:
    assert header_problems(
        _answer(**{"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"}), signed_in=False
    )
    assert header_problems(_answer(**{"Content-Security-Policy": ""}), signed_in=False)
    assert header_problems(_answer(**{"X-Content-Type-Options": ""}), signed_in=False)
    assert header_problems(_answer(**{"Referrer-Policy": "unsafe-url"}), signed_in=False)
    assert header_problems(_answer(**{"Cache-Control": "private"}), signed_in=True)
    assert header_problems(_answer(Server="gunicorn/23.0"), signed_in=False)
    assert header_problems(_answer(), signed_in=False, https=True)  # no HSTS


def test_a_cookie_without_httponly_samesite_or_secure_is_reported() -> None:
    response = HttpResponse()
    response.set_cookie("sessionid", "x", samesite="Lax", httponly=True)
    assert cookie_problems(response) == []
    assert cookie_problems(response, https=True) == ["cookie sessionid not Secure under HTTPS"]
    response.set_cookie("csrftoken", "y")
    assert len(cookie_problems(response)) == 2


def test_a_post_form_without_a_token_is_reported() -> None:
    assert (
        form_problems('<form method="post" action="/x/"><input name="csrfmiddlewaretoken" value="t"></form>')
        == []
    )
    assert form_problems('<form method="POST" action="/x/"><input name="q"></form>')
    assert form_problems('<button hx-post="/x/">go</button>')


def test_a_full_id_name_or_phone_is_reported_and_masked_values_are_not() -> None:
    secrets = Secrets(frozenset({"360722196803020108"}), frozenset({"欧阳秋菊"}), frozenset({"13912345678"}))
    assert masking_problems("360722********0108 欧**菊 139****5678", secrets) == []
    assert masking_problems("身份证 360722196803020108", secrets)
    assert masking_problems("11010519491231002X", secrets)  # anyone's valid ID number
    assert masking_problems("户主 欧阳秋菊", secrets) and masking_problems("电话 13912345678", secrets)


def test_an_unescaped_echo_counts_in_html_only() -> None:
    html = HttpResponse("<script>alert('fp')</script>", content_type="text/html")
    as_json = HttpResponse("<script>alert('fp')</script>", content_type="application/json")
    assert echo_problems(html, html.content.decode()) and not echo_problems(as_json, as_json.content.decode())
