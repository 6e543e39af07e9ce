"""Fixtures: one app per test session, a clean database and clean Redis keys for every test.

With DATABASE_URL (PostgreSQL) and REDIS_URL set the suite uses them for real, each xdist worker
in its own database and Redis db; without them it uses SQLite and an in-process fakeredis.
Under CI=true a missing service or browser fails the run instead of skipping."""
from __future__ import annotations

import contextvars
import os
import shutil
import tempfile
import threading
import uuid

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _worker_index(config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker[2:]) if worker.startswith("gw") else 0


def _postgres_url(base: str, dbname: str) -> str:
    url = sa.engine.make_url(base)
    return url.set(database=dbname).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def service_urls(request):
    """(database URL, Redis URL or None) for this test worker, created fresh."""
    index = _worker_index(request.config)
    base_db = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if CI and (not base_db or not base_db.startswith("postgres") or not redis_url):
        pytest.exit("CI=true needs DATABASE_URL (PostgreSQL) and REDIS_URL", returncode=3)
    tmpdir = tempfile.mkdtemp(prefix="agencyhq-test-")
    cleanup = lambda: shutil.rmtree(tmpdir, ignore_errors=True)  # noqa: E731
    if base_db and base_db.startswith("postgres"):
        from webapp.config import _database_url
        os.environ["DATABASE_URL"] = base_db
        admin_url = _postgres_url(_database_url(), "postgres")
        dbname = f"agencyhq_test_{index}_{uuid.uuid4().hex[:6]}"
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        except sa.exc.OperationalError as exc:
            pytest.exit(f"PostgreSQL is not reachable at {admin_url}: {exc}", returncode=3)
        db_url = _postgres_url(_database_url(), dbname)

        def cleanup():  # noqa: F811
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            engine.dispose()
            shutil.rmtree(tmpdir, ignore_errors=True)
    else:
        db_url = f"sqlite:///{tmpdir}/test.db"
    if redis_url:
        import redis
        from urllib.parse import urlsplit, urlunsplit
        parts = urlsplit(redis_url)
        redis_url = urlunsplit(parts._replace(path=f"/{1 + index % 15}"))  # a Redis db per test worker
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
        except redis.exceptions.RedisError as exc:
            pytest.exit(f"Redis is not reachable at {redis_url}: {exc}", returncode=3)
    yield db_url, redis_url
    cleanup()


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as it would in a server: its own app context, `g`
    and database session, even while the test holds an app context of its own."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app(service_urls):
    from webapp import create_app
    from webapp.config import TestConfig
    db_url, redis_url = service_urls
    engine_options = dict(TestConfig.SQLALCHEMY_ENGINE_OPTIONS)
    if db_url.startswith("postgresql"):
        # A lock wait fails loudly with the statement instead of hanging the run.
        engine_options["connect_args"] = {"options": "-c lock_timeout=30s"}
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=db_url, REDIS_URL=redis_url, SQLALCHEMY_ENGINE_OPTIONS=engine_options,
                     ARGON2_PARAMS=(1, 1024, 1), OPERATION_STALE_SECONDS=120)
    app.test_client_class = IsolatedClient
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
    return app


def _truncate(app) -> None:
    from webapp.extensions import db
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in db.metadata.sorted_tables]
        with db.engine.begin() as conn:
            # The sandbox payment gateway and payout service keep their own tables (remote services).
            for sandbox in ("sandbox_gateway_records", "sandbox_payout_records", "sandbox_payout_attempts"):
                if sa.inspect(conn).has_table(sandbox):
                    tables.append(sandbox)
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                conn.execute(sa.text("PRAGMA defer_foreign_keys=ON"))
                for table in reversed(tables):
                    conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture(autouse=True)
def clean_state(request, app):
    """Every test starts with empty tables and empty Redis keys."""
    yield
    _truncate(app)
    app.extensions["job_queue"].connection.flushdb()
    app.extensions["rate_limiter"].reset()  # in memory without Redis


@pytest.fixture(autouse=True)
def _no_public_port(request, app):
    """Only a browser test (with the live server) builds links with a port: the session's app is
    shared, so a live server started earlier in this worker must not leak its port into the others."""
    if "live_server" in request.fixturenames:
        yield
        return
    saved = app.config.get("PUBLIC_PORT")
    app.config["PUBLIC_PORT"] = None
    yield
    app.config["PUBLIC_PORT"] = saved


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        from webapp.extensions import db
        db.session.remove()


@pytest.fixture
def db(app_ctx):
    from webapp.extensions import db as _db
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def run_jobs(app):
    """Runs every queued job with a real RQ worker (burst), as `python worker.py` would."""
    def run():
        from webapp.extensions import db as _db
        with app.app_context():
            app.extensions["job_queue"].drain()
            _db.session.remove()
    return run


