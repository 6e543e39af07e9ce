"""The job queue's state (issue 25), read from the operation rows: the System page (services.system) and the
metrics' queue gauges show it. The sweeper's last pass is one small Redis key (no table, no migration), written
by each pass (operations.requeue_lost) and read here. Imports no service: operations and metrics both use it."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import Operation, utcnow

log = logging.getLogger("agencyhq.system")

SWEEP_KEY = "agencyhq:sweeper:last_pass"


@dataclass(frozen=True)
class SweepPass:
    at: datetime
    requeued: int
    host: str | None = None


@dataclass
class QueueStatus:
    waiting: int = 0
    waiting_by_kind: dict = field(default_factory=dict)
    oldest_waiting: Operation | None = None
    oldest_waiting_seconds: float = 0.0
    running: int = 0
    failed: int = 0
    last_sweep: SweepPass | None = None


def _due(now):
    return sa.and_(Operation.status == "queued", sa.or_(Operation.run_after.is_(None), Operation.run_after <= now))


def _aware(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def queue_status() -> QueueStatus:
    """A handful of indexed counts (status leads ix_operations_status_enqueued), never a scan of finished rows."""
    now = utcnow()
    status = QueueStatus()
    status.waiting_by_kind = dict(db.session.execute(
        sa.select(Operation.kind, sa.func.count()).where(_due(now)).group_by(Operation.kind)).all())
    status.waiting = sum(status.waiting_by_kind.values())
    if status.waiting:
        status.oldest_waiting = db.session.scalar(sa.select(Operation).where(_due(now)).order_by(
            sa.func.coalesce(Operation.run_after, Operation.created_at), Operation.id).limit(1))
        if status.oldest_waiting is not None:
            since = _aware(status.oldest_waiting.run_after or status.oldest_waiting.created_at)
            status.oldest_waiting_seconds = max(0.0, (_aware(now) - since).total_seconds())
    counts = dict(db.session.execute(sa.select(Operation.status, sa.func.count()).where(
        Operation.status.in_(("running", "failed"))).group_by(Operation.status)).all())
    status.running, status.failed = counts.get("running", 0), counts.get("failed", 0)
    status.last_sweep = last_sweep()
    return status


def record_sweep(requeued: int) -> None:
    """The sweeper made a pass: one Redis key, overwritten each time. Never fails the pass."""
    try:
        import socket
        value = json.dumps({"at": utcnow().isoformat(), "requeued": int(requeued), "host": socket.gethostname()})
        current_app.extensions["job_queue"].connection.set(SWEEP_KEY, value, ex=7 * 86400)
    except Exception as exc:  # noqa: BLE001 - Redis down: the next pass writes it
        log.warning("sweeper pass not recorded: %s", exc)


def last_sweep() -> SweepPass | None:
    try:
        raw = current_app.extensions["job_queue"].connection.get(SWEEP_KEY)
    except Exception as exc:  # noqa: BLE001
        log.warning("sweeper pass not read: %s", exc)
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return SweepPass(_aware(datetime.fromisoformat(data["at"])), int(data.get("requeued", 0)), data.get("host"))
    except (ValueError, KeyError, TypeError):
        return None
