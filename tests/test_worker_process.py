"""A real `python worker.py` process: runs jobs, and after `kill -9` mid-job a new worker finishes
the job with nothing done twice."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.jobs import registry
from webapp.models import AccountUser, HostedAccount, Operation, OutboundEmail
from webapp.services import provisioning

from .helpers import SUBPROCESS_SECRET_KEY, make_account, make_agency

ROOT = Path(__file__).resolve().parents[1]


def _redis_server_binary() -> str:
    """The machine's redis-server. CI always has one (.ci/run starts Redis); elsewhere these tests of a
    real worker process wait for one to be installed."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true needs redis-server for the worker-process tests")
    pytest.skip("no redis-server on this machine: the worker-process tests need a real Redis")


@pytest.fixture
def process_redis_url(service_urls, tmp_path):
    """The suite's Redis, or a private redis-server on a free port when the run has none."""
    if service_urls[1]:
        yield service_urls[1]
        return
    binary = _redis_server_binary()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    import redis
    assert _wait(lambda: _pings(redis, url), timeout=10)
    yield url
    server.terminate()
    server.wait(timeout=10)


def _pings(redis, url):
    try:
        return redis.Redis.from_url(url).ping()
    except redis.exceptions.RedisError:
        return False


_spawned: list = []


@pytest.fixture(autouse=True)
def _no_stray_workers():
    """Whatever a test started, no worker outlives it (a stray one would run the next test's jobs)."""
    yield
    while _spawned:
        proc = _spawned.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _start_worker(db_url, redis_url, **env):
    environment = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "SWEEP_INTERVAL": "1",
                   "OPERATION_STALE_SECONDS": "2", "OPERATION_REQUEUE_SECONDS": "2", "LOG_LEVEL": "WARNING",
                   "SECRET_KEY": SUBPROCESS_SECRET_KEY, **env}
    # stderr goes to a file: a pipe nobody reads would stall a chatty worker.
    log = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=environment,
                            stdout=subprocess.DEVNULL, stderr=log)
    proc.log_path = log.name
    _spawned.append(proc)
    return proc


def _stop(worker, timeout=20):
    """SIGTERM, then wait for the warm shutdown. A worker still there after `timeout` has its threads'
    stacks written to its log (worker.py's SIGUSR1 handler) and the test fails showing them."""
    worker.terminate()
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGUSR1)
        time.sleep(1)
        worker.kill()
        worker.wait(timeout=10)
        pytest.fail(f"worker ignored SIGTERM for {timeout} s:\n" + Path(worker.log_path).read_text()[-6000:])


def _wait(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_an_idle_worker_keeps_waiting_for_jobs_past_the_enqueue_timeout(app, db, service_urls, process_redis_url):
    """`python worker.py` with nothing to do quit once Redis had not answered its blocking pop within the
    enqueue connection's socket timeout (10 s): `make prod`'s workers were gone ten seconds after start.
    Here the timeout is 1 s; the worker idles for 4, then runs a job."""
    agency, _ = make_agency()
    account = make_account(agency, "late-job", status="provisioning")
    op = provisioning.submit(account)
    db.session.commit()
    worker = _start_worker(service_urls[0], process_redis_url, REDIS_SOCKET_TIMEOUT="1", SWEEP_INTERVAL="3600",
                           LOG_LEVEL="INFO")
    try:
        time.sleep(4)
        assert worker.poll() is None, Path(worker.log_path).read_text()[-3000:]
        registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]).enqueue_operation(op.id)

        def done():
            db.session.expire_all()
            return db.session.get(Operation, op.id).status == "succeeded"
        assert _wait(done, timeout=30), Path(worker.log_path).read_text()[-3000:]
        assert worker.poll() is None
    finally:
        _stop(worker)
    assert "timeout, quitting" not in Path(worker.log_path).read_text()


