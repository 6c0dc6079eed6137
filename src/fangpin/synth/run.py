"""generate(): the whole run — population, month loop, deliveries with defects, hidden truth, summary."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from fangpin.synth import catalog, deliveries, population, writer
from fangpin.synth import defects as dfx
from fangpin.synth import events as ev
from fangpin.synth.config import SynthConfig, SynthSummary
from fangpin.synth.sim import Sim

Arr = npt.NDArray[Any]


def generate(config: SynthConfig, out: Path, progress: bool = True) -> SynthSummary:
    config.validate()
    began = time.perf_counter()
    out = Path(out)
    for sub in ("deliveries", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "deliveries").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    # separate streams: switching defects off leaves the population and its history unchanged
    rng = np.random.default_rng([config.seed, 1])
    defect_rng = np.random.default_rng([config.seed, 2])
    cat = catalog.load()
    bar = tqdm(
        total=config.burn_in + config.months + 2, desc="fangpin synth", disable=not progress, unit="month"
    )
    bar.set_postfix_str("population")
    world = population.load_world(config, rng)
    ref_day = int((config.start_month - config.burn_in).astype("datetime64[D]").astype(np.int64))
    pop = population.build(config, world, rng, ref_day)
    start_households, start_persons = pop.n_hh, pop.n_pp
    sim = Sim(config, world, pop, rng)
    plan = dfx.plan(config.defects, config.months, defect_rng)
    injector = dfx.Injector(config.defects, defect_rng)
    bar.update(1)
    rows: dict[str, int] = dict.fromkeys(cat, 0)
    previous: dict[str, pa.Table] = {}
    pending: dict[str, list[tuple[int, pa.Table]]] = {}
    # the households table is built at the end from these start counts (the static columns do not change)
    members_start = np.bincount(pop.pp["hh"], minlength=pop.n_hh).astype(np.int32)
    earners_start = np.bincount(pop.pp["hh"], weights=pop.pp["employed"], minlength=pop.n_hh).astype(np.int32)
    month_writer: pq.ParquetWriter | None = None
    last_month: pa.Table | None = None
    try:
        for t in range(-config.burn_in, config.months):
            bar.set_postfix_str(config.period(t))
            sim.step(t)
            if t >= 0 and sim.truth_month is not None:
                # the truth is written month by month (one row group each), never kept for the whole run
                last_month, sim.truth_month = sim.truth_month, None
                if month_writer is None:
                    month_writer = pq.ParquetWriter(
                        out / "truth" / "household_month.parquet", last_month.schema
                    )
                month_writer.write_table(last_month)
                _deliver(sim, t, cat, plan, injector, rows, previous, pending, out)
            bar.update(1)
    finally:
        if month_writer is not None:
            month_writer.close()
    assert last_month is not None
    bar.set_postfix_str("truth")
    summary = _truth(
        sim, out, last_month, members_start, earners_start, injector, rows, start_households, start_persons
    )
    bar.update(1)
    bar.close()
    summary.seconds = round(time.perf_counter() - began, 2)
    (out / "summary.json").write_text(
        json.dumps(summary.as_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return summary


def _deliver(
    sim: Sim,
    t: int,
    cat: dict[str, catalog.Dataset],
    plan: dfx.Plan,
    injector: dfx.Injector,
    rows: dict[str, int],
    previous: dict[str, pa.Table],
    pending: dict[str, list[tuple[int, pa.Table]]],
    out: Path,
) -> None:
    period = sim.cfg.period(t)
    folder = out / "deliveries" / period
    folder.mkdir(parents=True, exist_ok=True)
    # snapshots are built one at a time, right before they are written, and dropped afterwards
    builders = deliveries.snapshots(sim, t)
    tables: dict[str, pa.Table] = {}
    manifest: dict[str, Any] = {"period": period, "datasets": {}, "absent": []}
    for name in deliveries.EVENT_DATASETS:
        # the first delivery carries up to 12 months of history
        months = range(t - 11, t + 1) if t == 0 else [t]
        parts = [tb for m in months for tb in sim.events[name].pop(m, [])]
        for m in [m for m in list(sim.events[name]) if m < t]:
            sim.events[name].pop(m)
        table = pa.concat_tables(parts) if parts else _empty(cat[name])
        tables[name] = table
    for name, ds in cat.items():
        if name in tables:
            raw = tables.pop(name)
        elif name in builders:
            raw = builders.pop(name)()
        else:
            manifest["absent"].append(name)
            continue
        table = writer.conform(ds, raw)
        del raw
        info: dict[str, Any] = {"period": period, "late": False}
        if (t, name) in plan.late:
            pending.setdefault(name, []).append((t, table))
            manifest["absent"].append(name)
            injector.record(period, name, [-1], [name], "", [""], [sim.cfg.period(t + 1)], dfx.LATE_DATASET)
            continue
        late = pending.pop(name, [])
        if late:
            table = pa.concat_tables([tb for _, tb in late] + [table])
            info["late"] = True
            info["late_periods"] = [sim.cfg.period(m) for m, _ in late]
        if ds.cadence == "events":
            # only event datasets need last month's rows (duplicates); snapshots are not kept
            clean = table
            if injector.rates.duplicate_event > 0:
                table = injector.duplicates(period, ds, table, previous.get(name))
            previous[name] = clean
        table = injector.rows(period, ds, table)
        fmt = writer.FORMATS.get(name, "csv")
        zh = (t, name) in plan.zh
        gbk = (t, name) in plan.gbk
        if zh:
            injector.record(period, name, [-1], [name], "", [""], [""], dfx.ZH_HEADERS)
        if gbk:
            injector.record(period, name, [-1], [name], "", ["utf-8"], ["gbk"], dfx.GBK_ENCODING)
        info.update(writer.write(folder / name, ds, table, fmt, zh, gbk))
        manifest["datasets"][name] = info
        rows[name] += table.num_rows
        del table
    writer.write_manifest(folder, manifest)


def _empty(ds: catalog.Dataset) -> pa.Table:
    types = {
        "money": pa.float64(),
        "date": pa.date32(),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "float": pa.float64(),
    }
    return pa.table({f.name: pa.array([], types.get(f.type, pa.string())) for f in ds.fields})


def _households_table(sim: Sim, members_start: Arr, earners_start: Arr) -> pa.Table:
    """Static household truth: rows of the start population first, then households created by splits."""
    hh, pp = sim.pop.hh, sim.pop.pp
    n = sim.pop.n_hh
    n_start = len(members_start)
    # split households: members and earners as they stand at the end of the run
    members = np.r_[members_start, np.bincount(pp["hh"], minlength=n)[n_start:]]
    earners = np.r_[earners_start, np.bincount(pp["hh"], weights=pp["employed"], minlength=n)[n_start:]]
    parent = hh["parent"]
    split = parent >= 0
    return pa.table(
        {
            "household_no": ev.strings_of_ints(hh["no"]),
            "village_code": ev.strings_of_ints(sim.world.code[hh["village"]]),
            "township_code": ev.strings_of_ints(sim.world.code[hh["village"]] // 1000),
            "household_type": ev.codes(np.where(hh["former_poor"], 0, 1), ["former_poor", "ordinary"]),
            "exit_year": pa.array(hh["exit_year"].astype(np.int64), mask=~hh["former_poor"]),
            "members_start": pa.array(members.astype(np.int64)),
            "wage_earners_start": pa.array(earners.astype(np.int64)),
            "business_net_base": ev.money(hh["bus_base"]),
            "property_base": ev.money(hh["prop_base"]),
            "family_support_base": ev.money(hh["support_base"]),
            "policy_transfer_base": ev.money(hh["policy_base"]),
            "informal_base": ev.money(hh["informal_base"]),
            "split_from": pc.if_else(
                pa.array(split), ev.strings_of_ints(hh["no"][np.maximum(parent, 0)]), pa.nulls(n, pa.string())
            ),
        }
    )


PERSON_SLICE = 1_000_000


def _write_persons(sim: Sim, path: Path) -> None:
    """truth/persons.parquet, built and written a million persons at a time (one row group each)."""
    hh, pp = sim.pop.hh, sim.pop.pp
    n = sim.pop.n_pp
    with pq.ParquetWriter(path, PERSONS_SCHEMA) as sink:
        for lo in range(0, max(n, 1), PERSON_SLICE):
            s = slice(lo, min(lo + PERSON_SLICE, n))
            part = pa.table(
                {
                    "id_number": sim.pop.ids[s],
                    "household_no": ev.strings_of_ints(hh["no"][pp["hh"][s]]),
                    "name": sim.pop.names[s],
                    "gender": ev.codes(np.where(pp["male"][s], 0, 1), ["1", "2"]),
                    "birth_date": ev.dates(pp["birth"][s], nullable=False),
                    "relation": pa.array(pp["rel"][s].astype(np.int64)),
                    "status": ev.codes(pp["status"][s], ["normal", "deceased", "moved_out"]),
                    "status_date": ev.dates(pp["status_date"][s]),
                    "employed": pa.array(pp["employed"][s]),
                    "monthly_wage_base": ev.money(pp["wage"][s]),
                    "disability_grade": pa.array(pp["dis_grade"][s].astype(np.int64)),
                    "disease": ev.codes(pp["disease"][s], ["none", "major", "chronic", "severe_mental"]),
                    "insured": pa.array(pp["insured"][s]),
                },
                schema=PERSONS_SCHEMA,
            )
            sink.write_table(part)


PERSONS_SCHEMA = pa.schema(
    [
        ("id_number", pa.string()),
        ("household_no", pa.string()),
        ("name", pa.string()),
        ("gender", pa.string()),
        ("birth_date", pa.date32()),
        ("relation", pa.int64()),
        ("status", pa.string()),
        ("status_date", pa.date32()),
        ("employed", pa.bool_()),
        ("monthly_wage_base", pa.float64()),
        ("disability_grade", pa.int64()),
        ("disease", pa.string()),
        ("insured", pa.bool_()),
    ]
)


def _truth(
    sim: Sim,
    out: Path,
    last: pa.Table,
    members_start: Arr,
    earners_start: Arr,
    injector: dfx.Injector,
    rows: dict[str, int],
    start_households: int,
    start_persons: int,
) -> SynthSummary:
    truth_dir = out / "truth"
    pq.write_table(_households_table(sim, members_start, earners_start), truth_dir / "households.parquet")
    _write_persons(sim, truth_dir / "persons.parquet")
    shock_cols = ["household_no", "t", "kind", "subkind", "severe", "loss_yuan", "village_code", "cluster_id"]
    data = {
        c: np.concatenate([r[c] for r in sim.shock_rows]) if sim.shock_rows else np.array([])
        for c in shock_cols
    }
    periods = np.array([sim.cfg.period(int(m)) for m in range(-sim.cfg.burn_in, sim.cfg.months)])
    shocks = pa.table(
        {
            "household_no": ev.strings_of_ints(data["household_no"]),
            "period": pa.array(periods[data["t"].astype(np.int64) + sim.cfg.burn_in]),
            "kind": pa.array(data["kind"].astype(str)),
            "subkind": pa.array(data["subkind"].astype(str)),
            "severe": pa.array(data["severe"].astype(bool)),
            "loss_yuan": ev.money(data["loss_yuan"]),
            "village_code": ev.strings_of_ints(data["village_code"]),
            "cluster_id": pa.array(data["cluster_id"].astype(np.int64)),
        }
    )
    pq.write_table(shocks, truth_dir / "shocks.parquet")
    del shocks, data
    defect_table = injector.table()
    pq.write_table(defect_table, truth_dir / "defects.parquet")
    last = last.filter(pc.invert(last["dissolved"]))
    cats = last["true_category"].to_numpy(zero_copy_only=False)
    meets = last["meets_criteria"].to_numpy(zero_copy_only=False)
    monitored = last["is_monitored"].to_numpy(zero_copy_only=False)
    n_last = max(last.num_rows, 1)
    kinds = defect_table["kind"].to_pylist()
    return SynthSummary(
        households=start_households,
        persons=start_persons,
        months=sim.cfg.months,
        periods=[sim.cfg.period(t) for t in range(sim.cfg.months)],
        rows=rows,
        at_risk_share={
            "any": round(float(meets.mean()) if len(meets) else 0.0, 4),
            **{c: round(float((cats == c).sum()) / n_last, 4) for c in ("unstable", "marginal", "sudden")},
        },
        monitored_share_of_at_risk=round(float((meets & monitored).sum() / max(meets.sum(), 1)), 4),
        defects={k: kinds.count(k) for k in sorted(set(kinds))},
    )


def format_summary(summary: SynthSummary, out: Path) -> str:
    lines = [
        f"fangpin synth → {out}",
        f"  户 households {summary.households:,}   人 persons {summary.persons:,}   月 months {summary.months} ({summary.periods[0]} … {summary.periods[-1]})",
        "  rows per dataset / 各数据集行数:",
    ]
    for name, n in summary.rows.items():
        lines.append(f"    {name:<24}{n:>12,}")
    share = summary.at_risk_share
    lines.append(
        f"  truly at risk / 实际符合监测条件 ({summary.periods[-1]}): {share['any']:.2%}"
        f" — 脱贫不稳定 {share['unstable']:.2%}, 边缘易致贫 {share['marginal']:.2%}, 突发严重困难 {share['sudden']:.2%};"
        f" already monitored {summary.monitored_share_of_at_risk:.0%}"
    )
    if summary.defects:
        lines.append(
            "  injected defects / 注入缺陷: " + ", ".join(f"{k} {v:,}" for k, v in summary.defects.items())
        )
    lines.append(f"  {summary.seconds:.1f} s")
    return "\n".join(lines)
