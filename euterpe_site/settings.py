"""Euterpe's one settings module.

Everything that differs between a laptop and Heroku comes from the environment
(see the README's table). Defaults make `make run` work; with DEBUG off a missing
secret, or a malformed value anywhere, raises ImproperlyConfigured, which the
entry points (manage.py, wsgi.py) print as one line before exiting non-zero.
"""

import logging
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from psycopg_pool import ConnectionPool

from euterpe_site.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_url,
    require_https,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY environment variable must be set")
    # Only ever used with DEBUG on, on a laptop.
    SECRET_KEY = "django-insecure-euterpe-local-development-only"  # noqa: S105
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    # Django would answer every request with a 400; say why at start-up instead.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS environment variable must be set (comma list of host names)"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "social_django",
    # The project package is an app too: it owns the operator commands
    # (dbcheck, purge_expired) and the schema guard.
    "euterpe_site",
    "accounts",
    "spotify_stats",
    "django_tasks_db",
    "listening_history",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Compresses the pages (the dashboard's 150 KB of HTML goes out as about 15 KB;
    # Heroku's router compresses nothing). After WhiteNoise, which answers static
    # files itself with their own precompressed copies; before everything that
    # writes the body. BREACH: Django's GZipMiddleware pads each response with
    # 1-100 random bytes, and that is enough here because no compressed page puts
    # a secret next to input an attacker chooses. The one secret in a body is the
    # CSRF token, which Django masks anew in every response, so it never repeats
    # for a guess to match; the listener's pages reflect nothing of the request
    # but values parsed to a known set (time_range, the history's dates and zone;
    # a bad one gets a 400 with no secret on it); the one free text reflected
    # (login's ?next=, an on-site path) is on the login page, which holds nothing
    # of a listener's.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, so that forged or expired POSTs count against the limit too.
    "euterpe_site.ratelimit.RateLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, taking the user from the session's own query (one query, not two).
    "accounts.middleware.ListenerAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # no-store on logged-in pages; ReauthenticationRequired -> /login (accounts).
    "accounts.middleware.PrivatePagesMiddleware",
    # A 413 for an oversized history upload, by Content-Length, before CSRF's
    # check (in process_view, after every middleware's __call__) reads the body.
    "listening_history.middleware.UploadLimitMiddleware",
]

ROOT_URLCONF = "euterpe_site.urls"
WSGI_APPLICATION = "euterpe_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            # Euterpe's own templates lose their layout whitespace when read
            # (euterpe_site/template_loader.py); the admin's are read as they are.
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    [
                        "euterpe_site.template_loader.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "euterpe_site.context_processors.site",
            ],
        },
    },
]

# Database ------------------------------------------------------------------
# Euterpe shares its PostgreSQL database with another app that owns `public`.
# Every connection pins search_path to DATABASE_SCHEMA through a startup option
# (never a session-level SET, which a transaction pooler would leak), and
# names itself so the operator can tell the apps apart in pg_stat_activity.
DATABASE_SCHEMA = os.environ.get("DATABASE_SCHEMA", "euterpe").strip()
# Lower case only: the startup option folds an unquoted name to lower case, so
# "Euterpe" would create one schema and search another. Never the neighbour's
# public nor a system schema (information_schema, pg_catalog, pg_toast, pg_temp...).
if (
    not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", DATABASE_SCHEMA)
    or DATABASE_SCHEMA in {"public", "information_schema"}
    or DATABASE_SCHEMA.startswith("pg_")
):
    raise ImproperlyConfigured(
        "DATABASE_SCHEMA must be a lower-case name (letters, digits, _) other than public "
        f"and information_schema and not starting with pg_, got {DATABASE_SCHEMA!r}"
    )

LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if not DATABASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured("DATABASE_URL environment variable must be set")
    DATABASE_URL = LOCAL_DATABASE_URL
