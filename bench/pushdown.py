"""Benchmark of pushdown (issue 7, P4/P5) on PostgreSQL + Redis with a real `python worker.py`.

One 10-step automation published to 10 000 sub-accounts: the time from "Publish now" to every copy
made, with one worker; in the same run, the floor: the same automation, version and copy rows
written by one bulk INSERT ... SELECT each in one transaction. Then "Activate all" (one UPDATE).
Targets: publish <= 10 s and <= 5x the floor; activate-all <= 2 s.

    python bench/pushdown.py [--accounts 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench._common import fresh_database, make_app  # noqa: E402

STEPS = [{"type": "send_email", "subject": f"Mail {i}"} if i % 2 == 0 else {"type": "wait", "amount": i, "unit": "days"}
         for i in range(10)]


def seed(app, accounts: int):
    from webapp.extensions import db
    from webapp.models import Agency, HostedAccount, User, utcnow
    from webapp.models.accounts import search_text_for
    from webapp.services import pushdown
    from webapp.services.audit import Actor
    today = date.today()
    now = datetime.now(timezone.utc)
    with app.app_context():
        agency = Agency(name="Franchise Agency", referral_code="franchise", franchise_enabled=True)
        db.session.add(agency)
        db.session.flush()
        db.session.add(User(email="f@agency.test", name="F", password_hash="x", role="agency", team_role="owner", agency_id=agency.id, email_confirmed_at=utcnow()))
        db.session.commit()
        rows = []
        for i in range(accounts):
            name = f"franchisee-{i:05d}"
            rows.append(dict(agency_id=agency.id, kind="resold", name=name, status="active", plan_tier="plus",
                             plan_term="monthly", contact_limit=1000, created_at=now, period_start=today,
                             period_end=today + timedelta(days=30), anchor_day=today.day, trial_extensions=0,
                             language="en", timezone="UTC", client_name=f"Franchisee {i}",
                             client_email=f"f{i}@example.test", notification_email="n@agency.test",
                             branding_overridden=False, search_text=search_text_for(name, f"Franchisee {i}", "", None)))
            if len(rows) == 5000:
                db.session.execute(sa.insert(HostedAccount.__table__), rows)
                rows = []
        if rows:
            db.session.execute(sa.insert(HostedAccount.__table__), rows)
        db.session.commit()
        actor = Actor("system:bench", "bench")
        # Issue 23: a send-e-mail step's message is a template of the parent account, copied with the step.
        from webapp.services import templates
        message = templates.create_in_account(pushdown.parent_account(agency.id), templates.TemplateInput(
            "Bench mail", "", "<h1>Hello</h1><p>A message of a few words.</p>"), actor)
        steps = [dict(s, from_name="Bench", template_id=message.id) if s["type"] == "send_email" else s for s in STEPS]
        automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
            "Ten steps", "subscribes", "Newsletter", steps), actor)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        return agency.id, automation.id


def publish_with_worker(app, url, redis_url, agency_id, automation_id, accounts) -> tuple[float, float]:
    from webapp.extensions import db
    from webapp.models import Operation
    from webapp.services import pushdown
    from webapp.services.audit import Actor
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING",
           "SWEEP_INTERVAL": "3600"}
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    time.sleep(2)  # let it connect
    try:
        with app.app_context():
            actor = Actor("system:bench", "bench")
            row = pushdown.create_draft(agency_id, [automation_id], actor)
            pushdown.select_matching(row, "franchisee-")
            started = time.perf_counter()
            op = pushdown.publish(row, pushdown.ActivationInput("none"), actor)
            op_id, row_id = op.id, row.id
            while True:
                db.session.expire_all()
                status = db.session.get(Operation, op_id).status
                if status in ("succeeded", "failed"):
                    break
                if time.perf_counter() - started > 300:
                    raise RuntimeError("the publish did not finish in 5 minutes")
                time.sleep(0.05)
            published = time.perf_counter() - started
            numbers = pushdown.counts([row_id])[row_id]
            assert status == "succeeded" and numbers["inactive"] == accounts, (status, numbers)
            started = time.perf_counter()
            pushdown.switch(db.session.get(pushdown.Pushdown, row_id), True, actor)
            switched = time.perf_counter() - started
            assert pushdown.counts([row_id])[row_id]["active"] == accounts
        return published, switched
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def floor(app, agency_id: int, automation_id: int) -> float:
    """The same automation, version and copy rows, written by bulk INSERT ... SELECT in one transaction."""
    from webapp.extensions import db
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with app.app_context():
        started = time.perf_counter()
        with db.engine.begin() as conn:
            pd = conn.execute(sa.text(
                "INSERT INTO pushdowns (agency_id, automation_id, version_number, status, activation_mode, active, "
                "created_at, publish_count) VALUES (:a, :auto, 1, 'published', 'none', false, :now, 1) RETURNING id"),
                {"a": agency_id, "auto": automation_id, "now": now}).scalar()
            conn.execute(sa.text(
                "INSERT INTO automations (account_id, name, active, current_version, source_pushdown_id, created_at, "
                "updated_at) SELECT id, 'Ten steps', false, 1, :pd, :now, :now FROM hosted_accounts "
                "WHERE agency_id = :a AND kind = 'resold'"), {"pd": pd, "now": now, "a": agency_id})
            conn.execute(sa.text(
                "INSERT INTO automation_versions (automation_id, number, name, trigger_kind, trigger_config, steps, "
                "created_at) SELECT id, 1, 'Ten steps', 'subscribes', CAST(:cfg AS json), CAST(:steps AS json), :now "
                "FROM automations WHERE source_pushdown_id = :pd"),
                {"pd": pd, "now": now, "cfg": json.dumps({"list": "Newsletter"}), "steps": json.dumps(STEPS)})
            conn.execute(sa.text(
                "INSERT INTO pushdown_copies (pushdown_id, account_id, automation_id, version_number, status, updated_at) "
                "SELECT :pd, account_id, id, 1, 'copied', :now FROM automations WHERE source_pushdown_id = :pd"),
                {"pd": pd, "now": now})
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()
    import redis
    redis.Redis.from_url(args.redis).flushdb()
    with fresh_database("postgresql") as url:
        app = make_app(url, REDIS_URL=args.redis)
        agency_id, automation_id = seed(app, args.accounts)
        print(f"{args.accounts:,} sub-accounts, one 10-step automation", flush=True)
        published, switched = publish_with_worker(app, url, args.redis, agency_id, automation_id, args.accounts)
        bulk = floor(app, agency_id, automation_id)
        print("\n== pushdown")
        print(f"publish to {args.accounts:,} (1 worker): {published:6.2f} s   target <= 10 s"
              + ("" if published <= 10 else "   <-- over"))
        print(f"floor (bulk INSERT ... SELECT):      {bulk:6.2f} s   publish = {published / bulk:.1f}x the floor, "
              "target <= 5x" + ("" if published <= 5 * bulk else "   <-- over"))
        print(f"activate all:                        {switched:6.2f} s   target <= 2 s"
              + ("" if switched <= 2 else "   <-- over"))
    redis.Redis.from_url(args.redis).flushdb()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
