"""Learned risk ranking: a LightGBM model over household portraits, calibrated, graded and explained.

`RiskModel` implements `fangpin.pipeline.screen.Ranker`: `predict(portraits)` gives the calibrated
probability that a household truly meets the monitoring criteria and is not yet monitored (what a
verification visit would confirm), `explain(portraits)` one Chinese sentence list per row from the
model's per-feature contributions (path attribution over the booster's trees). Only portrait columns are read (plus an
optional `line` column: the monitoring line of the screened year; without it the model's latest line).

Training (`train(examples)`) takes portrait rows with a `label` column, so the source of labels is
pluggable: `evaluate.examples_from_simulation(lake, sim_dir, periods)` labels them from the simulator's
hidden outcomes (evaluate.py stays the only module that reads them); in a deployment the labels come
from verification decisions (confirmed vs rejected warnings). The booster is fitted on the earlier
periods, a Platt calibrator (two numbers, strictly monotone, so the ranking is the booster's) on the
later held-out periods, which also give the reported AUC and calibration error.

Storage mirrors policy.py: `<folder>/<version>/model.txt` (LightGBM text) + `meta.json`, and
`<folder>/active` naming the active version; no pickle anywhere. Without a stored model the shipped
default under `pipeline/models/` is used. See docs/model.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from fangpin.lib.periods import check_period
from fangpin.pipeline.lake import Lake
from fangpin.pipeline.screen import RULE_SCORE

Arr = npt.NDArray[np.float64]
SHIPPED_MODELS = Path(__file__).with_name("models")
UNMONITORED = ("none", "eliminated")  # the households a ranking is for (screen.UNMONITORED)
DEFAULT_LINES = {2025: 8000.0, 2026: 8300.0}  # jx-default; used only when the examples carry no `line`


class ModelError(ValueError):
    """A model that cannot be trained, stored, loaded or applied; the message says why."""


# --- features -----------------------------------------------------------------------------------------
# Every feature: (name, Chinese label, explanation group). Groups merge related features into one sentence.

FEATURES: tuple[tuple[str, str, str], ...] = (
    ("net_income_ratio", "人均纯收入与监测线之比", "income"),
    ("income_ratio", "人均收入与监测线之比", "income"),
    ("dept_income_ratio", "部门可见人均收入与监测线之比", "income"),
    ("survey_income_ratio", "收入调查人均收入与监测线之比", "income"),
    ("has_survey", "有收入调查数据", "income"),
    ("imputed_income_pc", "推算的其他人均收入", "income"),
    ("wage_pc", "人均工资性收入", "work"),
    ("income_change_ratio", "务工收入同比变化", "work"),
    ("employed_members", "在岗务工人数", "work"),
    ("jobs_ended_6m", "近6个月离岗人数", "work"),
    ("unemployed_members", "登记失业人数", "work"),
    ("unemployment_registered_6m", "近6个月新登记失业", "work"),
    ("public_post_members", "公益岗位人数", "work"),
    ("pension_pc", "人均养老金", "transfers"),
    ("assistance_pc", "人均低保特困金", "assistance"),
    ("on_dibao", "享受低保", "assistance"),
    ("on_tekun", "享受特困供养", "assistance"),
    ("on_dibao_edge", "低保边缘", "assistance"),
    ("temporary_aid_12m", "临时救助金额", "assistance"),
    ("disability_subsidy_pc", "人均残疾人补贴", "disability"),
    ("members", "家庭人口", "labour"),
    ("able_working_members", "有劳动能力人数", "labour"),
    ("working_age_members", "劳动年龄人数", "labour"),
    ("dependants", "需供养人数", "labour"),
    ("dependant_share", "需供养人口占比", "labour"),
    ("elderly_members", "老年人数", "labour"),
    ("child_members", "儿童人数", "labour"),
    ("elderly_alone", "独居老人户", "labour"),
    ("disabled_members", "残疾人数", "disability"),
    ("severe_disabled_members", "重度残疾人数", "disability"),
    ("new_disability_12m", "近12个月新增残疾", "disability"),
    ("major_disease_members", "大病患者人数", "disease"),
    ("chronic_disease_members", "慢性病患者人数", "disease"),
    ("new_major_disease_6m", "近6个月新确诊大病", "disease"),
    ("medical_self_pay_12m", "近12个月医疗自付", "medical"),
    ("medical_self_pay_3m", "近3个月医疗自付", "medical"),
    ("max_inpatient_self_pay_12m", "单次住院最高自付", "medical"),
    ("max_inpatient_self_pay_3m", "近3个月单次住院最高自付", "medical"),
    ("inpatient_stays_12m", "近12个月住院次数", "medical"),
    ("medical_assistance_12m", "医疗救助金额", "medical"),
    ("medical_share", "医疗自付占家庭收入比例", "medical"),
    ("oop_share", "刚性支出占家庭收入比例", "medical"),
    ("schooling_cost_12m", "教育支出", "school"),
    ("students_post_compulsory", "高中及以上在读人数", "school"),
    ("dropout_members", "辍学人数", "dropout"),
    ("uninsured_members", "未参保人数", "insurance"),
    ("unsafe_house", "C/D级危房未改造", "housing"),
    ("house_grade", "房屋安全等级", "housing"),
    ("water_outage_days", "饮水断供天数", "water"),
    ("water_quality_bad", "饮水水质不达标", "water"),
    ("cars", "车辆数", "assets"),
    ("car_value", "车辆价值", "assets"),
    ("urban_properties", "城镇房产数", "assets"),
    ("active_businesses", "在营市场主体数", "business"),
    ("closed_businesses", "注销市场主体数", "business"),
    ("survey_business_loss", "经营亏损（人均）", "business"),
    ("deposits", "存款", "assets"),
    ("overdue_loans", "逾期贷款笔数", "business"),
    ("has_assets", "有较大资产", "assets"),
    ("disaster_loss_12m", "近12个月灾害损失", "disaster"),
    ("disaster_loss_6m", "近6个月灾害损失", "disaster"),
    ("disaster_house_damaged_12m", "灾害致房屋受损", "disaster"),
    ("disaster_share", "灾害损失占家庭收入比例", "disaster"),
    ("accident_loss_12m", "意外事故损失", "accident"),
    ("accident_severe_12m", "严重意外事故次数", "accident"),
    ("accident_deaths_12m", "意外死亡人数", "accident"),
    ("working_member_deaths_12m", "劳动力成员去世人数", "death"),
    ("shock_share", "各类冲击损失占家庭收入比例", "shocks"),
    ("shock_kinds", "近12个月风险事件种类数", "shocks"),
    ("months_since_last_shock", "距上次风险事件月数", "shocks"),
    ("self_declarations_12m", "近12个月自主申报次数", "declaration"),
    ("hardship_kinds", "未达“两不愁三保障”及饮水安全的项数", "hardship"),
    ("water_outage_over_30", "饮水断供超过30天", "water"),
    ("below_line", "人均纯收入低于监测线", "income"),
    ("is_former_poor", "脱贫户", "history"),
    ("was_eliminated", "曾为监测对象已消除风险", "history"),
    ("income_coverage", "收入中部门可见的比例", "income"),
)
FEATURE_NAMES = tuple(f[0] for f in FEATURES)
# risk only rises with these (+1) / falls (−1): trees then extrapolate sensibly to values, or mixes of
# shocks, the training months showed rarely (a drought month's water outages, a record medical bill)
MONOTONE = {
    "net_income_ratio": -1,
    "below_line": 1,
    "hardship_kinds": 1,
    "water_outage_days": 1,
    "water_outage_over_30": 1,
    "water_quality_bad": 1,
    "unsafe_house": 1,
    "dropout_members": 1,
    "uninsured_members": 1,
    "shock_share": 1,
    "medical_share": 1,
    "oop_share": 1,
    "disaster_share": 1,
}
FEATURE_LABELS = {f[0]: f[1] for f in FEATURES}
FEATURE_GROUPS = {f[0]: f[2] for f in FEATURES}
EXPLAIN_GROUPS = tuple(sorted(set(FEATURE_GROUPS.values())))
# the portrait columns the explanation sentences read (_sentence); a test checks the list is complete
SENTENCE_COLUMNS = frozenset(
    [
        "able_working_members",
        "accident_deaths_12m",
        "accident_loss_12m",
        "accident_severe_12m",
        "chronic_disease_members",
        "closed_businesses",
        "compliant_oop_12m",
        "declaration_reason",
        "dependants",
        "disabled_members",
        "disaster_house_damaged_12m",
        "disaster_loss_12m",
        "dropout_members",
        "elderly_alone",
        "employed_members",
        "exit_year",
        "has_assets",
        "house_rating",
        "household_type",
        "income_change_ratio",
        "income_pc_12m",
        "income_source",
        "jobs_ended_6m",
        "major_disease_members",
        "max_inpatient_self_pay_12m",
        "medical_self_pay_12m",
        "members",
        "monitor_status",
        "months_since_last_shock",
        "net_income_pc_12m",
        "new_disability_12m",
        "new_major_disease_6m",
        "on_dibao",
        "on_dibao_edge",
        "on_tekun",
        "overdue_loans",
        "pension_income_12m",
        "schooling_cost_12m",
        "self_declarations_12m",
        "severe_disabled_members",
        "students_post_compulsory",
        "survey_business_net",
        "temporary_aid_12m",
        "unemployed_members",
        "uninsured_members",
        "unsafe_house",
        "wage_income_12m",
        "water_outage_days",
        "water_quality_ok",
        "working_member_deaths_12m",
    ]
)

# portrait columns the features need; a table without one of them is refused with a clear error
REQUIRED_COLUMNS = (
    "household_type",
    "monitor_status",
    "members",
    "working_age_members",
    "able_working_members",
    "elderly_members",
    "child_members",
    "dependants",
    "elderly_alone",
    "disabled_members",
    "severe_disabled_members",
    "new_disability_12m",
    "major_disease_members",
    "chronic_disease_members",
    "new_major_disease_6m",
    "students_post_compulsory",
    "dropout_members",
    "wage_income_12m",
    "pension_income_12m",
    "public_post_income_12m",
    "assistance_income_12m",
    "temporary_aid_12m",
    "on_dibao",
    "on_tekun",
    "on_dibao_edge",
    "disability_subsidy_12m",
    "employed_members",
    "jobs_ended_6m",
    "public_post_members",
    "imputed_income_pc",
    "dept_income_pc_12m",
    "survey_income_pc",
    "survey_business_net",
    "income_source",
    "income_pc_12m",
    "income_change_ratio",
    "medical_self_pay_12m",
    "medical_self_pay_3m",
    "max_inpatient_self_pay_12m",
    "max_inpatient_self_pay_3m",
    "inpatient_stays_12m",
    "medical_assistance_12m",
    "schooling_cost_12m",
    "compliant_oop_12m",
    "net_income_pc_12m",
    "uninsured_members",
    "house_rating",
    "unsafe_house",
    "water_outage_days",
    "water_quality_ok",
    "cars",
    "car_value",
    "urban_properties",
    "active_businesses",
    "closed_businesses",
    "deposits",
    "overdue_loans",
    "has_assets",
    "disaster_loss_12m",
    "disaster_loss_6m",
    "disaster_house_damaged_12m",
    "accident_loss_12m",
    "accident_severe_12m",
    "accident_deaths_12m",
    "unemployed_members",
    "unemployment_registered_6m",
    "working_member_deaths_12m",
    "self_declarations_12m",
    "months_since_last_shock",
    "income_coverage",
)


def _col(table: pa.Table, name: str) -> Arr:
    """A numeric/bool portrait column as float64 (NULL → NaN)."""
    arr = table.column(name)
    if pa.types.is_boolean(arr.type):
        arr = pc.cast(arr, pa.int8())
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _is(table: pa.Table, name: str, value: str) -> Arr:
    """1.0 where the string column equals `value`, else 0.0 (NULL → 0.0), vectorised."""
    hit = pc.fill_null(pc.equal(table.column(name), value), False)
    return np.asarray(pc.cast(hit, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _house_grade(table: pa.Table) -> Arr:
    """The house safety rating A–D as 0–3 (anything else NaN)."""
    index = pc.index_in(table.column("house_rating"), value_set=pa.array(["A", "B", "C", "D"]))
    return np.asarray(pc.cast(index, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def check_columns(portraits: pa.Table) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in portraits.column_names]
    if missing:
        raise ModelError(
            f"画像缺少模型所需字段 portraits lack columns the model needs: {', '.join(missing[:8])}"
            + (f" (+{len(missing) - 8})" if len(missing) > 8 else "")
        )


def line_of(portraits: pa.Table, default: float) -> Arr:
    """The monitoring line per row: the optional `line` column, else `default`."""
    if "line" in portraits.column_names:
        out = _col(portraits, "line")
        return np.where(np.isnan(out), default, out)
    return np.full(portraits.num_rows, float(default))


def _div(a: Arr, b: Arr) -> Arr:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)
    return np.asarray(out, dtype=np.float64)


def feature_matrix(portraits: pa.Table, line: Arr) -> Arr:
    """The model's features (columns in FEATURE_NAMES order) from portrait columns; NaN = unknown."""
    check_columns(portraits)
    c = {name: _col(portraits, name) for name in REQUIRED_COLUMNS if name not in _STRING_COLUMNS}
    members = np.maximum(c["members"], 1.0)
    income_total = np.maximum(c["income_pc_12m"], 0.0) * members
    shocks = np.zeros(portraits.num_rows)
    for name in (
        "inpatient_stays_12m",
        "disaster_loss_12m",
        "accident_loss_12m",
        "unemployed_members",
        "working_member_deaths_12m",
        "new_disability_12m",
        "new_major_disease_6m",
        "self_declarations_12m",
    ):
        shocks += np.nan_to_num(c[name]) > 0
    shock_loss = (
        np.nan_to_num(c["compliant_oop_12m"])
        + np.nan_to_num(c["disaster_loss_12m"])
        + np.nan_to_num(c["accident_loss_12m"])
    )
    feats: dict[str, Arr] = {
        "net_income_ratio": _div(c["net_income_pc_12m"], line),
        "income_ratio": _div(c["income_pc_12m"], line),
        "dept_income_ratio": _div(c["dept_income_pc_12m"], line),
        "survey_income_ratio": _div(c["survey_income_pc"], line),
        "has_survey": _is(portraits, "income_source", "survey"),
        "imputed_income_pc": c["imputed_income_pc"],
        "wage_pc": c["wage_income_12m"] / members,
        "income_change_ratio": c["income_change_ratio"],
        "pension_pc": c["pension_income_12m"] / members,
        "assistance_pc": c["assistance_income_12m"] / members,
        "disability_subsidy_pc": c["disability_subsidy_12m"] / members,
        "dependant_share": c["dependants"] / members,
        "medical_share": _div(c["medical_self_pay_12m"], income_total),
        "oop_share": _div(c["compliant_oop_12m"], income_total),
        "house_grade": _house_grade(portraits),
        "water_quality_bad": 1.0 - c["water_quality_ok"],
        "survey_business_loss": np.maximum(-np.nan_to_num(c["survey_business_net"]), 0.0) / members,
        "disaster_share": _div(np.nan_to_num(c["disaster_loss_12m"]), income_total),
        "shock_share": _div(shock_loss, income_total),
        "shock_kinds": shocks,
        # the POLICY.md hardship criteria (两不愁三保障 + safe water) as one count: a kind of hardship the
        # training months rarely showed (e.g. a drought's water outages) still counts like the others
        "hardship_kinds": (
            (np.nan_to_num(c["dropout_members"]) > 0).astype(float)
            + (np.nan_to_num(c["uninsured_members"]) > 0)
            + (np.nan_to_num(c["unsafe_house"]) > 0)
            + ((np.nan_to_num(c["water_outage_days"]) > 30) | (c["water_quality_ok"] == 0))
        ),
        "water_outage_over_30": (np.nan_to_num(c["water_outage_days"]) > 30).astype(float),
        "below_line": (c["net_income_pc_12m"] < line).astype(float),
        "is_former_poor": _is(portraits, "household_type", "former_poor"),
        "was_eliminated": _is(portraits, "monitor_status", "eliminated"),
        "income_coverage": c["income_coverage"],
    }
    cols = [feats[name] if name in feats else c[name] for name in FEATURE_NAMES]
    if not cols:
        return np.empty((portraits.num_rows, 0))
    out = np.empty((portraits.num_rows, len(cols)), dtype=np.float64)  # one allocation, filled in place
    for j, col in enumerate(cols):
        out[:, j] = col
    return out


