from __future__ import annotations

import re
from typing import Any

from django import forms

from fangpin.lib import idcard
from fangpin.lib.risks import RISK_TYPES
from fangpin.warnings.models import Channel, LeadKind, LeadStatus

RISK_CHOICES = [(code, f"{code} {name}") for code, name in RISK_TYPES.items()]
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


class DeclarationForm(forms.Form):
    """The public self-declaration form (phone friendly; every message in plain Chinese)."""

    name = forms.CharField(label="申报人姓名", max_length=50, min_length=2)
    id_number = forms.CharField(label="公民身份号码", max_length=18, min_length=15)
    phone = forms.CharField(label="联系电话", max_length=20)
    reason_category = forms.ChoiceField(label="主要困难", choices=[("", "请选择"), *RISK_CHOICES])
    reason_text = forms.CharField(
        label="情况说明（选填）", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 4})
    )
    consent = forms.BooleanField(
        label="我已阅读并同意上述承诺授权",
        required=True,
        error_messages={"required": "须勾选同意承诺授权后才能提交申报"},
    )

    def clean_name(self) -> str:
        value: str = self.cleaned_data["name"].strip()
        if not re.fullmatch(r"[\u4e00-\u9fff·]{2,20}", value):
            raise forms.ValidationError("请填写中文姓名")
        return value

    def clean_id_number(self) -> str:
        value = idcard.normalize(self.cleaned_data["id_number"])
        found = idcard.problem(value)
        if found is not None:
            raise forms.ValidationError(f"身份证号码有误：{idcard.PROBLEM_MESSAGES_ZH[found]}")
        return value

    def clean_phone(self) -> str:
        value: str = re.sub(r"\s+", "", self.cleaned_data["phone"])
        if not _PHONE.match(value):
            raise forms.ValidationError("请填写11位手机号码或带区号的固定电话")
        return value


class ReportForm(forms.Form):
    """A cadre's field report: the household (by its number, in scope), risk types and what was seen."""

    household_no = forms.CharField(label="户编号", max_length=20)
    risk_types = forms.MultipleChoiceField(
        label="风险类型（最多5项）", choices=RISK_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    note = forms.CharField(
        label="走访发现的情况", min_length=4, max_length=1000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def clean_risk_types(self) -> list[str]:
        value: list[str] = self.cleaned_data["risk_types"]
        if len(value) > 5:
            raise forms.ValidationError("风险类型最多选择5项")
        return value


class DecisionForm(forms.Form):
    version = forms.IntegerField(min_value=1)


class RejectForm(DecisionForm):
    reason = forms.CharField(
        label="不予受理理由",
        min_length=4,
        max_length=1000,
        error_messages={"required": "请填写不予受理的理由", "min_length": "理由至少4个字"},
    )


class MatchForm(forms.Form):
    household_no = forms.CharField(label="户编号", max_length=20)


OPEN = "open"


class FilterForm(forms.Form):
    channel = forms.ChoiceField(label="渠道", required=False, choices=[("", "全部渠道"), *Channel.choices])
    status = forms.ChoiceField(
        label="状态",
        required=False,
        choices=[(OPEN, "未办结"), ("", "全部状态"), *LeadStatus.choices],
    )
    kind = forms.ChoiceField(label="类型", required=False, choices=[("", "全部类型"), *LeadKind.choices])
    grade = forms.ChoiceField(
        label="等级", required=False, choices=[("", "全部等级"), ("高", "高"), ("中", "中"), ("低", "低")]
    )
    village = forms.ChoiceField(label="村", required=False)
    overdue = forms.BooleanField(label="超期未受理", required=False)

    def __init__(self, *args: Any, villages: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        village = self.fields["village"]
        assert isinstance(village, forms.ChoiceField)
        village.choices = [("", "全部村"), *(villages or [])]
