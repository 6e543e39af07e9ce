"""Agencies joining and leaving (issue 19): the sign-up at /signup (AGENCY_SIGNUP open, approval or
closed), the confirmation of its owner's e-mail, support's decision on an application, suspension and
reactivation, and agencies created by support or the CLI (their owner sets a password by a link).

A suspended agency's users cannot sign in and its API tokens answer 403; its clients' hosted accounts
keep working and renewing (they are the clients' own)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Agency, BillingProfile, Branding, HostedAccount, User, utcnow
from ..models.accounts import PAID
from ..models.agencies import AGENCY_STATES
from ..catalog import get_catalog
from . import audit, billing, hosts, keys, links, mail, notices, pushdown, sessions, two_factor
from .auth import normalize_email
from .dates import timezone_set
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .passwords import hash_password, password_problem
from .scope import parse_id
from .validation import email_problem, text_problems

SIGNUP_MODES = ("open", "approval", "closed")


def signup_mode() -> str:
    mode = current_app.config.get("AGENCY_SIGNUP", "open")
    return mode if mode in SIGNUP_MODES else "closed"


@dataclass
class Application:
    agency_name: str
    name: str
    email: str
    password: str
    timezone: str
    language: str


def _referral_code() -> str:
    while True:
        code = secrets.token_urlsafe(8).replace("-", "").replace("_", "").lower()[:10]
        if len(code) >= 8 and not db.session.scalar(sa.select(Agency.id).where(Agency.referral_code == code)):
            return code


def _email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email)) is not None


def _check_person(*, agency_name: str | None, name: str, email: str) -> dict[str, str]:
    fields = text_problems(agency_name=agency_name or "", name=name, email=email)
    if fields:
        return fields
    if agency_name is not None and not agency_name.strip():
        fields["agency_name"] = str(_l("Enter the agency's name."))
    elif agency_name is not None and len(agency_name.strip()) > 120:
        fields["agency_name"] = str(_l("Use at most 120 characters."))
    if not name.strip():
        fields["name"] = str(_l("Enter your name."))
    elif len(name.strip()) > 120:
        fields["name"] = str(_l("Use at most 120 characters."))
    problem = email_problem(email)
    if problem:
        fields["email"] = problem
    elif _email_taken(normalize_email(email)):
        fields["email"] = str(_l("A login with this e-mail already exists: sign in, or use “Forgot password?”."))
    return fields


def sign_up(data: Application, *, ip: str | None) -> User:
    """A new agency and its owner, waiting for the owner's e-mail to be confirmed (a link, 24 h)."""
    mode = signup_mode()
    if mode == "closed":
        raise Forbidden(str(_l("AgencyHQ is not taking new agencies by sign-up; ask us to open one for you.")))
    email = normalize_email(data.email)
    fields = _check_person(agency_name=data.agency_name, name=data.name, email=email)
    problem = password_problem(data.password or "", identity=email)
    if problem:
        fields["password"] = str(problem)
    if data.timezone not in timezone_set():
        fields["timezone"] = str(_l("Choose a time zone from the list (for example Europe/Paris)."))
    if data.language not in current_app.config["LANGUAGES"]:
        fields["language"] = str(_l("Choose a language from the list."))
    if fields:
        raise ValidationFailed(str(_l("Your agency was not created; see the fields marked.")), fields)
    # The agency's notices are in the language its owner signed up in, until it chooses another.
    agency = Agency(name=data.agency_name.strip(), referral_code=_referral_code(), state="confirming",
                    currency=get_catalog().currency, state_changed_at=utcnow(), notice_language=data.language)
    db.session.add(agency)
    db.session.flush()
    owner = User(email=email, name=data.name.strip(), password_hash=hash_password(data.password), role="agency",
                 team_role="owner", agency_id=agency.id, language=data.language, timezone=data.timezone)
    db.session.add(owner)
    _flush_or_taken(email)
    audit.record(audit.Actor("anonymous", email, ip, agency.id), "agency_signed_up", agency_id=agency.id,
                 mode=mode, name=agency.name)
    email_row = _send_confirmation(owner)
    db.session.commit()
    mail.enqueue_pending(email_row)
    return owner


def _flush_or_taken(email: str) -> None:
    """Two sign-ups with one e-mail at once: the database's unique e-mail keeps one, and the other is
    told by the field, with nothing of it written."""
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        message = str(_l("A login with this e-mail already exists: sign in, or use “Forgot password?”."))
        raise ValidationFailed(message, {"email": message}) from None


