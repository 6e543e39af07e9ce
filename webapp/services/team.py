"""An agency's team: its members and their roles, invitations by a single-use link (7 days), role changes,
removal (their logins and API tokens end at once), the Owner's switches (two-factor sign-in for everyone,
transfer of ownership), and accepting an invitation. Admins cannot touch Owners or make Owners; an agency
always keeps one Owner. Every change is audited naming the user who made it."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import (Agency, ApiToken, LoginAsToken, LoginSession, Pushdown, RecoveryCode, SupportMessage,
                      SupportRequest, User, UserLink, utcnow)
from . import audit, links, mail, permissions, sessions
from .errors import Conflict, Forbidden, NotFound, ServiceError, ValidationFailed
from .passwords import hash_password, password_problem
from .validation import email_problem, text_problems

NAME_MAX = 120


class LinkGone(ServiceError):
    """An invitation link that was used, expired or revoked: 410, with what the page should say."""

    status = 410
    code = "gone"


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


# ---- reading ---------------------------------------------------------------------------------------

def members(agency_id: int) -> list[User]:
    """The team, Owners first, then by name (each with `has_2fa` and `last_login_at`)."""
    order = sa.case({role: i for i, role in enumerate(permissions.ROLES)}, value=User.team_role)
    return list(db.session.scalars(sa.select(User).where(User.agency_id == agency_id, User.role == "agency")
                                   .order_by(order, User.name, User.id)))


def pending_invites(agency_id: int) -> list[UserLink]:
    """Invitations not used, not revoked and not expired, the newest first."""
    return list(db.session.scalars(sa.select(UserLink).where(
        UserLink.agency_id == agency_id, UserLink.purpose == "invite", UserLink.used_at.is_(None),
        UserLink.revoked_at.is_(None), UserLink.expires_at > utcnow()).order_by(UserLink.created_at.desc())))


def member(agency_id: int, user_id) -> User:
    from .scope import parse_id
    user = db.session.scalar(sa.select(User).where(User.id == parse_id(user_id), User.agency_id == agency_id,
                                                   User.role == "agency"))
    if user is None:
        raise NotFound()
    return user


# ---- the rules ----------------------------------------------------------------------------------------

def _acting_user_id(actor: audit.Actor) -> int | None:
    """The member who acts: the one logged in, or the creator of the API token (it acts with their role)."""
    kind, _sep, ident = actor.ref.partition(":")
    if not ident.isdigit():
        return None
    if kind == "api_token":
        token = db.session.get(ApiToken, int(ident))
        return token.user_id if token is not None and token.agency_id == actor.agency_id else None
    return int(ident) if kind == "user" else None


def _lock_agency(agency_id: int) -> Agency:
    """Team changes of one agency one at a time (PostgreSQL; SQLite has one writer anyway), so two Owners
    demoting each other at once cannot leave the agency without one."""
    agency = db.session.scalar(sa.select(Agency).where(Agency.id == agency_id).with_for_update())
    if agency is None:
        raise NotFound()
    return agency


def _owners(agency_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.agency_id == agency_id, User.team_role == "owner"))


def _check_role(role: str) -> None:
    if role not in permissions.ROLES:
        problem = str(_l("Choose one of the roles offered."))
        raise ValidationFailed(problem, {"role": problem})


def _may_touch(actor: audit.Actor, target_role: str | None = None, new_role: str | None = None) -> None:
    """Admins cannot change or remove Owners, nor make anyone an Owner."""
    if actor.team_role == "owner" or not permissions.acts_for_an_agency(actor):
        return
    if target_role == "owner":
        raise Forbidden(str(_l("Only an Owner can change or remove an Owner.")))
    if new_role == "owner":
        raise Forbidden(str(_l("Only an Owner can make someone an Owner.")))


def _keeps_an_owner(agency_id: int, target: User) -> None:
    if target.team_role == "owner" and _owners(agency_id) <= 1:
        raise Conflict(str(_l("%(name)s is the agency's last Owner: make another member Owner first (or transfer "
                              "ownership).", name=target.name)))


# ---- invitations ---------------------------------------------------------------------------------------

def _email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email)) is not None


def _send_invite(agency: Agency, email: str, role: str, inviter_name: str, token: str):
    """The invitation is in the agency's notice language: the invitee has chosen none yet."""
    return mail.send("team_invite", to=email, locale=agency.notice_language, agency_id=agency.id,
                     context={"agency": agency, "role": permissions.ROLE_LABELS[role], "inviter": inviter_name,
                              "url": links.url("invite", token), "days": links.LIFETIMES["invite"].days})


