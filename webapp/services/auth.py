"""Logging in and passwords, for dashboard users and hosted-account users."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AccountUser, SignInFailures, User, utcnow
from . import audit, sessions, throttle, two_factor
from .dates import timezone_set
from .errors import ValidationFailed
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
    outcome: str  # ok, wrong, locked, throttled
    retry_after: int | None = None  # seconds, for locked and throttled


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
        return SignInResult(None, "throttled", wait)
    user = db.session.scalar(sa.select(User).where(User.email == typed))
    key, now = _email_hash(typed), utcnow()
    failures = db.session.get(SignInFailures, key)
    if failures is not None and failures.locked_until is not None and failures.locked_until > now:
        throttle.hit(ADDRESS_FAILURES, ip or "-")
        audit.record(anonymous, "sign_in_locked_out", email=typed[:254], user_agent=agent)
        db.session.commit()
        return SignInResult(None, "locked", max(1, math.ceil((failures.locked_until - now).total_seconds())))
    if verify_password(user.password_hash if user else None, password or ""):
        if failures is not None:
            db.session.delete(failures)
        if needs_rehash(user.password_hash):  # the cost settings rose since it was hashed
            user.password_hash = hash_password(password)
        user.last_login_at = now
        audit.record(audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id), "sign_in_succeeded",
                     user_agent=agent)
        db.session.commit()
        return SignInResult(user, "ok")
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
    return SignInResult(None, outcome, LOCK_MINUTES * 60 if outcome == "locked" else None)


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
