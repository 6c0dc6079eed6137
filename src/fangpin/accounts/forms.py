from __future__ import annotations

from typing import Any

from django import forms

from fangpin.accounts.roles import DEPARTMENTS, Role
from fangpin.web.forms import StyledForm


class LoginForm(forms.Form):
    username = forms.CharField(label="用户名", max_length=150)
    password = forms.CharField(
        label="密码", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class TotpForm(StyledForm):
    code = forms.CharField(
        label="动态口令（6位数字）",
        max_length=8,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )


class TotpSetupForm(TotpForm):
    """The code of the app being enrolled; replacing a bound app also asks for its current code."""

    current_code = forms.CharField(
        label="当前动态口令（原验证器上的6位数字）",
        max_length=8,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def __init__(self, *args: Any, needs_current_code: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if needs_current_code:
            self.fields["current_code"].required = True
            self.order_fields(["current_code", "code"])
        else:
            del self.fields["current_code"]
        self.fields["code"].label = "新验证器显示的6位数字"


class PasswordChangeForm(StyledForm):
    current_password = forms.CharField(label="当前密码", strip=False, widget=forms.PasswordInput)
    new_password = forms.CharField(
        label="新密码", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    new_password_again = forms.CharField(label="再次输入新密码", strip=False, widget=forms.PasswordInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") != data.get("new_password_again"):
            raise forms.ValidationError("两次输入的新密码不一致")
        return data


class _AssignmentFields(StyledForm):
    role = forms.ChoiceField(label="角色", choices=Role.choices)
    region = forms.CharField(
        label="所属区划代码",
        max_length=15,
        help_text="如 360722（县）、360722100（乡镇）、360722100201（村）",
    )
    department = forms.ChoiceField(
        label="所属部门（仅部门数据专员）", choices=[("", "—"), *DEPARTMENTS.items()], required=False
    )


class UserCreateForm(_AssignmentFields):
    username = forms.CharField(label="用户名", max_length=150)
    full_name = forms.CharField(label="姓名", max_length=50)


class RoleAssignForm(_AssignmentFields):
    version = forms.IntegerField(widget=forms.HiddenInput)
