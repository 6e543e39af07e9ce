"""Seeing the running system (issue 25): the logs, the request id, Prometheus' /metrics and Sentry's error reports.

- Logging is set once, here, for every process that creates the app (gunicorn's workers, `python worker.py`):
  one handler on the root logger, every module's logger propagating to it at LOG_LEVEL. (gunicorn.conf.py used
  to give "agencyhq" a handler of its own with propagate off and the root WARNING, and create_app pinned
  "agencyhq" at INFO: the lines of every other logger below WARNING (RQ's, the Flask app's own "webapp",
  Flask-Limiter's, Alembic's) never reached the log, and LOG_LEVEL did nothing to the app's.)
  LOG_FORMAT=json writes one JSON object a line. Every line carries the request id and the operation id when
  there is one (services.logcontext).
- The request id comes from X-Request-ID when TRUST_REQUEST_ID is on (a proxy in front sets it), else is made;
  it is returned as X-Request-ID on every answer and kept on the operations the request submits.
- /metrics answers Prometheus' text format to METRICS_ALLOW addresses (and, with METRICS_TOKEN set, to
  `Authorization: Bearer <token>` from anywhere); anyone else gets the same 404 as any missing page, so the
  endpoint does not show it exists. It is answered before the app's host routing (Prometheus scrapes by IP).
- Sentry (SENTRY_DSN): the Flask and RQ integrations, no personal data (send_default_pii off, and `scrub` takes
  passwords, tokens, card numbers, e-mail addresses, cookies and Authorization headers out of every event)."""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, g, request

from .services import logcontext, metrics

log = logging.getLogger("agencyhq.observability")

# ---- logs ---------------------------------------------------------------------------------------------------

_factory_installed = False


def install_record_factory() -> None:
    """Every log record gets request_id and operation_id (None outside a request or an operation)."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = logcontext.request_id.get()
        record.operation_id = logcontext.operation_id.get()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class KeyValueFormatter(logging.Formatter):
    """`time LEVEL logger pid=… message request_id=… operation_id=…` (the context only when there is one)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s")

    def format(self, record):
        line = super().format(record)
        context = "".join(f" {name}={value}" for name in ("request_id", "operation_id")
                          if (value := getattr(record, name, None)) is not None)
        if not context:
            return line
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return first + context + newline + rest


def json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter
    # "time": ISO 8601 in UTC, with milliseconds.
    return JsonFormatter("%(levelname)s %(name)s %(process)d %(message)s %(request_id)s %(operation_id)s",
                         rename_fields={"levelname": "level", "name": "logger", "process": "pid"}, timestamp="time")


def formatter(kind: str) -> logging.Formatter:
    return json_formatter() if kind == "json" else KeyValueFormatter()


# Libraries that say something at INFO for every call they make (a request to Stripe, a font loaded; SQLAlchemy
# would log every statement once its logger is enabled for INFO).
QUIET_LOGGERS = ("sqlalchemy", "httpx", "httpcore", "urllib3", "stripe", "fontTools", "weasyprint", "sentry_sdk.errors")


def configure_logging(level: str = "INFO", fmt: str = "text", stream=None) -> logging.Handler:
    """The process's logging: one handler on the root (replacing what was there: gunicorn's, basicConfig's),
    every logger propagating to it. Returns the handler."""
    install_record_factory()
    level = (level or "INFO").upper()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler._agencyhq = True
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    app_logger = logging.getLogger("agencyhq")
    for old in list(app_logger.handlers):
        app_logger.removeHandler(old)
    app_logger.propagate = True
    app_logger.setLevel(logging.NOTSET)  # the root's level: LOG_LEVEL
    numeric = logging.getLevelName(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric if isinstance(numeric, int) else 0))
    return handler


# ---- the request id and the request metrics -------------------------------------------------------------------

HEADER = "X-Request-ID"


def _start_request():
    incoming = request.headers.get(HEADER, "")
    from flask import current_app
    trusted = current_app.config.get("TRUST_REQUEST_ID") and logcontext.VALID_ID.match(incoming)
    rid = incoming if trusted else uuid.uuid4().hex
    g.request_id = rid
    g.request_id_token = logcontext.request_id.set(rid)
    g.metrics_started = time.perf_counter()
    if _sentry_on:
        import sentry_sdk
        sentry_sdk.set_tag("request_id", rid)


