"""Move each bound authenticator from the user row to a django-otp TOTPDevice (ADR 0020)."""

from base64 import b32decode
from binascii import hexlify

from django.db import migrations


def to_devices(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    for user in User.objects.filter(totp_confirmed=True).exclude(totp_secret=""):
        secret = user.totp_secret.upper() + "=" * (-len(user.totp_secret) % 8)
        TOTPDevice.objects.create(
            user=user,
            name="authenticator",
            confirmed=True,
            key=hexlify(b32decode(secret)).decode(),
            last_t=user.totp_last_step,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.RunPython(to_devices, migrations.RunPython.noop),
        migrations.RemoveField(model_name="user", name="totp_confirmed"),
        migrations.RemoveField(model_name="user", name="totp_last_step"),
        migrations.RemoveField(model_name="user", name="totp_secret"),
    ]
