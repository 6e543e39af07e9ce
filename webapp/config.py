"""Settings. `Config` holds what does not vary; `from_environment` reads the rest from the environment
when an app is created (create_app), never when this module is imported. With nothing set: SQLite and
the embedded queue."""
from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CATALOG_PATH = str(Path(__file__).with_name("catalog.toml"))


def _flag(env: Mapping, name: str, default: bool = False) -> bool:
    value = env.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url(env: Mapping | None = None) -> str:
    url = (os.environ if env is None else env).get("DATABASE_URL")
    if not url:
        return f"sqlite:///{ROOT / 'instance' / 'agencyhq.db'}"
    # Heroku-style URLs name the driver "postgres"; we use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


DEV_SECRET_KEY = "dev-only-secret-change-me"
# `make run` writes a random key here once (instance/ is not committed) and the app reads it when
# SECRET_KEY is unset.
SECRET_KEY_FILE = ROOT / "instance" / "secret_key"
MIN_SECRET_KEY_LENGTH = 32


def _secret_key(env: Mapping | None = None):
    key = (os.environ if env is None else env).get("SECRET_KEY")
    if key:
        return key
    try:
        return SECRET_KEY_FILE.read_text().strip() or None
    except OSError:
        return None


def secret_key_problem(key) -> str | None:
    """Why a production run must not start with this SECRET_KEY (it signs sessions and CSRF tokens:
    anyone who knows it can forge them), or None."""
    how = ('Make one with  python -c "import secrets; print(secrets.token_urlsafe(48))"  and set it as '
           f"SECRET_KEY in the environment (or write it to {SECRET_KEY_FILE}, as `make run` does).")
    if not key:
        return f"SECRET_KEY is not set. {how}"
    if key == DEV_SECRET_KEY:
        return f"SECRET_KEY is the public development default. {how}"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters. {how}"
    return None


