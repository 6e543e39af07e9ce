"""E-mail goes through the outbox: a row first, then a job delivers it over SMTP.

Every e-mail is a kind with a template pair, `templates/email/<kind>.txt` (its subject block and the text
part) and `<kind>.html` (the HTML part), both on the shared layouts `email/base.txt` and `email/base.html`.
They are rendered when the e-mail is written, in the reader's language and time zone (N1), and kept in
the outbox row: what support sees is what was sent. Services say what happened and to whom (`send`);
none of them builds a subject or a body.

An SMTP server that is down loses nothing: the job is retried with back-off, a bounded number of times.
A server that refuses the message (5xx) fails it at once with the server's reply, shown in the outbox.
Without SMTP_HOST the message stays in the local outbox page."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import formataddr, parseaddr

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from .. import i18n
from ..adapters import smtp
from ..extensions import db
from ..models import OutboundEmail, utcnow
from . import keys, metrics, operations
from .operations import RetryLater

DEFAULT_COLOR = "#2454a6"
PLATFORM_NAME = "AgencyHQ"


@dataclass(frozen=True)
class Brand:
    """Whose e-mail it is, as its reader sees it: the layout's name, colour, logo and support contact.
    A white-labelled one (a client's) never names AgencyHQ: not in the text, the layout or the headers."""
    name: str
    color: str = DEFAULT_COLOR
    logo_url: str | None = None
    support_email: str | None = None
    support_url: str | None = None
    white_label: bool = False

    def checked(self) -> "Brand":
        """A colour that is not #rrggbb, or a logo address that is not http(s), falls back to the default."""
        from .validation import is_hex_color
        color = self.color if is_hex_color(self.color) else DEFAULT_COLOR
        logo = self.logo_url if self.logo_url and self.logo_url.startswith(("https://", "http://")) else None
        return replace(self, color=color, logo_url=logo)


def platform_brand() -> Brand:
    """AgencyHQ's own e-mail: to agency users, support and agencies."""
    from . import hosts
    return Brand(name=PLATFORM_NAME, support_email=current_app.config["SUPPORT_EMAIL"],
                 support_url=hosts.dashboard_url("/contact"))


def render(kind: str, *, locale: str | None, context: dict | None = None, brand: Brand | None = None,
           tz: str | None = None) -> tuple[str, str, str, str]:
    """(subject, text, html, language) of one e-mail kind for one reader. The HTML part is escaped by
    Jinja (the templates end in .html); the text part is not HTML and is not escaped."""
    brand = (brand or platform_brand()).checked()
    env = current_app.jinja_env
    with i18n.reader(locale, tz) as language:
        values = {**(context or {}), "brand": brand, "language": language}
        text = env.get_template(f"email/{kind}.txt")
        subject = " ".join("".join(text.blocks["subject"](text.new_context(values))).split())
        values["subject"] = subject
        body_text = text.render(values).strip() + "\n"
        body_html = env.get_template(f"email/{kind}.html").render(values)
    return subject, body_text, body_html, language


def send(kind: str, *, to: str, locale: str | None, context: dict | None = None, brand: Brand | None = None,
         tz: str | None = None, agency_id: int | None = None, key: str | None = None,
         reply_to: str | None = None) -> OutboundEmail:
    """Writes the e-mail `kind` to `to` and its delivery operation into the caller's transaction (the
    caller commits, then calls `enqueue_pending`). The same key twice gives the first e-mail: a second
    sweep, a retried step or another worker at the same moment never sends a notice twice (the key is
    unique in the outbox). `reply_to` (else the brand's support e-mail): who an answer reaches."""
    if key:
        existing = _by_key(key)
        if existing is not None:
            return existing
    brand = (brand or platform_brand()).checked()
    subject, body_text, body_html, language = render(kind, locale=locale, context=context, brand=brand, tz=tz)
    email = OutboundEmail(to_address=to, subject=subject[:200], body_text=body_text, body_html=body_html,
                          kind=kind[:40], agency_id=agency_id, dedupe_key=key, locale=language,
                          from_name=brand.name[:120] if brand.white_label else None,
                          reply_to=reply_to or brand.support_email)
    try:
        with db.session.begin_nested():
            db.session.add(email)
            db.session.flush()
    except IntegrityError:
        if key and (existing := _by_key(key)) is not None:
            return existing  # written by someone else a moment ago
        raise
    operations.submit("deliver_email", key=keys.email_delivery(email.id), agency_id=agency_id,
                      subject=("email", email.id))
    return email


def _by_key(key: str) -> OutboundEmail | None:
    return db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.dedupe_key == key))


def already_sent(key: str) -> bool:
    return db.session.scalar(sa.select(OutboundEmail.id).where(OutboundEmail.dedupe_key == key)) is not None


def enqueue_pending(*emails: OutboundEmail | None) -> None:
    """After the caller's commit: hand the deliveries to the queue."""
    from ..models import Operation
    for email in emails:
        if email is None:
            continue
        op = db.session.scalar(sa.select(Operation).where(Operation.idempotency_key == keys.email_delivery(email.id)))
        if op is not None:
            operations.enqueue(op)


def _refused(exc: Exception) -> tuple[int, str] | None:
    """The server's permanent refusal (5xx) as (code, reply), or None for what may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
        if answers and all(code >= 500 for code, _ in answers):
            code, reply = answers[0]
            return code, reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return None
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500:
        error = exc.smtp_error
        return exc.smtp_code, error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    return None


def deliver_email(ctx: operations.OperationContext):
    email = db.session.get(OutboundEmail, ctx.operation.subject_id)
    if email is None or email.status in ("sent", "local", "failed"):
        return None
    cfg = current_app.config
    email.attempts += 1
    if not cfg.get("SMTP_HOST"):
        email.status, email.sent_at = "local", utcnow()
        db.session.commit()
        metrics.email("local")
        return {"delivered": "local outbox"}
    display, address = parseaddr(cfg["MAIL_FROM"])
    try:
        smtp.send(host=cfg["SMTP_HOST"], port=cfg["SMTP_PORT"], sender=formataddr((email.from_name or display, address)),
                  to=email.to_address, subject=email.subject, body=email.body_text, html=email.body_html,
                  reply_to=email.reply_to, username=cfg.get("SMTP_USERNAME"), password=cfg.get("SMTP_PASSWORD"),
                  starttls=cfg.get("SMTP_STARTTLS", False), verify=cfg.get("SMTP_VERIFY", True),
                  message_id=f"<outbox-{email.id}@agencyhq>")
    except (smtplib.SMTPException, OSError) as exc:
        refused = _refused(exc)
        if refused is not None:  # the server will never take it: failed now, with its reply
            email.status, email.last_error = "failed", f"{refused[0]} {refused[1]}"[:500]
            db.session.commit()
            metrics.email("failed")
            return {"delivered": False, "refused": email.last_error}
        email.last_error = str(exc)[:500]
        if ctx.operation.attempts >= cfg["OPERATION_MAX_ATTEMPTS"]:
            email.status = "failed"  # the last try: support sees it failed, with the last reply
        db.session.commit()
        metrics.email("failed" if email.status == "failed" else "retry")
        raise RetryLater(f"SMTP delivery failed: {exc}", timedelta(seconds=min(600, 15 * 2 ** email.attempts)))
    email.status, email.sent_at, email.last_error = "sent", utcnow(), None
    db.session.commit()
    metrics.email("sent")
    return {"delivered": "smtp"}

