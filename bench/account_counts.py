"""Benchmark of the account counters (issue 25): what the Resold tab's counts cost at 100 000 accounts in one
agency (plus 200 000 of 50 other agencies), read from account_counts against count(*) over hosted_accounts,
side by side in the same run, on SQLite and on PostgreSQL.

1. The counts of a view: its matching accounts (resold.count) and the paid accounts of the discount, from
   the counters and by count(*) (the statements resold used before revision 0028).
2. The whole results fragment (an htmx request through the Flask stack), with the counters and with
   count(*) put back in their place.
3. What the triggers cost the writes: one account's status changed and committed, and one UPDATE of many
   accounts (rolled back), in rounds with the triggers and with them dropped (then made again).

    python bench/account_counts.py                      # both databases
    python bench/account_counts.py --only postgresql --runs 20
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from bench._common import fresh_database, make_app, summarize, timed  # noqa: E402
from bench.resold_tab import seed  # noqa: E402

VIEWS = [
    ("default (active)", {}, ""),
    ("status=expired", {"status": "expired"}, "status=expired"),
    ("status=all", {"status": "all"}, "status=all"),
    ("plan=trial", {"plan_types": ("trial",)}, "plan=trial"),
    ("plan=monthly+annual", {"plan_types": ("monthly", "annual")}, "plan=monthly&plan=annual"),
]


def _count_star(db, resold, HostedAccount, PAID):
    """The counts as they were: count(*) of the view's matches and of the paid accounts."""
    def total(scope, view, statements, params):
        return db.session.scalar(statements.count, params) or 0

    def paid(scope):
        return db.session.scalar(scope.select(HostedAccount, sa.func.count()).where(PAID)) or 0
    return total, paid


