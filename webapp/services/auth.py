"""Logging in and passwords, for dashboard users and hosted-account users."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AccountUser, OutboundEmail, SignInFailures, User, utcnow
from . import audit, keys, links, mail, metrics, notices, operations, sessions, throttle, two_factor
from .dates import timezone_set
from .errors import NotFound, ValidationFailed
from .passwords import hash_password, needs_rehash, password_problem, verify_password


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


# Dashboard sign-in (agency users and support staff): the same protections as a hosted account's login.
MAX_FAILURES = 5  # in a row, for one e-mail, known or not
LOCK_MINUTES = 5
# One address may fail this many sign-ins (on any e-mails) before it is refused outright for a while.
ADDRESS_FAILURES = throttle.Limit("dashboard-sign-in-failures", "20 per 15 minutes")


@dataclass(frozen=True)
class SignInResult:
    user: User | None
    # ok, wrong, locked, throttled; code_needed (the password was right, the code comes next); refused
    # (the password was right but the login may not sign in now: `message` says why)
    outcome: str
    retry_after: int | None = None  # seconds, for locked and throttled
    message: str | None = None
    # ok, but two-factor sign-in is required of this user and not set up: enrolment comes first.
    must_enrol: bool = False


def _email_hash(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8", "backslashreplace")).hexdigest()


def sign_in(email: str, password: str, *, ip: str | None, user_agent: str = "") -> SignInResult:
    """Checks a dashboard sign-in. Five failures in a row lock the e-mail for five minutes, whether or
    not a user has it (the answers are the same); an address that failed too often is refused before
    any password is hashed; an unknown e-mail is checked against a dummy hash, so it takes as long.
    Every attempt is in the audit log with its address and browser."""
    typed, agent = normalize_email(email), (user_agent or "")[:300]
    anonymous = audit.Actor("anonymous", typed or "-", ip)
    wait = throttle.retry_after(ADDRESS_FAILURES, ip or "-")
    if wait:
        audit.record(anonymous, "sign_in_throttled", email=typed[:254], user_agent=agent)
        db.session.commit()
        metrics.login_failed("dashboard", "throttled")
        return SignInResult(None, "throttled", wait)
    user = db.session.scalar(sa.select(User).where(User.email == typed))
    key, now = _email_hash(typed), utcnow()
    failures = db.session.get(SignInFailures, key)
    if failures is not None and failures.locked_until is not None and failures.locked_until > now:
        throttle.hit(ADDRESS_FAILURES, ip or "-")
        audit.record(anonymous, "sign_in_locked_out", email=typed[:254], user_agent=agent)
        db.session.commit()
        metrics.login_failed("dashboard", "locked")
        return SignInResult(None, "locked", max(1, math.ceil((failures.locked_until - now).total_seconds())))
    if verify_password(user.password_hash if user else None, password or ""):
        if failures is not None:
            db.session.delete(failures)
        if needs_rehash(user.password_hash):  # the cost settings rose since it was hashed
            user.password_hash = hash_password(password)
        actor = audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id)
        refusal = sign_in_refusal(user)
        if refusal:
            audit.record(actor, "sign_in_refused", reason=refusal[:200], user_agent=agent)
            db.session.commit()
            return SignInResult(user, "refused", message=refusal)
        if user.has_2fa:
            audit.record(actor, "sign_in_code_asked", user_agent=agent)
            db.session.commit()
            return SignInResult(user, "code_needed")
        return _succeeded(user, actor, agent, factor="password")
    throttle.hit(ADDRESS_FAILURES, ip or "-")
    count = _count_failure(key, now)
    outcome = "wrong"
    if count >= MAX_FAILURES:
        until = now + timedelta(minutes=LOCK_MINUTES)
        db.session.execute(sa.update(SignInFailures).where(SignInFailures.email_hash == key)
                           .values(failures=0, locked_until=until))
        audit.record(anonymous, "sign_in_email_locked", email=typed[:254], until=until.isoformat())
        outcome = "locked"
    audit.record(anonymous, "sign_in_failed", email=typed[:254], user_agent=agent)
    db.session.commit()
    metrics.login_failed("dashboard", "wrong")
    if outcome == "locked":
        metrics.lockout("dashboard")
    return SignInResult(None, outcome, LOCK_MINUTES * 60 if outcome == "locked" else None)


def _succeeded(user: User, actor: audit.Actor, agent: str, *, factor: str) -> SignInResult:
    user.last_login_at = utcnow()
    audit.record(actor, "sign_in_succeeded", user_agent=agent, factor=factor)
    db.session.commit()
    return SignInResult(user, "ok", must_enrol=not user.has_2fa and two_factor.required_for(user))


# The second step: a code within a few minutes of the password, five wrong ones at most.
CODE_STEP_MINUTES = 5
CODE_FAILURES = throttle.Limit("sign-in-code-failures", "5 per 5 minutes")


def finish_sign_in(user_id: int, epoch: int, code: str, *, ip: str | None, user_agent: str = "") -> SignInResult:
    """After the password: the code from the app or a recovery code, each accepted once."""
    user = db.session.get(User, user_id)
    agent = (user_agent or "")[:300]
    if user is None or user.session_epoch != epoch or not user.has_2fa or sign_in_refusal(user):
        return SignInResult(None, "restart")
    actor = audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id)
    if throttle.retry_after(CODE_FAILURES, str(user.id)):
        audit.record(actor, "sign_in_code_throttled", user_agent=agent)
        db.session.commit()
        return SignInResult(None, "restart")
    factor = two_factor.check(user, code or "")
    if factor is None:
        throttle.hit(CODE_FAILURES, str(user.id))
        audit.record(actor, "sign_in_code_failed", user_agent=agent)
        db.session.commit()
        metrics.login_failed("dashboard", "code")
        return SignInResult(user, "wrong")
    return _succeeded(user, actor, agent, factor=factor)


def sign_in_refusal(user: User) -> str | None:
    """Why this dashboard user cannot sign in now (its password was right), or None."""
    if user.is_support:
        return None
    if user.email_confirmed_at is None:
        return str(_l("Confirm your e-mail first: open the link we sent you (you can ask for a new one below)."))
    agency = user.agency
    if agency is None:
        return str(_l("This login no longer belongs to an agency."))
    if agency.state == "awaiting_approval":
        return str(_l("Your agency's application is with our team; you will get an e-mail once it is approved."))
    if agency.state == "rejected":
        return str(_l("Your agency's application was not approved: %(reason)s", reason=agency.state_reason or ""))
    if agency.state == "suspended":
        return str(_l("Your agency is suspended: %(reason)s Contact support.", reason=agency.state_reason or ""))
    if agency.state != "active":
        return str(_l("Your agency is not open yet."))
    return None


def _count_failure(key: str, now) -> int:
    """One more failure in a row for this e-mail, in one statement (two at once both count)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(SignInFailures).values(email_hash=key, failures=1, last_failed_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["email_hash"], set_={
        "failures": SignInFailures.failures + 1, "last_failed_at": now}).returning(SignInFailures.failures)
    return db.session.execute(stmt).scalar_one()


