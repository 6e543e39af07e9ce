"""Account counters (issue 25): account_counts, kept by the database's triggers on hosted_accounts, equals
count(*) of the accounts grouped by agency, kind, status and term after every kind of change the app makes
(each service as it runs, and the Core and bulk statements some of them use), concurrent ones included;
the Resold tab and the discount read their counts from it."""
from __future__ import annotations

import importlib.util
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.models import AccountCount, Agency, HostedAccount, SupportRequest, utcnow
from webapp.models.accounts import PAID
from webapp.services import accounts, billing, renewals, resold, support
from webapp.services.audit import Actor
from webapp.services.scope import AgencyScope

from .helpers import add_card, login, make_account, make_agency, make_support

ACTOR = Actor("user:0", "tests")
TODAY = date.today()
KEY = (HostedAccount.agency_id, HostedAccount.kind, HostedAccount.status, HostedAccount.plan_term)
MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0028_account_counts.py"


def counters(conn) -> dict:
    rows = conn.execute(sa.select(AccountCount.agency_id, AccountCount.kind, AccountCount.status,
                                  AccountCount.plan_term, AccountCount.n)).all()
    assert all(row.n >= 0 for row in rows), rows
    return {tuple(row[:4]): row.n for row in rows if row.n}


def counted(conn) -> dict:
    rows = conn.execute(sa.select(*KEY, sa.func.count()).where(HostedAccount.agency_id.is_not(None))
                        .group_by(*KEY)).all()
    return {tuple(row[:4]): row[4] for row in rows}


def assert_in_step(db) -> dict:
    """The committed counters equal count(*), read on a connection of their own (what another request sees)."""
    db.session.commit()
    with db.engine.connect() as conn:
        truth = counted(conn)
        assert counters(conn) == truth
    return truth


def new_account(name: str, term: str = "monthly") -> accounts.NewAccount:
    return accounts.NewAccount(name=name, client_name="Client", client_email=f"boss@{name}.test",
                               notification_email="ops@agency.test", language="en", timezone="UTC", tier="plus",
                               term=term, contact_limit=500 if term == "trial" else 1000)


def fresh(db, account_id: int) -> HostedAccount:
    db.session.expire_all()
    return db.session.get(HostedAccount, account_id)


def test_the_counters_follow_an_account_through_its_life(app, db, run_jobs):
    agency, _ = make_agency()
    add_card(agency)
    assert assert_in_step(db) == {}
    trial, _op = accounts.create(agency.id, new_account("life-trial", "trial"), request_key="k1", actor=ACTOR)
    paid, _op = accounts.create(agency.id, new_account("life-paid"), request_key="k2", actor=ACTOR)
    truth = assert_in_step(db)
    assert truth == {(agency.id, "resold", "provisioning", "trial"): 1,
                     (agency.id, "resold", "provisioning", "monthly"): 1}
    run_jobs()  # provisioning done
    assert fresh(db, paid.id).status == "active" and fresh(db, trial.id).status == "active"
    assert assert_in_step(db)[(agency.id, "resold", "active", "monthly")] == 1

    accounts.cancel(fresh(db, paid.id), ACTOR)
    assert fresh(db, paid.id).status == "cancelled"
    assert_in_step(db)
    accounts.resume(fresh(db, paid.id), ACTOR)
    assert fresh(db, paid.id).status == "active"
    assert_in_step(db)
    accounts.disable(fresh(db, paid.id), ACTOR)
    assert fresh(db, paid.id).status == "disabled"
    assert_in_step(db)
    accounts.enable(fresh(db, paid.id), ACTOR)
    assert fresh(db, paid.id).status == "active"
    assert_in_step(db)

    # A trial made paid: its term changes (A7).
    accounts.change_plan(fresh(db, trial.id), tier="plus", term="annual", contact_limit=1000, request_key="k3",
                         actor=ACTOR)
    assert fresh(db, trial.id).plan_term == "annual"
    assert assert_in_step(db) == {(agency.id, "resold", "active", "monthly"): 1,
                                  (agency.id, "resold", "active", "annual"): 1}
    assert billing.paid_accounts(agency.id) == resold.paid_account_count(AgencyScope(agency.id)) == 2


