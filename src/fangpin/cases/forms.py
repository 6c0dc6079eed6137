"""The forms of each step. They validate input for the web pages, the JSON API and the demo alike
(`actions.submit`), so a rule is written once."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from fangpin.cases import uploads
from fangpin.cases.transitions import RETURN_TARGETS, STATE_LABELS
from fangpin.lib.risks import CATEGORIES, MAX_RISK_TYPES, RISK_TYPES


class VersionForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor  # who submits: an upload rejected as malware is audited in their name
        for field in self.fields.values():  # Tabler styling; numeric keypads on phones
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.HiddenInput):
                continue
            widget.attrs.setdefault(
                "class", "form-select" if isinstance(widget, forms.Select) else "form-control"
            )
            if isinstance(field, forms.DecimalField | forms.IntegerField):
                widget.attrs.setdefault(
                    "inputmode", "decimal" if isinstance(field, forms.DecimalField) else "numeric"
                )


def _money(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, min_value=0, max_digits=12, decimal_places=2, initial=0, required=False
    )


class VisitForm(VersionForm):
    """入户核实表: members, income and spending by source (元 per year), 三保障 and water, risks."""

    members = forms.IntegerField(label="家庭人口", min_value=1, max_value=30)
    able_members = forms.IntegerField(label="有劳动能力人数", min_value=0, max_value=30)
    wage_income = _money("工资性收入（元/年）")
    business_income = _money("生产经营性收入（元/年）")
    property_income = _money("财产性收入（元/年）")
    transfer_income = _money("转移性收入（元/年）")
    medical_spending = _money("医疗自付支出（元/年）")
    schooling_spending = _money("教育支出（元/年）")
    other_rigid_spending = _money("其他刚性支出（元/年）")
    education_ok = forms.BooleanField(label="义务教育有保障（无辍学）", required=False)
    medical_insurance_ok = forms.BooleanField(label="基本医疗保险全员参保", required=False)
    housing_ok = forms.BooleanField(label="住房安全有保障", required=False)
    water_ok = forms.BooleanField(label="饮水安全有保障", required=False)
    risk_types = forms.MultipleChoiceField(
        label="风险类型",
        choices=list(RISK_TYPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    notes = forms.CharField(label="核实情况说明", widget=forms.Textarea(attrs={"rows": 3}), required=False)
    authorization = forms.FileField(
        label="承诺授权书（签字扫描件或照片，JPG/PNG/PDF，≤10MB）", required=False
    )

    def clean_able_members(self) -> int:
        able = int(self.cleaned_data["able_members"])
        members = self.cleaned_data.get("members")
        if members is not None and able > members:
            raise forms.ValidationError("有劳动能力人数不能多于家庭人口")
        return able

    def clean_risk_types(self) -> list[str]:
        types: list[str] = self.cleaned_data["risk_types"]
        if len(types) > MAX_RISK_TYPES:
            raise forms.ValidationError(f"风险类型最多 {MAX_RISK_TYPES} 项")
        return types

    def clean_authorization(self) -> uploads.Accepted | None:
        """The checked file (uploads.accept: type, size, malware, images re-encoded), not the upload."""
        upload: UploadedFile[Any] | None = self.cleaned_data.get("authorization")
        if upload is None:
            return None
        try:
            return uploads.accept(upload, actor=self.actor)
        except uploads.Rejected as exc:
            raise forms.ValidationError(str(exc)) from exc

    def visit(self) -> dict[str, Any]:
        """The visit as stored on the case (JSON: numbers as floats, the file apart)."""
        data = {k: v for k, v in self.cleaned_data.items() if k not in ("authorization", "version")}
        for key, value in list(data.items()):
            if hasattr(value, "as_tuple"):  # Decimal
                data[key] = float(value)
            elif value is None and key != "months_above_line":
                data[key] = 0
        income = sum(
            data[k] for k in ("wage_income", "business_income", "property_income", "transfer_income")
        )
        spending = data["medical_spending"] + data["schooling_spending"]
        data["income_pc"] = round(income / data["members"], 2)
        data["net_income_pc"] = round((income - spending) / data["members"], 2)
        return data


class EliminationVisitForm(VisitForm):
    """The elimination visit adds how long income has been above the line and whether a new risk appeared."""

    months_above_line = forms.IntegerField(
        label="近 12 个月中人均收入高于监测线的月数", min_value=0, max_value=12
    )
    new_risk = forms.BooleanField(label="发现新的风险", required=False)


class VillageReviewForm(VersionForm):
    meeting_date = forms.DateField(label="评议会日期", widget=forms.DateInput(attrs={"type": "date"}))
    attendees = forms.IntegerField(label="参会人数", min_value=1, max_value=999)
    votes_for = forms.IntegerField(label="同意人数", min_value=0, max_value=999)
    result = forms.CharField(label="评议意见", widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("votes_for") is not None and data.get("attendees") is not None:
            if data["votes_for"] > data["attendees"]:
                raise forms.ValidationError("同意人数不能多于参会人数")
            if data["votes_for"] * 2 <= data["attendees"]:
                raise forms.ValidationError("同意人数未过半，评议未通过：请使用“不予通过”并写明理由")
        return data


class ObjectionForm(VersionForm):
    objection = forms.CharField(label="异议内容", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class NoteForm(VersionForm):
    note = forms.CharField(
        label="意见", widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )


class ReasonForm(VersionForm):
    reason = forms.CharField(label="理由", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class ReturnForm(ReasonForm):
    return_to = forms.ChoiceField(label="退回至", choices=[(str(s), STATE_LABELS[s]) for s in RETURN_TARGETS])


class DecisionForm(VersionForm):
    """County approval of an identification, and the green channel: category and 1–5 risk types."""

    category = forms.ChoiceField(label="监测对象类别", choices=list(CATEGORIES.items()))
    risk_types = forms.MultipleChoiceField(
        label="风险类型（1–5 项）", choices=list(RISK_TYPES.items()), widget=forms.CheckboxSelectMultiple
    )
    note = forms.CharField(
        label="意见", widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )

    def clean_risk_types(self) -> list[str]:
        types: list[str] = self.cleaned_data["risk_types"]
        if not 1 <= len(types) <= MAX_RISK_TYPES:
            raise forms.ValidationError(f"风险类型须选择 1 至 {MAX_RISK_TYPES} 项")
        return types


class GreenChannelForm(DecisionForm):
    reason = forms.CharField(
        label="理由（灾害/意外/突发重病等，事实清楚）", widget=forms.Textarea(attrs={"rows": 2})
    )


FORMS: dict[str, type[VersionForm]] = {
    "submit_visit": VisitForm,
    "village_review": VillageReviewForm,
    "record_objection": ObjectionForm,
    "end_publicity": NoteForm,
    "township_approve": NoteForm,
    "county_approve": NoteForm,  # elimination; identification uses DecisionForm (see form_for)
    "announce": NoteForm,
    "reject": ReasonForm,
    "return_for_rework": ReturnForm,
    "hold": ReasonForm,
    "green_channel": GreenChannelForm,
}


def form_class(action: str, kind: str) -> type[VersionForm]:
    if action == "county_approve" and kind == "identification":
        return DecisionForm
    if action == "submit_visit" and kind == "elimination":
        return EliminationVisitForm
    return FORMS[action]


class OpenCaseForm(forms.Form):
    assignee: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label="核实责任人（网格员/村干部）", queryset=None, empty_label=None
    )
    green_channel = forms.BooleanField(label="绿色通道（先帮扶后补程序）", required=False)

    def __init__(self, *args: Any, assignees: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees  # type: ignore[attr-defined]


class DeadlineRuleForm(forms.Form):
    days = forms.IntegerField(label="办理时限（天）", min_value=1, max_value=90, initial=15)
    working_days = forms.BooleanField(label="按工作日计算（法定节假日、调休）", required=False)
    escalate_days_before = forms.IntegerField(
        label="到期前几天提醒上级", min_value=0, max_value=30, initial=3
    )
