"""The hosted account's own login (W3-W7): lockout after five failures in a row, a throttle per
client address, password reset by e-mail, and the Settings password change.

Times come from `now()`, which tests replace to walk the lockout timeline."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AccountUser, HostedAccount, OutboundEmail, PasswordResetToken, utcnow
from . import audit, hosts, keys, mail, metrics, notices, operations, permissions, sessions, throttle
from .errors import Conflict, RateLimited, ValidationFailed
from .passwords import hash_password, password_problem, verify_password

MAX_FAILURES = 5
LOCK_MINUTES = 5
# One client address may fail this many logins (on any accounts) in the window before it is
# refused outright, so it cannot lock out many accounts.
ADDRESS_FAILURES = throttle.Limit("client-login-failures", "20 per 15 minutes")
RESET_MINUTES = 60
# A10: a session the agency opened with login-as ends after this long, even while it is in use.
LOGIN_AS_SESSION = timedelta(hours=8)


def now():
    return utcnow()


@dataclass(frozen=True)
class LoginResult:
    user: AccountUser | None
    outcome: str  # ok, wrong, locked, throttled


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _actor(ip: str | None, account: HostedAccount) -> audit.Actor:
    return audit.Actor("client", f"admin@{account.name}", ip, account.agency_id)


def login(account: HostedAccount, username: str, password: str, ip: str | None, user_agent: str = "") -> LoginResult:
    actor, agent = _actor(ip, account), (user_agent or "")[:300]
    if throttle.retry_after(ADDRESS_FAILURES, ip or "-"):
        audit.record(actor, "client_login_throttled", account_id=account.id, user_agent=agent)
        db.session.commit()
        metrics.login_failed("client", "throttled")
        return LoginResult(None, "throttled")
    user = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                        AccountUser.username == (username or "").strip()))
    current = now()
    if user is not None and user.locked_until and user.locked_until > current:
        # W4: during the lockout every attempt fails, even with the right (or a just-reset) password.
        verify_password(user.password_hash, password or "")
        throttle.hit(ADDRESS_FAILURES, ip or "-")
        audit.record(actor, "client_login_locked_out", account_id=account.id, user_agent=agent)
        db.session.commit()
        metrics.login_failed("client", "locked")
        return LoginResult(None, "locked")
    if verify_password(user.password_hash if user else None, password or ""):
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, current
        audit.record(actor, "client_login_succeeded", account_id=account.id, user_agent=agent)
        db.session.commit()
        return LoginResult(user, "ok")
    outcome = "wrong"
    throttle.hit(ADDRESS_FAILURES, ip or "-")
    if user is not None:
        db.session.execute(sa.update(AccountUser).where(AccountUser.id == user.id)
                           .values(failed_logins=AccountUser.failed_logins + 1))
        db.session.refresh(user)
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins, user.locked_until = 0, current + timedelta(minutes=LOCK_MINUTES)
            audit.record(actor, "client_account_locked", account_id=account.id, until=user.locked_until.isoformat())
            outcome = "locked"
    audit.record(actor, "client_login_failed", account_id=account.id, user_agent=agent)
    db.session.commit()
    metrics.login_failed("client", "wrong")
    if outcome == "locked":
        metrics.lockout("client")
    return LoginResult(None, outcome)


def _reset_limits() -> tuple[throttle.Limit, throttle.Limit]:
    cfg = current_app.config
    return (throttle.Limit("reset-emails-per-account", f"{cfg['RESET_EMAILS_PER_ACCOUNT']} per hour"),
            throttle.Limit("reset-requests-per-address", f"{cfg['RESET_REQUESTS_PER_ADDRESS']} per hour"))


def request_reset(account: HostedAccount, email: str, *, actor: audit.Actor) -> None:
    """W5: e-mails a reset link if `email` is the admin's. The request does the same work whatever the
    e-mail (the audit log, a job with the e-mail's hash, one commit), so neither its answer nor its time
    says whether the e-mail is the admin's: the job compares and sends. Throttled per account and per
    address, with the same answer."""
    typed = hashlib.sha256((email or "").strip().lower().encode("utf-8", "backslashreplace")).hexdigest()
    per_account, per_address = _reset_limits()
    account_ok = throttle.hit(per_account, str(account.id))
    address_ok = throttle.hit(per_address, actor.ip or "-")
    if not (account_ok and address_ok):
        audit.record(actor, "client_password_reset_throttled", account_id=account.id)
        db.session.commit()
        return
    audit.record(actor, "client_password_reset_requested", account_id=account.id)
    op = operations.submit("send_password_reset", key=keys.password_reset_request(),
                           agency_id=account.agency_id, subject=("account", account.id),
                           params={"email_sha256": typed})
    db.session.commit()
    operations.enqueue(op)


def send_password_reset(ctx: operations.OperationContext):
    """The job behind W5: sends the link when the e-mail asked for is the admin's, once per request."""
    account = db.session.get(HostedAccount, ctx.operation.subject_id)
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin")) if account else None
    if admin is None or hashlib.sha256(admin.email.strip().lower().encode()).hexdigest() != ctx.params["email_sha256"]:
        return {"sent": False}
    send_reset(account, admin, dedupe_key=keys.password_reset_email(ctx.operation.id))
    return {"sent": True}


def send_reset(account: HostedAccount, admin: AccountUser, *, dedupe_key: str | None = None) -> None:
    if dedupe_key and db.session.scalar(sa.select(OutboundEmail.id).where(OutboundEmail.dedupe_key == dedupe_key)):
        return  # a rerun of the job that already sent it
    token = secrets.token_urlsafe(32)  # 256 bits
    db.session.add(PasswordResetToken(account_user_id=admin.id, token_hash=_hash(token),
                                      expires_at=now() + timedelta(minutes=RESET_MINUTES)))
    # Built from the account's stored host, never from the request's Host header.
    link = hosts.account_url(account, f"/app/reset/{token}")
    # The account's brand, in the account's language: the client's admin never reads AgencyHQ's name.
    email = notices.to_client(account, admin.email, "client_password_reset",
                              {"url": link, "minutes": RESET_MINUTES}, key=dedupe_key)
    db.session.commit()
    mail.enqueue_pending(email)


def agency_sends_reset(account: HostedAccount, actor: audit.Actor) -> None:
    """W6: the agency sends the same reset e-mail to the account's admin (within the per-account limit)."""
    permissions.require(actor, "manage_accounts")
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin"))
    if admin is None:
        raise Conflict(str(_l("This account has no admin yet; wait until it is ready.")))
    per_account, _per_address = _reset_limits()
    if not throttle.hit(per_account, str(account.id)):
        wait = throttle.retry_after(per_account, str(account.id)) or 3600
        raise RateLimited(str(_l("Enough reset e-mails went to this account's admin for now; try again in "
                                 "%(n)s minutes.", n=max(1, -(-wait // 60)))), wait)
    audit.record(actor, "client_password_reset_sent_by_agency", account_id=account.id)
    send_reset(account, admin)


def reset_token_user(account: HostedAccount, token: str) -> AccountUser | None:
    row = db.session.scalar(sa.select(PasswordResetToken).where(PasswordResetToken.token_hash == _hash(token or "")))
    if row is None or row.used_at is not None or row.expires_at < now():
        return None
    user = db.session.get(AccountUser, row.account_user_id)
    return user if user is not None and user.account_id == account.id else None


def reset_password(account: HostedAccount, token: str, new: str, confirm: str, ip: str | None) -> AccountUser:
    user = reset_token_user(account, token)
    if user is None:
        raise ValidationFailed(str(_l("This link has expired or was already used. Ask for a new one.")), {})
    _check_new(new, confirm, user)
    used = db.session.execute(sa.update(PasswordResetToken).where(
        PasswordResetToken.token_hash == _hash(token), PasswordResetToken.used_at.is_(None)).values(used_at=now()))
    if used.rowcount != 1:
        db.session.rollback()
        raise ValidationFailed(str(_l("This link has expired or was already used. Ask for a new one.")), {})
    _set(user, new)
    audit.record(_actor(ip, account), "client_password_reset", account_id=account.id)
    db.session.commit()
    return user


def _check_new(new: str, confirm: str, user: AccountUser) -> None:
    problem = password_problem(new or "", identity=user.email)
    if problem:
        raise ValidationFailed(str(_l("The password was not changed.")), {"new_password": str(problem)})
    if new != confirm:
        raise ValidationFailed(str(_l("The password was not changed.")),
                               {"confirm_password": str(_l("The two new passwords are not the same."))})


def _set(user: AccountUser, new: str) -> None:
    # A new password ends every other session of this user; the lockout window still runs (W4).
    user.password_hash, user.password_changed_at = hash_password(new), now()
    user.session_epoch += 1
    sessions.end_others(user)


def set_password_by_agency(user: AccountUser, new: str, confirm: str, actor: audit.Actor) -> None:
    """W6: signed in by the agency, a new password is set without the current one."""
    _check_new(new, confirm, user)
    _set(user, new)
    audit.record(actor, "client_password_set_by_agency", account_id=user.account_id)
    db.session.commit()


# ---- A10: the session the agency opened with login-as ----------------------------------------------

def login_as_session(opener) -> dict:
    """What the client site's session keeps about the agency user (or support staff) who opened it, and when."""
    return {"user_id": opener.id, "label": opener.email, "agency_id": opener.agency_id, "started": now().isoformat(),
            "support": bool(opener.is_support)}


def login_as_session_over(by: dict) -> bool:
    """True once the session has lasted LOGIN_AS_SESSION (a session without a start is over)."""
    try:
        started = datetime.fromisoformat(by["started"])
    except (KeyError, TypeError, ValueError):
        return True
    return now() - started >= LOGIN_AS_SESSION


def end_login_as(account: HostedAccount, by: dict, ip: str | None, reason: str) -> None:
    """Writes the end of a login-as session, by whoever opened it: logout, replaced by another login
    on the host, past its lifetime, or its user signed out elsewhere (a new password)."""
    actor = audit.Actor(f"user:{by['user_id']}", by["label"], ip, by.get("agency_id"))
    audit.record(actor, "login_as_ended", agency_id=account.agency_id, account_id=account.id, reason=reason)
    db.session.commit()
