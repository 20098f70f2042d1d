"""The one settings module. Every ACCORD_* variable is read here, parsed, and a
bad value stops start-up with a message naming the variable (STYLE.md 8)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import csp.constants as csp
import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from accord.core.calendars import CalendarError, check_country, parse_days, zone
from accord.envvars import env_bool, env_int, env_list, env_networks, env_str

PACKAGE_DIR = Path(__file__).resolve().parent
T = TypeVar("T")


def env_calendar_value(name: str, default: str, parse: Callable[[str], T]) -> T:
    """A calendar setting, parsed by `accord.core.calendars` (one message per variable)."""
    raw = env_str(name, default).strip()
    try:
        return parse(raw)
    except CalendarError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def read_secret_key(data_dir: Path) -> str:
    """The key `accord init` wrote; empty until the node is initialised, so that
    `accord init` itself can run. Django refuses to sign anything with an empty key."""
    if "ACCORD_SECRET_KEY" in os.environ:
        return os.environ["ACCORD_SECRET_KEY"]
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def database_config(url: str) -> dj_database_url.DBConfig:
    try:
        config = dj_database_url.parse(
            url,
            conn_max_age=env_int("ACCORD_DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    except Exception as exc:  # dj-database-url raises several kinds for a bad URL
        raise ImproperlyConfigured(f"ACCORD_DATABASE_URL is not a database URL: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of
        # failing on a stale snapshot; this keeps the audit chain linear.
        # Connections are kept (ACCORD_DB_CONN_MAX_AGE) as on PostgreSQL: a
        # fresh one pays the PRAGMAs, and when it was the last one open its
        # close checkpoints the WAL and the next first commit recreates it,
        # with a sync each time (~20 ms a request on this disk). Between
        # requests a kept connection holds no transaction, so no lock.
        config["CONN_HEALTH_CHECKS"] = False
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif engine != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "ACCORD_DATABASE_URL must name SQLite (sqlite:///path) or PostgreSQL (postgres://…)"
        )
    return config


DATA_DIR = Path(env_str("ACCORD_DATA_DIR", "var/node")).resolve()
DEBUG = env_bool("ACCORD_DEBUG", False)
SECRET_KEY = read_secret_key(DATA_DIR)
ALLOWED_HOSTS = env_list("ACCORD_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
DATABASES = {
    "default": database_config(
        env_str("ACCORD_DATABASE_URL", f"sqlite:///{DATA_DIR / 'accord.sqlite3'}")
    )
}
# Seconds a login session lasts without activity.
SESSION_COOKIE_AGE = env_int("ACCORD_SESSION_SECONDS", 8 * 3600, minimum=60)
HTTPS = env_bool("ACCORD_HTTPS", False)
# Failures of requests that proved no identity (core.tally): counted per
# channel, reason, address and window of this many seconds; an address with more
# than ANONYMOUS_LIMIT of them in the current window is answered 429 until the
# next. At most ANONYMOUS_MAX_ROWS counters are kept (further addresses share
# one), each for ANONYMOUS_RETENTION_DAYS.
ANONYMOUS_WINDOW_SECONDS = env_int("ACCORD_ANONYMOUS_WINDOW", 600, minimum=10)
ANONYMOUS_LIMIT = env_int("ACCORD_ANONYMOUS_LIMIT", 100, minimum=1)
ANONYMOUS_MAX_ROWS = env_int("ACCORD_ANONYMOUS_MAX_ROWS", 10_000, minimum=10)
ANONYMOUS_RETENTION_DAYS = env_int("ACCORD_ANONYMOUS_RETENTION_DAYS", 30, minimum=1)
# How often this node sends each peer a signed checkpoint of its audit head
# (federation.anchoring), in minutes.
AUDIT_CHECKPOINT_MINUTES = env_int("ACCORD_AUDIT_CHECKPOINT_MINUTES", 60, minimum=1)
# Federation channel (docs/protocol.md).
FEDERATION_REPLAY_WINDOW_SECONDS = env_int("ACCORD_FEDERATION_REPLAY_WINDOW", 600, minimum=10)
FEDERATION_BATCH_SIZE = env_int("ACCORD_FEDERATION_BATCH_SIZE", 200, minimum=1)
FEDERATION_MAX_BATCH = env_int("ACCORD_FEDERATION_MAX_BATCH", 1000, minimum=1)
FEDERATION_MAX_BODY_BYTES = env_int("ACCORD_FEDERATION_MAX_BODY_BYTES", 1_048_576, minimum=1024)
FEDERATION_MAX_REQUEST_BYTES = env_int(
    "ACCORD_FEDERATION_MAX_REQUEST_BYTES", 16 * 1_048_576, minimum=4096
)
FEDERATION_BACKOFF_MAX_SECONDS = env_int("ACCORD_FEDERATION_BACKOFF_MAX", 300, minimum=1)
FEDERATION_HTTP_TIMEOUT_SECONDS = env_int("ACCORD_FEDERATION_HTTP_TIMEOUT", 30, minimum=1)
# How long a deliverer's claim on a channel lasts unless renewed (each batch).
# Longer than the HTTP timeout, so a slow answer never lets a second deliverer in.
FEDERATION_LEASE_SECONDS = env_int(
    "ACCORD_FEDERATION_LEASE", FEDERATION_HTTP_TIMEOUT_SECONDS + 15, minimum=5
)
# The inbox reads its request as a stream and enforces its own limit with a JSON
# answer; forms elsewhere keep Django's default limit.
# The largest TAXII request body (an envelope of objects), in bytes.
TAXII_MAX_CONTENT_LENGTH = env_int("ACCORD_TAXII_MAX_CONTENT", 10 * 1_048_576, minimum=65_536)
# How often `accord serve`'s clock runs timed work (holds lapsing, reminders).
CLOCK_SECONDS = env_int("ACCORD_CLOCK_SECONDS", 60, minimum=1)
# How often each peer is sent the digest of the replicas it shares (federation.replicas).
RECONCILE_MINUTES = env_int("ACCORD_RECONCILE_MINUTES", 60, minimum=1)
# Chromium prints the request form to PDF (Debian's package; `make` installs it).
# Evidence (accord.evidence): the largest item a user may add, checked before
# the bytes are read when the size is declared, else while they stream in.
EVIDENCE_MAX_ITEM_BYTES = env_int("ACCORD_EVIDENCE_MAX_ITEM_MB", 4096, minimum=1) * 1_048_576
# How long evidence is kept after its case is closed (or its request ended,
# for a request filed under no case), in days; the clock purges it then.
EVIDENCE_RETENTION_DAYS = env_int("ACCORD_EVIDENCE_RETENTION_DAYS", 3650, minimum=1)
# Evidence transfer (evidence.transfer): how many chunks of one item may wait in
# the outbox at once, and after how many days without progress a transfer is
# abandoned and its partial file removed by the clock; also the grace period
# after which stored evidence bytes nothing refers to are removed (orphans.py).
EVIDENCE_TRANSFER_WINDOW = env_int("ACCORD_EVIDENCE_TRANSFER_WINDOW", 16, minimum=1)
EVIDENCE_ORPHAN_DAYS = env_int("ACCORD_EVIDENCE_ORPHAN_DAYS", 7, minimum=1)
# Resumable downloads: a range that does not start at byte 0, asked within this
# many hours of the same user's last recorded download of the item, continues
# that download (audited, no second custody record; docs/evidence.md).
EVIDENCE_RESUME_HOURS = env_int("ACCORD_EVIDENCE_RESUME_HOURS", 24, minimum=1)
# Resumable uploads (evidence.resumable): the largest part one request may
# carry, and how long a session may wait for its next part before the clock
# removes it and its staging file.
EVIDENCE_UPLOAD_PART_BYTES = env_int("ACCORD_EVIDENCE_UPLOAD_PART_MB", 16, minimum=1) * 1_048_576
EVIDENCE_UPLOAD_HOURS = env_int("ACCORD_EVIDENCE_UPLOAD_HOURS", 24, minimum=1)

# Hit/no-hit: the largest blinded set (values of one type) built inside the
# transaction that receives a query; a larger one is built by the task worker
# outside any transaction (about 25 s per 1,000,000 values on one core).
MATCHING_INLINE_SET = env_int("ACCORD_MATCHING_INLINE_SET", 20_000)
# Hit/no-hit: the asker pads each query with random points to a bucket
# (16, 24, 32, 48, …), so the answerer learns the bucket, not the number of
# values asked (docs/matching.md 1.7); off, it sends exactly the values.
MATCHING_PAD_QUERIES = env_bool("ACCORD_MATCHING_PAD_QUERIES", True)
# The bulk path (evidence.bulk): items of at least this size go as raw sealed
# parts over a signed HTTP request each instead of JSON chunks in envelopes;
# a part holds about EVIDENCE_PART_MB of ciphertext, and the sender keeps
# EVIDENCE_PARTS_IN_FLIGHT of them on the wire at once.
EVIDENCE_BULK_MIN_BYTES = env_int("ACCORD_EVIDENCE_BULK_MIN_MB", 1, minimum=0) * 1_048_576
EVIDENCE_PART_BYTES = env_int("ACCORD_EVIDENCE_PART_MB", 64, minimum=1) * 1_048_576
EVIDENCE_PARTS_IN_FLIGHT = env_int("ACCORD_EVIDENCE_PARTS_IN_FLIGHT", 2, minimum=1)
if EVIDENCE_PART_BYTES > 64 * 1_048_576 or EVIDENCE_PARTS_IN_FLIGHT > 32:
    raise ImproperlyConfigured(
        "ACCORD_EVIDENCE_PART_MB must be at most 64 and ACCORD_EVIDENCE_PARTS_IN_FLIGHT at most 32"
    )

CHROMIUM = env_str("ACCORD_CHROMIUM", "/usr/bin/chromium")
# Deadline reminders go by e-mail too when an SMTP server is configured.
EMAIL_HOST = env_str("ACCORD_EMAIL_HOST", "")
EMAIL_PORT = env_int("ACCORD_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("ACCORD_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("ACCORD_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("ACCORD_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("ACCORD_EMAIL_FROM", "accord@localhost")
EMAIL_REMINDERS = bool(EMAIL_HOST)

# The node's working calendar (DOMAIN.md, "Calendars"; docs/assistance.md 6.6):
# its IANA time zone, the country whose public holidays it keeps (ISO 3166 code;
# empty: weekends only) and extra closed days. Published in the identity document.
NODE_TIME_ZONE = env_calendar_value("ACCORD_TIME_ZONE", "UTC", lambda raw: zone(raw).key)
HOLIDAY_COUNTRY = env_calendar_value(
    "ACCORD_HOLIDAY_COUNTRY", "", lambda raw: check_country(raw.upper())
)
CLOSED_DAYS = env_calendar_value(
    "ACCORD_CLOSED_DAYS",
    "",
    lambda raw: sorted(parse_days([d for d in raw.split(",") if d.strip()])),
)

# Hours after an emergency's informal first contact (phone, e-mail, the 24/7
# network) within which the written request must confirm it, around the clock
# (docs/assistance.md 6.7). DOMAIN.md gives no figure and Budapest Art. 25(3)
# leaves it to the requested party; the default is the ten days of the US
# mutual legal assistance treaties ("confirmed in writing within ten days
# thereafter unless the Central Authority of the Requested Party agrees
# otherwise"). Set it to what the partner requires.
EMERGENCY_CONFIRMATION_HOURS = env_int("ACCORD_EMERGENCY_CONFIRMATION_HOURS", 240, minimum=1)
if EMERGENCY_CONFIRMATION_HOURS > 24 * 365:
    # A confirmation a year away confirms nothing (and far enough would overflow dates).
    raise ImproperlyConfigured(
        "ACCORD_EMERGENCY_CONFIRMATION_HOURS must be at most 8760 (a year), "
        f"not {EMERGENCY_CONFIRMATION_HOURS}"
    )

LOG_LEVEL = env_str("ACCORD_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
    raise ImproperlyConfigured("ACCORD_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
# Logs go to standard error as lines of text (for a person at a terminal) or
# as JSON lines (for a log collector): one event per request and per delivery
# batch, with ids, never bodies or names (accord.ops.logs; docs/operations.md).
LOG_FORMAT = env_str("ACCORD_LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"ACCORD_LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
# The bearer token Prometheus presents at /metrics (accord.ops.views); empty:
# only a signed-in node administrator or auditor may read the metrics.
METRICS_TOKEN = env_str("ACCORD_METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "ACCORD_METRICS_TOKEN must be at least 32 characters (a random value, "
        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "django_tables2",
    "django_filters",
    "accord.core",
    "accord.federation",
    "accord.assistance",
    "accord.dialogue",
    "accord.intel",
    "accord.cases",
    "accord.matching",
    "accord.evidence",
    "accord.web",
    "accord.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "accord.core.middleware.ApiJsonErrorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accord.core.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Second factor (issue 14; accord.core.twofactor): django-otp's authenticator
# (TOTP) and recovery-code devices. OTPMiddleware tells whether this session's
# sign-in was verified; SecondFactorMiddleware holds back every page and the
# session API from a user who must verify (or enrol) until they have.
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("accord.core.middleware.UserLanguageMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "accord.core.middleware.SecondFactorMiddleware",
)
# Passkeys (WebAuthn) as the alternative second factor (accord.core.passkeys,
# django-otp-webauthn). A passkey belongs to one relying-party id, a domain:
# ACCORD_WEBAUTHN_RP_ID (default: the host name of the first origin below, else
# the host name the page was asked for, one of ACCORD_ALLOWED_HOSTS; an IP
# address cannot be one, so on loopback open the node at http://localhost:PORT).
# ACCORD_WEBAUTHN_ORIGINS lists the origins users open the node at
# (https://accord.example.org, comma separated; default: the page's own origin).
# Changing the id makes every passkey unusable: users then enrol new ones.
WEBAUTHN_RP_ID = env_str("ACCORD_WEBAUTHN_RP_ID", "").strip()
WEBAUTHN_ORIGINS = env_list("ACCORD_WEBAUTHN_ORIGINS", "")
INSTALLED_APPS += ["django_otp_webauthn"]
OTP_WEBAUTHN_HELPER_CLASS = "accord.core.passkeys.Helper"
OTP_WEBAUTHN_RP_ID_CALLABLE = "accord.core.passkeys.relying_party_id"
OTP_WEBAUTHN_RP_NAME = "Accord"  # the helper names this node
OTP_WEBAUTHN_ALLOWED_ORIGINS = WEBAUTHN_ORIGINS
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False  # a second factor, never instead of the password
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = ""  # refusals are audited (accord.core.passkeys)

ROOT_URLCONF = "accord.urls"
WSGI_APPLICATION = "accord.wsgi.application"
AUTH_USER_MODEL = "core.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accord.web.context.shell",
            ],
        },
    }
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "accord_language"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = None
# Static files are few and ship inside the package: serve them straight from
# the app folders, so a node needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = []
if not HTTPS:
    # Replaced by one clearer warning of our own (accord.W020) in `accord check`.
    SILENCED_SYSTEM_CHECKS += ["security.W004", "security.W008", "security.W012", "security.W016"]
if not WEBAUTHN_ORIGINS:
    # No origins configured: the passkey helper takes the page's own (see above).
    SILENCED_SYSTEM_CHECKS += ["otp_webauthn.E030"]
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000

# --- Hardening (issue 14): sign-in throttling, password strength, CSP ---------
# Sign-in throttling (accord.core.auth): django-axes counts failures per pair
# (user name, address), so a stranger's guesses slow down only the stranger.
# After ACCORD_LOGIN_MAX_FAILURES failures the pair waits ACCORD_LOGIN_LOCK_MINUTES;
# refusals during the wait are not counted, so it ends on time and rows stay bounded.
# Behind a load balancer or reverse proxy every client arrives from the proxy's
# address, so throttling and the failure tally would count them all as one.
# ACCORD_TRUSTED_PROXIES lists the proxies' addresses or networks (comma
# separated): from those, and only those, the client's address is read from
# X-Forwarded-For (the nearest hop that is not itself a trusted proxy). Empty
# (the default): the header is ignored, since any client could write it.
TRUSTED_PROXIES = env_networks("ACCORD_TRUSTED_PROXIES")
LOGIN_MAX_FAILURES = env_int("ACCORD_LOGIN_MAX_FAILURES", 10, minimum=1)
LOGIN_LOCK_MINUTES = env_int("ACCORD_LOGIN_LOCK_MINUTES", 15, minimum=1)
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = LOGIN_MAX_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCK_MINUTES)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accord.core.auth.throttled_response"
AXES_CLIENT_IP_CALLABLE = "accord.core.signals.client_ip"
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit log already
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False  # no start-up banner on every `accord` command
# Password strength (accord.core.services checks every new password): zxcvbn's
# estimate must reach 4 of 4 ("admin-admin" scores 3). Its messages in both
# languages come from the validator's own catalogue, found without importing
# it (zxcvbn's word lists load only when a password is checked).
_ZXCVBN_SPEC = importlib.util.find_spec("django_zxcvbn_password_validator")
if _ZXCVBN_SPEC is None or _ZXCVBN_SPEC.origin is None:
    raise ImproperlyConfigured("django-zxcvbn-password-validator is not installed")
LOCALE_PATHS += [Path(_ZXCVBN_SPEC.origin).parent / "locale"]
AUTH_PASSWORD_VALIDATORS += [
    {"NAME": "django_zxcvbn_password_validator.ZxcvbnPasswordValidator"},
]
PASSWORD_MINIMAL_STRENGTH = 4
# Content-Security-Policy (django-csp): scripts and styles from this node's own
# static files only; the two pages printed to PDF carry their <style> with the
# request's nonce; no style attributes (bars take classes of web/percent.css).
INSTALLED_APPS += ["csp"]
MIDDLEWARE.insert(1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(2, "accord.core.middleware.PermissionsPolicyMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.NONE],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF, csp.NONCE],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "form-action": [csp.SELF],
        "base-uri": [csp.NONE],
        "object-src": [csp.NONE],
        "frame-ancestors": [csp.NONE],
    }
}

# Evidence bytes go through Django's storage API under the key "evidence", so a
# deployment can point it at an object store; the local folder is the default.
# They are encrypted before they reach any storage (accord.evidence.blobs).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(DATA_DIR / "evidence"),
            "directory_permissions_mode": 0o700,
            "file_permissions_mode": 0o600,
        },
    },
}
# Uploads above 2.5 MB go to a temporary file (Django's default handlers),
# never into memory. A body declared larger than the biggest evidence item is
# not read at all (accord.evidence.uploads): the view refuses it with 413.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# A body that is not multipart (JSON) is read into memory: one declared larger
# is refused unread (the API answers 413 and says where large files go).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
CSRF_FAILURE_VIEW = "accord.evidence.uploads.csrf_failure"
FILE_UPLOAD_HANDLERS = [
    "accord.evidence.uploads.RefuseOversized",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# Outermost: it times the whole answer and logs it once (accord.ops.logs).
MIDDLEWARE.insert(0, "accord.ops.logs.RequestLogMiddleware")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "accord.ops.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Each request is logged once, by accord.ops.logs (django.server and
        # django.request would repeat the failures among them).
        "django.request": {"level": "ERROR"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
