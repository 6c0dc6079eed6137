"""The one settings module. Every knob is an environment variable read by a typed helper (fangpin.conf).

All state lives under FANGPIN_HOME (default ./var). DATABASE_URL switches from the embedded SQLite
database to PostgreSQL (production).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE

from fangpin.conf import audit_key, env_bool, env_int, env_str, fangpin_home, field_cipher, secret_key

PACKAGE_DIR = Path(__file__).resolve().parent
FANGPIN_HOME = fangpin_home()

SECRET_KEY = secret_key(FANGPIN_HOME)
# field-level encryption (CRY-02/03): keys in FANGPIN_FIELD_KEYS or FANGPIN_HOME/field_keys.json (web/fields.py)
FIELD_CIPHER = field_cipher()
DEBUG = env_bool("FANGPIN_DEBUG", False)
ALLOWED_HOSTS = [
    h for h in env_str("FANGPIN_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in env_str("FANGPIN_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # its docs pages then use the bundled Swagger assets, not a CDN
    "django_otp",
    "django_otp.plugins.otp_totp",  # the second factor's devices, drift and back-off (ADR 0020)
    "fangpin.web",
    "fangpin.regions",
    "fangpin.accounts",
    "fangpin.audit",
    "fangpin.registry",
    "fangpin.exchange",
    "fangpin.warnings",
    "fangpin.cases",
    "fangpin.assistance",
    "fangpin.notifications",
    "fangpin.analytics",
    "fangpin.privacy",
    "django_tasks",
    "django_tasks_db",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "fangpin.audit.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "fangpin.accounts.middleware.SessionPolicyMiddleware",
    "fangpin.accounts.networks.AdminNetworkMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "fangpin.web.middleware.SecurityHeadersMiddleware",
    "fangpin.web.middleware.RefuseNulMiddleware",  # innermost: its 400 still gets the headers above
]

# Everything is served from this server: no CDN, no third-party script (government intranets, PI-05).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],  # htmx injects its indicator style
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
    }
}

ROOT_URLCONF = "fangpin.urls"
WSGI_APPLICATION = "fangpin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fangpin.web.context.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{FANGPIN_HOME / 'fangpin.sqlite3'}"),
        conn_max_age=env_int("FANGPIN_DB_CONN_MAX_AGE", 0, minimum=0),  # `fangpin serve`: 60 (ADR 0017)
        conn_health_checks=True,  # a kept connection is checked before a request reuses it
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a background import writes; busy timeout instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"

# Passwords (SECURITY.md AUTH-02): 等保 composition rule + ASVS length/common-password checks.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("FANGPIN_PASSWORD_MIN_LENGTH", 12, minimum=8)},
    },
    {"NAME": "fangpin.accounts.passwords.NormalisedCommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "fangpin.accounts.passwords.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "fangpin.accounts.passwords.ContainsUsernameValidator"},
    {
        "NAME": "fangpin.accounts.passwords.PasswordHistoryValidator",
        "OPTIONS": {"count": env_int("FANGPIN_PASSWORD_HISTORY", 5, minimum=0)},
    },
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# Account and session policy (SECURITY.md AUTH-03, SES-01). Project parameters, recorded in docs/security.md.
FANGPIN_LOCKOUT_THRESHOLD = env_int("FANGPIN_LOCKOUT_THRESHOLD", 5, minimum=1)
FANGPIN_LOCKOUT_WINDOW_MINUTES = env_int("FANGPIN_LOCKOUT_WINDOW_MINUTES", 15, minimum=1)
FANGPIN_LOCKOUT_MINUTES = env_int("FANGPIN_LOCKOUT_MINUTES", 30, minimum=1)
FANGPIN_IP_FAILURE_LIMIT = env_int("FANGPIN_IP_FAILURE_LIMIT", 30, minimum=1)
# A browser where a user signed in is a known device for that long (accounts/devices.py)
FANGPIN_DEVICE_COOKIE_DAYS = env_int("FANGPIN_DEVICE_COOKIE_DAYS", 180, minimum=1)
FANGPIN_IDLE_TIMEOUT_MINUTES = env_int("FANGPIN_IDLE_TIMEOUT_MINUTES", 30, minimum=1)
FANGPIN_SESSION_MAX_HOURS = env_int("FANGPIN_SESSION_MAX_HOURS", 12, minimum=1)
FANGPIN_PASSWORD_MAX_AGE_DAYS = env_int("FANGPIN_PASSWORD_MAX_AGE_DAYS", 90, minimum=0)
FANGPIN_REQUIRE_TOTP_FOR_ALL = env_bool("FANGPIN_REQUIRE_TOTP_FOR_ALL", False)
OTP_TOTP_ISSUER = "fangpin 防贫监测"
OTP_TOTP_THROTTLE_FACTOR = 1  # after n wrong codes on a device the next try waits 2^(n-1) s
AUDIT_MIN_RETENTION_DAYS = env_int("FANGPIN_AUDIT_MIN_RETENTION_DAYS", 183)
# The audit chain's HMAC key and its anchor file live outside the database (ADR 0022).
AUDIT_KEY = audit_key(FANGPIN_HOME)
AUDIT_ANCHOR_FILE = Path(env_str("FANGPIN_AUDIT_ANCHORS", str(FANGPIN_HOME / "audit-anchors.log")))

# Personal information (SECURITY.md PI-04/06, AC-07/08; docs/security.md, ADR 0024).
FANGPIN_REVEAL_LIMIT_PER_HOUR = env_int("FANGPIN_REVEAL_LIMIT_PER_HOUR", 30, minimum=1)
FANGPIN_EXPORT_APPROVAL_ROWS = env_int("FANGPIN_EXPORT_APPROVAL_ROWS", 1000, minimum=1)
FANGPIN_EXPORT_APPROVAL_HOURS = env_int("FANGPIN_EXPORT_APPROVAL_HOURS", 24, minimum=1)
# CIDRs the three administrators may work from; empty = anywhere (`manage check --deploy` warns)
FANGPIN_ADMIN_NETWORKS = [n.strip() for n in env_str("FANGPIN_ADMIN_NETWORKS", "").split(",") if n.strip()]
# days each category is kept after it ended (rejected, closed, written), then purged or anonymised
FANGPIN_RETENTION_DAYS = {
    "rejected_declarations": env_int("FANGPIN_RETAIN_REJECTED_DECLARATIONS_DAYS", 365, minimum=1),
    "closed_leads": env_int("FANGPIN_RETAIN_CLOSED_LEADS_DAYS", 1095, minimum=1),
    "quarantine_files": env_int("FANGPIN_RETAIN_QUARANTINE_DAYS", 90, minimum=1),
    "export_files": env_int("FANGPIN_RETAIN_EXPORT_FILES_DAYS", 1, minimum=1),
}

SESSION_COOKIE_AGE = FANGPIN_SESSION_MAX_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
HTTPS = env_bool("FANGPIN_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("FANGPIN_BEHIND_PROXY", False) else None
)
# How many proxies of ours append to X-Forwarded-For; the client address is the entry that many from the
# right (audit/middleware.client_ip). 0 ignores the header: the client writes it.
FANGPIN_TRUSTED_PROXIES = env_int("FANGPIN_TRUSTED_PROXIES", 0, minimum=0)
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [PACKAGE_DIR / "locale"]

STATIC_URL = "/static/"
# Only a deployment that runs collectstatic sets this; the demo serves from the package (finders).
STATIC_ROOT = env_str("FANGPIN_STATIC_ROOT") or None
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Serve straight from the package (no collectstatic step for the demo); every asset is local.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

FANGPIN_DIVISIONS_DIR = env_str("FANGPIN_DIVISIONS_DIR", "")
# The Parquet data lake: a local folder by default, or any path Spark can read at province scale.
FANGPIN_LAKE = env_str("FANGPIN_LAKE", str(FANGPIN_HOME / "lake"))
# monthly retraining of the risk ranking on the county's own history (warnings/retrain.py, ADR 0030)
FANGPIN_RETRAIN = env_bool("FANGPIN_RETRAIN", True)
FANGPIN_INCOMING = FANGPIN_HOME / "incoming"  # uploaded files waiting for their import job
FANGPIN_DELIVERY_DUE_DAY = env_int("FANGPIN_DELIVERY_DUE_DAY", 10, minimum=1)  # day of the following month
FANGPIN_UPLOAD_MAX_MB = env_int("FANGPIN_UPLOAD_MAX_MB", 200, minimum=1)
# an import on another machine that has not reported a stage for this long is taken as interrupted
FANGPIN_IMPORT_STALE_HOURS = env_int("FANGPIN_IMPORT_STALE_HOURS", 6, minimum=1)
# a JSON request (the case API) may carry a 10 MB scan as base64 (4/3 of its size) plus its fields
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Background jobs (imports, large exports): the database backend needs no broker; `fangpin serve` and
# `fangpin demo` start a worker next to the web server. "immediate" runs jobs inline (tests).
_TASK_BACKENDS = {
    "db": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[env_str("FANGPIN_TASKS_BACKEND", "db")]}}

# Notifications (ADR 0015): inbox always; group robots are configured per region in the database; email
# only when an SMTP host is set. FANGPIN_BASE_URL makes the links in robot posts and emails absolute.
FANGPIN_BASE_URL = env_str("FANGPIN_BASE_URL", "")
FANGPIN_NOTIFY_TIMEOUT = env_int("FANGPIN_NOTIFY_TIMEOUT", 5, minimum=1)
EMAIL_HOST = env_str("FANGPIN_EMAIL_HOST", "")
EMAIL_PORT = env_int("FANGPIN_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("FANGPIN_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("FANGPIN_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("FANGPIN_EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("FANGPIN_EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = FANGPIN_NOTIFY_TIMEOUT
DEFAULT_FROM_EMAIL = env_str("FANGPIN_EMAIL_FROM", "fangpin@localhost")
FANGPIN_NOTIFY_EMAIL = bool(EMAIL_HOST)

# One cache shared by every web worker process (gunicorn, ADR 0017) and the job worker: login-failure
# counters per IP and the dashboards' page data. The database's own table (created by a migration) by
# default; Redis when FANGPIN_REDIS_URL is set.
CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "fangpin_cache",
        "OPTIONS": {"MAX_ENTRIES": env_int("FANGPIN_CACHE_MAX_ENTRIES", 20000, minimum=100)},
    }
}
if env_str("FANGPIN_REDIS_URL"):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("FANGPIN_REDIS_URL"),
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"denials_without_traceback": {"()": "fangpin.web.logfilters.DenialsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # a 403 is one line (it is audited as ACCESS_DENIED); on the logger, so every handler gets it so
    "loggers": {"django.request": {"filters": ["denials_without_traceback"]}},
    "root": {"handlers": ["console"], "level": env_str("FANGPIN_LOG_LEVEL", "WARNING")},
}
