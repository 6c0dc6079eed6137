"""The lead queue (all three channels), a lead's page, the public self-declaration form with its village QR
codes, the cadre's field report, and what became of each department's warnings (feedback)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import DEPARTMENTS, Can, Role
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.middleware import client_ip
from fangpin.lib.risks import CATEGORIES, RISK_TYPES
from fangpin.regions.models import Level, Region
from fangpin.warnings import actions, portrait_info, screening
from fangpin.warnings.forms import (
    OPEN,
    DecisionForm,
    DeclarationForm,
    FilterForm,
    MatchForm,
    RejectForm,
    ReportForm,
)
from fangpin.warnings.models import OPEN_STATUSES, Lead, LeadSource, LeadStatus, Outcome

_TOKEN_SALT = "fangpin.warnings.declare"  # noqa: S105 - a signing salt, not a secret
GRADE_ORDER = Case(
    When(grade="高", then=Value(0)),
    When(grade="中", then=Value(1)),
    When(grade="低", then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


def village_token(village: Region) -> str:
    """The signed village reference printed in a QR code (no expiry: a printed poster must keep working)."""
    return signing.Signer(salt=_TOKEN_SALT).sign(village.prefix)


def _village_of_token(token: str) -> Region:
    try:
        prefix = signing.Signer(salt=_TOKEN_SALT).unsign(token)
    except signing.BadSignature as exc:
        raise Http404("二维码无效，请联系村委会") from exc
    village = Region.objects.filter(prefix=prefix, level=Level.VILLAGE).first()
    if village is None:
        raise Http404("二维码无效，请联系村委会")
    return village


def _client_key(request: HttpRequest) -> str:
    """The client address, keyed (not stored in clear) — enough to rate-limit, useless elsewhere."""
    key = settings.SECRET_KEY.encode("utf-8")
    return hmac.new(key, client_ip(request).encode("utf-8"), hashlib.sha256).hexdigest()


# --- the queue ---------------------------------------------------------------------------------------


def _queue(user: User, form: FilterForm) -> QuerySet[Lead]:
    leads = scope.leads(user).select_related("household", "village")
    data = form.cleaned_data if form.is_valid() else {"status": OPEN}
    status = data.get("status", OPEN)
    if status == OPEN:
        leads = leads.filter(status__in=OPEN_STATUSES)
    elif status:
        leads = leads.filter(status=status)
    for name in ("channel", "kind", "grade"):
        if data.get(name):
            leads = leads.filter(**{name: data[name]})
    if data.get("village"):
        leads = leads.filter(village_id=data["village"])
    if data.get("overdue"):
        leads = leads.filter(status=LeadStatus.NEW, accept_deadline__lt=timezone.now())
    return leads.annotate(grade_order=GRADE_ORDER).order_by("grade_order", "-score", "created_at", "pk")


def _villages(user: User) -> list[tuple[str, str]]:
    prefix = str(user.region_id)
    return list(
        Region.objects.filter(level=Level.VILLAGE, prefix__startswith=prefix)
        .order_by("prefix")
        .values_list("prefix", "name")[:2000]
    )


@requires(Can.VIEW_LEADS)
@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = FilterForm(request.GET or {"status": OPEN}, villages=_villages(user))
    leads = _queue(user, form)
    page = Paginator(leads, 50).get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "form": form,
        "page": page,
        "now": now,
        "overdue": scope.leads(user).filter(status=LeadStatus.NEW, accept_deadline__lt=now).count(),
        "can_report": user.can(Can.REPORT_LEAD),
        "query": request.GET.urlencode() if request.GET else "",
    }
    template = "warnings/_lead_table.html" if request.htmx else "warnings/lead_list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


def _when(value: Any) -> str:
    """A provenance time (ISO text, stored in UTC) in Beijing time."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return "—"
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _risk_list(codes: str) -> list[str]:
    return [f"{c} {RISK_TYPES.get(c, '')}" for c in codes.split(";") if c]


def _rule_rows(lead: Lead) -> list[dict[str, str]]:
    """The matched rules with their names from the policy in force, and the Chinese reason of each."""
    policy = screening.rules_of(lead.policy_hash) if lead.rules else {}
    reasons = [r for r in lead.reasons.split("；") if r]
    rows = []
    for i, rid in enumerate(r for r in lead.rules.split(";") if r):
        rule = policy.get(rid)
        rows.append(
            {
                "id": rid,
                "name": rule.name_zh if rule else "",
                "risk": f"{rule.risk_type} {RISK_TYPES.get(rule.risk_type, '')}" if rule else "",
                "reason": reasons[i]
                if i < len(reasons) and len(reasons) == len(lead.rules.split(";"))
                else "",
            }
        )
    return rows


