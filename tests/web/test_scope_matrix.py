"""The generated authorisation matrix (SECURITY.md AC-01, AC-02): every URL × every persona × an object in
the persona's own place, in the sibling township and in the other county.

A new URL must be described in SPECS below, or this test fails: nothing ships unchecked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from conftest import PERSONAS, VILLAGE_A, VILLAGE_B, VILLAGE_C
from fangpin.audit.models import AuditEvent


@dataclass(frozen=True)
class Spec:
    method: str = "GET"
    kind: str | None = None  # the object the URL is about: household, person, region, user
    public: bool = False
    data: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)


SPECS: dict[str, Spec] = {
    "web:home": Spec(),
    "web:healthz": Spec(public=True),
    "accounts:login": Spec(public=True),
    "accounts:totp": Spec(public=True),
    "accounts:totp_setup": Spec(public=True),
    "accounts:logout": Spec(method="POST", public=True),
    "accounts:password_change": Spec(),
    "accounts:user_list": Spec(),
    "accounts:user_create": Spec(),
    "accounts:user_detail": Spec(kind="user"),
    "accounts:user_action": Spec(method="POST", kind="user", extra={"action": "unlock"}),
    "regions:region_home": Spec(),
    "regions:region_detail": Spec(kind="region"),
    "regions:grid_create": Spec(method="POST", kind="region", data={"name": "矩阵测试网格"}),
    "regions:grid_rename": Spec(method="POST", kind="region", data={"name": "矩阵测试"}),
    "registry:household_list": Spec(),
    "registry:household_search": Spec(method="POST", data={"q": "肖凤香"}),
    "registry:household_detail": Spec(kind="household"),
    "registry:person_reveal": Spec(
        method="POST",
        kind="person",
        data={"field": "name", "purpose": "verification", "reason": "矩阵测试核对"},
    ),
    "assistance:plan_list": Spec(),
    "assistance:toolbox": Spec(),
    "assistance:toolbox_seed": Spec(method="POST"),
    "assistance:measure_type_create": Spec(),
    "assistance:measure_type_edit": Spec(kind="measure_type"),
    "assistance:plan_start": Spec(method="POST", kind="case"),
    "assistance:plan_detail": Spec(kind="plan"),
    "assistance:measure_add": Spec(method="POST", kind="plan"),
    "assistance:visit_add": Spec(method="POST", kind="plan"),
    "assistance:plan_adjust": Spec(method="POST", kind="plan"),
    "assistance:measure_update": Spec(method="POST", kind="measure"),
    "assistance:roster": Spec(),
    "assistance:roster_export": Spec(method="POST"),
    "assistance:roster_export_detail": Spec(kind="roster_export"),
    "assistance:roster_download": Spec(kind="roster_export"),
    "assistance:onboard": Spec(),
    "assistance:onboard_detail": Spec(kind="roster_import"),
    "assistance:reconciliation": Spec(),
    "assistance:discrepancy_resolve": Spec(
        method="POST", kind="discrepancy", data={"note": "矩阵测试", "version": "1"}
    ),
    # The assistance API authenticates by session and checks role and scope itself (tests/assistance/test_api.py).
    "api:assistance_toolbox": Spec(public=True),
    "api:assistance_reconciliation": Spec(public=True),
    "api:assistance_plan": Spec(public=True, extra={"pk": "1"}),
    "api:assistance_plan_create": Spec(method="POST", public=True, extra={"case_id": "1"}),
    "api:assistance_measure_add": Spec(method="POST", public=True, extra={"pk": "1"}),
    "api:assistance_measure_update": Spec(method="POST", public=True, extra={"pk": "1"}),
    "api:assistance_visit_add": Spec(method="POST", public=True, extra={"pk": "1"}),
    "notifications:inbox": Spec(),
    "notifications:badge": Spec(),
    "notifications:read": Spec(method="POST", kind="notification"),
    "notifications:read_all": Spec(method="POST"),
    "notifications:webhook_list": Spec(),
    "notifications:webhook_action": Spec(method="POST", kind="webhook", data={"action": "disable"}),
    "notifications:robot_hosts": Spec(),
    "notifications:robot_host_remove": Spec(method="POST", kind="robot_host"),
    "audit:audit_list": Spec(),
    "audit:audit_export": Spec(method="POST"),
    "audit:audit_verify": Spec(method="POST"),
    "exchange:catalog": Spec(),
    "exchange:delivery_list": Spec(),
    "exchange:delivery_detail": Spec(kind="delivery"),
    "exchange:delivery_report": Spec(kind="delivery"),
    "exchange:delivery_corrections": Spec(kind="delivery"),
    "exchange:dataset_template": Spec(extra={"dataset": "ms_settlement"}),
    "exchange:upload": Spec(),
    "exchange:quality": Spec(),
    "exchange:review_list": Spec(),
    "exchange:review_decide": Spec(method="POST", kind="review", data={"version": "1"}),
    "exchange:token_list": Spec(),
    "exchange:token_revoke": Spec(method="POST", kind="token"),
    "cases:case_list": Spec(),
    "cases:my_tasks": Spec(),
    "cases:deadline_settings": Spec(),
    "cases:case_detail": Spec(kind="case"),
    "cases:case_act": Spec(method="POST", kind="case", extra={"action": "township_approve"}),
    "cases:case_reassign": Spec(method="POST", kind="case"),
    "cases:case_eliminate": Spec(method="POST", kind="case"),
    "cases:case_notice": Spec(kind="case"),
    "cases:case_authorization": Spec(kind="case"),
    "cases:case_open": Spec(method="POST", kind="lead"),
    "warnings:lead_list": Spec(),
    "warnings:lead_report": Spec(),
    "warnings:qr_index": Spec(),
    "warnings:village_qr": Spec(kind="region"),
    "warnings:lead_detail": Spec(kind="lead"),
    "warnings:lead_accept": Spec(method="POST", kind="lead", data={"version": "1"}),
    "warnings:lead_reject": Spec(method="POST", kind="lead", data={"version": "1", "reason": "矩阵测试理由"}),
    "warnings:lead_match": Spec(method="POST", kind="lead", data={"household_no": "0"}),
    "warnings:feedback": Spec(),
    "analytics:home": Spec(),
    "analytics:dashboard": Spec(kind="region"),
    "analytics:households": Spec(kind="region"),
    "analytics:report": Spec(kind="region"),
    "analytics:model_health": Spec(kind="region"),
    "analytics:report_xlsx": Spec(kind="region"),
    "analytics:table_export": Spec(kind="region", extra={"name": "children", "fmt": "csv"}),
    "analytics:export_start": Spec(method="POST", kind="region"),
    "analytics:export_status": Spec(kind="export_job"),
    "analytics:export_download": Spec(kind="export_job"),
    "analytics:alerts": Spec(),
    "privacy:export_requests": Spec(),
    "privacy:export_request_detail": Spec(kind="export_request"),
    "privacy:export_request_decide": Spec(method="POST", kind="export_request", data={"decision": "approve"}),
    "privacy:export_request_use": Spec(method="POST", kind="export_request"),
    "analytics:alert_detail": Spec(kind="regional_alert"),
    # The public self-declaration form (a signed village token; tests/warnings/test_declare.py).
    "warnings:declare": Spec(public=True, extra={"token": "x"}),
    # The leads API authenticates by session and checks role and scope itself (tests/warnings/test_api.py).
    "api:leads_list": Spec(public=True),
    "api:leads_detail": Spec(public=True, extra={"pk": "1"}),
    "api:leads_accept": Spec(method="POST", public=True, extra={"pk": "1"}),
    "api:leads_reject": Spec(method="POST", public=True, extra={"pk": "1"}),
    "api:leads_report": Spec(method="POST", public=True),
    # The cases API authenticates by session and checks role and scope itself (tests/cases/test_api.py).
    "api:cases_list": Spec(public=True),
    "api:cases_tasks": Spec(public=True),
    "api:cases_detail": Spec(public=True, extra={"pk": "1"}),
    "api:cases_act": Spec(method="POST", public=True, extra={"pk": "1", "action": "reject"}),
    "api:cases_open": Spec(method="POST", public=True),
    # The analytics API authenticates by session and checks role and scope itself (tests/analytics/test_views.py).
    "api:analytics_indicators": Spec(public=True, extra={"prefix": "360722"}),
    # The API: the push endpoint authenticates machines by department token (tests/exchange/test_push_api.py);
    # the OpenAPI schema and docs are for signed-in staff.
    "api:push_events": Spec(method="POST", public=True, extra={"dataset": "ms_settlement"}),
    "api:openapi-json": Spec(),
    "api:openapi-view": Spec(),
    "api:api-root": Spec(public=True),  # ninja's reverse() anchor: always 404, says nothing
}


def test_the_api_root_reveals_nothing(db: None) -> None:
    assert Client().get("/api/v1/").status_code == 404


def all_url_names() -> dict[str, Any]:
    """Every named URL in the URLconf with its view function."""
    found: dict[str, Any] = {}

    def walk(patterns: list[Any], namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern) and p.name:
                found[f"{namespace}{p.name}"] = p.callback

    walk(get_resolver().url_patterns, "")
    return found


def test_every_url_is_described_in_the_matrix() -> None:
    missing = sorted(set(all_url_names()) - set(SPECS))
    assert not missing, f"describe these URLs in SPECS: {missing}"


def test_every_non_public_view_declares_what_it_requires() -> None:
    """Deny by default: a view without @requires would be open to any signed-in user."""
    undeclared = [
        name
        for name, view in all_url_names().items()
        if not SPECS[name].public and not hasattr(view, "required_capabilities")
    ]
    assert not undeclared


def _in_region(prefix: str) -> Callable[[Any], bool]:
    return lambda user: prefix.startswith(user.region_id)


def _targets(world: Any, kind: str) -> dict[str, tuple[Any, Callable[[Any], bool]]]:
    """place → (object, who may see it). Most objects are scoped by region; deliveries by department
    (their records hold counts, not personal data); department tokens by role alone."""
    from fangpin.accounts.models import User
    from fangpin.exchange.models import Delivery, DepartmentToken, LinkReview
    from fangpin.regions.models import Region

    if kind == "household":
        return {p: (h, _in_region(h.village_id)) for p, h in world.households.items()}
    if kind == "person":
        return {p: (world.persons[p], _in_region(world.households[p].village_id)) for p in world.households}
    if kind == "region":
        villages = (("own", VILLAGE_A), ("sibling", VILLAGE_B), ("other", VILLAGE_C))
        return {p: (Region.objects.get(prefix=v), _in_region(v)) for p, v in villages}
    if kind == "user":
        users = {"own": "xiao_grid", "sibling": "li_township_b", "other": "huang_county_c"}
        return {
            p: (User.objects.get(username=u), _in_region(User.objects.get(username=u).region_id))
            for p, u in users.items()
        }
    if kind == "delivery":
        made = {}
        for place, department in (("own", "medical_security"), ("other", "public_security")):
            delivery = Delivery.objects.create(
                dataset="x",
                department=department,
                period="2026-08",
                content_hash=place,
                source="cli",
                file_name="f",
                status="rejected_whole",
            )
            made[place] = (
                delivery,
                lambda user, d=department: user.role != "data_officer" or user.department == d,
            )
        return made
    if kind == "review":
        delivery = Delivery.objects.create(
            dataset="ms_settlement",
            department="medical_security",
            period="2026-08",
            content_hash="r",
            source="cli",
            file_name="f",
            status="accepted",
        )
        return {
            p: (
                LinkReview.objects.create(
                    delivery=delivery,
                    row=i,
                    best_probability=0.7,
                    village_id=world.households[p].village_id,
                    candidates=[
                        {
                            "person_key": world.persons[p].pk,
                            "household_key": world.households[p].pk,
                            "probability": 0.7,
                        }
                    ],
                ),
                _in_region(world.households[p].village_id),
            )
            for i, p in enumerate(world.households)
        }
    if kind == "webhook":  # configured per region
        from fangpin.notifications.models import Webhook

        return {
            p: (
                Webhook.objects.create(region_id=v, kind="wecom", name="群", url="https://qyapi.example/x"),
                _in_region(v),
            )
            for p, v in (("own", VILLAGE_A), ("sibling", VILLAGE_B), ("other", VILLAGE_C))
        }
    if kind == "robot_host":  # one list for the whole system, kept by the security administrator
        from fangpin.notifications.models import RobotHost

        return {"own": (RobotHost.objects.create(host=f"h{uuid.uuid4().hex[:8]}.example"), lambda user: True)}
    if kind == "notification":  # a message is seen by its recipient only
        from fangpin.notifications.models import Notification

        return {
            p: (
                Notification.objects.create(recipient=User.objects.get(username=u), title="矩阵测试"),
                lambda user, u=u: user.username == u,
            )
            for p, u in (("own", "xiao_grid"), ("other", "huang_county_c"))
        }
    if kind in ("measure_type", "plan", "measure", "roster_export"):
        return _assistance_targets(world, kind)
    if kind in ("roster_import", "discrepancy"):
        return _onboarding_targets(world, kind)
    if kind in ("export_job", "regional_alert"):
        return _analytics_targets(world, kind)
    if kind == "export_request":
        return _export_request_targets()
    if kind in ("case", "lead"):
        return {
            p: (_case_or_lead(world, p, kind), _in_region(h.village_id)) for p, h in world.households.items()
        }
    token = DepartmentToken.objects.create(
        department="health", name="t", prefix="abcdefgh", token_hash=uuid.uuid4().hex * 2, created_by="x"
    )
    return {"own": (token, lambda user: True)}


def _case_or_lead(world: Any, place: str, kind: str) -> Any:
    """A lead in the place, and for kind "case" a case opened from it, already in its village notice."""
    import datetime as dt

    from django.utils import timezone

    from fangpin.cases.models import Case
    from fangpin.warnings.models import Lead

    household = world.households[place]
    lead = Lead.objects.filter(household=household).first() or Lead.objects.create(
        household=household, village_id=household.village_id, channel="cadre_report", period="2026-10"
    )
    if kind == "lead":
        return lead
    now = timezone.now()
    in_notice = Case.objects.filter(household=household, state="publicity").first()
    return in_notice or Case.objects.create(
        household=household,
        village_id=household.village_id,
        lead=lead,
        state="publicity",
        found_at=now,
        opened_at=now,
        deadline_at=now + dt.timedelta(days=15),
        publicity_started_at=now,
    )


def _onboarding_targets(world: Any, kind: str) -> dict[str, tuple[Any, Callable[[Any], bool]]]:
    """台账 imports per county (its approvers); roster discrepancies per household's village."""
    from fangpin.assistance.models import Discrepancy, RosterImport

    if kind == "roster_import":
        return {
            p: (
                RosterImport.objects.create(county_id=c, file_name="台账.xlsx"),
                lambda u, c=c: c.startswith(str(u.region_id)[:6]),
            )
            for p, c in (("own", "360722"), ("other", "360731"))
        }
    return {
        p: (
            Discrepancy.objects.create(
                county_id=h.village_id[:6],
                village_id=h.village_id,
                household=h,
                kind="roster_only",
                first_period="2026-10",
                last_period="2026-10",
            ),
            _in_region(h.village_id),
        )
        for p, h in world.households.items()
    }