def reauthenticate(user: User, *, password: str, code: str, ip: str | None) -> None:
    """The password (and the code, when two-factor sign-in is on) again, for what needs a recent one."""
    problems = {}
    if not verify_password(user.password_hash, password or ""):
        problems["password"] = str(_l("This is not your password."))
    elif user.has_2fa and two_factor.check(user, code or "") is None:
        problems["code"] = str(_l("This code does not match, or was used already."))
    if problems:
        audit.record(audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id), "reauthentication_failed")
        db.session.commit()
        raise ValidationFailed(str(_l("Confirm it is you.")), problems)
    sessions.mark_authenticated(user)


def change_password(user, *, current: str, new: str, confirm: str, actor: audit.Actor) -> None:
    """Checks the current password and the strength of the new one; ends the user's other sessions."""
    fields = {}
    if not verify_password(user.password_hash, current or ""):
        fields["current_password"] = str(_l("The current password is not right."))
    identity = getattr(user, "email", "") or ""
    problem = password_problem(new or "", identity=identity)
    if problem:
        fields["new_password"] = str(problem)
    elif new != confirm:
        fields["confirm_password"] = str(_l("The two new passwords are not the same."))
    elif current == new:
        fields["new_password"] = str(_l("Choose a password different from the current one."))
    if fields:
        raise ValidationFailed(str(_l("The password was not changed.")), fields)
    user.password_hash = hash_password(new)
    user.session_epoch += 1
    sessions.end_others(user)
    if isinstance(user, AccountUser):
        user.password_changed_at = utcnow()
    audit.record(actor, "password_changed", account_id=getattr(user, "account_id", None))
    db.session.commit()


