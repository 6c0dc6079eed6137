"""Department snapshots as they stood at the end of a month, as Arrow tables with the catalog's columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from fangpin.synth import events as ev
from fangpin.synth.economy import business_split

if TYPE_CHECKING:
    from fangpin.synth.sim import Sim

Arr = npt.NDArray[Any]
EVENT_DATASETS = ("ms_settlement", "ed_aid", "em_disaster", "em_accident", "self_declaration")
_PLACES = "东莞深圳广州佛山厦门泉州宁波温州苏州上海南昌赣州吉安九江长沙杭州福州昆山中山惠州"
_TRADES = ["电子", "制衣", "鞋业", "建筑工程", "物流", "食品", "家具", "五金", "塑胶", "餐饮"]
EMPLOYERS = [f"{_PLACES[i * 2 : i * 2 + 2]}市{trade}有限公司" for i in range(20) for trade in _TRADES] * 2
POSTS = ["保洁员", "护林员", "护路员", "水利设施管护员", "村级协管员"]
RELATIONS = {1: "01", 2: "02", 3: "03", 4: "04", 5: "05", 6: "06", 9: "09"}


def head_person(sim: Sim) -> Arr:
    """Index of each household's head (or first living member), −1 if none."""
    pp = sim.pop.pp
    alive = np.flatnonzero(pp["status"] == 0)
    order = alive[np.lexsort((pp["rel"][alive], pp["hh"][alive]))]
    first = order[np.unique(pp["hh"][order], return_index=True)[1]]
    out = np.full(sim.pop.n_hh, -1, np.int64)
    out[pp["hh"][first]] = first
    return out


def _ids(sim: Sim, persons: Arr) -> pa.Array:
    return sim.pop.ids.take(pa.array(np.asarray(persons, np.int64)))


def _bools(x: Arr) -> pa.Array:
    return pa.array(np.asarray(x, bool))