_STRING_COLUMNS = frozenset({"household_type", "monitor_status", "income_source", "house_rating"})


# --- explanations -------------------------------------------------------------------------------------


def _yuan(value: float) -> str:
    if abs(value) >= 10000:
        return f"{value / 10000:.1f}万元"
    return f"{value:,.0f}元"


def _int(row: dict[str, Any], name: str) -> int:
    v = row.get(name)
    return int(v) if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)) else 0


def _num(row: dict[str, Any], name: str) -> float:
    v = row.get(name)
    if isinstance(v, bool):
        return float(v)
    return float(v) if isinstance(v, int | float) and not math.isnan(float(v)) else 0.0


def _sentence(group: str, row: dict[str, Any], line: float) -> str | None:
    """One sentence a grid worker understands for a group of features, from the household's values."""
    members = max(_int(row, "members"), 1)
    income = _num(row, "income_pc_12m") * members
    if group == "income":
        net = _num(row, "net_income_pc_12m")
        if net < 0:
            return f"扣除医疗、教育等刚性支出后人均纯收入为负（约{_yuan(net)}），低于监测线{_yuan(line)}"
        if net < line:
            return f"人均纯收入约{_yuan(net)}，低于监测线{_yuan(line)}"
        if net < 1.5 * line:
            return f"人均纯收入约{_yuan(net)}，接近监测线{_yuan(line)}（{net / line:.1f}倍）"
        source = "收入调查" if row.get("income_source") == "survey" else "按部门数据推算"
        return f"人均纯收入约{_yuan(net)}（{source}），收入情况需入户核实"
    if group == "work":
        if _int(row, "unemployed_members"):
            return f"有{_int(row, 'unemployed_members')}名成员登记失业"
        if _int(row, "jobs_ended_6m"):
            return f"近6个月有{_int(row, 'jobs_ended_6m')}名成员离岗，务工收入中断"
        change = row.get("income_change_ratio")
        if isinstance(change, float) and not math.isnan(change) and change <= -0.2:
            return f"务工收入较上年下降{-change * 100:.0f}%"
        if not _int(row, "employed_members"):
            return "家中无人有登记的务工就业"
        return f"人均工资性收入约{_yuan(_num(row, 'wage_income_12m') / members)}，务工收入偏低"
    if group == "labour":
        able, dep = _int(row, "able_working_members"), _int(row, "dependants")
        if row.get("elderly_alone"):
            return "独居老人户，无人照料"
        if able == 0:
            return "家中没有有劳动能力的成员"
        if dep > able:
            return f"有劳动能力的成员{able}人，需供养{dep}人"
        return None
    if group == "disability":
        severe, n = _int(row, "severe_disabled_members"), _int(row, "disabled_members")
        if _int(row, "new_disability_12m"):
            return f"近12个月新增{_int(row, 'new_disability_12m')}名残疾成员"
        if severe:
            return f"家中有{severe}名重度（一、二级）残疾成员"
        return f"家中有{n}名残疾成员" if n else None
    if group == "disease":
        if _int(row, "new_major_disease_6m"):
            return f"近6个月有{_int(row, 'new_major_disease_6m')}名成员新确诊大病"
        if _int(row, "major_disease_members"):
            return f"家中有{_int(row, 'major_disease_members')}名大病患者"
        if _int(row, "chronic_disease_members"):
            return f"家中有{_int(row, 'chronic_disease_members')}名慢性病患者"
        return None
    if group == "medical":
        pay, stay = _num(row, "medical_self_pay_12m"), _num(row, "max_inpatient_self_pay_12m")
        if pay <= 0:
            return None
        share = pay / income if income > 0 else math.inf
        text = f"近12个月医疗自付{_yuan(pay)}"
        if share >= 0.2:
            text += "，占家庭收入的" + (f"{share * 100:.0f}%" if math.isfinite(share) else "全部以上")
        elif pay >= 5000:
            text += "，明显偏高"
        if stay >= 5000:
            text += f"，单次住院最高自付{_yuan(stay)}"
        return text
    if group == "school":
        cost = _num(row, "schooling_cost_12m")
        n = _int(row, "students_post_compulsory")
        return f"{n}名子女读高中及以上，年教育支出约{_yuan(cost)}" if n and cost > 0 else None
    if group == "hardship":
        items = []
        if _int(row, "dropout_members"):
            items.append(f"{_int(row, 'dropout_members')}名子女辍学")
        if _int(row, "uninsured_members"):
            items.append(f"{_int(row, 'uninsured_members')}人未参加医保")
        if row.get("unsafe_house"):
            items.append(f"住房为{row.get('house_rating') or 'C/D'}级危房未改造")
        if _int(row, "water_outage_days") > 30:
            items.append(f"饮水断供{_int(row, 'water_outage_days')}天")
        elif row.get("water_quality_ok") is False:
            items.append("饮水水质不达标")
        return "存在“两不愁三保障”或饮水安全问题：" + "、".join(items) if items else None
    if group == "dropout":
        return f"有{_int(row, 'dropout_members')}名适龄子女辍学" if _int(row, "dropout_members") else None
    if group == "insurance":
        n = _int(row, "uninsured_members")
        return f"有{n}名成员未参加基本医疗保险" if n else None
    if group == "housing":
        if row.get("unsafe_house"):
            return f"住房为{row.get('house_rating') or 'C/D'}级危房，尚未改造"
        return None
    if group == "water":
        days = _int(row, "water_outage_days")
        if days > 0:
            return f"所在村近期饮水断供{days}天"
        return "所在村饮水水质不达标" if row.get("water_quality_ok") is False else None
    if group == "disaster":
        loss = _num(row, "disaster_loss_12m")
        if loss <= 0 and not row.get("disaster_house_damaged_12m"):
            return None
        text = f"近12个月遭受自然灾害，损失{_yuan(loss)}"
        if income > 0 and loss / income >= 0.1:
            text += f"（约为家庭年收入的{loss / income * 100:.0f}%）"
        return text + ("，房屋受损" if row.get("disaster_house_damaged_12m") else "")
    if group == "accident":
        loss = _num(row, "accident_loss_12m")
        if _int(row, "accident_deaths_12m"):
            return f"近12个月有成员因意外事故死亡，损失{_yuan(loss)}"
        if _int(row, "accident_severe_12m"):
            return f"近12个月发生严重意外事故，损失{_yuan(loss)}"
        return f"近12个月发生意外事故，损失{_yuan(loss)}" if loss > 0 else None
    if group == "death":
        n = _int(row, "working_member_deaths_12m")
        return f"近12个月有{n}名劳动年龄成员去世" if n else None
    if group == "shocks":
        loss = (
            _num(row, "compliant_oop_12m") + _num(row, "disaster_loss_12m") + _num(row, "accident_loss_12m")
        )
        if income > 0 and loss / income >= 0.2:
            return f"近12个月刚性支出和各类损失合计{_yuan(loss)}，约为家庭年收入的{loss / income * 100:.0f}%"
        months = _num(row, "months_since_last_shock")
        if months < 12:
            return (
                f"{int(months)}个月前发生过风险事件（住院、灾害、事故、失业等）"
                if months >= 1
                else "本月发生风险事件（住院、灾害、事故、失业等）"
            )
        return None
    if group == "declaration":
        n = _int(row, "self_declarations_12m")
        if not n:
            return None
        reason = row.get("declaration_reason")
        return f"近12个月主动申报困难{n}次" + (f"（{reason}）" if reason else "")
    if group == "assistance":
        if row.get("on_tekun"):
            return "享受特困供养，家庭自身收入来源有限"
        if row.get("on_dibao"):
            return "享受最低生活保障，家庭自身收入来源有限"
        if row.get("on_dibao_edge"):
            return "属于低保边缘家庭"
        if _num(row, "temporary_aid_12m") > 0:
            return f"近12个月领取临时救助{_yuan(_num(row, 'temporary_aid_12m'))}"
        return None
    if group == "business":
        if _num(row, "survey_business_net") < 0:
            return f"家庭经营亏损{_yuan(-_num(row, 'survey_business_net'))}"
        if _int(row, "closed_businesses"):
            return "家庭经营的市场主体已注销"
        if _int(row, "overdue_loans"):
            return f"有{_int(row, 'overdue_loans')}笔小额信贷逾期"
        return None
    if group == "history":
        if row.get("household_type") == "former_poor":
            return (
                "脱贫户"
                + (f"（{_int(row, 'exit_year')}年脱贫）" if _int(row, "exit_year") else "")
                + "，返贫风险需关注"
            )
        if row.get("monitor_status") == "eliminated":
            return "曾为监测对象，已消除风险，需防止再次致贫"
        return None
    if group == "transfers":
        return "家庭收入主要依靠养老金等转移性收入" if _num(row, "pension_income_12m") > 0 else None
    if group == "assets":
        return "家中无车辆、城镇房产等较大资产" if not row.get("has_assets") else None
    return None


