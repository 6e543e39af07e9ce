"""Single-use links e-mailed to dashboard users: confirm a sign-up's e-mail, set or reset a password,
accept an invitation, confirm a new e-mail. The token (256 bits) is only in the e-mail; the database
keeps its SHA-256. A link works once, until it expires, unless revoked, and is always built from
PLATFORM_DOMAIN (hosts.dashboard_url), never from a request's Host header."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import User, UserLink, utcnow
from . import hosts

LIFETIMES = {
    "confirm_email": timedelta(hours=24),
    "set_password": timedelta(hours=24),
    "reset_password": timedelta(minutes=60),
    "invite": timedelta(days=7),
    "change_email": timedelta(hours=24),
}
PATHS = {
    "confirm_email": "/signup/confirm/{token}",
    "set_password": "/set-password/{token}",
    "reset_password": "/reset-password/{token}",
    "invite": "/invite/{token}",
    "change_email": "/my-account/email/{token}",
}


def _hash(token: str) -> str:
    return hashlib.sha256((token or "").encode("utf-8", "backslashreplace")).hexdigest()


def issue(purpose: str, *, user: User | None = None, agency_id: int | None = None, email: str | None = None,
          team_role: str | None = None, created_by: User | None = None) -> tuple[UserLink, str]:
    """A new link (added to the caller's transaction) and its token, to put in an e-mail."""
    token = secrets.token_urlsafe(32)
    link = UserLink(purpose=purpose, token_hash=_hash(token), user_id=user.id if user else None,
                    agency_id=agency_id if agency_id is not None else (user.agency_id if user else None),
                    email=email, team_role=team_role, created_by_id=created_by.id if created_by else None,
                    expires_at=utcnow() + LIFETIMES[purpose])
    db.session.add(link)
    db.session.flush()
    return link, token


def url(purpose: str, token: str) -> str:
    return hosts.dashboard_url(PATHS[purpose].format(token=token))


def find(purpose: str, token: str) -> UserLink | None:
    """The live link of this purpose for a token: not used, not revoked, not expired; else None."""
    if not token or len(token) > 100:
        return None
    link = db.session.scalar(sa.select(UserLink).where(UserLink.token_hash == _hash(token),
                                                       UserLink.purpose == purpose))
    if link is None or link.used_at is not None or link.revoked_at is not None or link.expires_at <= utcnow():
        return None
    return link


def why_not(purpose: str, token: str) -> str:
    """"expired", "used", "revoked" or "unknown": what the page of a dead link says."""
    link = db.session.scalar(sa.select(UserLink).where(UserLink.token_hash == _hash(token),
                                                       UserLink.purpose == purpose)) if token else None
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if link.revoked_at is not None:
        return "revoked"
    return "expired"


def use(link: UserLink) -> bool:
    """Spends the link, in the caller's transaction; False when someone used it first (two presses at once)."""
    spent = db.session.execute(sa.update(UserLink).where(UserLink.id == link.id, UserLink.used_at.is_(None),
                                                         UserLink.revoked_at.is_(None))
                               .values(used_at=utcnow()).execution_options(synchronize_session=False))
    return spent.rowcount == 1


def revoke(*, user_id: int | None = None, purposes: tuple[str, ...], keep: UserLink | None = None,
           agency_id: int | None = None, email: str | None = None) -> int:
    """Ends the live links of a user (or of an invited address in an agency) for these purposes, in the
    caller's transaction: a new password ends every other reset link, a new invitation the old one."""
    stmt = sa.update(UserLink).where(UserLink.purpose.in_(purposes), UserLink.used_at.is_(None),
                                     UserLink.revoked_at.is_(None))
    if user_id is not None:
        stmt = stmt.where(UserLink.user_id == user_id)
    if agency_id is not None:
        stmt = stmt.where(UserLink.agency_id == agency_id)
    if email is not None:
        stmt = stmt.where(UserLink.email == email)
    if keep is not None:
        stmt = stmt.where(UserLink.id != keep.id)
    return db.session.execute(stmt.values(revoked_at=utcnow()).execution_options(synchronize_session=False)).rowcount
