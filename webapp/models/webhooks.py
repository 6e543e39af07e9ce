"""Outgoing webhooks (issue 24): the agency's endpoints, the events that happened, and each delivery of
an event to an endpoint with every try. A delivery row is the truth about it; the job queue only carries
its id."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

DISABLED_REASONS = ("failing", "agency")
DELIVERY_STATUSES = ("pending", "sending", "succeeded", "failed")


class WebhookEndpoint(Model):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        # Enabled, or disabled for a reason; never both.
        sa.CheckConstraint("(enabled AND disabled_reason IS NULL) OR (NOT enabled AND disabled_reason IS NOT NULL)",
                           name="enabled_or_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    # The event types it wants (never empty).
    events: Mapped[list] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(enum(*DISABLED_REASONS, name="webhook_disabled_reason"))
    # The signing secret ("whsec_..."), encrypted with a key derived from SECRET_KEY (services.webhooks).
    secret_encrypted: Mapped[str] = mapped_column(sa.String(400))
    created_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # The first failure of the current run of failures (None after a success); 3 days of it disable it.
    failing_since: Mapped[object | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[object | None] = mapped_column(UTCDateTime)


class WebhookEvent(Model):
    """Something that happened, as the API shows it; kept 30 days (GET /events lets a receiver catch up)."""

    __tablename__ = "webhook_events"
    __table_args__ = (sa.Index("ix_webhook_events_agency_id_id", "agency_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The `webhook-id` of every delivery of it: receivers de-duplicate by it.
    public_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    type: Mapped[str] = mapped_column(sa.String(60))
    # The hosted account it is about (deliveries of one endpoint are sent in order per account).
    account_id: Mapped[int | None]
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookDelivery(Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A resend is a new delivery of the same event (resend_no 1, 2, ...).
        sa.UniqueConstraint("endpoint_id", "event_id", "resend_no"),
        sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_endpoint_account", "endpoint_id", "account_id", "status"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    resend_no: Mapped[int] = mapped_column(default=0)
    # The event's account, copied so the order per endpoint and account is one indexed look-up.
    account_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(enum(*DELIVERY_STATUSES, name="webhook_delivery_status"), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[object | None] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[object | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # When a worker took it to send (status "sending"): one older than the stale limit lost its worker.
    claimed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # When it was last handed to the queue (the sweep hands a due one again only after a while).
    enqueued_at: Mapped[object | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_latency_ms: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    response_excerpt: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[WebhookEvent] = relationship(lazy="joined")
    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(Model):
    """One try of a delivery: what the receiver answered (or why there was no answer)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None]
    latency_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))
    response_excerpt: Mapped[str | None] = mapped_column(sa.String(1000))
