"""A9: an account's custom domain, verified by a real DNS query for its CNAME; only a verified domain
is held platform-wide."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ...adapters import dns
from ...extensions import db
from ...models import HostedAccount, utcnow
from .. import audit, hosts, permissions
from ..errors import Conflict, ValidationFailed
from .validation import domain_problem, normalize_domain, verified_elsewhere

# ---- A9: custom domain ---------------------------------------------------------------------------------

def cname_target(account: HostedAccount) -> str:
    return hosts.platform_host(account)


def cname_targets(domain: str) -> list[str]:
    """What the domain's CNAME points to, by a real DNS query to the configured servers (verification and
    the daily re-check ask the same way); dns.LookupFailed when nobody answered."""
    return dns.cname_targets(domain, current_app.config.get("DNS_NAMESERVERS"),
                             timeout=current_app.config["DNS_TIMEOUT"])


def set_domain(account: HostedAccount, domain: str, actor: audit.Actor) -> HostedAccount:
    permissions.require(actor, "manage_accounts")
    domain = normalize_domain(domain)
    if domain:
        problem = domain_problem(domain, account.id)
        if problem:
            raise ValidationFailed(problem, {"domain": problem})
    if domain != (account.custom_domain or ""):
        account.custom_domain, account.custom_domain_verified_at = domain or None, None
        account.custom_domain_released = None
        audit.record(actor, "custom_domain_set", agency_id=account.agency_id, account_id=account.id,
                     domain=domain or None)
        db.session.commit()
    return account


def verify_domain(account: HostedAccount, actor: audit.Actor) -> bool:
    """Looks the CNAME up with a real DNS query; only a match makes the account answer there. Anything else
    (no domain set, no answer, a record pointing elsewhere, a domain verified by another account) is a
    Conflict that says why, and the domain stays as it was."""
    permissions.require(actor, "manage_accounts")
    if not account.custom_domain:
        raise Conflict(str(_l("Set a custom domain first.")))
    try:
        targets = cname_targets(account.custom_domain)
    except dns.LookupFailed as exc:
        # Nothing was learnt about the record: the domain stays as it was (unverified), and the agency is told why.
        if exc.reason == "timeout":
            raise Conflict(str(_l("The DNS servers did not answer about %(domain)s in time, so it is not "
                                      "verified yet. Try Verify again in a few minutes.",
                                      domain=account.custom_domain))) from None
        raise Conflict(str(_l("The DNS servers could not look up %(domain)s (they answered with an error), so "
                                  "it is not verified yet. Check the domain at its DNS provider, then try Verify "
                                  "again.", domain=account.custom_domain))) from None
    expected = cname_target(account)
    if expected not in targets:
        found = ", ".join(targets) if targets else str(_l("no CNAME record"))
        raise Conflict(str(_l("%(domain)s points to %(found)s, not to %(expected)s. DNS changes can take a while "
                                  "to spread; try again later.", domain=account.custom_domain, found=found,
                                  expected=expected)))
    if verified_elsewhere(account.custom_domain, account.id):
        raise Conflict(str(_l("This domain is already in use on the platform.")))
    account.custom_domain_verified_at = utcnow()
    # Whoever was only waiting to verify the same domain loses the claim, and its page says so.
    for waiting in db.session.scalars(sa.select(HostedAccount).where(
            HostedAccount.custom_domain == account.custom_domain, HostedAccount.id != account.id,
            HostedAccount.custom_domain_verified_at.is_(None))):
        waiting.custom_domain, waiting.custom_domain_released = None, account.custom_domain
        audit.record(audit.Actor.system(), "custom_domain_released", agency_id=waiting.agency_id,
                     account_id=waiting.id, domain=account.custom_domain)
    audit.record(actor, "custom_domain_verified", agency_id=account.agency_id, account_id=account.id,
                 domain=account.custom_domain)
    try:
        db.session.commit()
    except IntegrityError:  # another account verified it at the same moment
        db.session.rollback()
        raise Conflict(str(_l("This domain is already in use on the platform."))) from None
    return True
