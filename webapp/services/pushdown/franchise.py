"""P10: pushdown automations are for franchise partners, switched on per agency by support; and the
agency's parent account (P1), a real hosted account of the agency that its automations are built in."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import AccountUser, Agency, HostedAccount, User, utcnow
from .. import audit
from ..errors import Forbidden, NotFound
from ..scope import AgencyScope, parse_id


# ---- P10: only for franchise partners ---------------------------------------------------------

def require_franchise(agency_id: int) -> Agency:
    agency = db.session.get(Agency, agency_id)
    if agency is None or not agency.franchise_enabled:
        raise Forbidden(str(_l("Pushdown automations are for franchise partners. Ask support to switch them on.")))
    return agency


def set_franchise(agency_id: int, enabled: bool, actor: audit.Actor) -> Agency:
    """Support staff switch pushdown on or off for an agency."""
    agency = db.session.get(Agency, parse_id(agency_id))
    if agency is None:
        raise NotFound()
    if agency.franchise_enabled != enabled:
        agency.franchise_enabled = enabled
        audit.record(actor, "franchise_enabled" if enabled else "franchise_disabled", agency_id=agency.id)
        db.session.commit()
    return agency


# ---- P1: the parent account, a real account of the agency --------------------------------------

# Made before issue 23: an invented address nobody reads.
SYNTHETIC_EMAIL = re.compile(r"^parent-\d+@invalid\.test$")


def _owner(agency: Agency) -> User | None:
    return db.session.scalar(sa.select(User).where(User.agency_id == agency.id, User.team_role == "owner")
                             .order_by(User.id).limit(1))


def _free_name(agency: Agency) -> str:
    """<agency>-hq, a valid subdomain nobody holds (the agency's id added when it is taken or reserved)."""
    from ..accounts.validation import NAME_RE, RESERVED_NAMES  # the account package imports this one
    base = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", (agency.name or "").lower())).strip("-")[:30].strip("-")
    for name in (f"{base}-hq" if base else "", f"{base or 'agency'}-hq-{agency.id}",
                 f"agency-{agency.id}-hq"):
        if name and NAME_RE.match(name) and "--" not in name and name not in RESERVED_NAMES and not \
                db.session.scalar(sa.select(HostedAccount.id).where(HostedAccount.name == name)):
            return name
    return f"hq-{agency.id}-{utcnow():%H%M%S%f}"[:40]


def _admin_of(account: HostedAccount) -> AccountUser | None:
    return db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id,
                                                         AccountUser.username == "admin"))


def ensure_parent(agency: Agency) -> HostedAccount:
    """The agency's parent account, made (or made real) in the caller's transaction: its own host, an
    `admin` whose e-mail is the owner's, the agency's branding and templates like any new account. It is
    never a client account: every client list, count and charge reads kind 'resold' (or the referred
    kinds), never 'parent'. Nobody knows the admin's generated password: the agency opens the account by
    login-as, and may set a password there (W6) or by "Forgot?" at the owner's e-mail."""
    from .. import provisioning
    from ..passwords import generate_password, hash_generated_password
    owner = _owner(agency)
    email = owner.email if owner is not None else f"parent-{agency.id}@invalid.test"
    parent = db.session.scalar(AgencyScope(agency.id).accounts().where(HostedAccount.kind == "parent"))
    if parent is None:
        parent = HostedAccount(agency_id=agency.id, kind="parent", name=_free_name(agency), status="active",
                               plan_tier="plus", plan_term="monthly", contact_limit=1000,
                               client_name=agency.name[:120], client_email=email, notification_email=email,
                               language=(owner.language if owner is not None and owner.language else "en"),
                               timezone=(owner.timezone if owner is not None and owner.timezone else "UTC"),
                               provisioned_at=utcnow())
        db.session.add(parent)
        db.session.flush()
    elif owner is not None and SYNTHETIC_EMAIL.match(parent.client_email or ""):
        parent.client_name, parent.client_email = agency.name[:120], email
        if SYNTHETIC_EMAIL.match(parent.notification_email or ""):
            parent.notification_email = email
    if parent.status == "provisioning":
        parent.status = "active"
    if _admin_of(parent) is None:
        db.session.add(AccountUser(account_id=parent.id, username="admin", email=parent.client_email,
                                   password_hash=hash_generated_password(generate_password()),
                                   password_changed_at=utcnow()))
        provisioning.copy_branding(parent)
        provisioning._copy_templates(parent)  # the agency's templates for new accounts, as at provisioning
        db.session.flush()
    return parent


def parent_account(agency_id: int) -> HostedAccount:
    """The agency's parent account (P1). An agency made before issue 23 has none, or one without an admin:
    it is made real the first time it is needed, in its own commit."""
    parent = db.session.scalar(AgencyScope(agency_id).accounts().where(HostedAccount.kind == "parent"))
    if parent is not None and _admin_of(parent) is not None:
        return parent
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise NotFound()
    try:
        parent = ensure_parent(agency)
        db.session.commit()
    except sa.exc.IntegrityError:  # made meanwhile by another request: that one stands
        db.session.rollback()
        parent = db.session.scalar(AgencyScope(agency_id).accounts().where(HostedAccount.kind == "parent"))
        if parent is None:
            raise
    return parent
