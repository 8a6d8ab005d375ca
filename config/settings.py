"""One settings module, driven by environment variables.

With nothing set, the hub runs embedded: SQLite, the in-memory channel layer, eager Celery and
sandbox outbound. DATABASE_URL and REDIS_URL switch it to PostgreSQL, Redis and real workers.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from celery.schedules import schedule
from kombu import Queue

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    return [item.strip() for item in value.split(",") if item.strip()] if value.strip() else default


DEBUG = env_bool("DEBUG", default=False)
VAR_DIR = Path(os.environ.get("HUB_VAR_DIR", str(BASE_DIR / "var")))


def _secret_key() -> str:
    """SECRET_KEY from the environment, or one generated once and kept in var/ for the embedded mode."""
    configured = os.environ.get("SECRET_KEY", "")
    if configured:
        return configured
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    from secrets import token_urlsafe

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
# Per-inbox secrets (a Twilio subaccount token, later an IMAP password) are encrypted with this key.
SECRETS_ENCRYPTION_KEY = os.environ.get("SECRETS_ENCRYPTION_KEY", "") or SECRET_KEY

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000)
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/") or f"http://{HOST}:{PORT}"
_public_host = urlsplit(PUBLIC_BASE_URL).hostname or "localhost"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", _public_host])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "contacts",
    "conversations",
    "channels_adapters",
    "lifecycle",
    "reports",
    "events",
    "webhooks",
    "push",
    "sequences",
    "rules",
    "privacy",
    "inbox",
    "anymail",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.actor.ActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "conversations.context_processors.notifications",
                "lifecycle.context_processors.leak_alerts",
            ],
        },
    },
]


def _in_celery() -> bool:
    """A Celery process: prefork children would inherit a pool whose threads did not survive the fork."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return argv0.name == "celery" or (argv0.name == "__main__.py" and argv0.parent.name == "celery")


# --- Database -----------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES: dict[str, Any] = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        # No JIT compilation: the hub's costliest statements (search over millions of entries, the year's
        # funnel) cross PostgreSQL's JIT cost threshold and then spend 30-240 ms compiling, every time, for
        # less than that back (bench/scale.py --search, bench/funnel.py). Added to the options a
        # DATABASE_URL or PGOPTIONS already gives, unless they say something about jit themselves.
        given = str(DATABASES["default"]["OPTIONS"].get("options") or os.environ.get("PGOPTIONS", ""))
        if "jit" not in given:
            DATABASES["default"]["OPTIONS"]["options"] = f"{given} -c jit=off".strip()
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        # A one-shot process (the MTA's ingest_email pipe) gains nothing from a pool, and fails faster without one.
        one_shot = len(sys.argv) > 1 and sys.argv[1] == "ingest_email"
        if env_bool("DB_POOL", default=not _in_celery() and not one_shot):
            # Under ASGI every request runs in a thread of its own: persistent per-thread connections pile
            # up until PostgreSQL refuses clients. A pool per web process bounds them and skips reconnecting;
            # with CONN_HEALTH_CHECKS the pool checks a connection before lending it (PostgreSQL restarted).
            DATABASES["default"]["CONN_MAX_AGE"] = 0
            DATABASES["default"]["OPTIONS"]["pool"] = {
                "min_size": 1,
                "max_size": env_int("DB_POOL_MAX_SIZE", 10),
                "timeout": 10,
            }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                # WAL and immediate transactions let the web thread and the embedded jobs share one file.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
    # SQLite has no INCLUDE columns: the inbox list's indexes are built without them (the embedded hub's
    # few threads do not need them), which Django's check would otherwise repeat on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, broker, cache ---------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not REDIS_URL
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py's default 5 s read timeout equals channels_redis's 5 s BZPOPMIN: an idle socket's
                # receive loop would time out now and then and drop the agent's websocket. Read for longer.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "hub",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery --------------------------------------------------------------------------------------