def invite(actor: audit.Actor, *, email: str, role: str) -> UserLink:
    """A single-use invitation link (7 days) e-mailed to `email` to join the actor's agency as `role`.
    A new invitation to the same address replaces the one before."""
    permissions.require(actor, "team")
    _check_role(role)
    _may_touch(actor, new_role=role)
    email = normalize_email(email)
    problem = email_problem(email)
    if problem:
        raise ValidationFailed(str(problem), {"email": str(problem)})
    if _email_taken(email):
        problem = str(_l("Someone already signs in with this e-mail; invite another address."))
        raise ValidationFailed(problem, {"email": problem})
    agency = _lock_agency(actor.agency_id)
    inviter = db.session.get(User, _acting_user_id(actor)) if _acting_user_id(actor) else None
    links.revoke(agency_id=agency.id, email=email, purposes=("invite",))
    link, token = links.issue("invite", agency_id=agency.id, email=email, team_role=role, created_by=inviter)
    row = _send_invite(agency, email, role, inviter.name if inviter else agency.name, token)
    audit.record(actor, "team_member_invited", agency_id=agency.id, email=email, role=role)
    db.session.commit()
    mail.enqueue_pending(row)
    return link


def pending_invite(agency_id: int, link_id) -> UserLink:
    """One of the agency's invitations still waiting: another agency's is not found; an accepted or
    withdrawn one is a conflict."""
    from .scope import parse_id
    link = db.session.scalar(sa.select(UserLink).where(UserLink.id == parse_id(link_id), UserLink.agency_id == agency_id,
                                                       UserLink.purpose == "invite"))
    if link is None:
        raise NotFound()
    if link.used_at is not None or link.revoked_at is not None:
        raise Conflict(str(_l("This invitation was already accepted or withdrawn.")))
    return link


def resend(actor: audit.Actor, link_id) -> UserLink:
    """A new link (7 days from now) for a pending invitation; the old link stops working."""
    permissions.require(actor, "team")
    link = pending_invite(actor.agency_id, link_id)
    _may_touch(actor, new_role=link.team_role)
    return invite(actor, email=link.email, role=link.team_role)


def revoke_invite(actor: audit.Actor, link_id) -> None:
    permissions.require(actor, "team")
    link = pending_invite(actor.agency_id, link_id)
    _may_touch(actor, new_role=link.team_role)
    links.revoke(agency_id=actor.agency_id, email=link.email, purposes=("invite",))
    audit.record(actor, "team_invite_revoked", agency_id=actor.agency_id, email=link.email, role=link.team_role)
    db.session.commit()


@dataclass(frozen=True)
class Invitation:
    link: UserLink
    agency: Agency

    @property
    def role_label(self) -> str:
        return str(permissions.ROLE_LABELS[self.link.team_role])


def invitation(token: str) -> Invitation:
    """The live invitation of a token; LinkGone (410) with what the page says for a dead one."""
    link = links.find("invite", token)
    if link is None:
        raise LinkGone(_dead_link_message(links.why_not("invite", token)))
    agency = db.session.get(Agency, link.agency_id)
    if agency is None or not agency.is_active:
        raise LinkGone(str(_l("This agency is not open now; ask the person who invited you.")))
    return Invitation(link, agency)


def _dead_link_message(reason: str) -> str:
    return {
        "used": str(_l("This invitation was already accepted. Sign in with the e-mail it was sent to.")),
        "expired": str(_l("This invitation has expired. Ask the person who invited you for a new one.")),
        "revoked": str(_l("This invitation was withdrawn or replaced by a newer one. Use the latest e-mail, or ask "
                          "the person who invited you.")),
    }.get(reason, str(_l("This invitation link is not valid. Check that you copied all of it.")))


