from __future__ import annotations

import re

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.lib import idcard
from fangpin.privacy import actions as privacy
from fangpin.privacy.forms import PURPOSES
from fangpin.registry.forms import RevealForm, SearchForm
from fangpin.registry.models import Household, Membership, Person

_HOUSEHOLD_NO = re.compile(r"^\d{16,20}$")


def _with_counts(households: QuerySet[Household]) -> QuerySet[Household]:
    return households.select_related("village").annotate(
        member_count=Count("memberships", filter=Q(memberships__end_date__isnull=True))
    )


@requires(Can.VIEW_HOUSEHOLDS)
@require_GET
def household_list(request: HttpRequest) -> HttpResponse:
    households = _with_counts(scope.households(request.user).order_by("household_no"))  # type: ignore[arg-type]
    page = Paginator(households, 50).get_page(request.GET.get("page"))
    return render(request, "registry/household_list.html", {"page": page, "form": SearchForm()})


@requires(Can.VIEW_HOUSEHOLDS)
@require_POST
def household_search(request: HttpRequest) -> HttpResponse:
    """Search by name, ID number or household number, always by POST so that no PI lands in a URL."""
    user: User = request.user  # type: ignore[assignment]
    form = SearchForm(request.POST)
    results: list[Household] = []
    if form.is_valid():
        q = idcard.normalize(form.cleaned_data["q"])
        in_scope = scope.households(user)
        if len(q) == 18 and q[:17].isdigit():
            kind, matched = (
                "id_number",
                in_scope.filter(memberships__person__id_number=q, memberships__end_date__isnull=True),
            )
        elif _HOUSEHOLD_NO.match(q):
            kind, matched = "household_no", in_scope.filter(household_no=q)
        else:
            kind, matched = (
                "name",
                in_scope.filter(memberships__person__name__contains=q, memberships__end_date__isnull=True),
            )
        results = list(_with_counts(matched.distinct().order_by("household_no"))[:100])
        # The query itself is personal information: the audit row keeps its kind, never its value.
        record(
            Event.SEARCH, actor=user, object_type="household", data={"kind": kind, "results": len(results)}
        )
    template = "registry/_search_results.html" if request.htmx else "registry/household_list.html"  # type: ignore[attr-defined]
    return render(request, template, {"form": form, "results": results, "searched": True})


@requires(Can.VIEW_HOUSEHOLDS)
@require_GET
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    household = scope.get_or_404(user, Household, pk=pk)
    memberships = (
        Membership.objects.filter(household=household)
        .select_related("person")
        .order_by("end_date", "relation", "start_date")
    )
    today = timezone.localdate()
    current = [m for m in memberships if m.end_date is None]
    past = [m for m in memberships if m.end_date is not None]
    record(Event.HOUSEHOLD_VIEWED, actor=user, object_type="household", object_id=household.pk)
    return render(
        request,
        "registry/household_detail.html",
        {
            "household": household,
            "ancestors": household.village.ancestors() + [household.village],
            "current": [(m, m.person.age_on(today)) for m in current],
            "past": past,
            "can_reveal": user.can(Can.REVEAL_PI),
            "reveal_fields": RevealForm.FIELDS,
            "purposes": PURPOSES,
        },
    )


@requires(Can.REVEAL_PI)
@require_POST
def person_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one masked value in full, with a purpose and a stated reason (SECURITY.md PI-03/PI-04,
    'breaking the glass'); a minor under 14 is labelled in the answer and the audit row (PI-02)."""
    user: User = request.user  # type: ignore[assignment]
    person = scope.get_or_404(user, Person, pk=pk)
    form = RevealForm(request.POST)
    if not form.is_valid():
        return render(request, "registry/_reveal_error.html", {"form": form}, status=400)
    try:
        purpose = privacy.purpose_from(
            {"purpose": request.POST.get("purpose", ""), "purpose_note": form.cleaned_data["reason"]}
        )
    except privacy.PrivacyError as exc:
        return render(request, "registry/_reveal_error.html", {"message": str(exc)}, status=400)
    if not privacy.reveal_allowed(user):
        message = (
            f"一小时内查看完整个人信息已达 {settings.FANGPIN_REVEAL_LIMIT_PER_HOUR} 次上限，"
            "已暂停并通知安全管理员；如确有工作需要，请联系安全管理员。"
        )
        return render(request, "registry/_reveal_error.html", {"message": message}, status=429)
    field = form.cleaned_data["field"]
    label = person.sensitivity_label(timezone.localdate())
    record(
        Event.PI_REVEAL,
        actor=user,
        object_type="person",
        object_id=person.pk,
        reason=form.cleaned_data["reason"],
        data={"field": field, **purpose.audit_data(), **({"label": label} if label else {})},
    )
    return render(request, "registry/_revealed.html", {"value": getattr(person, field), "label": label})
