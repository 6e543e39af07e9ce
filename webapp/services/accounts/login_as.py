"""A10: the agency opens an account as its admin, through a one-minute single-use link on the
account's own host; and the end of that way in when the account leaves the agency (A3, A4)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import AccountUser, HostedAccount, LoginAsToken, User, utcnow
from .. import audit, hosts, mail, notices, permissions, provisioning, sessions
from ..errors import NotFound, ServiceError, ValidationFailed
from .lifecycle import refuse_if_closed

# ---- A10: login-as -------------------------------------------------------------------------------------

LOGIN_AS_SECONDS = 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login_as_link(account: HostedAccount, user_id: int, actor: audit.Actor) -> str:
    """A single-use link, good for a minute, that opens the account as `admin` on its own host."""
    permissions.require(actor, "manage_accounts")
    if account.status == "provisioning":
        raise ServiceError(str(_l("Wait until the account is ready.")))
    refuse_if_closed(account)
    token = secrets.token_urlsafe(32)
    db.session.add(LoginAsToken(account_id=account.id, user_id=user_id, token_hash=_hash(token),
                                expires_at=utcnow() + timedelta(seconds=LOGIN_AS_SECONDS)))
    audit.record(actor, "login_as_link", agency_id=account.agency_id, account_id=account.id)
    db.session.commit()
    # On the account's platform host, also when it has a custom domain: the dashboard's policy lets its
    # forms lead to the platform's hosts only, and the session opened is the agency's, not the client's.
    return hosts.platform_url(account, f"/app/login-as?token={token}")


def support_login_as_link(account_id, staff: User, reason: str, actor: audit.Actor) -> str:
    """A10 "the agency (and support)": support opens any account as its admin, the same way, with a reason
    that goes into the audit log and into an e-mail to the agency that owns the account (who and why)."""
    from ..scope import parse_id
    reason = " ".join((reason or "").split())[:500]
    if not reason:
        raise ValidationFailed(str(_l("Say why you are logging in (the agency is told).")),
                               {"reason": str(_l("Say why you are logging in; the agency is told."))})
    account = db.session.get(HostedAccount, parse_id(account_id))
    if account is None:
        raise NotFound()
    if account.status == "provisioning":
        raise ServiceError(str(_l("Wait until the account is ready.")))
    refuse_if_closed(account)
    token = secrets.token_urlsafe(32)
    db.session.add(LoginAsToken(account_id=account.id, user_id=staff.id, token_hash=_hash(token),
                                expires_at=utcnow() + timedelta(seconds=LOGIN_AS_SECONDS)))
    audit.record(actor, "support_login_as_link", agency_id=account.agency_id, account_id=account.id, reason=reason)
    # The agency is told, in its notice language (never the client; a standalone account has no agency to
    # tell: the audit log keeps the visit).
    emails = notices.to_agency_of(account, "support_login_as", {"staff": staff, "reason": reason}, key=None)
    db.session.commit()
    mail.enqueue_pending(*emails)
    return hosts.platform_url(account, f"/app/login-as?token={token}")


def redeem_login_as(account: HostedAccount, token: str, ip: str | None):
    """Exchanges the token on the account's host: the admin user and who opened it, or None."""
    row = db.session.scalar(sa.select(LoginAsToken).where(LoginAsToken.token_hash == _hash(token or "")))
    if row is None or row.account_id != account.id or row.used_at is not None or row.expires_at < utcnow():
        return None, None
    used = db.session.execute(sa.update(LoginAsToken).where(LoginAsToken.id == row.id, LoginAsToken.used_at.is_(None))
                              .values(used_at=utcnow()))
    if used.rowcount != 1:
        db.session.rollback()
        return None, None
    opener = db.session.get(User, row.user_id)
    # Support may open any account; an agency user only its agency's (the account may have left it
    # after the link was made, A3, A4: then it opens nothing).
    if opener is None or not (opener.is_support or opener.agency_id == account.agency_id):
        db.session.rollback()
        return None, None
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin"))
    audit.record(audit.Actor(f"user:{opener.id}", opener.email, ip, opener.agency_id), "login_as_started",
                 agency_id=account.agency_id, account_id=account.id, by_support=opener.is_support)
    db.session.commit()
    return admin, opener


def end_agency_access(account: HostedAccount, agency_id: int | None, actor: audit.Actor) -> None:
    """An account leaving an agency (transfer away, detach, any change of owner support decides):
    in the caller's transaction, every login-as session that agency opened in the account ends and
    every login-as link its users made and did not use dies. Without this, a former agency's open
    tab could still set a new admin password without the current one."""
    if agency_id is None:
        return
    ended = sessions.end_opened_by_agency(account.id, agency_id)
    links = db.session.execute(sa.delete(LoginAsToken).where(
        LoginAsToken.account_id == account.id, LoginAsToken.used_at.is_(None),
        LoginAsToken.user_id.in_(sa.select(User.id).where(User.agency_id == agency_id)))).rowcount
    audit.record(actor, "agency_access_ended", agency_id=agency_id, account_id=account.id,
                 login_as_sessions=ended, login_as_links=links)
    # A2: a password generated for that agency is never shown to the next one.
    provisioning.forget_credentials(account, reason="left_agency", actor=actor)
