"""Contact support (S3): an agency opens a ticket by e-mail to support, then talks with support staff
in the ticket's live chat. The transcript is the ticket's SupportMessage rows; support closes the
ticket (audited) and a closed ticket takes no more messages. Each line support writes is e-mailed to the
agency user who opened the ticket (once per line); the agency's own lines e-mail nobody.

Agency callers pass their AgencyScope, so another agency's ticket is simply not found."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_number
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Agency, HostedAccount, SupportMessage, SupportRequest, User, utcnow
from . import audit, hosts, keys, mail, notices
from .errors import Conflict, NotFound, ValidationFailed
from .scope import AgencyScope, parse_id

KIND = "contact"
MAX_SUBJECT = 200
MAX_MESSAGE = 5000
# Lines sent in one poll; the next poll fetches the rest.
POLL_LIMIT = 200


@dataclass(frozen=True)
class ChatLine:
    id: int
    body: str
    created_at: object
    author_id: int | None
    author_name: str
    from_support: bool


@dataclass(frozen=True)
class TicketRow:
    ticket: SupportRequest
    account_name: str | None
    agency_name: str | None
    last_at: object
    # True when the last word is the agency's: support owes an answer.
    awaiting_support: bool


# ---- rules -------------------------------------------------------------------------------------------------

def _clean_message(body: str | None, field: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(str(_l("Write a message.")), {field: str(_l("Write a message."))})
    if len(body) > MAX_MESSAGE:
        message = str(_l("A message is limited to %(max)s characters; this one has %(n)s.",
                         max=format_number(MAX_MESSAGE), n=format_number(len(body))))
        raise ValidationFailed(message, {field: message})
    return body


def _clean_subject(subject: str | None) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        message = str(_l("Give your request a subject."))
        raise ValidationFailed(message, {"subject": message})
    if len(subject) > MAX_SUBJECT:
        message = str(_l("A subject is limited to %(max)s characters.", max=MAX_SUBJECT))
        raise ValidationFailed(message, {"subject": message})
    return subject


def _own_account(scope: AgencyScope, name: str | None) -> HostedAccount | None:
    name = (name or "").strip().lower()
    if not name:
        return None
    account = db.session.scalar(scope.accounts().where(HostedAccount.name == name))
    if account is None:
        message = str(_l("No account of yours has that name."))
        raise ValidationFailed(message, {"account": message})
    return account


# ---- the agency's side ---------------------------------------------------------------------------------------

def open_ticket(scope: AgencyScope, user: User, *, subject: str, message: str, account_name: str | None,
                actor: audit.Actor) -> SupportRequest:
    """Opens a ticket with its first message and e-mails support; nothing is written on a refusal."""
    errors: dict[str, str] = {}
    values = {}
    # Every field is checked, so the form shows all its errors at once.
    for key, check in (("subject", lambda: _clean_subject(subject)),
                       ("message", lambda: _clean_message(message, "message")),
                       ("account", lambda: _own_account(scope, account_name))):
        try:
            values[key] = check()
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if errors:
        raise ValidationFailed(next(iter(errors.values())), errors)
    account = values["account"]
    ticket = SupportRequest(kind=KIND, status="open", agency_id=scope.agency_id, subject=values["subject"],
                            account_id=account.id if account else None, created_by_id=user.id,
                            payload={"account_name": account.name} if account else {})
    db.session.add(ticket)
    db.session.flush()
    db.session.add(SupportMessage(request_id=ticket.id, author_id=user.id, body=values["message"]))
    email = _email_support(ticket, user, account, values["message"])
    audit.record(actor, "contact_ticket_opened", agency_id=scope.agency_id, account_id=ticket.account_id,
                 request=ticket.id)
    db.session.commit()
    mail.enqueue_pending(email)
    return ticket


def _email_support(ticket: SupportRequest, user: User, account: HostedAccount | None, message: str):
    """Support's inbox is told of the new ticket, in the default language; the agency's words are its own
    (escaped in the HTML part)."""
    agency = db.session.get(Agency, ticket.agency_id)
    return mail.send("contact_ticket", to=current_app.config["SUPPORT_EMAIL"], locale=None, agency_id=ticket.agency_id,
                     reply_to=user.email,
                     key=keys.ticket_opened_email(ticket.id), context={
                         "ticket": ticket, "agency_name": agency.name if agency else str(ticket.agency_id),
                         "user": user, "account": account, "message": message,
                         "url": hosts.dashboard_url(f"/support/contact/{ticket.id}")})


def _email_opener(ticket: SupportRequest, staff: User, message: SupportMessage):
    """S3: support's reply goes to the agency user who opened the ticket, in that user's language, once per
    reply. Nobody else is e-mailed: not support (its own words), not the agency for its own lines."""
    opener = db.session.get(User, ticket.created_by_id) if ticket.created_by_id else None
    if opener is None or opener.is_support or opener.agency_id != ticket.agency_id:
        return None
    return notices.to_user(opener, "ticket_reply", {
        "ticket": ticket, "staff_name": staff.name or str(_l("Support")), "message": message.body,
        "url": hosts.dashboard_url(f"/contact/{ticket.id}")}, key=keys.notice("ticket_reply", message.id))


def agency_ticket(scope: AgencyScope, ticket_id) -> SupportRequest:
    ticket = scope.get(SupportRequest, ticket_id)
    if ticket.kind != KIND:
        raise NotFound()
    return ticket


def agency_tickets(scope: AgencyScope, limit: int = 100) -> list[TicketRow]:
    return _rows(scope.select(SupportRequest).where(SupportRequest.kind == KIND)
                 .order_by(SupportRequest.created_at.desc(), SupportRequest.id.desc()).limit(limit))


# ---- support's side ----------------------------------------------------------------------------------------------

def staff_ticket(ticket_id) -> SupportRequest:
    ticket = db.session.get(SupportRequest, parse_id(ticket_id))
    if ticket is None or ticket.kind != KIND:
        raise NotFound()
    return ticket


def console_tickets(status: str = "open", limit: int = 200) -> list[TicketRow]:
    """Every agency's contact tickets: open ones oldest first (first come, first served), closed newest first."""
    stmt = sa.select(SupportRequest).where(SupportRequest.kind == KIND)
    if status == "closed":
        stmt = stmt.where(SupportRequest.status == "closed").order_by(SupportRequest.handled_at.desc(),
                                                                       SupportRequest.id.desc())
    else:
        stmt = stmt.where(SupportRequest.status == "open").order_by(SupportRequest.created_at, SupportRequest.id)
    return _rows(stmt.limit(limit))


