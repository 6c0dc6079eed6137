from __future__ import annotations

from typing import Any

from django import forms

from fangpin.assistance.models import Category, Labour, MeasureStatus
from fangpin.lib.periods import PERIOD_PATTERN
from fangpin.lib.risks import CATEGORIES, RISK_TYPES


class MeasureTypeForm(forms.Form):
    code = forms.CharField(label="编号", max_length=20)
    category = forms.ChoiceField(label="类别", choices=Category.choices)
    name = forms.CharField(label="措施名称", max_length=100)
    risk_types = forms.MultipleChoiceField(
        label="适用风险类型",
        choices=list(RISK_TYPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    categories = forms.MultipleChoiceField(
        label="适用监测类别（不选为不限）",
        choices=list(CATEGORIES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    labour = forms.ChoiceField(label="劳动能力条件", choices=Labour.choices)
    per_person = forms.BooleanField(label="到人（否则到户）", required=False)
    eligibility = forms.CharField(label="享受条件", widget=forms.Textarea(attrs={"rows": 2}), required=False)
    amount = forms.DecimalField(
        label="标准金额（元）", min_value=0, max_digits=10, decimal_places=2, required=False
    )
    standard = forms.CharField(label="补助标准", max_length=200, required=False)
    department = forms.CharField(label="责任部门", max_length=60, required=False)
    continues_after_elimination = forms.BooleanField(label="风险消除后可延续", required=False)
    priority = forms.IntegerField(label="推荐优先级（0–100）", min_value=0, max_value=100, initial=50)
    active = forms.BooleanField(label="启用", required=False, initial=True)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["risk_types"] = ";".join(data["risk_types"])
        data["categories"] = ";".join(data["categories"])
        return data


class PlanForm(forms.Form):
    responsible = forms.TypedChoiceField(label="帮扶责任人", coerce=int, required=False, empty_value=None)
    summary = forms.CharField(label="帮扶思路", widget=forms.Textarea(attrs={"rows": 2}), required=False)


class MeasureForm(forms.Form):
    measure_type = forms.TypedChoiceField(label="措施", coerce=int)
    person = forms.TypedChoiceField(label="帮扶对象", coerce=int, required=False, empty_value=None)
    start_date = forms.DateField(label="开始日期", widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(
        label="结束日期", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    amount = forms.DecimalField(
        label="金额（元）", min_value=0, max_digits=10, decimal_places=2, required=False
    )
    responsible = forms.TypedChoiceField(label="帮扶责任人", coerce=int, required=False, empty_value=None)
    note = forms.CharField(label="备注", max_length=500, required=False)


class MeasureUpdateForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    status = forms.ChoiceField(label="状态", choices=MeasureStatus.choices)
    effect = forms.CharField(label="帮扶成效", widget=forms.Textarea(attrs={"rows": 2}), required=False)
    income_gained = forms.DecimalField(
        label="增收（元/年）", min_value=0, max_digits=10, decimal_places=2, required=False
    )
    end_date = forms.DateField(
        label="结束日期", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class VisitForm(forms.Form):
    visited_on = forms.DateField(
        label="走访日期", widget=forms.DateInput(attrs={"type": "date", "class": "form-control"})
    )
    findings = forms.CharField(
        label="走访情况", widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"})
    )
    income_per_capita = forms.DecimalField(
        label="当前人均纯收入（元/年）",
        min_value=0,
        max_digits=10,
        decimal_places=2,
        required=False,
        widget=forms.NumberInput(attrs={"class": "form-control", "inputmode": "decimal"}),
    )
    food_clothing_ok = forms.BooleanField(label="不愁吃穿", required=False)
    education_ok = forms.BooleanField(label="义务教育有保障", required=False)
    medical_ok = forms.BooleanField(label="基本医疗有保障", required=False)
    housing_ok = forms.BooleanField(label="住房安全有保障", required=False)
    water_ok = forms.BooleanField(label="饮水安全有保障", required=False)


class AdjustForm(forms.Form):
    lead = forms.IntegerField()
    measure_types = forms.TypedMultipleChoiceField(label="新增措施", coerce=int)
    start_date = forms.DateField(label="开始日期", widget=forms.DateInput(attrs={"type": "date"}))


class RosterForm(forms.Form):
    reveal = forms.BooleanField(label="导出完整身份号码与姓名", required=False)
    reason = forms.CharField(label="理由（导出完整号码时必填）", max_length=200, required=False)


class LedgerUploadForm(forms.Form):
    file = forms.FileField(label="监测对象台账（.xlsx）")


class ResolveForm(forms.Form):
    note = forms.CharField(label="处理说明", max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput)


class ReconcileForm(forms.Form):
    period = forms.RegexField(label="期次", regex=PERIOD_PATTERN, max_length=7)
