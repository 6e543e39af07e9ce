"""The audit log: support actions, login-as, lockouts and other events worth keeping."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, utcnow


class AuditEvent(Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_agency_at", "agency_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # "user:12", "account_user:3", "api_token:5", "system"
    actor: Mapped[str] = mapped_column(sa.String(40))
    actor_label: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