def from_environment(env: Mapping | None = None) -> dict:
    """Every setting the environment gives, with its default (the README's Configuration table)."""
    env = os.environ if env is None else env
    scheme = env.get("URL_SCHEME", "http")
    secure = _flag(env, "SESSION_COOKIE_SECURE", scheme == "https")
    lifetime = timedelta(days=int(env.get("LOGIN_SESSION_DAYS", "30")))
    return {
        # None when unset: create_app refuses to start outside debug and testing (secret_key_problem).
        "SECRET_KEY": _secret_key(env),
        "SQLALCHEMY_DATABASE_URI": _database_url(env),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "QUEUE_NAME": env.get("QUEUE_NAME", "agencyhq"),
        # How long an enqueue waits for Redis before giving up (the sweeper enqueues it again).
        "REDIS_SOCKET_TIMEOUT": float(env.get("REDIS_SOCKET_TIMEOUT", "10")),
        # The embedded queue runs a worker thread inside the web process when REDIS_URL is unset.
        "EMBEDDED_WORKER": _flag(env, "EMBEDDED_WORKER", True),
        # The sweeper re-enqueues operations whose job was lost; seconds between passes.
        "SWEEP_INTERVAL": int(env.get("SWEEP_INTERVAL", "30")),
        # The sweeper vacuums a hot table of the Resold tab (services/maintenance.py) once its dead rows pass
        # this fraction of its live ones, and at least this many (issue 25).
        "MAINTENANCE_DEAD_FRACTION": float(env.get("MAINTENANCE_DEAD_FRACTION", "0.05")),
        "MAINTENANCE_DEAD_ROWS": int(env.get("MAINTENANCE_DEAD_ROWS", "5000")),
        # A running operation whose heartbeat is older than this is taken to have lost its worker.
        "OPERATION_STALE_SECONDS": int(env.get("OPERATION_STALE_SECONDS", "120")),
        # A queued operation not picked up after this long is enqueued again.
        "OPERATION_REQUEUE_SECONDS": int(env.get("OPERATION_REQUEUE_SECONDS", "60")),
        "OPERATION_MAX_ATTEMPTS": int(env.get("OPERATION_MAX_ATTEMPTS", "5")),
        "PLATFORM_DOMAIN": env.get("PLATFORM_DOMAIN", "localhost").lower(),
        # Number of proxies in front of the app; only then are X-Forwarded-* headers trusted.
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        "PREFERRED_URL_SCHEME": scheme,
        # The port people reach the app on, for links in e-mails and on pages (none: the scheme's default).
        "PUBLIC_PORT": env.get("PUBLIC_PORT") or None,
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_SECURE": secure,
        # A login lasts at most this long, "remember me" included (services.sessions).
        "LOGIN_SESSION_LIFETIME": lifetime,
        "REMEMBER_COOKIE_DURATION": lifetime,
        # The Agency API (X1): requests per token per window (seconds).
        "API_RATE_LIMIT": int(env.get("API_RATE_LIMIT", "120")),
        "API_RATE_WINDOW": int(env.get("API_RATE_WINDOW", "60")),
        # Outgoing webhooks (issue 24): seconds one try may take in all; http:// endpoints and private,
        # loopback or link-local addresses are refused unless these flags are on (tests, local development).
        "WEBHOOK_TIMEOUT_SECONDS": float(env.get("WEBHOOK_TIMEOUT_SECONDS", "10")),
        "WEBHOOKS_ALLOW_HTTP": _flag(env, "WEBHOOKS_ALLOW_HTTP"),
        "WEBHOOKS_ALLOW_PRIVATE": _flag(env, "WEBHOOKS_ALLOW_PRIVATE"),
        # A delivery "sending" longer than this (and than three times the timeout) lost its worker: sent again.
        "WEBHOOK_STALE_SECONDS": int(env.get("WEBHOOK_STALE_SECONDS", "60")),
        # Sends to one endpoint at once (the others wait their turn): a hanging endpoint holds no more workers.
        "WEBHOOK_MAX_IN_FLIGHT": int(env.get("WEBHOOK_MAX_IN_FLIGHT", "2")),
        # Password-reset e-mails per hosted account, and reset requests per address, each per hour (W5, W6).
        "RESET_EMAILS_PER_ACCOUNT": int(env.get("RESET_EMAILS_PER_ACCOUNT", "3")),
        "RESET_REQUESTS_PER_ADDRESS": int(env.get("RESET_REQUESTS_PER_ADDRESS", "10")),
        "SMTP_HOST": env.get("SMTP_HOST") or None,
        "SMTP_PORT": int(env.get("SMTP_PORT", "25")),
        "SMTP_USERNAME": env.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _flag(env, "SMTP_STARTTLS"),
        # STARTTLS checks the server's certificate; SMTP_VERIFY=0 turns that off (a server you trust on a
        # private network with a self-signed certificate), and says so in the configuration.
        "SMTP_VERIFY": _flag(env, "SMTP_VERIFY", True),
        # Accept addresses at .test and .localhost (demo data, tests); turn off in production.
        "ALLOW_TEST_EMAIL_DOMAINS": _flag(env, "ALLOW_TEST_EMAIL_DOMAINS", True),
        "MAIL_FROM": env.get("MAIL_FROM", "AgencyHQ <no-reply@agencyhq.localhost>"),
        # Where "Contact support" (S3) e-mails each new ticket.
        "SUPPORT_EMAIL": env.get("SUPPORT_EMAIL", "support@agencyhq.localhost"),
        # "host:port" of DNS servers for custom-domain checks (A9); unset: the system's resolver.
        "DNS_NAMESERVERS": [s for s in env.get("DNS_NAMESERVERS", "").split(",") if s] or None,
        # Seconds a custom-domain check waits for the DNS servers before saying they did not answer.
        "DNS_TIMEOUT": float(env.get("DNS_TIMEOUT", "3")),
        "CATALOG_PATH": env.get("CATALOG_PATH", DEFAULT_CATALOG_PATH),
        # Who may join (issue 19): open (anyone confirms an e-mail), approval (support approves each
        # application) or closed (support or the CLI create agencies).
        "AGENCY_SIGNUP": env.get("AGENCY_SIGNUP", "open").strip().lower(),
        # Support staff sign in with a second factor (`make run`'s demo turns it off, and says so).
        "SUPPORT_REQUIRE_2FA": _flag(env, "SUPPORT_REQUIRE_2FA", True),
        # The card processor (issue 20): sandbox (embedded, offline) or stripe.
        "PAYMENT_GATEWAY": env.get("PAYMENT_GATEWAY", "sandbox").strip().lower(),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        # The browser's key for Stripe.js: the card form talks to Stripe, never to AgencyHQ.
        "STRIPE_PUBLISHABLE_KEY": env.get("STRIPE_PUBLISHABLE_KEY") or None,
        # The signing secret of the endpoint registered for POST /webhooks/stripe.
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        # Stripe's API and Stripe.js; changed only to point the tests at a stand-in.
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", "https://api.stripe.com"),
        "STRIPE_JS_URL": env.get("STRIPE_JS_URL", "https://js.stripe.com/v3/"),
        # Seconds a call to Stripe or PayPal may take before it counts as an outage (retried on schedule).
        "GATEWAY_TIMEOUT": float(env.get("GATEWAY_TIMEOUT", "20")),
        # Commission payouts (C3): sandbox (embedded) or paypal.
        "PAYOUTS": env.get("PAYOUTS", "sandbox").strip().lower(),
        "PAYPAL_CLIENT_ID": env.get("PAYPAL_CLIENT_ID") or None,
        "PAYPAL_CLIENT_SECRET": env.get("PAYPAL_CLIENT_SECRET") or None,
        # https://api-m.sandbox.paypal.com for PayPal's own sandbox.
        "PAYPAL_API_BASE": env.get("PAYPAL_API_BASE", "https://api-m.paypal.com"),
        # Who issues the invoices (B4), printed on each and copied onto it when it is issued: the legal name,
        # the address (lines separated by "|") and the tax id (VAT number).
        "INVOICE_ISSUER_NAME": env.get("INVOICE_ISSUER_NAME", "AgencyHQ"),
        "INVOICE_ISSUER_ADDRESS": env.get("INVOICE_ISSUER_ADDRESS", ""),
        "INVOICE_ISSUER_TAX_ID": env.get("INVOICE_ISSUER_TAX_ID") or None,
        # Seeing the running system (issue 25, webapp/observability.py). LOG_LEVEL for every logger of the app's
        # processes; LOG_FORMAT=json: one JSON object a line (else key=value text).
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").strip().upper(),
        "LOG_FORMAT": env.get("LOG_FORMAT", "text").strip().lower(),
        # X-Request-ID from the client is taken as the request's id only when a proxy in front sets it (on by
        # default with TRUSTED_PROXIES); otherwise one is made. Either way it is returned as X-Request-ID.
        "TRUST_REQUEST_ID": _flag(env, "TRUST_REQUEST_ID", int(env.get("TRUSTED_PROXIES", "0")) > 0),
        # Who may read /metrics: these addresses or networks (comma separated), or anyone sending
        # "Authorization: Bearer <METRICS_TOKEN>" when it is set. Others get 404.
        "METRICS_ALLOW": env.get("METRICS_ALLOW", "127.0.0.1,::1"),
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        # Error reports to Sentry (off unless SENTRY_DSN is set); no personal data is sent.
        "SENTRY_DSN": env.get("SENTRY_DSN") or None,
        "SENTRY_ENVIRONMENT": env.get("SENTRY_ENVIRONMENT") or None,
        "SENTRY_RELEASE": env.get("SENTRY_RELEASE") or None,
        "SENTRY_TRACES_SAMPLE_RATE": float(env.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
    }


class Config:
    """What does not vary with the environment."""

    # Threads of the web process, the embedded worker and the sandbox gateway (its own connection)
    # can each hold a connection at once.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 40}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_SSL_STRICT = False  # SameSite=Lax cookies already bind the session to this site
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    # The Agency API's largest JSON body.
    API_MAX_BODY_BYTES = 64 * 1024
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
    # The dashboard's languages (agency users, agency notices): only languages whose catalogue is complete
    # for the whole dashboard (tests/test_languages.py checks it).
    LANGUAGES = {"en": "English", "fr": "Français"}
    # A hosted account's languages (issue 26): its client's pages and e-mails, whatever the browser says.
    ACCOUNT_LANGUAGES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
                         "nl": "Nederlands", "pt": "Português", "zh": "中文"}


class TestConfig(Config):
    """The tests' settings, over the environment's."""

    TESTING = True
    EMBEDDED_WORKER = False
    SECRET_KEY = "test-secret"
    PLATFORM_DOMAIN = "localhost"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    # Links in tests carry no port (`make test` exports PUBLIC_PORT for `make run`); the browser
    # tests' live server sets its own.
    PUBLIC_PORT = None
    # Support logins in tests sign in with a password alone unless a test asks for the 2FA rule
    # (tests/test_two_factor.py); production requires it.
    SUPPORT_REQUIRE_2FA = False