def snapshots(sim: Sim, t: int) -> dict[str, Callable[[], pa.Table]]:
    """Builders of the month's snapshots: each table is built only when it is written, so that at most one
    large table is alive at a time."""
    pp, hh, world = sim.pop.pp, sim.pop.hh, sim.world
    alive = pp["status"] == 0
    heads = head_person(sim)
    live_hh = ~hh["dissolved"] & (heads >= 0)
    hh_no = ev.strings_of_ints(hh["no"])
    day = sim.month_start
    special = hh["former_poor"] | hh["dibao"] | (hh["monitor"] == 1)
    disabled = np.flatnonzero(alive & (pp["dis_kind"] >= 0))
    out: dict[str, Callable[[], pa.Table]] = {}

    def _ps_person() -> pa.Table:
        rel_codes = np.zeros(10, np.int64)
        rel_labels = ["01", "02", "03", "04", "05", "06", "09", "09", "09", "09"]
        for i, code in enumerate((1, 2, 3, 4, 5, 6, 9)):
            rel_codes[code] = i
        table = pa.table(
            {
                "id_number": sim.pop.ids,
                "name": sim.pop.names,
                "gender": ev.codes(np.where(pp["male"], 0, 1), ["1", "2"]),
                "birth_date": ev.dates(pp["birth"], nullable=False),
                "household_no": hh_no.take(pa.array(pp["hh"])),
                "relation": ev.codes(rel_codes[pp["rel"]], rel_labels),
                "village_code": ev.strings_of_ints(world.code[hh["village"][pp["hh"]]]),
                "status": ev.codes(pp["status"], ["normal", "deceased", "moved_out"]),
                "status_date": ev.dates(pp["status_date"]),
            }
        )
        return table

    out["ps_person"] = _ps_person

    def _ps_vehicle() -> pa.Table:
        owners = np.flatnonzero(live_hh & (hh["vehicle"] >= 0))
        table = pa.table(
            {
                "id_number": _ids(sim, heads[owners]),
                "vehicle_type": ev.codes(hh["vehicle"][owners], ["car", "truck", "tractor", "motorcycle"]),
                "register_date": ev.dates(hh["vehicle_date"][owners]),
                "price_yuan": ev.money(hh["vehicle_price"][owners], mask=hh["vehicle"][owners] == 2),
            }
        )
        return table

    out["ps_vehicle"] = _ps_vehicle

    def _ms_enrollment() -> pa.Table:
        living = np.flatnonzero(alive)
        # persons insured elsewhere (another province, an employer's scheme) that this county's
        # enrolment list shows as uninsured: a hardship in the data that is none in truth
        insured = pp["insured"][living] & ~ev.recorded(living, sim.cfg.enrollment_gaps, 10)
        table = pa.table(
            {
                "id_number": _ids(sim, living),
                "year": pa.array(np.full(len(living), sim.year), pa.int64()),
                "insured": _bools(insured),
                "subsidized": _bools(special[pp["hh"][living]] & pp["insured"][living]),
            }
        )
        return table

    out["ms_enrollment"] = _ms_enrollment

    def _hc_disease() -> pa.Table:
        ill = np.flatnonzero(alive & (pp["disease"] > 0))
        ill = ill[ev.recorded(ill, sim.cfg.registration_rate, 6)]
        table = pa.table(
            {
                "id_number": _ids(sim, ill),
                "category": ev.codes(pp["disease"][ill] - 1, ["major", "chronic", "severe_mental"]),
                "diagnosis_date": ev.dates(pp["disease_date"][ill]),
            }
        )
        return table

    out["hc_disease"] = _hc_disease

    def _ca_assistance() -> pa.Table:
        table = _assistance(sim, heads, live_hh)
        return table

    out["ca_assistance"] = _ca_assistance

    def _ca_disability_subsidy() -> pa.Table:
        nursing = disabled[pp["dis_grade"][disabled] <= 2]
        living_sub = disabled[special[pp["hh"][disabled]]]
        who = np.concatenate([living_sub, nursing])
        kind = np.r_[np.zeros(len(living_sub)), np.ones(len(nursing))]
        seen = ev.recorded(who, sim.cfg.transfer_coverage, 4)
        who, kind = who[seen], kind[seen]
        table = pa.table(
            {
                "id_number": _ids(sim, who),
                "kind": ev.codes(kind, ["living", "nursing"]),
                "monthly_yuan": ev.money(np.full(len(who), 90.0)),
            }
        )
        return table

    out["ca_disability_subsidy"] = _ca_disability_subsidy

    def _df_disability() -> pa.Table:
        known = disabled[ev.recorded(disabled, sim.cfg.registration_rate, 7)]
        table = pa.table(
            {
                "id_number": _ids(sim, known),
                "kind": ev.codes(
                    pp["dis_kind"][known],
                    ["visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple"],
                ),
                "grade": pa.array(pp["dis_grade"][known].astype(np.int64)),
                "issue_date": ev.dates(pp["dis_date"][known]),
            }
        )
        return table

    out["df_disability"] = _df_disability

    def _ed_student() -> pa.Table:
        students = np.flatnonzero(sim.stage >= 0)
        dropped = (pp["dropout_until"][students] >= t) & (sim.stage[students] <= 2)
        table = pa.table(
            {
                "id_number": _ids(sim, students),
                "stage": ev.codes(
                    sim.stage[students], ["preschool", "primary", "junior", "senior", "vocational", "higher"]
                ),
                "status": ev.codes(dropped.astype(np.int64), ["enrolled", "dropout"]),
            }
        )
        return table

    out["ed_student"] = _ed_student

    def _hr_employment() -> pa.Table:
        table = _employment(sim, alive)
        return table

    out["hr_employment"] = _hr_employment

    def _hr_unemployment() -> pa.Table:
        reg = np.flatnonzero(
            (pp["unemp_reg"] >= 0)
            & (pp["unemp_reg"] < day + sim.month_days)
            & ((pp["unemp_end"] < 0) | (pp["unemp_end"] >= day - 365))
        )
        table = pa.table(
            {
                "id_number": _ids(sim, reg),
                "register_date": ev.dates(pp["unemp_reg"][reg]),
                "end_date": ev.dates(pp["unemp_end"][reg]),
            }
        )
        return table

    out["hr_unemployment"] = _hr_unemployment

    def _hr_pension() -> pa.Table:
        adults = np.flatnonzero(alive & (sim.age >= 16) & ~sim.student)
        adults = adults[ev.recorded(adults, sim.cfg.transfer_coverage, 2)]
        receiving = sim.age[adults] >= 60
        table = pa.table(
            {
                "id_number": _ids(sim, adults),
                "contributing": _bools(~receiving & pp["contributing"][adults]),
                "receiving": _bools(receiving),
                "monthly_pension": ev.money(np.where(receiving, pp["pension_amt"][adults], 0.0)),
            }
        )
        return table

    out["hr_pension"] = _hr_pension

    def _hr_public_post() -> pa.Table:
        posts = np.flatnonzero((pp["post_start"] >= 0) & (pp["post_end"] >= day - 365))
        ended = pp["post_end"][posts] < day
        table = pa.table(
            {
                "id_number": _ids(sim, posts),
                "post": pa.array(POSTS).take(pa.array(posts % len(POSTS))),
                "start_date": ev.dates(pp["post_start"][posts]),
                "end_date": ev.dates(np.where(ended, pp["post_end"][posts], -1)),
                "monthly_yuan": ev.money(pp["post_amt"][posts]),
            }
        )
        return table

    out["hr_public_post"] = _hr_public_post

    def _hs_house_safety() -> pa.Table:
        houses = np.flatnonzero(live_hh)
        table = pa.table(
            {
                "household_no": hh_no.take(pa.array(houses)),
                "rating": ev.codes(hh["house"][houses], ["A", "B", "C", "D"]),
                "assessed_date": ev.dates(np.minimum(hh["house_date"][houses], day + sim.month_days - 1)),
                "renovated": _bools(hh["renovated"][houses]),
            }
        )
        return table

    out["hs_house_safety"] = _hs_house_safety

    def _wr_water() -> pa.Table:
        table = pa.table(
            {
                "village_code": ev.strings_of_ints(world.code),
                "supply": ev.codes(np.where(sim.water_central, 0, 1), ["centralized", "decentralized"]),
                "outage_days": pa.array(sim.outage.astype(np.int64)),
                "quality_ok": _bools(sim.water_quality),
                "guarantee_rate": pa.array(
                    np.round(np.clip(1 - sim.outage / 60 - 0.02 * ~sim.water_central, 0, 1), 3)
                ),
            }
        )
        return table

    out["wr_water"] = _wr_water

    def _ag_roster() -> pa.Table:
        roster = np.flatnonzero(
            (hh["former_poor"] | (hh["monitor"] > 0)) & ~(hh["dissolved"] & (hh["monitor"] == 0))
        )
        table = pa.table(
            {
                "household_no": hh_no.take(pa.array(roster)),
                "household_type": ev.codes(
                    np.where(hh["former_poor"][roster], 0, 1), ["former_poor", "ordinary"]
                ),
                "exit_year": pa.array(
                    hh["exit_year"][roster].astype(np.int64), mask=~hh["former_poor"][roster]
                ),
                "monitor_status": ev.codes(hh["monitor"][roster], ["none", "monitored", "eliminated"]),
                "monitor_category": ev.codes(
                    np.maximum(hh["category"][roster], 0),
                    ["", "unstable", "marginal", "sudden"],
                    mask=hh["monitor"][roster] == 0,
                ),
            }
        )
        return table

    out["ag_roster"] = _ag_roster
    if sim.calendar_month == 3 or (t == 0 and _whole_last_year_simulated(sim)):
        out["ag_income"] = lambda: _income_survey(sim, heads)

    def _nr_real_estate() -> pa.Table:
        estates = np.flatnonzero(live_hh & (hh["estate"] > 0))
        table = pa.table(
            {
                "id_number": _ids(sim, heads[estates]),
                "kind": ev.codes(hh["estate"][estates] - 1, ["urban_housing", "commercial"]),
                "register_date": ev.dates(hh["estate_date"][estates]),
                "area_m2": pa.array(hh["estate_area"][estates]),
            }
        )
        return table

    out["nr_real_estate"] = _nr_real_estate

    def _mr_business() -> pa.Table:
        biz = np.flatnonzero((heads >= 0) & (hh["biz_kind"] >= 0))
        biz = biz[ev.recorded(biz, sim.cfg.business_coverage, 5)]
        kind = hh["biz_kind"][biz]
        table = pa.table(
            {
                "id_number": _ids(sim, heads[biz]),
                "role": ev.codes(np.array([0, 1, 2])[kind], ["legal_rep", "owner", "shareholder"]),
                "entity_kind": ev.codes(kind, ["company", "individual", "cooperative"]),
                "registered_capital": ev.money(hh["biz_capital"][biz], mask=kind == 1),
                "status": ev.codes(np.where(hh["biz_active"][biz], 0, 1), ["active", "closed"]),
            }
        )
        return table

    out["mr_business"] = _mr_business

    def _fi_microcredit() -> pa.Table:
        loans = np.flatnonzero((heads >= 0) & (hh["loan_amt"] > 0))
        table = pa.table(
            {
                "loan_id": pa.array(["DK"]).take(pa.array(np.zeros(len(loans), np.int64))),
                "id_number": _ids(sim, heads[loans]),
                "amount_yuan": ev.money(hh["loan_amt"][loans]),
                "due_date": ev.dates(hh["loan_start"][loans] + 3 * 365),
                "status": ev.codes(hh["loan_status"][loans], ["normal", "overdue", "repaid"]),
            }
        )
        table = table.set_column(0, "loan_id", _join("DK", ev.strings_of_ints(hh["no"][loans])))
        return table

    out["fi_microcredit"] = _fi_microcredit

    def _fi_deposit() -> pa.Table:
        deposits = np.flatnonzero(live_hh & hh["has_deposit"])
        oop = hh["ring_med"].sum(axis=1)[deposits] + hh["ring_loss"].sum(axis=1)[deposits]
        table = pa.table(
            {
                "id_number": _ids(sim, heads[deposits]),
                "balance_yuan": ev.money(np.maximum(hh["deposit"][deposits] * sim.growth - 0.5 * oop, 0)),
            }
        )
        return table

    out["fi_deposit"] = _fi_deposit
    if not sim.cfg.bank_feed:
        del out["fi_microcredit"], out["fi_deposit"]
    return out


