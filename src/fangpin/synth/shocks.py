"""Month-by-month shocks: deaths, births, moves, jobs, illness, accidents, disability, disasters, failures,
schooling. Each function changes the simulation state and records department events and truth shocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fangpin.synth import events as ev

if TYPE_CHECKING:
    from fangpin.synth.sim import Sim

Arr = npt.NDArray[Any]

DISASTER_KINDS = ["flood", "geological", "drought", "biological", "meteorological", "earthquake", "other"]
DISASTER_RISK_CODE = [201, 202, 203, 204, 205, 206, 299]
DAMAGE = ["none", "minor", "severe", "collapsed"]
# probability of house damage none/minor/severe/collapsed per kind
DAMAGE_P = np.array(
    [
        [0.55, 0.30, 0.11, 0.04],
        [0.30, 0.30, 0.25, 0.15],
        [1.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.60, 0.32, 0.07, 0.01],
        [0.40, 0.40, 0.15, 0.05],
        [0.70, 0.25, 0.04, 0.01],
    ]
)
HIT_P = np.array([0.35, 0.08, 0.6, 0.3, 0.3, 0.5, 0.2])
FARM_LOSS = np.array([0.4, 0.2, 0.5, 0.35, 0.25, 0.2, 0.15])
# events per village per month by calendar month: the flood season (May–Aug) dominates in the south
SEASON = np.array([0.5, 0.5, 0.7, 1.0, 1.6, 2.4, 2.2, 1.6, 1.0, 0.7, 0.5, 0.5])
DISASTERS_PER_VILLAGE_MONTH = 0.0016


def _kind_p(month: int) -> Arr:
    p = np.array([0.05, 0.06, 0.02, 0.08, 0.25, 0.005, 0.03])
    if 5 <= month <= 8:
        p[0] += 0.9
        p[1] += 0.1
    if 7 <= month <= 10:
        p[2] += 0.6
    out: Arr = p / p.sum()
    return out


def demography(sim: Sim, t: int) -> None:
    pp, rng = sim.pop.pp, sim.rng
    alive = pp["status"] == 0
    age = sim.age
    # Gompertz mortality: ~0.6 %/year at 60, ~3.7 %/year at 80
    q_year = np.minimum(np.exp(-10.4 + 0.088 * age), 0.5)
    dies = alive & (rng.random(len(age)) < q_year / 12)
    day = sim.days_in_month(dies.sum())
    pp["status"][dies] = 1
    pp["status_date"][dies] = day
    pp["employed"][dies] = False
    working_age = dies & (age >= 18) & (age < 60)
    sim.mark(pp["hh"][working_age], "death", t, severe=True, loss=np.full(working_age.sum(), 8000.0))
    # marriage out of the village (迁出), mostly young women who are not the head
    moves = (
        alive
        & ~dies
        & (pp["rel"] != 1)
        & (age >= 20)
        & (age < 36)
        & (rng.random(len(age)) < np.where(pp["male"], 0.0003, 0.0012))
    )
    pp["status"][moves] = 2
    pp["status_date"][moves] = sim.days_in_month(moves.sum())
    pp["employed"][moves] = False
    # births to married women 20–42 of the household
    mothers = np.flatnonzero(
        alive
        & ~dies
        & ~moves
        & ~pp["male"]
        & (age >= 20)
        & (age < 42)
        & np.isin(pp["rel"], (1, 2, 3))
        & (rng.random(len(age)) < 0.0045)
    )
    if len(mothers):
        sim.add_births(mothers, t)
    # household splits (分户): an adult child gets a household number of their own
    cand = np.flatnonzero(pp["status"] == 0)
    cand = cand[(pp["rel"][cand] == 3) & (sim.age[cand] >= 24) & (sim.age[cand] < 40)]
    splits = cand[rng.random(len(cand)) < 0.0008]
    if len(splits):
        sim.split_households(splits, t)


def labour(sim: Sim, t: int) -> None:
    pp, rng = sim.pop.pp, sim.rng
    n = len(pp["hh"])
    alive = pp["status"] == 0
    age = sim.age
    day = sim.month_start
    lose = alive & pp["employed"] & (rng.random(n) < 0.011 * sim.cfg.shock_rate)
    lose |= alive & pp["employed"] & (age >= 64) & (rng.random(n) < 0.05)  # retirement from casual work
    idx = np.flatnonzero(lose)
    end = sim.days_in_month(len(idx))
    pp["ljob_start"][idx] = pp["job_start"][idx]
    pp["ljob_end"][idx] = end
    pp["lwage"][idx] = pp["wage"][idx]
    pp["lregion"][idx] = pp["region"][idx]
    pp["lemployer"][idx] = pp["employer"][idx]
    pp["employed"][idx] = False
    reg = idx[(rng.random(len(idx)) < 0.3) & (age[idx] < 60)]
    pp["unemp_reg"][reg] = end[np.isin(idx, reg)] + 5
    pp["unemp_end"][reg] = -1
    main_earner = idx[pp["wage"][idx] > 0]
    sim.mark(pp["hh"][main_earner], "jobloss", t, severe=False, loss=np.zeros(len(main_earner)))
    # back to work: people with a recent job, or young people entering the labour market
    seeking = alive & ~pp["employed"] & (age >= 18) & (age < 60) & ~sim.student
    had_job = pp["ljob_end"] >= 0
    p_back = np.where(had_job, 0.14, np.where(age < 30, 0.006, 0.0008))
    back = np.flatnonzero(seeking & (rng.random(n) < p_back) & (pp["ljob_end"] < day))
    pp["employed"][back] = True
    pp["job_start"][back] = sim.days_in_month(len(back))
    pp["employer"][back] = rng.integers(0, 400, len(back))
    pp["region"][back] = np.where(age[back] >= 56, 0, rng.choice(3, len(back), p=[0.25, 0.27, 0.48]))
    ended = back[(pp["unemp_reg"][back] >= 0) & (pp["unemp_end"][back] < 0)]
    pp["unemp_end"][ended] = pp["job_start"][ended]
    no_wage = back[pp["wage"][back] <= 0]
    pp["wage"][no_wage] = np.round(3500 * rng.lognormal(0, 0.3, len(no_wage)) * sim.wage_scale, -1)
    # public-welfare posts end after their term


def health(sim: Sim, t: int) -> None:
    pp, rng = sim.pop.pp, sim.rng
    n = len(pp["hh"])
    alive = pp["status"] == 0
    age = sim.age
    # onset of major illness (大病), chronic disease and disability
    major = alive & (
        rng.random(n)
        < np.where(age >= 30, 0.00032 + 0.000006 * np.maximum(age - 30, 0), 0.00006) * sim.cfg.shock_rate
    )
    midx = np.flatnonzero(major)
    pp["disease"][midx] = 1
    pp["disease_date"][midx] = sim.days_in_month(len(midx))
    pp["major_until"][midx] = t + rng.integers(3, 11, len(midx))
    sim.mark(pp["hh"][midx], "illness", t, severe=True, loss=np.zeros(len(midx)))
    chronic = alive & (pp["disease"] == 0) & (age >= 40) & (rng.random(n) < 0.0006)
    cidx = np.flatnonzero(chronic)
    pp["disease"][cidx] = 2
    pp["disease_date"][cidx] = sim.days_in_month(len(cidx))
    sim.mark(pp["hh"][cidx], "chronic", t, severe=False, loss=np.zeros(len(cidx)))
    dis = (
        alive
        & (pp["dis_kind"] < 0)
        & (rng.random(n) < (0.00008 + 0.000004 * np.maximum(age - 40, 0)) * sim.cfg.shock_rate)
    )
    sim.disable(np.flatnonzero(dis), t)
    # hospital stays: ordinary ones, repeated ones during an active major illness, chronic outpatient care
    active = alive & (pp["major_until"] >= t)
    p_in = (0.0055 + 0.00032 * np.maximum(age - 45, 0)) * sim.cfg.shock_rate
    ordinary = alive & ~active & (rng.random(n) < p_in)
    repeat = active & (rng.random(n) < 0.5)
    chronic_visit = alive & (pp["disease"] == 2) & (rng.random(n) < 0.3)
    who = np.concatenate([np.flatnonzero(ordinary), np.flatnonzero(repeat), np.flatnonzero(chronic_visit)])
    cost = np.concatenate(
        [
            rng.lognormal(np.log(5200), 0.75, ordinary.sum()),
            rng.lognormal(np.log(36000), 0.6, repeat.sum()),
            rng.lognormal(np.log(380), 0.6, chronic_visit.sum()),
        ]
    )
    inpatient = np.concatenate(
        [np.ones(ordinary.sum() + repeat.sum(), bool), np.zeros(chronic_visit.sum(), bool)]
    )
    sim.settlements(who, cost, inpatient, t)
    # accidents (意外事故)
    acc = np.flatnonzero(alive & (age >= 14) & (age < 75) & (rng.random(n) < 0.00035 * sim.cfg.shock_rate))
    if len(acc):
        injury = rng.choice(3, len(acc), p=[0.7, 0.26, 0.04])
        loss = np.round(rng.lognormal(np.log(5000), 0.9, len(acc)) * np.array([1.0, 4.0, 12.0])[injury], 2)
        date = sim.days_in_month(len(acc))
        columns = {
            "report_id": sim.serial("em_accident", "SG", len(acc)),
            "id_number": sim.pop.ids.take(pa.array(acc)),
            "event_date": ev.dates(date),
            "injury": ev.codes(injury, ["minor", "severe", "death"]),
            "loss_yuan": ev.money(loss),
        }
        sim.add_event("em_accident", t, ev.keep_recorded(columns, acc, sim.cfg.registration_rate, 9))
        severe = acc[injury >= 1]
        sim.mark(pp["hh"][acc], "accident", t, severe=injury >= 1, loss=loss)
        sev = acc[injury == 1]
        sim.settlements(sev, rng.lognormal(np.log(30000), 0.6, len(sev)), np.ones(len(sev), bool), t)
        sim.disable(sev[rng.random(len(sev)) < 0.3], t)
        dead = acc[injury == 2]
        pp["status"][dead] = 1
        pp["status_date"][dead] = date[injury == 2]
        pp["employed"][dead] = False
        del severe


def disasters(sim: Sim, t: int) -> None:
    """Natural disasters hit a cluster: the seed village, much of its township and its code-order neighbours."""
    rng, world = sim.rng, sim.world
    month = sim.calendar_month
    cfg = sim.cfg
    n_events = rng.poisson(world.n * DISASTERS_PER_VILLAGE_MONTH * SEASON[month - 1] * cfg.disaster_rate)
    hh = sim.pop.hh
    sim.drought_villages = np.zeros(world.n, bool)
    forced = cfg.disaster_at is not None and cfg.disaster_at[0] == cfg.period(sim.t)
    for i in range(n_events + forced):
        kind = int(rng.choice(7, p=_kind_p(month)))
        seed = int(rng.integers(0, world.n))
        if i == n_events and cfg.disaster_at is not None:
            found = np.flatnonzero(world.code == int(cfg.disaster_at[1]))
            if not len(found):
                raise ValueError(f"disaster_at: village {cfg.disaster_at[1]} is not simulated")
            seed = int(found[0])
        same_town = world.township == world.township[seed]
        near = np.abs(np.arange(world.n) - seed) <= 4
        hit_v = (same_town & (rng.random(world.n) < 0.55)) | (near & (rng.random(world.n) < 0.5))
        hit_v[seed] = True
        cluster = sim.next_cluster()
        if kind == 2:
            sim.drought_villages |= hit_v
        members = np.flatnonzero(hit_v[hh["village"]] & ~hh["dissolved"])
        members = members[rng.random(len(members)) < HIT_P[kind]]
        if not len(members):
            continue
        damage = rng.choice(4, len(members), p=DAMAGE_P[kind])
        farm = rng.lognormal(np.log(2200), 0.8, len(members))
        house = np.array([0.0, 3000.0, 25000.0, 70000.0])[damage] * rng.lognormal(0, 0.4, len(members))
        loss = np.round(farm + house, 2)
        date = sim.month_start + int(rng.integers(0, sim.month_days))
        sim.add_event(
            "em_disaster",
            t,
            {
                "report_id": sim.serial("em_disaster", "ZQ", len(members)),
                "household_no": ev.strings_of_ints(hh["no"][members]),
                "event_date": ev.dates(np.full(len(members), date)),
                "kind": ev.codes(np.full(len(members), kind), DISASTER_KINDS),
                "house_damage": ev.codes(damage, DAMAGE),
                "loss_yuan": ev.money(loss),
            },
        )
        hh["bus_loss"][members] = np.maximum(
            hh["bus_loss"][members], FARM_LOSS[kind] * rng.uniform(0.5, 1.2, len(members))
        )
        hh["last_disaster_kind"][members] = kind
        bad = members[damage >= 2]
        hh["house"][bad] = np.where(damage[damage >= 2] == 3, 3, 2)
        hh["house_date"][bad] = date + 20
        hh["renovated"][bad] = False
        sim.mark(
            members, "disaster", t, severe=damage >= 2, loss=loss, cluster=cluster, kind2=DISASTER_KINDS[kind]
        )
        sim.temporary_aid(bad, t, 0.6)


def failures(sim: Sim, t: int) -> None:
    hh, rng = sim.pop.hh, sim.rng
    p = np.where(hh["runs_business"], 0.0015, 0.0003) * sim.cfg.shock_rate
    fail = np.flatnonzero(~hh["dissolved"] & (rng.random(len(p)) < p))
    hh["bus_loss"][fail] = 0.8
    hh["biz_active"][fail[rng.random(len(fail)) < 0.5]] = False
    sim.mark(
        fail,
        "project_failure",
        t,
        severe=True,
        loss=np.round(hh["bus_base"][fail] * rng.uniform(0.3, 0.9, len(fail)), 2),
    )


STAGES = ["preschool", "primary", "junior", "senior", "vocational", "higher"]
# compliant yearly schooling cost per stage (tuition, boarding) charged in September, and aid for poor families
SCHOOL_COST = np.array([1000.0, 0.0, 0.0, 3000.0, 1200.0, 7500.0])
AID = np.array([0.0, 0.0, 0.0, 2000.0, 3000.0, 3300.0])
AID_KIND = ["", "", "", "国家助学金", "雨露计划", "雨露计划"]


def stage_of(age_at_sept: Arr, school_p: Arr) -> Arr:
    """Stage index, −1 not in school; a child's fixed draw decides preschool and the paths after 15."""
    a = np.floor(age_at_sept)
    s = np.full(len(a), -1, np.int8)
    s[(a >= 3) & (a < 6) & (school_p < 0.88)] = 0
    s[(a >= 6) & (a < 12)] = 1
    s[(a >= 12) & (a < 15)] = 2
    s[(a >= 15) & (a < 18) & (school_p < 0.55)] = 3
    s[(a >= 15) & (a < 18) & (school_p >= 0.55) & (school_p < 0.9)] = 4
    s[(a >= 18) & (a < 22) & (school_p < 0.5)] = 5
    return s