# --- the model ----------------------------------------------------------------------------------------


@dataclass
class RiskModel:
    """A stored LightGBM booster + Platt calibrator + grade thresholds (implements screen.Ranker)."""

    booster: Any  # lightgbm.Booster (imported lazily: importing lightgbm costs ~0.3 s)
    meta: dict[str, Any]
    path: Path | None = None
    _model_text: str = field(default="", repr=False)

    # the Ranker attributes (plain attributes, not properties: screen.Ranker declares them as such)
    version: str = field(init=False, default="")
    grade_high: float = field(init=False, default=0.5)
    grade_medium: float = field(init=False, default=0.1)
    _compiled_model: Any = field(init=False, default=None, repr=False, compare=False)
    # path-attribution tables (built on first use from the booster's trees)
    _features_table: tuple[Arr, float] | None = field(init=False, default=None, repr=False, compare=False)
    _groups_table: tuple[Arr, float] | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Copy version and grade thresholds from the metadata."""
        self.version = str(self.meta.get("version", ""))
        grades = self.meta.get("grades") or {}
        self.grade_high = float(grades.get("high", 0.5))
        self.grade_medium = float(grades.get("medium", 0.1))

    @property
    def default_line(self) -> float:
        lines = self.meta.get("lines") or {}
        return float(lines[max(lines, key=int)]) if lines else DEFAULT_LINES[max(DEFAULT_LINES)]

    def line_for(self, year: int) -> float:
        lines = {int(k): float(v) for k, v in (self.meta.get("lines") or {}).items()}
        earlier = [y for y in lines if y <= year]
        return lines[max(earlier)] if earlier else self.default_line

    def features(self, portraits: pa.Table) -> Arr:
        return feature_matrix(portraits, line_of(portraits, self.default_line))

    def raw(self, portraits: pa.Table) -> Arr:
        """The booster's margin (log-odds before calibration)."""
        if portraits.num_rows == 0:
            return np.empty(0)
        n = portraits.num_rows
        compiled = self._compiled() if n >= _COMPILED_ROWS else None
        threads = _threads(n)
        out = np.empty(n, dtype=np.float64)
        # in slices: a 2.8-million-row feature matrix is 1.7 GB, filled column by column across rows;
        # slices of 64 Ki rows stay in cache and keep the peak memory low
        for start in range(0, n, _SLICE_ROWS):
            x = self.features(portraits.slice(start, _SLICE_ROWS))
            if compiled is not None:
                margin = compiled.predict(x, n_jobs=threads)
            else:
                margin = self.booster.predict(x, raw_score=True, num_threads=threads)
            out[start : start + len(x)] = margin
        return out

    def _compiled(self) -> Any:
        """The booster compiled to machine code (lleaves/LLVM: ~5× faster than LightGBM's own predict,
        the same margins to 1e-13), cached on disk per model text, lleaves version and CPU; None where
        lleaves cannot run (then LightGBM predicts — a test checks both agree)."""
        if self._compiled_model is None:
            self._compiled_model = _compile(self._text()) or False
        return self._compiled_model or None

    def _text(self) -> str:
        if not self._model_text:
            self._model_text = str(self.booster.model_to_string())
        return self._model_text

    def calibrate(self, margin: Arr) -> Arr:
        a, b = (float(v) for v in self.meta["calibration"]["platt"])
        return np.asarray(1.0 / (1.0 + np.exp(-(a * margin + b))), dtype=np.float64)

    def predict(self, portraits: pa.Table) -> Arr:
        """Calibrated P(household truly at risk and not yet monitored), one per row, row order kept.

        With a `rule_score` column (screen() adds it) and a model that calibrated the rule score, rows
        the model is unsure of (trust() < 1) move towards the rule score's probability (ADR 0031)."""
        p = self.calibrate(self.raw(portraits))
        rule = self.meta.get("rule_calibration")
        if not rule or RULE_SCORE not in portraits.column_names or portraits.num_rows == 0:
            return p
        a, b = (float(v) for v in rule["platt"])
        p_rule = 1.0 / (1.0 + np.exp(-(a * _col(portraits, RULE_SCORE) + b)))
        t = self.trust(portraits)
        return np.asarray(t * p + (1.0 - t) * p_rule, dtype=np.float64)

    def trust(self, portraits: pa.Table) -> Arr:
        """Per row in [0, 1]: how far the model can be believed. Falls with the number of features outside
        what training saw (non-monotone features only: monotone ones extrapolate by design) and with a
        low income coverage (the income estimate rests on imputation). 1 for a model without ranges."""
        spec = self.meta.get("trust")
        if not spec:
            return np.ones(portraits.num_rows)
        x = self.features(portraits)
        idx = [FEATURE_NAMES.index(n) for n in spec["features"]]
        low = np.array([-np.inf if v is None else v for v in spec["low"]], np.float64)
        high = np.array([np.inf if v is None else v for v in spec["high"]], np.float64)
        v = x[:, idx]
        with np.errstate(invalid="ignore"):
            outside = ((v < low) | (v > high)).sum(axis=1)
        free, zero = float(spec["free"]), float(spec["zero"])
        t_range = np.clip(1.0 - (outside - free) / (zero - free), 0.0, 1.0)
        coverage = np.nan_to_num(_col(portraits, "income_coverage"), nan=0.0)
        t_cov = np.clip(coverage / float(spec["coverage_full"]), float(spec["coverage_floor"]), 1.0)
        return np.asarray(t_range * t_cov, dtype=np.float64)

    def grade(self, probability: float) -> str:
        if probability >= self.grade_high:
            return "高"
        return "中" if probability >= self.grade_medium else "低"

    def _path_table(self, columns: int, column_of: Callable[[int], int]) -> tuple[Arr, float]:
        """Per tree and leaf, what each split on the way from the root added to the margin (Saabas'
        path attribution), summed into `columns` buckets by `column_of(feature index)`; and the bias
        (the roots' values). A row's contributions are the rows of its leaves, summed over the trees:
        bias + contributions = the margin, exactly (local accuracy), at the cost of one prediction."""
        trees = self.booster.dump_model()["tree_info"]
        leaves = max(int(t["num_leaves"]) for t in trees)
        table = np.zeros((len(trees), leaves, columns))
        bias = 0.0
        for t, info in enumerate(trees):
            root = info["tree_structure"]
            if "leaf_value" in root:  # a tree of one leaf: a constant
                bias += float(root["leaf_value"])
                continue
            bias += float(root["internal_value"])
            stack: list[tuple[dict[str, Any], Arr]] = [(root, np.zeros(columns))]
            while stack:
                node, acc = stack.pop()
                for child in (node["left_child"], node["right_child"]):
                    gained = acc.copy()
                    value = child["leaf_value"] if "leaf_index" in child else child["internal_value"]
                    gained[column_of(int(node["split_feature"]))] += float(value) - float(
                        node["internal_value"]
                    )
                    if "leaf_index" in child:
                        table[t, int(child["leaf_index"])] = gained
                    else:
                        stack.append((child, gained))
        return table, bias

    def _attribute(self, portraits: pa.Table, table: Arr, bias: float) -> Arr:
        leaf = np.asarray(
            self.booster.predict(
                self.features(portraits), pred_leaf=True, num_threads=_threads(portraits.num_rows)
            ),
            dtype=np.int64,
        ).reshape(portraits.num_rows, -1)
        from scipy import sparse

        # one-hot of each row's leaf in every tree (n × trees·leaves) times the table (trees·leaves × k)
        n, trees, leaves = portraits.num_rows, table.shape[0], table.shape[1]
        onehot = sparse.csr_matrix(
            (
                np.ones(n * trees),
                (leaf + np.arange(trees) * leaves).ravel(),
                np.arange(0, n * trees + 1, trees),
            ),
            shape=(n, trees * leaves),
        )
        out = np.empty((n, table.shape[2] + 1))
        out[:, :-1] = onehot @ table.reshape(trees * leaves, -1)
        out[:, -1] = bias
        return out

    def contributions(self, portraits: pa.Table) -> Arr:
        """Per-row, per-feature contributions to the margin (last column: the bias); see _path_table.

        Path attribution, not TreeSHAP (`pred_contrib`): SHAP costs ~2.6 ms a row with this booster
        (4 minutes for the 100,000 warnings of a province), a path costs what a prediction costs.
        """
        if self._features_table is None:
            self._features_table = self._path_table(len(FEATURE_NAMES), lambda j: j)
        return self._attribute(portraits, *self._features_table)

    def group_contributions(self, portraits: pa.Table) -> Arr:
        """contributions() summed per feature group (EXPLAIN_GROUPS order; last column: the bias)."""
        tables = self.warm()._groups_table
        assert tables is not None
        return self._attribute(portraits, *tables)

    def warm(self) -> RiskModel:
        """Build the explanation tables now (~0.5 s), not in the first request that explains."""
        if self._groups_table is None:
            index = {g: i for i, g in enumerate(EXPLAIN_GROUPS)}
            self._groups_table = self._path_table(
                len(EXPLAIN_GROUPS), lambda j: index[FEATURE_GROUPS[FEATURE_NAMES[j]]]
            )
        return self

    def explain(self, portraits: pa.Table, top: int = 3) -> list[str]:
        """One Chinese explanation per row: the top positive contributions as sentences joined by "；"."""
        if portraits.num_rows == 0:
            return []
        by_group = self.group_contributions(portraits)[:, :-1]
        lines = line_of(portraits, self.default_line)
        groups = EXPLAIN_GROUPS
        rows = portraits.select([c for c in portraits.column_names if c in SENTENCE_COLUMNS]).to_pylist()
        orders = np.argsort(-by_group, axis=1, kind="stable")
        out: list[str] = []
        for i, row in enumerate(rows):
            order = orders[i]
            sentences: list[str] = []
            for g in order:
                if by_group[i, g] <= 0 or len(sentences) >= top:
                    break
                text = _sentence(groups[g], row, float(lines[i]))
                if text and text not in sentences:
                    sentences.append(text)
            out.append("；".join(sentences) if sentences else "综合各项数据，风险较低")
        return out

    def feature_importance(self) -> list[tuple[str, str, float]]:
        """(feature, Chinese label, share of total gain), highest first."""
        gains = np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=np.float64)
        total = float(gains.sum()) or 1.0
        names = list(self.meta.get("features") or FEATURE_NAMES)
        ranked = sorted(zip(names, gains, strict=True), key=lambda t: -t[1])
        return [(n, FEATURE_LABELS.get(n, n), float(g) / total) for n, g in ranked]


