"""Server-side logins. The signed session cookie names a LoginSession row; logging out deletes the row,
so a copy of the cookie taken before (a shared computer, a stolen cookie) no longer opens anything.
A login lasts at most LOGIN_SESSION_LIFETIME, "remember me" included."""
from __future__ import annotations

import functools
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from flask import current_app

from ..extensions import db
from ..models import AccountUser, Agency, LoginSession, PasswordResetToken, User, utcnow
from ..models.base import UTCDateTime
from . import links


def lifetime() -> timedelta:
    return current_app.config["LOGIN_SESSION_LIFETIME"]


def _owner(model: type[User] | type[AccountUser]):
    return LoginSession.account_user_id if issubclass(model, AccountUser) else LoginSession.user_id


def _owner_of(user: User | AccountUser):
    # __class__, not type(): views pass flask_login's current_user, a proxy that forwards __class__.
    return _owner(user.__class__)


def start(user: User | AccountUser, *, opened_by: User | None = None, ip: str | None = None,
          user_agent: str = "") -> None:
    """Records a new login of `user`; `user.get_id()` then carries its id into the session cookie.
    `opened_by` is the agency user of a login-as (A10), kept so that the login ends with the agency's
    hold on the account. The user's logins past their lifetime are cleared here, so rows do not pile up."""
    owner, login_id, now = _owner_of(user), secrets.token_urlsafe(32), utcnow()
    db.session.execute(sa.delete(LoginSession).where(owner == user.id, LoginSession.created_at <= now - lifetime()))
    opener = {"opened_by_user_id": opened_by.id, "opened_by_agency_id": opened_by.agency_id} if opened_by else {}
    db.session.add(LoginSession(id=login_id, created_at=now, authenticated_at=now, last_seen_at=now, ip=ip,
                                user_agent=(user_agent or "")[:300] or None, **{owner.key: user.id}, **opener))
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
    else:
        links.revoke(user_id=user.id, purposes=("reset_password", "set_password"))


def end_opened_by_agency(account_id: int, agency_id: int) -> int:
    """A3, A4: every login-as session `agency_id` opened in the account ends, in the caller's
    transaction; its cookie then opens nothing. Returns how many there were."""
    users = sa.select(AccountUser.id).where(AccountUser.account_id == account_id)
    return db.session.execute(sa.delete(LoginSession).where(
        LoginSession.account_user_id.in_(users), LoginSession.opened_by_agency_id == agency_id)).rowcount


@functools.lru_cache(maxsize=2)
def _find_statement(model: type[User] | type[AccountUser]):
    """find's query, built once per process (its values are parameters): building it on every request cost
    a fifth of a signed-in request's CPU (issue 25)."""
    stmt = sa.select(model, LoginSession.last_seen_at).join(LoginSession, _owner(model) == model.id)
    if model is User:
        # The user's agency comes in the same query: every dashboard request asks its 2FA rule (and most
        # pages its name); loaded here, `user.agency` is found in the session without a second query.
        stmt = stmt.add_columns(Agency).outerjoin(Agency, Agency.id == User.agency_id)
    return stmt.where(model.id == sa.bindparam("user_id", type_=sa.Integer),
                      model.session_epoch == sa.bindparam("epoch", type_=sa.Integer),
                      LoginSession.id == sa.bindparam("login_id", type_=sa.String),
                      LoginSession.created_at > sa.bindparam("created_after", type_=UTCDateTime))


def find(model: type[User] | type[AccountUser], user_id: int, epoch: int, login_id: str):
    """The user a session cookie names, if its login still stands: not logged out, not past its
    lifetime, and no password change since (the epoch). One query, on the two primary keys."""
    row = db.session.execute(_find_statement(model), {
        "user_id": user_id, "epoch": epoch, "login_id": login_id, "created_after": utcnow() - lifetime()}).first()
    if row is None:
        return None
    user, user.login_last_seen = row[0], row[1]
    if model is User:
        set_committed_value(user, "agency", row[2])  # as if loaded: no query when it is read
    user.login_session_id = login_id
    return user


# ---- re-authentication and "Where you're signed in" (dashboard users) ---------------------------------

REAUTH_AFTER = timedelta(minutes=10)
# A login's last use is written at most this often, so browsing does not write on every request.
SEEN_RESOLUTION = timedelta(minutes=5)


def recently_authenticated(user) -> bool:
    """Whether this login gave the password (and code) in the last 10 minutes: what saving a card,
    changing an e-mail or password, team changes, API tokens and turning 2FA off ask for."""
    login_id = getattr(user, "login_session_id", None)
    if login_id is None:
        return False
    at = db.session.scalar(sa.select(LoginSession.authenticated_at).where(LoginSession.id == login_id))
    return at is not None and at > utcnow() - REAUTH_AFTER


def mark_authenticated(user) -> None:
    db.session.execute(sa.update(LoginSession).where(LoginSession.id == user.login_session_id)
                       .values(authenticated_at=utcnow()))
    db.session.commit()


def seen(user) -> None:
    """Records that this login is in use (now), at most every few minutes (most requests write nothing)."""
    now = utcnow()
    last = getattr(user, "login_last_seen", None)
    if last is not None and last >= now - SEEN_RESOLUTION:
        return
    user.login_last_seen = now
    db.session.execute(sa.update(LoginSession).where(
        LoginSession.id == user.login_session_id,
        sa.or_(LoginSession.last_seen_at.is_(None), LoginSession.last_seen_at < now - SEEN_RESOLUTION))
        .values(last_seen_at=now))
    db.session.commit()


def logins_of(user: User) -> list[LoginSession]:
    """The user's logins that still stand, the newest use first."""
    return list(db.session.scalars(sa.select(LoginSession).where(
        _owner_of(user) == user.id, LoginSession.created_at > utcnow() - lifetime())
        .order_by(LoginSession.last_seen_at.desc().nulls_last(), LoginSession.created_at.desc())))


def end_one(user, login_id: str) -> bool:
    """Signs out one of the user's own logins (not another user's)."""
    ended = db.session.execute(sa.delete(LoginSession).where(LoginSession.id == login_id,
                                                             _owner_of(user) == user.id)).rowcount
    db.session.commit()
    return ended == 1


def end_all(user) -> int:
    """Every login of the user ends (removed from a team, an agency suspended, 2FA reset by support)."""
    ended = db.session.execute(sa.delete(LoginSession).where(_owner_of(user) == user.id)).rowcount
    return ended
