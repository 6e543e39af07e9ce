"""P10: pushdown automations are for franchise partners, switched on per agency by support; and the
agency's parent account (P1), the hosted account its automations are built in."""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Agency, HostedAccount
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


def parent_account(agency_id: int) -> HostedAccount:
    """The agency's own hosted account (P1), made the first time it is needed."""
    scope = AgencyScope(agency_id)
    parent = db.session.scalar(scope.accounts().where(HostedAccount.kind == "parent"))
    if parent is None:
        agency = db.session.get(Agency, agency_id)
        base = re.sub(r"[^a-z0-9-]", "", (agency.referral_code or f"agency{agency_id}").lower())[:40] or "agency"
        parent = HostedAccount(agency_id=agency_id, kind="parent", name=f"{base}-hq-{agency_id}", status="active",
                               plan_tier="plus", plan_term="monthly", contact_limit=1000,
                               client_name=agency.name, client_email=f"parent-{agency_id}@invalid.test",
                               notification_email=f"parent-{agency_id}@invalid.test")
        db.session.add(parent)
        db.session.flush()
    return parent
