"""Hidden truth: does a household meet the monitoring criteria of POLICY.md, its category and risk types;
plus the official roster (who is monitored) and the assistance measures that change outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fangpin.synth import events as ev

if TYPE_CHECKING:
    from fangpin.synth.sim import Sim

Arr = npt.NDArray[Any]
CATEGORIES = ["none", "unstable", "marginal", "sudden"]
# risk-type codes in the order a household's list is filled (at most 5), see POLICY.md
RISK_CODES = {1: "01", 3: "03", 4: "04", 5: "05", 6: "06", 7: "07", 9: "09", 99: "99"}
DISASTER_CODES = ["0201", "0202", "0203", "0204", "0205", "0206", "0299"]
DISCOVERY_DECLARED = 0.8
DECLARE = 0.07  # monthly hazard of a self-declaration by an at-risk household
ELIMINATE = 0.6  # monthly chance a stable (6 months clear) monitored household with labour is eliminated
RENOVATE = 0.2  # monthly chance a C/D house of a monitored/former-poor household is renovated
SELF_REPAIR = 0.1  # monthly chance another household repairs its C/D house on its own
REASONS = {
    1: "家人患大病，医疗费用负担重",
    2: "遭受自然灾害，损失严重",
    3: "家庭成员残疾",
    4: "家中缺劳动力，收入低",
    5: "家人遭遇意外事故",
    6: "产业项目失败，收入骤减",
    7: "务工失业，收入不稳定",
    9: "子女上学费用负担重",
    99: "住房或饮水困难，生活困难",
}


def assist(sim: Sim, t: int) -> None:
    """Measures for monitored and poorest households: 低保/特困, public-welfare posts, house renovation."""
    hh, pp, rng = sim.pop.hh, sim.pop.pp, sim.rng
    n = sim.pop.n_hh
    line = sim.cfg.line(sim.year)
    net = sim.net_pc
    monitored = hh["monitor"] == 1
    alive = pp["status"] == 0
    labour = economy_labour(sim)
    size = np.maximum(np.bincount(pp["hh"][alive], minlength=n), 1)
    enrol = (
        ~hh["dibao"]
        & ~hh["dissolved"]
        & (net < 0.8 * line)
        & (rng.random(n) < np.where(monitored, 0.15, 0.04) * np.where(labour == 0, 2.0, 1.0))
    )
    hh["dibao"] |= enrol
    hh["dibao_start"][enrol] = sim.days_in_month(enrol.sum())
    leave = hh["dibao"] & (net > 1.4 * line) & (rng.random(n) < 0.08)
    hh["dibao"] &= ~leave
    hh["dibao"] &= ~hh["dissolved"]
    hh["dibao_amt"] = np.where(
        hh["dibao"],
        np.clip(np.round((0.95 * line - np.minimum(net, line)) / 12 * size, 0), 150, 580 * size),
        0.0,
    )
    # a public-welfare post for a member able to work when nobody in the household has a job
    employed = np.bincount(pp["hh"], weights=pp["employed"] & alive, minlength=n)
    posted = np.bincount(pp["hh"], weights=pp["post_end"] >= sim.month_start, minlength=n)
    want = np.flatnonzero(monitored & (labour > 0) & (employed == 0) & (posted == 0) & (rng.random(n) < 0.1))
    if len(want):
        cand = np.flatnonzero(
            alive & (sim.age >= 18) & (sim.age < 65) & ~pp["employed"] & np.isin(pp["hh"], want)
        )
        first = cand[np.unique(pp["hh"][cand], return_index=True)[1]]
        pp["post_start"][first] = sim.days_in_month(len(first))
        pp["post_end"][first] = pp["post_start"][first] + 365
        pp["post_amt"][first] = rng.choice([500.0, 600.0, 800.0], len(first))
    # 危房改造: C/D houses of monitored or former-poor households are renovated within months; other
    # households mostly repair or rebuild on their own (re-rated B at the next assessment)
    unsafe = (hh["house"] >= 2) & ~hh["renovated"]
    supported = monitored | hh["former_poor"]
    u = rng.random(n)
    fix = np.flatnonzero(unsafe & supported & (u < RENOVATE))
    hh["house"][fix] = 1
    hh["renovated"][fix] = True
    hh["house_date"][fix] = sim.days_in_month(len(fix))
    own = np.flatnonzero(unsafe & ~supported & (u < SELF_REPAIR))
    hh["house"][own] = 1
    hh["house_date"][own] = sim.days_in_month(len(own))
    severe_now = np.flatnonzero(hh["last_severe"] == t)
    sim.temporary_aid(severe_now[hh["temp_date"][severe_now] < sim.month_start], t, 0.2)
    # microcredit: overdue in households in difficulty, repaid after the 3-year term
    due = hh["loan_start"] + 3 * 365
    loans = hh["loan_amt"] > 0
    hh["loan_status"] = np.where(
        loans & (due < sim.month_start),
        2,
        np.where(loans & sim.below_line & (rng.random(n) < 0.05), 1, hh["loan_status"]),
    ).astype(np.int8)


def economy_labour(sim: Sim) -> Arr:
    pp = sim.pop.pp
    able = (
        (pp["status"] == 0)
        & (sim.age >= 16)
        & (sim.age < 65)
        & ~((pp["dis_grade"] > 0) & (pp["dis_grade"] <= 2))
        & ~sim.student
        & (pp["major_until"] < sim.t)
    )
    out: Arr = np.bincount(pp["hh"], weights=able, minlength=sim.pop.n_hh)
    return out


def evaluate(sim: Sim, t: int) -> None:
    hh, pp, cfg = sim.pop.hh, sim.pop.pp, sim.cfg
    n = sim.pop.n_hh
    alive = pp["status"] == 0
    members = np.bincount(pp["hh"][alive], minlength=n)
    hh["dissolved"] |= members == 0
    filled = min(t + cfg.burn_in + 1, 12)
    scale = 12 / filled  # during burn-in the window is not full yet
    inc12 = hh["ring_inc"].sum(axis=1, dtype=np.float64) * scale
    med12 = hh["ring_med"].sum(axis=1, dtype=np.float64)
    edu12 = hh["ring_edu"].sum(axis=1, dtype=np.float64)
    loss12 = hh["ring_loss"].sum(axis=1, dtype=np.float64)
    m = np.maximum(members, 1)
    income_pc = inc12 / m
    oop = med12 + edu12
    net_pc = (inc12 - oop) / m
    line = cfg.line(sim.year)
    below = net_pc < line
    # 两不愁三保障 + drinking water
    food_ok = net_pc >= 0.3 * line
    dropout = np.bincount(pp["hh"], weights=alive & (pp["dropout_until"] >= t) & sim.student, minlength=n) > 0
    uninsured = np.bincount(pp["hh"], weights=alive & ~pp["insured"], minlength=n) > 0
    housing_ok = (hh["house"] < 2) | hh["renovated"]
    water_ok = (sim.outage[hh["village"]] <= 30) & sim.water_quality[hh["village"]]
    hardship = ~food_ok | dropout | uninsured | ~housing_ok | ~water_ok
    recent = (t - hh["last_severe"]) <= 6
    sudden = ~below & recent & (((oop + loss12) >= 0.4 * np.maximum(inc12, 1)) | (net_pc < 1.2 * line))
    meets = (below | hardship | sudden) & ~hh["dissolved"]
    category = np.where(
        below | (hardship & ~sudden), np.where(hh["former_poor"], 1, 2), np.where(sudden, 3, 0)
    )
    category = np.where(meets, category, 0).astype(np.int8)
    sim.net_pc = net_pc
    sim.below_line = below & ~hh["dissolved"]
    labour = economy_labour(sim)
    _roster(sim, t, meets, category, labour)
    _declarations(sim, t, meets, category)
    if t < 0:
        return
    flags = {
        1: (med12 >= 0.08 * np.maximum(inc12, 1)) | ((t - hh["last_illness"]) <= 12),
        2: (t - hh["last_disaster"]) <= 12,
        3: (
            np.bincount(pp["hh"], weights=alive & (pp["dis_grade"] > 0) & (pp["dis_grade"] <= 2), minlength=n)
            > 0
        )
        | ((t - hh["last_disability"]) <= 12),
        4: labour == 0,
        5: (t - hh["last_accident"]) <= 12,
        6: (t - hh["last_failure"]) <= 12,
        7: (t - hh["last_jobloss"]) <= 12,
        9: edu12 >= 0.08 * np.maximum(inc12, 1),
        99: ~housing_ok | ~water_ok | uninsured | dropout | ~food_ok,
    }
    risk = _risk_lists(flags, hh["last_disaster_kind"], meets)
    sim.truth_month = pa.table(
        {
            "household_no": ev.strings_of_ints(hh["no"]),
            "period": pa.array([sim.cfg.period(t)] * n),
            "members": pa.array(members, pa.int32()),
            "true_income_pc_12m": ev.money(income_pc),
            "compliant_oop_12m": ev.money(oop),
            "medical_oop_12m": ev.money(med12),
            "schooling_oop_12m": ev.money(edu12),
            "net_income_pc_12m": ev.money(net_pc),
            "food_clothing_ok": pa.array(food_ok),
            "education_ok": pa.array(~dropout),
            "medical_insured_ok": pa.array(~uninsured),
            "housing_ok": pa.array(housing_ok),
            "water_ok": pa.array(water_ok),
            "meets_criteria": pa.array(meets),
            "true_category": ev.codes(category, CATEGORIES),
            "risk_types": risk,
            "is_monitored": pa.array(hh["monitor"] == 1),
            "monitor_status": ev.codes(hh["monitor"], ["none", "monitored", "eliminated"]),
            "dissolved": pa.array(hh["dissolved"]),
        }
    )


def _risk_lists(flags: dict[int, Arr], disaster_kind: Arr, meets: Arr) -> pa.Array:
    keys = list(flags)
    matrix = np.column_stack([flags[k] & meets for k in keys])
    # a household that meets the criteria has at least one risk: "other" when nothing specific applies
    none = meets & ~matrix.any(axis=1)
    matrix[:, keys.index(99)] |= none
    matrix &= np.cumsum(matrix, axis=1) <= 5
    rows, cols = np.nonzero(matrix)
    labels = [RISK_CODES.get(k, "") for k in keys]
    vocabulary = pa.array(labels + DISASTER_CODES)
    index = np.asarray(cols, np.int64)
    is_disaster = index == keys.index(2)
    index = np.where(is_disaster, len(labels) + disaster_kind[rows].astype(np.int64), index)
    values = vocabulary.take(pa.array(index))
    offsets = np.r_[0, np.cumsum(matrix.sum(axis=1))].astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _roster(sim: Sim, t: int, meets: Arr, category: Arr, labour: Arr) -> None:
    hh, rng = sim.pop.hh, sim.rng
    n = sim.pop.n_hh
    first = t == -sim.cfg.burn_in
    if first:
        # the roster as it stood: most at-risk households already monitored, some earlier cases eliminated
        start = meets & (rng.random(n) < sim.cfg.start_monitored)
        hh["monitor"][start] = 1
        hh["category"][start] = category[start]
        hh["monitor_since"][start] = t - rng.integers(1, 30, start.sum())
        old = ~start & (rng.random(n) < np.where(hh["former_poor"], 0.08, 0.006))
        hh["monitor"][old] = 2
        hh["category"][old] = np.where(hh["former_poor"][old], 1, rng.choice([2, 3], old.sum()))
        return
    monitored = hh["monitor"] == 1
    declared = (t - hh["declared"]) <= 1
    found = (
        ~monitored & meets & (rng.random(n) < np.where(declared, DISCOVERY_DECLARED, sim.cfg.discovery_rate))
    )
    found &= _cadres_would(sim, meets, declared)
    hh["monitor"][found] = 1
    hh["category"][found] = category[found]
    hh["monitor_since"][found] = t
    hh["clear_months"] = np.where(monitored & ~meets, hh["clear_months"] + 1, 0)
    # elimination: stable for 6 months, able to work (no-labour households keep being tracked)
    done = monitored & (hh["clear_months"] >= 6) & (labour > 0) & (rng.random(n) < ELIMINATE)
    hh["monitor"][done] = 2
    hh["monitor"][hh["dissolved"]] = np.where(
        hh["monitor"][hh["dissolved"]] == 1, 2, hh["monitor"][hh["dissolved"]]
    )


def _cadres_would(sim: Sim, meets: Arr, declared: Arr) -> Arr:
    """The county's monitoring practice (SynthConfig): a household is brought in only after it has met the
    criteria for `monitor_delay` months, never when the cadres overlook it (`never_monitored`, unless it
    declares itself), and `false_monitoring` of the households NOT at risk are brought in anyway."""
    hh, cfg = sim.pop.hh, sim.cfg
    hh["meets_run"] = np.where(meets, np.minimum(hh["meets_run"] + 1, 999), 0).astype(np.int16)
    would = (hh["meets_run"] > cfg.monitor_delay) & (~hh["overlooked"] | declared)
    if cfg.false_monitoring > 0:
        wrong = ~meets & (hh["monitor"] == 0) & (sim.world_rng.random(len(meets)) < cfg.false_monitoring)
        hh["monitor"][wrong] = 1
        hh["category"][wrong] = 2
        hh["monitor_since"][wrong] = sim.t
    out: Arr = would
    return out


def _declarations(sim: Sim, t: int, meets: Arr, category: Arr) -> None:
    hh, pp, rng = sim.pop.hh, sim.pop.pp, sim.rng
    n = sim.pop.n_hh
    who = np.flatnonzero(meets & (hh["monitor"] != 1) & (rng.random(n) < DECLARE))
    who = np.concatenate([who, np.flatnonzero(meets & (hh["monitor"] == 1) & (rng.random(n) < 0.01))])
    if not len(who):
        return
    hh["declared"][who] = t
    # the declarant is the head if alive, else any living member
    alive = np.flatnonzero(pp["status"] == 0)
    order = alive[np.lexsort((pp["rel"][alive], pp["hh"][alive]))]
    first = order[np.unique(pp["hh"][order], return_index=True)[1]]
    declarant = np.full(n, -1, np.int64)
    declarant[pp["hh"][first]] = first
    persons = declarant[who]
    keep = persons >= 0
    who, persons = who[keep], persons[keep]
    reason_code = np.select(
        [
            (t - hh["last_illness"][who]) <= 12,
            (t - hh["last_disaster"][who]) <= 12,
            (t - hh["last_accident"][who]) <= 12,
            (t - hh["last_failure"][who]) <= 12,
            (t - hh["last_jobloss"][who]) <= 12,
            (t - hh["last_disability"][who]) <= 12,
        ],
        [1, 2, 5, 6, 7, 3],
        default=4,
    )
    reasons = pa.array([REASONS[k] for k in sorted(REASONS)])
    lookup = {k: i for i, k in enumerate(sorted(REASONS))}
    sim.add_event(
        "self_declaration",
        t,
        {
            "declaration_id": sim.serial("self_declaration", "SB", len(who)),
            "id_number": sim.pop.ids.take(pa.array(persons)),
            "declared_date": ev.dates(sim.days_in_month(len(who))),
            "reason": reasons.take(pa.array([lookup[int(k)] for k in reason_code], pa.int64())),
            "channel": ev.codes(
                rng.choice(4, len(who), p=[0.45, 0.2, 0.2, 0.15]), ["app", "hotline", "qrcode", "paper"]
            ),
        },
    )
