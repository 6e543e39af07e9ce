"""My account (issue 19): a dashboard user's own name and e-mail. A new e-mail counts once the new
address confirms it by a single-use link (24 h); the old address is told, so a stolen session cannot
quietly move the login to an attacker's mailbox. Who is signed in where lives in services.sessions."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import User, utcnow
from . import audit, hosts, links, mail, notices, sessions
from .auth import normalize_email
from .errors import Conflict, NotFound, ValidationFailed
from .validation import email_problem, text_problems


def _taken(email: str, *, but: int | None = None) -> bool:
    stmt = sa.select(User.id).where(sa.func.lower(User.email) == email)
    if but is not None:
        stmt = stmt.where(User.id != but)
    return db.session.scalar(stmt) is not None


def change_name(user: User, name: str, actor: audit.Actor) -> None:
    name = (name or "").strip()
    fields = text_problems(name=name)
    if not fields and not name:
        fields["name"] = str(_l("Enter your name."))
    elif not fields and len(name) > 120:
        fields["name"] = str(_l("Use at most 120 characters."))
    if fields:
        raise ValidationFailed(str(_l("Your name was not changed.")), fields)
    user.name = name
    audit.record(actor, "name_changed", agency_id=user.agency_id)
    db.session.commit()


def request_email_change(user: User, new_email: str, actor: audit.Actor) -> str:
    """E-mails a confirmation link to the new address and tells the old one; nothing changes until the
    link is opened. Returns the normalised new address."""
    new = normalize_email(new_email)
    fields = text_problems(email=new)
    if not fields:
        problem = email_problem(new)
        if problem:
            fields["email"] = problem
        elif new == normalize_email(user.email):
            fields["email"] = str(_l("This is already your e-mail."))
        elif _taken(new, but=user.id):
            fields["email"] = str(_l("Another login already uses this e-mail."))
    if fields:
        raise ValidationFailed(str(_l("Your e-mail was not changed.")), fields)
    links.revoke(user_id=user.id, purposes=("change_email",))
    _link, token = links.issue("change_email", user=user, email=new)
    # Both in the user's language: the new address is confirmed by a link sent to it, the old one is told.
    confirm = notices.to_user(user, "email_change_confirm", {
        "url": links.url("change_email", token),
        "hours": int(links.LIFETIMES["change_email"].total_seconds() // 3600)}, to=new)
    told = notices.to_user(user, "email_change_requested", {
        "new_email": new, "my_account_url": hosts.dashboard_url("/my-account")})
    audit.record(actor, "email_change_requested", agency_id=user.agency_id, new_email=new)
    db.session.commit()
    mail.enqueue_pending(confirm, told)
    return new


def pending_email(user: User) -> str | None:
    """The new address waiting for its confirmation, if any."""
    from ..models import UserLink
    return db.session.scalar(sa.select(UserLink.email).where(
        UserLink.user_id == user.id, UserLink.purpose == "change_email", UserLink.used_at.is_(None),
        UserLink.revoked_at.is_(None), UserLink.expires_at > utcnow()).order_by(UserLink.id.desc()).limit(1))


def confirm_email_change(token: str, *, ip: str | None) -> User:
    """The new address opened its link: the login's e-mail is now that address. Raises NotFound for a
    dead link, Conflict when another login took the address meanwhile."""
    link = links.find("change_email", token)
    user = db.session.get(User, link.user_id) if link is not None and link.user_id else None
    if user is None or not link.email:
        raise NotFound(str(_l("This link has expired or was already used. Ask for a new one.")))
    if _taken(link.email, but=user.id):
        raise Conflict(str(_l("Another login already uses this e-mail.")))
    if not links.use(link):
        db.session.rollback()
        raise NotFound(str(_l("This link has expired or was already used. Ask for a new one.")))
    old, user.email = user.email, link.email
    user.email_confirmed_at = utcnow()
    # Links e-mailed to the old address (a reset, a set-password) no longer match the login.
    links.revoke(user_id=user.id, purposes=("reset_password", "set_password", "change_email"))
    audit.record(audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id), "email_changed",
                 agency_id=user.agency_id, old_email=old)
    told = notices.to_user(user, "email_changed", {"old_email": old}, to=old)
    db.session.commit()
    mail.enqueue_pending(told)
    return user


def sign_out_elsewhere(user: User, actor: audit.Actor) -> None:
    """"Sign out everywhere else": every other login of the user ends (this one stays)."""
    sessions.end_others(user)
    audit.record(actor, "signed_out_elsewhere", agency_id=user.agency_id)
    db.session.commit()


def sign_out_login(user: User, login_id: str, actor: audit.Actor) -> bool:
    """Ends one of the user's other logins ("Sign out" by it); False when it is not one of theirs."""
    if login_id == getattr(user, "login_session_id", None):
        raise Conflict(str(_l("This is the login you are using: use “Log out” to end it.")))
    ended = sessions.end_one(user, login_id)
    if ended:
        audit.record(actor, "signed_out_login", agency_id=user.agency_id)
        db.session.commit()
    return ended
