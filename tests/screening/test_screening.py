"""Portraits, policy validation, rules, monitored households and capacity on tiny hand-made lakes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from fangpin.pipeline.engine import Engine
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.policy import PolicyError, load_policy, parse_policy
from fangpin.pipeline.portrait import build_portraits, rollup
from fangpin.pipeline.screen import screen
from screening.conftest import ENGINES, ON_POSTGRES_PASS
from screening.tinylake import OTHER_VILLAGE, VILLAGE, County, hno, put

D = dt.date.fromisoformat
CONTROL = 1


def _row(table: pa.Table, hk: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [r for r in table.to_pylist() if r["household_key"] == hk]
    assert len(rows) == 1, f"household {hk}: {len(rows)} rows"
    return rows[0]


# --- portraits -----------------------------------------------------------------------------------------


def test_point_in_time_later_delivery_invisible(lake: Lake, engine: Engine) -> None:
    c = County()
    pks = c.household(1)
    c.event(
        "ms_settlement",
        "2026-11",  # delivered late, for period 2026-11, although the stay was in October
        settlement_id="S1",
        id_number=f"P{pks[0]:017d}",
        settle_date=D("2026-10-15"),
        visit_type="inpatient",
        total_cost=30000,
        basic_paid=10000,
        critical_paid=0,
        assistance_paid=0,
        self_pay=20000,
        person_key=pks[0],
        household_key=1,
    )
    c.commit(lake, ("2026-10", "2026-11"))
    e = engine
    assert _row(build_portraits(lake, "2026-10", engine=e), 1)["max_inpatient_self_pay_12m"] == 0
    assert _row(build_portraits(lake, "2026-11", engine=e), 1)["max_inpatient_self_pay_12m"] == 20000
    # the incremental read of one household sees the same
    one = build_portraits(lake, "2026-11", engine=e, households=[1])
    assert one.num_rows == 1 and _row(one, 1)["max_inpatient_self_pay_12m"] == 20000


def test_income_estimate_survey_and_departments(lake: Lake, engine: Engine) -> None:
    c = County()
    c.household(1, workers=0)  # surveyed
    c.add(
        "ag_income",
        household_no=hno(1),
        year=2025,
        members=2,
        wage_income=10000,
        business_income=6000,
        business_cost=2000,
        property_income=0,
        transfer_income=2000,
        household_key=1,
    )
    pks = c.household(2, workers=1, wage=2000)  # departments only
    c.add(
        "hr_pension",
        id_number=f"P{pks[1]:017d}",
        contributing=False,
        receiving=True,
        monthly_pension=200,
        person_key=pks[1],
        household_key=2,
    )
    c.household(3, workers=0)  # no survey, no job
    c.commit(lake, ("2026-10",))
    t = build_portraits(lake, "2026-10", engine=engine)
    # one household alone: the unseen-income medians still come from every surveyed household
    assert build_portraits(lake, "2026-10", engine=engine, households=[3]).to_pylist() == [_row(t, 3)]
    surveyed, dept = _row(t, 1), _row(t, 2)
    assert surveyed["income_source"] == "survey"
    assert surveyed["income_pc_12m"] == pytest.approx(8000)  # (10000 + 6000 − 2000 + 0 + 2000) / 2
    assert dept["income_source"] == "departments"
    assert dept["wage_income_12m"] == pytest.approx(24000, rel=0.01)
    assert dept["pension_income_12m"] == pytest.approx(2400)
    # unseen income: no surveyed household with a registered job → the policy constant (3,000 元)
    assert dept["imputed_income_pc"] == pytest.approx(3000)
    assert dept["income_pc_12m"] == pytest.approx((24000 + 2400) / 2 + 3000, rel=0.01)
    # households without a job: what surveyed households without a job earned beyond department data
    assert _row(t, 3)["imputed_income_pc"] == pytest.approx(8000)
    assert _row(t, 3)["income_pc_12m"] == pytest.approx(8000)
    assert dept["members"] == 2 and dept["able_working_members"] == 2
    village = rollup(t, "village", line=8300).to_pylist()
    assert village[0]["households"] == 3 and village[0]["region_code"] == VILLAGE


# --- policy validation ----------------------------------------------------------------------------------

POLICY_HEAD = """
policy_id: t
province: "36"
monitoring_lines: {2026: 8300}
params: {big: 10000}
rules:
  - {id: R1, risk_type: "01", when: "%s"}
