"""Every state change of a lead goes through one function here (transaction, audit row, side effects on
commit). Three channels feed one queue: `import_screening` (department warnings, batch or incremental),
`declare` (a farmer's self-declaration), `report_lead` (a cadre's field report). A duplicate for a
household that already has an open lead of the same kind is merged into it, keeping both provenances."""

from __future__ import annotations

import datetime as dt
import importlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Field
from django.urls import reverse
from django.utils import timezone

from fangpin.accounts.roles import Can, Role
from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.cases import monitoring
from fangpin.kernel import ActionError, lock, outermost
from fangpin.kernel import Conflict as Conflict  # re-exported: the views catch actions.Conflict
from fangpin.lib.risks import MAX_RISK_TYPES, RISK_TYPES
from fangpin.pipeline.catalog import Catalog
from fangpin.pipeline.policy import Policy, Rule
from fangpin.pipeline.screen import ScreenResult
from fangpin.regions.models import Region
from fangpin.registry.models import Household, Membership
from fangpin.warnings import portrait_info
from fangpin.warnings.models import (
    OPEN_STATUSES,
    Channel,
    Declaration,
    Lead,
    LeadKind,
    LeadSource,
    LeadStatus,
    Outcome,
    ScreeningRun,
)

ACCEPT_DAYS = 2  # the township accepts a self-declaration within 2 days (POLICY.md)
CONSENT_VERSION = "2026-1"
CONSENT_TEXT = (
    "本人承诺所填信息真实、准确、完整，如有虚假愿承担相应责任。本人授权当地乡镇人民政府、村民委员会及"
    "相关部门为核实本户是否符合防止返贫致贫监测条件，查询、核对本人及共同生活家庭成员的户籍、收入、"
    "医疗、教育、住房、社会保障、车辆、房产、市场主体、存款等信息；上述信息仅用于防返贫监测帮扶工作，"
    "依法保密，不作他用。"
)
# Rate limits of the public declaration form (a day per ID number, an hour per client address).
DECLARATIONS_PER_ID_PER_DAY = 3
DECLARATIONS_PER_CLIENT_PER_HOUR = 10


class LeadError(ActionError):
    """A request that cannot be carried out: the message is shown to the user as is."""


class RateLimited(LeadError):
    pass


def current_period(now: dt.datetime | None = None) -> str:
    return timezone.localtime(now or timezone.now()).strftime("%Y-%m")


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


# --- permission and locking helpers ----------------------------------------------------------------


