"""Background operations: the database row is the truth, RQ the transport; nothing lost, nothing twice."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from webapp.models import AccountUser, Branding, CreditBalance, EmailTemplate, HostedAccount, Operation, OutboundEmail, utcnow
from webapp.services import operations, provisioning
from webapp.jobs import sweeper

from .helpers import csrf_token, make_account, make_agency


def _provisioning_account(db):
    agency, _ = make_agency()
    db.session.add_all([
        Branding(agency_id=agency.id, product_name="Brand X", primary_color="#123456"),
        EmailTemplate(agency_id=agency.id, kind="basic", name="Welcome", html="<p>Hi</p>"),
    ])
    db.session.commit()
    return make_account(agency, "fresh", status="provisioning")


def test_provisioning_runs_through_the_queue_and_reports_progress(app, db, run_jobs):
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    assert operations.enqueue(op)
    run_jobs()
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.status == "succeeded" and op.progress == op.total == len(provisioning.STEPS) == 7
    assert op.result["username"] == "admin" and len(op.result["password"]) >= 16
    assert op.result["login_url"].split(":")[1] == "//fresh.localhost" or op.result["login_url"].startswith("http://fresh.localhost/")
    account = db.session.get(HostedAccount, account.id)
    assert account.status == "active" and account.provisioned_at is not None
    admins = db.session.scalars(sa.select(AccountUser).where(AccountUser.account_id == account.id)).all()
    assert [a.username for a in admins] == ["admin"]
    assert db.session.scalar(sa.select(Branding.product_name).where(Branding.account_id == account.id)) == "Brand X"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailTemplate)
                             .where(EmailTemplate.account_id == account.id)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditBalance)
                             .where(CreditBalance.account_id == account.id)) == 2
    notice = db.session.scalar(sa.select(OutboundEmail))
    assert notice.to_address == "alerts@agency.test" and notice.status == "local"  # no SMTP_HOST in tests


def test_an_account_cancelled_while_it_provisions_stays_cancelled(app, db, run_jobs, monkeypatch):
    """Progress commits keep the job's objects loaded (issue 10), so the job's copy of the account still
    says 'provisioning' when it activates it: the activation must not undo a cancel made meanwhile."""
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    register = provisioning._register_domain

    def cancel_meanwhile(acct, operation):  # another request, in its own transaction, mid-provisioning
        with db.engine.begin() as conn:
            conn.execute(sa.update(HostedAccount).where(HostedAccount.id == acct.id)
                         .values(status="cancelled", cancelled_at=utcnow()))
        return register(acct, operation)

    monkeypatch.setattr(provisioning, "_register_domain", cancel_meanwhile)
    assert operations.enqueue(op)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Operation, op.id).status == "succeeded"
    account = db.session.get(HostedAccount, account.id)
    assert account.status == "cancelled" and account.provisioned_at is not None


def test_the_same_key_gives_the_same_operation(app, db):
    account = _provisioning_account(db)
    first = provisioning.submit(account)
    second = provisioning.submit(account)
    db.session.commit()
    assert first.id == second.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Operation)) == 1


def test_a_job_delivered_twice_runs_once(app, db, run_jobs):
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    queue = app.extensions["job_queue"]
    queue.enqueue_operation(op.id)
    queue.enqueue_operation(op.id)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Operation, op.id).attempts == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)) == 1


def test_a_worker_killed_mid_job_is_resumed_with_nothing_done_twice(app, db, run_jobs):
    """Simulates kill -9 after the admin step committed: the row stays 'running' with an old heartbeat."""
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    assert operations.claim(op.id)
    ctx = operations.OperationContext(db.session.get(Operation, op.id))
    provisioning._ensure_records(account)
    provisioning._ensure_admin(account, ctx.operation)
    ctx.progress(2, 6, "Admin user created")
    password = ctx.operation.result["password"]
    # The worker dies here. A fresh delivery while the heartbeat is recent does nothing...
    assert operations.run(op.id) == "skipped"
    # ...and once the heartbeat is stale, the sweeper re-enqueues and a worker finishes the job.
    db.session.execute(sa.update(Operation).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    db.session.commit()
    assert sweeper.sweep() == 1
    run_jobs()
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.status == "succeeded" and op.attempts == 2
    assert op.result["password"] == password  # the first password stands
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 1


def test_enqueue_failure_loses_nothing_the_sweeper_sends_it_later(app, db, run_jobs, monkeypatch):
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    queue = app.extensions["job_queue"]
    monkeypatch.setattr(queue, "enqueue_operation", lambda op_id: False)  # Redis is down
    assert operations.enqueue(op) is False
    assert sweeper.sweep() == 0
    db.session.expire_all()
    assert db.session.get(Operation, op.id).status == "queued"
    monkeypatch.undo()  # Redis is back
    assert sweeper.sweep() == 1
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Operation, op.id).status == "succeeded"


def test_a_redis_restart_loses_the_message_and_the_sweeper_sends_it_again(app, db, run_jobs):
    """Enqueued, then Redis restarts without persistence: the job is gone, the row still says queued."""
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    assert operations.enqueue(op)
    queue = app.extensions["job_queue"]
    assert queue.queue.count == 1
    queue.connection.flushdb()  # the restart: every key gone...
    queue.connection.connection_pool.disconnect()  # ...and every open connection with them
    assert queue.queue.count == 0
    run_jobs()  # a worker finds nothing to do
    db.session.expire_all()
    assert db.session.get(Operation, op.id).status == "queued"
    # Just enqueued as far as the database knows: the sweeper waits before sending it again.
    assert sweeper.sweep() == 0
    window = app.config["OPERATION_REQUEUE_SECONDS"]
    db.session.execute(sa.update(Operation).where(Operation.id == op.id)
                       .values(enqueued_at=utcnow() - timedelta(seconds=window + 1)))
    db.session.commit()
    assert sweeper.sweep() == 1
    assert sweeper.sweep() == 0  # sent once, not on every pass
    run_jobs()
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.status == "succeeded" and op.attempts == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)) == 1
    assert queue.queue.count == 0


def test_a_failing_handler_is_retried_then_marked_failed_with_its_reason(app, db, run_jobs, monkeypatch):
    monkeypatch.setitem(app.config, "OPERATION_MAX_ATTEMPTS", 2)
    calls = []

    def always_fails(ctx):
        calls.append(ctx.operation.attempts)
        raise RuntimeError("boom")
    # Handlers come from the app's registry (webapp/jobs/registry.py); this test adds one for itself.
    monkeypatch.setitem(app.extensions, "operation_handlers",
                        {**app.extensions["operation_handlers"], "test_always_fails": always_fails})

    op = operations.submit("test_always_fails", key="fail-1")
    db.session.commit()
    assert operations.run(op.id) == "queued"
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.error == "RuntimeError: boom" and op.run_after > utcnow()
    db.session.execute(sa.update(Operation).values(run_after=None))
    db.session.commit()
    assert operations.run(op.id) == "failed"
    db.session.expire_all()
    op = db.session.get(Operation, op.id)
    assert op.status == "failed" and op.error == "RuntimeError: boom (gave up after 2 attempts)"
    assert calls == [1, 2]
    operations.retry(op)
    db.session.expire_all()
    assert db.session.get(Operation, op.id).status in ("queued", "running", "failed")


def test_sweeper_lock_lets_one_process_sweep_per_interval(app, db):
    from webapp.jobs import sweeper
    assert sweeper.run_once(app) == 0
    assert sweeper.run_once(app) is None  # the lock is held for this interval


def test_embedded_worker_thread_runs_jobs_in_the_web_process(app, db):
    """Without REDIS_URL the app runs jobs in a thread: `make run` needs no server."""
    import time
    from webapp import create_app
    from webapp.config import TestConfig
    embedded = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                          REDIS_URL=None, EMBEDDED_WORKER=True, ARGON2_PARAMS=(1, 1024, 1))
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    client = embedded.test_client()
    client.get("/login")  # the first request starts the worker and the sweeper
    deadline = time.time() + 15
    while time.time() < deadline:
        db.session.expire_all()
        if db.session.get(Operation, op.id).status == "succeeded":
            break
        time.sleep(0.2)
    assert db.session.get(Operation, op.id).status == "succeeded"
    embedded.extensions["sweeper_stop"].set()  # the test database goes away with the session


def test_an_unexpected_error_is_kept_with_its_message_cut_to_the_column(app, db):
    """The class and the first line of the message; a long one is cut so the column and the suffix fit."""
    import sqlalchemy.exc
    assert operations.describe(RuntimeError("store unreachable")) == "RuntimeError: store unreachable"
    assert operations.describe(KeyError()) == "KeyError"
    statement = sqlalchemy.exc.IntegrityError("INSERT INTO account_users (password_hash) VALUES (?)",
                                              ("$argon2id$secret",), Exception("UNIQUE constraint failed"))
    assert "argon2" not in operations.describe(statement) and "UNIQUE constraint failed" in operations.describe(statement)
    long = operations.describe(ValueError("x" * 2000))
    assert long.startswith("ValueError: xxx") and len(long) == Operation.__table__.c.error.type.length


def test_the_generated_admin_password_is_hashed_cheaply_and_a_chosen_one_at_full_cost(app, db, client, run_jobs,
                                                                                       monkeypatch):
    # Outside the tests (which use cheap parameters everywhere) the real costs apply.
    monkeypatch.delitem(app.config, "ARGON2_PARAMS")
    account = _provisioning_account(db)
    op = provisioning.submit(account)
    db.session.commit()
    operations.enqueue(op)
    run_jobs()
    db.session.expire_all()
    password = db.session.get(Operation, op.id).result["password"]
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id))
    # ~93 bits of randomness: no cost per guess makes it guessable, so it is not stretched at 250 ms of CPU.
    assert admin.password_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    host = "http://fresh.localhost"
    page = client.get("/app/login", base_url=host)
    signed_in = client.post("/app/login", base_url=host, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "username": "admin", "password": password})
    assert signed_in.status_code == 303
    # A password a person picks is stretched at full cost.
    from webapp.services import audit, client_auth
    client_auth.set_password_by_agency(admin, "a-chosen-passphrase-7", "a-chosen-passphrase-7", audit.Actor.system())
    db.session.expire_all()
    assert db.session.get(AccountUser, admin.id).password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