# Unquoted: a unix socket directory comes percent-encoded (%2Fvar%2Frun...).
_database_host = unquote(urlsplit(DATABASE_URL).hostname or "")
try:
    _database = dj_database_url.parse(
        DATABASE_URL,
        # Heroku Postgres requires TLS; a local server usually has none.
        ssl_require=_database_host not in {"", "localhost", "127.0.0.1", "::1"}
        and not _database_host.startswith("/"),
    )
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {error}") from None

# Connection budget. Heroku Essential-0 allows 20 connections for the whole
# database, shared with the neighbour app; Euterpe keeps to DATABASE_CONNECTION_BUDGET.
# Each gunicorn worker holds a psycopg pool of at most DATABASE_POOL_MAX_SIZE
# connections (one per thread is all a worker can use at once); release phase,
# one-off and scheduler dynos take one connection each.
WEB_DYNOS = env_int("WEB_DYNOS", 1, minimum=1)
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 2, minimum=1)
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", WEB_THREADS, minimum=1)
DATABASE_CONNECTION_BUDGET = env_int("DATABASE_CONNECTION_BUDGET", 15, minimum=1)
DATABASE_RESERVED_CONNECTIONS = 3  # release phase + one-off dyno + scheduler dyno
# The worker dyno (Procfile `worker:`, db_worker) runs one task at a time: its
# connection plus the import's heartbeat thread's. (A sync round's threads only wait
# on Spotify; the round's own thread does its database work.)
WORKER_DYNOS = env_int("WORKER_DYNOS", 1)
WORKER_CONNECTIONS = 2
DATABASE_PEAK_CONNECTIONS = (
    WEB_DYNOS * WEB_CONCURRENCY * DATABASE_POOL_MAX_SIZE
    + WORKER_DYNOS * WORKER_CONNECTIONS
    + DATABASE_RESERVED_CONNECTIONS
)

_database.update(
    {
        # Thin subclass of Django's backend: creates the schema before migrate.
        "ENGINE": "euterpe_site.postgresql",
        "CONN_MAX_AGE": 0,  # the pool, not persistent connections, reuses them
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {
            **_database.get("OPTIONS", {}),
            "options": f"-c search_path={DATABASE_SCHEMA}",
            "application_name": "euterpe",
            "pool": {
                "min_size": 0,
                "max_size": DATABASE_POOL_MAX_SIZE,
                # Fail fast instead of psycopg's 30 s default when the pool is dry.
                "timeout": 5,
                "max_idle": 300,
                # Survive a database restart: test a connection before handing it out.
                "check": ConnectionPool.check_connection,
            },
        },
    }
)
if os.environ.get("TEST_DATABASE_URL"):
    _database["TEST"] = {"NAME": dj_database_url.parse(os.environ["TEST_DATABASE_URL"])["NAME"]}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache -------------------------------------------------------------------
# Spotify data and rate-limit counters. The default needs no extra server and
# works across workers and dynos: a table in the euterpe schema, created by a
# migration. REDIS_URL switches to Django's Redis cache. Both store values as
# JSON signed with a key derived from SECRET_KEY: whoever else can write the
# table or the Redis cannot make Euterpe unpickle, nor forge a section.
# The database cache's table: the migration creates it (with REDIS_URL set too:
# dbcheck expects it), dbcheck and the benchmark read its name from here.
CACHE_TABLE = "euterpe_cache"
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache storing signed JSON, never pickles.
            "BACKEND": "euterpe_site.cache_backend.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "euterpe",
            # Heroku Redis speaks rediss:// with a self-signed certificate.
            "OPTIONS": {"ssl_cert_reqs": "none"} if REDIS_URL.startswith("rediss://") else {},
        }
    }
