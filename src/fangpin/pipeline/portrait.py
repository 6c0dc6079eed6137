# ruff: noqa: S608 - SQL built from fixed identifiers and numeric parameters (no user text)
"""Household portraits (户画像) as of a period, from the point-in-time lake only.

`portrait_steps(dialect, as_of, params)` is pure SQL generation (splink style): every department dataset is
reduced to one row per `household_key` in its own step, and the last step joins them onto the household
list from the police register. `build_portraits(lake, as_of)` registers each dataset under its own name
as what had been delivered by then (`lake.source(ds, as_of)`: the engine scans the Parquet files) and
runs the chained steps on the engine. `rollup(portraits, level)` aggregates to village / township / county portraits.

The window is the 12 months ending with the last day of `as_of`; dates are computed here and passed as
literals, so the SQL needs no engine-specific date arithmetic except day differences (`_days`).
See docs/screening.md for every column and how it is computed.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fangpin.lib.periods import check_period
from fangpin.pipeline.dialect import Dialect
from fangpin.pipeline.engine import Engine, Source, SqlStep, cte_sql
from fangpin.pipeline.lake import Lake

# datasets a portrait reads (each registered under its own name)
DATASETS = (
    "ps_person",
    "ps_vehicle",
    "ms_enrollment",
    "ms_settlement",
    "hc_disease",
    "ca_assistance",
    "ca_disability_subsidy",
    "df_disability",
    "ed_student",
    "ed_aid",
    "hr_employment",
    "hr_unemployment",
    "hr_pension",
    "hr_public_post",
    "hs_house_safety",
    "wr_water",
    "em_disaster",
    "em_accident",
    "ag_roster",
    "ag_income",
    "nr_real_estate",
    "mr_business",
    "fi_microcredit",
    "fi_deposit",
    "self_declaration",
)

# defaults for the estimation parameters; a policy's `params` override them (docs/screening.md)
DEFAULT_PARAMS: dict[str, float] = {
    # farming, informal and family-support income no department sees, per capita per year (元): used
    # when the income survey cannot calibrate it (impute_from_survey = 1: the median of surveyed
    # households' per-capita survey income minus department-seen income, by household type and
    # whether anyone holds a registered job)
    "imputed_other_income_pc": 3000.0,
    "impute_from_survey": 1.0,
    # compliant schooling spending per student per year by stage (元), net of aid delivered in ed_aid
    "schooling_cost_senior": 3000.0,
    "schooling_cost_vocational": 2000.0,
    "schooling_cost_higher": 8000.0,
    # working age (inclusive) and elderly age
    "working_age_min": 16.0,
    "working_age_max": 59.0,
    "elderly_age": 60.0,
    # an income survey older than this many years before as_of is not used
    "survey_max_age_years": 1.0,
    # income uncertainty (income_coverage, net_income_pc_high_12m): the coverage of a survey older than
    # last year's, and how far the income no department sees may exceed its imputed value (1 = it may be
    # twice the imputation: the upper end of the interval adds the unseen share once more)
    "survey_stale_coverage": 0.75,
    "unseen_income_spread": 1.0,
}

_DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Window:
    """Dates of the portrait for `as_of` (all inclusive)."""

    as_of: str
    end: dt.date  # last day of as_of
    start_12m: dt.date
    start_6m: dt.date
    start_3m: dt.date
    start_24m: dt.date

    @property
    def year(self) -> int:
        return self.end.year


def _month_start(year: int, month: int, back: int) -> dt.date:
    index = year * 12 + (month - 1) - back
    return dt.date(index // 12, index % 12 + 1, 1)


def window(as_of: str) -> Window:
    year, month = (int(x) for x in check_period(as_of).split("-"))
    end = dt.date(year, month, calendar.monthrange(year, month)[1])
    return Window(
        as_of,
        end,
        _month_start(year, month, 11),
        _month_start(year, month, 5),
        _month_start(year, month, 2),
        _month_start(year, month, 23),
    )


def _days(d: Dialect, a: str, b: str) -> str:
    """Days from date a to date b (b − a). The one date function that differs between engines."""
    if d.name == "spark":
        return f"datediff({b}, {a})"
    return f"date_diff('day', {a}, {b})"


def _overlap_months(d: Dialect, start: str, end: str, win_start: dt.date, win_end: dt.date) -> str:
    """Months (fractional) an interval [start, end or open] overlaps [win_start, win_end]."""
    ws, we = d.date_literal(win_start.isoformat()), d.date_literal(win_end.isoformat())
    lo = f"GREATEST({start}, {ws})"
    hi = f"LEAST(COALESCE({end}, {we}), {we})"
    return f"GREATEST(CAST({_days(d, lo, hi)} + 1 AS DOUBLE), 0.0) / {_DAYS_PER_MONTH}"


def _num(value: float) -> str:
    return f"CAST({float(value)!r} AS DOUBLE)"


def portrait_steps(
    dialect: Dialect,
    as_of: str,
    params: Mapping[str, float] | None = None,
    *,
    impute_table: str | None = None,
    only: str | None = None,
) -> list[SqlStep]:
    """The SQL steps building one portrait row per household; the last step is the portrait.

    `impute_table`: a registered table (household_type, has_wage, other_pc) used instead of computing
    the unseen-income medians (the incremental path sees a few households only, not the survey sample).
    `only`: a SELECT of household_keys; every household-keyed read is restricted to those
    households (a semi-join, so each dataset is still scanned once but aggregated for them only).
    """
    p = {**DEFAULT_PARAMS, **(params or {})}
    w = window(as_of)
    d = dialect
    lit = d.date_literal
    end, s12, s6, s3, s24 = (
        lit(x.isoformat()) for x in (w.end, w.start_12m, w.start_6m, w.start_3m, w.start_24m)
    )
    prev_end = lit((w.start_12m - dt.timedelta(days=1)).isoformat())
    age = f"FLOOR({_days(d, 'birth_date', end)} / 365.25)"
    wmin, wmax, old = (_num(p[k]) for k in ("working_age_min", "working_age_max", "elderly_age"))
    steps: list[SqlStep] = []

    def add(name: str, sql: str) -> None:
        if only:
            sql = sql.replace(
                "household_key IS NOT NULL",
                f"household_key IS NOT NULL AND household_key IN ({only})",
                1,
            )
        steps.append(SqlStep(sql, name))

    # --- people and households ------------------------------------------------------------------------
    add(
        "__pt_person",
        f"""SELECT person_key, household_key, household_no, village_code, relation, {age} AS age
