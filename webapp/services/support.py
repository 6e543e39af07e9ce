"""Requests support staff handle (A3 transfer in, A4 detach, A5 further trial extensions) and the
console's searches (S6). Every decision is written to the audit log."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..catalog import get_catalog
from ..extensions import db
from ..models import AccountUser, Agency, AuditEvent, HostedAccount, OutboundEmail, SupportRequest, User, utcnow
from . import accounts, audit, branding, events, hosts, keys, mail, notices, permissions, pushdown, renewals
from .errors import Conflict, NotFound, ServiceError, ValidationFailed
from .validation import email_problem

QUEUE_KINDS = ("transfer", "detach", "trial_extension")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---- A3: transfer an existing account in ---------------------------------------------------------------

def request_transfer(agency_id: int, user: User, *, account_name: str, admin_email: str, actor: audit.Actor):
    """The agency asks for an existing account; its admin confirms by an e-mailed link, then support
    approves. The answer is the same whether or not the address and e-mail match (no enumeration)."""
    permissions.require(actor, "manage_accounts")
    name, email = (account_name or "").strip().lower(), (admin_email or "").strip().lower()
    if not name or "@" not in email:
        raise ValidationFailed(str(_l("Enter the account's address and its admin's e-mail.")),
                               {"account_name": str(_l("Enter the account's address."))} if not name else
                               {"admin_email": str(_l("Enter a valid e-mail address."))})
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == name))
    if account is not None and account.agency_id == agency_id:
        # Its own account: nothing to transfer (and it tells the agency nothing it does not know).
        problem = str(_l("%(name)s is already one of your accounts.", name=name))
        raise ValidationFailed(problem, {"account_name": problem})
    agency = db.session.get(Agency, agency_id)
    request = SupportRequest(kind="transfer", status="awaiting_client", agency_id=agency_id,
                             subject=f"Transfer {name} to {agency.name if agency else agency_id}",
                             created_by_id=user.id, payload={"account_name": name, "admin_email": email})
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin")) if account else None
    token = secrets.token_urlsafe(32)
    if account is not None and account.agency_id != agency_id and admin is not None \
            and admin.email.lower() == email:
        request.account_id = account.id
        request.confirm_token_hash = _hash(token)
    db.session.add(request)
    db.session.flush()
    if request.account_id:
        confirm_url = hosts.dashboard_url(f"/transfer/confirm/{token}")
        # The account's admin is its client: the e-mail carries the account's brand, in its language.
        email_row = notices.to_client(account, admin.email, "transfer_confirm", {"confirm_url": confirm_url},
                                      key=keys.transfer_confirmation_email(request.id), agency_id=agency_id)
    audit.record(actor, "transfer_requested", agency_id=agency_id, account_name=name)
    db.session.commit()
    if request.account_id:
        mail.enqueue_pending(email_row)
    return request


def confirm_transfer(token: str) -> SupportRequest:
    request = db.session.scalar(sa.select(SupportRequest).where(
        SupportRequest.confirm_token_hash == _hash(token or ""), SupportRequest.kind == "transfer"))
    if request is None or request.status != "awaiting_client":
        raise NotFound(str(_l("This confirmation link is not valid any more.")))
    request.status, request.confirmed_at = "open", utcnow()
    audit.record(audit.Actor("client", request.payload.get("admin_email", "client")), "transfer_confirmed_by_client",
                 agency_id=request.agency_id, account_id=request.account_id)
    db.session.commit()
    return request


# ---- A4: detach to a standalone account -------------------------------------------------------------------

def request_detach(account: HostedAccount, user: User, *, client_email: str, actor: audit.Actor) -> SupportRequest:
    permissions.require(actor, "manage_accounts")
    email = (client_email or "").strip().lower()
    # The address becomes the account's notification e-mail: the same check as every other e-mail field.
    problem = str(_l("Enter the client's e-mail.")) if not email else email_problem(email)
    if problem:
        raise ValidationFailed(problem, {"client_email": problem})
    if db.session.scalar(sa.select(SupportRequest.id).where(SupportRequest.kind == "detach",
                                                            SupportRequest.account_id == account.id,
                                                            SupportRequest.status == "open")):
        raise Conflict(str(_l("A detach request for this account is already with support.")))
    request = SupportRequest(kind="detach", status="open", agency_id=account.agency_id, account_id=account.id,
                             subject=f"Detach {account.name} to a standalone account", created_by_id=user.id,
                             payload={"client_email": email})
    db.session.add(request)
    audit.record(actor, "detach_requested", agency_id=account.agency_id, account_id=account.id)
    db.session.commit()
    return request


# ---- A3, A4: the agency's own requests and where they stand ------------------------------------------------

AGENCY_REQUEST_KINDS = ("transfer", "detach")


def _agency_requests(agency_id: int, kind: str = "", status: str = ""):
    stmt = sa.select(SupportRequest).where(SupportRequest.agency_id == agency_id,
                                           SupportRequest.kind.in_(AGENCY_REQUEST_KINDS))
    if kind:
        stmt = stmt.where(SupportRequest.kind == kind)
    if status:
        stmt = stmt.where(SupportRequest.status == status)
    return stmt


def agency_requests(agency_id: int, *, kind: str = "", status: str = "", page: int = 1,
                    per_page: int | None = None) -> Page:
    """The transfer-in and detach requests the agency filed, newest first, a page at a time (past the end:
    no rows)."""
    per_page = per_page or PER_PAGE
    stmt = _agency_requests(agency_id, kind, status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = list(db.session.scalars(stmt.order_by(SupportRequest.created_at.desc(), SupportRequest.id.desc())
                                   .offset((page - 1) * per_page).limit(per_page)))
    return Page(rows, page, page * per_page < total, total)


def agency_request(agency_id: int, request_id) -> SupportRequest:
    """One of the agency's transfer-in or detach requests; another agency's (or another kind) is NotFound."""
    from .scope import parse_id
    row = db.session.scalar(_agency_requests(agency_id).where(SupportRequest.id == parse_id(request_id)))
    if row is None:
        raise NotFound()
    return row


def request_account_id(request: SupportRequest) -> int | None:
    """The account a request is about, as the agency may be told it: a detach's (its own account); a transfer's
    only once approved (until then, whether the address and e-mail matched an account is not told)."""
    if request.kind == "transfer" and request.status != "approved":
        return None
    return request.account_id


# ---- S6: the console ------------------------------------------------------------------------------------------

PER_PAGE = 50


@dataclass(frozen=True)
class Page:
    """One page of a console list: its rows, whether older ones follow, and (for the queue) the total."""
    rows: list
    page: int
    has_next: bool
    total: int | None = None

    @property
    def pages(self) -> int | None:
        return None if self.total is None else _page_count(self.total)


def _page_count(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def queue(kind: str | None = None, page: int = 1) -> Page:
    """The requests waiting, oldest first, a page at a time (a thousand open requests on one page took
    a web process 70 ms to render and made the console unusable to scroll)."""
    waiting = sa.and_(SupportRequest.status.in_(("open", "awaiting_client")), SupportRequest.kind.in_(QUEUE_KINDS))
    if kind in QUEUE_KINDS:
        waiting = sa.and_(waiting, SupportRequest.kind == kind)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(SupportRequest).where(waiting))
    page = min(page, _page_count(total))  # past the end: the last page, as the other lists do
    rows = list(db.session.scalars(sa.select(SupportRequest).where(waiting)
                                   .order_by(SupportRequest.created_at, SupportRequest.id)
                                   .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    return Page(rows, page, page * PER_PAGE < total, total)


def agency_names(requests) -> dict[int, str]:
    """{agency id: name} of the agencies that asked, so the console names them (not their number)."""
    ids = {r.agency_id for r in requests if r.agency_id}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Agency.id, Agency.name).where(Agency.id.in_(ids))).all())


def decide(request_id, *, approve: bool, reason: str, staff: User, actor: audit.Actor) -> SupportRequest:
    from .scope import parse_id
    request = db.session.get(SupportRequest, parse_id(request_id))
    if request is None:
        raise NotFound()
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationFailed(str(_l("Say why the request is rejected.")), {"reason": str(_l("Say why."))})
    # Claim the request with a conditional UPDATE, so that two staff deciding it at once (or one double
    # click) apply it once: the second finds it no longer open. SQLite ignores FOR UPDATE; this works on both.
    claimed = db.session.execute(
        sa.update(SupportRequest).where(SupportRequest.id == request.id, SupportRequest.status == "open")
        .values(status="approved" if approve else "rejected", decision_reason=reason or None,
                handled_by_id=staff.id, handled_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        db.session.rollback()
        raise Conflict(str(_l("This request was already decided or still waits for the client.")))
    db.session.refresh(request)
    account = db.session.get(HostedAccount, request.account_id) if request.account_id else None
    away = detached = None
    try:
        if approve:
            if request.kind == "transfer":
                away = _tell_losing_agency(account)
                _move_to_agency(account, request, actor)
            elif request.kind == "detach":
                accounts.end_agency_access(account, account.agency_id, actor)
                pushdown.release_account(account.id, account.agency_id)
                account.agency_id, account.kind, account.detached_at = None, "standalone", utcnow()
                account.cancelled_at = None
                if account.status == "disabled" and account.disabled_reason == "agency":
                    # The agency's own switch leaves with the agency: nobody would be left to turn it back on.
                    account.status, account.disabled_at, account.disabled_reason = "active", None, None
                # The client owns it now: the platform's notices go to the client, no longer to the agency.
                account.notification_email = request.payload.get("client_email") or account.notification_email
                detached = account
            elif request.kind == "trial_extension":
                accounts.apply_trial_extension(account, int(request.payload.get("days", 14)))
    except ServiceError:
        db.session.rollback()
        raise
    audit.record(actor, f"{request.kind}_{request.status}", agency_id=request.agency_id,
                 account_id=request.account_id, request=request.id, reason=reason)
    email = _tell_agency(request, account)
    billed = _tell_client_it_pays(detached) if detached is not None else None
    if approve and request.kind == "transfer":
        events.account(account, "account.transferred_in")
    elif detached is not None:
        events.account(detached, "account.detached", agency_id=request.agency_id)
    db.session.commit()
    if detached is not None:
        # A4: a renewal the agency's card declined is not owed by anyone now; the client's own starts afresh.
        renewals.release_agency_renewals(detached.id)
    mail.enqueue_pending(email, billed, *(away or ()))
    return request


def _tell_client_it_pays(account: HostedAccount):
    """A4: the detached account's client is told that the account is billed to it from its next renewal, on
    which day and at what price, and where to add its card (the account's own Billing page). To the account's
    client's address the detach was asked for (its notices' address from now on), in its language and under its
    own brand; the former agency (and its card) is not named."""
    today = utcnow().date()
    plan = renewals.next_renewal_plan(account)
    renews = account.plan_term != "trial" and account.status != "expired"
    return notices.to_client(account, account.notification_email, "account_billed_to_client", {
        "renews": renews, "trial": account.plan_term == "trial", "expired": account.status == "expired",
        "renews_on": max(account.period_end, today) if account.period_end else today,
        "ends_on": account.period_end, "amount": renewals.renewal_price_cents(account) if renews else None,
        "currency": get_catalog().currency, "tier": plan[0], "term": plan[1], "contact_limit": plan[2],
        "billing_url": hosts.account_url(account, "/app/billing"), "host": hosts.account_host(account)},
        key=keys.notice("account_billed_to_client", account.id, account.detached_at.date()))


def _tell_losing_agency(account: HostedAccount | None) -> list:
    """A3: the agency an account is moved away from hears of it (before the move: its notification
    e-mail is still the losing agency's). A referred account's notification e-mail is its client's, so
    the agency is told at its own address; a standalone account had no agency."""
    if account is None:
        return []
    return notices.to_agency_of(account, "account_transferred_away", {
        "moved_on": utcnow().date(), "contact_url": hosts.dashboard_url("/contact")},
        key=keys.notice("account_transferred_away", account.id, account.agency_id))


def _move_to_agency(account: HostedAccount, request: SupportRequest, actor: audit.Actor) -> None:
    if account is None:
        raise ServiceError(str(_l("The account of this request no longer exists.")))
    accounts.end_agency_access(account, account.agency_id, actor)
    pushdown.release_account(account.id, account.agency_id)
    account.agency_id, account.kind, account.detached_at = request.agency_id, "resold", None
    # Billing, abuse and bounce notices go to the new owner from now on, not to the previous agency.
    account.notification_email = _agency_address(request) or account.notification_email
    branding.follow_new_owner(account)
    # Billed by the new agency from its next renewal: the period already paid stands.


def _agency_address(request: SupportRequest) -> str | None:
    """Where the agency that filed the request is written to: the user who filed it, else the agency's
    notice address (its notice e-mail, or its first owner)."""
    creator = db.session.get(User, request.created_by_id) if request.created_by_id else None
    if creator is not None and creator.agency_id == request.agency_id:
        return creator.email
    if request.agency_id is None:
        return None
    return next(iter(notices.agency_addresses(request.agency_id)), None)


def _tell_agency(request: SupportRequest, account: HostedAccount | None):
    """The decision goes to the agency that asked. A transfer's account still carries the previous
    agency's notification e-mail until it is approved, so transfers and detaches are written to the
    requesting agency; a trial extension to the account's notification e-mail (the agency's own)."""
    to = account.notification_email if account is not None and request.kind == "trial_extension" else None
    to = to or _agency_address(request)
    if not to:
        return None
    approved = request.status == "approved"
    in_list = approved and request.kind != "detach" or not approved and request.kind != "transfer"
    return next(iter(notices.to_agency(request.agency_id, f"{request.kind}_decided", to=to,
                             key=keys.request_decided_email(request.id), context={
                         "approved": approved, "reason": request.decision_reason,
                         "name": account.name if account is not None else request.payload.get("account_name", ""),
                         "ends_on": account.period_end if account is not None else None,
                         "account_url": hosts.dashboard_url(f"/accounts/{account.id}")
                         if account is not None and in_list else None})), None)


# ---- S6: the outbox ---------------------------------------------------------------------------------------

# A token in a link: a path segment or a query value of 20 or more URL-safe characters (reset, transfer,
# login-as and invitation links all carry one of 32 bytes).
_LINK_SECRET = re.compile(r"(https?://\S*?[/=])([A-Za-z0-9_-]{20,})")
MASK = "••••••••"


def mask_secrets(text: str) -> str:
    """The text with the tokens of its links hidden: that a link was sent shows, the link does not."""
    return _LINK_SECRET.sub(lambda m: m.group(1) + MASK, text or "")


OUTBOX_STATUSES = ("pending", "sent", "local", "failed")


def outbox(limit: int = 100, status: str | None = None) -> list[OutboundEmail]:
    """The newest e-mails, for the console's list (which shows them with mask_secrets); `status` keeps
    one status (failed: the refused and the undeliverable, with the server's reply)."""
    query = sa.select(OutboundEmail).order_by(OutboundEmail.id.desc()).limit(limit)
    if status in OUTBOX_STATUSES:
        query = query.where(OutboundEmail.status == status)
    return list(db.session.scalars(query))


def open_outbox_email(email_id, actor: audit.Actor) -> OutboundEmail:
    """One e-mail in full, its live links included; who opened it is written to the audit log."""
    from .scope import parse_id
    email = db.session.get(OutboundEmail, parse_id(email_id))
    if email is None:
        raise NotFound()
    audit.record(actor, "outbox_email_opened", agency_id=email.agency_id, email=email.id, kind=email.kind,
                 to=email.to_address)
    db.session.commit()
    return email


def search_accounts(q: str, limit: int = 50) -> list:
    """Any account on the platform, by name, client, e-mail or domain."""
    from .resold import like_pattern
    q = " ".join((q or "").split())[:100]
    if not q:
        return []
    # One row per account: its agency shown by its first owner's e-mail (not one row per team member).
    owner = (sa.select(User.email).where(User.agency_id == HostedAccount.agency_id, User.team_role == "owner")
             .order_by(User.id).limit(1).correlate(HostedAccount).scalar_subquery())
    return db.session.execute(
        sa.select(HostedAccount, owner)
        .where(HostedAccount.search_text.like(like_pattern(q), escape="\\"))
        .order_by(HostedAccount.name).limit(limit)).all()


def audit_log(*, action: str = "", account: str = "", since: str = "", page: int = 1) -> Page:
    """Newest first, a page at a time; one row more than the page tells whether older ones follow."""
    stmt = sa.select(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if account:
        stmt = stmt.join(HostedAccount, HostedAccount.id == AuditEvent.account_id).where(
            HostedAccount.name == account.strip().lower())
    if since:
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=timezone.utc)
            stmt = stmt.where(AuditEvent.at >= start)
        except ValueError:
            pass
    rows = list(db.session.scalars(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                   .offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)))
    return Page(rows[:PER_PAGE], page, len(rows) > PER_PAGE)


def audit_actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
