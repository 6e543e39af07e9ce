"""Abuse and bounce reports (S6, N3): support files one against a hosted account, the agency acknowledges
it with a reply, support closes it (and may disable the account for abuse)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, enum, utcnow

REPORT_KINDS = ("abuse", "bounce")
REPORT_SEVERITIES = ("low", "medium", "high")
REPORT_STATUSES = ("open", "acknowledged", "closed")


class AbuseReport(Model):
    __tablename__ = "abuse_reports"
    __table_args__ = (
        # The agency's list (newest first, by status) and support's queue (oldest first, by status).
        sa.Index("ix_abuse_reports_agency_status", "agency_id", "status"),
        sa.Index("ix_abuse_reports_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The agency the account belonged to when the report was filed (None: a standalone account).
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(enum(*REPORT_KINDS, name="report_kind"))
    severity: Mapped[str] = mapped_column(enum(*REPORT_SEVERITIES, name="report_severity"))
    description: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[str] = mapped_column(sa.Text)
    sample_message: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(enum(*REPORT_STATUSES, name="report_status"), default="open")
    # People may leave (a team member is removed): the report stays, without their id.
    filed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[object | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    agency_reply: Mapped[str | None] = mapped_column(sa.Text)
    closed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # When support disabled the account for this report (cleared when support enables it again).
    account_disabled_at: Mapped[object | None] = mapped_column(UTCDateTime)