def _assistance_targets(world: Any, kind: str) -> dict[str, tuple[Any, Callable[[Any], bool]]]:
    """Toolbox entries per county; plans and measures of monitored households; roster exports per user."""
    import datetime as dt

    from django.utils import timezone

    from fangpin.accounts.models import User
    from fangpin.assistance.models import AssistancePlan, Measure, MeasureType, RosterExport
    from fangpin.cases.models import Case

    if kind == "roster_export":
        made = {}
        for place, username in (("own", "zhang_township"), ("other", "huang_county_c")):
            user = User.objects.get(username=username)
            export = RosterExport.objects.create(requested_by=user, region_id=user.region_id)
            made[place] = (export, lambda u, name=username: u.username == name)
        return made
    types = {
        county: MeasureType.objects.get_or_create(
            county_id=county,
            code="YL-01",
            defaults={"category": "medical", "name": "医疗救助", "risk_types": "01"},
        )[0]
        for county in ("360722", "360731")
    }
    if kind == "measure_type":
        return {
            p: (t, lambda u, c=c: u.region_id.startswith(c) or c.startswith(u.region_id))
            for p, (c, t) in zip(("own", "other"), types.items(), strict=True)
        }
    made = {}
    now = timezone.now()
    for place, household in world.households.items():
        case = Case.objects.create(
            household=household,
            village_id=household.village_id,
            state="monitored",
            category="marginal",
            risk_types="01",
            found_at=now,
            opened_at=now,
            deadline_at=now + dt.timedelta(days=15),
            monitored_at=now,
        )
        plan = AssistancePlan.objects.create(case=case, household=household, village_id=household.village_id)
        obj: Any = plan
        if kind == "measure":
            obj = Measure.objects.create(
                plan=plan, measure_type=types[household.village_id[:6]], start_date=dt.date(2026, 1, 1)
            )
        made[place] = (obj, _in_region(household.village_id))
    return made


