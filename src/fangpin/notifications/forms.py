from __future__ import annotations

import ipaddress
import re

from django import forms

from fangpin.notifications.models import WebhookKind


class WebhookForm(forms.Form):
    region_id = forms.ChoiceField(label="区划（发给该区划人员的消息推送到此群）")
    kind = forms.ChoiceField(label="类型", choices=WebhookKind.choices)
    name = forms.CharField(label="名称", max_length=100)
    url = forms.URLField(label="Webhook 地址", max_length=500, assume_scheme="https")
    secret = forms.CharField(label="加签密钥（钉钉，可空）", max_length=200, required=False)


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


class RobotHostForm(forms.Form):
    host = forms.CharField(label="主机名或IP（不含 http:// 和端口）", max_length=253)
    allow_private = forms.BooleanField(
        label="允许内网地址（仅限本单位内网部署的机器人；本机、内网网段）", required=False
    )
    note = forms.CharField(label="说明", max_length=200, required=False)

    def clean_host(self) -> str:
        host = str(self.cleaned_data["host"]).strip().lower().rstrip(".")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not _HOSTNAME.match(host):
                raise forms.ValidationError("请填写主机名（如 qyapi.weixin.qq.com）或IP地址") from None
        return host
