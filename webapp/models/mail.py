"""The outbox: every e-mail is written here first, then delivered over SMTP by a job."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, enum, utcnow

# local: kept in the outbox page because no SMTP server is configured (make run).
EMAIL_STATUSES = ("pending", "sent", "local", "failed")


class OutboundEmail(Model):
    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body_text: Mapped[str] = mapped_column(sa.Text)
    # N1: the HTML part sent beside the text (multipart/alternative), rendered from the same template pair.
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    # The display name of From (MAIL_FROM's address always) and Reply-To: a white-labelled client's e-mail
    # is from the brand's product name and answered to the brand's support e-mail.
    from_name: Mapped[str | None] = mapped_column(sa.String(120))
    reply_to: Mapped[str | None] = mapped_column(sa.String(254))
    # The language it was written in (the reader's).
    locale: Mapped[str | None] = mapped_column(sa.String(8))
    kind: Mapped[str] = mapped_column(sa.String(40))
    # A retried step that sends "the same" e-mail finds this key and sends nothing more.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    status: Mapped[str] = mapped_column(enum(*EMAIL_STATUSES, name="email_status"), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[object | None] = mapped_column(UTCDateTime)
