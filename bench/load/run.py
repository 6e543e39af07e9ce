"""Load test (issue 10): several gunicorn processes and `python worker.py` workers on one PostgreSQL
and one Redis, driven by locust (headless, bounded, loopback only), with faults halfway: kill -9 of
a job worker (restarted), kill -9 of a web process (gunicorn starts another), and a Redis restart.
Then the checks: no operation stuck, one admin per provisioned account, no period invoiced twice,
credit ledgers that balance, pushdown copies unique, no 5xx. Prints the p95 of the Resold fragment.

    python bench/load/run.py [--users 200] [--seconds 60] [--web 2] [--workers 2]

Needs the bench extra (`pip install -e '.[bench]'`: locust) and PostgreSQL (DATABASE_URL or the
machine's). Redis is a private redis-server on a free port, so restarting it disturbs nothing else.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench._common import fresh_database, make_app  # noqa: E402

PASSWORD = "load-agency-pass-2026"
ADMIN_PASSWORD = "load-admin-pass-2026"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int, workdir: str) -> subprocess.Popen:
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.exceptions.RedisError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def seed(app, accounts: int) -> dict:
    from webapp.extensions import db
    from webapp.models import AccountUser, Agency, HostedAccount, User
    from webapp.models.accounts import search_text_for
    from webapp.services import billing, pushdown
    from webapp.services.audit import Actor
    from webapp.services.passwords import hash_password
    today = date.today()
    now = datetime.now(timezone.utc)
    with app.app_context():
        agency = Agency(name="Load Agency", referral_code="load", franchise_enabled=True)
        db.session.add(agency)
        db.session.flush()
        db.session.add(User(email="load@agency.test", name="Load", password_hash=hash_password(PASSWORD),
                            role="agency", agency_id=agency.id))
        db.session.commit()
        actor = Actor("system:load", "load test")
        billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=today.year + 2, cvc="123",
                          actor=actor)
        rows = []
        rng = random.Random(3)
        for i in range(accounts):
            name = f"acct-{i}"
            term = rng.choice(["monthly", "annual", "trial"])
            rows.append(dict(agency_id=agency.id, kind="resold", name=name, status="active", plan_tier="plus",
                             plan_term=term, contact_limit=1000, created_at=now - timedelta(days=rng.randint(1, 300)),
                             period_start=today - timedelta(days=5), period_end=today + timedelta(days=rng.randint(5, 300)),
                             anchor_day=today.day, trial_extensions=0, language="en", timezone="UTC",
                             client_name=f"Client {i}", client_email=f"c{i}@example.test",
                             notification_email="load@agency.test", branding_overridden=False,
                             search_text=search_text_for(name, f"Client {i}", f"c{i}@example.test", None)))
        db.session.execute(sa.insert(HostedAccount.__table__), rows)
        db.session.commit()
        ids = db.session.execute(sa.select(HostedAccount.id, HostedAccount.name).where(
            HostedAccount.agency_id == agency.id).order_by(HostedAccount.id)).all()
        admin_hash = hash_password(ADMIN_PASSWORD)
        admins = [name for _id, name in ids[:40]]
        db.session.execute(sa.insert(AccountUser.__table__), [
            dict(account_id=i, username="admin", email=f"admin-{i}@example.test", password_hash=admin_hash,
                 failed_logins=0, session_epoch=0) for i, _name in ids[:40]])
        db.session.commit()
        automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
            "Load welcome", "subscribes", "News", [{"type": "send_email", "subject": "Hi"},
                                                   {"type": "wait", "amount": 1, "unit": "days"}]), actor)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        catalog = app.extensions["catalog"]
        return {"email": "load@agency.test", "password": PASSWORD, "admin_password": ADMIN_PASSWORD,
                "account_ids": [i for i, _n in ids[:2000]], "account_names": [n for _i, n in ids[:500]],
                "admins": admins, "automation_id": automation.id,
                "trial_limit": min(c for c in catalog.contact_limits)}


def checks(app) -> dict[str, int]:
    """Each figure must be 0."""
    from webapp.extensions import db
    with app.app_context(), db.engine.connect() as conn:
        q = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
        return {
            "operations not finished": q("SELECT count(*) FROM operations WHERE status IN ('queued', 'running')"),
            "operations failed": q("SELECT count(*) FROM operations WHERE status = 'failed'"),
            "active accounts without exactly one admin": q(
                "SELECT count(*) FROM hosted_accounts h WHERE h.status = 'active' AND h.provisioned_at IS NOT NULL "
                "AND (SELECT count(*) FROM account_users u WHERE u.account_id = h.id AND u.username = 'admin') <> 1"),
            "periods invoiced twice": q(
                "SELECT count(*) FROM (SELECT account_id, period_key FROM invoices WHERE account_id IS NOT NULL "
                "AND period_key IS NOT NULL GROUP BY account_id, period_key HAVING count(*) > 1) d"),
            "credit ledgers that do not balance": q(
                "SELECT count(*) FROM credit_balances b WHERE b.balance <> "
                "(SELECT coalesce(sum(e.delta), 0) FROM credit_entries e WHERE e.balance_id = b.id)"),
            "duplicate pushdown copies": q(
                "SELECT count(*) FROM (SELECT source_pushdown_id, account_id FROM automations WHERE "
                "source_pushdown_id IS NOT NULL GROUP BY source_pushdown_id, account_id HAVING count(*) > 1) d"),
            "paid invoices charged twice": q(
                "SELECT count(*) FROM (SELECT invoice_id FROM gateway_calls WHERE op = 'charge' AND "
                "outcome = 'succeeded' GROUP BY invoice_id HAVING count(*) > 1) d"),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--spawn-rate", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--web", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--no-faults", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="agencyhq-load-")
    redis_port, web_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis_proc = start_redis(redis_port, work)
    procs: list[subprocess.Popen] = []
    try:
        with fresh_database("postgresql") as url:
            app = make_app(url, REDIS_URL=redis_url, ARGON2_PARAMS=(2, 19456, 1))
            fixture = seed(app, args.accounts)
            fixture["port"] = web_port
            fixture_path = Path(work) / "fixture.json"
            fixture_path.write_text(json.dumps(fixture))
            env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "PLATFORM_DOMAIN": "localhost",
                   "PUBLIC_PORT": str(web_port), "SECRET_KEY": "load-test-secret", "LOG_LEVEL": "WARNING",
                   "SWEEP_INTERVAL": "5", "OPERATION_STALE_SECONDS": "20", "OPERATION_REQUEUE_SECONDS": "10",
                   "SESSION_COOKIE_SECURE": "0"}
            web_log = open(Path(work) / "web.log", "w")
            web = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT,
                                   env={**env, "BIND": f"127.0.0.1:{web_port}", "WEB_CONCURRENCY": str(args.web),
                                        "WEB_THREADS": "4", "LOG_LEVEL": "info"},
                                   stdout=web_log, stderr=subprocess.STDOUT)
            procs.append(web)
            worker_log = open(Path(work) / "workers.log", "w")

            def start_worker(n):
                p = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env={**env, "WORKER_NAME": f"load-{n}"},
                                     stdout=subprocess.DEVNULL, stderr=worker_log)
                procs.append(p)
                return p
            workers = [start_worker(n) for n in range(args.workers)]
            time.sleep(4)
            locust = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(ROOT / "bench/load/locustfile.py"), "--headless",
                 "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.seconds}s",
                 "--host", f"http://127.0.0.1:{web_port}", "--csv", str(Path(work) / "stats"), "--only-summary",
                 "--stop-timeout", "10"], cwd=ROOT, env={**env, "LOAD_FIXTURE": str(fixture_path)},
                stdout=subprocess.DEVNULL, stderr=open(Path(work) / "locust.log", "w"))
            started = time.time()
            if not args.no_faults:
                time.sleep(args.seconds / 2)
                os.kill(workers[0].pid, signal.SIGKILL)
                workers[0].wait()
                print(f"  t={time.time() - started:.0f}s  kill -9 worker load-0; starting another", flush=True)
                workers[0] = start_worker(args.workers)
                children = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True).stdout.split()
                if children:
                    os.kill(int(children[0]), signal.SIGKILL)
                    print(f"  t={time.time() - started:.0f}s  kill -9 web process {children[0]} (gunicorn starts another)",
                          flush=True)
                time.sleep(args.seconds / 6)
                redis_proc.kill()
                redis_proc.wait()
                redis_proc = start_redis(redis_port, work)
                print(f"  t={time.time() - started:.0f}s  Redis restarted (empty)", flush=True)
            locust.wait(timeout=args.seconds + 120)
            ended = time.time()
            # Every operation must end within 60 s of the end of the load.
            with app.app_context():
                from webapp.extensions import db
                while time.time() - ended < 60:
                    with db.engine.connect() as conn:
                        left = conn.execute(sa.text(
                            "SELECT count(*) FROM operations WHERE status IN ('queued', 'running')")).scalar()
                    if not left:
                        break
                    time.sleep(1)
            drained = time.time() - ended
            stats = {row["Name"]: row for row in csv.DictReader(open(Path(work) / "stats_stats.csv"))}
            failures = list(csv.DictReader(open(Path(work) / "stats_failures.csv")))
            web_log.flush()
            five_xx = sum(1 for line in open(Path(work) / "web.log") if " status=5" in line)
            print(f"\n== load: {args.users} users for {args.seconds} s, {args.web} web processes, {args.workers} workers")
            for name in sorted(stats):
                row = stats[name]
                print(f"  {name:24} {int(row['Request Count']):7d} req  {int(row['Failure Count']):4d} fail  "
                      f"p50 {row['50%']:>5} ms  p95 {row['95%']:>5} ms")
            resold = stats.get("resold fragment", {})
            print(f"\nResold fragment p95: {resold.get('95%')} ms (target <= 100 ms)")
            print(f"5xx in the web log: {five_xx}; locust failures: {len(failures)}")
            for f in failures[:10]:
                print(f"  failure: {f['Method']} {f['Name']}: {f['Error'][:150]} x{f['Occurrences']}")
            print(f"operations finished {drained:.0f} s after the load (target <= 60 s)")
            bad = checks(app)
            for name, value in bad.items():
                print(f"  {name}: {value}")
            # A request cut by the kill -9 of its web process is a dropped connection, not an error answer.
            http_failures = sum(int(f["Occurrences"]) for f in failures if "HTTPError" in f["Error"])
            print(f"requests answered with an error status: {http_failures}")
            ok = five_xx == 0 and http_failures == 0 and not any(bad.values()) and drained <= 60
            print("\nALL CHECKS PASSED" if ok else "\nSOME CHECKS FAILED", f"(logs in {work})")
            return 0 if ok else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        redis_proc.kill()


if __name__ == "__main__":
    raise SystemExit(main())