def test_the_counters_follow_the_sweeps(app, db, run_jobs):
    agency, _ = make_agency()
    add_card(agency)
    month_ago = TODAY - timedelta(days=30)
    # The expire sweep: one UPDATE of every ended trial and cancelled account.
    ended = [make_account(agency, plan_term="trial", period_end=TODAY - timedelta(days=1)) for _ in range(3)]
    cancelled = make_account(agency, status="cancelled", cancelled_at=utcnow(), period_end=TODAY)
    kept = make_account(agency, plan_term="trial", period_end=TODAY + timedelta(days=5))
    assert renewals.expire_ended(TODAY) == 4
    assert {fresh(db, a.id).status for a in [*ended, cancelled]} == {"expired"}
    assert fresh(db, kept.id).status == "active"
    assert assert_in_step(db)[(agency.id, "resold", "expired", "trial")] == 3

    # The renewal sweep, in batches (one UPDATE per renewed account): one disabled for non-payment is enabled.
    unpaid = make_account(agency, status="disabled", disabled_reason="unpaid", disabled_at=utcnow(),
                          period_start=month_ago, period_end=TODAY)
    due = make_account(agency, period_start=month_ago, period_end=TODAY)
    renewals.sweep_renewals()
    run_jobs()
    assert fresh(db, unpaid.id).status == "active" and fresh(db, due.id).period_end > TODAY
    assert_in_step(db)

    # One renewal on its own, with a change of term waiting for it (A8).
    waiting = make_account(agency, plan_term="annual", period_start=TODAY - timedelta(days=365), period_end=TODAY,
                           pending_plan_tier="plus", pending_plan_term="monthly", pending_contact_limit=1000)
    renewals.renew(waiting.id, TODAY)
    assert fresh(db, waiting.id).plan_term == "monthly"
    assert_in_step(db)


def test_the_counters_follow_transfers_detaches_and_deletes(app, db):
    agency, user = make_agency(email="owner@agency.test")
    add_card(agency)
    previous, _ = make_agency(email="previous@agency.test")
    moving = make_account(previous, "moving-shop", admin_password="moving-pass-1", client_email="boss@moving.test")
    going = make_account(agency, "going-solo")
    make_account(previous, "staying-put")
    staff = make_support()
    owner = Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role)
    staff_actor = Actor(f"user:{staff.id}", staff.email)
    assert_in_step(db)

    # A3: moved to another agency.
    support.request_transfer(agency.id, user, account_name="moving-shop", admin_email="boss@moving.test", actor=owner)
    request = db.session.scalar(sa.select(SupportRequest).where(SupportRequest.account_id == moving.id))
    request.status = "open"  # its admin confirmed
    db.session.commit()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=staff_actor)
    assert fresh(db, moving.id).agency_id == agency.id
    truth = assert_in_step(db)
    assert truth[(agency.id, "resold", "active", "monthly")] == 2
    assert truth[(previous.id, "resold", "active", "monthly")] == 1

    # A4: detached, it has no agency and is counted nowhere.
    detach = support.request_detach(fresh(db, going.id), user, client_email="me@solo.test", actor=owner)
    support.decide(detach.id, approve=True, reason="", staff=staff, actor=staff_actor)
    gone = fresh(db, going.id)
    assert gone.agency_id is None and gone.kind == "standalone"
    assert assert_in_step(db)[(agency.id, "resold", "active", "monthly")] == 1
    # ... and back to an agency (a transfer in of a standalone account).
    gone.agency_id, gone.kind = previous.id, "resold"
    assert assert_in_step(db)[(previous.id, "resold", "active", "monthly")] == 2

    # Deleted, through the ORM and through Core.
    doomed = [make_account(previous, plan_term="annual").id for _ in range(3)]
    assert assert_in_step(db)[(previous.id, "resold", "active", "annual")] == 3
    db.session.delete(fresh(db, doomed[0]))
    assert assert_in_step(db)[(previous.id, "resold", "active", "annual")] == 2
    db.session.execute(sa.delete(HostedAccount).where(HostedAccount.id.in_(doomed[1:])))
    assert (previous.id, "resold", "active", "annual") not in assert_in_step(db)


