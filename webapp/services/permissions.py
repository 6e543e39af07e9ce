"""What each member of an agency's team may do: the one table, checked by the services (every caller:
the dashboard, the API, whoever), by the views and the side menu (to offer only what is allowed), and by
the API (a token acts with its creator's role, never more)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .errors import Forbidden

ROLES = ("owner", "admin", "billing", "member")
ROLE_LABELS = {"owner": _l("Owner"), "admin": _l("Admin"), "billing": _l("Billing"), "member": _l("Member")}

# permission -> the roles that have it
PERMISSIONS: dict[str, frozenset[str]] = {
    # See the Resold tab, accounts, reports.
    "view": frozenset({"owner", "admin", "billing", "member"}),
    # Add trials, manage accounts: domain, branding, cancel, send a reset, login-as.
    "manage_accounts": frozenset({"owner", "admin", "member"}),
    # Anything that charges the card: a paid Add New, upgrades, renewals, packs, prepaid credit.
    "charge": frozenset({"owner", "admin", "billing"}),
    # The billing profile (the card), the billing history and invoices.
    "billing": frozenset({"owner", "admin", "billing"}),
    # Account defaults, templates, automations and pushdowns.
    "library": frozenset({"owner", "admin", "member"}),
    # API tokens (a token acts with its creator's role).
    "api_tokens": frozenset({"owner", "admin"}),
    # The team: invite, change roles, remove (Admins cannot touch Owners).
    "team": frozenset({"owner", "admin"}),
    # The agency's notification settings: where its notices go, their language, the optional ones.
    "notices": frozenset({"owner", "admin"}),
    # Require 2FA for the team, transfer ownership.
    "owner": frozenset({"owner"}),
}

DENIED = {
    "view": _l("Your role in the team does not let you see this."),
    "manage_accounts": _l("Your role in the team does not let you manage accounts; ask an Owner, an Admin or a Member."),
    "charge": _l("Your role in the team does not let you charge the agency's card; ask an Owner, an Admin or "
                 "the Billing member."),
    "billing": _l("Your role in the team does not let you see or change billing; ask an Owner, an Admin or the "
                  "Billing member."),
    "library": _l("Your role in the team does not let you change account defaults, templates or automations."),
    "api_tokens": _l("Only an Owner or an Admin can manage API tokens."),
    "team": _l("Only an Owner or an Admin can change the team."),
    "notices": _l("Only an Owner or an Admin can change the agency's notification settings."),
    "owner": _l("Only an Owner can do this."),
}


def allows(team_role: str | None, permission: str) -> bool:
    return team_role in PERMISSIONS[permission]


def require(actor, permission: str) -> None:
    """Raises Forbidden (403, with a clear message) when an agency's user or API token may not do it.
    Everyone else who acts - the system, support staff, a hosted account's own admin, the CLI - is not
    a member of a team, and is checked by their own rules."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)
    if acts_for_an_agency(actor) and not allows(getattr(actor, "team_role", None), permission):
        raise Forbidden(str(DENIED[permission]))


def acts_for_an_agency(actor) -> bool:
    return getattr(actor, "agency_id", None) is not None and str(getattr(actor, "ref", "")).startswith(
        ("user:", "api_token:"))