FROM ps_person WHERE status = 'normal' AND household_key IS NOT NULL AND person_key IS NOT NULL""",
    )
    add(
        "__pt_disab",
        """SELECT person_key, MIN(grade) AS grade, MIN(issue_date) AS issue_date
FROM df_disability WHERE person_key IS NOT NULL GROUP BY person_key""",
    )
    add(
        "__pt_sick",
        f"""SELECT person_key,
  MAX(CASE WHEN category IN ('major', 'severe_mental') THEN 1 ELSE 0 END) AS major,
  MAX(CASE WHEN category = 'chronic' THEN 1 ELSE 0 END) AS chronic,
  MAX(CASE WHEN category IN ('major', 'severe_mental') AND diagnosis_date >= {s6} THEN 1 ELSE 0 END) AS new_major
FROM hc_disease WHERE person_key IS NOT NULL AND diagnosis_date <= {end} GROUP BY person_key""",
    )
    add(
        "__pt_stud",
        """SELECT person_key, MAX(stage) AS stage,
  MAX(CASE WHEN status = 'enrolled' THEN 1 ELSE 0 END) AS enrolled,
  MAX(CASE WHEN status = 'dropout' THEN 1 ELSE 0 END) AS dropout
FROM ed_student WHERE person_key IS NOT NULL GROUP BY person_key""",
    )
    add(
        "__pt_members",
        f"""SELECT p.person_key, p.household_key, p.household_no, p.village_code, p.age,
  CASE WHEN p.age BETWEEN {wmin} AND {wmax} THEN 1 ELSE 0 END AS working_age,
  CASE WHEN p.age >= {old} THEN 1 ELSE 0 END AS elderly,
  CASE WHEN p.age < {wmin} THEN 1 ELSE 0 END AS child,
  CASE WHEN dis.grade IS NOT NULL THEN 1 ELSE 0 END AS disabled,
  CASE WHEN dis.grade IN (1, 2) THEN 1 ELSE 0 END AS severe_disabled,
  CASE WHEN dis.issue_date >= {s12} THEN 1 ELSE 0 END AS new_disability,
  COALESCE(s.major, 0) AS major, COALESCE(s.chronic, 0) AS chronic, COALESCE(s.new_major, 0) AS new_major,
  CASE WHEN st.enrolled = 1 AND st.stage IN ('senior', 'vocational', 'higher') THEN 1 ELSE 0 END AS student_post_compulsory,
  CASE WHEN st.enrolled = 1 AND st.stage = 'senior' THEN 1 ELSE 0 END AS stud_senior,
  CASE WHEN st.enrolled = 1 AND st.stage = 'vocational' THEN 1 ELSE 0 END AS stud_vocational,
  CASE WHEN st.enrolled = 1 AND st.stage = 'higher' THEN 1 ELSE 0 END AS stud_higher,
  COALESCE(st.dropout, 0) AS dropout,
  CASE WHEN p.age BETWEEN {wmin} AND {wmax} AND COALESCE(dis.grade, 9) > 2 AND COALESCE(s.major, 0) = 0
       AND COALESCE(st.enrolled, 0) = 0 THEN 1 ELSE 0 END AS able
FROM __pt_person p
LEFT JOIN __pt_disab dis ON dis.person_key = p.person_key
LEFT JOIN __pt_sick s ON s.person_key = p.person_key
LEFT JOIN __pt_stud st ON st.person_key = p.person_key""",
    )
    add(
        "__pt_hh",
        f"""SELECT household_key, MIN(household_no) AS household_no, MIN(village_code) AS village_code,
  COUNT(*) AS members, COUNT(CASE WHEN working_age = 1 THEN 1 END) AS working_age_members, COUNT(CASE WHEN able = 1 THEN 1 END) AS able_working_members,
  COUNT(CASE WHEN elderly = 1 THEN 1 END) AS elderly_members, COUNT(CASE WHEN child = 1 THEN 1 END) AS child_members, COUNT(CASE WHEN disabled = 1 THEN 1 END) AS disabled_members,
  COUNT(CASE WHEN severe_disabled = 1 THEN 1 END) AS severe_disabled_members, COUNT(CASE WHEN new_disability = 1 THEN 1 END) AS new_disability_12m,
  COUNT(CASE WHEN major = 1 THEN 1 END) AS major_disease_members, COUNT(CASE WHEN chronic = 1 THEN 1 END) AS chronic_disease_members,
  COUNT(CASE WHEN new_major = 1 THEN 1 END) AS new_major_disease_6m, COUNT(CASE WHEN student_post_compulsory = 1 THEN 1 END) AS students_post_compulsory,
  COUNT(CASE WHEN stud_senior = 1 THEN 1 END) AS stud_senior, COUNT(CASE WHEN stud_vocational = 1 THEN 1 END) AS stud_vocational, COUNT(CASE WHEN stud_higher = 1 THEN 1 END) AS stud_higher,
  COUNT(CASE WHEN dropout = 1 THEN 1 END) AS dropout_members,
  CASE WHEN MIN(age) >= {old} THEN TRUE ELSE FALSE END AS elderly_alone