@requires(Can.VIEW_LEADS)
@require_GET
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    lead = scope.get_or_404(user, Lead, pk=pk)
    snapshot = [
        (portrait_info.label(k), portrait_info.display(v)) for k, v in (lead.portrait_snapshot or {}).items()
    ]
    declaration = getattr(lead, "declaration", None)
    record(Event.LEAD_VIEWED, actor=user, object_type="lead", object_id=lead.pk)
    return render(
        request,
        "warnings/lead_detail.html",
        {
            "lead": lead,
            "head": lead.household.head() if lead.household else None,
            "risks": _risk_list(lead.risk_types),
            "category_zh": CATEGORIES.get(lead.category, ""),
            "rules": _rule_rows(lead),
            "explanations": [s for s in lead.explanation.replace("\n", "；").split("；") if s.strip()],
            "snapshot": snapshot,
            "declaration": declaration,
            "provenance": [{**p, "when": _when(p.get("at"))} for p in lead.provenance or []],
            "merged": lead.merged_leads.select_related("household").order_by("pk"),
            "sources": lead.sources.order_by("department", "dataset"),
            "departments": DEPARTMENTS,
            "can_dispatch": user.can(Can.DISPATCH_LEADS),
            "can_view_households": user.can(Can.VIEW_HOUSEHOLDS),
            "overdue": lead.status == LeadStatus.NEW
            and lead.accept_deadline is not None
            and lead.accept_deadline < timezone.now(),
            "reject_form": RejectForm(),
        },
    )


