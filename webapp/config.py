"""Settings from the environment. With nothing set: SQLite and the embedded queue."""
import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url():
    url = os.environ.get("DATABASE_URL")
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


def _secret_key():
    key = os.environ.get("SECRET_KEY")
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


class Config:
    # None when unset: create_app refuses to start outside debug and testing (secret_key_problem).
    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    # Threads of the web process, the embedded worker and the sandbox gateway (its own connection)
    # can each hold a connection at once.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 40}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    QUEUE_NAME = os.environ.get("QUEUE_NAME", "agencyhq")
    # How long an enqueue waits for Redis before giving up (the sweeper enqueues it again).
    REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "10"))
    # The embedded queue runs a worker thread inside the web process when REDIS_URL is unset.
    EMBEDDED_WORKER = _bool("EMBEDDED_WORKER", True)
    # The sweeper re-enqueues operations whose job was lost; seconds between passes.
    SWEEP_INTERVAL = int(os.environ.get("SWEEP_INTERVAL", "30"))
    # A running operation whose heartbeat is older than this is taken to have lost its worker.
    OPERATION_STALE_SECONDS = int(os.environ.get("OPERATION_STALE_SECONDS", "120"))
    # A queued operation not picked up after this long is enqueued again.
    OPERATION_REQUEUE_SECONDS = int(os.environ.get("OPERATION_REQUEUE_SECONDS", "60"))
    OPERATION_MAX_ATTEMPTS = int(os.environ.get("OPERATION_MAX_ATTEMPTS", "5"))

    PLATFORM_DOMAIN = os.environ.get("PLATFORM_DOMAIN", "localhost").lower()
    # Number of proxies in front of the app; only then are X-Forwarded-* headers trusted.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    PREFERRED_URL_SCHEME = os.environ.get("URL_SCHEME", "http")
    # The port people reach the app on, for links in e-mails and on pages (none: the scheme's default).
    PUBLIC_PORT = os.environ.get("PUBLIC_PORT") or None

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", PREFERRED_URL_SCHEME == "https")
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # A login lasts at most this long, "remember me" included (services.sessions).
    LOGIN_SESSION_LIFETIME = timedelta(days=int(os.environ.get("LOGIN_SESSION_DAYS", "30")))
    REMEMBER_COOKIE_DURATION = LOGIN_SESSION_LIFETIME
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_SSL_STRICT = False  # SameSite=Lax cookies already bind the session to this site
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    # The Agency API (X1): requests per token per window (seconds), and the largest JSON body.
    API_RATE_LIMIT = int(os.environ.get("API_RATE_LIMIT", "120"))
    API_RATE_WINDOW = int(os.environ.get("API_RATE_WINDOW", "60"))
    API_MAX_BODY_BYTES = 64 * 1024
    # Password-reset e-mails per hosted account, and reset requests per address, each per hour (W5, W6).
    RESET_EMAILS_PER_ACCOUNT = int(os.environ.get("RESET_EMAILS_PER_ACCOUNT", "3"))
    RESET_REQUESTS_PER_ADDRESS = int(os.environ.get("RESET_REQUESTS_PER_ADDRESS", "10"))

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
    LANGUAGES = {"en": "English", "fr": "Français"}

    SMTP_HOST = os.environ.get("SMTP_HOST") or None
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME") or None
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD") or None
    SMTP_STARTTLS = _bool("SMTP_STARTTLS")
    # STARTTLS checks the server's certificate; SMTP_VERIFY=0 turns that off (a server you trust on a
    # private network with a self-signed certificate), and says so in the configuration.
    SMTP_VERIFY = _bool("SMTP_VERIFY", True)
    # Accept addresses at .test and .localhost (demo data, tests); turn off in production.
    ALLOW_TEST_EMAIL_DOMAINS = _bool("ALLOW_TEST_EMAIL_DOMAINS", True)
    MAIL_FROM = os.environ.get("MAIL_FROM", "AgencyHQ <no-reply@agencyhq.localhost>")
    # Where "Contact support" (S3) e-mails each new ticket.
    SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL", "support@agencyhq.localhost")

    # "host:port" of DNS servers for custom-domain checks (A9); unset: the system's resolver.
    DNS_NAMESERVERS = [s for s in os.environ.get("DNS_NAMESERVERS", "").split(",") if s] or None
    # Seconds a custom-domain check waits for the DNS servers before saying they did not answer.
    DNS_TIMEOUT = float(os.environ.get("DNS_TIMEOUT", "3"))
    CATALOG_PATH = os.environ.get("CATALOG_PATH", str(Path(__file__).with_name("catalog.toml")))


class TestConfig(Config):
    TESTING = True
    EMBEDDED_WORKER = False
    SECRET_KEY = "test-secret"
    PLATFORM_DOMAIN = "localhost"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    # Links in tests carry no port (`make test` exports PUBLIC_PORT for `make run`); the browser
    # tests' live server sets its own.
    PUBLIC_PORT = None
