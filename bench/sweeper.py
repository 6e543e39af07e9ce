"""Benchmark of the sweeper's periodic tasks (issues 21 and 22) on PostgreSQL: what each pass costs when
nothing is due, at 100 000 accounts (monthly, annual and trial, their period ends spread over a year,
verified custom domains and receipts already sent), beside a floor measured in the same run: one
primary-key read of an account.

The sweeper runs every task on every pass (SWEEP_INTERVAL), so a task that scans is paid all day long.

    python bench/sweeper.py [--accounts 100000] [--passes 30]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench._common import fresh_database, make_app, summarize  # noqa: E402


def seed(app, accounts: int) -> None:
    from webapp.extensions import db
    from webapp.models import Agency, HostedAccount, User, utcnow
    from webapp.models.accounts import search_text_for
    rng = random.Random(11)
    today, now = date.today(), utcnow()
    with app.app_context():
        agencies = []
        for n in range(50):
            agency = Agency(name=f"Agency {n}", referral_code=f"bench{n}", currency="USD")
            db.session.add(agency)
            agencies.append(agency)
        db.session.flush()
        db.session.add_all([User(email=f"owner{a.id}@bench.test", name="Owner", role="agency", team_role="owner",
                                 agency_id=a.id, password_hash=None) for a in agencies])
        rows = []
        for n in range(accounts):
            term = rng.choices(("monthly", "annual", "trial"), (70, 20, 10))[0]
            end = today + timedelta(days=rng.randint(1, 365 if term == "annual" else 30))
            name = f"acct{n:06d}"
            domain = f"{name}.example.test" if n % 10 == 0 else None
            rows.append(dict(agency_id=agencies[n % 50].id, kind="resold", name=name, status="active",
                             plan_tier="plus", plan_term=term, contact_limit=1000, created_at=now,
                             period_start=end - timedelta(days=30), period_end=end, anchor_day=end.day,
                             client_name=f"Client {n}", client_email=f"c{n}@bench.test",
                             notification_email=f"ops{n % 50}@bench.test", custom_domain=domain,
                             custom_domain_verified_at=now if domain else None,
                             custom_domain_checked_at=now if domain else None,
                             search_text=search_text_for(name, f"Client {n}", f"c{n}@bench.test", domain)))
        for i in range(0, len(rows), 5000):
            db.session.execute(sa.insert(HostedAccount), rows[i:i + 5000])
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=30)
    args = parser.parse_args()
    with fresh_database("postgresql") as url:
        app = make_app(url)
        seed(app, args.accounts)
        with app.app_context():
            from webapp.extensions import db
            from webapp.models import HostedAccount
            # Nothing is due in the timed passes: the trial and renewal notices of the next days were sent
            # by a first pass (untimed), as on any day after the first.
            for task in app.extensions["periodic_tasks"]:
                if task.__name__ in ("send_trial_endings", "send_upcoming_renewals"):
                    while task():
                        pass
            db.session.remove()

            def floor():
                db.session.get(HostedAccount, random.randint(1, args.accounts), populate_existing=True)
                db.session.rollback()

            results = {"floor: one account by id": _time(floor, args.passes)}
            for task in app.extensions["periodic_tasks"]:
                results[task.__name__] = _time(task, args.passes)
                db.session.remove()
        print(f"{args.accounts:,} accounts; median and p95 of {args.passes} passes, nothing due")
        base = results["floor: one account by id"]["p50"]
        for name, figures in results.items():
            print(f"  {name:<34} p50 {figures['p50']:7.2f} ms  p95 {figures['p95']:7.2f} ms  "
                  f"({figures['p50'] / base:6.1f}x the floor)")
    return 0


def _time(fn, passes: int) -> dict:
    samples = []
    for _ in range(passes):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return summarize(samples)


if __name__ == "__main__":
    sys.exit(main())