def test_worker_killed_mid_provisioning_resumes_with_one_admin(app, db, service_urls, process_redis_url, tmp_path):
    agency, _ = make_agency()
    account = make_account(agency, "crashy", status="provisioning")
    op = provisioning.submit(account)
    db.session.commit()
    registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]).enqueue_operation(op.id)

    def status():
        db.session.expire_all()
        return db.session.get(Operation, op.id)

    crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT="provision.after_admin",
                             AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / "crashed"))
    try:
        assert crashing.wait(timeout=60) == -9  # it killed itself right after the admin step
    finally:
        crashing.kill()
    assert status().status == "running" and status().progress == 2
    password = status().result["password"]

    worker = _start_worker(service_urls[0], process_redis_url)
    try:
        assert _wait(lambda: status().status == "succeeded", timeout=60), Path(worker.log_path).read_text()[-3000:]
    finally:
        _stop(worker)
    op = status()
    assert op.attempts == 2 and op.result["password"] == password
    assert db.session.get(HostedAccount, account.id).status == "active"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 1


@pytest.mark.parametrize("gateway, crash_at, batched", [
    ("sandbox", "billing.after_prepaid", False), ("sandbox", "billing.after_charge", False),
    ("sandbox", "renewal.before_charge", False), ("sandbox", "renewal.batch_before_charges", True),
    ("sandbox", "renewal.batch_after_one_charge", True), ("sandbox", "renewal.batch_after_charges", True),
    # On the Stripe adapter the next worker sends the same Idempotency-Key and Stripe (the stand-in)
    # answers with the first PaymentIntent.
    ("stripe", "billing.after_charge", False), ("stripe", "renewal.batch_after_one_charge", True),
])
def test_worker_killed_during_renewals_charges_every_account_exactly_once(app, db, service_urls, process_redis_url,
                                                                          tmp_path, request, gateway, crash_at,
                                                                          batched):
    """kill -9 between the gateway's charge and our commit (and at other points): the next worker
    finishes every renewal with one invoice and one capture per account, on either gateway."""
    from datetime import date, timedelta

    from webapp.models import GatewayCall, Invoice
    from webapp.services import billing, renewals
    from webapp.services.audit import Actor

    from .helpers import add_card
    stripe_gateway = request.getfixturevalue("stripe_gateway") if gateway == "stripe" else None
    env = {} if stripe_gateway is None else {name: str(app.config[name]) for name in (
        "PAYMENT_GATEWAY", "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
        "STRIPE_JS_URL")}
    agency, _ = make_agency()
    add_card(agency)
    if not batched:  # prepaid credit sends renewals the one-by-one way; batches take the fast path
        billing.buy_prepaid(agency.id, 5000, account=None, actor=Actor("user:0", "tests"))
    today = date.today()
    accounts = [make_account(agency, period_start=today - timedelta(days=30), period_end=today, anchor_day=today.day)
                for _ in range(3)]
    queue = registry.make_queue(process_redis_url, app.config["QUEUE_NAME"])
    op_ids = renewals.submit_due(today)
    if batched:
        queue.enqueue_calls("renewal_batch", [(op_ids,)])
    else:
        for op_id in op_ids:
            queue.enqueue_operation(op_id)

    crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT=crash_at,
                             AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / "crashed"), **env)
    try:
        assert _wait(lambda: crashing.poll() is not None, timeout=60), Path(crashing.log_path).read_text()[-3000:]
        assert crashing.returncode == -9
    finally:
        crashing.kill()
    worker = _start_worker(service_urls[0], process_redis_url, **env)

    def all_paid():
        db.session.expire_all()
        return db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(
            Invoice.kind == "renewal", Invoice.status == "paid")) == 3
    try:
        assert _wait(all_paid, timeout=90), Path(worker.log_path).read_text()[-3000:]
    finally:
        _stop(worker)
    for account in accounts:
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)
                                 .where(Invoice.account_id == account.id)) == 1
        assert db.session.get(HostedAccount, account.id).period_end > today
    paid = db.session.execute(sa.select(sa.func.sum(Invoice.total_cents), sa.func.sum(Invoice.prepaid_applied_cents),
                                        sa.func.sum(Invoice.card_charged_cents)).where(Invoice.status == "paid")).one()
    assert paid[0] == paid[1] + paid[2]
    charged = db.session.scalars(sa.select(Invoice).where(Invoice.status == "paid", Invoice.card_charged_cents > 0)).all()
    # What the gateway captured is exactly what our invoices say was charged: nothing twice.
    if stripe_gateway is None:
        captured = [(r["amount_cents"], None) for r in billing.gateway().history("charge") if "error" not in r["response"]]
        assert len(captured) == (3 if batched else 4)  # the three renewals (and the prepaid purchase)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(GatewayCall).where(
            GatewayCall.op == "charge", GatewayCall.outcome == "succeeded")) == len(captured)
    else:
        intents = [i for i in stripe_gateway.client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
                   if i.status == "succeeded"]
        assert sorted(i.id for i in intents) == sorted(inv.gateway_charge_id for inv in charged)
        captured = [(i.amount, i.id) for i in intents]
    assert len(captured) == len(charged)
    assert sum(amount for amount, _ in captured) == paid[2] == sum(inv.card_charged_cents for inv in charged)


