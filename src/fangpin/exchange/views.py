from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fangpin.accounts import scope
from fangpin.accounts.decorators import requires
from fangpin.accounts.models import User
from fangpin.accounts.roles import Can, Role
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.exchange import actions, quality, reports
from fangpin.exchange.forms import DecisionForm, TokenForm, UploadForm
from fangpin.exchange.models import Delivery, DepartmentToken, LinkReview, Status
from fangpin.privacy import actions as privacy
from fangpin.registry.models import Person


@requires(Can.VIEW_EXCHANGE)
@require_GET
def catalog_overview(request: HttpRequest) -> HttpResponse:
    """Who delivers what, how often, the last delivery and its rejection rate."""
    user: User = request.user  # type: ignore[assignment]
    catalog = actions.active_catalog()
    visible = scope.deliveries(user)
    latest_ids = (
        visible.filter(status=Status.ACCEPTED)
        .values("dataset")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    latest = {d.dataset: d for d in Delivery.objects.filter(pk__in=list(latest_ids))}
    rows = [
        {"spec": spec, "department_zh": catalog.departments[spec.department].zh, "last": latest.get(name)}
        for name, spec in catalog.datasets.items()
        if user.role != Role.DATA_OFFICER or spec.department == user.department
    ]
    return render(request, "exchange/catalog.html", {"rows": rows, "catalog": catalog})


@requires(Can.VIEW_EXCHANGE)
@require_GET
def delivery_list(request: HttpRequest) -> HttpResponse:
    deliveries = scope.deliveries(request.user)  # type: ignore[arg-type]
    dataset = request.GET.get("dataset", "")
    if dataset:
        deliveries = deliveries.filter(dataset=dataset)
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    return render(request, "exchange/delivery_list.html", {"page": page, "dataset": dataset})


@requires(Can.VIEW_EXCHANGE)
@require_GET
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = scope.get_or_404(request.user, Delivery, pk=pk)  # type: ignore[arg-type]
    if request.htmx:  # type: ignore[attr-defined]
        if delivery.status in (Status.QUEUED, Status.PROCESSING):
            return render(request, "exchange/_progress.html", {"delivery": delivery})
        finished = HttpResponse(status=204)
        finished["HX-Refresh"] = "true"  # the import ended: reload the whole page with the results
        return finished
    sample = reports.quarantine_rows(delivery)
    explained = reports.reason_messages(sample)
    reasons = [
        (code, explained.get(code, ""), n)
        for code, n in sorted(delivery.reasons.items(), key=lambda kv: -kv[1])
    ]
    return render(
        request, "exchange/delivery_detail.html", {"delivery": delivery, "sample": sample, "reasons": reasons}
    )


@requires(Can.VIEW_EXCHANGE)
@require_GET
def delivery_corrections(request: HttpRequest, pk: int) -> HttpResponse:
    """The rejected rows as a workbook to correct and upload again (IDs and names masked)."""
    user: User = request.user  # type: ignore[assignment]
    delivery = scope.get_or_404(user, Delivery, pk=pk)
    content, rows = reports.correction_workbook(delivery)
    record(
        Event.EXPORT,
        actor=user,
        object_type="delivery",
        object_id=delivery.pk,
        data={"kind": "rejected_rows", "rows": rows},
    )
    return _xlsx(content, f"delivery-{delivery.pk}-{delivery.dataset}-{delivery.period}-rejected.xlsx")


@requires(Can.VIEW_EXCHANGE)
@require_GET
def dataset_template(request: HttpRequest, dataset: str) -> HttpResponse:
    """A blank workbook for one dataset: two-language headers, drop-down code lists, field notes."""
    spec = actions.active_catalog().datasets.get(dataset)
    if spec is None:
        raise Http404("未知数据集")
    return _xlsx(reports.template_workbook(spec), f"template-{dataset}.xlsx")


def _xlsx(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@requires(Can.VIEW_EXCHANGE)
@require_GET
def delivery_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The per-delivery report as an Excel workbook (IDs as text and masked)."""
    user: User = request.user  # type: ignore[assignment]
    delivery = scope.get_or_404(user, Delivery, pk=pk)
    try:
        purpose = privacy.purpose_from(request.GET)
    except privacy.PrivacyError as exc:
        return render(request, "privacy/refused.html", {"message": str(exc)}, status=400)
    content, rows = reports.delivery_workbook(delivery)
    record(
        Event.EXPORT,
        actor=user,
        object_type="delivery",
        object_id=delivery.pk,
        reason=purpose.note,
        data={"kind": "delivery_report", "rows": rows, **purpose.audit_data()},
    )
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="delivery-{delivery.pk}-{delivery.dataset}-{delivery.period}.xlsx"'
    )
    return response


def _uploadable(user: User) -> list[tuple[str, str]]:
    catalog = actions.active_catalog()
    return [
        (name, f"{spec.zh}（{name}）")
        for name, spec in catalog.datasets.items()
        if spec.department == user.department
    ]


@requires(Can.UPLOAD_DATA)
@require_http_methods(["GET", "POST"])
def upload(request: HttpRequest) -> HttpResponse:
    """A data officer delivers one file; the import runs as a background job and the page shows progress."""
    user: User = request.user  # type: ignore[assignment]
    form = UploadForm(request.POST or None, request.FILES or None, datasets=_uploadable(user))
    if request.method == "POST" and form.is_valid():
        try:
            delivery = actions.queue_upload(
                actor=user,
                dataset=form.cleaned_data["dataset"],
                period=form.cleaned_data["period"],
                upload=form.cleaned_data["file"],
            )
        except actions.ExchangeError as exc:  # e.g. a correction workbook for another dataset
            form.add_error(None, str(exc))
        else:
            return redirect("exchange:delivery_detail", pk=delivery.pk)
    return render(request, "exchange/upload.html", {"form": form})


@requires(Can.VIEW_EXCHANGE)
@require_GET
def quality_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    department = user.department if user.role == Role.DATA_OFFICER else None
    table = quality.department_months(
        scope.deliveries(user), months=6, today=timezone.localdate(), department=department
    )
    context = {"table": table, "alerts": quality.alerts(table), "due_day": settings.FANGPIN_DELIVERY_DUE_DAY}
    return render(request, "exchange/quality.html", context)


@requires(Can.REVIEW_LINKS)
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    pending = (
        scope.link_reviews(request.user)  # type: ignore[arg-type]
        .filter(decision=LinkReview.Decision.PENDING)
        .select_related("village", "delivery")
    )
    page = Paginator(pending, 50).get_page(request.GET.get("page"))
    keys = {c["person_key"] for review in page for c in review.candidates}
    people = {p.pk: p for p in Person.objects.filter(pk__in=keys)}
    rows = [(review, [(c, people.get(c["person_key"])) for c in review.candidates]) for review in page]
    return render(request, "exchange/review_list.html", {"page": page, "rows": rows})


@requires(Can.REVIEW_LINKS)
@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    review = scope.get_or_404(user, LinkReview, pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return HttpResponse("请选择候选人员或“无匹配”", status=400)
    try:
        actions.decide_link(
            review, person_key=form.cleaned_data["person"], actor=user, version=form.cleaned_data["version"]
        )
        messages.success(request, "已记录。")
    except actions.Conflict as exc:
        return HttpResponse(str(exc), status=409)
    except actions.ExchangeError as exc:
        return HttpResponse(str(exc), status=400)
    return redirect("exchange:review_list")


@requires(Can.MANAGE_TOKENS)
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = actions.create_token(
            department=form.cleaned_data["department"], name=form.cleaned_data["name"], actor=user
        )
        form = TokenForm()
    tokens = scope.department_tokens(user).order_by("-created_at")
    return render(request, "exchange/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token})


@requires(Can.MANAGE_TOKENS)
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    token = scope.get_or_404(user, DepartmentToken, pk=pk)
    actions.revoke_token(token, actor=user)
    messages.success(request, "令牌已停用。")
    return redirect("exchange:token_list")