def test_the_counters_follow_bulk_statements(app, db):
    """What the ORM's flush and the Core statements do in one statement over many rows."""
    agency, _ = make_agency()
    other, _ = make_agency("Other")
    rows = [dict(agency_id=agency.id if i % 2 else other.id, name=f"bulk-{i}", kind="resold", status="active",
                 plan_tier="plus", plan_term=("monthly", "annual", "trial")[i % 3], contact_limit=1000,
                 client_name="C", client_email="c@example.test", notification_email="n@example.test")
            for i in range(60)]
    db.session.execute(sa.insert(HostedAccount), rows)
    assert sum(assert_in_step(db).values()) == 60
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.agency_id == agency.id,
                                                      HostedAccount.plan_term == "monthly").values(status="expired"))
    assert assert_in_step(db)[(agency.id, "resold", "expired", "monthly")] == 10
    ids = db.session.scalars(sa.select(HostedAccount.id).where(HostedAccount.agency_id == other.id)).all()
    db.session.execute(sa.update(HostedAccount), [{"id": i, "plan_term": "annual", "agency_id": agency.id}
                                                  for i in ids[:5]])  # by primary key, many at once
    assert_in_step(db)
    # An UPDATE of no counted column, and one that sets them to what they are, change nothing.
    db.session.execute(sa.update(HostedAccount).values(client_name="Renamed"))
    db.session.execute(sa.update(HostedAccount).values(status=HostedAccount.status, kind=HostedAccount.kind))
    assert_in_step(db)
    # Several changes of one account in one transaction; then a transaction rolled back changes nothing.
    account = db.session.get(HostedAccount, ids[-1])
    for status in ("disabled", "active", "cancelled"):
        account.status = status
        db.session.flush()
    before = assert_in_step(db)
    db.session.execute(sa.update(HostedAccount).values(status="expired"))
    db.session.rollback()
    assert assert_in_step(db) == before
    db.session.execute(sa.delete(HostedAccount))
    assert assert_in_step(db) == {}


def test_the_app_never_writes_the_counters(db):
    agency, _ = make_agency()
    db.session.add(AccountCount(agency_id=agency.id, kind="resold", status="active", plan_term="monthly", n=5))
    with pytest.raises(RuntimeError, match="kept by the database"):
        db.session.flush()
    db.session.rollback()


