"""#14: every operation of the JSON API, read from its own OpenAPI schema, fed hostile path and query
parameters, invalid JSON and bodies of the wrong types: 4xx with a JSON answer, never 5xx, never HTML."""

from __future__ import annotations

import json
import re
from typing import Any

from django.test import Client
from django.urls import reverse

from .crawl import API_KINDS, HOSTILE, SHORT_HOSTILE, Site, route_of

INVALID_JSON = [
    "{",
    '{"version": 1,',
    "\x00",
    '{"version": NaN}',
    "1e999999",
    "[" * 100_000 + "]" * 100_000,  # nesting deep enough to exhaust a recursive parser
    '{"a": "' + "x" * 1_000_000 + '"}',
    '"\\ud800"',
    "[]",
    "null",
]
WRONG_TYPES: list[Any] = [-1, 10**30, 1e308, True, None, [], {}, [[["x"]]], {"$gt": ""}, *HOSTILE]


def _schema_of(ref: dict[str, Any] | None, components: dict[str, Any]) -> dict[str, Any]:
    if not ref:
        return {}
    if "$ref" in ref:
        return dict(components[ref["$ref"].rsplit("/", 1)[-1]])
    return ref


def _operations(client: Client) -> list[dict[str, Any]]:
    schema = client.get(reverse("api:openapi-json")).json()
    components = schema.get("components", {}).get("schemas", {})
    found = []
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            found.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "path_params": [p["name"] for p in op.get("parameters", []) if p["in"] == "path"],
                    "query_params": [p["name"] for p in op.get("parameters", []) if p["in"] == "query"],
                    "fields": list(_schema_of(body, components).get("properties", {})),
                    "has_body": body is not None,
                }
            )
    return found


def _department_token(site: Site) -> str:
    """Issued through the security administrator's page, as a department would receive it."""
    admin = Client()
    admin.force_login(site.world.users["zhou_secadmin"])
    page = admin.post(reverse("exchange:token_list"), {"name": "安全测试", "department": "medical_security"})
    token = re.search(r"fp_[A-Za-z0-9_-]{20,}", page.content.decode())
    assert token, "the new token is shown once"
    return token.group(0)


def _real_path(site: Site, op: dict[str, Any]) -> str:
    """The operation's path with its parameters filled by objects the persona may see."""
    path = op["path"]
    probe = path
    for name in op["path_params"]:
        probe = probe.replace("{" + name + "}", "1")
    route = route_of(probe)
    kind = API_KINDS.get(route or "", ("", ""))[0]
    user = site.world.users["zhang_township"]
    values = {"action": "reject", "dataset": "ms_settlement", "prefix": "360722100"}
    for name in op["path_params"]:
        value = values.get(name) or (site.object_for(kind, user).pk if kind else 1)
        path = path.replace("{" + name + "}", str(value))
    return path


def test_every_api_operation_answers_hostile_requests_with_4xx_json(site: Site) -> None:
    staff = Client()
    staff.force_login(site.world.users["zhang_township"])
    bearer = {"Authorization": f"Bearer {_department_token(site)}"}
    operations = _operations(staff)
    problems: list[str] = []
    sent = 0

    def send(op: dict[str, Any], path: str, *, query: Any = None, raw: str | None = None) -> None:
        nonlocal sent
        headers = bearer if "/exchange/" in op["path"] else {}
        if op["method"] == "GET":
            response = staff.get(path, query or {}, headers=headers)
        else:
            response = staff.generic(
                op["method"],
                path,
                (raw or "").encode("utf-8", "surrogatepass"),
                "application/json",
                headers=headers,
            )
        sent += 1
        kind = response.get("Content-Type", "")
        shown = (raw or json.dumps(query, ensure_ascii=False, default=str))[:80]
        if response.status_code >= 500:
            problems.append(f"{op['method']} {path[:100]} {shown!r}: status {response.status_code}")
        elif response.status_code >= 400 and "json" not in kind and route_of(path) is not None:
            # (a path no route matches gets the site's 404 page, before the API is reached)
            problems.append(
                f"{op['method']} {path[:100]} {shown!r}: {response.status_code} answered as {kind}"
            )

    for op in operations:
        good = _real_path(site, op)
        for name in op["path_params"]:
            for value in SHORT_HOSTILE + ["-1", "9" * 25]:
                if value:
                    bad = op["path"].replace("{" + name + "}", re.sub(r"[/?#%]", "_", value))
                    for other in op["path_params"]:
                        bad = bad.replace("{" + other + "}", "1")
                    send(op, bad, raw="{}")
        for value in SHORT_HOSTILE:
            send(op, good, query={q: value for q in op["query_params"]}, raw="{}")
        if op["has_body"]:
            for raw in INVALID_JSON:
                send(op, good, raw=raw)
            for value in WRONG_TYPES:
                send(op, good, raw=json.dumps({f: value for f in op["fields"]}))
    assert len(operations) >= 15 and sent > 500
    assert not problems, "\n".join(problems)


def test_the_push_endpoint_refuses_hostile_requests_without_a_token_before_reading_them(site: Site) -> None:
    url = reverse("api:push_events", kwargs={"dataset": "ms_settlement"})
    response = Client().generic("POST", url, ("[" * 100_000).encode(), "application/json")
    assert response.status_code == 401