INBOUND_SWEEP_AFTER_S = env_int("INBOUND_SWEEP_AFTER_S", 60)
# How often beat runs the sweeper: a pending event waits at most INBOUND_SWEEP_AFTER_S + this.
INBOUND_SWEEP_EVERY_S = max(1, min(15, INBOUND_SWEEP_AFTER_S // 2))
INBOUND_MAX_ATTEMPTS = env_int("INBOUND_MAX_ATTEMPTS", 8)
# Under a backlog one worker transaction takes up to this many pending events: one commit, one broadcast.
INBOUND_BATCH = max(1, env_int("INBOUND_BATCH", 20))
OUTBOUND_STUCK_AFTER_S = env_int("OUTBOUND_STUCK_AFTER_S", 300)
OUTBOUND_MAX_ATTEMPTS = env_int("OUTBOUND_MAX_ATTEMPTS", 6)
REALTIME_EVENT_RETENTION_S = env_int("REALTIME_EVENT_RETENTION_S", 7 * 24 * 3600)

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A broker that is down must not hold a webhook for long: one quick retry, then the sweeper's turn.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any countdown we use, so a delayed retry is not redelivered in a loop.
    "visibility_timeout": 3600,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("inbound"), Queue("outbound"), Queue("default"))
CELERY_TASK_ROUTES = {
    "channels_adapters.tasks.process_inbound_event": {"queue": "inbound"},
    "channels_adapters.tasks.deliver_entry": {"queue": "outbound"},
}
# How often snoozed threads whose time has come are woken (a snooze ends at most this late).
SNOOZE_WAKE_EVERY_S = max(1, env_int("SNOOZE_WAKE_EVERY_S", 30))
# An agent away or offline for longer than this hands their open threads back to their team's queue.
ASSIGNMENT_HANDOVER_AFTER_S = env_int("ASSIGNMENT_HANDOVER_AFTER_S", 900)
# Who is viewing or typing in a thread is forgotten this long after their socket last said so.
PRESENCE_TTL_S = env_int("PRESENCE_TTL_S", 60)
PRESENCE_REDIS_CONNECTIONS = env_int(
    "PRESENCE_REDIS_CONNECTIONS", 20
)  # per web process, shared by its sockets
# Caps every periodic job's interval below (seconds; unset or 0: no cap), so a test or a demo sees every
# job run within moments instead of hours.
PERIODIC_JOBS_MAX_EVERY_S = env_int("PERIODIC_JOBS_MAX_EVERY_S", 0)


def _every(seconds: float) -> schedule:
    if PERIODIC_JOBS_MAX_EVERY_S > 0:
        seconds = min(seconds, PERIODIC_JOBS_MAX_EVERY_S)
    return schedule(timedelta(seconds=seconds))


CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-inbound-events": {
        "task": "channels_adapters.tasks.sweep_inbound_events",
        "schedule": _every(INBOUND_SWEEP_EVERY_S),
    },
    "reconcile-outbound-entries": {
        "task": "channels_adapters.tasks.reconcile_outbound_entries",
        "schedule": _every(60),
    },
    "sync-message-templates": {
        "task": "channels_adapters.tasks.sync_message_templates",
        "schedule": _every(env_int("TEMPLATES_SYNC_EVERY_S", 3600)),
    },
    "poll-imap-mailboxes": {
        "task": "channels_adapters.tasks.poll_imap_mailboxes",
        "schedule": _every(env_int("EMAIL_IMAP_POLL_EVERY_S", 60)),
    },
    "prune-webchat-uploads": {
        "task": "channels_adapters.tasks.prune_webchat_uploads",
        "schedule": _every(6 * 3600),
    },
    # What the retention policies no longer keep (privacy/services.py); nothing while none is set.
    "apply-retention": {
        "task": "privacy.tasks.apply_retention",
        "schedule": _every(24 * 3600),
    },
    "prune-realtime-events": {
        "task": "conversations.tasks.prune_realtime_events",
        "schedule": _every(3600),
    },
    # The funnel's leaks: detected (and alerted) every minute; the managers' digest checked hourly, sent daily.
    "detect-leaks": {
        "task": "lifecycle.tasks.detect_leaks",
        "schedule": _every(env_int("LEAKS_DETECT_EVERY_S", 60)),
    },
    "hand-back-departed-owners": {
        "task": "lifecycle.tasks.hand_back_departed_owners",
        "schedule": _every(60),
    },
    # Response targets: warnings before a miss, and the miss itself (lifecycle/targets.py).
    "check-response-targets": {
        "task": "lifecycle.tasks.check_response_targets",
        "schedule": _every(60),
    },
    "send-leak-digest": {
        "task": "lifecycle.tasks.send_leak_digest",
        "schedule": _every(3600),
    },
    "send-due-followups": {
        "task": "reports.tasks.send_due_followups",
        "schedule": _every(env_int("FOLLOWUPS_EVERY_S", 60)),
    },
    "wake-snoozed-conversations": {
        "task": "conversations.tasks.wake_snoozed_conversations",
        "schedule": _every(SNOOZE_WAKE_EVERY_S),
    },
    "hand-back-absent-agents-threads": {
        "task": "conversations.tasks.hand_back_absent_agents_threads",
        "schedule": _every(60),
    },
    # Domain events a process wrote but did not live to dispatch (see events/services.py).
    # Rule runs a lost nudge or a dead worker left pending (rules/services.py).
    "sweep-rule-runs": {
        "task": "rules.tasks.sweep_rule_runs",
        "schedule": _every(env_int("RULES_SWEEP_EVERY_S", 30)),
    },
    # Sequence steps that are due, each claimed with SKIP LOCKED (sequences/services.py).
    "run-due-sequence-steps": {
        "task": "sequences.tasks.run_due_sequence_steps",
        "schedule": _every(env_int("SEQUENCES_EVERY_S", 60)),
    },
    "sweep-domain-events": {
        "task": "events.tasks.sweep_domain_events",
        "schedule": _every(env_int("DOMAIN_EVENTS_SWEEP_EVERY_S", 30)),
    },
    # Outgoing webhooks whose (re)try is due, or whose worker died holding them (webhooks/delivery.py).
    "deliver-webhooks": {
        "task": "webhooks.tasks.deliver_webhooks",
        "schedule": _every(max(1, env_int("WEBHOOK_DELIVER_EVERY_S", 5))),
    },
    "prune-webhook-deliveries": {
        "task": "webhooks.tasks.prune_webhook_deliveries",
        "schedule": _every(6 * 3600),
    },
}
DOMAIN_EVENTS_SWEEP_AFTER_S = env_int("DOMAIN_EVENTS_SWEEP_AFTER_S", 30)
# Automation rules (rules/, docs/rules.md): the loop guard stops a chain of rules reacting to each other's
# changes at this depth, and a rule acting on one thread more often than this per hour.
RULES_MAX_DEPTH = env_int("RULES_MAX_DEPTH", 3)
# The lead score: touchpoints, replies and fast answers count half as much after this many days (lifecycle/scores.py).
LEAD_SCORE_HALF_LIFE_DAYS = max(1, env_int("LEAD_SCORE_HALF_LIFE_DAYS", 30))
RULES_MAX_PER_THREAD_HOUR = env_int("RULES_MAX_PER_THREAD_HOUR", 10)
RULES_SWEEP_AFTER_S = env_int("RULES_SWEEP_AFTER_S", 30)
# Outgoing webhooks (webhooks/, docs/webhooks.md). A receiver gets WEBHOOK_TIMEOUT_S to answer; due
# deliveries are claimed every WEBHOOK_DELIVER_EVERY_S (and right after they are queued), WEBHOOK_BATCH at a
# time, sent to up to WEBHOOK_CONCURRENCY endpoints at once. Receivers on a private network (an on-premises
# system) must be named in WEBHOOK_ALLOWED_HOSTS; every other URL must lead to the public internet.
WEBHOOK_TIMEOUT_S = float(os.environ.get("WEBHOOK_TIMEOUT_S", "") or 5)
WEBHOOK_DELIVER_EVERY_S = max(1, env_int("WEBHOOK_DELIVER_EVERY_S", 5))
WEBHOOK_BATCH = max(1, env_int("WEBHOOK_BATCH", 100))
WEBHOOK_CONCURRENCY = max(1, env_int("WEBHOOK_CONCURRENCY", 4))
WEBHOOK_ALLOWED_HOSTS = [host.lower() for host in env_list("WEBHOOK_ALLOWED_HOSTS", [])]
# Web Push to agents' devices (push/, README "On your phone"). A push service gets PUSH_TIMEOUT_S to answer;
# PUSH_CONTACT (mailto: or https:) is the VAPID `sub` claim push services use to reach the hub's operator.
PUSH_TIMEOUT_S = float(os.environ.get("PUSH_TIMEOUT_S", "") or 10)
PUSH_CONTACT = os.environ.get("PUSH_CONTACT", "")
# After a secret's rotation the old one keeps signing alongside the new one this long.
WEBHOOK_SECRET_OVERLAP_H = env_int("WEBHOOK_SECRET_OVERLAP_H", 24)
# An endpoint with no success since a first failure this long ago is switched off, and the admins told.
WEBHOOK_DISABLE_AFTER_H = env_int("WEBHOOK_DISABLE_AFTER_H", 72)
# Deliveries that are over (succeeded, or given up) are kept this long with their attempts, then forgotten.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30)
# Reports: the satisfaction question after a resolution, the thank-you suggested to a new customer, exports.
SATISFACTION_SURVEY_ENABLED = env_bool("SATISFACTION_SURVEY_ENABLED", default=True)
# The approved WhatsApp templates (by name) the hub sends in place of its own messages when the customer's 24-hour
# window is closed: {{1}} is the customer's first name, {{2}} the name of whoever the message is from.
WHATSAPP_TEMPLATES = {
    "follow_up": os.environ.get("WHATSAPP_TEMPLATE_FOLLOW_UP", "follow_up"),
    "satisfaction": os.environ.get("WHATSAPP_TEMPLATE_SATISFACTION", "satisfaction"),
    "rule": os.environ.get("WHATSAPP_TEMPLATE_RULE", "follow_up"),
    "sequence": os.environ.get("WHATSAPP_TEMPLATE_SEQUENCE", "follow_up"),
}
# A sequence's message due at night in the customer's time zone waits for the morning: quiet from
# SEQUENCES_QUIET_START_H until SEQUENCES_QUIET_END_H (their local hours).
SEQUENCES_QUIET_START_H = env_int("SEQUENCES_QUIET_START_H", 21)
SEQUENCES_QUIET_END_H = env_int("SEQUENCES_QUIET_END_H", 9)
SATISFACTION_QUESTION = os.environ.get("SATISFACTION_QUESTION", "") or (
    "How did we do? Reply with a number from 1 (poor) to 5 (great)."
)
SATISFACTION_ANSWER_WINDOW_H = env_int("SATISFACTION_ANSWER_WINDOW_H", 72)
FOLLOWUP_THANK_YOU_TEMPLATE = os.environ.get("FOLLOWUP_THANK_YOU_TEMPLATE", "") or (
    "Thank you for choosing us, {first_name}! If anything comes up, just reply to this message."
)
# A thread longer than this is exported in the background, with a progress bar.
EXPORT_INLINE_MAX_ENTRIES = env_int("EXPORT_INLINE_MAX_ENTRIES", 500)
# The embedded mode runs the beat schedule in a thread of the ASGI process (see config/embedded_beat.py).
EMBEDDED_BEAT = env_bool("EMBEDDED_BEAT", default=EMBEDDED)

