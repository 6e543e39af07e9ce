"""Background operations: one database row per job is the truth (status, progress, error).

A job only carries the operation id. Running it claims the row with a conditional UPDATE,
so two deliveries of the same job run it once; handlers are made of idempotent steps, so a
worker killed mid-job is simply resumed by the next claim after its heartbeat goes stale."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable, Mapping

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Operation, utcnow
from . import logcontext, metrics
from .errors import ServiceError

log = logging.getLogger("agencyhq.operations")


class RetryLater(Exception):
    """A step cannot finish now (a service is down); the operation is tried again after `delay`."""

    def __init__(self, message: str, delay: timedelta = timedelta(seconds=30)):
        super().__init__(message)
        self.delay = delay


def handlers() -> Mapping[str, Callable]:
    """Operation kind -> its handler, as webapp/jobs/registry.py wired them into this app."""
    return current_app.extensions["operation_handlers"]


def failure_hooks() -> Mapping[str, Callable]:
    """Operation kind -> what is told when it has failed for good (after its last attempt)."""
    return current_app.extensions.get("operation_failure_hooks", {})


class OperationContext:
    """What a handler gets: its operation, and a way to report progress (which also heartbeats)."""

    def __init__(self, operation: Operation):
        self.operation = operation

    @property
    def params(self) -> dict:
        return self.operation.params or {}

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Commits the work so far with the progress (a worker killed after this resumes from here).
        The handler's objects stay loaded: it goes on with what it has read and written instead of
        reading every row again (a provisioning read the account and its operation back seven times).
        What someone else may change meanwhile is decided by a conditional statement, not by an
        attribute read after a progress."""
        op = self.operation
        if total is not None:
            op.total = max(total, 1)
        op.progress = min(done, op.total)
        if message is not None:
            op.message = message[:200]
        op.heartbeat_at = utcnow()
        commit_keeping_state()


