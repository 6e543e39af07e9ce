"""Server-side logins. The signed session cookie names a LoginSession row; logging out deletes the row,
so a copy of the cookie taken before (a shared computer, a stolen cookie) no longer opens anything.
A login lasts at most LOGIN_SESSION_LIFETIME, "remember me" included."""
from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import AccountUser, LoginSession, PasswordResetToken, User, utcnow


def lifetime() -> timedelta:
    return current_app.config["LOGIN_SESSION_LIFETIME"]


def _owner(model: type[User] | type[AccountUser]):
    return LoginSession.account_user_id if issubclass(model, AccountUser) else LoginSession.user_id


def _owner_of(user: User | AccountUser):
    # __class__, not type(): views pass flask_login's current_user, a proxy that forwards __class__.
    return _owner(user.__class__)


def start(user: User | AccountUser, *, opened_by: User | None = None) -> None:
    """Records a new login of `user`; `user.get_id()` then carries its id into the session cookie.
    `opened_by` is the agency user of a login-as (A10), kept so that the login ends with the agency's
    hold on the account. The user's logins past their lifetime are cleared here, so rows do not pile up."""
    owner, login_id, now = _owner_of(user), secrets.token_urlsafe(32), utcnow()
    db.session.execute(sa.delete(LoginSession).where(owner == user.id, LoginSession.created_at <= now - lifetime()))
    opener = {"opened_by_user_id": opened_by.id, "opened_by_agency_id": opened_by.agency_id} if opened_by else {}
    db.session.add(LoginSession(id=login_id, created_at=now, **{owner.key: user.id}, **opener))
    db.session.commit()
    user.login_session_id = login_id


def end(user) -> None:
    """Logging out: this login's row goes, and with it every copy of its cookie."""
    login_id = getattr(user, "login_session_id", None)
    if login_id is None:
        return
    db.session.execute(sa.delete(LoginSession).where(LoginSession.id == login_id, _owner_of(user) == user.id))
    db.session.commit()
    user.login_session_id = None


def end_others(user) -> None:
    """A new password: every other login of this user goes, in the caller's transaction (the password
    epoch in the cookie already refuses them; this also deletes their rows), and so does every reset
    link of the user not used yet, whichever way the password was set (reset, Settings, the agency)."""
    keep = getattr(user, "login_session_id", None)
    others = sa.delete(LoginSession).where(_owner_of(user) == user.id)
    db.session.execute(others.where(LoginSession.id != keep) if keep else others)
    if issubclass(user.__class__, AccountUser):
        db.session.execute(sa.update(PasswordResetToken).where(
            PasswordResetToken.account_user_id == user.id, PasswordResetToken.used_at.is_(None))
            .values(used_at=utcnow()))


def end_opened_by_agency(account_id: int, agency_id: int) -> int:
    """A3, A4: every login-as session `agency_id` opened in the account ends, in the caller's
    transaction; its cookie then opens nothing. Returns how many there were."""
    users = sa.select(AccountUser.id).where(AccountUser.account_id == account_id)
    return db.session.execute(sa.delete(LoginSession).where(
        LoginSession.account_user_id.in_(users), LoginSession.opened_by_agency_id == agency_id)).rowcount


def find(model: type[User] | type[AccountUser], user_id: int, epoch: int, login_id: str):
    """The user a session cookie names, if its login still stands: not logged out, not past its
    lifetime, and no password change since (the epoch). One query, on the two primary keys."""
    user = db.session.scalar(
        sa.select(model).join(LoginSession, _owner(model) == model.id)
        .where(model.id == user_id, model.session_epoch == epoch, LoginSession.id == login_id,
               LoginSession.created_at > utcnow() - lifetime()))
    if user is not None:
        user.login_session_id = login_id
    return user
