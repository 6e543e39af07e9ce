"""Benchmark of renewals (issue 4, B2) on PostgreSQL + Redis with real `python worker.py` processes.

100 000 accounts, 5 000 of them due today. For 1 and then 2 workers: the time from the sweep to
every due account renewed (invoice paid, card charged through the sandbox gateway, period moved),
and in the same run the floor: writing the same invoice, line and gateway-call rows and moving the
same periods with bulk SQL in one transaction. Then a second sweep the same day must charge nothing.
The benchmark holds the sweeper's lock, so the workers' own sweepers never start the renewals
before the timer. Exits 1 if a second sweep charged anything or 2 workers miss 200 renewals/s.

    python bench/renewals.py [--accounts 100000] [--due 5000]
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench._common import fresh_database, make_app  # noqa: E402

TARGET = 200  # renewals/s with 2 workers (issue 4)


def seed(app, accounts: int, due: int):
    from webapp.extensions import db
    from webapp.models import Agency, HostedAccount, User, utcnow
    from webapp.models.accounts import search_text_for
    from webapp.services import billing
    from webapp.services.audit import Actor
    rng = random.Random(7)
    today = date.today()
    now = datetime.now(timezone.utc)
    with app.app_context():
        agency = Agency(name="Renewing Agency", referral_code="renew")
        db.session.add(agency)
        db.session.flush()
        db.session.add(User(email="r@agency.test", name="R", password_hash="x", role="agency", team_role="owner", agency_id=agency.id, email_confirmed_at=utcnow()))
        db.session.commit()
        billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=today.year + 2, cvc="123",
                          actor=Actor("system", "bench"))
        rows = []
        for i in range(accounts):
            is_due = i < due
            start = today - timedelta(days=30) if is_due else today - timedelta(days=rng.randint(0, 25))
            end = today if is_due else today + timedelta(days=rng.randint(1, 30))
            name = f"renew-{i}"
            rows.append(dict(agency_id=agency.id, kind="resold", name=name, status="active", plan_tier="plus",
                             plan_term="monthly", contact_limit=1000, created_at=now - timedelta(days=40),
                             period_start=start, period_end=end, anchor_day=end.day, trial_extensions=0,
                             language="en", timezone="UTC", client_name=f"Client {i}",
                             client_email=f"c{i}@example.test", notification_email="n@agency.test",
                             branding_overridden=False, search_text=search_text_for(name, f"Client {i}", "", None)))
            if len(rows) == 5000:
                db.session.execute(sa.insert(HostedAccount.__table__), rows)
                rows = []
        if rows:
            db.session.execute(sa.insert(HostedAccount.__table__), rows)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        return agency.id


def reset(app, due: int):
    """Back to the morning: the due accounts unpaid again, and no trace of the renewals."""
    from webapp.extensions import db
    today = date.today()
    with app.app_context():
        with db.engine.begin() as conn:
            for table in ("gateway_calls", "credit_entries", "invoice_lines", "invoices", "operations",
                          "outbound_emails"):
                conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(sa.text("DELETE FROM sandbox_gateway_records WHERE op <> 'tokenize'"))
            conn.execute(sa.text("UPDATE hosted_accounts SET period_end = :today, period_start = :start "
                                 "WHERE name IN (SELECT 'renew-' || g FROM generate_series(0, :n) g)"),
                         {"today": today, "start": today - timedelta(days=30), "n": due - 1})


def paid_count(app) -> int:
    from webapp.extensions import db
    with app.app_context():
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM invoices WHERE kind='renewal' AND status='paid'")).scalar()


def charges(app) -> int:
    from webapp.extensions import db
    with app.app_context():
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM sandbox_gateway_records WHERE op='charge'")).scalar()


def hold_the_sweepers(redis_url: str) -> None:
    """The workers' own sweepers must not start the renewals before the timer does: a worker's sweeper
    makes its first pass as it starts, so the benchmark takes the sweeper's lock for the whole run
    and makes the sweeps itself."""
    import redis

    from webapp.jobs.sweeper import LOCK_KEY
    redis.Redis.from_url(redis_url).set(LOCK_KEY, b"bench", ex=3600)


def run_workers(app, url, redis_url, workers: int, due: int) -> tuple[float, int]:
    """Seconds from the sweep to all `due` renewed, and the charges a second sweep made."""
    from webapp.services import renewals
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING",
           "SWEEP_INTERVAL": "3600"}
    hold_the_sweepers(redis_url)
    if paid_count(app) or charges(app):
        raise RuntimeError("renewals were paid before the workers started: the benchmark would be wrong")
    procs = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
             for _ in range(workers)]
    time.sleep(2)  # let them connect
    try:
        if paid_count(app) or charges(app):
            raise RuntimeError("a worker renewed accounts before the timer started: the figure would be inflated")
        started = time.perf_counter()
        with app.app_context():
            renewals.sweep_renewals()
        swept = time.perf_counter()
        while paid_count(app) < due:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker exited before the renewals were done (its error is above)")
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"only {paid_count(app)} of {due} renewed after 10 minutes")
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        print(f"  {workers} worker(s): sweep {swept - started:.2f} s, all {due} renewed in {elapsed:.2f} s "
              f"-> {due / elapsed:.0f} renewals/s", flush=True)
        before = charges(app)
        with app.app_context():
            renewals.sweep_renewals()
        time.sleep(3)
        again = charges(app) - before
        print(f"  second sweep the same day: {again} new charges (must be 0)", flush=True)
        return elapsed, again
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def floor(app, agency_id: int, due: int) -> float:
    """The same rows written by bulk SQL in one transaction: what the database alone costs."""
    from webapp.extensions import db
    today = date.today()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with app.app_context():
        ids = [r[0] for r in db.session.execute(sa.text(
            "SELECT id FROM hosted_accounts WHERE period_end <= :t ORDER BY id"), {"t": today})]
        started = time.perf_counter()
        with db.engine.begin() as conn:
            inv = conn.execute(sa.text(
                "INSERT INTO invoices (agency_id, account_id, kind, status, number, period_key, period_start, "
                "period_end, currency, list_price_cents, discount_percent, discount_cents, total_cents, "
                "prepaid_applied_cents, card_charged_cents, idempotency_key, attempts, created_at, paid_at) "
                "SELECT :a, id, 'renewal', 'paid', 'F-' || id, :k, :s, :e, 'USD', 7000, 25, 1750, 5250, 0, 5250, "
                "'floor:' || id, 1, :now, :now FROM hosted_accounts WHERE id = ANY(:ids) RETURNING id"),
                {"a": agency_id, "k": today.isoformat(), "s": today, "e": today + timedelta(days=30), "now": now,
                 "ids": ids}).scalars().all()
            conn.execute(sa.text("INSERT INTO invoice_lines (invoice_id, description, quantity, unit_cents, amount_cents) "
                                 "SELECT i, 'renewal', 1, 7000, 7000 FROM unnest(CAST(:ids AS int[])) i"), {"ids": inv})
            conn.execute(sa.text("INSERT INTO gateway_calls (agency_id, invoice_id, op, amount_cents, outcome, created_at) "
                                 "SELECT :a, i, 'charge', 5250, 'succeeded', :now FROM unnest(CAST(:ids AS int[])) i"),
                         {"a": agency_id, "ids": inv, "now": now})
            conn.execute(sa.text("UPDATE hosted_accounts SET period_start = period_end, "
                                 "period_end = period_end + 30 WHERE id = ANY(:ids)"), {"ids": ids})
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=5_000)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    import redis
    redis.Redis.from_url(args.redis).flushdb()
    with fresh_database("postgresql") as url:
        app = make_app(url, REDIS_URL=args.redis)
        agency_id = seed(app, args.accounts, args.due)
        print(f"{args.accounts:,} accounts, {args.due:,} due today", flush=True)
        results, charged_again = {}, {}
        for workers in (1, 2):
            reset(app, args.due)
            results[workers], charged_again[workers] = run_workers(app, url, args.redis, workers, args.due)
        reset(app, args.due)
        bulk = floor(app, agency_id, args.due)
        print(f"  floor (bulk SQL, same rows): {bulk:.2f} s -> {args.due / bulk:.0f} rows/s")
        print("\n== renewals/s")
        for workers, elapsed in results.items():
            rate = args.due / elapsed
            print(f"{workers} worker(s): {rate:7.0f} renewals/s   ({elapsed / bulk:5.1f}x the bulk-SQL floor)"
                  + ("" if workers == 1 or rate >= TARGET else f"   <-- under the {TARGET}/s target"))
    redis.Redis.from_url(args.redis).flushdb()
    failures = [f"a second sweep with {w} worker(s) made {n} charges" for w, n in charged_again.items() if n]
    if args.due / results[2] < TARGET:
        failures.append(f"2 workers renewed {args.due / results[2]:.0f}/s, under the {TARGET}/s target")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