FROM __pt_members GROUP BY household_key""",
    )
    add(
        "__pt_roster",
        """SELECT household_key, MAX(household_type) AS household_type, MAX(exit_year) AS exit_year,
  MAX(monitor_status) AS monitor_status, MAX(monitor_category) AS monitor_category
FROM ag_roster WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    # --- income from department sources ----------------------------------------------------------------
    add(
        "__pt_wage",
        f"""SELECT household_key,
  SUM(CAST(monthly_wage AS DOUBLE) * ({_overlap_months(d, "start_date", "end_date", w.start_12m, w.end)})) AS wage_12m,
  SUM(CAST(monthly_wage AS DOUBLE) * ({_overlap_months(d, "start_date", "end_date", w.start_24m, w.start_12m - dt.timedelta(days=1))})) AS wage_prev_12m,
  COUNT(CASE WHEN start_date <= {end} AND (end_date IS NULL OR end_date > {end}) THEN 1 END) AS employed_members,
  COUNT(CASE WHEN end_date BETWEEN {s6} AND {end} THEN 1 END) AS jobs_ended_6m
FROM hr_employment WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_pension",
        """SELECT household_key, SUM(CASE WHEN receiving THEN CAST(monthly_pension AS DOUBLE) * 12 ELSE 0 END) AS pension_12m
FROM hr_pension WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_post",
        f"""SELECT household_key,
  SUM(CAST(monthly_yuan AS DOUBLE) * ({_overlap_months(d, "start_date", "end_date", w.start_12m, w.end)})) AS public_post_12m,
  SUM(CAST(monthly_yuan AS DOUBLE) * ({_overlap_months(d, "start_date", "end_date", w.start_24m, w.start_12m - dt.timedelta(days=1))})) AS public_post_prev_12m,
  COUNT(CASE WHEN start_date <= {end} AND (end_date IS NULL OR end_date >= {end}) THEN 1 END) AS public_post_members
FROM hr_public_post WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_assist",
        f"""SELECT household_key,
  SUM(CASE WHEN kind IN ('dibao', 'tekun', 'dibao_edge')
      THEN CAST(amount_yuan AS DOUBLE) * ({_overlap_months(d, "start_date", "end_date", w.start_12m, w.end)})
      WHEN kind = 'temporary' AND start_date BETWEEN {s12} AND {end} THEN CAST(amount_yuan AS DOUBLE) ELSE 0 END) AS assistance_12m,
  SUM(CASE WHEN kind = 'temporary' AND start_date BETWEEN {s12} AND {end} THEN CAST(amount_yuan AS DOUBLE) ELSE 0 END) AS temporary_aid_12m,
  MAX(CASE WHEN kind = 'dibao' AND start_date <= {end} AND (end_date IS NULL OR end_date >= {end}) THEN 1 ELSE 0 END) AS on_dibao,
  MAX(CASE WHEN kind = 'tekun' AND start_date <= {end} AND (end_date IS NULL OR end_date >= {end}) THEN 1 ELSE 0 END) AS on_tekun,
  MAX(CASE WHEN kind = 'dibao_edge' AND start_date <= {end} AND (end_date IS NULL OR end_date >= {end}) THEN 1 ELSE 0 END) AS on_dibao_edge
FROM ca_assistance WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_dsub",
        """SELECT household_key, SUM(CAST(monthly_yuan AS DOUBLE) * 12) AS disability_subsidy_12m
FROM ca_disability_subsidy WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_survey_ranked",
        f"""SELECT household_key, year, members,
  CAST(wage_income AS DOUBLE) + CAST(business_income AS DOUBLE) - CAST(business_cost AS DOUBLE)
    + CAST(property_income AS DOUBLE) + CAST(transfer_income AS DOUBLE) AS net_income,
  CAST(business_income AS DOUBLE) - CAST(business_cost AS DOUBLE) AS business_net,
  CAST(property_income AS DOUBLE) AS property_net,
  ROW_NUMBER() OVER (PARTITION BY household_key ORDER BY year DESC) AS rn
FROM ag_income WHERE household_key IS NOT NULL AND year <= {w.year} AND members > 0
  AND year >= {w.year - 1 - int(p["survey_max_age_years"])}""",
    )
    use_survey = "TRUE" if p["impute_from_survey"] else "FALSE"
    add(
        "__pt_survey",
        """SELECT s.household_key, s.year AS survey_year, s.net_income / s.members AS survey_income_pc,
  s.business_net AS survey_business_net, prev.net_income / prev.members AS survey_prev_income_pc
FROM __pt_survey_ranked s LEFT JOIN __pt_survey_ranked prev
  ON prev.household_key = s.household_key AND prev.rn = 2
WHERE s.rn = 1""",
    )
    # unseen income (farming, informal, family support): what surveyed households earned beyond what the
    # departments show, median per capita by household type and whether anyone has a registered job.
    # Surveyed households only (joined first): the other ~97 % never enter the medians.
    add(
        "__pt_dept",
        """SELECT h.household_key, h.members, COALESCE(r.household_type, 'ordinary') AS household_type,
  COALESCE(wg.wage_12m, 0) > 0 AS has_wage, sv.survey_income_pc,
  COALESCE(wg.wage_12m, 0) + COALESCE(pn.pension_12m, 0) + COALESCE(po.public_post_12m, 0)
    + COALESCE(a.assistance_12m, 0) + COALESCE(ds.disability_subsidy_12m, 0) AS dept_total
FROM __pt_hh h
JOIN __pt_survey sv ON sv.household_key = h.household_key
LEFT JOIN __pt_roster r ON r.household_key = h.household_key
LEFT JOIN __pt_wage wg ON wg.household_key = h.household_key
LEFT JOIN __pt_pension pn ON pn.household_key = h.household_key
LEFT JOIN __pt_post po ON po.household_key = h.household_key
LEFT JOIN __pt_assist a ON a.household_key = h.household_key
LEFT JOIN __pt_dsub ds ON ds.household_key = h.household_key""",
    )
    add(
        "__pt_impute",
        f"SELECT household_type, has_wage, other_pc FROM {impute_table}"
        if impute_table
        else f"""SELECT d.household_type, d.has_wage,
  GREATEST(MEDIAN(d.survey_income_pc - d.dept_total / d.members), 0.0) AS other_pc
FROM __pt_dept d
WHERE {use_survey}
GROUP BY d.household_type, d.has_wage""",
    )
    # --- spending -----------------------------------------------------------------------------------------
    add(
        "__pt_med",
        f"""SELECT household_key,
  SUM(CAST(self_pay AS DOUBLE)) AS medical_self_pay_12m,
  MAX(CASE WHEN visit_type = 'inpatient' THEN CAST(self_pay AS DOUBLE) ELSE 0 END) AS max_inpatient_self_pay_12m,
  MAX(CASE WHEN visit_type = 'inpatient' AND settle_date >= {s3} THEN CAST(self_pay AS DOUBLE) ELSE 0 END) AS max_inpatient_self_pay_3m,
  SUM(CASE WHEN settle_date >= {s3} THEN CAST(self_pay AS DOUBLE) ELSE 0 END) AS medical_self_pay_3m,
  COUNT(CASE WHEN visit_type = 'inpatient' THEN 1 END) AS inpatient_stays_12m,
  SUM(CAST(assistance_paid AS DOUBLE)) AS medical_assistance_12m,
  MAX(settle_date) AS last_inpatient_date
FROM ms_settlement WHERE household_key IS NOT NULL AND settle_date BETWEEN {s12} AND {end} GROUP BY household_key""",
    )
    add(
        "__pt_aid",
        f"""SELECT household_key, SUM(CAST(amount_yuan AS DOUBLE)) AS student_aid_12m
FROM ed_aid WHERE household_key IS NOT NULL AND year = {w.year} GROUP BY household_key""",
    )
    add(
        "__pt_insured",
        """SELECT household_key, COUNT(CASE WHEN insured THEN NULL ELSE 1 END) AS uninsured_members
FROM ms_enrollment WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    # --- housing, water ------------------------------------------------------------------------------------
    add(
        "__pt_house",
        """SELECT household_key, MAX(rating) AS house_rating,
  MAX(CASE WHEN rating IN ('C', 'D') AND NOT renovated THEN 1 ELSE 0 END) AS unsafe_house
FROM hs_house_safety WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_water",
        """SELECT village_code, MAX(outage_days) AS water_outage_days,
  MIN(CASE WHEN quality_ok THEN 1 ELSE 0 END) AS water_quality_ok, MIN(guarantee_rate) AS water_guarantee_rate
FROM wr_water GROUP BY village_code""",
    )
    # --- assets ------------------------------------------------------------------------------------------
    add(
        "__pt_vehicle",
        """SELECT household_key, COUNT(CASE WHEN vehicle_type IN ('car', 'truck') THEN 1 END) AS cars,
  SUM(CASE WHEN vehicle_type IN ('car', 'truck') THEN COALESCE(CAST(price_yuan AS DOUBLE), 0) ELSE 0 END) AS car_value
FROM ps_vehicle WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_estate",
        """SELECT household_key, COUNT(*) AS urban_properties
FROM nr_real_estate WHERE household_key IS NOT NULL AND kind IN ('urban_housing', 'commercial') GROUP BY household_key""",
    )
    add(
        "__pt_business",
        """SELECT household_key, COUNT(CASE WHEN status = 'active' THEN 1 END) AS active_businesses,
  COUNT(CASE WHEN status = 'closed' THEN 1 END) AS closed_businesses
FROM mr_business WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_deposit",
        """SELECT household_key, SUM(CAST(balance_yuan AS DOUBLE)) AS deposits
FROM fi_deposit WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_credit",
        """SELECT household_key, COUNT(CASE WHEN status = 'overdue' THEN 1 END) AS overdue_loans
FROM fi_microcredit WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    # --- recent events -------------------------------------------------------------------------------------
    add(
        "__pt_disaster",
        f"""SELECT household_key, SUM(CAST(loss_yuan AS DOUBLE)) AS disaster_loss_12m,
  SUM(CASE WHEN event_date >= {s6} THEN CAST(loss_yuan AS DOUBLE) ELSE 0 END) AS disaster_loss_6m,
  MAX(CASE WHEN house_damage IN ('severe', 'collapsed') THEN 1 ELSE 0 END) AS disaster_house_damaged_12m,
  MAX(event_date) AS last_disaster_date, MAX(kind) AS disaster_kind
FROM em_disaster WHERE household_key IS NOT NULL AND event_date BETWEEN {s12} AND {end} GROUP BY household_key""",
    )
    add(
        "__pt_accident",
        f"""SELECT household_key, SUM(CAST(loss_yuan AS DOUBLE)) AS accident_loss_12m,
  COUNT(CASE WHEN injury IN ('severe', 'death') THEN 1 END) AS accident_severe_12m,
  COUNT(CASE WHEN injury = 'death' THEN 1 END) AS accident_deaths_12m,
  MAX(event_date) AS last_accident_date
FROM em_accident WHERE household_key IS NOT NULL AND event_date BETWEEN {s12} AND {end} GROUP BY household_key""",
    )
    add(
        "__pt_unemp",
        f"""SELECT household_key,
  COUNT(CASE WHEN register_date <= {end} AND (end_date IS NULL OR end_date > {end}) THEN 1 END) AS unemployed_members,
  COUNT(CASE WHEN register_date BETWEEN {s6} AND {end} THEN 1 END) AS unemployment_registered_6m,
  MAX(register_date) AS last_unemployment_date
FROM hr_unemployment WHERE household_key IS NOT NULL GROUP BY household_key""",
    )
    add(
        "__pt_death",
        f"""SELECT household_key, COUNT(*) AS working_member_deaths_12m, MAX(status_date) AS last_death_date
FROM ps_person WHERE status = 'deceased' AND household_key IS NOT NULL AND status_date BETWEEN {s12} AND {end}
  AND FLOOR({_days(d, "birth_date", "status_date")} / 365.25) BETWEEN {wmin} AND {wmax}
GROUP BY household_key""",
    )
    add(
        "__pt_declared",
        f"""SELECT household_key, COUNT(*) AS self_declarations_12m, MAX(declared_date) AS last_declaration_date,
  MAX(reason) AS declaration_reason
FROM self_declaration WHERE household_key IS NOT NULL AND declared_date BETWEEN {s12} AND {end} GROUP BY household_key""",
    )
    # --- the portrait -------------------------------------------------------------------------------------
    imputed = f"COALESCE(imp.other_pc, {_num(p['imputed_other_income_pc'])})"
    school = (
        f"(h.stud_senior * {_num(p['schooling_cost_senior'])} + h.stud_vocational * {_num(p['schooling_cost_vocational'])}"
        f" + h.stud_higher * {_num(p['schooling_cost_higher'])})"
    )
    dept_total = (
        "(COALESCE(wg.wage_12m, 0) + COALESCE(pn.pension_12m, 0) + COALESCE(po.public_post_12m, 0)"
        " + COALESCE(a.assistance_12m, 0) + COALESCE(ds.disability_subsidy_12m, 0))"
    )
    dept_prev = "(COALESCE(wg.wage_prev_12m, 0) + COALESCE(po.public_post_prev_12m, 0))"
    dept_now_comparable = "(COALESCE(wg.wage_12m, 0) + COALESCE(po.public_post_12m, 0))"
    add(
        "__pt_base",
        f"""SELECT h.household_key, h.household_no, h.village_code,
  SUBSTR(h.village_code, 1, 9) AS township_code, SUBSTR(h.village_code, 1, 6) AS county_code,
  COALESCE(r.household_type, 'ordinary') AS household_type, r.exit_year,
  COALESCE(r.monitor_status, 'none') AS monitor_status, r.monitor_category,
  h.members, h.working_age_members, h.able_working_members, h.elderly_members, h.child_members,
  h.members - h.able_working_members AS dependants,
  h.disabled_members, h.severe_disabled_members, h.new_disability_12m, h.major_disease_members,
  h.chronic_disease_members, h.new_major_disease_6m, h.students_post_compulsory, h.dropout_members,
  h.elderly_alone,
  COALESCE(wg.wage_12m, 0) AS wage_income_12m, COALESCE(pn.pension_12m, 0) AS pension_income_12m,
  COALESCE(po.public_post_12m, 0) AS public_post_income_12m, COALESCE(a.assistance_12m, 0) AS assistance_income_12m,
  COALESCE(ds.disability_subsidy_12m, 0) AS disability_subsidy_12m,
  COALESCE(a.temporary_aid_12m, 0) AS temporary_aid_12m,
  COALESCE(a.on_dibao, 0) = 1 AS on_dibao, COALESCE(a.on_tekun, 0) = 1 AS on_tekun,
  COALESCE(a.on_dibao_edge, 0) = 1 AS on_dibao_edge,
  COALESCE(wg.employed_members, 0) AS employed_members, COALESCE(wg.jobs_ended_6m, 0) AS jobs_ended_6m,
  COALESCE(po.public_post_members, 0) AS public_post_members,
  {dept_total} / h.members + {imputed} AS dept_income_pc_12m,
  sv.survey_year, sv.survey_income_pc, sv.survey_business_net,
  CASE WHEN sv.survey_income_pc IS NOT NULL THEN 'survey' ELSE 'departments' END AS income_source,
  {imputed} AS imputed_income_pc,
  COALESCE(sv.survey_income_pc, {dept_total} / h.members + {imputed}) AS income_pc_12m,
  CASE WHEN sv.survey_income_pc IS NOT NULL
       THEN CASE WHEN sv.survey_year >= {w.year - 1} THEN 1.0 ELSE {_num(p["survey_stale_coverage"])} END
       ELSE COALESCE(LEAST(GREATEST(({dept_total} / h.members)
         / NULLIF({dept_total} / h.members + {imputed}, 0), 0.0), 1.0), 0.0) END AS income_coverage,
  CASE WHEN {dept_prev} > 0 THEN ({dept_now_comparable} - {dept_prev}) / {dept_prev}
       WHEN sv.survey_prev_income_pc > 0 THEN (sv.survey_income_pc - sv.survey_prev_income_pc) / sv.survey_prev_income_pc
       END AS income_change_ratio,
  COALESCE(m.medical_self_pay_12m, 0) AS medical_self_pay_12m,
  COALESCE(m.medical_self_pay_3m, 0) AS medical_self_pay_3m,
  COALESCE(m.max_inpatient_self_pay_12m, 0) AS max_inpatient_self_pay_12m,
  COALESCE(m.max_inpatient_self_pay_3m, 0) AS max_inpatient_self_pay_3m,
  COALESCE(m.inpatient_stays_12m, 0) AS inpatient_stays_12m,
  COALESCE(m.medical_assistance_12m, 0) AS medical_assistance_12m,
  GREATEST({school} - COALESCE(ea.student_aid_12m, 0), 0) AS schooling_cost_12m,
  COALESCE(m.medical_self_pay_12m, 0) + GREATEST({school} - COALESCE(ea.student_aid_12m, 0), 0) AS compliant_oop_12m,
  h.dropout_members > 0 AS has_dropout,
  COALESCE(i.uninsured_members, 0) AS uninsured_members,
  hs.house_rating, COALESCE(hs.unsafe_house, 0) = 1 AS unsafe_house,
  COALESCE(wt.water_outage_days, 0) AS water_outage_days, COALESCE(wt.water_quality_ok, 1) = 1 AS water_quality_ok,
  COALESCE(v.cars, 0) AS cars, COALESCE(v.car_value, 0) AS car_value,
  COALESCE(es.urban_properties, 0) AS urban_properties,
  COALESCE(b.active_businesses, 0) AS active_businesses, COALESCE(b.closed_businesses, 0) AS closed_businesses,
  COALESCE(dp.deposits, 0) AS deposits, COALESCE(cr.overdue_loans, 0) AS overdue_loans,
  COALESCE(di.disaster_loss_12m, 0) AS disaster_loss_12m, COALESCE(di.disaster_loss_6m, 0) AS disaster_loss_6m,
  COALESCE(di.disaster_house_damaged_12m, 0) = 1 AS disaster_house_damaged_12m, di.disaster_kind,
  COALESCE(ac.accident_loss_12m, 0) AS accident_loss_12m, COALESCE(ac.accident_severe_12m, 0) AS accident_severe_12m,
  COALESCE(ac.accident_deaths_12m, 0) AS accident_deaths_12m,
  COALESCE(un.unemployed_members, 0) AS unemployed_members,
  COALESCE(un.unemployment_registered_6m, 0) AS unemployment_registered_6m,
  COALESCE(de.working_member_deaths_12m, 0) AS working_member_deaths_12m,
  COALESCE(dc.self_declarations_12m, 0) AS self_declarations_12m, dc.declaration_reason,
  GREATEST(COALESCE(m.last_inpatient_date, DATE '1900-01-01'), COALESCE(di.last_disaster_date, DATE '1900-01-01'),
    COALESCE(ac.last_accident_date, DATE '1900-01-01'), COALESCE(un.last_unemployment_date, DATE '1900-01-01'),
    COALESCE(de.last_death_date, DATE '1900-01-01'), COALESCE(dc.last_declaration_date, DATE '1900-01-01')) AS last_shock_date
FROM __pt_hh h
LEFT JOIN __pt_roster r ON r.household_key = h.household_key
LEFT JOIN __pt_wage wg ON wg.household_key = h.household_key
LEFT JOIN __pt_pension pn ON pn.household_key = h.household_key
LEFT JOIN __pt_post po ON po.household_key = h.household_key
LEFT JOIN __pt_assist a ON a.household_key = h.household_key
LEFT JOIN __pt_dsub ds ON ds.household_key = h.household_key
LEFT JOIN __pt_survey sv ON sv.household_key = h.household_key
LEFT JOIN __pt_med m ON m.household_key = h.household_key
LEFT JOIN __pt_aid ea ON ea.household_key = h.household_key
LEFT JOIN __pt_insured i ON i.household_key = h.household_key
LEFT JOIN __pt_house hs ON hs.household_key = h.household_key
LEFT JOIN __pt_water wt ON wt.village_code = h.village_code
LEFT JOIN __pt_vehicle v ON v.household_key = h.household_key
LEFT JOIN __pt_estate es ON es.household_key = h.household_key
LEFT JOIN __pt_business b ON b.household_key = h.household_key
LEFT JOIN __pt_deposit dp ON dp.household_key = h.household_key
LEFT JOIN __pt_credit cr ON cr.household_key = h.household_key
LEFT JOIN __pt_disaster di ON di.household_key = h.household_key
LEFT JOIN __pt_accident ac ON ac.household_key = h.household_key
LEFT JOIN __pt_unemp un ON un.household_key = h.household_key
LEFT JOIN __pt_death de ON de.household_key = h.household_key
LEFT JOIN __pt_declared dc ON dc.household_key = h.household_key
LEFT JOIN __pt_impute imp ON imp.household_type = COALESCE(r.household_type, 'ordinary')
  AND imp.has_wage = (COALESCE(wg.wage_12m, 0) > 0)""",
    )
    add(
        "__pt_portrait",
        f"""SELECT *,
  income_pc_12m - compliant_oop_12m / members AS net_income_pc_12m,
  income_pc_12m - compliant_oop_12m / members
    + (1.0 - income_coverage) * income_pc_12m * {_num(p["unseen_income_spread"])} AS net_income_pc_high_12m,
  CASE WHEN last_shock_date = DATE '1900-01-01' THEN 99.0
       ELSE FLOOR({_days(d, "last_shock_date", end)} / {_DAYS_PER_MONTH}) END AS months_since_last_shock,
  (cars > 0 OR urban_properties > 0 OR active_businesses > 0) AS has_assets
FROM __pt_base""",
    )
    del prev_end
    return steps


@functools.cache
def used_columns() -> dict[str, list[str]]:
    """Per dataset, the columns the portrait SQL refers to (found with sqlglot; reads project to these)."""
    import sqlglot
    from sqlglot import exp

    from fangpin.pipeline.catalog import load_catalog
    from fangpin.pipeline.dialect import DuckDBDialect
    from fangpin.pipeline.lake import LINK_COLUMNS
    from fangpin.pipeline.validate import accepted_schema

    tree = sqlglot.parse_one(cte_sql(portrait_steps(DuckDBDialect(), "2026-01")), read="duckdb")
    names = {c.name for c in tree.find_all(exp.Column)}
    catalog = load_catalog()
    out: dict[str, list[str]] = {}
    for ds in DATASETS:
        cols = [f.name for f in accepted_schema(catalog[ds])] + list(LINK_COLUMNS)
        out[ds] = [c for c in cols if c in names]
    return out


# the imputation reads these (the household list, roster, department income and the survey)
IMPUTE_DATASETS = (
    "ps_person",
    "ag_roster",
    "hr_employment",
    "hr_pension",
    "hr_public_post",
    "ca_assistance",
    "ca_disability_subsidy",
    "ag_income",
)
_SURVEYED = "SELECT household_key FROM ag_income"  # NULL keys never match IN
# joined by village code, not household: read whole (one row per village)
_BY_VILLAGE = ("wr_water",)


def lake_tables(
    lake: Lake,
    as_of: str,
    *,
    households: Sequence[int] | None = None,
    datasets: Sequence[str] = DATASETS,
) -> dict[str, Source]:
    """Every dataset a portrait needs, as delivered by `as_of` (point-in-time; never anything later).

    Only the columns the portrait uses are read, by the engine itself from the Parquet files
    (`Lake.source`: in parallel, nothing through Python); `households` adds a household_key filter
    the engine pushes into every household-keyed file scan. Datasets not in `datasets` are
    registered empty (same schema).
    """
    cols = used_columns()
    out: dict[str, Source] = {}
    for name in DATASETS:
        if name not in datasets:
            out[name] = lake.read(name, "1900-01", columns=cols[name])
        else:
            keys = None if name in _BY_VILLAGE else households
            out[name] = lake.source(name, as_of, columns=cols[name], households=keys)
    return out


def build_portraits(
    lake: Lake,
    as_of: str,
    *,
    engine: Engine | None = None,
    params: Mapping[str, float] | None = None,
    tables: Mapping[str, Source] | None = None,
    households: Sequence[int] | None = None,
    only: pa.Table | None = None,
) -> pa.Table:
    """One row per household (household_key; in no particular order) with the portrait columns
    (docs/screening.md).

    `households`: portraits of these households only, read with the household filter pushed into the
    lake (a few households: the incremental path). `only`: a table of household_keys (many households,
    e.g. every monitored one): the whole lake is scanned and aggregated for those only. Either way the
    unseen-income medians come from `imputation()` (cached per lake state), so the values equal those
    of a full build.
    """
    eng = engine or lake.engine
    if households is None and only is None:
        data = dict(tables) if tables is not None else lake_tables(lake, as_of)
        sql = cte_sql(portrait_steps(eng.dialect, as_of, params))
        return _canonical(eng, eng.query(sql, data, ordered=False))
    data = dict(tables) if tables is not None else lake_tables(lake, as_of, households=households)
    data["__pt_impute_given"] = imputation(lake, as_of, params, engine=eng)
    restrict = None
    if only is not None:
        data["__pt_only"] = only.select(["household_key"])
        restrict = "SELECT household_key FROM __pt_only"
    steps = portrait_steps(eng.dialect, as_of, params, impute_table="__pt_impute_given", only=restrict)
    return _canonical(eng, eng.query(cte_sql(steps), data, ordered=False))


def _canonical(eng: Engine, table: pa.Table) -> pa.Table:
    """The same Arrow schema from every engine (DuckDB's, counts as int64). Rows come in no particular
    order: sorting 2.8 million ~90-column rows costs seconds and every consumer looks rows up by key."""
    if eng.dialect.name == "duckdb":
        return _counts_as_int(table)
    schema = _portrait_schema()
    return table.select(schema.names).cast(schema)


@functools.cache
def _portrait_schema() -> pa.Schema:
    return portrait_columns()


IMPUTE_SCHEMA = pa.schema(
    [("household_type", pa.string()), ("has_wage", pa.bool_()), ("other_pc", pa.float64())]
)


def imputation(
    lake: Lake, as_of: str, params: Mapping[str, float] | None = None, *, engine: Engine | None = None
) -> pa.Table:
    """The unseen-income medians (household_type, has_wage, other_pc) over the whole lake as of `as_of`.

    Computed from the datasets in IMPUTE_DATASETS and cached as a Parquet file under
    root/_derived/, named by a hash of the parameters and of those datasets' deliveries visible at
    `as_of`: a new delivery of one of them recomputes it, any other delivery (a discharge, a disaster)
    reuses it.
    """
    eng = engine or lake.engine
    p = {**DEFAULT_PARAMS, **(params or {})}
    state = sorted(r.delivery_id for ds in IMPUTE_DATASETS for r in lake.deliveries(ds) if r.period <= as_of)
    digest = hashlib.sha256(json.dumps([as_of, sorted(p.items()), state]).encode()).hexdigest()[:24]
    path = lake.root / "_derived" / f"impute-{as_of}-{digest}.parquet"
    if path.exists():
        return pq.read_table(path).cast(IMPUTE_SCHEMA)
    data = lake_tables(lake, as_of, datasets=IMPUTE_DATASETS)
    # the medians are over surveyed households only: aggregate the other datasets for those alone
    steps = portrait_steps(eng.dialect, as_of, params, only=_SURVEYED)
    sql = cte_sql([*steps, SqlStep("SELECT household_type, has_wage, other_pc FROM __pt_impute", "__out")])
    table = eng.query(sql, data).cast(IMPUTE_SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a private name per writer (process and thread: two re-scores in one web process may both compute it)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)  # atomic: concurrent re-scores either see the whole file or compute it themselves
    return table


def _counts_as_int(table: pa.Table) -> pa.Table:
    """SUM over integers comes back DECIMAL on DuckDB (BIGINT on Spark): counts are int64 everywhere."""
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type) or (pa.types.is_integer(f.type) and f.type != pa.int64()):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.int64()))
    return table


ROLLUP_LEVELS = {"village": "village_code", "township": "township_code", "county": "county_code"}


def rollup(
    portraits: pa.Table, level: str, *, engine: Engine | None = None, line: float | None = None
) -> pa.Table:
    """Village / township / county portraits: counts and shares that show risk clustering in an area."""
    if level not in ROLLUP_LEVELS:
        raise ValueError(f"level must be one of {sorted(ROLLUP_LEVELS)}, not {level!r}")
    from fangpin.pipeline.engine import DuckDBEngine

    eng = engine or DuckDBEngine()
    col = ROLLUP_LEVELS[level]
    line_sql = _num(line) if line is not None else "NULL"
    sql = f"""SELECT {col} AS region_code, COUNT(*) AS households, SUM(members) AS persons,
  SUM(CASE WHEN monitor_status = 'monitored' THEN 1 ELSE 0 END) AS monitored_households,
  SUM(CASE WHEN household_type = 'former_poor' THEN 1 ELSE 0 END) AS former_poor_households,
  SUM(CASE WHEN net_income_pc_12m < {line_sql} THEN 1 ELSE 0 END) AS below_line_households,
  SUM(income_pc_12m * members) / SUM(members) AS income_pc_12m,
  SUM(CASE WHEN disaster_loss_6m > 0 THEN 1 ELSE 0 END) AS disaster_households_6m,
  SUM(disaster_loss_12m) AS disaster_loss_12m,
  SUM(CASE WHEN unsafe_house THEN 1 ELSE 0 END) AS unsafe_houses,
  SUM(CASE WHEN unemployed_members > 0 THEN 1 ELSE 0 END) AS unemployed_households,
  SUM(CASE WHEN max_inpatient_self_pay_12m > 10000 THEN 1 ELSE 0 END) AS large_medical_households,
  MAX(water_outage_days) AS water_outage_days,
  AVG(CASE WHEN disaster_loss_6m > 0 THEN 1.0 ELSE 0.0 END) AS disaster_share_6m,
  AVG(CASE WHEN unemployed_members > 0 THEN 1.0 ELSE 0.0 END) AS unemployed_share
FROM portraits GROUP BY {col} ORDER BY {col}"""  # noqa: S608 - fixed column names
    return eng.query(sql, {"portraits": portraits})


def portrait_columns(params: Mapping[str, Any] | None = None) -> pa.Schema:
    """The portrait schema, from a zero-row build (used to validate policy expressions)."""
    from fangpin.pipeline.catalog import load_catalog
    from fangpin.pipeline.engine import DuckDBEngine
    from fangpin.pipeline.lake import LINK_COLUMNS
    from fangpin.pipeline.validate import accepted_schema

    catalog = load_catalog()
    tables: dict[str, pa.Table] = {}
    for name in DATASETS:
        base = accepted_schema(catalog[name])
        fields = list(base) + [pa.field(k, pa.int64()) for k in LINK_COLUMNS]
        tables[name] = pa.schema(fields).empty_table()
    eng = DuckDBEngine()
    try:
        floats = {k: float(v) for k, v in (params or {}).items() if isinstance(v, int | float)}
        out = eng.query(cte_sql(portrait_steps(eng.dialect, "2026-01", floats)), tables)
        return _counts_as_int(out).schema
    finally:
        eng.close()