def _analytics_targets(world: Any, kind: str) -> dict[str, tuple[Any, Callable[[Any], bool]]]:
    """Export jobs are read by their owner only; regional alerts by those whose scope holds the centre."""
    from fangpin.accounts.models import User
    from fangpin.analytics.exports import export_dir
    from fangpin.analytics.models import ExportJob, RegionalAlert

    made: dict[str, tuple[Any, Callable[[Any], bool]]] = {}
    if kind == "export_job":
        for place, username in (("own", "zhang_township"), ("other", "huang_county_c")):
            user = User.objects.get(username=username)
            job = ExportJob.objects.create(user=user, kind="households", region_id=user.region_id, month="")
            job.status, job.file_name = "done", f"matrix-{job.pk}.xlsx"
            job.save()
            (export_dir() / job.file_name).write_bytes(b"x")
            made[place] = (job, lambda u, name=username: u.username == name)
        return made
    for place, village in (("own", VILLAGE_A), ("sibling", VILLAGE_B), ("other", VILLAGE_C)):
        alert = RegionalAlert.objects.create(
            as_of="2026-10",
            centre=village,
            county=village[:6],
            villages=[village],
            start="2026-10",
            end="2026-10",
            observed=9,
            expected=1.0,
            relative_risk=9.0,
            llr=10.0,
            p_value=0.001,
            radius_km=2.0,
            cause="因灾",
            households=[],
        )
        made[place] = (alert, _in_region(village))
    return made


