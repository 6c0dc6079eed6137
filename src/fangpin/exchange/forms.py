from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings

from fangpin.accounts.roles import DEPARTMENTS
from fangpin.exchange.actions import ExchangeError, check_period
from fangpin.web.forms import StyledForm

ALLOWED_SUFFIXES = (".csv", ".xlsx", ".parquet")


class UploadForm(StyledForm):
    dataset = forms.ChoiceField(label="数据集")
    period = forms.CharField(label="期次（YYYY-MM）", max_length=7)
    file = forms.FileField(label="文件（CSV / XLSX / Parquet）")

    def __init__(self, *args: Any, datasets: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["dataset"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = datasets

    def clean_period(self) -> str:
        period: str = self.cleaned_data["period"].strip()
        try:
            check_period(period)  # YYYY-MM, and not a month still to come
        except ExchangeError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return period

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in ALLOWED_SUFFIXES:
            raise forms.ValidationError("只接受 .csv、.xlsx、.parquet 文件")
        if upload.size > settings.FANGPIN_UPLOAD_MAX_MB * 1024 * 1024:
            raise forms.ValidationError(f"文件超过 {settings.FANGPIN_UPLOAD_MAX_MB} MB，请用命令行导入")
        return upload


class TokenForm(StyledForm):
    department = forms.ChoiceField(label="部门", choices=list(DEPARTMENTS.items()))
    name = forms.CharField(label="用途", max_length=100, help_text="如：医保结算实时推送")


class DecisionForm(forms.Form):
    """`person`: the chosen candidate; empty means none of the candidates is this row's person."""

    person = forms.IntegerField(required=False)
    version = forms.IntegerField()