def test_the_migration_counts_the_accounts_already_there(app, db):
    """Revision 0028 run again over existing accounts: its backfill gives the same counters."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    agency, _ = make_agency()
    for status, term in (("active", "monthly"), ("active", "monthly"), ("expired", "trial"), ("disabled", "annual")):
        make_account(agency, status=status, plan_term=term)
    make_account(agency, kind="parent")
    detached = make_account(agency, kind="standalone")
    detached.agency_id = None
    truth = assert_in_step(db)
    agency_id = agency.id
    db.session.remove()
    spec = importlib.util.spec_from_file_location("migration_0028", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    later = importlib.util.spec_from_file_location("migration_0029", MIGRATION.with_name("0029_autovacuum_hot_tables.py"))
    autovacuum = importlib.util.module_from_spec(later)
    later.loader.exec_module(autovacuum)
    with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        autovacuum.downgrade()  # the database goes back to 0027, and up to the head again
        migration.downgrade()
        assert not sa.inspect(conn).has_table("account_counts")
        migration.upgrade()
        autovacuum.upgrade()
    assert assert_in_step(db) == truth
    make_account(db.session.get(Agency, agency_id), status="expired", plan_term="trial")  # the triggers are back
    assert assert_in_step(db)[(agency_id, "resold", "expired", "trial")] == 2


@pytest.fixture
def tab(client, db):
    agency, _ = make_agency("Mine", email="me@agency.test")
    statuses = ("provisioning", "active", "cancelled", "disabled", "expired")
    for i in range(40):
        make_account(agency, status=statuses[i % 5], plan_term=("monthly", "annual", "trial")[i % 3])
    make_account(agency, kind="parent")
    make_account(agency, kind="commission")
    other, _ = make_agency("Other", email="other@agency.test")
    make_account(other)
    login(client, "me@agency.test")
    return agency


def test_every_view_without_a_search_counts_what_count_star_counts(tab, db):
    scope = AgencyScope(tab.id)
    plan_sets = [(), ("trial",), ("monthly", "annual"), ("trial", "annual"), resold.PLAN_TYPES]
    for status in resold.STATUSES:
        for plans in plan_sets:
            real = sa.select(sa.func.count()).select_from(HostedAccount).where(
                HostedAccount.agency_id == tab.id, HostedAccount.kind == "resold")
            if status != "all":
                real = real.where(HostedAccount.status.in_(
                    resold.ACTIVE_STATUSES if status == "active" else ("expired",)))
            if plans:
                real = real.where(HostedAccount.plan_term.in_(plans))
            view = resold.View(status=status, plan_types=plans)
            assert resold.count(scope, view) == resold.page(scope, view).total == db.session.scalar(real)
    paid = db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(
        HostedAccount.agency_id == tab.id, PAID))
    assert paid and resold.paid_account_count(scope) == billing.paid_accounts(tab.id) == paid
    # A search still counts its matches.
    assert resold.count(scope, resold.View(q="acct")) == resold.count(scope, resold.View())
    assert resold.count(scope, resold.View(q="no-such-thing")) == 0


def _statements_during(db, call) -> list[str]:
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()).lower())
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return response, seen


def test_the_resold_tab_reads_its_numbers_from_the_counters(tab, client, db):
    """The default view (the full page, then a fragment) counts no account: the total and the paid
    accounts come from account_counts; the rows are the page's only read of hosted_accounts."""
    active = db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(
        HostedAccount.agency_id == tab.id, HostedAccount.kind == "resold", HostedAccount.status != "expired"))
    for headers in ({}, {"HX-Request": "true"}):
        response, seen = _statements_during(db, lambda: client.get("/", headers=headers))
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert re.search(rf"1–25 of {active} accounts", html)
        accounts_reads = [s for s in seen if re.search(r"\bfrom hosted_accounts\b", s)]
        assert accounts_reads and not any("count(" in s for s in accounts_reads), accounts_reads
        # One read of the counters gives both the total and the paid accounts.
        assert sum("from account_counts" in s for s in seen) == 1, seen
    full, _ = _statements_during(db, lambda: client.get("/"))
    assert f'id="paid-count">{billing.paid_accounts(tab.id)}<' in full.get_data(as_text=True)
    # With a search the matches are counted for real.
    _response, seen = _statements_during(db, lambda: client.get("/?q=acct", headers={"HX-Request": "true"}))
    assert any("count(" in s and "hosted_accounts" in s for s in seen)