def test_account_added_and_paid_then_worker_killed_ends_active_once_charged_once(app, db, service_urls,
                                                                                 process_redis_url, tmp_path):
    """A2 fault: kill -9 during provisioning of an account made through Add & Pay Now."""
    from datetime import date

    from webapp.services import accounts, billing
    from webapp.services.audit import Actor

    agency, _ = make_agency()
    actor = Actor("user:0", "tests")
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 1,
                      cvc="123", actor=actor)
    data = accounts.NewAccount(name="paid-and-killed", client_name="C", client_email="c@client.test",
                               notification_email="n@agency.test", language="en", timezone="UTC", tier="plus",
                               term="monthly", contact_limit=1000)
    app.extensions["job_queue"], real = registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]), \
        app.extensions["job_queue"]
    try:
        account, op = accounts.create(agency.id, data, request_key="k1", actor=actor)
    finally:
        app.extensions["job_queue"] = real
    crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT="provision.before_activate",
                             AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / "crashed"))
    try:
        assert crashing.wait(timeout=60) == -9
    finally:
        crashing.kill()
    worker = _start_worker(service_urls[0], process_redis_url)

    def active():
        db.session.expire_all()
        return db.session.get(HostedAccount, account.id).status == "active"
    try:
        assert _wait(active, timeout=60), Path(worker.log_path).read_text()[-3000:]
    finally:
        _stop(worker)
    assert len(billing.gateway().history("charge")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)
                             .where(AccountUser.account_id == account.id)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 1


def test_worker_killed_twice_during_a_publish_to_2000_sub_accounts_copies_each_once(app, db, service_urls,
                                                                                    process_redis_url, tmp_path):
    """P4 fault: kill -9 before a batch commits, then again right after one commits; a third worker
    finishes with exactly one copy per sub-account and exact counts."""
    from datetime import date, timedelta

    from webapp.models import Automation, PushdownCopy
    from webapp.services import pushdown
    from webapp.services.audit import Actor

    agency, _ = make_agency()
    agency.franchise_enabled = True
    db.session.commit()
    actor = Actor("user:0", "tests")
    db.session.execute(sa.insert(HostedAccount), [
        dict(agency_id=agency.id, kind="resold", name=f"fault-{i:04d}", status="active", plan_tier="plus",
             plan_term="monthly", contact_limit=1000, client_name=f"C {i}", client_email=f"c{i}@client.test",
             notification_email="n@agency.test", search_text=f"fault-{i:04d}", period_start=date.today(),
             period_end=date.today() + timedelta(days=30), anchor_day=1) for i in range(2000)])
    db.session.commit()
    automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
        "Ten steps", "subscribes", "News", [{"type": "add_tag", "tag": f"t{i}"} for i in range(10)]), actor)
    row = pushdown.create_draft(agency.id, [automation.id], actor)
    assert pushdown.select_matching(row, "fault-") == 2000
    app.extensions["job_queue"], real = registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]), \
        app.extensions["job_queue"]
    try:
        op = pushdown.publish(row, pushdown.ActivationInput("on_push"), actor)
    finally:
        app.extensions["job_queue"] = real

    def status():
        db.session.expire_all()
        return db.session.get(Operation, op.id)

    for point, marker in (("pushdown.before_batch_commit", "first"), ("pushdown.after_batch_commit", "second")):
        crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT=point,
                                 AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / marker))
        try:
            assert crashing.wait(timeout=90) == -9, Path(crashing.log_path).read_text()[-3000:]
        finally:
            crashing.kill()
    copied_after_crashes = db.session.scalar(sa.select(sa.func.count()).select_from(PushdownCopy).where(
        PushdownCopy.status == "copied"))
    assert copied_after_crashes == pushdown.BATCH  # the first batch was lost, then redone and kept once
    worker = _start_worker(service_urls[0], process_redis_url)
    try:
        assert _wait(lambda: status().status == "succeeded", timeout=120), Path(worker.log_path).read_text()[-3000:]
    finally:
        _stop(worker)
    assert status().attempts == 3
    per_account = db.session.execute(sa.select(Automation.account_id, sa.func.count()).where(
        Automation.source_pushdown_id == row.id).group_by(Automation.account_id)).all()
    assert len(per_account) == 2000 and {n for _a, n in per_account} == {1}
    db.session.expire_all()
    assert pushdown.counts([row.id])[row.id] == {"active": 2000, "inactive": 0, "missing": 0, "selected": 2000,
                                                 "failed": 0, "pending": 0}