def open_ticket_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(SupportRequest).where(
        SupportRequest.kind == KIND, SupportRequest.status == "open")) or 0


def close_ticket(ticket: SupportRequest, staff: User, actor: audit.Actor) -> SupportRequest:
    # A conditional UPDATE, so that a message posted at the same moment either lands before or is refused.
    closed = db.session.execute(
        sa.update(SupportRequest).where(SupportRequest.id == ticket.id, SupportRequest.status == "open")
        .values(status="closed", handled_by_id=staff.id, handled_at=utcnow())).rowcount
    if not closed:
        db.session.rollback()
        raise Conflict(str(_l("This ticket is already closed.")))
    audit.record(actor, "contact_ticket_closed", agency_id=ticket.agency_id, account_id=ticket.account_id,
                 request=ticket.id)
    db.session.commit()
    db.session.refresh(ticket)
    return ticket


# ---- the conversation, shared by both sides ---------------------------------------------------------------------

def parse_after(value) -> int:
    """The id of the last message a page already shows (0: none)."""
    try:
        after = int(str(value or 0), 10)
    except ValueError:
        return 0
    return after if 0 <= after < 2**63 else 0


def transcript(ticket: SupportRequest, after: int = 0, limit: int | None = None) -> list[ChatLine]:
    """The ticket's messages with an id above `after`, oldest first."""
    stmt = (sa.select(SupportMessage, User.name, User.role)
            .outerjoin(User, User.id == SupportMessage.author_id)
            .where(SupportMessage.request_id == ticket.id, SupportMessage.id > after)
            .order_by(SupportMessage.id))
    if limit:
        stmt = stmt.limit(limit)
    return [ChatLine(m.id, m.body, m.created_at, m.author_id, name or str(_l("Deleted user")), role == "support")
            for m, name, role in db.session.execute(stmt)]


def post_message(ticket: SupportRequest, author: User, body: str | None) -> SupportMessage:
    """Adds a line to the conversation. Refused when empty, over 5 000 characters or the ticket is closed."""
    if author.is_agency_user and author.agency_id != ticket.agency_id:
        raise NotFound()
    text = _clean_message(body, "body")
    guard = sa.update(SupportRequest).where(SupportRequest.id == ticket.id, SupportRequest.status == "open")
    if author.is_support:
        # The first member of staff who answers is the one handling the ticket.
        guard = guard.values(handled_by_id=sa.func.coalesce(SupportRequest.handled_by_id, author.id))
    else:
        guard = guard.values(status="open")
    # Locks the ticket row until commit, so a close at the same moment cannot slip in between.
    if not db.session.execute(guard).rowcount:
        db.session.rollback()
        raise Conflict(str(_l("This ticket is closed: it takes no more messages. Open a new one if you need more help.")))
    message = SupportMessage(request_id=ticket.id, author_id=author.id, body=text)
    db.session.add(message)
    email = None
    if author.is_support:
        db.session.flush()
        email = _email_opener(ticket, author, message)
    db.session.commit()
    mail.enqueue_pending(email)
    return message


def _rows(stmt) -> list[TicketRow]:
    tickets = list(db.session.scalars(stmt))
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    last_ids = sa.select(sa.func.max(SupportMessage.id).label("id")).where(
        SupportMessage.request_id.in_(ids)).group_by(SupportMessage.request_id).subquery()
    last = {m.request_id: (m.created_at, role) for m, role in db.session.execute(
        sa.select(SupportMessage, User.role).join(last_ids, last_ids.c.id == SupportMessage.id)
        .outerjoin(User, User.id == SupportMessage.author_id))}
    accounts = dict(db.session.execute(sa.select(HostedAccount.id, HostedAccount.name).where(
        HostedAccount.id.in_({t.account_id for t in tickets if t.account_id}))).all())
    agencies = dict(db.session.execute(sa.select(Agency.id, Agency.name).where(
        Agency.id.in_({t.agency_id for t in tickets if t.agency_id}))).all())
    rows = []
    for t in tickets:
        last_at, role = last.get(t.id, (t.created_at, None))
        rows.append(TicketRow(t, accounts.get(t.account_id), agencies.get(t.agency_id), last_at,
                              t.status == "open" and role != "support"))
    return rows