"""


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("max_inpatient_self_pay_12m >", "R1"),  # syntax
        ("no_such_column > 1", "no_such_column"),  # unknown column
        ("max_inpatient_self_pay_12m + 1", "boolean"),  # not boolean
        ("true", "constant"),  # matches everyone
        ("big > line", "constant"),  # params only: still a constant
        ("members > 0; DROP TABLE x", "not allowed"),
    ],
)
def test_policy_rejects_bad_rules(when: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(problem)) as info:
        parse_policy(POLICY_HEAD % when)
    assert "R1" in str(info.value)


def test_policy_rejects_unknown_risk_type_and_bad_unless() -> None:
    with pytest.raises(PolicyError, match="risk_type"):
        parse_policy(POLICY_HEAD.replace('"01"', '"08"') % "members > 0")
    bad_unless = POLICY_HEAD.replace('when: "%s"}', 'when: "members > 0", unless: "nope = 1"}')
    with pytest.raises(PolicyError, match="R1: unless"):
        parse_policy(bad_unless)


def test_default_policy_loads() -> None:
    p = load_policy()
    assert p.province == "36" and p.line(2025) == 8000 and p.line(2026) == 8300
    assert {r.risk_type for r in p.rules} >= {"01", "02", "03", "04", "05", "06", "07", "09", "99"}


# --- every shipped rule fires on a crafted household and not on the control -------------------------------


def _settle(c: County, pk: int, hk: int, sid: str, self_pay: float, visit: str = "inpatient") -> None:
    c.event(
        "ms_settlement",
        "2026-10",
        settlement_id=sid,
        id_number=f"P{pk:017d}",
        settle_date=D("2026-10-05"),
        visit_type=visit,
        total_cost=self_pay * 2,
        basic_paid=self_pay,
        critical_paid=0,
        assistance_paid=0,
        self_pay=self_pay,
        person_key=pk,
        household_key=hk,
    )


def _crafted() -> dict[str, Callable[[County, int], None]]:
    def inc(c: County, hk: int) -> None:
        c.household(hk, workers=0)

    def med1(c: County, hk: int) -> None:
        _settle(c, c.household(hk)[0], hk, f"S{hk}", 12000)

    def med2(c: County, hk: int) -> None:
        _settle(c, c.household(hk)[0], hk, f"S{hk}", 9000, "outpatient_chronic")

    def med3(c: County, hk: int) -> None:
        _settle(c, c.household(hk, workers=1, wage=1500)[0], hk, f"S{hk}", 13000, "outpatient_chronic")

    def med4(c: County, hk: int) -> None:
        pk = c.household(hk, workers=1, wage=1500)[0]
        c.add(
            "hc_disease",
            id_number="x",
            category="major",
            diagnosis_date=D("2026-08-01"),
            person_key=pk,
            household_key=hk,
        )

    def hlt(c: County, hk: int) -> None:
        pk = c.household(hk)[0]
        c.add(
            "ms_enrollment",
            id_number="x",
            year=2026,
            insured=False,
            subsidized=False,
            person_key=pk,
            household_key=hk,
        )

    def dis(c: County, hk: int) -> None:
        c.household(hk)
        c.event(
            "em_disaster",
            "2026-10",
            report_id=f"Z{hk}",
            household_no=hno(hk),
            event_date=D("2026-10-02"),
            kind="flood",
            house_damage="severe",
            loss_yuan=5000,
            household_key=hk,
        )

    def dsb(c: County, hk: int) -> None:
        pk = c.household(hk, workers=1, wage=1500)[1]
        c.add(
            "df_disability",
            id_number="x",
            kind="physical",
            grade=1,
            issue_date=D("2020-01-01"),
            person_key=pk,
            household_key=hk,
        )

    def lab1(c: County, hk: int) -> None:
        for _ in range(2):
            c.person(hk, hno(hk), VILLAGE, "1950-01-01")

    def lab2(c: County, hk: int) -> None:
        c.household(hk)
        c.person(hk, hno(hk), VILLAGE, "1980-01-01", status="deceased", died="2026-06-01")

    def acc(c: County, hk: int) -> None:
        pk = c.household(hk)[0]
        c.event(
            "em_accident",
            "2026-10",
            report_id=f"A{hk}",
            id_number="x",
            event_date=D("2026-10-03"),
            injury="severe",
            loss_yuan=1000,
            person_key=pk,
            household_key=hk,
        )

    def ind(c: County, hk: int) -> None:
        pk = c.household(hk, workers=1, wage=1500)[0]
        c.add(
            "mr_business",
            id_number="x",
            role="owner",
            entity_kind="individual",
            registered_capital=1000,
            status="closed",
            person_key=pk,
            household_key=hk,
        )

    def emp1(c: County, hk: int) -> None:
        pk = c.household(hk, workers=0)[0]
        c.add(
            "hr_unemployment",
            id_number="x",
            register_date=D("2026-09-01"),
            end_date=None,
            person_key=pk,
            household_key=hk,
        )

    def emp2(c: County, hk: int) -> None:
        pk = c.household(hk, workers=0)[0]
        c.job(hk, pk, 3000, "2020-01-01", "2025-10-31")
        c.job(hk, pk, 1200, "2025-11-01")

    def edu1(c: County, hk: int) -> None:
        c.household(hk)
        pk = c.person(hk, hno(hk), VILLAGE, "2013-01-01")
        c.add("ed_student", id_number="x", stage="junior", status="dropout", person_key=pk, household_key=hk)

    def edu2(c: County, hk: int) -> None:
        c.household(hk, workers=1, wage=1500)
        for _ in range(2):
            pk = c.person(hk, hno(hk), VILLAGE, "2006-01-01")
            c.add(
                "ed_student",
                id_number="x",
                stage="higher",
                status="enrolled",
                person_key=pk,
                household_key=hk,
            )

    def hse(c: County, hk: int) -> None:
        c.household(hk)
        c.add(
            "hs_house_safety",
            household_no=hno(hk),
            rating="D",
            assessed_date=D("2025-01-01"),
            renovated=False,
            household_key=hk,
        )

    def wtr(c: County, hk: int) -> None:
        c.household(hk, village=OTHER_VILLAGE)
        c.add(
            "wr_water",
            village_code=OTHER_VILLAGE,
            supply="centralized",
            outage_days=0,
            quality_ok=False,
            guarantee_rate=0.9,
        )

    def dec(c: County, hk: int) -> None:
        pk = c.household(hk)[0]
        c.event(
            "self_declaration",
            "2026-10",
            declaration_id=f"D{hk}",
            id_number="x",
            declared_date=D("2026-10-08"),
            reason="生病",
            channel="app",
            person_key=pk,
            household_key=hk,
        )

    return {
        "INC-01": inc,
        "MED-01": med1,
        "MED-02": med2,
        "MED-03": med3,
        "MED-04": med4,
        "HLT-01": hlt,
        "DIS-01": dis,
        "DSB-01": dsb,
        "LAB-01": lab1,
        "LAB-02": lab2,
        "ACC-01": acc,
        "IND-01": ind,
        "EMP-01": emp1,
        "EMP-02": emp2,
        "EDU-01": edu1,
        "EDU-02": edu2,
        "HSE-01": hse,
        "WTR-01": wtr,
        "DEC-01": dec,
    }


@pytest.fixture(scope="module", params=ENGINES)
def crafted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pa.Table, dict[str, int]]:
    eng = request.getfixturevalue("engine" if request.param == "duckdb" else "spark_engine")
    lake = Lake(tmp_path_factory.mktemp("crafted") / "lake")
    c = County()
    c.household(CONTROL)
    keys: dict[str, int] = {}
    for i, (rule, make) in enumerate(_crafted().items(), start=2):
        make(c, i)
        keys[rule] = i
    c.commit(lake)
    return screen(lake, "2026-10", load_policy(), engine=eng, include_all=True).all_scored, keys


def test_every_shipped_rule_is_crafted() -> None:
    assert {r.id for r in load_policy().rules} == set(_crafted())


@pytest.mark.parametrize("rule", sorted(_crafted()))
def test_rule_fires_on_crafted_household_not_on_control(
    crafted: tuple[pa.Table, dict[str, int]], rule: str
) -> None:
    scored, keys = crafted
    hit = _row(scored, keys[rule])
    assert rule in hit["rules"].split(";"), hit
    assert hit["prompt"] == "verify" and hit["reasons"] and hit["grade"] in ("高", "中", "低")
    assert _row(scored, CONTROL)["rules"] == ""


def test_control_is_not_warned(crafted: tuple[pa.Table, dict[str, int]]) -> None:
    control = _row(crafted[0], CONTROL)
    assert control["prompt"] == "" and not control["pushed"]


# --- monitored households and capacity -----------------------------------------------------------------


def test_monitored_not_rewarned_new_risk_prompts_adjustment(lake: Lake, screen_engine: Engine) -> None:
    c = County()
    for hk in (1, 2, 3):
        c.household(hk, workers=0)  # income below the line in both months
        c.add(
            "ag_roster",
            household_no=hno(hk),
            household_type="former_poor",
            exit_year=2018,
            monitor_status="monitored" if hk < 3 else "none",
            monitor_category="unstable" if hk < 3 else None,
            household_key=hk,
        )
    pk = [r for r in c.snapshots["ps_person"] if r["household_key"] == 2][0]["person_key"]
    c.event(
        "em_accident",
        "2026-10",
        report_id="A2",
        id_number="x",
        event_date=D("2026-10-03"),
        injury="severe",
        loss_yuan=1000,
        person_key=pk,
        household_key=2,
    )
    c.commit(lake)
    r = screen(lake, "2026-10", load_policy(), engine=screen_engine)
    s = {row["household_key"]: row for row in r.all_scored.to_pylist()}
    assert s[1]["prompt"] == "" and not s[1]["pushed"]  # monitored, same risk as last month
    assert s[2]["prompt"] == "adjust_assistance" and s[2]["risk_types"] == "05"
    assert s[3]["prompt"] == "verify" and s[3]["category"] == "unstable"
    warned = {row["household_key"] for row in r.warnings.to_pylist() if row["prompt"] == "verify"}
    assert warned == {3}


def test_capacity_per_village_pushes_top_scores(lake: Lake, engine: Engine) -> None:
    c = County()
    # five poor households in one village, poorer = higher score; so poor that even the upper end of
    # their mostly imputed income is below the line (INC-01, docs/screening.md)
    for hk in range(1, 6):
        c.household(hk, workers=1, wage=50.0 * hk)
    c.household(9, village=OTHER_VILLAGE, workers=0)
    c.commit(lake)
    r = screen(lake, "2026-10", load_policy(), engine=engine)
    pushed = [row for row in r.warnings.to_pylist() if row["prompt"] == "verify"]
    by_village: dict[str, list[int]] = {}
    for row in pushed:
        by_village.setdefault(row["village_code"], []).append(row["household_key"])
    assert sorted(by_village[VILLAGE]) == [1, 2, 3]
    assert by_village[OTHER_VILLAGE] == [9]
    ranks = {row["household_key"]: row["village_rank"] for row in r.all_scored.to_pylist()}
    assert ranks[1] == 1 and ranks[5] == 5


def test_put_helper_roundtrip(lake: Lake) -> None:
    put(
        lake,
        "wr_water",
        "2026-10",
        [
            {
                "village_code": VILLAGE,
                "supply": "centralized",
                "outage_days": 3,
                "quality_ok": True,
                "guarantee_rate": 1.0,
            }
        ],
    )
    assert lake.read("wr_water", "2026-10").num_rows == 1


# --- only evaluate.py reads the simulator's truth -------------------------------------------------------


def test_only_evaluate_reads_truth() -> None:
    root = Path(__file__).resolve().parents[2] / "src" / "fangpin" / "pipeline"
    offenders = [
        p.name
        for p in root.glob("*.py")
        if p.name not in ("evaluate.py", "screen_cli.py", "linkage_eval.py")
        and "truth" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


# --- engines: DuckDB and Spark give identical warnings; the incremental path agrees with the full screen ---


@pytest.fixture(scope="module")
def sim_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """A small simulated county (120 households, 3 months) imported with exact-ID linking."""
    from fangpin.pipeline.catalog import load_catalog
    from fangpin.pipeline.ingest import ingest_folder
    from fangpin.synth import DefectRates, SynthConfig, generate
    from screening.test_evaluate import PERIODS, _linker, _registry

    root = tmp_path_factory.mktemp("sim")
    config = SynthConfig(households=120, months=3, start="2026-08", seed=11, defects=DefectRates.none())
    generate(config, root / "out", progress=False)
    persons, households = _registry(root / "out" / "deliveries")
    catalog = load_catalog()
    lake = Lake(root / "lake", catalog=catalog)
    for period in PERIODS:
        ingest_folder(
            root / "out" / "deliveries" / period,
            period,
            lake=lake,
            catalog=catalog,
            known_villages=None,
            link=_linker(persons, households),
        )
    return lake


def _close(a: pa.Table, b: pa.Table) -> None:
    """Equal tables; floats to 1e-9 relative (engines sum doubles in different orders)."""
    assert a.schema == b.schema and a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if pa.types.is_floating(a.schema.field(name).type):
            assert [v is None for v in y] == [v is None for v in x], name
            pairs = [(u, v) for u, v in zip(x, y, strict=True) if u is not None]
            assert [v for _, v in pairs] == pytest.approx([u for u, _ in pairs], rel=1e-9, nan_ok=True), name
        else:
            assert x == y, name


@pytest.mark.spark
@pytest.mark.skipif(ON_POSTGRES_PASS, reason="Spark runs in the SQLite pass only (Django-free)")
def test_duckdb_and_spark_give_identical_warnings(
    sim_lake: Lake, engine: Engine, spark_engine: Engine
) -> None:
    policy = load_policy()
    duck = screen(sim_lake, "2026-10", policy, engine=engine, include_all=True)
    spark = screen(sim_lake, "2026-10", policy, engine=spark_engine, include_all=True)
    assert duck.all_scored.num_rows > 100 and duck.warnings.num_rows > 5
    # same households, scores, grades, risk types, categories, reasons, prompts, ranks, pushed flags
    assert spark.all_scored.to_pylist() == duck.all_scored.to_pylist()
    assert spark.warnings.to_pylist() == duck.warnings.to_pylist()
    _close(*(t.sort_by("household_key") for t in (duck.portraits, spark.portraits)))
    # the incremental path on Spark: a monitored household (last month's portrait too)
    key = next(r["household_key"] for r in duck.all_scored.to_pylist() if r["monitor_status"] == "monitored")
    one = screen(
        sim_lake, "2026-10", policy, engine=spark_engine, households=[key], include_all=True
    ).all_scored.to_pylist()
    assert [_absolute(r) for r in one] == [
        _absolute(r) for r in duck.all_scored.to_pylist() if r["household_key"] == key
    ]


def test_incremental_rescore_equals_the_full_screen(sim_lake: Lake, engine: Engine) -> None:
    policy = load_policy()
    full = {
        r["household_key"]: r
        for r in screen(sim_lake, "2026-10", policy, engine=engine, include_all=True).all_scored.to_pylist()
    }
    monitored = [k for k, r in full.items() if r["monitor_status"] == "monitored"][:2]
    warned = [k for k, r in full.items() if r["prompt"] == "verify"][:2]
    quiet = [k for k, r in full.items() if r["prompt"] == ""][:1]
    assert monitored and warned and quiet
    for key in sorted(set(monitored + warned + quiet)):
        one = screen(
            sim_lake, "2026-10", policy, engine=engine, households=[key], include_all=True
        ).all_scored.to_pylist()
        assert len(one) == 1
        assert _absolute(one[0]) == _absolute(full[key])


def test_reasons_are_formatted_for_the_pushed_rows_unless_all_are_asked_for(
    sim_lake: Lake, engine: Engine
) -> None:
    policy = load_policy()
    every = screen(sim_lake, "2026-10", policy, engine=engine, include_all=True).all_scored.to_pylist()
    pushed_only = screen(sim_lake, "2026-10", policy, engine=engine).all_scored.to_pylist()
    unpushed_with_reasons = [r for r in every if not r["pushed"] and r["reasons"]]
    assert unpushed_with_reasons, "the county should have candidates beyond the village capacity"
    for full, lean in zip(every, pushed_only, strict=True):
        assert full["household_key"] == lean["household_key"]
        assert lean["reasons"] == (full["reasons"] if full["pushed"] else "")
        assert {k: v for k, v in lean.items() if k != "reasons"} == {
            k: v for k, v in full.items() if k != "reasons"
        }


def _absolute(row: dict[str, Any]) -> dict[str, Any]:
    """A warning without rank and pushed (relative to the households screened together)."""
    return {k: v for k, v in row.items() if k not in ("village_rank", "pushed")}


def test_two_threads_computing_the_imputation_at_once_both_get_it(
    sim_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two re-scores in one web process may both find the imputation cache missing and compute it."""
    import shutil
    import threading

    import fangpin.pipeline.portrait as portrait_module
    from fangpin.pipeline.engine import DuckDBEngine
    from fangpin.pipeline.portrait import imputation

    shutil.rmtree(sim_lake.root / "_derived", ignore_errors=True)
    results: list[pa.Table] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)
    written = threading.Barrier(2)
    write = portrait_module.pq.write_table

    def write_then_wait(*args: object, **kwargs: object) -> None:
        write(*args, **kwargs)  # type: ignore[arg-type]
        written.wait(timeout=30)  # both have written their temporary file before either renames it

    monkeypatch.setattr(portrait_module.pq, "write_table", write_then_wait)

    def compute() -> None:
        engine = DuckDBEngine(threads=1)
        try:
            start.wait()
            results.append(imputation(sim_lake, "2026-10", engine=engine))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.close()

    threads = [threading.Thread(target=compute) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 2 and results[0].equals(results[1])
    assert len(list((sim_lake.root / "_derived").glob("impute-*.parquet"))) == 1
    assert not list((sim_lake.root / "_derived").glob(".*.tmp"))