def _send_confirmation(user: User):
    _link, token = links.issue("confirm_email", user=user)
    return notices.to_user(user, "signup_confirm", {
        "agency": user.agency, "url": links.url("confirm_email", token),
        "hours": int(links.LIFETIMES["confirm_email"].total_seconds() // 3600)})


def resend_confirmation(email: str) -> None:
    """Another confirmation link for an owner whose sign-up is not confirmed yet; the same answer for any
    e-mail (the caller says so either way)."""
    user = db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if user is None or user.email_confirmed_at is not None or user.agency is None \
            or user.agency.state != "confirming":
        return
    links.revoke(user_id=user.id, purposes=("confirm_email",))
    email_row = _send_confirmation(user)
    db.session.commit()
    mail.enqueue_pending(email_row)


def confirm_email(token: str) -> User:
    """The sign-up's link: the e-mail is confirmed, and the agency opens (open) or waits for support
    (approval). Raises NotFound (a dead link) with what the page should say."""
    link = links.find("confirm_email", token)
    if link is None or link.user_id is None:
        raise NotFound(_dead_link_message(links.why_not("confirm_email", token)))
    user = db.session.get(User, link.user_id)
    if not links.use(link):
        raise NotFound(_dead_link_message("used"))
    user.email_confirmed_at = utcnow()
    agency = user.agency
    if agency is not None and agency.state == "confirming":
        agency.state = "awaiting_approval" if signup_mode() == "approval" else "active"
        agency.state_changed_at = utcnow()
        if agency.state == "active":
            pushdown.ensure_parent(agency)  # P1: the agency's own account, made as it opens
    audit.record(audit.Actor(f"user:{user.id}", user.email, None, user.agency_id), "signup_email_confirmed",
                 agency_id=user.agency_id, state=agency.state if agency else None)
    support = None
    if agency is not None and agency.state == "awaiting_approval":
        support = mail.send("agency_application", to=current_app.config["SUPPORT_EMAIL"], locale=None,
                            agency_id=agency.id, context={
                                "agency": agency, "user": user,
                                "url": hosts.dashboard_url("/support/agencies?state=awaiting_approval")})
    db.session.commit()
    if support is not None:
        mail.enqueue_pending(support)
    return user


def _dead_link_message(reason: str) -> str:
    return {
        "used": str(_l("This link was already used. Sign in, or ask for a new link.")),
        "expired": str(_l("This link has expired. Ask for a new one.")),
        "revoked": str(_l("This link was replaced by a newer one or withdrawn. Use the latest e-mail.")),
    }.get(reason, str(_l("This link is not valid. Check that you copied all of it.")))


def dead_link_message(purpose: str, token: str) -> str:
    return _dead_link_message(links.why_not(purpose, token))


# ---- support's side -----------------------------------------------------------------------------------

def _owner_of(agency: Agency) -> User | None:
    return db.session.scalar(sa.select(User).where(User.agency_id == agency.id, User.team_role == "owner")
                             .order_by(User.id).limit(1))


def _tell_owner(agency: Agency, kind: str, key: str, **context):
    """The owner is told of a change of the agency's state (`kind`, its template), in the owner's language."""
    owner = _owner_of(agency)
    if owner is None:
        return None
    return notices.to_user(owner, kind, {"agency": agency, "login_url": hosts.dashboard_url("/login"), **context},
                           key=key)


def _claim_state(agency: Agency, allowed_from: tuple[str, ...], new_state: str, reason: str | None) -> None:
    """Moves the agency's state with a conditional UPDATE: two staff deciding at once apply it once."""
    moved = db.session.execute(sa.update(Agency).where(Agency.id == agency.id, Agency.state.in_(allowed_from))
                               .values(state=new_state, state_reason=reason, state_changed_at=utcnow())
                               .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(str(_l("This agency's state changed meanwhile; reload the page.")))
    db.session.refresh(agency)


def _require_state(agency: Agency, allowed: tuple[str, ...], message) -> None:
    """A decision that does not fit the agency's state (a stale page, another staff member was quicker)."""
    if agency.state not in allowed:
        raise Conflict(str(message))


def decide_application(agency_id, *, approve: bool, reason: str, actor: audit.Actor) -> Agency:
    agency = get(agency_id)
    _require_state(agency, ("awaiting_approval",),
                   _l("%(name)s has no application waiting for a decision (it is %(state)s now).",
                      name=agency.name, state=agency.state.replace("_", " ")))
    reason = " ".join((reason or "").split())[:500]
    if not approve and not reason:
        raise ValidationFailed(str(_l("Say why the application is rejected.")), {"reason": str(_l("Say why."))})
    _claim_state(agency, ("awaiting_approval",), "active" if approve else "rejected", None if approve else reason)
    audit.record(actor, "agency_approved" if approve else "agency_rejected", agency_id=agency.id, reason=reason)
    if approve:
        pushdown.ensure_parent(agency)  # P1: the agency's own account, made as it opens
        email = _tell_owner(agency, "agency_approved", keys.agency_notice("approved", agency))
    else:
        email = _tell_owner(agency, "agency_rejected", keys.agency_notice("rejected", agency), reason=reason)
    db.session.commit()
    if email is not None:
        mail.enqueue_pending(email)
    return agency


def suspend(agency_id, *, reason: str, actor: audit.Actor) -> Agency:
    """Its users are signed out and cannot sign in, its API tokens answer 403; its clients' accounts go on."""
    agency = get(agency_id)
    _require_state(agency, ("active",), _l("Only an active agency can be suspended; %(name)s is %(state)s.",
                                           name=agency.name, state=agency.state.replace("_", " ")))
    reason = " ".join((reason or "").split())[:500]
    if not reason:
        raise ValidationFailed(str(_l("Say why the agency is suspended (its owner is told).")),
                               {"reason": str(_l("Say why."))})
    _claim_state(agency, ("active",), "suspended", reason)
    for user in agency.users:
        sessions.end_all(user)
    audit.record(actor, "agency_suspended", agency_id=agency.id, reason=reason)
    email = _tell_owner(agency, "agency_suspended", keys.agency_notice("suspended", agency), reason=reason)
    db.session.commit()
    if email is not None:
        mail.enqueue_pending(email)
    return agency


def reactivate(agency_id, *, actor: audit.Actor) -> Agency:
    agency = get(agency_id)
    _require_state(agency, ("suspended", "rejected"),
                   _l("Only a suspended or rejected agency can be reactivated; %(name)s is %(state)s.",
                      name=agency.name, state=agency.state.replace("_", " ")))
    _claim_state(agency, ("suspended", "rejected"), "active", None)
    audit.record(actor, "agency_reactivated", agency_id=agency.id)
    email = _tell_owner(agency, "agency_reactivated", keys.agency_notice("reactivated", agency))
    db.session.commit()
    if email is not None:
        mail.enqueue_pending(email)
    return agency


def set_franchise(agency_id, enabled: bool, actor: audit.Actor) -> Agency:
    return pushdown.set_franchise(get(agency_id).id, enabled, actor)


def create(*, name: str, owner_email: str, owner_name: str = "", actor: audit.Actor,
           send_email: bool = True) -> tuple[Agency, User, str]:
    """An agency made by support or the CLI: active at once; its owner sets a password by a link (24 h),
    e-mailed when `send_email`. Returns the agency, the owner and the link."""
    email = normalize_email(owner_email)
    fields = _check_person(agency_name=name, name=owner_name or email.split("@")[0] or "Owner", email=email)
    if fields:
        raise ValidationFailed(str(_l("The agency was not created; see the fields marked.")), fields)
    agency = Agency(name=name.strip(), referral_code=_referral_code(), state="active", state_changed_at=utcnow(),
                    currency=get_catalog().currency)
    db.session.add(agency)
    db.session.flush()
    owner = User(email=email, name=(owner_name or email.split("@")[0]).strip()[:120], password_hash=None,
                 role="agency", team_role="owner", agency_id=agency.id, email_confirmed_at=utcnow())
    db.session.add(owner)
    _flush_or_taken(owner.email)
    url = set_password_link(owner)
    pushdown.ensure_parent(agency)  # P1: the agency's own account, made with it
    audit.record(actor, "agency_created", agency_id=agency.id, name=agency.name, owner=email)
    email_row = None
    if send_email:
        email_row = notices.to_user(owner, "agency_created", {
            "agency": agency, "url": url, "hours": int(links.LIFETIMES["set_password"].total_seconds() // 3600)})
    db.session.commit()
    if email_row is not None:
        mail.enqueue_pending(email_row)
    return agency, owner, url


def create_support_user(email: str, name: str, actor: audit.Actor) -> tuple[User, str]:
    email = normalize_email(email)
    fields = _check_person(agency_name=None, name=name or email.split("@")[0], email=email)
    if fields:
        raise ValidationFailed(str(_l("The support login was not created; see the fields marked.")), fields)
    user = User(email=email, name=(name or email.split("@")[0]).strip()[:120], password_hash=None, role="support",
                email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.flush()
    url = set_password_link(user)
    audit.record(actor, "support_user_created", email=email)
    db.session.commit()
    return user, url


def password_link(email: str, actor: audit.Actor) -> tuple[User, str]:
    """A new set-password link for the login with this e-mail (`flask reset-password`): every earlier
    one dies, and the user's logins end once the password is set by it. Raises NotFound."""
    user = db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(str(_l("No login has this e-mail.")))
    url = set_password_link(user)
    audit.record(actor, "password_link_created", agency_id=user.agency_id, user=user.id)
    db.session.commit()
    return user, url


def reset_two_factor(agency_id, user_id, actor: audit.Actor) -> User:
    """Support turns off a user's two-factor sign-in (a lost phone): audited, the user is e-mailed."""
    agency = get(agency_id)
    user = db.session.get(User, parse_id(user_id))
    if user is None or user.agency_id != agency.id:
        raise NotFound()
    if not user.has_2fa:
        raise Conflict(str(_l("%(email)s has no two-factor sign-in to reset.", email=user.email)))
    two_factor.reset_by_support(user, actor)
    return user


def set_password_link(user: User) -> str:
    """A single-use link (24 h) to choose a password; earlier ones die. Part of the caller's transaction."""
    links.revoke(user_id=user.id, purposes=("set_password",))
    _link, token = links.issue("set_password", user=user)
    return links.url("set_password", token)


# ---- the console's Agencies page ------------------------------------------------------------------------

def get(agency_id) -> Agency:
    agency = db.session.get(Agency, parse_id(agency_id))
    if agency is None:
        raise NotFound()
    return agency


def search(q: str = "", state: str = "", limit: int = 100) -> list[Agency]:
    """Agencies whose name or one of whose users' e-mails contains `q` (any case), in `state` if given."""
    stmt = sa.select(Agency).order_by(Agency.name, Agency.id).limit(limit)
    q = " ".join((q or "").split())[:100].lower()
    if q:
        # autoescape: a "_" or "%" typed is that character, not a wildcard ("first_last@" finds its agency).
        stmt = stmt.where(sa.or_(sa.func.lower(Agency.name).contains(q, autoescape=True), Agency.id.in_(
            sa.select(User.agency_id).where(sa.func.lower(User.email).contains(q, autoescape=True)))))
    if state in AGENCY_STATES:
        stmt = stmt.where(Agency.state == state)
    return list(db.session.scalars(stmt))


def owner_emails(agency_ids) -> dict[int, str]:
    """The owner's e-mail of each agency (the first owner when there are several), in one query."""
    rows = db.session.execute(sa.select(User.agency_id, User.email).where(
        User.agency_id.in_(list(agency_ids)), User.team_role == "owner").order_by(User.id.desc())).all()
    return {agency_id: email for agency_id, email in rows}


ACCOUNTS_SHOWN = 50


def detail(agency: Agency) -> dict:
    """What support sees of one agency."""
    # Its clients' accounts, not the parent account its pushdown automations are built in (P1).
    clients = sa.and_(HostedAccount.agency_id == agency.id, HostedAccount.kind != "parent")
    paid = db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(clients, PAID)) or 0
    accounts = db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount).where(clients)) or 0
    return {
        "agency": agency, "users": list(agency.users), "accounts": accounts, "paid": paid,
        "account_rows": list(db.session.scalars(sa.select(HostedAccount).where(clients)
                                                .order_by(HostedAccount.name, HostedAccount.id).limit(ACCOUNTS_SHOWN))),
        "discount": billing.discount_in_force(agency.id), "prepaid_cents": billing.balance(agency.id, "prepaid"),
        "card": db.session.scalar(sa.select(BillingProfile).where(BillingProfile.agency_id == agency.id)),
        "branded": db.session.scalar(sa.select(Branding.id).where(Branding.agency_id == agency.id,
                                                                  Branding.account_id.is_(None))) is not None,
    }
