from __future__ import annotations

from django import forms

from fangpin.web.forms import StyledForm


class SearchForm(StyledForm):
    q = forms.CharField(
        label="姓名 / 身份号码 / 户编号",
        max_length=50,
        min_length=2,
        widget=forms.TextInput(
            attrs={"placeholder": "输入姓名、18位身份号码或户编号", "autocomplete": "off"}
        ),
    )


class RevealForm(StyledForm):
    FIELDS = (("id_number", "身份号码"), ("name", "姓名"))
    field = forms.ChoiceField(choices=FIELDS)
    reason = forms.CharField(label="查看事由", min_length=4, max_length=200)
