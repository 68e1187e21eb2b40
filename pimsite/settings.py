"""PIM settings. Everything that differs between machines comes from environment variables
(see README "Configuration"); the defaults run the demo: SQLite, django-q2's ORM broker, mail
to the console."""

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pimsite.env import env_bool, env_choice, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

PIM_ENV = env_choice("PIM_ENV", "demo", ("demo", "production"))
PRODUCTION = PIM_ENV == "production"

# A fixed key keeps demo sessions valid across restarts; production refuses it below.
DEMO_SECRET_KEY = "pim-demo-secret-key-never-use-in-production"  # noqa: S105  refused in production below
SECRET_KEY = env_str("SECRET_KEY", DEMO_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])

if PRODUCTION:
    if SECRET_KEY == DEMO_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "PIM_ENV=production refuses the demo secret key: set SECRET_KEY to a random value "
            "of at least 50 characters (python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    if DEBUG:
        raise ImproperlyConfigured("PIM_ENV=production refuses DEBUG: unset DEBUG or set DEBUG=0.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("PIM_ENV=production needs ALLOWED_HOSTS (comma-separated host names).")

INSTALLED_APPS = [
    "activations",
    "roles",
    "audit",
    "pimsite.apps.PIMAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_q",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Last: its admin.py replaces some third-party admin pages (see pimsite/admin.py).
    "pimsite",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "pimsite.middleware.RequireVerifiedSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by the backend into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pimsite.urls"
WSGI_APPLICATION = "pimsite.wsgi.application"

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
                "pimsite.context_processors.pim",
            ],
            "builtins": ["pimsite.templatetags.pim"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'pim.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: every transaction takes the write lock at BEGIN, so the web server and the
    # task cluster queue up instead of failing with "database is locked" on lock upgrade.
    # WAL lets readers go on while one writer works. Connections are not kept: SQLite is local.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out credentials before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "pimsite.auth_backends.PasswordBackend",
    "pimsite.auth_backends.PIMAdministratorPermissions",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production whitenoise serves straight from the app and project folders: no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

# Sessions and cookies
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("PIM_SESSION_AGE", 8 * 3600, minimum=300, maximum=7 * 24 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("PIM_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's health check speaks plain HTTP to the process
# HSTS in production: a year unless PIM_HSTS_SECONDS says otherwise (0 turns it off, e.g. while
# trying TLS out); subdomains and preload follow PIM_HSTS_SUBDOMAINS and PIM_HSTS_PRELOAD.
SECURE_HSTS_SECONDS = env_int("PIM_HSTS_SECONDS", 31536000, minimum=0, maximum=2 * 31536000) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION and env_bool("PIM_HSTS_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = PRODUCTION and env_bool("PIM_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("PIM_BEHIND_TLS_PROXY", False):
    # Only behind a proxy that sets this header itself; otherwise clients could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Content Security Policy (django-csp 4): nothing from other origins, no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# REST API (/api/v1/): bearer tokens or an OTP-verified session (with CSRF); deny by default.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pimsite.api_auth.BearerTokenAuthentication",
        "pimsite.api_auth.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pimsite.api_auth.MayUseApi"],
    "DEFAULT_PAGINATION_CLASS": "pimsite.api.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "pimsite.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["roles.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("PIM_API_RATE", "600/minute"), "otp": "10/minute"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PIM API",
    "DESCRIPTION": "Privileged Identity Management: eligible roles, just-in-time activation, approvals, "
    'access decisions and administration. Errors: 400 {"errors": {field: [message]}}; 401, 403, 404, '
    '409 and 429 {"detail": message, "code": code}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pimsite.api.add_error_responses",
    ],
}

# Sign-in throttling (django-axes): lock a username from one address after repeated failures.
AXES_FAILURE_LIMIT = env_int("PIM_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = 0.25  # hours: 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# One-time passwords (django-otp)
OTP_TOTP_ISSUER = env_str("PIM_OTP_ISSUER", "PIM")
OTP_TOTP_THROTTLE_FACTOR = 1  # 1 s, 2 s, 4 s ... after consecutive wrong codes
OTP_STATIC_THROTTLE_FACTOR = 1
PIM_BACKUP_CODE_COUNT = 10
# Minutes a session's last code counts for activating a role that requires MFA; older asks again.
PIM_MFA_MAX_AGE = env_int("PIM_MFA_MAX_AGE", 10, minimum=1, maximum=24 * 60)
# Access decisions and API tokens kept in each process until they could change (roles.until_changed;
# PostgreSQL only: it LISTENs for the notifications its triggers send).
PIM_CACHE_UNTIL_CHANGED = env_bool("PIM_CACHE_UNTIL_CHANGED", True)

# Background work (django-q2) on the ORM broker by default; see STACK-NOTES for the timing.
Q_CLUSTER = {
    "name": "pim",
    "orm": "default",
    # Q_WORKERS (or PIM_Q_WORKERS): task processes per cluster; run more clusters for more machines.
    "workers": env_int("Q_WORKERS", env_int("PIM_Q_WORKERS", 2, minimum=1, maximum=64), minimum=1, maximum=64),
    "timeout": 60,
    "retry": 120,  # must exceed timeout or a slow task runs twice
    "poll": 0.5,
    "guard_cycle": 0.5,
    "scheduler": True,
    "catch_up": False,
    "save_limit": 1000,
    "ack_failures": True,
}
# A busy queue moves to Redis (pip install 'pim[redis]'); the schedules and results stay in the database.
PIM_REDIS_URL = env_url("PIM_REDIS_URL", schemes=("redis", "rediss"), default_port=6379)
if PIM_REDIS_URL:
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = PIM_REDIS_URL

# Mail
# Where links in notifications point.
PIM_SITE_URL = env_str("PIM_SITE_URL", "http://127.0.0.1:8000")
# SMTP in production or as soon as EMAIL_HOST is set; otherwise mail is printed to the console.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION or env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # TLS from the start, usually port 465
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
# Seconds; an SMTP server that hangs fails the attempt (retried by the outbox) well inside the
# task timeout (Q_CLUSTER["timeout"]).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=50)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "pim@localhost")

# Audit log: SIEM forwarding, retention, verification (see README, "SIEM, retention and chain
# verification"). Read by audit.siem, audit.retention and audit.scheduling.
# Days to keep audit events; unset keeps them forever. Pruning leaves a signed checkpoint.
PIM_AUDIT_RETENTION_DAYS = env_int("PIM_AUDIT_RETENTION_DAYS", 0, minimum=1, maximum=36500) or None
# Syslog (RFC 5424, CEF payload): tcp://host:514 or udp://host:514.
PIM_SIEM_SYSLOG = env_url("PIM_SIEM_SYSLOG", schemes=("tcp", "udp"))
# Or an HTTPS endpoint that takes newline-delimited JSON, with an optional bearer token.
PIM_SIEM_HTTPS_URL = env_url("PIM_SIEM_HTTPS_URL", schemes=("https", "http"), default_port=443)
PIM_SIEM_HTTPS_TOKEN = env_str("PIM_SIEM_HTTPS_TOKEN")
if PIM_SIEM_SYSLOG and PIM_SIEM_HTTPS_URL:
    raise ImproperlyConfigured("Set PIM_SIEM_SYSLOG or PIM_SIEM_HTTPS_URL, not both.")
if PIM_SIEM_HTTPS_URL.startswith("http:") and (
    PRODUCTION or urlsplit(PIM_SIEM_HTTPS_URL).hostname not in ("127.0.0.1", "::1", "localhost")
):
    # Audit events and the token would cross the network in clear text.
    raise ImproperlyConfigured(
        "PIM_SIEM_HTTPS_URL must be https://; plain http is allowed only to 127.0.0.1 or localhost outside production."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object per line on stdout in production (PIM_LOG_FORMAT=text for plain lines).
    "formatters": {"json": {"()": "pimsite.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            **(
                {"formatter": "json"}
                if env_choice("PIM_LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text")) == "json"
                else {}
            ),
        }
    },
    "root": {"handlers": ["console"], "level": env_str("PIM_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