_SLICE_ROWS = 1 << 16
_COMPILED_ROWS = 20_000  # a re-score of a few households never waits for a compilation


def model_cache_dir() -> Path:
    """Where compiled models are cached: FANGPIN_MODEL_CACHE, else $FANGPIN_HOME/cache/models (the
    service's own directory: a shared /tmp would let another user plant machine code)."""
    given = os.environ.get("FANGPIN_MODEL_CACHE")
    return Path(given) if given else Path(os.environ.get("FANGPIN_HOME") or "var") / "cache" / "models"


def _compile(model_text: str) -> Any:
    """An lleaves model of `model_text` returning margins, compiled once per machine (~10 s for the
    shipped model) and loaded from the cache after (~10 ms); None if lleaves is unavailable or fails."""
    try:
        import lleaves
        import llvmlite.binding as llvm
    except ImportError:
        return None
    import tempfile
    from importlib.metadata import version

    cpu = llvm.get_host_cpu_name() + ":" + llvm.get_host_cpu_features().flatten()
    key = hashlib.sha256(f"{version('lleaves')}|{cpu}|{model_text}".encode()).hexdigest()[:24]
    folder = model_cache_dir()
    path = folder / f"forest-{key}.o"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            (Path(tmp) / "model.txt").write_text(model_text, encoding="utf-8")
            model = lleaves.Model(model_file=str(Path(tmp) / "model.txt"))
            if path.exists():
                model.compile(cache=str(path), raw_score=True)
            else:  # compiled into a private file, then renamed: a concurrent reader sees all or nothing
                model.compile(cache=str(Path(tmp) / "forest.o"), raw_score=True)
                os.replace(Path(tmp) / "forest.o", path)
        return model
    except Exception:  # noqa: BLE001 - any failure: LightGBM predicts instead, with the same margins
        return None