else:
    CACHES = {
        "default": {
            # Django's database cache storing signed JSON (never pickles), with
            # set_many as one upsert.
            "BACKEND": "euterpe_site.cache_backend.DatabaseCache",
            "LOCATION": CACHE_TABLE,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# Sessions live in the database so any worker or dyno serves them, and last
# 30 days across browser restarts. accounts.sessions is Django's database engine
# with the user id in an indexed column of its own (accounts.ListenerSession):
# "Log out everywhere" and deleting a user end every session of theirs.
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_AGE = 30 * 24 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` puts files for WhiteNoise (Heroku's build runs it).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", "").strip() or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names need `collectstatic` (Heroku's build runs it).
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"

# Spotify -----------------------------------------------------------------
SPOTIFY_CLIENT_ID = os.environ.get("SPOTIFY_CLIENT_ID", "")
SPOTIFY_CLIENT_SECRET = os.environ.get("SPOTIFY_CLIENT_SECRET", "")
# Sent to Spotify verbatim (it must match the app's dashboard byte for byte).
SPOTIFY_REDIRECT_URI = require_https(
    "SPOTIFY_REDIRECT_URI",
    os.environ.get("SPOTIFY_REDIRECT_URI", "http://127.0.0.1:8000/callback"),
    debug=DEBUG,
)
SPOTIFY_SCOPE = os.environ.get(
    "SPOTIFY_SCOPE",
    "user-read-recently-played user-top-read user-read-private user-read-email "
    "playlist-read-private playlist-read-collaborative",
)


# Tokens and the client secret travel to these: https, except on this machine.
SPOTIFY_AUTH_BASE_URL = require_https(
    "SPOTIFY_AUTH_BASE_URL",
    env_url("SPOTIFY_AUTH_BASE_URL", "https://accounts.spotify.com"),
    debug=DEBUG,
)
SPOTIFY_API_BASE_URL = require_https(
    "SPOTIFY_API_BASE_URL",
    env_url("SPOTIFY_API_BASE_URL", "https://api.spotify.com/v1"),
    debug=DEBUG,
)
SPOTIFY_CACHE_SECONDS = env_int("SPOTIFY_CACHE_SECONDS", 300)
# The dashboard answers within this even when Spotify hangs (sections still
# waiting are shown as unavailable); well under gunicorn's and Heroku's 30 s.
SPOTIFY_PAGE_DEADLINE_SECONDS = 12
# After a page waited its whole deadline for Spotify in vain, cold pages wait at
# most this long for the next SPOTIFY_STALL_SECONDS: an outage must not hold every
# gunicorn thread for 12 s a view (spotify_stats.backoff.note_stall).
SPOTIFY_STALLED_DEADLINE_SECONDS = 3
SPOTIFY_STALL_SECONDS = 30
# At most this many threads of a gunicorn worker wait on Spotify at once (a cold
# page, a login's token exchange and profile, a token refresh); the others stay
# free for /health, warm pages and static files while Spotify hangs. A thread that
# finds every slot taken answers at once ("Spotify is slow", or a busy page).
# Half the threads by default: the free ones serve most of the traffic (warm pages,
# /health, busy answers) and overlap their database round trips. With
# WEB_THREADS=1 one request may still wait, and none is free meanwhile:
# euterpe.W001 says so.
SPOTIFY_WAITING_THREADS = env_int("SPOTIFY_WAITING_THREADS", max(1, WEB_THREADS // 2), minimum=1)
if SPOTIFY_WAITING_THREADS >= WEB_THREADS > 1:
    raise ImproperlyConfigured(
        f"SPOTIFY_WAITING_THREADS must be less than WEB_THREADS ({WEB_THREADS}), so that "
        f"a thread of each worker is always free, got {SPOTIFY_WAITING_THREADS}"
    )
# Spotify's rate limit is per app: after a 429, no page calls Spotify until its
# Retry-After is over (this long when it sends none; never longer than the maximum).
SPOTIFY_BACKOFF_DEFAULT_SECONDS = 5
SPOTIFY_BACKOFF_MAX_SECONDS = 3600
# Labels the page "demo data" when Euterpe talks to the fake Spotify.
SPOTIFY_DEMO = env_bool("SPOTIFY_DEMO", False)

# Encrypted tokens ----------------------------------------------------------
ENCRYPTION_KEY = os.environ.get("ENCRYPTION_KEY", "").strip()
if not ENCRYPTION_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("ENCRYPTION_KEY environment variable not set")
    # A fixed, public key: good enough for a laptop's demo data, never production.
    ENCRYPTION_KEY = "ZXV0ZXJwZS1sb2NhbC1kZXYta2V5LW5vdC1zZWNyZXQ="


def _fernet_keys(value):
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in value.split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"ENCRYPTION_KEY key #{position} is not a valid Fernet key "
                "(expected 32 url-safe base64-encoded bytes, from Fernet.generate_key())"
            ) from None
    if not keys:
        raise ImproperlyConfigured("ENCRYPTION_KEY environment variable not set")
    return keys


# First key encrypts, every key decrypts: ENCRYPTION_KEY=new,old rotates.
FERNET_KEYS = _fernet_keys(ENCRYPTION_KEY)
# Use the operator's Fernet.generate_key() value as it is.
FERNET_USE_HKDF = False

# Listening history -----------------------------------------------------------
# Imports of Spotify's data exports run on the worker (`manage.py db_worker`,
# django-tasks-db: its table lives in DATABASE_SCHEMA like every other).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
HISTORY_IMPORT_ENABLED = env_bool("HISTORY_IMPORT_ENABLED", True)
# Refused by Content-Length before the body is read (a 413 page).
HISTORY_MAX_UPLOAD_MB = env_int("HISTORY_MAX_UPLOAD_MB", 50, minimum=1)
# What the ZIPs of one upload may inflate to, counted while inflating.
HISTORY_MAX_UNCOMPRESSED_MB = env_int("HISTORY_MAX_UNCOMPRESSED_MB", 2048, minimum=1)
# What all listeners' history may take in the shared database (Essential-0: 1 GB
# for both apps); dbcheck warns at 80 %.
HISTORY_STORAGE_BUDGET_MB = env_int("HISTORY_STORAGE_BUDGET_MB", 400, minimum=1)
# The sync of recently played (listening_history.sync): off unless the operator turns
# it on, since what it stores is Spotify content, which the Developer Terms say not to
# keep indefinitely: `purge_expired` deletes synced entries older than the retention.
# Imported entries (the listener's own export) are never purged.
HISTORY_SYNC_ENABLED = env_bool("HISTORY_SYNC_ENABLED", False)
HISTORY_SYNC_RETENTION_DAYS = env_int("HISTORY_SYNC_RETENTION_DAYS", 365, minimum=1)
# A round (`manage.py sync_history`, every 10 minutes from Heroku Scheduler) syncs the
# opted-in listeners whose last sync started longer ago than this. Spotify keeps only
# the last 50 plays, so more than a couple of hours loses plays of a busy listener.
HISTORY_SYNC_INTERVAL_MINUTES = env_int("HISTORY_SYNC_INTERVAL_MINUTES", 30, minimum=1)

# Operator endpoints --------------------------------------------------------
OPS_TOKEN = os.environ.get("OPS_TOKEN", "")
if OPS_TOKEN and len(OPS_TOKEN) < 32:
    # /db_check's bearer token: long enough that guessing it is hopeless.
    raise ImproperlyConfigured(
        f"OPS_TOKEN must be at least 32 characters (it has {len(OPS_TOKEN)}); make one with "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )

# Rate limits -----------------------------------------------------------------
# Per client (euterpe_site.ratelimit.client_ip) on the default cache, counted
# atomically on both the database cache (one upsert) and Redis (INCR).
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLED", True)
RATELIMIT_RATES = {
    # POST /login/spotify/: starting a login. Generous for a shared NAT.
    "login": env_rate("RATELIMIT_LOGIN", "20/m"),
    # /callback (and /complete/spotify/): each one costs a token exchange.
    "callback": env_rate("RATELIMIT_CALLBACK", "20/m"),
    # /db_check runs several queries; monitors poll it at most every few seconds.
    "db_check": env_rate("RATELIMIT_DB_CHECK", "30/m"),
    # POST /admin/login/: password guessing.
    "admin_login": env_rate("RATELIMIT_ADMIN_LOGIN", "10/m"),
    # /shared/recap/<token>: public pages, each one reads a listener's history.
    "shared_recap": env_rate("RATELIMIT_SHARED_RECAP", "30/m"),
}
# Proxies in front of Euterpe that append to X-Forwarded-For: the client is the
# Nth entry from the right. 1 is Heroku's router; 2 a CDN in front of it; 0
# trusts no header (REMOTE_ADDR is the client).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1, minimum=0)

# Security --------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# Lax, not Strict: Strict drops the cookie on the redirect back from Spotify.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_FAILURE_VIEW = "euterpe_site.views.csrf_failure"
# Error pages and reports hide sensitive variables (tokens) in every mode, DEBUG included.
DEFAULT_EXCEPTION_REPORTER_FILTER = "euterpe_site.errors.AlwaysSafeExceptionReporterFilter"

if not DEBUG:
    # Behind Heroku's router: TLS ends there and it says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

SECURE_HSTS_PRELOAD = False
SILENCED_SYSTEM_CHECKS = [
    # security.W021 asks for HSTS preload. A herokuapp.com subdomain cannot be
    # put on the preload list (the parent domain is Heroku's), so preload stays off.
    "security.W021",
]

_spotify_image_hosts = ["https://*.scdn.co", "https://*.spotifycdn.com"]
_fake_origins = sorted(
    {
        _origin(url)
        for url in (SPOTIFY_AUTH_BASE_URL, SPOTIFY_API_BASE_URL)
        if _origin(url) not in {"https://accounts.spotify.com", "https://api.spotify.com"}
    }
)
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, *_spotify_image_hosts, *_fake_origins],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    # Chromium checks form-action on the redirect that follows the login POST.
    "form-action": [CSP.SELF, _origin(SPOTIFY_AUTH_BASE_URL)],
}

# social-auth -----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "accounts.backends.SpotifyOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]
SOCIAL_AUTH_URL_NAMESPACE = "social"
# accounts.backends.SpotifyOAuth2 reads the SPOTIFY_* settings above at call
# time (client id and secret, scope, SPOTIFY_AUTH_BASE_URL, the redirect URI).
SOCIAL_AUTH_REDIRECT_IS_HTTPS = not DEBUG
# Errors become friendly pages in accounts.views, never a 500, whatever DEBUG says.
SOCIAL_AUTH_RAISE_EXCEPTIONS = False
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/"
SOCIAL_AUTH_LOGIN_ERROR_URL = "/login"
SOCIAL_AUTH_SANITIZE_REDIRECTS = True
SOCIAL_AUTH_ALLOWED_REDIRECT_HOSTS = []
# Token exchange timeout (seconds); the profile comes through spotify_client.
SOCIAL_AUTH_URLOPEN_TIMEOUT = 10
# social-core's default pipeline, minus three steps accounts replaces: the
# username is the Spotify id exactly (no made-up variants), and the tokens go
# encrypted into accounts.SpotifyToken; load_extra_data would write them in
# plaintext into UserSocialAuth.extra_data (jsonb, WAL, backups).
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "accounts.pipeline.listener",
    "social_core.pipeline.social_auth.associate_user",
    "accounts.pipeline.save_tokens",
)

# Logging -----------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
if LOG_LEVEL not in logging.getLevelNamesMapping():
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {LOG_LEVEL!r}"
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {
            "()": "euterpe_site.logging.OneLineFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # Request lines are gunicorn's job; Django would log every 4xx again.
        "django.request": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
        "urllib3": {"level": "WARNING"},
    },
}

# Error tracking ----------------------------------------------------------------
# Optional: with SENTRY_DSN set, unhandled errors go to Sentry with tokens,
# cookies, Authorization headers and these settings' secrets scrubbed first
# (euterpe_site/sentry.py). No performance tracing unless asked for.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "").strip()
if SENTRY_DSN:
    from euterpe_site import sentry

    sentry.init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "").strip(),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        secrets=[
            SECRET_KEY,
            *SECRET_KEY_FALLBACKS,
            ENCRYPTION_KEY,
            *FERNET_KEYS,
            SPOTIFY_CLIENT_SECRET,
            OPS_TOKEN,
            DATABASE_URL,
            _database.get("PASSWORD") or "",
            REDIS_URL,
        ],
    )