def test_concurrent_changes_add_up_on_postgresql(app, db):
    """Two connections changing the same agency's accounts at once: no count is lost. The second insert into
    a counter row waits for the first transaction's commit and adds to what it committed (on PostgreSQL for the
    counter row's lock, on SQLite for the database's one writer: the same promise, either way)."""
    agency, _ = make_agency()
    agency_id, engine = agency.id, db.engine  # the threads have no app context
    db.session.remove()

    def values(name, **fields):
        return {**dict(agency_id=agency_id, name=name, kind="resold", status="provisioning", plan_tier="plus",
                       plan_term="monthly", contact_limit=1000, client_name="C", client_email="c@example.test",
                       notification_email="n@example.test"), **fields}

    # 1. Two transactions open at once insert into a counter row that does not exist yet.
    first_in, errors, waited = threading.Event(), [], []

    def first():
        with engine.begin() as conn:
            conn.execute(sa.insert(HostedAccount), [values("race-a1", plan_term="annual")])
            first_in.set()
            threading.Event().wait(0.5)  # the second one is waiting on the counter row meanwhile

    def second():
        first_in.wait(10)
        with engine.begin() as conn:
            started = time.monotonic()
            conn.execute(sa.insert(HostedAccount), [values("race-b1", plan_term="annual")])
            waited.append(time.monotonic() - started)

    threads = [threading.Thread(target=guarded(target, errors)) for target in (first, second)]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    assert errors == []
    assert waited[0] > 0.3  # the second insert did wait for the first transaction on the counter row
    with engine.connect() as conn:
        assert counters(conn) == counted(conn) == {(agency_id, "resold", "provisioning", "annual"): 2}

    # 2. Two threads, each committing inserts and status changes of its own accounts as fast as it can.
    start = threading.Barrier(2)

    def churn(tag):
        start.wait(10)
        for i in range(40):
            with engine.begin() as conn:
                conn.execute(sa.insert(HostedAccount), [values(f"churn-{tag}-{i}-{j}") for j in range(3)])
                conn.execute(sa.update(HostedAccount).where(HostedAccount.name.like(f"churn-{tag}-{i}-%"),
                                                           HostedAccount.name != f"churn-{tag}-{i}-0")
                             .values(status="active"))
                if i % 4 == 3:
                    conn.execute(sa.update(HostedAccount).where(HostedAccount.name == f"churn-{tag}-{i - 3}-1")
                                 .values(status="expired", plan_term="trial"))
                if i % 5 == 4:
                    conn.execute(sa.delete(HostedAccount).where(HostedAccount.name == f"churn-{tag}-{i - 4}-0"))
    threads = [threading.Thread(target=guarded(lambda tag=tag: churn(tag), errors)) for tag in "ab"]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    assert errors == []
    with engine.connect() as conn:
        truth = counted(conn)
        assert counters(conn) == truth
    assert sum(truth.values()) == 2 + 2 * (40 * 3 - 8)


def guarded(target, errors):
    def run():
        try:
            target()
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(repr(exc))
    return run


def test_the_paid_rule_reads_the_same_over_counter_rows_already_read(db):
    """models.accounts.counted_as_paid (Python, for the rows the Resold tab reads at once) and PAID_COUNTED (SQL,
    billing's discount) agree on every kind, status and term."""
    from webapp.models.accounts import PAID_COUNTED, counted_as_paid
    agency, _ = make_agency()
    combos = [(kind, status, term) for kind in ("resold", "parent", "commission")
              for status in ("provisioning", "active", "cancelled", "disabled", "expired", "failed")
              for term in ("trial", "monthly", "annual")]
    with db.engine.begin() as conn:  # rows as the triggers would keep them (the app never writes them)
        conn.execute(sa.insert(AccountCount), [dict(agency_id=agency.id + 1000, kind=k, status=s, plan_term=t, n=1)
                                               for k, s, t in combos])
    with db.engine.connect() as conn:
        in_sql = {tuple(row) for row in conn.execute(sa.select(AccountCount.kind, AccountCount.status,
                                                               AccountCount.plan_term)
                                                     .where(AccountCount.agency_id == agency.id + 1000, PAID_COUNTED))}
    assert in_sql and in_sql == {combo for combo in combos if counted_as_paid(*combo)}
    assert resold.counts(AgencyScope(agency.id + 1000)).paid() == len(in_sql)