_PARALLEL_ROWS = 20_000  # from here on, every core pays off (measured: 279,000 rows 2.4 s → 1.2 s on 2)


def _threads(rows: int = 0) -> int:
    """LightGBM threads: FANGPIN_MODEL_THREADS, else all cores for a large batch and 1 for a small one
    (a re-score of a few households: starting OpenMP threads on a busy 2-core box costs more)."""
    given = os.environ.get("FANGPIN_MODEL_THREADS")
    if given:
        return max(1, int(given))
    return max(1, os.cpu_count() or 1) if rows >= _PARALLEL_ROWS else 1


# --- training -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainOptions:
    seed: int = 0
    name: str = "jx-default"
    county: str = ""
    calibration_share: float = 0.3  # held out to calibrate and measure
    # "period": the latest periods are held out (time generalisation); "household": a fixed share of
    # households, all their months (every kind of shock the history holds reaches the booster)
    split: str = "household"
    rounds: int = 400
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 40
    lambda_l2: float = 1.0
    notes: dict[str, Any] = field(default_factory=dict)


def _auc(y: Arr, s: Arr) -> float:
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if not pos or not neg:
        return math.nan
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    # average ranks over ties
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def calibration_error(y: Arr, p: Arr, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins (|mean predicted − observed rate|, weighted)."""
    if len(y) == 0:
        return math.nan
    order = np.argsort(p, kind="stable")
    err = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            err += len(chunk) * abs(float(p[chunk].mean()) - float(y[chunk].mean()))
    return err / len(y)


def _fit_platt(margin: Arr, y: Arr, start: tuple[float, float] = (1.0, 0.0)) -> tuple[float, float]:
    """Logistic regression of the label on the booster margin by Newton's method (two numbers); a step
    that would raise the log-loss is halved (a score of 0…10 with few positives overshoots otherwise)."""
    a, b = start

    def loss(a_: float, b_: float) -> float:
        z = a_ * margin + b_
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a * margin + b)))
        w = np.maximum(p * (1.0 - p), 1e-12)
        g = np.array([np.sum((p - y) * margin), np.sum(p - y)])
        h = np.array([[np.sum(w * margin * margin), np.sum(w * margin)], [np.sum(w * margin), np.sum(w)]])
        h += np.eye(2) * 1e-9
        step = np.linalg.solve(h, g)
        before = loss(a, b)
        for _halving in range(30):
            if loss(a - float(step[0]), b - float(step[1])) <= before + 1e-12:
                break
            step = step / 2
        a, b = a - float(step[0]), b - float(step[1])
        if float(np.abs(step).max()) < 1e-10:
            break
    return a, b


def _recall_threshold(p: Arr, y: Arr, level: float) -> float:
    """The probability at which households ranked by `p` reach `level` recall of the positives."""
    order = np.argsort(-p, kind="stable")
    hits = np.cumsum(y[order])
    need = math.ceil(level * hits[-1]) if len(hits) and hits[-1] else 0
    if not need:
        return 1.0
    return float(p[order][int(np.searchsorted(hits, need))])


def train(
    examples: pa.Table, options: TrainOptions | None = None, *, prior: RiskModel | None = None
) -> RiskModel:
    """Train on portrait rows with a boolean `label` (and optional `period`, `line`, `weight`).

    With `split="period"` (and a `period` column) the latest `calibration_share` of the periods are held
    out; with `split="household"` that share of the households (all their months). The booster learns on
    the rest (early-stopped on the held-out rows), the Platt calibrator and the grade thresholds are
    fitted on the held-out rows, and the metadata reports AUC and calibration error there.

    `prior` (warm start, ADR 0030): the booster starts from the prior's margin (LightGBM's init_score,
    given as `init_model`) and learns only corrections to it; the stored forest is the prior's trees
    followed by the correction's, so scoring and explaining need nothing else, and `meta.warm_start`
    says where the prior ends. `rounds=0` keeps the prior's margin exactly (re-calibrated).
    """
    import lightgbm as lgb

    opts = options or TrainOptions()
    if "label" not in examples.column_names:
        raise ModelError("examples need a boolean `label` column (confirmed at risk or not)")
    check_columns(examples)
    y = _col(examples, "label")
    if np.isnan(y).any():
        raise ModelError("examples have rows without a label")
    if y.sum() < 10 or (len(y) - y.sum()) < 10:
        raise ModelError(
            f"too few examples to learn from: {int(y.sum())} at risk, {int(len(y) - y.sum())} not"
        )
    line = line_of(examples, DEFAULT_LINES[max(DEFAULT_LINES)])
    x = feature_matrix(examples, line)
    rng = np.random.default_rng(opts.seed)
    if opts.split not in ("period", "household"):
        raise ModelError(f"split must be 'period' or 'household', not {opts.split!r}")
    periods = sorted(set(examples.column("period").to_pylist())) if "period" in examples.column_names else []
    if opts.split == "household" and "household_no" in examples.column_names:
        source = examples.column("source").to_pylist() if "source" in examples.column_names else None
        keys = examples.column("household_no").to_pylist()
        cal = np.array(
            [
                int(
                    hashlib.sha256(f"{opts.seed}:{source[i] if source else ''}:{k}".encode()).hexdigest()[:8],
                    16,
                )
                < opts.calibration_share * 0xFFFFFFFF
                for i, k in enumerate(keys)
            ]
        )
        cal_periods = []
    elif "period" in examples.column_names:
        if len(periods) < 2:
            raise ModelError("training needs at least 2 periods (later ones calibrate)")
        n_cal = max(1, round(len(periods) * opts.calibration_share))
        cal_periods = periods[-n_cal:]
        cal = np.isin(np.array(examples.column("period").to_pylist()), cal_periods)
    else:
        periods, cal_periods = [], []
        cal = rng.random(len(y)) < opts.calibration_share
    fit = ~cal
    if y[fit].sum() < 5 or y[cal].sum() < 5:
        raise ModelError("too few positives in the training or the held-out periods")
    params = {
        "objective": "binary",
        "learning_rate": opts.learning_rate,
        "num_leaves": opts.num_leaves,
        "min_data_in_leaf": opts.min_data_in_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": opts.lambda_l2,
        "monotone_constraints": [MONOTONE.get(n, 0) for n in FEATURE_NAMES],
        "seed": opts.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": _threads(),
        "verbosity": -1,
    }
    # optional per-row `weight` (positive–unlabelled learning: known negatives count more than
    # unlabelled households, ADR 0030); the booster only — Platt stays unweighted, so probabilities
    # match the observed rates of the held-out months
    weight = _col(examples, "weight") if "weight" in examples.column_names else np.ones(len(y))
    if prior is not None and opts.rounds == 0:  # no correction: the prior's forest as it is
        text = prior._text()
    else:
        text = _boost(params, x, y, weight, fit, opts.rounds, prior)
    booster = lgb.Booster(model_str=text)
    margin = np.asarray(booster.predict(x[cal], raw_score=True, num_threads=_threads()), dtype=np.float64)
    a, b = _fit_platt(margin, y[cal])
    p = 1.0 / (1.0 + np.exp(-(a * margin + b)))
    medium = min(_recall_threshold(p, y[cal], 0.9), 0.5)
    high = max(0.5, medium)
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    meta: dict[str, Any] = {
        "name": opts.name,
        "created_at": created.isoformat(),
        "seed": opts.seed,
        "county": opts.county,
        "split": opts.split,
        "train_periods": [p_ for p_ in periods if p_ not in cal_periods],
        "calibration_periods": cal_periods,
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "train_rows": int(fit.sum()),
        "calibration_rows": int(cal.sum()),
        "calibration_positives": int(y[cal].sum()),
        "auc": round(_auc(y[cal], margin), 4),
        "calibration_error": round(calibration_error(y[cal], p), 5),
        "brier": round(float(np.mean((p - y[cal]) ** 2)), 5),
        "rounds": int(booster.num_trees()),
        "params": {k: v for k, v in params.items() if k not in ("num_threads", "verbosity")},
        "lightgbm": lgb.__version__,
        "features": list(FEATURE_NAMES),
        "feature_labels_zh": [FEATURE_LABELS[n] for n in FEATURE_NAMES],
        "calibration": {"method": "platt", "platt": [a, b]},
        "grades": {
            "high": round(high, 4),
            "medium": round(medium, 4),
            "how": "高: calibrated P ≥ 0.5 (more likely than not to be confirmed); 中: the P at which "
            "the held-out periods reach 90 % recall (capped at 0.5); below: 低",
        },
        "lines": {str(k): v for k, v in sorted(_lines_of(examples).items())}
        or {str(k): v for k, v in DEFAULT_LINES.items()},
        "label_source": str(opts.notes.get("label_source", "")),
        "notes": opts.notes,
        "trust": _trust_spec(x[fit]),
    }
    if RULE_SCORE in examples.column_names:
        score = _col(examples, RULE_SCORE)[cal]
        # from the flat model at the base rate: Newton's first step from (1, 0) overshoots on a score of 0…10
        base = min(max(float(y[cal].mean()), 1e-6), 1 - 1e-6)
        ra, rb = _fit_platt(score, y[cal], start=(0.0, math.log(base / (1 - base))))
        pr = 1.0 / (1.0 + np.exp(-(ra * score + rb)))
        meta["rule_calibration"] = {
            "platt": [ra, rb],
            "auc": round(_auc(y[cal], score), 4),
            "calibration_error": round(calibration_error(y[cal], pr), 5),
        }
    if prior is not None:
        prior_trees = int(prior.booster.num_trees())
        meta["warm_start"] = {
            "prior": prior.version,
            "prior_trees": prior_trees,
            "correction_trees": int(booster.num_trees()) - prior_trees,
        }
    return _with_version(RiskModel(booster, meta, None, text))


# trust (RiskModel.trust): the training range of every non-monotone feature is its 0.1 %…99.9 % quantile;
# up to TRUST_FREE features outside keep full trust, TRUST_ZERO or more none; an income coverage below
# TRUST_COVERAGE_FULL lowers trust linearly down to TRUST_COVERAGE_FLOOR
TRUST_QUANTILES = (0.001, 0.999)
TRUST_FREE, TRUST_ZERO = 1, 4
TRUST_COVERAGE_FULL, TRUST_COVERAGE_FLOOR = 0.5, 0.5


def _trust_spec(x: Arr) -> dict[str, Any]:
    names = [n for n in FEATURE_NAMES if n not in MONOTONE]
    cols = x[:, [FEATURE_NAMES.index(n) for n in names]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN feature: handled below
        low = np.nanquantile(cols, TRUST_QUANTILES[0], axis=0)
        high = np.nanquantile(cols, TRUST_QUANTILES[1], axis=0)
    # a feature never seen (all NaN) has no range (null): nothing falls outside it
    return {
        "features": names,
        "low": [None if np.isnan(v) else float(v) for v in low],
        "high": [None if np.isnan(v) else float(v) for v in high],
        "free": TRUST_FREE,
        "zero": TRUST_ZERO,
        "coverage_full": TRUST_COVERAGE_FULL,
        "coverage_floor": TRUST_COVERAGE_FLOOR,
    }


def _boost(
    params: dict[str, Any],
    x: Arr,
    y: Arr,
    weight: Arr,
    fit: npt.NDArray[np.bool_],
    rounds: int,
    prior: RiskModel | None,
) -> str:
    """The booster's text: trained on the `fit` rows, early-stopped on the others; from `prior`'s margin
    when given (its trees first: LightGBM sets the init_score of both datasets from them)."""
    import lightgbm as lgb

    train_set = lgb.Dataset(
        x[fit], label=y[fit], weight=weight[fit], feature_name=list(FEATURE_NAMES), free_raw_data=False
    )
    valid_set = lgb.Dataset(x[~fit], label=y[~fit], weight=weight[~fit], reference=train_set)
    booster = lgb.train(
        {**params, "metric": "binary_logloss"},
        train_set,
        num_boost_round=rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(50, verbose=False)],
        init_model=prior.booster if prior is not None else None,
    )
    # best_iteration counts the prior's trees too
    return str(booster.model_to_string(num_iteration=booster.best_iteration or rounds))


def _lines_of(examples: pa.Table) -> dict[int, float]:
    if "line" not in examples.column_names or "period" not in examples.column_names:
        return {}
    out: dict[int, float] = {}
    for period, line in zip(
        examples.column("period").to_pylist(), examples.column("line").to_pylist(), strict=True
    ):
        if line is not None:
            out[int(str(period)[:4])] = float(line)
    return out


def _with_version(model: RiskModel) -> RiskModel:
    digest = hashlib.sha256(model._model_text.encode("utf-8"))
    digest.update(json.dumps(model.meta, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    day = str(model.meta["created_at"])[:10].replace("-", "")
    model.meta["version"] = f"{model.meta['name']}-{day}-{digest.hexdigest()[:8]}"
    model.refresh()
    return model


# --- storage: <folder>/<version>/{model.txt, meta.json} + <folder>/active ------------------------------


def store_model(folder: Path, model: RiskModel, *, activate: bool = True) -> Path:
    """Write the model as a new version directory (atomic rename) and, by default, make it active."""
    if not model._model_text:
        model._model_text = str(model.booster.model_to_string())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / model.version
    if not target.exists():
        tmp = folder / f".{model.version}.tmp"
        tmp.mkdir(exist_ok=True)
        (tmp / "model.txt").write_text(model._model_text, encoding="utf-8")
        (tmp / "meta.json").write_text(
            json.dumps(model.meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        tmp.replace(target)
    if activate:
        tmp_active = folder / "active.tmp"
        tmp_active.write_text(model.version + "\n", encoding="utf-8")
        tmp_active.replace(folder / "active")
    model.path = target
    return target


def load_model(path: Path | str) -> RiskModel:
    """Load a version directory (model.txt + meta.json); any problem raises ModelError naming the file."""
    import lightgbm as lgb

    root = Path(path)
    model_file, meta_file = root / "model.txt", root / "meta.json"
    for f in (model_file, meta_file):
        if not f.is_file():
            raise ModelError(f"模型文件缺失 model file missing: {f}")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"模型元数据无法读取 unreadable model metadata {meta_file}: {exc}") from exc
    for key in ("version", "features", "calibration", "grades"):
        if not isinstance(meta, dict) or key not in meta:
            raise ModelError(f"模型元数据不完整 model metadata {meta_file} lacks {key!r}")
    if list(meta["features"]) != list(FEATURE_NAMES):
        raise ModelError(
            f"模型 {meta['version']} 的特征与本版本不一致 was trained on other features; retrain it "
            "(fangpin model train)"
        )
    try:
        text = model_file.read_text(encoding="utf-8")
        booster = lgb.Booster(model_str=text)
    except (OSError, UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
        raise ModelError(f"模型文件损坏 corrupt model file {model_file}: {str(exc).splitlines()[0]}") from exc
    if booster.num_feature() != len(FEATURE_NAMES):
        raise ModelError(f"模型文件损坏 corrupt model file {model_file}: {booster.num_feature()} features")
    return RiskModel(booster, meta, root, text)


def model_versions(folder: Path) -> list[tuple[str, str, bool]]:
    """(version, created_at, is active) of every stored version, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    active = _active_name(folder)
    out: list[tuple[str, str, bool]] = []
    for d in folder.iterdir():
        if d.is_dir() and not d.name.startswith(".") and (d / "meta.json").is_file():
            try:
                created = str(json.loads((d / "meta.json").read_text(encoding="utf-8")).get("created_at", ""))
            except (OSError, ValueError):
                created = ""
            out.append((d.name, created, d.name == active))
    return sorted(out, key=lambda t: (t[1], t[0]))