def _decide(request: HttpRequest, pk: int, run: Any, form_class: type[DecisionForm]) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    lead = scope.get_or_404(user, Lead, pk=pk)
    form = form_class(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("warnings:lead_detail", pk=lead.pk)
    try:
        run(lead, user, form.cleaned_data)
    except (actions.LeadError, actions.Conflict) as exc:
        messages.error(request, str(exc))
    return redirect("warnings:lead_detail", pk=lead.pk)


@requires(Can.DISPATCH_LEADS)
@require_POST
def lead_accept(request: HttpRequest, pk: int) -> HttpResponse:
    def run(lead: Lead, user: User, data: dict[str, Any]) -> None:
        actions.accept_lead(lead, actor=user, expected_version=data["version"])
        messages.success(request, "已受理，可派发核实")

    return _decide(request, pk, run, DecisionForm)


@requires(Can.DISPATCH_LEADS)
@require_POST
def lead_reject(request: HttpRequest, pk: int) -> HttpResponse:
    def run(lead: Lead, user: User, data: dict[str, Any]) -> None:
        actions.reject_lead(lead, actor=user, reason=data["reason"], expected_version=data["version"])
        messages.success(request, "已作不予受理处理")

    return _decide(request, pk, run, RejectForm)


@requires(Can.DISPATCH_LEADS)
@require_POST
def lead_match(request: HttpRequest, pk: int) -> HttpResponse:
    """Match an unmatched self-declaration to a household in the township's scope."""
    user: User = request.user  # type: ignore[assignment]
    lead = scope.get_or_404(user, Lead, pk=pk)
    form = MatchForm(request.POST)
    household = None
    if form.is_valid():
        household = (
            scope.households(user).filter(household_no=form.cleaned_data["household_no"].strip()).first()
        )
    if household is None:
        messages.error(request, "未找到该户编号，或该户不在您的管辖范围内")
        return redirect("warnings:lead_detail", pk=lead.pk)
    try:
        survivor = actions.match_household(lead, household, actor=user)
    except actions.LeadError as exc:
        messages.error(request, str(exc))
        return redirect("warnings:lead_detail", pk=lead.pk)
    messages.success(request, "已匹配农户" + ("，并与该户已有线索合并" if survivor.pk != lead.pk else ""))
    return redirect("warnings:lead_detail", pk=survivor.pk)


# --- channel 3: the cadre's report ----------------------------------------------------------------------


@requires(Can.REPORT_LEAD)
@require_http_methods(["GET", "POST"])
def lead_report(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST":
        form = ReportForm(request.POST)
        if form.is_valid():
            household = (
                scope.households(user).filter(household_no=form.cleaned_data["household_no"].strip()).first()
            )
            if household is None:
                form.add_error("household_no", "未找到该户编号，或该户不在您的管辖范围内")
            else:
                try:
                    lead = actions.report_lead(
                        household=household,
                        risk_types=form.cleaned_data["risk_types"],
                        note=form.cleaned_data["note"],
                        actor=user,
                    )
                except actions.LeadError as exc:
                    form.add_error(None, str(exc))
                else:
                    survivor = actions.survivor(lead)
                    messages.success(
                        request,
                        "已上报线索" + ("，该户已有线索，已合并" if survivor.pk != lead.pk else ""),
                    )
                    return redirect("warnings:lead_detail", pk=survivor.pk)
        status = 400
    else:
        initial: dict[str, Any] = {}
        pk = request.GET.get("household", "")
        if pk.isdigit():
            found = scope.households(user).filter(pk=int(pk)).first()
            if found is not None:
                initial["household_no"] = found.household_no
        form = ReportForm(initial=initial)
        status = 200
    return render(request, "warnings/report.html", {"form": form}, status=status)


# --- channel 2: self-declaration (public) and the village QR codes ------------------------------------------


@require_http_methods(["GET", "POST"])
def declare(request: HttpRequest, token: str) -> HttpResponse:
    """Public, no login: reached from the village's QR code. CSRF-protected like every form."""
    village = _village_of_token(token)
    context: dict[str, Any] = {"village": village, "consent_text": actions.CONSENT_TEXT}
    if request.method == "GET":
        context["form"] = DeclarationForm()
        return render(request, "warnings/declare.html", context)
    form = DeclarationForm(request.POST)
    context["form"] = form
    if not form.is_valid():
        return render(request, "warnings/declare.html", context, status=400)
    data = form.cleaned_data
    try:
        lead = actions.declare(
            village=village,
            name=data["name"],
            id_number=data["id_number"],
            phone=data["phone"],
            reason_category=data["reason_category"],
            reason_text=data["reason_text"].strip(),
            client_key=_client_key(request),
        )
    except actions.RateLimited as exc:
        context["limited"] = str(exc)
        return render(request, "warnings/declare.html", context, status=429)
    except actions.LeadError as exc:
        form.add_error(None, str(exc))
        return render(request, "warnings/declare.html", context, status=400)
    return render(
        request,
        "warnings/declare_done.html",
        {"village": village, "number": lead.declaration.receipt, "deadline": lead.accept_deadline},
    )


def _qr_svg(url: str) -> str:
    qr = segno.make(url, error="m")
    return str(qr.svg_inline(scale=6, dark="#000", light="#fff", omitsize=True))


@requires(Can.VIEW_LEADS)
@require_GET
def qr_index(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    villages = scope.regions(user).filter(level=Level.VILLAGE).order_by("prefix")
    if villages.count() == 1:
        return redirect("warnings:village_qr", prefix=villages.get().prefix)
    page = Paginator(villages, 100).get_page(request.GET.get("page"))
    return render(request, "warnings/qr_index.html", {"page": page})


@requires(Can.VIEW_LEADS)
@require_GET
def village_qr(request: HttpRequest, prefix: str) -> HttpResponse:
    """A printable poster: the village's QR code pointing to the self-declaration form."""
    user: User = request.user  # type: ignore[assignment]
    village = scope.get_or_404(user, Region, prefix=prefix)
    if village.level != Level.VILLAGE:
        raise Http404("请选择一个村")
    url = request.build_absolute_uri(reverse("warnings:declare", args=[village_token(village)]))
    return render(
        request,
        "warnings/village_qr.html",
        {"village": village, "url": url, "svg": _qr_svg(url), "consent_text": actions.CONSENT_TEXT},
    )


# --- feedback to the exchange ---------------------------------------------------------------------------


@requires(Can.VIEW_EXCHANGE)
@require_GET
def feedback(request: HttpRequest) -> HttpResponse:
    """What became of the warnings each department's data triggered: counts by month and outcome. A data
    officer sees only their own department; nothing personal beyond masked household numbers."""
    user: User = request.user  # type: ignore[assignment]
    sources = LeadSource.objects.filter(lead__village__prefix__startswith=str(user.region_id))
    if user.role == Role.DATA_OFFICER:
        department = user.department
    else:
        department = request.GET.get("department", "")
        if department and department not in DEPARTMENTS:
            raise PermissionDenied("未知部门")
    if user.role == Role.DATA_OFFICER and not department:
        raise PermissionDenied("您的账号未指定部门")
    if department:
        sources = sources.filter(department=department)
    outcome_cols = [("", "处理中"), *Outcome.choices]
    by_month: dict[str, dict[str, int]] = {}
    for row in (
        sources.values("lead__period", "lead__outcome").annotate(n=Count("lead", distinct=True)).order_by()
    ):
        month = by_month.setdefault(row["lead__period"], {k: 0 for k, _ in outcome_cols})
        month[row["lead__outcome"] or ""] = row["n"]
    by_dataset = list(
        sources.values("dataset")
        .annotate(
            total=Count("lead", distinct=True),
            confirmed=Count("lead", filter=Q(lead__outcome=Outcome.CONFIRMED), distinct=True),
            decided=Count("lead", filter=~Q(lead__outcome=""), distinct=True),
        )
        .order_by("dataset")
    )
    recent = (
        sources.select_related("lead", "lead__household")
        .exclude(lead__outcome="")
        .order_by("-lead__outcome_at", "-pk")[:50]
    )
    return render(
        request,
        "warnings/feedback.html",
        {
            "department": department,
            "department_zh": DEPARTMENTS.get(department, "全部部门"),
            "departments": DEPARTMENTS if user.role != Role.DATA_OFFICER else {},
            "outcome_cols": outcome_cols,
            "months": sorted(by_month.items(), reverse=True),
            "by_dataset": by_dataset,
            "recent": recent,
        },
    )
