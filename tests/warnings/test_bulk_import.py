"""Storing a province's screening: the queries of `import_screening` do not grow with the number of
warnings (a fixed handful per chunk of warnings; only the bulk writes split into batches), and the
set-based import keeps the one-lead-at-a-time behaviour: merges, re-imports, capacity."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import VILLAGE_A, VILLAGE_B
from fangpin.pipeline.screen import OUTPUT_SCHEMA, ScreenResult
from fangpin.warnings import actions, screening
from fangpin.warnings.models import Lead, LeadSource


def _households(n: int, start: int = 0) -> list[Any]:
    from fangpin.registry.models import Household

    made = Household.objects.bulk_create(
        [
            Household(
                household_no=f"B{start + i:09d}",
                household_type="former_poor",
                village_id=VILLAGE_A if i % 2 else VILLAGE_B,
            )
            for i in range(n)
        ]
    )
    return list(Household.objects.filter(household_no__in=[h.household_no for h in made]).order_by("pk"))


def _result(households: list[Any], policy: Any, grade: str = "中") -> ScreenResult:
    """A synthetic screening: one pushed verification warning per household (a costly hospital stay)."""
    rows = [
        {
            "household_key": h.pk,
            "household_no": h.household_no,
            "village_code": h.village_id,
            "household_type": "former_poor",
            "monitor_status": "none",
            "score": 0.5 + (i % 7) / 100,
            "grade": grade,
            "risk_types": "01",
            "category": "unstable",
            "rules": "MED-01",
            "reasons": "近12个月单次住院自付4.0万元",
            "prompt": "verify",
            "village_rank": 1,
            "pushed": True,
            "net_income_pc_12m": 7000.0,
            "explanation": "住院自付较高",
        }
        for i, h in enumerate(households)
    ]
    table = pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA)
    portraits = pa.table(
        {
            "household_key": pa.array([h.pk for h in households], pa.int64()),
            "members": pa.array([3] * len(households), pa.int64()),
            "max_inpatient_self_pay_12m": pa.array([40000.0] * len(households)),
            "net_income_pc_12m": pa.array([7000.0] * len(households)),
        }
    )
    return ScreenResult(
        "2026-10", policy.policy_id, policy.content_hash, 8300.0, table, table, portraits, "m-1"
    )


def _queries(result: ScreenResult, policy: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        run = actions.import_screening(result, policy=policy, **kwargs)
    return run, [q["sql"].lstrip().split(" ", 1)[0].upper() for q in ctx.captured_queries]


def _batches(rows: int, fields: int, cap: int) -> int:
    """Statements a bulk write of `rows` rows needs here: the import's batch size `cap`, or fewer rows per
    statement where the database caps a statement's parameters (SQLite)."""
    per = min(cap, connection.ops.bulk_batch_size(["f"] * fields, [None] * rows))
    return math.ceil(rows / max(1, per))


def test_it_imports_with_the_same_reads_for_50_or_500_warnings(world) -> None:
    policy = screening.active_policy()
    small, large = _households(50), _households(500, start=1000)
    run_small, q_small = _queries(_result(small, policy), policy)
    run_large, q_large = _queries(_result(large, policy), policy)
    assert (run_small.created, run_large.created) == (50, 500)
    assert Lead.objects.count() == 550 and LeadSource.objects.count() == 550
    # reads: identical, whatever the number of warnings
    assert q_large.count("SELECT") == q_small.count("SELECT"), (q_small, q_large)
    # writes: one bulk insert per table, split only where the database caps a statement's parameters
    extra = _batches(500, 30, 500) + _batches(500, 3, 1000)  # leads (30 columns), their sources (3)
    assert len(q_large) <= len(q_small) + extra
    assert len(q_large) < 60  # the old import ran ≈ 8 per warning: 4,000 here
    # a re-import updates in bulk: the reads stay flat again
    again_small, r_small = _queries(_result(small, policy), policy)
    again_large, r_large = _queries(_result(large, policy), policy)
    assert (again_small.updated, again_large.updated, again_large.created) == (50, 500, 0)
    assert r_large.count("SELECT") == r_small.count("SELECT")
    assert len(r_large) <= len(r_small) + _batches(500, 19, 200)  # bulk_update: pk twice + 17 fields
    assert Lead.objects.count() == 550
    assert {len(p) for p in Lead.objects.values_list("provenance", flat=True)} == {2}


def test_chunks_cost_a_fixed_number_of_reads_each_and_report_progress(world) -> None:
    policy = screening.active_policy()
    households = _households(300)
    seen: list[tuple[int, int]] = []
    run, queries = _queries(
        _result(households, policy), policy, chunk_size=100, progress=lambda d, t: seen.append((d, t))
    )
    assert run.created == 300 and Lead.objects.count() == 300
    assert seen == [(100, 300), (200, 300), (300, 300)]
    one_chunk = _queries(_result(_households(100, start=5000), policy), policy)[1].count("SELECT")
    # every extra chunk adds the chunk's reads (households, monitored, leads, duplicates, sources), no more
    assert queries.count("SELECT") <= one_chunk + 2 * 6


def test_a_bulk_import_merges_into_open_leads_and_a_re_import_does_not_repeat_provenance(
    world, make_lead
) -> None:
    policy = screening.active_policy()
    households = _households(40)
    reported = {
        h.pk: make_lead(h, channel="cadre_report", rules="", reasons="干部走访排查：住院")
        for h in households[:10]
    }
    run = actions.import_screening(_result(households, policy), policy=policy, chunk_size=16)
    assert (run.created, run.merged, run.updated) == (30, 10, 0)
    for pk, lead in reported.items():
        lead.refresh_from_db()
        department = Lead.objects.get(household_id=pk, channel="department")
        assert (department.status, department.merged_into_id, department.version) == ("merged", lead.pk, 2)
        assert [p["channel"] for p in lead.provenance] == ["department", "department"]
        assert lead.provenance[1]["lead"] == department.pk and lead.provenance[1]["merged"] is True
        assert "MED-01" in lead.rules and lead.portrait_snapshot["max_inpatient_self_pay_12m"] == 40000.0
        assert LeadSource.objects.filter(lead=lead, dataset="ms_settlement").exists()
        assert lead.version == 2
    again = actions.import_screening(_result(households, policy), policy=policy, chunk_size=16)
    assert (again.created, again.merged, again.updated) == (0, 0, 40)
    for lead in reported.values():
        lead.refresh_from_db()
        assert len(lead.provenance) == 2  # absorbed again, nothing repeated
        assert LeadSource.objects.filter(lead=lead).count() == 1
    # one open department lead per household and kind, the merged ones pointing at the cadres' leads
    assert Lead.objects.filter(channel="department", status="new").count() == 30


def test_the_incremental_capacity_counts_the_leads_made_earlier_in_the_same_import(world) -> None:
    policy = screening.active_policy()
    village_a = [h for h in _households(12) if h.village_id == VILLAGE_A]
    run = actions.import_screening(_result(village_a, policy), policy=policy, capacity=3)
    assert (run.created, run.skipped) == (3, len(village_a) - 3)
    severe = actions.import_screening(_result(village_a[3:4], policy, grade="高"), policy=policy, capacity=3)
    assert severe.created == 1