def _finish_request(response):
    rid = g.get("request_id")
    if rid is None:  # answered before _start_request ran (a bad Host header)
        rid = g.request_id = uuid.uuid4().hex
    response.headers[HEADER] = rid
    started = g.get("metrics_started") or g.get("request_started")
    metrics.request_answered(request.endpoint, request.method, response.status_code,
                             time.perf_counter() - started if started else 0.0)
    return response


def _end_request(_exc=None):
    token = g.pop("request_id_token", None)
    if token is not None:
        try:
            logcontext.request_id.reset(token)
        except ValueError:  # set in another context (never in practice)
            logcontext.request_id.set(None)


def register_request_hooks(app: Flask) -> None:
    """After the blueprints (web inserts its own first hooks): the request id is the very first thing set."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.teardown_request(_end_request)


# ---- /metrics -------------------------------------------------------------------------------------------------

def parse_allow(value) -> list:
    """METRICS_ALLOW: addresses or networks, comma separated. A bad entry stops the start (no silent hole)."""
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = [part.strip() for part in str(value or "").split(",")]
    networks = []
    for item in items:
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ValueError(f"METRICS_ALLOW: {item!r} is not an IP address or network") from None
    return networks


def _address_allowed(address: str | None, networks) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


class MetricsEndpoint:
    """WSGI middleware answering GET /metrics before the app (no host routing, session or CSRF), inside ProxyFix
    when TRUSTED_PROXIES is set, so REMOTE_ADDR is the scraper's own address."""

    def __init__(self, wsgi_app, flask_app: Flask):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        self.networks = parse_allow(flask_app.config.get("METRICS_ALLOW", "127.0.0.1,::1"))

    def allowed(self, environ) -> bool:
        token = self.flask_app.config.get("METRICS_TOKEN")
        if token:
            sent = environ.get("HTTP_AUTHORIZATION", "")
            if sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip().encode(), str(token).encode()):
                return True
        if environ.get("HTTP_X_FORWARDED_FOR") and not self.flask_app.config.get("TRUSTED_PROXIES"):
            # Through a proxy the app does not see through: REMOTE_ADDR is the proxy's (often 127.0.0.1), not
            # the client's. Only the token lets such a request in.
            return False
        return _address_allowed(environ.get("REMOTE_ADDR"), self.networks)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            return self.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or not self.allowed(environ):
            body = b"Not Found\n"
            start_response("404 NOT FOUND", [("Content-Type", "text/plain; charset=utf-8"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        from prometheus_client import CONTENT_TYPE_LATEST
        body = self.exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store"),
                                  ("Content-Length", str(len(body)))])
        return [body] if environ.get("REQUEST_METHOD") == "GET" else [b""]

    def exposition(self) -> bytes:
        from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
        registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess
            multiprocess.MultiProcessCollector(registry)  # every process's files, the workers' included
        else:
            registry.register(_Collected(REGISTRY))
        registry.register(metrics.QueueCollector())
        from .extensions import db
        with self.flask_app.app_context():
            try:
                return generate_latest(registry)
            finally:
                db.session.remove()


class _Collected:
    def __init__(self, source):
        self.source = source

    def collect(self):
        return self.source.collect()


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit and a worker's exit: a dead process's live gauges leave the multiprocess files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)


# ---- Sentry ---------------------------------------------------------------------------------------------------

_sentry_on = False
FILTERED = "[Filtered]"
SENSITIVE_KEY = re.compile(r"pass|secret|token|auth|cookie|card|cvc|cvv|iban|e_?mail|to_address|session|csrf|"
                           r"api_?key|otp|recovery|signature|^sig$|^key$|_key$|^code$|^ip(_address)?$|^username$"
                           r"|remote_addr|x-forwarded-for|x-real-ip", re.I)
# The event's own fields, left as Sentry made them.
STRUCTURAL = {"event_id", "timestamp", "start_timestamp", "trace_id", "span_id", "parent_span_id", "release",
              "environment", "platform", "level", "sdk", "contexts", "spans",
              "pre_context", "context_line", "post_context"}  # the source code around a frame's line
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]+")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;])[^=&;]*(?:token|key|code|secret|pass|sig|auth|email)[^=&;]*=)[^&;#]*")
LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{24,}")
SCALAR = re.compile(r"^(-?\d{1,12}(\.\d+)?|True|False|None)$")


