"""One row per background operation: the truth about a job. RQ is only the transport."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, enum, utcnow

OPERATION_STATUSES = ("queued", "running", "succeeded", "failed")


class Operation(Model):
    __tablename__ = "operations"
    __table_args__ = (
        sa.Index("ix_operations_status_enqueued", "status", "enqueued_at"),
        sa.Index("ix_operations_subject", "subject_type", "subject_id"),
        sa.CheckConstraint("progress >= 0 AND progress <= total", name="progress_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    subject_type: Mapped[str | None] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(enum(*OPERATION_STATUSES, name="operation_status"), default="queued")
    # Steps done out of total: the page draws "n of N" and a bar from these.
    progress: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=1)
    message: Mapped[str | None] = mapped_column(sa.String(200))
    error: Mapped[str | None] = mapped_column(sa.String(500))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    result: Mapped[dict | None] = mapped_column(sa.JSON)
    # The same key twice gives the same operation, never a second one.
    idempotency_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # Not before this time (scheduled work and retry back-off).
    run_after: Mapped[object | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[object | None] = mapped_column(UTCDateTime)
    started_at: Mapped[object | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[object | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[object | None] = mapped_column(UTCDateTime)

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")

    @property
    def percent(self) -> int:
        return int(100 * self.progress / self.total) if self.total else 0
