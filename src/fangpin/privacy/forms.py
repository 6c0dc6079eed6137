"""The purpose asked of every batch export and every reveal (SECURITY.md PI-04)."""

from __future__ import annotations

from typing import Any

from django import forms

from fangpin.web.forms import StyledForm

PURPOSES = (
    ("assistance", "监测帮扶工作"),
    ("verification", "入户核实、信息核对"),
    ("review", "审核审批"),
    ("statistics", "统计分析与工作报告"),
    ("supervision", "督导检查"),
    ("other", "其他（须说明）"),
)
PURPOSE_NAMES = dict(PURPOSES)


class PurposeForm(StyledForm):
    purpose = forms.ChoiceField(
        label="用途",
        choices=(("", "请选择用途"), *PURPOSES),
        error_messages={"required": "请选择用途", "invalid_choice": "请从列表中选择用途"},
    )
    purpose_note = forms.CharField(label="用途说明", max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        note = (data.get("purpose_note") or "").strip()
        data["purpose_note"] = note
        if data.get("purpose") == "other" and len(note) < 4:
            self.add_error("purpose_note", "用途选择“其他”时须写明用途（至少 4 个字）")
        return data


class DecisionForm(StyledForm):
    decision = forms.ChoiceField(choices=(("approve", "批准"), ("deny", "不批准")))
    note = forms.CharField(label="审批意见", max_length=200, required=False)
