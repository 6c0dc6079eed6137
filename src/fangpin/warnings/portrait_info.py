"""What a warning's portrait values mean (Chinese labels) and which lake datasets they come from.

Django-free: used when a screening result is stored (snapshot and triggering datasets) and when a lead
is shown. The dataset mapping follows the portrait table in docs/screening.md.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from fangpin.pipeline.policy import Rule

LABELS: dict[str, str] = {
    "household_type": "户类型",
    "monitor_status": "监测状态",
    "monitor_category": "监测类别",
    "members": "家庭人口",
    "working_age_members": "劳动年龄人口",
    "able_working_members": "有劳动能力人数",
    "elderly_members": "60岁以上人数",
    "child_members": "未成年人数",
    "dependants": "需赡养/抚养人数",
    "elderly_alone": "独居老人",
    "disabled_members": "残疾人数",
    "severe_disabled_members": "一二级重度残疾人数",
    "new_disability_12m": "近12个月新增残疾",
    "major_disease_members": "大病患者人数",
    "chronic_disease_members": "慢病患者人数",
    "new_major_disease_6m": "近6个月新发大病",
    "students_post_compulsory": "高中及以上在校生",
    "dropout_members": "辍学人数",
    "has_dropout": "有辍学",
    "wage_income_12m": "近12个月工资性收入（元）",
    "pension_income_12m": "近12个月养老金（元）",
    "public_post_income_12m": "近12个月公益岗位补贴（元）",
    "assistance_income_12m": "近12个月低保/特困金（元）",
    "disability_subsidy_12m": "近12个月残疾人两项补贴（元）",
    "temporary_aid_12m": "近12个月临时救助（元）",
    "on_dibao": "享受低保",
    "on_tekun": "特困供养",
    "on_dibao_edge": "低保边缘",
    "employed_members": "在岗就业人数",
    "jobs_ended_6m": "近6个月离职人数",
    "public_post_members": "公益岗位人数",
    "dept_income_pc_12m": "部门数据估算人均收入（元）",
    "survey_year": "收入调查年份",
    "survey_income_pc": "收入调查人均纯收入（元）",
    "survey_business_net": "经营净收入（元）",
    "income_source": "收入来源口径",
    "imputed_income_pc": "推算的其他人均收入（元）",
    "income_pc_12m": "人均年收入（元）",
    "income_change_ratio": "收入同比变化",
    "medical_self_pay_12m": "近12个月医疗自付（元）",
    "medical_self_pay_3m": "近3个月医疗自付（元）",
    "max_inpatient_self_pay_12m": "近12个月单次住院最高自付（元）",
    "max_inpatient_self_pay_3m": "近3个月单次住院最高自付（元）",
    "inpatient_stays_12m": "近12个月住院次数",
    "medical_assistance_12m": "近12个月医疗救助（元）",
    "schooling_cost_12m": "近12个月就学费用（元）",
    "compliant_oop_12m": "合规刚性支出（元）",
    "net_income_pc_12m": "扣除刚性支出后人均纯收入（元）",
    "uninsured_members": "未参保人数",
    "house_rating": "住房安全等级",
    "unsafe_house": "C/D级危房未改造",
    "water_outage_days": "本村断水天数",
    "water_quality_ok": "饮水水质达标",
    "cars": "车辆数",
    "car_value": "车辆价值（元）",
    "urban_properties": "城镇房产套数",
    "active_businesses": "经营主体（存续）",
    "closed_businesses": "经营主体（注销/吊销）",
    "deposits": "存款（元）",
    "overdue_loans": "逾期贷款笔数",
    "has_assets": "有较大资产",
    "disaster_loss_12m": "近12个月灾害损失（元）",
    "disaster_loss_6m": "近6个月灾害损失（元）",
    "disaster_house_damaged_12m": "近12个月房屋因灾损毁",
    "disaster_kind": "灾害种类",
    "accident_loss_12m": "近12个月意外损失（元）",
    "accident_severe_12m": "近12个月重大意外",
    "accident_deaths_12m": "近12个月意外死亡人数",
    "unemployed_members": "登记失业人数",
    "unemployment_registered_6m": "近6个月新登记失业",
    "working_member_deaths_12m": "近12个月劳动力死亡人数",
    "self_declarations_12m": "近12个月自主申报次数",
    "declaration_reason": "申报原因",
    "last_shock_date": "最近一次风险事件日期",
    "months_since_last_shock": "距最近风险事件月数",
}

# column → lake datasets behind it (docs/screening.md, portrait table)
DATASETS: dict[str, tuple[str, ...]] = {
    "members": ("ps_person",),
    "working_age_members": ("ps_person",),
    "able_working_members": ("ps_person", "df_disability", "hc_disease", "ed_student"),
    "elderly_members": ("ps_person",),
    "elderly_alone": ("ps_person",),
    "working_member_deaths_12m": ("ps_person",),
    "household_type": ("ag_roster",),
    "monitor_status": ("ag_roster",),
    "disabled_members": ("df_disability",),
    "severe_disabled_members": ("df_disability",),
    "new_disability_12m": ("df_disability",),
    "major_disease_members": ("hc_disease",),
    "chronic_disease_members": ("hc_disease",),
    "new_major_disease_6m": ("hc_disease",),
    "students_post_compulsory": ("ed_student",),
    "dropout_members": ("ed_student",),
    "has_dropout": ("ed_student",),
    "schooling_cost_12m": ("ed_student", "ed_aid"),
    "wage_income_12m": ("hr_employment",),
    "employed_members": ("hr_employment",),
    "jobs_ended_6m": ("hr_employment",),
    "pension_income_12m": ("hr_pension",),
    "public_post_income_12m": ("hr_public_post",),
    "public_post_members": ("hr_public_post",),
    "assistance_income_12m": ("ca_assistance",),
    "temporary_aid_12m": ("ca_assistance",),
    "on_dibao": ("ca_assistance",),
    "on_tekun": ("ca_assistance",),
    "on_dibao_edge": ("ca_assistance",),
    "disability_subsidy_12m": ("ca_disability_subsidy",),
    "survey_income_pc": ("ag_income",),
    "survey_business_net": ("ag_income",),
    "income_change_ratio": ("hr_employment", "hr_public_post", "ag_income"),
    "medical_self_pay_12m": ("ms_settlement",),
    "medical_self_pay_3m": ("ms_settlement",),
    "max_inpatient_self_pay_12m": ("ms_settlement",),
    "max_inpatient_self_pay_3m": ("ms_settlement",),
    "inpatient_stays_12m": ("ms_settlement",),
    "medical_assistance_12m": ("ms_settlement",),
    "uninsured_members": ("ms_enrollment",),
    "house_rating": ("hs_house_safety",),
    "unsafe_house": ("hs_house_safety",),
    "water_outage_days": ("wr_water",),
    "water_quality_ok": ("wr_water",),
    "cars": ("ps_vehicle",),
    "car_value": ("ps_vehicle",),
    "urban_properties": ("nr_real_estate",),
    "active_businesses": ("mr_business",),
    "closed_businesses": ("mr_business",),
    "deposits": ("fi_deposit",),
    "overdue_loans": ("fi_microcredit",),
    "disaster_loss_12m": ("em_disaster",),
    "disaster_loss_6m": ("em_disaster",),
    "disaster_house_damaged_12m": ("em_disaster",),
    "disaster_kind": ("em_disaster",),
    "accident_loss_12m": ("em_accident",),
    "accident_severe_12m": ("em_accident",),
    "accident_deaths_12m": ("em_accident",),
    "unemployed_members": ("hr_unemployment",),
    "unemployment_registered_6m": ("hr_unemployment",),
    "self_declarations_12m": ("self_declaration",),
    "declaration_reason": ("self_declaration",),
}
# Derived income figures: the data behind them are the components that are non-zero for the household.
INCOME_COLUMNS = {"net_income_pc_12m", "income_pc_12m", "dept_income_pc_12m", "compliant_oop_12m"}
INCOME_COMPONENTS = (
    "wage_income_12m",
    "pension_income_12m",
    "public_post_income_12m",
    "assistance_income_12m",
    "disability_subsidy_12m",
    "medical_self_pay_12m",
    "schooling_cost_12m",
)
# Qualifiers, not triggers: a rule reading them (e.g. a lower threshold for monitored households, or an
# amount compared per member) was not set off by the roster or the police register.
QUALIFIERS = {"monitor_status", "monitor_category", "household_type", "members"}
# Always kept in a snapshot: the context a reader needs to judge any warning.
CONTEXT_COLUMNS = (
    "household_type",
    "monitor_status",
    "members",
    "able_working_members",
    "income_source",
    "income_pc_12m",
    "compliant_oop_12m",
    "net_income_pc_12m",
)
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def columns_of(expression: str | None, known: Iterable[str]) -> list[str]:
    """Portrait columns named in a rule expression or reason template, in order of appearance."""
    if not expression:
        return []
    names = set(known)
    seen: list[str] = []
    for token in _IDENT.findall(expression):
        if token in names and token not in seen:
            seen.append(token)
    return seen


def snapshot_columns(rules: Iterable[Rule], known: Iterable[str]) -> list[str]:
    """The context columns and every column the matched rules read or quote."""
    names = list(known)
    out = [c for c in CONTEXT_COLUMNS if c in names]
    for rule in rules:
        for text in (rule.when, rule.unless, rule.reason_zh):
            for col in columns_of(text, names):
                if col not in out:
                    out.append(col)
    return out


def json_value(value: Any) -> Any:
    """A portrait value as JSON (dates as ISO text, NaN as null, decimals as floats)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def snapshot(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    return {c: json_value(row.get(c)) for c in columns if c in row}


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def datasets_for(rules: Iterable[Rule], row: Mapping[str, Any], known: Iterable[str]) -> list[str]:
    """The lake datasets whose data made the matched rules fire. Only `when` counts (an exclusion that did
    not apply triggered nothing); income figures stand for their non-zero components, and are used only
    when a rule has no more specific column (e.g. INC-01 'income below the line')."""
    names = list(known)
    found: list[str] = []

    def add(col: str) -> None:
        for ds in DATASETS.get(col, ()):
            if ds not in found:
                found.append(ds)

    for rule in rules:
        cols = columns_of(rule.when, names)
        specific = [c for c in cols if c not in INCOME_COLUMNS and c not in QUALIFIERS and c in DATASETS]
        if specific:
            for col in specific:
                add(col)
            continue
        for col in INCOME_COMPONENTS:
            if _truthy(row.get(col)):
                add(col)
        if row.get("income_source") == "survey":
            add("survey_income_pc")
    return found


def label(column: str) -> str:
    return LABELS.get(column, column)


def display(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if -1.0 < value < 1.0 and value != 0.0:
            return f"{value * 100:.0f}%"
        return f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return {
        "former_poor": "脱贫户",
        "ordinary": "一般农户",
        "none": "未纳入监测",
        "monitored": "监测对象",
        "eliminated": "已消除风险",
        "survey": "收入调查",
        "departments": "部门数据推算",
    }.get(str(value), str(value))