def commit_keeping_state() -> None:
    """Commits without expiring the session's objects (they hold what was just written)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def latest(kind: str, *, agency_id: int | None = None, subject: tuple[str, int] | None = None) -> Operation | None:
    """The newest operation of `kind`, of an agency or about one subject: the one its page shows."""
    stmt = sa.select(Operation).where(Operation.kind == kind)
    if agency_id is not None:
        stmt = stmt.where(Operation.agency_id == agency_id)
    if subject is not None:
        stmt = stmt.where(Operation.subject_type == subject[0], Operation.subject_id == subject[1])
    return db.session.scalar(stmt.order_by(Operation.id.desc()).limit(1))


def submit(kind: str, *, key: str, agency_id: int | None = None, subject=None, params=None,
           total: int = 1, run_after=None) -> Operation:
    """The operation for `key`, created if new. Adds to the caller's transaction; call
    `enqueue` after the caller commits."""
    existing = db.session.scalar(sa.select(Operation).where(Operation.idempotency_key == key))
    if existing is not None:
        return existing
    subject_type, subject_id = subject if subject else (None, None)
    params = dict(params or {})
    if logcontext.current_request_id():
        # The request that asked for it: its log lines carry the same id as the request's (issue 25).
        params.setdefault(logcontext.PARAM, logcontext.current_request_id())
    op = Operation(kind=kind, idempotency_key=key, agency_id=agency_id, subject_type=subject_type,
                   subject_id=subject_id, params=params, total=max(total, 1), run_after=run_after)
    try:
        with db.session.begin_nested():
            db.session.add(op)
    except IntegrityError:
        # Someone else created it between our look-up and insert.
        return db.session.scalar(sa.select(Operation).where(Operation.idempotency_key == key))
    metrics.operations_created(kind)
    return op


def enqueue(op: Operation) -> bool:
    """Hands a committed operation to the queue. False when the transport is down: the row
    stays queued and the sweeper tries again, so nothing is lost."""
    if op.run_after and op.run_after > utcnow():
        return True  # the sweeper enqueues it when its time comes
    ok = current_app.extensions["job_queue"].enqueue_operation(op.id)
    if ok:
        db.session.execute(sa.update(Operation).where(Operation.id == op.id, Operation.status == "queued")
                           .values(enqueued_at=utcnow()))
        db.session.commit()
    return ok


def submit_many(kind: str, items: list[dict]) -> list[int]:
    """Bulk `submit`: items carry key, subject_id, subject_type, agency_id, params. Existing keys
    are left as they are (INSERT ... ON CONFLICT DO NOTHING). Returns the ids of the queued ones
    that still need a worker. Commits."""
    if not items:
        return []
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    now = utcnow()
    rows = [{"kind": kind, "idempotency_key": item["key"], "agency_id": item.get("agency_id"),
             "subject_type": item.get("subject_type"), "subject_id": item.get("subject_id"),
             "params": item.get("params") or {}, "total": 1, "progress": 0, "status": "queued", "attempts": 0,
             "created_at": now} for item in items]
    created = 0
    for start in range(0, len(rows), 1000):
        result = db.session.execute(insert(Operation).on_conflict_do_nothing(index_elements=["idempotency_key"]),
                                    rows[start:start + 1000])
        created += max(getattr(result, "rowcount", -1), 0)
    keys = [item["key"] for item in items]
    ids = []
    for start in range(0, len(keys), 1000):
        ids += db.session.scalars(sa.select(Operation.id).where(
            Operation.idempotency_key.in_(keys[start:start + 1000]), Operation.status == "queued",
            Operation.enqueued_at.is_(None))).all()
    db.session.commit()
    metrics.operations_created(kind, created or len(ids))  # (a driver that does not say: the new queued ones)
    return ids


def enqueue_many(operation_ids: list[int]) -> bool:
    """Hands committed operations to the queue in one go; on failure they stay for the sweeper."""
    if not operation_ids:
        return True
    if not current_app.extensions["job_queue"].enqueue_operations(operation_ids):
        return False
    mark_enqueued(operation_ids)
    return True


def mark_enqueued(operation_ids: list[int]) -> None:
    """Records that these queued operations went to the queue (the sweeper leaves them be for a while)."""
    for start in range(0, len(operation_ids), 1000):
        db.session.execute(sa.update(Operation).where(Operation.id.in_(operation_ids[start:start + 1000]),
                                                      Operation.status == "queued").values(enqueued_at=utcnow()))
    db.session.commit()


def claim(operation_id: int) -> bool:
    """Takes the operation for this worker; False if it is done, running elsewhere, or not due."""
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["OPERATION_STALE_SECONDS"])
    result = db.session.execute(
        sa.update(Operation)
        .where(Operation.id == operation_id,
               sa.or_(sa.and_(Operation.status == "queued",
                              sa.or_(Operation.run_after.is_(None), Operation.run_after <= now)),
                      sa.and_(Operation.status == "running", Operation.heartbeat_at < stale)))
        .values(status="running", attempts=Operation.attempts + 1, started_at=now, heartbeat_at=now)
    )
    db.session.commit()
    return result.rowcount == 1


def claim_many(operation_ids: list[int]) -> list[Operation]:
    """`claim` for a batch, in one statement: the operations this worker now holds."""
    if not operation_ids:
        return []
    now = utcnow()
    stale = now - timedelta(seconds=current_app.config["OPERATION_STALE_SECONDS"])
    claimed = db.session.execute(
        sa.update(Operation)
        .where(Operation.id.in_(operation_ids),
               sa.or_(sa.and_(Operation.status == "queued",
                              sa.or_(Operation.run_after.is_(None), Operation.run_after <= now)),
                      sa.and_(Operation.status == "running", Operation.heartbeat_at < stale)))
        .values(status="running", attempts=Operation.attempts + 1, started_at=now, heartbeat_at=now)
        .returning(Operation.id)).scalars().all()
    db.session.commit()
    ops = list(db.session.scalars(sa.select(Operation).where(Operation.id.in_(claimed)).order_by(Operation.id)))
    for op in ops:
        metrics.operation_started(op)
    return ops


def finish_many(results: dict[int, dict]) -> None:
    """Marks claimed operations succeeded with their results (part of the caller's transaction)."""
    if not results:
        return
    now = utcnow()
    db.session.execute(sa.update(Operation), [
        {"id": op_id, "status": "succeeded", "progress": 1, "result": result, "finished_at": now, "error": None}
        for op_id, result in results.items()])
    for kind, count, started in db.session.execute(
            sa.select(Operation.kind, sa.func.count(), sa.func.min(Operation.started_at))
            .where(Operation.id.in_(list(results)[:1000])).group_by(Operation.kind)):
        started = started if started is None or started.tzinfo else started.replace(tzinfo=now.tzinfo)
        metrics.operation_ended(kind, "succeeded", (now - started).total_seconds() if started else 0.0, count)


def _finish(op_id: int, **values) -> None:
    """The operation's end, written once (the claim's status guards it); a failure's hook is told in the same
    transaction, so it is told once."""
    finished = db.session.execute(sa.update(Operation).where(Operation.id == op_id, Operation.status == "running")
                                  .values(finished_at=utcnow(), **values)).rowcount == 1
    if finished and values.get("status") == "failed":
        op = db.session.get(Operation, op_id)
        hook = failure_hooks().get(op.kind)
        if hook is not None:
            hook(op)
    db.session.commit()


def run(operation_id: int) -> str:
    """Runs one operation to its end (or to its next retry). Returns the status it ended in. Its log lines carry
    its id and the id of the request that submitted it; its start, wait, run time and end are counted."""
    with logcontext.operation(operation_id), metrics.Timer() as timer:
        seen: dict = {}
        status = _run(operation_id, seen)
    if "kind" in seen:
        metrics.operation_ended(seen["kind"], status, timer.seconds)
    return status


def _run(operation_id: int, seen: dict) -> str:
    if not claim(operation_id):
        return "skipped"
    op = db.session.get(Operation, operation_id)
    seen["kind"] = op.kind
    logcontext.bind_request((op.params or {}).get(logcontext.PARAM))
    metrics.operation_started(op)
    fn = handlers().get(op.kind)
    max_attempts = current_app.config["OPERATION_MAX_ATTEMPTS"]
    if fn is None:
        _finish(op.id, status="failed", error=f"No handler for operation kind {op.kind!r}.")
        return "failed"
    try:
        result = fn(OperationContext(op))
        commit_keeping_state()
    except RetryLater as exc:
        db.session.rollback()
        return _retry_or_fail(op.id, str(exc), exc.delay, max_attempts)
    except ServiceError as exc:
        db.session.rollback()
        _finish(op.id, status="failed", error=exc.message[:ERROR_LENGTH])
        return "failed"
    except Exception as exc:  # an unexpected error: logged, then retried with back-off
        db.session.rollback()
        log.exception("operation %s (%s) raised", operation_id, op.kind)
        attempts = db.session.get(Operation, operation_id).attempts
        return _retry_or_fail(operation_id, describe(exc), timedelta(seconds=min(300, 5 * 2 ** attempts)),
                              max_attempts)
    _finish(op.id, status="succeeded", progress=op.total, result=result if result is not None else op.result,
            error=None)
    log.info("operation %s (%s) succeeded", operation_id, op.kind)
    return "succeeded"


ERROR_LENGTH = Operation.__table__.c.error.type.length


def describe(exc: Exception) -> str:
    """An unexpected error as the person reading the operation sees it: its class and message. Only the
    first line: database errors go on with the statement and its parameters (a password hash, say)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{type(exc).__name__}: {message}" if message else type(exc).__name__)[:ERROR_LENGTH]


def _retry_or_fail(op_id: int, error: str, delay: timedelta, max_attempts: int) -> str:
    op = db.session.get(Operation, op_id)
    if op.attempts >= max_attempts:
        suffix = f" (gave up after {op.attempts} attempt{'' if op.attempts == 1 else 's'})"
        _finish(op_id, status="failed", error=error[:ERROR_LENGTH - len(suffix)] + suffix)
        return "failed"
    db.session.execute(sa.update(Operation).where(Operation.id == op_id, Operation.status == "running")
                       .values(status="queued", error=error[:ERROR_LENGTH], run_after=utcnow() + delay,
                               enqueued_at=None))
    db.session.commit()
    return "queued"


def retry(op: Operation) -> Operation:
    """A person asks to try a failed operation again (never repeating what already succeeded)."""
    if op.status != "failed":
        raise ServiceError(str(_l("Only a failed operation can be retried.")))
    db.session.execute(sa.update(Operation).where(Operation.id == op.id, Operation.status == "failed")
                       .values(status="queued", attempts=0, run_after=None, enqueued_at=None, finished_at=None))
    db.session.commit()
    db.session.refresh(op)
    enqueue(op)
    return op


def requeue_lost(limit: int = 500) -> int:
    """Finds operations whose job was lost (Redis restarted, worker killed, enqueue failed) and enqueues
    them again. Safe to run anywhere, any number of times. Returns how many went to the queue."""
    now = utcnow()
    cfg = current_app.config
    requeue_before = now - timedelta(seconds=cfg["OPERATION_REQUEUE_SECONDS"])
    stale_before = now - timedelta(seconds=cfg["OPERATION_STALE_SECONDS"])
    lost = db.session.scalars(
        sa.select(Operation.id).where(sa.or_(
            sa.and_(Operation.status == "queued",
                    sa.or_(Operation.run_after.is_(None), Operation.run_after <= now),
                    sa.or_(Operation.enqueued_at.is_(None), Operation.enqueued_at < requeue_before)),
            sa.and_(Operation.status == "running", Operation.heartbeat_at < stale_before),
        )).order_by(Operation.id).limit(limit)
    ).all()
    queue = current_app.extensions["job_queue"]
    sent = 0
    for op_id in lost:
        if not queue.enqueue_operation(op_id):
            break  # transport down: try again next pass
        db.session.execute(sa.update(Operation).where(Operation.id == op_id).values(enqueued_at=now))
        sent += 1
    db.session.commit()
    from . import queue_status  # the System page's "last sweeper pass": this is each pass's first step
    queue_status.record_sweep(sent)
    return sent


def run_inline(op: Operation) -> str:
    """Runs an operation in this process now (demo data, CLI). Same code path as a worker."""
    db.session.commit()
    return run(op.id)
