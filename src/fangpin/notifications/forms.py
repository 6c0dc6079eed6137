from __future__ import annotations

from django import forms

from fangpin.notifications.models import WebhookKind


class WebhookForm(forms.Form):
    region_id = forms.ChoiceField(label="区划（发给该区划人员的消息推送到此群）")
    kind = forms.ChoiceField(label="类型", choices=WebhookKind.choices)
    name = forms.CharField(label="名称", max_length=100)
    url = forms.URLField(label="Webhook 地址", max_length=500, assume_scheme="https")
    secret = forms.CharField(label="加签密钥（钉钉，可空）", max_length=200, required=False)
