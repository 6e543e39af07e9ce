"""Benchmark of Add & Pay Now (issue 5, A2): 200 accounts created through the same service as the
form (validation, the first charge through the sandbox gateway, the account and its operation),
each timed until its credentials are ready. Once with the embedded queue (a worker thread in the
process, SQLite) and once with Redis and one `python worker.py` process (PostgreSQL).

    python bench/provisioning.py [--accounts 200]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import fresh_database, make_app, summarize  # noqa: E402


def prepare(app):
    from webapp.extensions import db
    from webapp.models import Agency, User, utcnow
    from webapp.services import billing
    from webapp.services.audit import Actor
    with app.app_context():
        agency = Agency(name="Bench Agency", referral_code="bench")
        db.session.add(agency)
        db.session.flush()
        db.session.add(User(email="b@agency.test", name="B", password_hash="x", role="agency", team_role="owner", agency_id=agency.id, email_confirmed_at=utcnow()))
        db.session.commit()
        billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 2,
                          cvc="123", actor=Actor("system", "bench"))
        return agency.id


def run(app, agency_id: int, count: int, label: str) -> dict:
    from webapp.extensions import db
    from webapp.models import Operation
    from webapp.services import accounts
    from webapp.services.audit import Actor
    samples = []
    for i in range(count):
        data = accounts.NewAccount(name=f"{label}-{i}", client_name=f"Client {i}", client_email=f"c{i}@client.test",
                                   notification_email="n@agency.test", language="en", timezone="UTC",
                                   tier="plus", term="monthly" if i % 4 else "trial",
                                   contact_limit=1000 if i % 4 else 500)
        started = time.perf_counter()
        with app.app_context():
            _account, op = accounts.create(agency_id, data, request_key=f"{label}-{i}", actor=Actor("system", "bench"))
            op_id = op.id
            db.session.remove()
        while True:
            with app.app_context():
                row = db.session.get(Operation, op_id)
                status, ready = row.status, bool(row.result and row.result.get("password"))
                db.session.remove()
            if status == "failed":
                raise RuntimeError(f"provisioning {op_id} failed")
            if status == "succeeded" and ready:
                break
            time.sleep(0.005)
        samples.append((time.perf_counter() - started) * 1000)
    return summarize(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    results = {}

    with fresh_database("sqlite") as url:
        app = make_app(url, ARGON2_PARAMS=(3, 65536, 4))  # the production password cost
        agency_id = prepare(app)
        app.extensions["job_queue"].start_in_thread(app)
        results["embedded queue, SQLite"] = run(app, agency_id, args.accounts, "emb")

    import redis
    redis.Redis.from_url(args.redis).flushdb()
    with fresh_database("postgresql") as url:
        app = make_app(url, REDIS_URL=args.redis)
        agency_id = prepare(app)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": args.redis, "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            time.sleep(2)
            results["Redis + 1 worker, PostgreSQL"] = run(app, agency_id, args.accounts, "red")
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    redis.Redis.from_url(args.redis).flushdb()

    print(f"\n== Add & Pay Now -> credentials ready, {args.accounts} accounts each (ms)")
    for label, s in results.items():
        flag = "" if s["p95"] <= 2000 else "   <-- over the 2 s target"
        print(f"{label:32s} p50 {s['p50']:7.1f}   p95 {s['p95']:7.1f}   mean {s['mean']:7.1f}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
