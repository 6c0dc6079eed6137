"""The month loop: state of every household and person, shocks, assistance, income, truth, roster."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fangpin.synth import economy, ids, names, shocks, truth
from fangpin.synth import events as ev
from fangpin.synth.config import INCOME_GROWTH, SynthConfig
from fangpin.synth.population import Population, World

Arr = npt.NDArray[Any]
SHOCK_KINDS = [
    "illness",
    "chronic",
    "disability",
    "accident",
    "disaster",
    "jobloss",
    "schooling",
    "death",
    "project_failure",
    "house",
]
MID_2024 = np.datetime64("2024-07", "M")


class Sim:
    def __init__(self, cfg: SynthConfig, world: World, pop: Population, rng: np.random.Generator) -> None:
        self.cfg, self.world, self.pop, self.rng = cfg, world, pop, rng
        # the world's knobs draw from their own stream: the default world keeps its bytes
        self.world_rng = np.random.default_rng([cfg.seed, 3])
        n = pop.n_hh
        hh = pop.hh
        # narrow dtypes keep a 10-million-person province small: month indices int16, days int32,
        # per-month money float32; yearly sums and latent bases stay float64
        hh["bus_loss"] = np.zeros(n, np.float32)
        for key in (
            "last_severe",
            "last_disaster",
            "last_accident",
            "last_failure",
            "last_jobloss",
            "last_illness",
            "last_disability",
            "monitor_since",
            "declared",
        ):
            hh[key] = np.full(n, -999, np.int16)  # month index t
        for key in ("dibao_start", "temp_date"):
            hh[key] = np.full(n, -999, np.int32)  # days since 1970
        hh["last_disaster_kind"] = np.zeros(n, np.int8)
        hh["monitor"] = np.zeros(n, np.int8)
        hh["category"] = np.zeros(n, np.int8)
        hh["clear_months"] = np.zeros(n, np.int16)
        hh["dibao"] = np.zeros(n, bool)
        hh["dibao_amt"] = np.zeros(n, np.float32)
        hh["temp_amt"] = np.zeros(n, np.float32)
        for key in ("ring_inc", "ring_med", "ring_edu", "ring_loss"):
            hh[key] = np.zeros((n, 12), np.float32)
        for key in ("y_wage", "y_bus", "y_prop", "y_transfer", "ly_wage", "ly_bus", "ly_prop", "ly_transfer"):
            hh[key] = np.zeros(n)
        hh["ly_members"] = np.zeros(n, np.int16)
        hh["survey_sample"] = rng.random(n) < cfg.survey_share
        # the monitoring practice (truth._cadres_would): months at risk in a row, households cadres overlook
        hh["meets_run"] = np.zeros(n, np.int16)
        hh["overlooked"] = self.world_rng.random(n) < cfg.never_monitored
        self.ly_year = 0
        self.wage_scale = (
            float(np.median(pop.pp["wage"][pop.pp["employed"]]) / 3500) if pop.pp["employed"].any() else 1.0
        )
        # villages: water supply
        v = world.n
        self.water_central = rng.random(v) < 0.86
        self.water_quality = rng.random(v) > cfg.bad_water_share
        self.outage = np.zeros(v, np.int64)
        self.drought_villages = np.zeros(v, bool)
        self.events: dict[str, dict[int, list[pa.Table]]] = defaultdict(lambda: defaultdict(list))
        self.shock_rows: list[dict[str, Any]] = []
        self.counters: dict[str, int] = defaultdict(int)
        self.cluster = 0
        self.below_line = np.zeros(n, bool)
        self.net_pc = np.full(n, 1e9)
        # the truth of the month just evaluated (t >= 0); generate() writes it out before the next month
        self.truth_month: pa.Table | None = None

    # ----- calendar -------------------------------------------------------------------------------------
    def set_month(self, t: int) -> None:
        self.t = t
        m = self.cfg.start_month + t
        self.month = m
        self.month_start = int(m.astype("datetime64[D]").astype(np.int64))
        self.month_days = int(((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype(np.int64))
        self.calendar_month = int(m.astype(np.int64) % 12 + 1)
        self.year = int(m.astype("datetime64[Y]").astype(np.int64) + 1970)
        self.growth = economy.growth(int((m - MID_2024).astype(np.int64)), INCOME_GROWTH)
        self._refresh_people()

    def _refresh_people(self) -> None:
        pp = self.pop.pp
        self.age = ((self.month_start - pp["birth"]) / 365.25).astype(np.float32)
        sept = self.year if self.calendar_month >= 9 else self.year - 1
        sept_day = int(np.datetime64(f"{sept}-09-01", "D").astype(np.int64))
        stage = shocks.stage_of((sept_day - pp["birth"]) / 365.25, pp["school_p"])
        stage[pp["status"] != 0] = -1
        self.stage = stage
        self.student = self.stage >= 0

    def days_in_month(self, n: int | np.integer[Any]) -> Arr:
        out: Arr = self.month_start + self.rng.integers(0, self.month_days, int(n))
        return out

    # ----- recording ------------------------------------------------------------------------------------
    def serial(self, dataset: str, prefix: str, n: int) -> pa.StringArray:
        start = self.counters[dataset]
        self.counters[dataset] += n
        return ev.serial(f"{prefix}{self.cfg.region}{str(self.month).replace('-', '')}", start, n)

    def add_event(self, dataset: str, t: int, columns: dict[str, pa.Array]) -> None:
        self.events[dataset][t].append(pa.table(columns))

    def next_cluster(self) -> int:
        self.cluster += 1
        return self.cluster

    def mark(
        self,
        hh_idx: Arr,
        kind: str,
        t: int,
        severe: Arr | bool,
        loss: Arr,
        cluster: int = -1,
        kind2: str = "",
    ) -> None:
        """Record shocks for the truth and update the 'last shock' clocks used by the criteria."""
        hh = self.pop.hh
        hh_idx = np.asarray(hh_idx, np.int64)
        if not len(hh_idx):
            return
        sev = np.broadcast_to(np.asarray(severe, bool), hh_idx.shape)
        hh["last_severe"][hh_idx[sev]] = t
        clock = {
            "illness": "last_illness",
            "disaster": "last_disaster",
            "accident": "last_accident",
            "project_failure": "last_failure",
            "jobloss": "last_jobloss",
            "disability": "last_disability",
        }.get(kind)
        if clock:
            hh[clock][hh_idx] = t
        np.add.at(self.loss_month, hh_idx, np.asarray(loss, np.float64))
        self.shock_rows.append(
            {
                "household_no": hh["no"][hh_idx],
                "t": np.full(len(hh_idx), t),
                "kind": np.full(len(hh_idx), kind, object),
                "subkind": np.full(len(hh_idx), kind2, object),
                "severe": sev.copy(),
                "loss_yuan": np.round(np.asarray(loss, np.float64), 2),
                "village_code": self.world.code[hh["village"][hh_idx]],
                "cluster_id": np.full(len(hh_idx), cluster),
            }
        )

    # ----- actions used by shocks ------------------------------------------------------------------------
    def settlements(self, persons: Arr, cost: Arr, inpatient: Arr, t: int) -> None:
        if not len(persons):
            return
        pp, hh = self.pop.pp, self.pop.hh
        h = pp["hh"][persons]
        special = hh["former_poor"][h] | (hh["monitor"][h] == 1) | hh["dibao"][h]
        bill = economy.settle(cost, inpatient, pp["insured"][persons], special, self.rng)
        columns = {
            "settlement_id": self.serial("ms_settlement", "YB", len(persons)),
            "id_number": self.pop.ids.take(pa.array(persons)),
            "settle_date": ev.dates(self.days_in_month(len(persons))),
            "visit_type": ev.codes(np.where(inpatient, 0, 1), ["inpatient", "outpatient_chronic"]),
            "total_cost": ev.money(bill.total),
            "basic_paid": ev.money(bill.basic),
            "critical_paid": ev.money(bill.critical),
            "assistance_paid": ev.money(bill.assistance),
            "self_pay": ev.money(bill.self_pay),
        }
        self.add_event("ms_settlement", t, ev.keep_recorded(columns, persons, self.cfg.registration_rate, 8))
        np.add.at(self.med_month, h, bill.compliant)

    def disable(self, persons: Arr, t: int) -> None:
        pp = self.pop.pp
        persons = persons[pp["dis_kind"][persons] < 0]
        n = len(persons)
        if not n:
            return
        pp["dis_kind"][persons] = self.rng.choice(7, n, p=[0.1, 0.1, 0.02, 0.5, 0.05, 0.13, 0.1])
        pp["dis_grade"][persons] = self.rng.choice([1, 2, 3, 4], n, p=[0.15, 0.25, 0.3, 0.3])
        pp["dis_date"][persons] = self.days_in_month(n) + 30
        self.mark(pp["hh"][persons], "disability", t, severe=pp["dis_grade"][persons] <= 2, loss=np.zeros(n))

    def temporary_aid(self, hh_idx: Arr, t: int, p: float) -> None:
        hh = self.pop.hh
        boost = np.where((hh["monitor"][hh_idx] == 1) | hh["former_poor"][hh_idx], 1.5, 1.0)
        got = hh_idx[self.rng.random(len(hh_idx)) < p * boost]
        hh["temp_date"][got] = self.days_in_month(len(got))
        amount = np.round(self.rng.uniform(1000, 8000, len(got)), -2)
        hh["temp_amt"][got] = amount
        np.add.at(self.aid_month, got, amount)

    def add_births(self, mothers: Arr, t: int) -> None:
        pp = self.pop.pp
        n = len(mothers)
        rng = self.rng
        male = rng.random(n) < 0.52
        birth = self.days_in_month(n)
        h = pp["hh"][mothers]
        area = self.world.area[self.pop.hh["village"][h]]
        f17 = ids.first17(area, birth, ids.sequences(area, birth, male), male)
        head_sur = self._head_surname(h)
        new: dict[str, Arr] = {
            "hh": h,
            "male": male,
            "birth": birth,
            "rel": np.where(np.isin(pp["rel"][mothers], (1, 2)), 3, 5).astype(np.int8),
            "surname": head_sur,
        }
        self._append_persons(new, names.full_names(rng, head_sur, male), ids.to_strings(f17))

    def _head_surname(self, h: Arr) -> Arr:
        pp = self.pop.pp
        heads = np.flatnonzero(pp["rel"] == 1)
        sur = np.zeros(self.pop.n_hh, np.int16)
        sur[pp["hh"][heads]] = pp["surname"][heads]
        out: Arr = sur[h]
        return out

    def _append_persons(self, new: dict[str, Arr], person_names: pa.Array, person_ids: pa.Array) -> None:
        pp = self.pop.pp
        n = len(new["hh"])
        for key, arr in pp.items():
            if key in new:
                add = np.asarray(new[key]).astype(arr.dtype)
            elif key in (
                "status_date",
                "job_start",
                "ljob_start",
                "ljob_end",
                "unemp_reg",
                "unemp_end",
                "post_start",
                "post_end",
                "dis_date",
                "disease_date",
            ):
                add = np.full(n, -1, arr.dtype)
            elif key in ("major_until", "dropout_until"):
                add = np.full(n, -999, arr.dtype)
            elif key == "dis_kind":
                add = np.full(n, -1, arr.dtype)
            elif key == "insured":
                add = np.ones(n, bool)
            elif key == "contributing":
                add = self.rng.random(n) < 0.82
            elif key == "pension_amt":
                add = np.round(165 + self.rng.gamma(2.0, 25.0, n), 0)
            elif key == "school_p":
                add = self.rng.random(n)
            else:
                add = np.zeros(n, arr.dtype)
            pp[key] = np.concatenate([arr, add])
        self.pop.names = pa.concat_arrays([self.pop.names, person_names])
        self.pop.ids = pa.concat_arrays([self.pop.ids, person_ids])
        self._refresh_people()

    def split_households(self, persons: Arr, t: int) -> None:
        """分户: the person becomes head of a new household in the same village, with a new household number."""
        hh, pp = self.pop.hh, self.pop.pp
        parents = pp["hh"][persons]
        persons = persons[np.unique(parents, return_index=True)[1]]
        parents = pp["hh"][persons]
        n_old, k = self.pop.n_hh, len(persons)
        village = hh["village"][parents]
        seq = np.zeros(k, np.int64)  # 4-digit sequence in the village
        for i, v in enumerate(village):  # a handful per month
            seq[i] = self.pop.village_seq[v]
            self.pop.village_seq[v] += 1
        share = 1.0 / np.maximum(np.bincount(pp["hh"][pp["status"] == 0], minlength=n_old)[parents], 1)
        for key, arr in list(hh.items()):
            add = arr[parents].copy()
            if key in (
                "ring_inc",
                "ring_med",
                "ring_edu",
                "ring_loss",
                "bus_base",
                "prop_base",
                "support_base",
                "informal_base",
                "y_wage",
                "y_bus",
                "y_prop",
                "y_transfer",
            ):
                add = (add.T * share).T.astype(arr.dtype)
            hh[key] = np.concatenate([arr, add])
        new = np.arange(n_old, n_old + k)
        hh["no"][new] = self.world.code[village] * 10_000 + seq
        hh["parent"][new] = parents
        for key in ("monitor", "category", "vehicle", "estate", "biz_kind", "loan_status", "ly_members"):
            hh[key][new] = -1 if key in ("vehicle", "biz_kind") else 0
        hh["monitor"][new] = 0
        for key in ("dibao", "has_deposit", "biz_active", "runs_business"):
            hh[key][new] = False
        hh["loan_amt"][new] = 0.0
        hh["house"][new] = 1
        hh["house_date"][new] = self.month_start
        pp["hh"][persons] = new
        pp["rel"][persons] = 1
        for name in ("loss_month", "med_month", "aid_month", "edu_cost", "edu_aid"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(k)]))
        self.below_line = np.concatenate([self.below_line, np.zeros(k, bool)])
        self.net_pc = np.concatenate([self.net_pc, self.net_pc[parents]])

    # ----- the month ------------------------------------------------------------------------------------
    def step(self, t: int) -> None:
        self.set_month(t)
        n = self.pop.n_hh
        self.loss_month = np.zeros(n)
        self.med_month = np.zeros(n)
        self.aid_month = np.zeros(n)
        self.edu_cost = np.zeros(n)
        self.edu_aid = np.zeros(n)
        shocks.demography(self, t)
        self._refresh_people()
        shocks.labour(self, t)
        shocks.health(self, t)
        shocks.disasters(self, t)
        shocks.failures(self, t)
        shocks.schooling(self, t)
        self._water(t)
        truth.assist(self, t)
        self._income(t)
        truth.evaluate(self, t)

    def _water(self, t: int) -> None:
        rng, v = self.rng, self.world.n
        base = rng.poisson(0.4, v)
        drought = rng.integers(12, 48, v)
        # a drought keeps taps dry for weeks; supplies recover over the following months
        self.outage = np.where(
            self.drought_villages,
            np.maximum(drought, self.outage),
            np.maximum(base, (self.outage * 0.4).astype(np.int64)),
        )
        # a failed quality test is fixed within a few months (饮水安全 is a priority of the assistance)
        self.water_quality = np.where(self.water_quality, rng.random(v) > 0.0008, rng.random(v) < 0.35)

    def _income(self, t: int) -> None:
        hh, pp, rng = self.pop.hh, self.pop.pp, self.rng
        n = self.pop.n_hh
        alive = pp["status"] == 0
        h = pp["hh"]
        g = self.growth
        wage = economy.bincount(h, pp["wage"] * g * (pp["employed"] & alive), n)
        post = economy.bincount(h, pp["post_amt"] * alive * (pp["post_end"] >= self.month_start), n)
        pension = economy.bincount(h, pp["pension_amt"] * (alive & (self.age >= 60)), n)
        dis_sub = economy.bincount(h, alive * ((pp["dis_grade"] > 0) & (pp["dis_grade"] <= 2)) * 90.0, n)
        bus = hh["bus_base"] / 12 * g * (1 - hh["bus_loss"]) * rng.lognormal(0, 0.15, n)
        prop = hh["prop_base"] / 12 * g
        transfers = (
            hh["support_base"] / 12 * g
            + hh["policy_base"] / 12
            + hh["dibao_amt"]
            + self.aid_month
            + self.edu_aid
            + dis_sub
            + pension
        )
        informal = hh["informal_base"] / 12 * g
        total = wage + post + bus + prop + transfers + informal
        slot = t % 12
        hh["ring_inc"][:, slot] = total
        hh["ring_med"][:, slot] = self.med_month
        hh["ring_edu"][:, slot] = np.maximum(self.edu_cost - self.edu_aid, 0)
        hh["ring_loss"][:, slot] = self.loss_month
        hh["bus_loss"] *= 0.82  # recovery
        if self.calendar_month == 1:
            self.ly_year = self.year - 1
            for k in ("wage", "bus", "prop", "transfer"):
                hh["ly_" + k] = hh["y_" + k].copy()
                hh["y_" + k][:] = 0
            hh["ly_members"] = np.bincount(h[alive], minlength=n)
        hh["y_wage"] += wage + post
        hh["y_bus"] += bus
        hh["y_prop"] += prop
        hh["y_transfer"] += transfers