def update_preferences(user: User, *, language: str, timezone: str, languages) -> None:
    fields = {}
    if language not in languages:
        fields["language"] = str(_l("Pick one of the languages offered."))
    if timezone not in timezone_set():
        fields["timezone"] = str(_l("Pick a time zone from the list (for example Europe/Paris)."))
    if fields:
        raise ValidationFailed(str(_l("Your preferences were not saved.")), fields)
    user.language, user.timezone = language, timezone
    db.session.commit()


# ---- "Forgot password?" and the links that set a password (W5's guarantees, for dashboard users) -------

def _reset_limits() -> tuple[throttle.Limit, throttle.Limit]:
    cfg = current_app.config
    return (throttle.Limit("dashboard-reset-emails", f"{cfg['RESET_EMAILS_PER_ACCOUNT']} per hour"),
            throttle.Limit("dashboard-reset-requests", f"{cfg['RESET_REQUESTS_PER_ADDRESS']} per hour"))


def request_reset(email: str, *, ip: str | None) -> None:
    """Forgot password: the same answer and the same work whatever the e-mail (an audit row and a job,
    which looks the e-mail up and sends the link); throttled per e-mail and per address alike."""
    typed = normalize_email(email)[:254]
    per_email, per_address = _reset_limits()
    email_ok = throttle.hit(per_email, _email_hash(typed))
    address_ok = throttle.hit(per_address, ip or "-")
    actor = audit.Actor("anonymous", typed or "-", ip)
    if not (email_ok and address_ok):
        audit.record(actor, "password_reset_throttled")
        db.session.commit()
        return
    audit.record(actor, "password_reset_requested")
    op = operations.submit("send_dashboard_reset", key=keys.password_reset_request(), params={"email": typed})
    db.session.commit()
    operations.enqueue(op)


def send_dashboard_reset(ctx: operations.OperationContext):
    """The job behind "Forgot password?": a link (60 min) when a user has the e-mail, once per request."""
    user = db.session.scalar(sa.select(User).where(User.email == ctx.params.get("email", "")))
    if user is None:
        return {"sent": False}
    dedupe = keys.password_reset_email(ctx.operation.id)
    if db.session.scalar(sa.select(OutboundEmail.id).where(OutboundEmail.dedupe_key == dedupe)):
        return {"sent": True}
    _link, token = links.issue("reset_password", user=user)
    minutes = int(links.LIFETIMES["reset_password"].total_seconds() // 60)
    email = notices.to_user(user, "password_reset", {"url": links.url("reset_password", token), "minutes": minutes},
                            key=dedupe)
    db.session.commit()
    mail.enqueue_pending(email)
    return {"sent": True}


def link_user(purpose: str, token: str) -> User | None:
    link = links.find(purpose, token)
    return db.session.get(User, link.user_id) if link is not None and link.user_id else None


def set_password_by_link(purpose: str, token: str, *, new: str, confirm: str, ip: str | None) -> User:
    """A reset or a first password, from its e-mailed link: once; every other link and login of the user
    ends. Raises NotFound for a dead link, ValidationFailed for a weak or mistyped password."""
    link = links.find(purpose, token)
    user = db.session.get(User, link.user_id) if link is not None and link.user_id else None
    if user is None:
        raise NotFound(str(_l("This link has expired or was already used. Ask for a new one.")))
    fields = {}
    problem = password_problem(new or "", identity=user.email)
    if problem:
        fields["new_password"] = str(problem)
    elif new != confirm:
        fields["confirm_password"] = str(_l("The two new passwords are not the same."))
    if fields:
        raise ValidationFailed(str(_l("The password was not changed.")), fields)
    if not links.use(link):
        db.session.rollback()
        raise NotFound(str(_l("This link has expired or was already used. Ask for a new one.")))
    user.password_hash = hash_password(new)
    user.session_epoch += 1
    user.email_confirmed_at = user.email_confirmed_at or utcnow()  # the link came to this address
    sessions.end_all(user)
    links.revoke(user_id=user.id, purposes=("reset_password", "set_password"))
    audit.record(audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id),
                 "password_reset" if purpose == "reset_password" else "password_set")
    db.session.commit()
    return user