def _join(prefix: str, values: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(pa.scalar(prefix), values, "")


def _assistance(sim: Sim, heads: Arr, live_hh: Arr) -> pa.Table:
    hh, pp = sim.pop.hh, sim.pop.pp
    n = sim.pop.n_hh
    size = np.bincount(pp["hh"][pp["status"] == 0], minlength=n)
    head_age = np.where(heads >= 0, sim.age[np.maximum(heads, 0)], 0)
    dib = np.flatnonzero(hh["dibao"] & live_hh)
    tekun = (size[dib] == 1) & (head_age[dib] >= 70)
    temp = np.flatnonzero(live_hh & (hh["temp_date"] >= sim.month_start - 365))
    who = np.concatenate([dib, temp])
    seen = ev.recorded(who, sim.cfg.transfer_coverage, 3)
    kind = np.concatenate([np.where(tekun, 1, 0), np.full(len(temp), 2)])
    start = np.concatenate(
        [
            np.maximum(hh["dibao_start"][dib], 0)
            + np.where(hh["dibao_start"][dib] < 0, sim.month_start - 400, 0),
            hh["temp_date"][temp],
        ]
    )
    end = np.concatenate([np.full(len(dib), -1), hh["temp_date"][temp]])
    amount = np.concatenate([hh["dibao_amt"][dib], hh["temp_amt"][temp]])
    table = pa.table(
        {
            "id_number": _ids(sim, heads[who]),
            "kind": ev.codes(kind, ["dibao", "tekun", "temporary", "dibao_edge"]),
            "start_date": ev.dates(start),
            "end_date": ev.dates(end),
            "amount_yuan": ev.money(amount),
        }
    )
    return table if seen.all() else table.filter(pa.array(seen))


def _employment(sim: Sim, alive: Arr) -> pa.Table:
    pp = sim.pop.pp
    day = sim.month_start
    current = np.flatnonzero(alive & pp["employed"])
    past = np.flatnonzero((pp["ljob_end"] >= day - 365) & (pp["ljob_end"] >= 0))
    who = np.concatenate([current, past])
    if sim.cfg.wage_coverage < 1.0:
        # the same persons' jobs stay unseen whether current or past
        current = current[ev.recorded(current, sim.cfg.wage_coverage, 1)]
        past = past[ev.recorded(past, sim.cfg.wage_coverage, 1)]
        who = np.concatenate([current, past])
    is_past = np.r_[np.zeros(len(current), bool), np.ones(len(past), bool)]
    employer = np.where(is_past, pp["lemployer"][who], pp["employer"][who])
    region = np.where(is_past, pp["lregion"][who], pp["region"][who])
    start = np.where(is_past, pp["ljob_start"][who], pp["job_start"][who])
    wage = np.round(np.where(is_past, pp["lwage"][who], pp["wage"][who]) * sim.growth, 0)
    unnamed = (employer % 7) == 0  # informal jobs have no registered employer
    return pa.table(
        {
            "id_number": _ids(sim, who),
            "employer": _mask_str(pa.array(EMPLOYERS).take(pa.array(employer.astype(np.int64))), unnamed),
            "region": ev.codes(region, ["county", "province", "outside"]),
            "start_date": ev.dates(start),
            "end_date": ev.dates(np.where(is_past, pp["ljob_end"][who], -1)),
            "monthly_wage": ev.money(wage),
        }
    )


def _mask_str(values: pa.Array, mask: Arr) -> pa.Array:
    import pyarrow.compute as pc

    return pc.if_else(pa.array(mask), pa.nulls(len(values), pa.string()), values)


def _whole_last_year_simulated(sim: Sim) -> bool:
    """The first delivery carries last year's survey only if the simulation covers that whole year; a
    survey of a few simulated months would put far too many households under the line."""
    start_month = int(str(sim.cfg.start_month)[5:7])
    return sim.cfg.burn_in >= 12 + start_month - 1


def _income_survey(sim: Sim, heads: Arr) -> pa.Table:
    hh = sim.pop.hh
    covered = (
        (hh["former_poor"] | (hh["monitor"] > 0) | hh["survey_sample"])
        & (hh["ly_members"] > 0)
        & (heads >= 0)
    )
    rows = np.flatnonzero(covered)
    gross, cost = business_split(hh["ly_bus"][rows], hh["bus_cost_share"][rows])
    return pa.table(
        {
            "household_no": ev.strings_of_ints(hh["no"][rows]),
            "year": pa.array(np.full(len(rows), sim.ly_year), pa.int64()),
            "members": pa.array(hh["ly_members"][rows].astype(np.int64)),
            "wage_income": ev.money(hh["ly_wage"][rows]),
            "business_income": ev.money(gross),
            "business_cost": ev.money(cost),
            "property_income": ev.money(hh["ly_prop"][rows]),
            "transfer_income": ev.money(hh["ly_transfer"][rows]),
        }
    )