def scrub_text(text: str) -> str:
    text = EMAIL.sub("[email]", text)
    text = BEARER.sub(r"\1 " + FILTERED, text)
    text = QUERY_SECRET.sub(r"\1" + FILTERED, text)
    return CARD.sub("[card]", text)


def _scrub(value, key=None):
    if key in STRUCTURAL:
        return value
    if key is not None and SENSITIVE_KEY.search(str(key)):
        return FILTERED if value not in (None, "", [], {}) else value
    if isinstance(value, dict):
        return {k: (_frame_vars(v) if k == "vars" and isinstance(v, dict) else _scrub(v, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and isinstance(value[0], str) and SENSITIVE_KEY.search(value[0]):
            return [value[0], FILTERED]  # a [name, value] pair (headers, form fields as lists)
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _frame_vars(variables: dict) -> dict:
    """A frame's local variables: only numbers, booleans and None stay (ids, counts); any text could be a
    password or an address under an innocent name."""
    kept = {}
    for name, value in variables.items():
        if isinstance(value, str):
            text = value
        else:
            text = json.dumps(value) if isinstance(value, (int, float, bool)) or value is None else ""
        kept[name] = value if not SENSITIVE_KEY.search(str(name)) and SCALAR.match(str(text).strip("'\"")) else FILTERED
    return kept


def scrub(event, _hint=None):
    """Sentry's before_send (and before_send_transaction): the event without anything personal."""
    event = dict(event)
    req = dict(event.get("request") or {})
    if req:
        req.pop("cookies", None)
        req.pop("env", None)
        if req.get("query_string"):
            req["query_string"] = FILTERED
        if isinstance(req.get("url"), str):
            req["url"] = LONG_TOKEN.sub(FILTERED, req["url"].split("?")[0])
        headers = req.get("headers")
        if isinstance(headers, dict):
            req["headers"] = {k: v for k, v in headers.items() if k.lower() not in ("cookie", "authorization",
                                                                                    "x-forwarded-for", "x-real-ip")}
        event["request"] = req
    if isinstance(event.get("user"), dict):
        event["user"] = {k: v for k, v in event["user"].items() if k == "id"}
    crumbs = event.get("breadcrumbs")
    for crumb in crumbs.get("values", []) if isinstance(crumbs, dict) else []:
        data = crumb.get("data") if isinstance(crumb, dict) else None
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            data["url"] = LONG_TOKEN.sub(FILTERED, data["url"].split("?")[0])
    return _scrub(event)


def sentry_options(config) -> dict:
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.rq import RqIntegration
    return {
        "dsn": config.get("SENTRY_DSN"),
        "environment": config.get("SENTRY_ENVIRONMENT") or None,
        "release": config.get("SENTRY_RELEASE") or None,
        "integrations": [FlaskIntegration(transaction_style="endpoint"), RqIntegration()],
        "send_default_pii": False,
        "include_local_variables": True,  # kept to numbers by scrub()
        "max_request_body_size": "small",
        "traces_sample_rate": float(config.get("SENTRY_TRACES_SAMPLE_RATE") or 0.0),
        "before_send": scrub,
        "before_send_transaction": scrub,
    }


def init_sentry(config, *, component: str = "web", **overrides) -> bool:
    """On only with SENTRY_DSN. `overrides` go to sentry_sdk.init (tests give a transport)."""
    global _sentry_on
    if not config.get("SENTRY_DSN"):
        return False
    import sentry_sdk
    sentry_sdk.init(**{**sentry_options(config), **overrides})
    sentry_sdk.set_tag("component", component)
    _sentry_on = True
    return True


# ---- the app --------------------------------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    """Logging, Sentry and /metrics; call before ProxyFix wraps the app (so /metrics sees the real address)."""
    install_record_factory()
    if not app.testing:
        configure_logging(app.config.get("LOG_LEVEL", "INFO"), app.config.get("LOG_FORMAT", "text"))
    elif logging.getLogger("agencyhq").level == logging.NOTSET:
        logging.getLogger("agencyhq").setLevel(logging.INFO)  # pytest's capture handler stays the root's
    init_sentry(app.config)
    app.wsgi_app = MetricsEndpoint(app.wsgi_app, app)