def _active_name(folder: Path) -> str:
    f = folder / "active"
    return f.read_text(encoding="utf-8").strip() if f.is_file() else ""


def active_model(folder: Path | None) -> RiskModel:
    """The active stored model, or the shipped default when none was stored."""
    if folder is not None:
        name = _active_name(Path(folder))
        if name:
            return load_model(Path(folder) / name)
    return shipped_model()


def shipped_model() -> RiskModel:
    name = _active_name(SHIPPED_MODELS)
    if not name:
        raise ModelError(f"no shipped model under {SHIPPED_MODELS} (train one: fangpin model train)")
    return load_model(SHIPPED_MODELS / name)


def activate_model(folder: Path, version: str) -> RiskModel:
    model = load_model(Path(folder) / version)
    tmp_active = Path(folder) / "active.tmp"
    tmp_active.write_text(version + "\n", encoding="utf-8")
    tmp_active.replace(Path(folder) / "active")
    return model


# --- a Django-free training lake from simulator deliveries ---------------------------------------------


def simulation_lake(
    deliveries: Path, lake_root: Path, *, progress: Callable[[str], None] | None = None
) -> Lake:
    """Import the simulator's delivery folders into a lake, linking by exact ID number (no Django).

    The exchange app links with the registry and fuzzy matching; for training and measuring, the exact
    match is enough: each month the police register (`ps_person`, imported first) says which household
    every ID belongs to; other datasets join through the ID (or the household number). Rows whose ID is
    damaged stay unlinked, as they would be before a data steward resolves them. The lake must be new
    (the linking state lives in this call).
    """
    from fangpin.pipeline.catalog import load_catalog
    from fangpin.pipeline.ingest import ingest_file

    deliveries = Path(deliveries)
    if not deliveries.is_dir():
        raise ModelError(f"no deliveries at {deliveries} (expected the simulator's DIR/deliveries)")
    if Path(lake_root).exists() and any(Path(lake_root).iterdir()):
        raise ModelError(f"lake {lake_root} already exists: use it as it is, or pick a new path")
    catalog = load_catalog()
    lake = Lake(Path(lake_root), catalog=catalog)
    persons: dict[str, int] = {}
    person_household: dict[int, int] = {}
    households: dict[str, int] = {}

    def link(accepted: pa.Table) -> pa.Table:
        n = accepted.num_rows
        names = accepted.column_names
        if "id_number" in names and "household_no" in names and "relation" in names:  # the police register
            pk_list: list[int | None] = []
            hk_list: list[int | None] = []
            for idn, hno in zip(
                accepted.column("id_number").to_pylist(),
                accepted.column("household_no").to_pylist(),
                strict=True,
            ):
                hk = households.setdefault(hno, len(households) + 1) if hno else None
                pk = persons.setdefault(idn, len(persons) + 1) if idn else None
                if pk is not None and hk is not None:
                    person_household[pk] = hk
                pk_list.append(pk)
                hk_list.append(hk)
        elif "id_number" in names:
            pk_list = [persons.get(x) if x else None for x in accepted.column("id_number").to_pylist()]
            hk_list = [person_household.get(p) if p else None for p in pk_list]
        elif "household_no" in names:
            pk_list = [None] * n
            hk_list = [households.get(x) if x else None for x in accepted.column("household_no").to_pylist()]
        else:
            pk_list, hk_list = [None] * n, [None] * n
        return accepted.append_column("person_key", pa.array(pk_list, pa.int64())).append_column(
            "household_key", pa.array(hk_list, pa.int64())
        )

    folders = sorted(p.name for p in deliveries.iterdir() if p.is_dir())
    if not folders:
        raise ModelError(f"no delivery folders under {deliveries}")
    for period in folders:
        check_period(period)
        folder = deliveries / period
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))
        files.sort(key=lambda p: p.stem != "ps_person")  # the register first: it gives the household keys
        for f in files:
            if f.stem not in catalog:
                continue
            ingest_file(f, f.stem, period, lake=lake, catalog=catalog, known_villages=None, link=link)
        if progress:
            progress(f"imported {period}")
    return lake