def schooling(sim: Sim, t: int) -> None:
    pp, hh, rng = sim.pop.pp, sim.pop.hh, sim.rng
    # dropouts are rare and happen in households in difficulty; the school brings them back (控辍保学)
    compulsory = (sim.stage == 1) | (sim.stage == 2)
    poor = sim.below_line[pp["hh"]]
    drop = np.flatnonzero(compulsory & poor & (pp["dropout_until"] < t) & (rng.random(len(poor)) < 0.004))
    pp["dropout_until"][drop] = t + rng.integers(2, 8, len(drop))
    if sim.calendar_month != 9:
        return
    students = np.flatnonzero(sim.stage >= 0)
    stage = sim.stage[students]
    cost = SCHOOL_COST[stage] * rng.uniform(0.8, 1.25, len(students))
    h = pp["hh"][students]
    eligible = hh["former_poor"][h] | (hh["monitor"][h] == 1) | hh["dibao"][h]
    aid = np.where(eligible, AID[stage], 0.0)
    got = np.flatnonzero(aid > 0)
    if len(got):
        sim.add_event(
            "ed_aid",
            t,
            {
                "id_number": sim.pop.ids.take(pa.array(students[got])),
                "year": pa.array(np.full(len(got), sim.year), pa.int64()),
                "kind": pa.array([AID_KIND[s] for s in (3, 4, 5)]).take(pa.array(stage[got] - 3)),
                "amount_yuan": ev.money(aid[got]),
            },
        )
    sim.edu_cost += np.bincount(h, weights=cost, minlength=len(hh["no"]))
    sim.edu_aid += np.bincount(h, weights=aid, minlength=len(hh["no"]))
    big = h[(stage >= 3) & (sim.age[students] < 19)]
    entering = big[np.isin(stage[(stage >= 3) & (sim.age[students] < 19)], (3, 5))]
    sim.mark(np.unique(entering), "schooling", t, severe=False, loss=np.zeros(len(np.unique(entering))))