# ---- browser tests -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def live_server(app):
    """The app served on a real port in a thread; Chromium reaches it at localhost and *.localhost."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    app.config["PUBLIC_PORT"] = port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if CI:
            pytest.exit(f"CI=true needs Chromium at {CHROMIUM}", returncode=3)
        pytest.skip(f"no Chromium at {CHROMIUM} (browser tests run in CI)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def worker(app):
    """A worker thread running jobs as they come, like the embedded queue of `make run`."""
    stop = threading.Event()

    def loop():
        from webapp.extensions import db
        while not stop.is_set():
            with app.app_context():
                app.extensions["job_queue"].drain()
                db.session.remove()
            stop.wait(0.2)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(10000)
    yield page
    context.close()


# ---- e-mail: a real SMTP server on loopback --------------------------------------------------

@pytest.fixture
def smtp_server(app, monkeypatch):
    """aiosmtpd on a free loopback port; the app sends to it. `.messages` holds what arrived."""
    import socket
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    class Sink:
        """Each message as parsed by the standard library: its text and HTML parts, its headers. `.refuse`
        (a "550 ..." reply) makes the server refuse what comes next, as a full mailbox does."""

        def __init__(self):
            self.messages = []
            self.refuse = None

        async def handle_DATA(self, server, session, envelope):
            if self.refuse:
                return self.refuse
            message = message_from_bytes(envelope.content, policy=policy.default)
            text = message.get_body(("plain",))
            html = message.get_body(("html",))
            self.messages.append({"to": envelope.rcpt_tos, "subject": str(message["Subject"]),
                                  "from": str(message["From"]), "reply_to": message["Reply-To"],
                                  "content_type": message.get_content_type(),
                                  "body": text.get_content() if text is not None else "",
                                  "html": html.get_content() if html is not None else None,
                                  "message": message})
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    yield sink
    controller.stop()


# ---- DNS: a real DNS server on loopback that tests fill with records ----------------------------

@pytest.fixture
def dns_server(app, monkeypatch):
    """dnslib answering CNAME queries from `.records` ({host: target}), and SERVFAIL for the hosts in
    `.failing`; the app asks it."""
    import socket

    from dnslib import CNAME, QTYPE, RCODE, RR
    from dnslib.server import BaseResolver, DNSLogger, DNSServer

    class Records(BaseResolver):
        def __init__(self):
            self.records = {}
            self.failing = set()

        def resolve(self, request, handler):
            reply = request.reply()
            name = str(request.q.qname).rstrip(".").lower()
            if name in self.failing:
                reply.header.rcode = RCODE.SERVFAIL
            elif name in self.records and request.q.qtype in (QTYPE.CNAME, QTYPE.A):
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(self.records[name] + "."), ttl=60))
            return reply

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resolver = Records()
    server = DNSServer(resolver, port=port, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"))
    server.start_thread()
    monkeypatch.setitem(app.config, "DNS_NAMESERVERS", [f"127.0.0.1:{port}"])
    yield resolver
    server.stop()


# ---- Stripe: localstripe with what it lacks (tests/stand_ins/stripe_server.py), as a process ---------

STRIPE_TEST_KEYS = {"secret": "sk_test_agencyhq", "publishable": "pk_test_agencyhq", "webhook": "whsec_agencyhq_test"}


@pytest.fixture(scope="session")
def stripe_server():
    """The stand-in Stripe on a free loopback port, for this test worker; its base URL."""
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.stand_ins.stripe_server", "--port", str(port)], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the stand-in Stripe server did not start")
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def stripe_gateway(app, stripe_server, monkeypatch):
    """The app charges through the Stripe adapter, pointed at the stand-in by its base URLs only, as
    production points it at api.stripe.com; the stand-in starts empty."""
    import httpx

    from webapp.adapters.stripe_gateway import StripeGateway
    httpx.post(f"{stripe_server}/_config/stand_in/reset").raise_for_status()
    settings = {"PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": STRIPE_TEST_KEYS["secret"],
                "STRIPE_PUBLISHABLE_KEY": STRIPE_TEST_KEYS["publishable"],
                "STRIPE_WEBHOOK_SECRET": STRIPE_TEST_KEYS["webhook"], "STRIPE_API_BASE": stripe_server,
                "STRIPE_JS_URL": f"{stripe_server}/js.stripe.com/v3/", "GATEWAY_TIMEOUT": 5}
    for name, value in settings.items():
        monkeypatch.setitem(app.config, name, value)
    gw = StripeGateway(secret_key=settings["STRIPE_SECRET_KEY"], publishable_key=settings["STRIPE_PUBLISHABLE_KEY"],
                       api_base=stripe_server, js_url=settings["STRIPE_JS_URL"],
                       webhook_secret=settings["STRIPE_WEBHOOK_SECRET"], timeout=5)
    monkeypatch.setitem(app.extensions, "payment_gateway", gw)
    gw.stand_in = stripe_server
    return gw


@pytest.fixture(params=["sandbox", "stripe"])
def each_gateway(request, app):
    """Runs the test once on the sandbox and once on Stripe (the stand-in)."""
    if request.param == "stripe":
        return request.getfixturevalue("stripe_gateway")
    return None
