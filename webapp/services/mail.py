"""E-mail goes through the outbox: a row first, then a job delivers it over SMTP. An SMTP
server that is down loses nothing: the job is retried with back-off. Without SMTP_HOST the
message stays in the local outbox page."""
from __future__ import annotations

import smtplib
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..adapters import smtp
from ..extensions import db
from ..models import OutboundEmail, utcnow
from . import keys, operations
from .operations import RetryLater


def queue_email(*, to: str, subject: str, body: str, kind: str, agency_id: int | None = None,
                dedupe_key: str | None = None) -> OutboundEmail:
    """Adds the e-mail and its delivery operation to the caller's transaction. The same
    dedupe_key twice gives the first e-mail (a retried step never writes twice)."""
    if dedupe_key:
        existing = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    email = OutboundEmail(to_address=to, subject=subject[:200], body_text=body, kind=kind,
                          agency_id=agency_id, dedupe_key=dedupe_key)
    db.session.add(email)
    db.session.flush()
    operations.submit("deliver_email", key=keys.email_delivery(email.id), agency_id=agency_id,
                      subject=("email", email.id))
    return email


def enqueue_pending(email: OutboundEmail) -> None:
    """After the caller's commit: hand the delivery to the queue."""
    from ..models import Operation
    op = db.session.scalar(sa.select(Operation).where(Operation.idempotency_key == keys.email_delivery(email.id)))
    if op is not None:
        operations.enqueue(op)


def deliver_email(ctx: operations.OperationContext):
    email = db.session.get(OutboundEmail, ctx.operation.subject_id)
    if email is None or email.status in ("sent", "local"):
        return None
    cfg = current_app.config
    email.attempts += 1
    if not cfg.get("SMTP_HOST"):
        email.status, email.sent_at = "local", utcnow()
        db.session.commit()
        return {"delivered": "local outbox"}
    try:
        smtp.send(host=cfg["SMTP_HOST"], port=cfg["SMTP_PORT"], sender=cfg["MAIL_FROM"], to=email.to_address,
                  subject=email.subject, body=email.body_text, username=cfg.get("SMTP_USERNAME"),
                  password=cfg.get("SMTP_PASSWORD"), starttls=cfg.get("SMTP_STARTTLS", False),
                  verify=cfg.get("SMTP_VERIFY", True),
                  message_id=f"<outbox-{email.id}@agencyhq>")
    except (smtplib.SMTPException, OSError) as exc:
        email.last_error = str(exc)[:300]
        db.session.commit()
        raise RetryLater(f"SMTP delivery failed: {exc}", timedelta(seconds=min(600, 15 * 2 ** email.attempts)))
    email.status, email.sent_at, email.last_error = "sent", utcnow(), None
    db.session.commit()
    return {"delivered": "smtp"}
