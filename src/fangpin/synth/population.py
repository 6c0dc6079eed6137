"""The starting population: villages on real division codes, households, persons, latent incomes, assets.

Everything is struct-of-arrays (numpy), built without per-person Python loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fangpin.lib import divisions
from fangpin.synth import ids, names
from fangpin.synth.config import SynthConfig

Arr = npt.NDArray[Any]
# relation codes of the police dataset
REL_HEAD, REL_SPOUSE, REL_CHILD, REL_PARENT, REL_GRANDCHILD, REL_OTHER = 1, 2, 3, 4, 5, 9
AVG_SIZE = 3.45


@dataclass
class World:
    """Villages (sorted by code) of the simulated region."""

    code: Arr  # int64 12-digit
    township: Arr  # int32 index of the township
    area: Arr  # int64 6-digit county code
    weight: Arr  # relative population size

    @property
    def n(self) -> int:
        return len(self.code)


def load_world(cfg: SynthConfig, rng: np.random.Generator) -> World:
    rows = [d for d in divisions.read(cfg.region) if d.level == "village" and d.prefix.startswith(cfg.region)]
    if not rows:
        raise ValueError(f"no villages under {cfg.region}")
    rows.sort(key=lambda d: d.prefix)
    code = np.array([int(d.prefix) for d in rows], np.int64)
    # 居委会/社区 are urban neighbourhoods: a few rural-hukou households live there too, far fewer
    rural = np.array([not (d.name.endswith("居委会") or d.name.endswith("社区")) for d in rows])
    town = code // 1000
    _, township = np.unique(town, return_inverse=True)
    weight = rng.gamma(4.0, 1.0, len(code)) * np.where(rural, 1.0, 0.08)
    return World(code=code, township=township.astype(np.int32), area=code // 1_000_000, weight=weight)


@dataclass
class Population:
    hh: dict[str, Arr]
    pp: dict[str, Arr]
    ids: pa.StringArray
    names: pa.StringArray
    village_seq: Arr  # next free 4-digit household sequence per village
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_hh(self) -> int:
        return len(self.hh["no"])

    @property
    def n_pp(self) -> int:
        return len(self.pp["hh"])


def _ages_head(rng: np.random.Generator, n: int) -> Arr:
    ages = np.arange(22, 93)
    w = np.exp(-0.5 * ((ages - 57) / 14.0) ** 2)
    return rng.choice(ages, size=n, p=w / w.sum()) + rng.random(n)


def build(cfg: SynthConfig, world: World, rng: np.random.Generator, ref_day: int) -> Population:
    """ref_day: days since 1970 of the first simulated month; ages are taken at that day."""
    n_hh = cfg.households or int((cfg.persons or 0) / AVG_SIZE * 1.03) + 10
    counts = rng.multinomial(n_hh, world.weight / world.weight.sum())
    if counts.max() > 9000:
        raise ValueError("too many households per village for a 4-digit sequence; use fewer households")
    village = np.repeat(np.arange(world.n, dtype=np.int32), counts)
    seq_in_village = np.arange(n_hh) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    head_age = _ages_head(rng, n_hh)
    # composition from the head's age: elderly living alone or as a couple, children who may be migrants,
    # left-behind grandchildren, parents of younger heads
    p_spouse = np.where(head_age < 70, 0.84, np.where(head_age < 80, 0.62, 0.38))
    n_spouse = (rng.random(n_hh) < p_spouse).astype(np.int64)
    n_child = np.minimum(rng.poisson(np.where(head_age < 62, 1.75, 0.55)), 4)
    n_parent = np.where(head_age < 58, rng.binomial(2, 0.22, n_hh), 0)
    n_grand = np.where(head_age >= 48, np.minimum(rng.poisson(0.55, n_hh), 3), 0)
    roles: list[tuple[int, Arr, Arr]] = []
    hidx = np.arange(n_hh)
    roles.append((REL_HEAD, hidx, head_age.astype(np.float64)))
    sp = np.repeat(hidx, n_spouse)
    roles.append((REL_SPOUSE, sp, head_age[sp] + rng.normal(-1.5, 3.0, len(sp))))
    ch = np.repeat(hidx, n_child)
    roles.append((REL_CHILD, ch, head_age[ch] - rng.uniform(22, 38, len(ch))))
    pa_ = np.repeat(hidx, n_parent)
    roles.append((REL_PARENT, pa_, np.minimum(head_age[pa_] + rng.uniform(21, 33, len(pa_)), 99)))
    gr = np.repeat(hidx, n_grand)
    roles.append((REL_GRANDCHILD, gr, head_age[gr] - rng.uniform(44, 60, len(gr))))
    rel = np.concatenate([np.full(len(h), r, np.int8) for r, h, _ in roles])
    hh = np.concatenate([h for _, h, _ in roles])
    age = np.concatenate([a for _, _, a in roles])
    keep = age >= 0
    rel, hh, age = rel[keep], hh[keep], age[keep]
    order = np.lexsort((rel, hh))
    rel, hh, age = rel[order], hh[order], age[order]
    if cfg.persons and not cfg.households:
        # whole households until the requested number of persons is reached
        cut_hh = hh[min(cfg.persons, len(hh)) - 1]
        keep = hh <= cut_hh
        rel, hh, age = rel[keep], hh[keep], age[keep]
        n_hh = int(cut_hh) + 1
        village, seq_in_village, head_age = village[:n_hh], seq_in_village[:n_hh], head_age[:n_hh]
    n = len(hh)
    head_male = rng.random(n_hh) < 0.86
    male = rng.random(n) < 0.52
    male = np.where(rel == REL_HEAD, head_male[hh], male)
    male = np.where(rel == REL_SPOUSE, ~head_male[hh], male)
    # the first listed parent is the father
    first_parent = (rel == REL_PARENT) & np.r_[True, rel[:-1] != REL_PARENT]
    male = np.where(rel == REL_PARENT, first_parent, male)
    birth = (ref_day - age * 365.25).astype(np.int64)
    area = world.area[village[hh]]
    seq = ids.sequences(area, birth, male)
    f17 = ids.first17(area, birth, seq, male)
    head_sur = names.surnames(rng, n_hh)
    own_sur = names.surnames(rng, n)
    blood = np.isin(rel, (REL_CHILD, REL_GRANDCHILD)) | ((rel == REL_PARENT) & male)
    surname = np.where((rel == REL_HEAD) | blood, head_sur[hh], own_sur)
    person_names = names.full_names(rng, surname, male)

    former_poor = rng.random(n_hh) < cfg.former_poor_share
    pp: dict[str, Arr] = {
        "hh": hh.astype(np.int32),
        "male": male,
        "birth": birth.astype(np.int32),
        "rel": rel,
        "surname": surname.astype(np.int16),
        "status": np.zeros(n, np.int8),
        "status_date": np.full(n, -1, np.int32),
    }
    _persons_attributes(pp, rng, age, former_poor, ref_day, cfg.uninsured_share)
    hhd: dict[str, Arr] = {
        "village": village,
        "no": world.code[village] * 10_000 + seq_in_village,
        "former_poor": former_poor,
        "exit_year": np.where(
            former_poor, rng.choice([2016, 2017, 2018, 2019, 2020], n_hh, p=[0.15, 0.25, 0.3, 0.2, 0.1]), 0
        ).astype(np.int16),
        "parent": np.full(n_hh, -1, np.int32),
        "dissolved": np.zeros(n_hh, bool),
    }
    _incomes(cfg, hhd, pp, rng, age)
    _assets(hhd, pp, rng, ref_day)
    village_seq = np.zeros(world.n, np.int64)
    np.maximum.at(village_seq, village, seq_in_village + 1)
    person_ids = ids.to_strings(f17)
    del f17
    return Population(hh=hhd, pp=pp, ids=person_ids, names=person_names, village_seq=village_seq)


def _persons_attributes(
    pp: dict[str, Arr],
    rng: np.random.Generator,
    age: Arr,
    former_poor: Arr,
    ref_day: int,
    uninsured_share: float,
) -> None:
    n = len(age)
    male = pp["male"]
    # migrant and local jobs: labour-age members, men more often; region county / in province / outside
    p_job = np.where(
        (age >= 18) & (age < 56), np.where(male, 0.68, 0.52), np.where((age >= 56) & (age < 65), 0.22, 0.0)
    )
    employed = rng.random(n) < p_job
    region = rng.choice(3, n, p=[0.22, 0.26, 0.52]).astype(np.int8)
    region = np.where(age >= 56, 0, region).astype(np.int8)
    median = (
        np.array([3200.0, 4000.0, 4900.0])[region] * np.where(male, 1.0, 0.84) * np.where(age > 50, 0.82, 1.0)
    )
    pp["wage"] = np.round(median * rng.lognormal(0, 0.33, n), -1).astype(np.float32)
    pp["employed"] = employed
    pp["region"] = region
    pp["employer"] = rng.integers(0, 400, n).astype(np.int16)
    pp["job_start"] = (ref_day - rng.integers(30, 3000, n)).astype(np.int32)
    for k in ("ljob_start", "ljob_end", "unemp_reg", "unemp_end", "post_start", "post_end"):
        pp[k] = np.full(n, -1, np.int32)
    pp["lwage"] = np.zeros(n, np.float32)
    pp["lregion"] = np.zeros(n, np.int8)
    pp["lemployer"] = np.zeros(n, np.int16)
    pp["post_amt"] = np.zeros(n, np.float32)
    # disability certificates (残疾人证): prevalence rises with age
    p_dis = 0.012 + 0.0007 * np.maximum(age - 20, 0)
    dis = rng.random(n) < p_dis
    pp["dis_kind"] = np.where(dis, rng.choice(7, n, p=[0.14, 0.16, 0.02, 0.42, 0.08, 0.1, 0.08]), -1).astype(
        np.int8
    )
    pp["dis_grade"] = np.where(dis, rng.choice([1, 2, 3, 4], n, p=[0.12, 0.22, 0.3, 0.36]), 0).astype(np.int8)
    pp["dis_date"] = np.where(dis, ref_day - rng.integers(60, 6000, n), -1).astype(np.int32)
    # registered diseases: chronic (门诊慢特病), major (大病), severe mental disorders
    u = rng.random(n)
    p_chronic = np.where(age >= 35, 0.03 + 0.0025 * (age - 35), 0.004)
    p_major = np.where(age >= 30, 0.006, 0.001)
    disease = np.where(
        u < p_major, 1, np.where(u < p_major + p_chronic, 2, np.where(u < p_major + p_chronic + 0.003, 3, 0))
    )
    pp["disease"] = disease.astype(np.int8)
    pp["disease_date"] = np.where(disease > 0, ref_day - rng.integers(30, 4000, n), -1).astype(np.int32)
    pp["major_until"] = np.full(n, -999, np.int16)  # month index
    pp["insured"] = rng.random(n) > uninsured_share
    pp["pension_amt"] = np.round(165 + rng.gamma(2.0, 25.0, n), 0).astype(np.float32)
    pp["contributing"] = rng.random(n) < 0.82
    pp["dropout_until"] = np.full(n, -999, np.int16)  # month index
    # fixed per child: decides senior/vocational/higher paths
    pp["school_p"] = rng.random(n).astype(np.float32)


def _incomes(
    cfg: SynthConfig, hh: dict[str, Arr], pp: dict[str, Arr], rng: np.random.Generator, age: Arr
) -> None:
    """Latent annual income components at the mid-2024 level, scaled so the per-capita mean hits the target."""
    n_hh = len(hh["no"])
    h = pp["hh"]
    labour = (age >= 16) & (age < 65) & ~((pp["dis_grade"] > 0) & (pp["dis_grade"] <= 2))
    n_labour = np.bincount(h, weights=labour, minlength=n_hh)
    n_elder = np.bincount(h, weights=age >= 60, minlength=n_hh)
    size = np.bincount(h, minlength=n_hh).astype(np.float64)
    # a household effect gives the long lower tail (poor land, remote village, debts) and the rich upper tail
    effect = rng.lognormal(0.0, cfg.income_sigma, n_hh) * np.where(hh["former_poor"], 0.82, 1.0)
    bus = 3200.0 * (0.4 + n_labour) * effect * rng.lognormal(0, 0.3, n_hh)
    runs_business = rng.random(n_hh) < 0.06 * np.minimum(effect, 3)
    bus = np.where(runs_business, bus * 4.0, bus)
    support = n_elder * 2600.0 * rng.lognormal(0, 0.5, n_hh)  # children outside the household send money
    prop = size * 260.0 * effect * rng.lognormal(0, 0.6, n_hh)
    policy = size * np.where(hh["former_poor"], 1100.0, 280.0)  # land subsidies, former-poor policies
    informal = 0.07 * (bus + prop + support) * rng.lognormal(0, 0.4, n_hh)
    wage_year = np.bincount(h, weights=pp["wage"] * 12 * pp["employed"], minlength=n_hh)
    pension = np.bincount(h, weights=(age >= 60) * pp["pension_amt"] * 12, minlength=n_hh)
    # The forward model (workers × wages + farming) is far more unequal than observed rural incomes, whose
    # lower tail is cushioned by family transfers: shrink each household towards the mean in log terms.
    scalable = bus + prop + support + informal + wage_year
    natural = (scalable + pension + policy) / size
    log_n = np.log(np.maximum(natural, 500.0))
    centre = np.average(log_n, weights=size)
    desired = np.exp(centre + cfg.income_shrink * (log_n - centre) + rng.normal(0, 0.08, n_hh))
    factor = np.maximum(desired * size - pension - policy, 0.15 * scalable) / np.maximum(scalable, 1.0)
    target = cfg.income_mean(2024) * size.sum()
    scale = (target - (pension + policy).sum()) / (scalable * factor).sum()
    f = factor * scale
    hh["bus_base"] = bus * f
    hh["prop_base"] = prop * f
    hh["support_base"] = support * f
    hh["policy_base"] = policy
    hh["informal_base"] = informal * f
    pp["wage"] = np.round(pp["wage"] * f[h], -1).astype(np.float32)
    hh["bus_cost_share"] = rng.uniform(0.25, 0.5, n_hh).astype(np.float32)
    hh["effect"] = effect.astype(np.float32)
    hh["runs_business"] = runs_business


def _assets(hh: dict[str, Arr], pp: dict[str, Arr], rng: np.random.Generator, ref_day: int) -> None:
    """Asset signals for the asset checks: richer households are likelier to own them."""
    n = len(hh["no"])
    rich = np.log(hh["effect"])
    logistic = 1 / (1 + np.exp(-(rich - 0.6) * 3))
    u = rng.random(n)
    # vehicle_type: 0 car, 1 truck, 2 tractor, 3 motorcycle
    vt = np.where(
        u < 0.25 * logistic + 0.04,
        0,
        np.where(
            u < 0.3 * logistic + 0.06,
            1,
            np.where(u < 0.3 * logistic + 0.09, 2, np.where(u < 0.3 * logistic + 0.3, 3, -1)),
        ),
    )
    hh["vehicle"] = vt.astype(np.int8)
    hh["vehicle_date"] = (ref_day - rng.integers(100, 4000, n)).astype(np.int32)
    base_price = np.array([90000.0, 70000.0, 25000.0, 5000.0, 0.0])[vt]
    hh["vehicle_price"] = np.round(base_price * rng.lognormal(0, 0.35, n), -2).astype(np.float32)
    hh["estate"] = (rng.random(n) < 0.09 * logistic + 0.005).astype(np.int8) * 1  # urban housing
    hh["estate"] = np.where((hh["estate"] == 1) & (rng.random(n) < 0.1), 2, hh["estate"]).astype(
        np.int8
    )  # commercial
    hh["estate_date"] = (ref_day - rng.integers(100, 5000, n)).astype(np.int32)
    hh["estate_area"] = np.round(rng.uniform(60, 140, n), 1)  # float64: written as is
    biz = hh["runs_business"] & (rng.random(n) < 0.6)
    hh["biz_kind"] = np.where(biz, rng.choice(3, n, p=[0.12, 0.73, 0.15]), -1).astype(np.int8)
    hh["biz_capital"] = np.round(rng.lognormal(np.log(100000), 0.9, n), -3).astype(np.float32)
    hh["biz_active"] = biz.copy()
    hh["deposit"] = np.round(rng.lognormal(np.log(15000), 1.1, n) * hh["effect"] ** 1.5, 2)
    hh["has_deposit"] = rng.random(n) < 0.75
    loan = hh["former_poor"] & (rng.random(n) < 0.18)
    hh["loan_amt"] = np.where(loan, rng.choice([10000.0, 20000.0, 30000.0, 50000.0], n), 0.0).astype(
        np.float32
    )
    hh["loan_start"] = (ref_day - rng.integers(30, 1000, n)).astype(np.int32)
    hh["loan_status"] = np.zeros(n, np.int8)  # 0 normal, 1 overdue, 2 repaid
    # houses: almost all were assessed safe in the 2019–2021 campaigns
    u = rng.random(n)
    hh["house"] = np.where(u < 0.62, 0, np.where(u < 0.9975, 1, np.where(u < 0.9992, 2, 3))).astype(np.int8)
    hh["house_date"] = (ref_day - rng.integers(200, 1800, n)).astype(np.int32)
    hh["renovated"] = (rng.random(n) < 0.1) & hh["former_poor"]