def test_the_worker_runs_jobs_scheduled_for_later(app, db, service_urls, process_redis_url):
    """RQ's scheduler runs as a thread of `python worker.py`: a job enqueued for later runs."""
    import redis
    from rq import Queue

    queue = Queue(app.config["QUEUE_NAME"], connection=redis.Redis.from_url(process_redis_url))
    job = queue.enqueue_in(timedelta_seconds(1), "webapp.jobs.tasks.run_operation", 999_999_999)
    worker = _start_worker(service_urls[0], process_redis_url)
    try:
        assert _wait(lambda: job.get_status(refresh=True) in ("finished", "failed"), timeout=30), \
            Path(worker.log_path).read_text()[-3000:]
    finally:
        _stop(worker)
    assert "scheduler pass failed" not in Path(worker.log_path).read_text()
    assert "Redis unreachable" not in Path(worker.log_path).read_text()


def timedelta_seconds(n):
    from datetime import timedelta
    return timedelta(seconds=n)


def test_the_worker_yields_the_cpu_to_web_processes(service_urls, process_redis_url):
    """Issue 10: a worker runs 10 steps nicer than what started it (WORKER_NICE), so on a shared machine
    a page waits less behind a batch of jobs; WORKER_NICE=0 keeps the priority."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    niceness = {}
    for setting in (None, "0", "3"):
        worker = _start_worker(service_urls[0], process_redis_url, **({"WORKER_NICE": setting} if setting else {}))
        try:
            # The worker renices itself first thing; give it the moment it takes to start.
            assert _wait(lambda: os.getpriority(os.PRIO_PROCESS, worker.pid) != mine or setting == "0", timeout=20)
            time.sleep(0.5)
            niceness[setting] = os.getpriority(os.PRIO_PROCESS, worker.pid) - mine
        finally:
            _stop(worker)
    assert niceness == {None: min(10, 19 - mine), "0": 0, "3": min(3, 19 - mine)}


def test_the_work_loop_starts_again_unless_asked_to_stop(monkeypatch):
    """RQ ends its work loop on an error it does not expect (Redis restarting while a job ran ended one of
    the load test's two workers for good). worker.py starts a new loop, under a new name, until a stop
    is requested; a stop requested while idle (no `_stop_requested`, only the date) ends it too."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("worker_main", Path(__file__).resolve().parents[1] / "worker.py")
    worker_main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker_main)
    monkeypatch.setattr(worker_main.time, "sleep", lambda _s: None)

    class FakeWorker:
        def __init__(self, n, outcome):
            self.n, self.outcome = n, outcome
            self._stop_requested, self._shutdown_requested_date = False, None

        def work(self, **_kwargs):
            if self.outcome == "busy stop":
                self._stop_requested, self._shutdown_requested_date = True, "now"
            elif self.outcome == "idle stop":
                self._shutdown_requested_date = "now"

    for last in ("busy stop", "idle stop"):
        outcomes = iter(["error", "timeout", last])
        made = []

        def make(n):
            made.append(n)
            return FakeWorker(n, next(outcomes))
        assert worker_main.work_until_stopped(make) == 0
        assert made == [0, 1, 2]
