"""AgencyHQ: a reseller console for a hosted e-mail-marketing platform."""
from __future__ import annotations

import os
import sqlite3

import sqlalchemy as sa
from flask import Flask

from .config import DEV_SECRET_KEY, ROOT, Config, from_environment, secret_key_problem


def create_app(config=None, **overrides) -> Flask:
    """The app factory. The settings are Config's and the environment's, read now (config.from_environment);
    `config`, a config class such as TestConfig, goes over them, and keyword overrides over that (tests)."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"),
                instance_path=str(ROOT / "instance"))
    app.config.from_object(Config)
    app.config.update(from_environment())
    if config is not None and config is not Config:
        app.config.from_object(config)
    app.config.update(overrides)
    _check_secret_key(app)
    os.makedirs(app.instance_path, exist_ok=True)
    # Logging (every module's lines, LOG_LEVEL, LOG_FORMAT), Sentry with SENTRY_DSN, and /metrics (issue 25).
    from . import observability
    observability.init_app(app)

    from .catalog import load_catalog
    app.extensions["catalog"] = load_catalog(app.config["CATALOG_PATH"])

    from .extensions import babel, csrf, db, htmx, login_manager, migrate
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)

    from . import errors, i18n
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    errors.register(app)

    _init_rate_limiter(app)

    # Every job kind, periodic task, job function and billing hook, from one table.
    from .jobs import registry
    registry.init_app(app)

    # /metrics answers before the app, inside ProxyFix (observability.MetricsEndpoint).
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)

    from . import models  # noqa: F401  (registers every table on the metadata)
    from .web import register_web
    register_web(app)
    from .api import register_api
    register_api(app)
    observability.register_request_hooks(app)  # after the blueprints: the request id is set first of all

    from .cli import register_cli
    register_cli(app)
    return app


def _init_rate_limiter(app: Flask) -> None:
    """Flask-Limiter, one per app: it keeps its storage on the instance, so a module-level one would
    follow whichever app was created last. Its counters are on Redis when REDIS_URL is set (shared by
    every process), in memory otherwise. Limits are applied by services.throttle, where the rules are."""
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address
    app.config["RATELIMIT_STORAGE_URI"] = (app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL")
                                           or "memory://")
    if app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 2, "socket_connect_timeout": 2})
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "agencyhq-limits")
    app.extensions["rate_limiter"] = Limiter(get_remote_address, app=app)


class InsecureConfiguration(RuntimeError):
    """The app refuses to start as configured (a production run on a guessable secret)."""


def _check_secret_key(app: Flask) -> None:
    """Outside debug and testing, no start on a missing, default or short SECRET_KEY: with it, anyone
    could sign a session cookie. In debug (`flask run --debug`) the development default stands in."""
    if app.debug or app.testing:
        app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or DEV_SECRET_KEY
        return
    problem = secret_key_problem(app.config.get("SECRET_KEY"))
    if problem:
        raise InsecureConfiguration(problem)


@sa.event.listens_for(sa.engine.Engine, "connect")
def _session_settings(dbapi_connection, _record):
    if type(dbapi_connection).__module__.startswith("psycopg"):
        # Short OLTP queries: PostgreSQL's JIT, which starts when the planner's estimate passes
        # jit_above_cost, spent 100-150 ms compiling a Resold search that runs in 30 ms; and the
        # estimate swings across that line with each ANALYZE's sample. The app never needs it.
        # psycopg prepares a statement run 5 times on a connection, and after 5 executions PostgreSQL may
        # keep one generic plan for it, planned without the values: for a Resold page, blind to LIMIT 25,
        # that plan read every account of the agency and hashed them (4.5 ms at 5 000 accounts, growing
        # with the agency) where the plan for the values reads 25 rows from the index (0.4 ms). Every
        # execution is planned for its values; the prepared statement still saves the parsing.
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET jit = off")
        dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.autocommit = autocommit
        return
    # WAL lets the embedded worker thread write while pages read; foreign keys are off by default.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