def _migration():
    import importlib.util
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0028_account_counts.py"
    spec = importlib.util.spec_from_file_location("migration_0028", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _in_step(db) -> bool:
    from webapp.models import AccountCount, HostedAccount
    key = (HostedAccount.agency_id, HostedAccount.kind, HostedAccount.status, HostedAccount.plan_term)
    truth = {tuple(r[:4]): r[4] for r in db.session.execute(
        sa.select(*key, sa.func.count()).where(HostedAccount.agency_id.is_not(None)).group_by(*key))}
    kept = {(r.agency_id, r.kind, r.status, r.plan_term): r.n for r in db.session.scalars(sa.select(AccountCount))
            if r.n}
    return truth == kept


def line(kind, label, ours, base):
    print(f"[{kind}] {label:34s} counters p50 {ours['p50']:7.2f} p95 {ours['p95']:7.2f} ms | "
          f"count(*) p50 {base['p50']:7.2f} p95 {base['p95']:7.2f} ms | x{base['p50'] / ours['p50']:6.1f}",
          flush=True)


def run_backend(kind: str, args) -> None:
    rng = random.Random(42)
    with fresh_database(kind, args.postgres) as url:
        app = make_app(url)
        started = time.perf_counter()
        agency_id, session_id = seed(app, args.accounts, args.others, args.other_agencies, rng)
        print(f"[{kind}] seeded {args.accounts + args.others:,} accounts in {time.perf_counter() - started:.0f} s "
              f"(the triggers counting them)", flush=True)
        from webapp.extensions import db
        from webapp.models import HostedAccount
        from webapp.models.accounts import PAID
        from webapp.services import resold
        from webapp.services.scope import AgencyScope
        counters_total, counters_paid = resold._total, resold.paid_account_count
        star_total, star_paid = _count_star(db, resold, HostedAccount, PAID)
        scope = AgencyScope(agency_id)

        print(f"\n== [{kind}] 1. the counts of a view (matching accounts + paid accounts), ms")
        with app.app_context():
            for label, fields, _query in VIEWS:
                view = resold.View(**fields)

                def ours():
                    resold.count(scope, view), counters_paid(scope)
                    db.session.rollback()

                def base():
                    resold._total = star_total
                    try:
                        resold.count(scope, view), star_paid(scope)
                    finally:
                        resold._total = counters_total
                    db.session.rollback()
                resold._total = star_total
                expected = (resold.count(scope, view), star_paid(scope))
                resold._total = counters_total
                got = (resold.count(scope, view), counters_paid(scope))
                assert got == expected, (label, got, expected)
                line(kind, label, summarize(timed(ours, args.runs)), summarize(timed(base, args.runs)))

        print(f"\n== [{kind}] 2. the whole results fragment (htmx request), ms")
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = session_id
            session["_fresh"] = True
        client.get("/")
        for label, _fields, query in VIEWS:
            path = "/?" + query if query else "/"

            def fragment():
                response = client.get(path, headers={"HX-Request": "true"})
                assert response.status_code == 200, response.status_code

            def fragment_star():
                resold._total, resold.paid_account_count = star_total, star_paid
                try:
                    fragment()
                finally:
                    resold._total, resold.paid_account_count = counters_total, counters_paid
            line(kind, label, summarize(timed(fragment, args.runs)), summarize(timed(fragment_star, args.runs)))

        print(f"\n== [{kind}] 3. what the triggers cost the writes, ms")
        with app.app_context():
            ids = db.session.scalars(sa.select(HostedAccount.id).where(
                HostedAccount.agency_id == agency_id, HostedAccount.status == "active").limit(args.runs * 2)).all()
            bulk = db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(
                HostedAccount.agency_id == agency_id, HostedAccount.plan_term == "trial"))

            def one_change():
                cycle = iter(ids)

                def change():
                    account_id = next(cycle)
                    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == account_id)
                                       .values(status="disabled"))
                    db.session.commit()
                    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == account_id)
                                       .values(status="active"))
                    db.session.commit()
                return change

            def unrelated():
                db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == ids[0])
                                   .values(client_name="Renamed"))
                db.session.commit()

            def bulk_update():
                db.session.execute(sa.update(HostedAccount).where(HostedAccount.agency_id == agency_id,
                                                                  HostedAccount.plan_term == "trial")
                                   .values(status="expired"))
                db.session.rollback()

            migration = _migration()
            dialect = db.engine.dialect.name
            names = migration.POSTGRESQL_TRIGGER_NAMES if dialect == "postgresql" else migration.SQLITE_TRIGGER_NAMES
            create = migration.POSTGRESQL_TRIGGERS if dialect == "postgresql" else migration.SQLITE_TRIGGERS
            samples = {True: ([], [], []), False: ([], [], [])}
            # Rounds with and without the triggers in turn, so that whatever else the machine does falls on both.
            # The changes timed undo themselves (a status and back, a rollback): the counters stay right.
            for _round in range(3):
                for with_triggers in (True, False):
                    if not with_triggers:
                        for name in names:
                            db.session.execute(sa.text(f"DROP TRIGGER {name}" + (
                                " ON hosted_accounts" if dialect == "postgresql" else "")))
                        db.session.commit()
                    runs = max(3, args.runs // 3)
                    for kept, fn, n in zip(samples[with_triggers], (one_change(), unrelated, bulk_update),
                                           (runs, runs, max(2, runs // 3))):
                        kept.extend(timed(fn, n, warmup=0 if fn is not unrelated else 2))
                    if not with_triggers:
                        for statement in create:
                            db.session.execute(sa.text(statement))
                        db.session.commit()
            labels = ("status change + commit (x2)", "other column + commit", f"UPDATE of {bulk:,} rows")
            for label, ours, base in zip(labels, samples[True], samples[False]):
                ours, base = summarize(ours), summarize(base)
                print(f"[{kind}] {label:34s} triggers p50 {ours['p50']:7.2f} p95 {ours['p95']:7.2f} ms | "
                      f"none p50 {base['p50']:7.2f} p95 {base['p95']:7.2f} ms | "
                      f"+{ours['p50'] - base['p50']:6.2f} ms", flush=True)
            assert _in_step(db), "the counters drifted"
            db.session.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=200_000)
    parser.add_argument("--other-agencies", type=int, default=50)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", help="server URL (default: DATABASE_URL or the local server)")
    args = parser.parse_args()
    for kind in ([args.only] if args.only else ["sqlite", "postgresql"]):
        run_backend(kind, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
