"""Requests handled by support staff (A3, A4, A5, S3, S6) and their conversations."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

REQUEST_KINDS = ("transfer", "detach", "trial_extension", "abuse", "bounce", "contact")
REQUEST_STATUSES = ("awaiting_client", "open", "approved", "rejected", "closed")


class SupportRequest(Model):
    __tablename__ = "support_requests"
    __table_args__ = (sa.Index("ix_support_requests_kind_status", "kind", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(enum(*REQUEST_KINDS, name="request_kind"))
    status: Mapped[str] = mapped_column(enum(*REQUEST_STATUSES, name="request_status"), default="open")
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    # Kind-specific fields: the account address and admin e-mail of a transfer, the client's e-mail of a detach...
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # A3: the client confirms a transfer through an e-mailed link.
    confirm_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    confirmed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[object | None] = mapped_column(UTCDateTime)

    messages = relationship("SupportMessage", back_populates="request", order_by="SupportMessage.id")


class SupportMessage(Model):
    """A line of a ticket's conversation or live chat; the transcript is kept on the ticket."""

    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("support_requests.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    request = relationship("SupportRequest", back_populates="messages")
