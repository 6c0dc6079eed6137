"""generate(): the whole run — population, month loop, deliveries with defects, hidden truth, summary."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from fangpin.synth import catalog, deliveries, population, writer
from fangpin.synth import defects as dfx
from fangpin.synth import events as ev
from fangpin.synth.config import SynthConfig, SynthSummary
from fangpin.synth.sim import Sim


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
    households_start = _households_table(sim)
    for t in range(-config.burn_in, config.months):
        bar.set_postfix_str(config.period(t))
        sim.step(t)
        if t >= 0:
            _deliver(sim, t, cat, plan, injector, rows, previous, pending, out)
        bar.update(1)
    bar.set_postfix_str("truth")
    summary = _truth(sim, out, households_start, injector, rows, start_households, start_persons)
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
    tables = deliveries.snapshots(sim, t)
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
        if name not in tables:
            manifest["absent"].append(name)
            continue
        table = writer.conform(ds, tables[name])
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
        clean = table
        if ds.cadence == "events" and injector.rates.duplicate_event > 0:
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


def _households_table(sim: Sim) -> pa.Table:
    hh, pp = sim.pop.hh, sim.pop.pp
    n = sim.pop.n_hh
    members = np.bincount(pp["hh"], minlength=n)
    return pa.table(
        {
            "household_no": ev.strings_of_ints(hh["no"]),
            "village_code": ev.strings_of_ints(sim.world.code[hh["village"]]),
            "township_code": ev.strings_of_ints(sim.world.code[hh["village"]] // 1000),
            "household_type": ev.codes(np.where(hh["former_poor"], 0, 1), ["former_poor", "ordinary"]),
            "exit_year": pa.array(hh["exit_year"].astype(np.int64), mask=~hh["former_poor"]),
            "members_start": pa.array(members.astype(np.int64)),
            "wage_earners_start": pa.array(
                np.bincount(pp["hh"], weights=pp["employed"], minlength=n).astype(np.int64)
            ),
            "business_net_base": ev.money(hh["bus_base"]),
            "property_base": ev.money(hh["prop_base"]),
            "family_support_base": ev.money(hh["support_base"]),
            "policy_transfer_base": ev.money(hh["policy_base"]),
            "informal_base": ev.money(hh["informal_base"]),
            "split_from": pa.array([None] * n, pa.string()),
        }
    )


def _truth(
    sim: Sim,
    out: Path,
    households_start: pa.Table,
    injector: dfx.Injector,
    rows: dict[str, int],
    start_households: int,
    start_persons: int,
) -> SynthSummary:
    hh, pp = sim.pop.hh, sim.pop.pp
    truth_dir = out / "truth"
    split = np.flatnonzero(hh["parent"] >= 0)
    if len(split):
        added = _households_table(sim).take(pa.array(split))
        added = added.set_column(
            added.schema.get_field_index("split_from"),
            "split_from",
            ev.strings_of_ints(hh["no"][hh["parent"][split]]),
        )
        households_start = pa.concat_tables([households_start, added.cast(households_start.schema)])
    pq.write_table(households_start, truth_dir / "households.parquet")
    month_table = pa.concat_tables(sim.truth_tables)
    pq.write_table(month_table, truth_dir / "household_month.parquet")
    pq.write_table(
        pa.table(
            {
                "id_number": sim.pop.ids,
                "household_no": ev.strings_of_ints(hh["no"][pp["hh"]]),
                "name": sim.pop.names,
                "gender": ev.codes(np.where(pp["male"], 0, 1), ["1", "2"]),
                "birth_date": ev.dates(pp["birth"], nullable=False),
                "relation": pa.array(pp["rel"].astype(np.int64)),
                "status": ev.codes(pp["status"], ["normal", "deceased", "moved_out"]),
                "status_date": ev.dates(pp["status_date"]),
                "employed": pa.array(pp["employed"]),
                "monthly_wage_base": ev.money(pp["wage"]),
                "disability_grade": pa.array(pp["dis_grade"].astype(np.int64)),
                "disease": ev.codes(pp["disease"], ["none", "major", "chronic", "severe_mental"]),
                "insured": pa.array(pp["insured"]),
            }
        ),
        truth_dir / "persons.parquet",
    )
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
    defect_table = injector.table()
    pq.write_table(defect_table, truth_dir / "defects.parquet")
    last = month_table.filter(pc.equal(month_table["period"], sim.cfg.period(sim.cfg.months - 1)))
    last = last.filter(pc.invert(last["dissolved"]))
    cats = np.array(last["true_category"].to_pylist(), object)
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
