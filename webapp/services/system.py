"""The support console's System page (issue 25): the queue's state (services.queue_status), the failed
operations with their errors, and support's Retry."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
from ..models import Agency, Operation
from . import audit, operations
from .errors import NotFound
from .queue_status import QueueStatus, last_sweep, queue_status  # noqa: F401  (the page's)
from .scope import parse_id

FAILED_SHOWN = 50


@dataclass(frozen=True)
class FailedOperation:
    operation: Operation
    agency_name: str | None


def failed_operations(limit: int = FAILED_SHOWN) -> list[FailedOperation]:
    """The latest failed operations, newest first, with their agency's name."""
    rows = db.session.execute(
        sa.select(Operation, Agency.name).outerjoin(Agency, Agency.id == Operation.agency_id)
        .where(Operation.status == "failed")
        .order_by(sa.func.coalesce(Operation.finished_at, Operation.created_at).desc(), Operation.id.desc())
        .limit(limit)).all()
    return [FailedOperation(op, name) for op, name in rows]


def retry_failed(operation_id, actor: audit.Actor) -> Operation:
    """Support tries a failed operation again (operations.retry: queued afresh, enqueued); audited."""
    op = db.session.get(Operation, parse_id(operation_id))
    if op is None:
        raise NotFound()
    audit.record(actor, "operation_retried", agency_id=op.agency_id, operation_id=op.id, kind=op.kind,
                 error=(op.error or "")[:200])
    db.session.flush()
    return operations.retry(op)  # commits, with the audit event