def accept(token: str, *, name: str, password: str, confirm: str, signed_in: User | None,
           ip: str | None) -> User:
    """The invitee becomes a confirmed user of the agency with the invitation's role. Refused (409, nothing
    written) while someone else is signed in; LinkGone for a dead link; field errors for the rest."""
    found = invitation(token)
    link = found.link
    if signed_in is not None and getattr(signed_in, "is_authenticated", False) and \
            normalize_email(getattr(signed_in, "email", "")) != link.email:
        raise Conflict(str(_l("You are signed in as %(email)s, but this invitation is for %(invited)s. Sign out "
                              "first, then open the link again.", email=signed_in.email, invited=link.email)))
    name = " ".join((name or "").split())
    fields = text_problems(name=name)
    if not name:
        fields["name"] = str(_l("Enter your name."))
    elif len(name) > NAME_MAX:
        fields["name"] = str(_l("Use at most %(n)s characters.", n=NAME_MAX))
    problem = password_problem(password or "", identity=link.email)
    if problem:
        fields["password"] = str(problem)
    elif password != confirm:
        fields["confirm_password"] = str(_l("The two passwords are not the same."))
    if _email_taken(link.email):
        fields["email"] = str(_l("Someone already signs in with %(email)s; sign in instead, or ask for an invitation "
                                 "to another address.", email=link.email))
    if fields:
        raise ValidationFailed(str(_l("You have not joined yet; see the fields marked.")), fields)
    if not links.use(link):
        db.session.rollback()
        raise LinkGone(_dead_link_message("used"))
    user = User(email=link.email, name=name, password_hash=hash_password(password), role="agency",
                team_role=link.team_role, agency_id=link.agency_id, email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.flush()
    audit.record(audit.Actor(f"user:{user.id}", user.email, ip, user.agency_id, team_role=user.team_role),
                 "team_invite_accepted", agency_id=user.agency_id, role=user.team_role,
                 invited_by=link.created_by_id)
    db.session.commit()
    return user


# ---- members ---------------------------------------------------------------------------------------------

def change_role(actor: audit.Actor, user_id, role: str) -> User:
    permissions.require(actor, "team")
    _lock_agency(actor.agency_id)
    target = member(actor.agency_id, user_id)
    _check_role(role)
    _may_touch(actor, target_role=target.team_role, new_role=role)
    if target.team_role == role:
        return target
    if role != "owner":
        _keeps_an_owner(actor.agency_id, target)
    before, target.team_role = target.team_role, role
    audit.record(actor, "team_role_changed", agency_id=actor.agency_id, user_id=target.id, email=target.email,
                 before=before, after=role)
    db.session.commit()
    return target


def remove(actor: audit.Actor, user_id) -> None:
    """The member leaves the team: every login of theirs (and every hosted-account login they opened) ends
    now, their API tokens are revoked, their links and recovery codes go. The audit log keeps their name."""
    permissions.require(actor, "team")
    _lock_agency(actor.agency_id)
    target = member(actor.agency_id, user_id)
    _may_touch(actor, target_role=target.team_role)
    _keeps_an_owner(actor.agency_id, target)
    now = utcnow()
    tokens = db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == target.id, ApiToken.revoked_at.is_(None))
                                .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    sessions.end_all(target)
    db.session.execute(sa.delete(LoginSession).where(LoginSession.opened_by_user_id == target.id))
    db.session.execute(sa.delete(LoginAsToken).where(LoginAsToken.user_id == target.id))
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    db.session.execute(sa.delete(UserLink).where(UserLink.user_id == target.id))
    # What they made stays, without their name on it.
    db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == target.id).values(user_id=None))
    db.session.execute(sa.update(UserLink).where(UserLink.created_by_id == target.id).values(created_by_id=None))
    db.session.execute(sa.update(Pushdown).where(Pushdown.created_by_id == target.id).values(created_by_id=None))
    db.session.execute(sa.update(SupportRequest).where(SupportRequest.created_by_id == target.id)
                       .values(created_by_id=None))
    db.session.execute(sa.update(SupportMessage).where(SupportMessage.author_id == target.id).values(author_id=None))
    audit.record(actor, "team_member_removed", agency_id=actor.agency_id, user_id=target.id, email=target.email,
                 name=target.name, role=target.team_role, tokens_revoked=tokens)
    db.session.execute(sa.delete(User).where(User.id == target.id))
    db.session.commit()


def set_require_2fa(actor: audit.Actor, required: bool) -> Agency:
    """Owner only: every member must sign in with a code; those without one enrol at their next sign-in."""
    permissions.require(actor, "owner")
    me = db.session.get(User, _acting_user_id(actor)) if _acting_user_id(actor) else None
    if required and me is not None and not me.has_2fa:
        # Otherwise the Owner's own next page would be the enrolment, before the setting is even seen.
        db.session.rollback()
        raise Conflict(str(_l("Turn on two-factor sign-in for yourself first (My account), then require it "
                              "for the team.")))
    agency = _lock_agency(actor.agency_id)
    if agency.require_2fa != bool(required):
        agency.require_2fa = bool(required)
        audit.record(actor, "team_2fa_required" if required else "team_2fa_not_required", agency_id=agency.id)
    db.session.commit()
    return agency


def transfer_ownership(actor: audit.Actor, user_id) -> User:
    """Owner only: another member becomes Owner and the acting Owner becomes Admin."""
    permissions.require(actor, "owner")
    _lock_agency(actor.agency_id)
    me = member(actor.agency_id, _acting_user_id(actor))
    target = member(actor.agency_id, user_id)
    if target.id == me.id:
        problem = str(_l("Choose another member of the team."))
        raise ValidationFailed(problem, {"user_id": problem})
    before = target.team_role
    target.team_role, me.team_role = "owner", "admin"
    audit.record(actor, "team_ownership_transferred", agency_id=actor.agency_id, user_id=target.id,
                 email=target.email, before=before, previous_owner=me.id)
    db.session.commit()
    return target