def _check(actor: Any, capability: Can, lead: Lead | None = None) -> None:
    """Actions check again what views already checked: an API or a future caller cannot skip it."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.can(capability):
        raise PermissionDenied("您的角色无权进行此操作")
    if lead is not None:
        from fangpin.accounts import scope

        if not scope.leads(actor).filter(pk=lead.pk).exists():
            raise PermissionDenied("该线索不在您的管辖范围内")


def _locked(lead: Lead, expected_version: int | None) -> Lead:
    return lock(Lead, lead.pk, expected_version, message="该线索已被他人处理或修改，请刷新后重试")


def _notify(users: Any, title: str, url: str, *, target: Lead | None = None) -> None:
    """Inbox message (+ robots) via the notifications app when it is installed; it defers the sending to
    the commit itself."""
    try:
        notify = importlib.import_module("fangpin.notifications.actions").notify
    except (ImportError, AttributeError):
        return
    recipients = list(users)
    if recipients:
        notify(recipients, title, url=url, verb="lead", target=target)


def _notify_many(messages: list[tuple[list[Any], str, str]], *, verb: str) -> None:
    """Many inbox messages (recipients, title, url) written in bulk, sent on commit."""
    try:
        notify_many = importlib.import_module("fangpin.notifications.actions").notify_many
    except (ImportError, AttributeError):
        return
    notify_many(messages, verb=verb)


def _township_reviewers(region_id: str) -> Any:
    from fangpin.accounts.models import User

    township = region_id[:9]
    return User.objects.filter(role=Role.TOWNSHIP_REVIEWER, region_id=township, is_active=True)


# --- merging ----------------------------------------------------------------------------------------


def _union(first: Sequence[str], second: Sequence[str], limit: int | None = None) -> list[str]:
    out = list(first)
    for item in second:
        if item and item not in out:
            out.append(item)
    return out[:limit] if limit else out


def _split(text: str, sep: str) -> list[str]:
    return [t for t in text.split(sep) if t]


def _sync_sources(lead: Lead, datasets: Sequence[str], catalog: Catalog | None = None) -> None:
    if not datasets:
        return
    if catalog is None:
        from fangpin.exchange.actions import active_catalog

        catalog = active_catalog()
    have = set(lead.sources.values_list("dataset", flat=True))
    LeadSource.objects.bulk_create(
        [
            LeadSource(lead=lead, dataset=ds, department=catalog.datasets[ds].department)
            for ds in datasets
            if ds not in have and ds in catalog.datasets
        ]
    )


ABSORBED_FIELDS = [
    "risk_types",
    "rules",
    "reasons",
    "datasets",
    "score",
    "grade",
    "category",
    "portrait_snapshot",
    "explanation",
    "policy_id",
    "policy_hash",
    "model_version",
    "accept_deadline",
    "provenance",
]


def _absorb_fields(primary: Lead, dup: Lead) -> None:
    """Fold what `dup` knows into `primary`, in memory (idempotent: absorbing the same lead twice changes
    nothing more). The newest screening facts (snapshot, versions, explanation) win; lists are unions."""
    primary.risk_types = ";".join(_union(primary.risk_type_list(), dup.risk_type_list(), MAX_RISK_TYPES))
    primary.rules = ";".join(_union(_split(primary.rules, ";"), _split(dup.rules, ";")))
    primary.reasons = "；".join(_union(_split(primary.reasons, "；"), _split(dup.reasons, "；")))
    primary.datasets = _union(primary.datasets, dup.datasets)
    if dup.portrait_snapshot:
        # the newest screening speaks for the household (scores of different model versions don't compare)
        primary.score, primary.grade = dup.score, dup.grade or primary.grade
        primary.category = dup.category or primary.category
        primary.portrait_snapshot = dup.portrait_snapshot
        primary.explanation = dup.explanation or primary.explanation
        primary.policy_id, primary.policy_hash = dup.policy_id, dup.policy_hash
        primary.model_version = dup.model_version
    elif dup.score > primary.score:
        primary.score, primary.grade = dup.score, dup.grade or primary.grade
    primary.category = primary.category or dup.category
    if dup.accept_deadline and (not primary.accept_deadline or dup.accept_deadline < primary.accept_deadline):
        primary.accept_deadline = dup.accept_deadline
    if not any(p.get("lead") == dup.pk for p in primary.provenance):
        primary.provenance = [
            *primary.provenance,
            *({**p, "lead": dup.pk, "merged": True} for p in dup.provenance),
        ]


def _absorb(primary: Lead, dup: Lead, catalog: Catalog | None = None) -> None:
    """Fold `dup` into `primary` and save it (see `_absorb_fields`)."""
    _absorb_fields(primary, dup)
    primary.bump(ABSORBED_FIELDS)
    _sync_sources(primary, dup.datasets, catalog)


def survivor(lead: Lead) -> Lead:
    seen = {lead.pk}
    while lead.merged_into_id is not None and lead.merged_into_id not in seen:
        lead = Lead.objects.get(pk=lead.merged_into_id)
        seen.add(lead.pk)
    return lead


def _open_duplicate(lead: Lead) -> Lead | None:
    """The open lead already in the queue for the same household and kind (the oldest one)."""
    if lead.household_id is None:
        return None
    return (
        Lead.objects.select_for_update()
        .filter(household_id=lead.household_id, kind=lead.kind, status__in=OPEN_STATUSES)
        .exclude(pk=lead.pk)
        .order_by("created_at", "pk")
        .first()
    )


def _merge(primary: Lead, dup: Lead, catalog: Catalog | None = None) -> Lead:
    _absorb(primary, dup, catalog)
    dup.status, dup.merged_into = LeadStatus.MERGED, primary
    dup.bump(["status", "merged_into"])
    return primary


@transaction.atomic
def merge_leads(primary: Lead, duplicate: Lead, *, actor: Any) -> Lead:
    """A township merges two open leads of the same household by hand (the automatic merge covers
    leads of the same kind)."""
    _check(actor, Can.DISPATCH_LEADS, primary)
    _check(actor, Can.DISPATCH_LEADS, duplicate)
    primary, duplicate = _locked(primary, None), _locked(duplicate, None)
    if primary.pk == duplicate.pk:
        raise LeadError("不能与自身合并")
    if not (primary.is_open and duplicate.is_open):
        raise LeadError("只能合并未办结的线索")
    if primary.household_id is None or primary.household_id != duplicate.household_id:
        raise LeadError("只能合并同一农户的线索")
    _merge(primary, duplicate)
    record(
        Event.LEAD_MERGED,
        actor=actor,
        object_type="lead",
        object_id=primary.pk,
        data={"merged": duplicate.pk, "channel": duplicate.channel},
    )
    return primary


# --- channel 1: department screening -----------------------------------------------------------------


def monitored_risks(household_ids: Iterable[int]) -> dict[int, set[str]]:
    """Recorded risk types of the households monitored now (cases.monitoring: 录入 or green channel, not
    rejected, not eliminated), so a warning names only the risks not already being helped."""
    ids = set(household_ids)
    return monitoring.monitored_risks(ids) if ids else {}


def _rules_by_id(policy: Policy | None, result: ScreenResult) -> dict[str, Rule]:
    if policy is None or policy.content_hash != result.policy_hash:
        from fangpin.warnings.screening import rules_of

        return rules_of(result.policy_hash)
    return {r.id: r for r in policy.rules}


IMPORT_CHUNK = 2000  # warnings per chunk: a few queries each, whatever the chunk's size
Progress = Callable[[int, int], None]  # (warnings done, warnings in all)
# what a re-import or a merge changes on a lead (bulk_update sets updated_at itself: no auto_now there)
_UPDATED_FIELDS = [
    *ABSORBED_FIELDS,
    "village",
    "screening_run",
    "version",
    "updated_at",
]


def _write_back(leads: list[Lead], fields: list[str]) -> None:
    """Save these fields of many leads as ONE statement executed per row (`executemany`): Django's
    bulk_update builds a CASE expression per field and row, ≈ 3 ms a row in Python at 17 fields."""
    columns: list[Field[Any, Any]] = []
    for name in fields:
        field = Lead._meta.get_field(name)
        assert isinstance(field, Field)
        columns.append(field)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(c.column))} = %s" for c in columns)
    pk = quote(str(Lead._meta.pk.column if Lead._meta.pk else "id"))
    sql = f"UPDATE {quote(Lead._meta.db_table)} SET {assignments} WHERE {pk} = %s"  # noqa: S608 - model names
    rows = [
        [c.get_db_prep_save(getattr(lead, c.attname), connection) for c in columns] + [lead.pk]
        for lead in leads
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


class _Importer:
    """One `import_screening` call, chunk by chunk: every chunk costs a fixed handful of queries (households,
    monitored risks, the period's department leads, open duplicates, village capacity, bulk writes), not a
    few per warning. The identity map makes every change to one row accumulate on one object."""

    def __init__(
        self,
        result: ScreenResult,
        run: ScreeningRun,
        *,
        rules: dict[str, Rule],
        catalog: Catalog,
        trigger: str,
        capacity: int | None,
    ) -> None:
        self.result, self.run, self.rules, self.catalog = result, run, rules, catalog
        self.trigger, self.capacity = trigger, capacity
        self.known_columns = result.portraits.column_names
        self.now = timezone.now()
        self.counts = {"created": 0, "updated": 0, "merged": 0, "skipped": 0}
        self.new_by_township: dict[str, int] = {}

    def _stamp(self) -> dict[str, Any]:
        return {
            "channel": Channel.DEPARTMENT,
            "run": self.run.pk,
            "as_of": self.result.as_of,
            "trigger": self.trigger,
            "at": self.now.isoformat(),
        }

    def _fields(
        self,
        w: dict[str, Any],
        household: Household,
        types: list[str],
        matched: list[Rule],
        row: dict[str, Any],
    ) -> dict[str, Any]:
        columns = portrait_info.snapshot_columns(matched, self.known_columns)
        return {
            "village_id": household.village_id,
            "risk_types": ";".join(types[:MAX_RISK_TYPES]),
            "category": w["category"] or "",
            "grade": w["grade"] or "",
            "score": float(w["score"] or 0.0),
            "reasons": w["reasons"] or "",
            "explanation": w.get("explanation") or "",
            "rules": ";".join(r.id for r in matched) if matched else (w["rules"] or ""),
            "policy_id": self.result.policy_id,
            "policy_hash": self.result.policy_hash,
            "model_version": self.result.model_version,
            "portrait_snapshot": portrait_info.snapshot(row, columns),
            "datasets": portrait_info.datasets_for(matched, row, self.known_columns),
        }

    def chunk(self, warnings: list[dict[str, Any]], portraits: dict[int, dict[str, Any]]) -> None:
        as_of = self.result.as_of
        numbers = {w["household_no"] for w in warnings}
        households = {
            h.household_no: h
            for h in Household.objects.filter(household_no__in=numbers).only(
                "pk", "household_no", "village_id"
            )
        }
        ids = [h.pk for h in households.values()]
        monitored = monitored_risks(ids)
        leads: dict[int, Lead] = {}  # identity map: every row loaded or made in this chunk, by pk
        # this period's department lead of each (household, kind), the newest one
        existing: dict[tuple[int, str], Lead] = {}
        for lead in (
            Lead.objects.select_for_update()
            .filter(channel=Channel.DEPARTMENT, period=as_of, household_id__in=ids)
            .order_by("-pk")
        ):
            leads[lead.pk] = lead
            if lead.household_id is not None:
                existing.setdefault((lead.household_id, lead.kind), lead)
        # the open lead a new one would merge into: the oldest open lead of the household and kind (any
        # other channel or period: this period's department lead of that kind is `existing` above)
        duplicates: dict[tuple[int, str], Lead] = {}
        for lead in (
            Lead.objects.select_for_update()
            .filter(household_id__in=ids, status__in=OPEN_STATUSES)
            .exclude(channel=Channel.DEPARTMENT, period=as_of)
            .order_by("created_at", "pk")
        ):
            leads[lead.pk] = lead
            if lead.household_id is not None:
                duplicates.setdefault((lead.household_id, lead.kind), lead)
        used: dict[str, int] = {}
        if self.capacity is not None:
            used = dict(
                Lead.objects.filter(
                    channel=Channel.DEPARTMENT,
                    kind=LeadKind.VERIFY,
                    period=as_of,
                    village_id__in={h.village_id for h in households.values()},
                )
                .exclude(status=LeadStatus.MERGED)
                .order_by()
                .values("village_id")
                .annotate(n=Count("pk"))
                .values_list("village_id", "n")
            )
        new: list[Lead] = []
        dirty: dict[int, Lead] = {}  # existing rows to write back
        absorb_into_survivor: list[Lead] = []  # re-imported leads that were merged before
        for w in warnings:
            household = households.get(w["household_no"])
            kind = w["prompt"]
            if household is None or kind not in LeadKind.values:
                self.counts["skipped"] += 1
                continue
            types = _split(w["risk_types"], ";")
            matched = [self.rules[r] for r in _split(w["rules"], ";") if r in self.rules]
            known = monitored.get(household.pk)
            if known is not None and kind in (LeadKind.VERIFY, LeadKind.ADJUST):
                # monitored in the workflow (the lake's roster may lag): only a new risk is news
                fresh = [t for t in types if t not in known]
                if not fresh:
                    self.counts["skipped"] += 1
                    continue
                kind, types = LeadKind.ADJUST, fresh
                matched = [r for r in matched if r.risk_type in fresh]
            fields = self._fields(w, household, types, matched, portraits.get(w["household_key"], {}))
            found = existing.get((household.pk, kind))
            if found is not None:
                if found.status not in (*OPEN_STATUSES, LeadStatus.MERGED):
                    self.counts["skipped"] += 1  # decided for this period; the next period may warn again
                    continue
                for name, value in fields.items():
                    setattr(found, name, value)
                found.screening_run = self.run
                found.provenance = [*found.provenance, self._stamp()]
                found.version += 1
                if found.pk is not None:
                    dirty[found.pk] = found
                    if found.status == LeadStatus.MERGED:
                        absorb_into_survivor.append(found)
                self.counts["updated"] += 1
                continue
            full = self.capacity is not None and used.get(household.village_id, 0) >= self.capacity
            if full and kind == LeadKind.VERIFY and fields["grade"] != "高":
                self.counts["skipped"] += 1
                continue
            lead = Lead(
                household=household,
                channel=Channel.DEPARTMENT,
                kind=kind,
                period=as_of,
                screening_run=self.run,
                provenance=[self._stamp()],
                **fields,
            )
            primary = duplicates.get((household.pk, kind))
            if primary is not None:
                # merged at once (the row is written merged, as create-then-merge would leave it)
                lead.status, lead.merged_into, lead.version = LeadStatus.MERGED, primary, 2
                self.counts["merged"] += 1
            else:
                self.counts["created"] += 1
                township = household.village_id[:9]
                self.new_by_township[township] = self.new_by_township.get(township, 0) + 1
                if kind == LeadKind.VERIFY:
                    used[household.village_id] = used.get(household.village_id, 0) + 1
            existing[(household.pk, kind)] = lead
            new.append(lead)
        self._flush(new, dirty, absorb_into_survivor, leads)

    def _survivors(self, merged: list[Lead], leads: dict[int, Lead]) -> dict[int, Lead]:
        """The lead each merged lead ended up in (following chains, a query per link level)."""

        def load(pks: set[int]) -> None:
            missing = {pk for pk in pks if pk not in leads}
            if missing:
                for lead in Lead.objects.select_for_update().filter(pk__in=missing):
                    leads[lead.pk] = lead

        out: dict[int, Lead] = {}
        pending = {lead.pk: lead for lead in merged}
        seen: dict[int, set[int]] = {pk: {pk} for pk in pending}
        while pending:
            load({lead.merged_into_id for lead in pending.values() if lead.merged_into_id is not None})
            step: dict[int, Lead] = {}
            for origin, lead in pending.items():
                target = lead.merged_into_id
                if target is None or target in seen[origin]:
                    out[origin] = lead
                    continue
                seen[origin].add(target)
                step[origin] = leads[target]
            pending = step
        return out

    def _flush(
        self, new: list[Lead], dirty: dict[int, Lead], absorb: list[Lead], leads: dict[int, Lead]
    ) -> None:
        sources: dict[int, list[str]] = {}  # lead pk → datasets it must list

        def want(lead: Lead, datasets: Sequence[str]) -> None:
            if lead.pk is not None and datasets:
                sources[lead.pk] = _union(sources.get(lead.pk, []), datasets)

        Lead.objects.bulk_create(new, batch_size=500)
        for lead in new:
            want(lead, lead.datasets)
            if lead.merged_into is not None:
                primary = leads.get(lead.merged_into.pk, lead.merged_into)
                _absorb_fields(primary, lead)
                primary.version += 1
                dirty[primary.pk] = primary
                want(primary, lead.datasets)
        for lead in dirty.values():
            want(lead, lead.datasets)
        if absorb:
            survivors = self._survivors(absorb, leads)
            for lead in absorb:
                target = survivors[lead.pk]
                if target.pk == lead.pk:
                    continue
                _absorb_fields(target, lead)
                target.version += 1
                dirty[target.pk] = target
                want(target, lead.datasets)
        if dirty:
            for lead in dirty.values():
                lead.updated_at = self.now
            _write_back(list(dirty.values()), _UPDATED_FIELDS)
        if sources:
            have = set(
                LeadSource.objects.filter(lead_id__in=[pk for pk in sources if pk in dirty]).values_list(
                    "lead_id", "dataset"
                )
            )
            LeadSource.objects.bulk_create(
                [
                    LeadSource(lead_id=pk, dataset=ds, department=self.catalog.datasets[ds].department)
                    for pk, datasets in sources.items()
                    for ds in datasets
                    if (pk, ds) not in have and ds in self.catalog.datasets
                ],
                batch_size=1000,
            )

    def notify_townships(self) -> None:
        """One message per township with new leads; the reviewers of every township in one query and the
        inbox rows and robot posts written in bulk (sent once the import commits)."""
        if not self.new_by_township:
            return
        from fangpin.accounts.models import User

        reviewers: dict[str, list[Any]] = {}
        for user in User.objects.filter(
            role=Role.TOWNSHIP_REVIEWER, region_id__in=list(self.new_by_township), is_active=True
        ):
            reviewers.setdefault(user.region_id, []).append(user)
        url = reverse("warnings:lead_list")
        _notify_many(
            [
                (
                    reviewers.get(township, []),
                    f"部门筛查新增{n}条预警线索（{self.result.as_of}），请受理",
                    url,
                )
                for township, n in sorted(self.new_by_township.items())
            ],
            verb="lead",
        )


@transaction.atomic
def import_screening(
    result: ScreenResult,
    *,
    actor: Any = None,
    policy: Policy | None = None,
    trigger: str = "batch",
    engine: str = "duckdb",
    started_at: dt.datetime | None = None,
    capacity: int | None = None,
    progress: Progress | None = None,
    chunk_size: int = IMPORT_CHUNK,
) -> ScreeningRun:
    """Store the pushed warnings of a screening as department leads (one per household, period and kind).

    `capacity` (the incremental path, which screens a few households only): a new verification lead is
    added to a village that already has `capacity` department verification leads this period only if its
    grade is 高 — a severe event is not held back a month, a routine one waits for the monthly ranking.

    Idempotent: importing the same period again updates the leads it made (a lead already decided —
    rejected or closed — stays decided). A household monitored in the workflow is not re-warned for a
    risk it is monitored for: a new risk becomes an 'adjust assistance' lead with the new types only.
    A warning for a household that already has an open lead of the same kind merges into that lead.

    Set-based: `chunk_size` warnings at a time, each chunk a fixed handful of queries (docs/leads.md);
    one transaction and one audit row for the whole run. `progress(done, total)` after each chunk.
    """
    from fangpin.exchange.actions import active_catalog

    run = ScreeningRun.objects.create(
        as_of=result.as_of,
        policy_id=result.policy_id,
        policy_hash=result.policy_hash,
        model_version=result.model_version,
        engine=engine,
        trigger=trigger,
        households=result.portraits.num_rows,
        warnings=result.warnings.num_rows,
        started_at=started_at or timezone.now(),
    )
    importer = _Importer(
        result,
        run,
        rules=_rules_by_id(policy, result),
        catalog=active_catalog(),
        trigger=trigger,
        capacity=capacity,
    )
    total = result.warnings.num_rows
    # each warning's portrait row (one hash lookup over the portraits, then a take per chunk)
    found_at = pc.index_in(
        result.warnings.column("household_key"),
        value_set=result.portraits.column("household_key").combine_chunks(),
    )
    rows = found_at.combine_chunks() if isinstance(found_at, pa.ChunkedArray) else found_at
    size = max(1, chunk_size)
    for start in range(0, total, size):
        batch = result.warnings.slice(start, size).to_pylist()
        where = rows.slice(start, size)
        found = pc.drop_null(where)
        portraits = (
            {row["household_key"]: row for row in result.portraits.take(found).to_pylist()}
            if len(found)
            else {}
        )
        importer.chunk(batch, portraits)
        if progress is not None:
            progress(min(start + size, total), total)
    counts = importer.counts
    run.created, run.updated, run.merged, run.skipped = (
        counts["created"],
        counts["updated"],
        counts["merged"],
        counts["skipped"],
    )
    run.finished_at = timezone.now()
    run.save(update_fields=["created", "updated", "merged", "skipped", "finished_at"])
    importer.notify_townships()
    record(
        Event.SCREENING_IMPORTED,
        actor=actor,
        username="" if actor else f"system:{trigger}",
        object_type="screening_run",
        object_id=run.pk,
        data={
            "as_of": result.as_of,
            "policy": result.policy_id,
            "model": result.model_version,
            **counts,
        },
    )
    return run


# --- channel 2: self-declaration ----------------------------------------------------------------------


def _reason_zh(code: str) -> str:
    return f"{code}{RISK_TYPES.get(code, '')}"


def new_receipt() -> str:
    """ZS-12345-67890: ten random digits (10^10 numbers), read out over the phone in two groups of five.
    The old ZS000123 was the lead's primary key: anyone could count the declarations of the county."""
    while True:
        digits = f"{secrets.randbelow(10**10):010d}"
        receipt = f"ZS-{digits[:5]}-{digits[5:]}"
        if not Declaration.objects.filter(receipt=receipt).exists():
            return receipt


@transaction.atomic
def declare(
    *,
    village: Region,
    name: str,
    id_number: str,
    phone: str,
    reason_category: str,
    reason_text: str,
    client_key: str,
    now: dt.datetime | None = None,
) -> Lead:
    """A farmer's self-declaration from the public form. Matched to the household the ID number currently
    belongs to; an unmatched declaration stays in the token's village for the township to match."""
    now = now or timezone.now()
    if reason_category not in RISK_TYPES:
        raise LeadError("请选择申报原因")
    per_id = _setting("FANGPIN_DECLARATIONS_PER_ID_PER_DAY", DECLARATIONS_PER_ID_PER_DAY)
    per_client = _setting("FANGPIN_DECLARATIONS_PER_CLIENT_PER_HOUR", DECLARATIONS_PER_CLIENT_PER_HOUR)
    if (
        Declaration.objects.filter(id_number=id_number, created_at__gte=now - dt.timedelta(days=1)).count()
        >= per_id
    ):
        raise RateLimited(f"该身份证号码24小时内已申报{per_id}次，请勿重复提交；如情况紧急请直接联系村委会。")
    if (
        Declaration.objects.filter(client_key=client_key, created_at__gte=now - dt.timedelta(hours=1)).count()
        >= per_client
    ):
        raise RateLimited("提交过于频繁，请一小时后再试；如情况紧急请直接联系村委会。")
    membership = (
        Membership.objects.filter(person__id_number=id_number, end_date__isnull=True)
        .select_related("household")
        .first()
    )
    household = membership.household if membership else None
    reasons = f"农户自主申报：{_reason_zh(reason_category)}"
    if reason_text:
        reasons += f"（{reason_text[:200]}）"
    lead = Lead.objects.create(
        household=household,
        village_id=household.village_id if household else village.pk,
        channel=Channel.SELF_DECLARATION,
        kind=LeadKind.VERIFY,
        period=current_period(now),
        risk_types=reason_category,
        reasons=reasons,
        accept_deadline=now + dt.timedelta(days=ACCEPT_DAYS),
        provenance=[
            {
                "channel": Channel.SELF_DECLARATION,
                "at": now.isoformat(),
                "via": "qr",
                "qr_village": village.pk,
                "matched": household is not None,
            }
        ],
    )
    Declaration.objects.create(
        lead=lead,
        name=name,
        id_number=id_number,
        phone=phone,
        reason_category=reason_category,
        reason_text=reason_text,
        consent_version=CONSENT_VERSION,
        consent_at=now,
        client_key=client_key,
        receipt=new_receipt(),
    )
    record(
        Event.LEAD_DECLARED,
        username="public",
        object_type="lead",
        object_id=lead.pk,
        data={"village": lead.village_id, "matched": household is not None, "reason": reason_category},
    )
    survivor = lead
    duplicate_of = _open_duplicate(lead)
    if duplicate_of is not None:
        survivor = _merge(duplicate_of, lead)
    _notify(
        _township_reviewers(lead.village_id),
        f"新的农户自主申报（{lead.village.name}），请在2日内受理",
        reverse("warnings:lead_detail", args=[survivor.pk]),
        target=survivor,
    )
    return lead


# --- channel 3: cadre / grid worker report -----------------------------------------------------------


@transaction.atomic
def report_lead(*, household: Household, risk_types: Sequence[str], note: str, actor: Any) -> Lead:
    """A lead found in the field (干部走访排查) for a household in the reporter's scope."""
    _check(actor, Can.REPORT_LEAD)
    from fangpin.accounts import scope

    if not scope.households(actor).filter(pk=household.pk).exists():
        raise PermissionDenied("该农户不在您的管辖范围内")
    types = [t for t in dict.fromkeys(risk_types) if t in RISK_TYPES][:MAX_RISK_TYPES]
    if not types:
        raise LeadError("请至少选择一种风险类型")
    note = note.strip()
    if len(note) < 4:
        raise LeadError("请写明走访发现的情况（至少4个字）")
    now = timezone.now()
    lead = Lead.objects.create(
        household=household,
        village_id=household.village_id,
        channel=Channel.CADRE_REPORT,
        kind=LeadKind.VERIFY,
        period=current_period(now),
        risk_types=";".join(types),
        reasons=f"干部走访排查：{note[:500]}",
        provenance=[
            {
                "channel": Channel.CADRE_REPORT,
                "at": now.isoformat(),
                "reporter": actor.username,
                "role": actor.role,
                "region": actor.region_id,
            }
        ],
    )
    record(
        Event.LEAD_REPORTED,
        actor=actor,
        object_type="lead",
        object_id=lead.pk,
        data={"household": household.pk, "risk_types": types},
    )
    survivor_lead = lead
    duplicate_of = _open_duplicate(lead)
    if duplicate_of is not None:
        survivor_lead = _merge(duplicate_of, lead)
    _notify(
        _township_reviewers(lead.village_id),
        f"{actor.full_name or actor.username}上报了走访排查线索（{household.village.name}）",
        reverse("warnings:lead_detail", args=[survivor_lead.pk]),
        target=survivor_lead,
    )
    return lead


# --- decisions -----------------------------------------------------------------------------------------


@outermost
def accept_lead(lead: Lead, *, actor: Any, expected_version: int | None = None) -> Lead:
    _check(actor, Can.DISPATCH_LEADS, lead)
    lead = _locked(lead, expected_version)
    if lead.status != LeadStatus.NEW:
        raise LeadError(f"该线索当前状态为“{lead.get_status_display()}”，不能受理")
    if lead.household_id is None:
        raise LeadError("请先为该申报匹配农户，再受理")
    lead.status, lead.accepted_at, lead.decided_by = LeadStatus.ACCEPTED, timezone.now(), actor
    lead.bump(["status", "accepted_at", "decided_by"])
    record(Event.LEAD_ACCEPTED, actor=actor, object_type="lead", object_id=lead.pk)
    return lead


@outermost
def reject_lead(lead: Lead, *, actor: Any, reason: str, expected_version: int | None = None) -> Lead:
    _check(actor, Can.DISPATCH_LEADS, lead)
    reason = reason.strip()
    if len(reason) < 4:
        raise LeadError("请填写不予受理的理由（至少4个字）")
    lead = _locked(lead, expected_version)
    if lead.status not in (LeadStatus.NEW, LeadStatus.ACCEPTED):
        raise LeadError(f"该线索当前状态为“{lead.get_status_display()}”，不能作不予受理处理")
    now = timezone.now()
    lead.status, lead.reject_reason, lead.decided_by = LeadStatus.REJECTED, reason[:1000], actor
    lead.outcome, lead.outcome_at = Outcome.REJECTED, now
    lead.bump(["status", "reject_reason", "decided_by", "outcome", "outcome_at"])
    _propagate_outcome(lead, Outcome.REJECTED, now)
    record(Event.LEAD_REJECTED, actor=actor, object_type="lead", object_id=lead.pk, reason=reason[:200])
    return lead


@outermost
def match_household(lead: Lead, household: Household, *, actor: Any) -> Lead:
    """The township matches an unmatched self-declaration to a household (in its scope)."""
    _check(actor, Can.DISPATCH_LEADS, lead)
    from fangpin.accounts import scope

    if not scope.households(actor).filter(pk=household.pk).exists():
        raise PermissionDenied("该农户不在您的管辖范围内")
    lead = _locked(lead, None)
    if lead.household_id is not None or lead.status != LeadStatus.NEW:
        raise LeadError("该线索已匹配农户")
    lead.household, lead.village_id = household, household.village_id
    lead.provenance = [*lead.provenance, {"matched_by": actor.username, "at": timezone.now().isoformat()}]
    lead.bump(["household", "village", "provenance"])
    record(
        Event.LEAD_MATCHED,
        actor=actor,
        object_type="lead",
        object_id=lead.pk,
        data={"household": household.pk},
    )
    duplicate_of = _open_duplicate(lead)
    if duplicate_of is not None:
        return _merge(duplicate_of, lead)
    return lead


@transaction.atomic
def mark_in_case(lead: Lead, *, actor: Any) -> Lead:
    """The cases app opened a case for this lead (W2's open_case calls this)."""
    lead = _locked(lead, None)
    if lead.status not in (LeadStatus.NEW, LeadStatus.ACCEPTED, LeadStatus.IN_CASE):
        raise LeadError(f"该线索当前状态为“{lead.get_status_display()}”，不能转入核实")
    if lead.status == LeadStatus.IN_CASE:
        return lead
    if lead.household_id is None:
        raise LeadError("请先为该申报匹配农户")
    lead.status = LeadStatus.IN_CASE
    if lead.accepted_at is None:
        lead.accepted_at = timezone.now()
    lead.bump(["status", "accepted_at"])
    record(Event.LEAD_IN_CASE, actor=actor, object_type="lead", object_id=lead.pk)
    return lead


def _propagate_outcome(lead: Lead, outcome: str, at: dt.datetime) -> None:
    """Merged duplicates share their survivor's outcome, so each department sees what became of the
    warnings its data triggered even when they were merged into another channel's lead."""
    pending = list(lead.merged_leads.all())
    while pending:
        dup = pending.pop()
        dup.outcome, dup.outcome_at = outcome, at
        dup.save(update_fields=["outcome", "outcome_at", "updated_at"])
        pending.extend(dup.merged_leads.all())


@transaction.atomic
def record_outcome(lead: Lead, outcome: str, *, actor: Any) -> Lead:
    """The result of verifying a lead (called by the cases app when a case ends); fed back to the exchange."""
    if outcome not in Outcome.values:
        raise LeadError(f"未知的处理结果：{outcome}")
    lead = _locked(lead, None)
    now = timezone.now()
    lead.outcome, lead.outcome_at = outcome, now
    if lead.status in OPEN_STATUSES:
        lead.status = LeadStatus.CLOSED
    lead.bump(["outcome", "outcome_at", "status"])
    _propagate_outcome(lead, outcome, now)
    record(Event.LEAD_OUTCOME, actor=actor, object_type="lead", object_id=lead.pk, data={"outcome": outcome})
    return lead