def _export_request_targets() -> dict[str, tuple[Any, Callable[[Any], bool]]]:
    """A bulk-export request is seen by its requester and by REVEAL_PI holders above its region."""
    from fangpin.accounts.models import User
    from fangpin.privacy.models import ExportRequest

    made: dict[str, tuple[Any, Callable[[Any], bool]]] = {}
    for place, username in (("own", "zhang_township"), ("other", "huang_county_c")):
        user = User.objects.get(username=username)
        request = ExportRequest.objects.create(
            kind="roster", requested_by=user, region_id=user.region_id, rows=5000, purpose="assistance"
        )
        made[place] = (
            request,
            lambda u, name=username, region=user.region_id: (
                u.username == name or (u.can("reveal_pi") and region.startswith(u.region_id))
            ),
        )
    return made


def _url(name: str, spec: Spec, obj: Any = None) -> str:
    kwargs = dict(spec.extra)
    if obj is not None:
        kwargs["prefix" if spec.kind == "region" else "pk"] = obj.pk
    return reverse(name, kwargs=kwargs)


def _call(client: Client, spec: Spec, url: str) -> int:
    response = client.post(url, spec.data) if spec.method == "POST" else client.get(url)
    return response.status_code


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if not s.public))
def test_anonymous_visitors_are_sent_to_login(world, name: str) -> None:
    spec = SPECS[name]
    obj = next(iter(_targets(world, spec.kind).values()))[0] if spec.kind else None
    response = (
        Client().post(_url(name, spec, obj), spec.data)
        if spec.method == "POST"
        else Client().get(_url(name, spec, obj))
    )
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_each_persona_reaches_exactly_its_own_scope(world, client_for, persona: str) -> None:
    views = all_url_names()
    user = world.users[persona]
    client = client_for(persona)
    failures = []
    for name, spec in sorted(SPECS.items()):
        if spec.public:
            continue
        capabilities = views[name].required_capabilities
        allowed_role = not capabilities or any(user.can(c) for c in capabilities)
        targets = _targets(world, spec.kind) if spec.kind else {"-": (None, lambda _: True)}
        for place, (obj, visible) in targets.items():
            denied_before = AuditEvent.objects.filter(
                event_type="ACCESS_DENIED", actor_username=persona
            ).count()
            status = _call(client, spec, _url(name, spec, obj))
            in_scope = visible(user)
            if not allowed_role:
                expected = {403}
            elif in_scope:
                expected = {200, 302, 400}
            else:
                expected = {404}
            if status not in expected:
                failures.append(f"{name} {place}: got {status}, expected {sorted(expected)}")
            if status in (403, 404):
                denied_after = AuditEvent.objects.filter(
                    event_type="ACCESS_DENIED", actor_username=persona
                ).count()
                if denied_after != denied_before + 1:
                    failures.append(f"{name} {place}: {status} without exactly one ACCESS_DENIED audit row")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if s.method == "POST"))
def test_state_changing_urls_refuse_get(world, client_for, name: str) -> None:
    """No state change by GET (SECURITY.md SES-03): every POST URL answers GET with 405."""
    spec = SPECS[name]
    obj = _targets(world, spec.kind)["own"][0] if spec.kind else None
    persona = {
        "accounts:user_action": "sun_sysadmin",
        "audit:audit_export": "wu_auditor",
        "audit:audit_verify": "wu_auditor",
        "exchange:token_revoke": "zhou_secadmin",
        "assistance:toolbox_seed": "wang_county",
        "assistance:discrepancy_resolve": "wang_county",
        "notifications:webhook_action": "sun_sysadmin",
        "notifications:robot_host_remove": "zhou_secadmin",
    }.get(name, "zhang_township")
    assert client_for(persona).get(_url(name, spec, obj)).status_code == 405