# --- Auth, REST API -------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/inbox/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["conversations.api.permissions.IsAgent"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "conversations.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "conversations.api.errors.exception_handler",
}
# Rate limits (config/throttling.py), as count/period: 10/15m, 30/h. Counted in the cache, so in Redis
# across processes when REDIS_URL is set. Login counts failed attempts; the token endpoint every request.
THROTTLE_RATES = {
    "login_ip": os.environ.get("THROTTLE_LOGIN_IP", "") or "30/15m",
    "login_username": os.environ.get("THROTTLE_LOGIN_USERNAME", "") or "10/15m",
    "token_ip": os.environ.get("THROTTLE_TOKEN_IP", "") or "30/10m",
    "token_username": os.environ.get("THROTTLE_TOKEN_USERNAME", "") or "10/10m",
    # Web chat: messages a visitor may send, and all visitors of one address together (new visitor ids
    # cost nothing to make, so the address is the limit that holds).
    "webchat_visitor": os.environ.get("THROTTLE_WEBCHAT_VISITOR", "") or "20/min",
    "webchat_ip": os.environ.get("THROTTLE_WEBCHAT_IP", "") or "120/10m",
}
# Web chat: the longest visitor message, and the widget's attachments (size and types).
WEBCHAT_MAX_CHARS = env_int("WEBCHAT_MAX_CHARS", 5000)
WEBCHAT_UPLOAD_MAX_BYTES = env_int("WEBCHAT_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
WEBCHAT_UPLOAD_TYPES = env_list(
    "WEBCHAT_UPLOAD_TYPES", ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"]
)
# How many proxies of ours stand in front and append to X-Forwarded-For; 0 trusts only the peer's address.
NUM_PROXIES = env_int("NUM_PROXIES", 0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES

SPECTACULAR_SETTINGS = {
    "TITLE": "Conversation hub API",
    "DESCRIPTION": "Contacts, their lifetime threads, sending messages and the inboxes.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conversations.api.schema.add_error_responses",
    ],
}

# --- Internationalization, static, media ---------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"  # attachments are served by an authenticated view, never directly

# --- Providers -----------------------------------------------------------------------------------
DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "US")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "").rstrip("/") or "https://api.twilio.com"
# The Content API (WhatsApp templates) has its own host, which TWILIO_API_BASE_URL does not reach.
TWILIO_CONTENT_BASE_URL = (
    os.environ.get("TWILIO_CONTENT_BASE_URL", "").rstrip("/") or "https://content.twilio.com"
)
TWILIO_HTTP_TIMEOUT_S = float(os.environ.get("TWILIO_HTTP_TIMEOUT_S", "15"))
MEDIA_MAX_BYTES = env_int("MEDIA_MAX_BYTES", 20 * 1024 * 1024)
# Tests only: host:port pairs of local fakes (the fake Twilio) that config/safe_http may reach on a loopback
# address. Empty by default, so every URL the hub is handed must lead to the public internet.
SAFE_HTTP_ALLOW_LOOPBACK = env_list("SAFE_HTTP_ALLOW_LOOPBACK", [])
# --- Email ---------------------------------------------------------------------------------------
# Outbound: an explicit EMAIL_BACKEND, else anymail's backend for ANYMAIL_ESP (its own variables configure
# it, e.g. MAILGUN_API_KEY), else SMTP when EMAIL_HOST is set, else the sandbox.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "") or f"support@{_public_host}"
ANYMAIL_ESP = os.environ.get("ANYMAIL_ESP", "").strip().lower()
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "") or (
    f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
    if ANYMAIL_ESP
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_SANDBOX = not (os.environ.get("EMAIL_BACKEND") or ANYMAIL_ESP or EMAIL_HOST)
# The domain of the signed reply addresses (reply+<token>@domain); default: the sending inbox's domain.
EMAIL_REPLY_DOMAIN = os.environ.get("EMAIL_REPLY_DOMAIN", "")
EMAIL_MAX_BYTES = env_int("EMAIL_MAX_BYTES", 40 * 1024 * 1024)
EMAIL_ATTACHMENT_MAX_BYTES = env_int("EMAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
EMAIL_IMAP_TIMEOUT_S = env_int("EMAIL_IMAP_TIMEOUT_S", 30)
# Files an agent sends (docs/attachments.md): at most OUTBOUND_FILE_MAX_BYTES in one message; an email's attachments at
# most EMAIL_ATTACHMENTS_MAX_BYTES in all (base64 makes them a third larger; 10 MB fits the strictest ESPs).
OUTBOUND_FILE_MAX_BYTES = env_int("OUTBOUND_FILE_MAX_BYTES", 25 * 1024 * 1024)
EMAIL_ATTACHMENTS_MAX_BYTES = env_int("EMAIL_ATTACHMENTS_MAX_BYTES", 10 * 1024 * 1024)
# How long a signed media URL handed to Twilio (MMS, WhatsApp) or a web chat visitor stays valid. Twilio keeps a
# message in its queue for up to 10 hours (ValidityPeriod's maximum, 36,000 s) before fetching the media and
# sending it; a day covers that with room for its own fetch retries. Each send attempt signs a fresh URL.
OUTBOUND_MEDIA_URL_MAX_AGE_S = env_int("OUTBOUND_MEDIA_URL_MAX_AGE_S", 24 * 3600)
# IMAP over TLS checks the server's certificate against the system's authorities, or only this PEM bundle's.
EMAIL_IMAP_CA_FILE = os.environ.get("EMAIL_IMAP_CA_FILE", "")


def _anymail_settings() -> dict[str, Any]:
    """ANYMAIL_* variables become anymail's settings (ANYMAIL_MAILGUN_API_KEY -> MAILGUN_API_KEY).

    With no ANYMAIL_WEBHOOK_SECRET the inbound and tracking webhooks must still not be open: an unguessable
    secret nobody knows makes them refuse every request until one is configured.
    """
    from secrets import token_urlsafe

    found: dict[str, Any] = {
        key.removeprefix("ANYMAIL_"): value
        for key, value in os.environ.items()
        if key.startswith("ANYMAIL_") and key not in ("ANYMAIL_ESP", "ANYMAIL_WEBHOOK_SECRET") and value
    }
    secret = os.environ.get("ANYMAIL_WEBHOOK_SECRET", "")
    found["WEBHOOK_SECRET"] = [item for item in secret.split(",") if item] or [f"unset:{token_urlsafe(24)}"]
    return found


ANYMAIL = _anymail_settings()

SANDBOX_DIR = Path(os.environ.get("SANDBOX_DIR", str(VAR_DIR / "sandbox")))

# --- Security ------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the agent page's script reads it to post replies
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
SESSION_COOKIE_SECURE = PUBLIC_BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "twilio.http_client": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
    },
}
