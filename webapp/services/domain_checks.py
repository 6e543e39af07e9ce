"""A9, kept honest: every verified custom domain is looked up again once a day, by a real DNS query for
the same CNAME its verification asked for (the account's platform host).

- One that no longer points there is flagged (since when, and what its CNAME says), shown on the
  account's page, and the account's notification e-mail is told once (`custom_domain_failing`).
- One that points back is cleared (`custom_domain_restored`).
- One still failing GRACE after it was first seen failing stops serving: its verification is withdrawn,
  so the account answers only on its platform host (hosts.resolve, the TLS `ask` below) until the domain
  is verified again (`custom_domain_stopped`).
- A lookup that got no answer (a timeout, SERVFAIL) says nothing about the record: nothing is flagged or
  cleared, and the domain is looked up again RETRY_UNANSWERED later.

The sweeper runs `check_domains` on every pass (webapp/jobs/registry.py). A pass takes the domains whose
last check is a day old, oldest first, at most BATCH of them and for at most PASS_SECONDS; each one is
claimed by a conditional UPDATE of its check time before its query, so two sweepers never check one domain
twice, and every e-mail is keyed (kind + account + the day it was first seen failing)."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..adapters import dns
from ..extensions import db
from ..models import HostedAccount, utcnow
from . import audit, hosts, keys, mail, notices
from .accounts import domains

log = logging.getLogger("agencyhq.domains")

CHECK_EVERY = timedelta(days=1)
# How long a domain may point elsewhere before it stops serving.
GRACE = timedelta(days=7)
# A lookup nobody answered is not the day's check: it is tried again this much later.
RETRY_UNANSWERED = timedelta(hours=1)
# Per sweeper pass: each domain is one DNS query of up to DNS_TIMEOUT seconds.
BATCH = 20
PASS_SECONDS = 10.0

_LAST_LOOKED = sa.func.coalesce(HostedAccount.custom_domain_checked_at, HostedAccount.custom_domain_verified_at)


def _due(now: datetime):
    """Verified domains not looked at for a day (a new one is first re-checked a day after its verification)."""
    return sa.and_(HostedAccount.custom_domain_verified_at.is_not(None), HostedAccount.custom_domain.is_not(None),
                   _LAST_LOOKED <= now - CHECK_EVERY)


def check_domains(now: datetime | None = None) -> int:
    """One pass of the daily re-check; returns how many domains were looked up."""
    now = now or utcnow()
    rows = db.session.execute(sa.select(HostedAccount.id, HostedAccount.custom_domain).where(_due(now))
                              .order_by(_LAST_LOOKED, HostedAccount.id).limit(BATCH)).all()
    db.session.commit()  # no transaction stays open across the DNS queries
    started, looked = time.monotonic(), 0
    for account_id, domain in rows:
        if time.monotonic() - started > PASS_SECONDS:
            break  # the rest are still due: the next pass takes them
        if _claim(account_id, domain, now):
            check_one(account_id, domain, now)
            looked += 1
    return looked


def _claim(account_id: int, domain: str, now: datetime) -> bool:
    """Marks the domain checked now, if nobody did since it was found due: only one sweeper goes on."""
    claimed = db.session.execute(
        sa.update(HostedAccount).where(HostedAccount.id == account_id, HostedAccount.custom_domain == domain,
                                       _due(now))
        .values(custom_domain_checked_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return claimed == 1


def check_one(account_id: int, domain: str, now: datetime) -> str:
    """Looks `domain` up and records what that says: "ok", "failing", "stopped", "unanswered", or "changed"
    (the account's domain or its verification changed meanwhile, and nothing is recorded)."""
    try:
        targets = domains.cname_targets(domain)
    except dns.LookupFailed as exc:
        db.session.execute(
            sa.update(HostedAccount).where(HostedAccount.id == account_id, HostedAccount.custom_domain == domain)
            .values(custom_domain_checked_at=now - CHECK_EVERY + RETRY_UNANSWERED)
            .execution_options(synchronize_session=False))
        db.session.commit()
        log.info("domain check unanswered account=%s domain=%s reason=%s", account_id, domain, exc.reason)
        return "unanswered"
    account = db.session.get(HostedAccount, account_id, with_for_update=True, populate_existing=True)
    if account is None or account.custom_domain != domain or account.custom_domain_verified_at is None:
        db.session.rollback()
        return "changed"
    if domains.cname_target(account) in targets:
        outcome, email = "ok", _points_back(account)
    else:
        outcome, email = _points_elsewhere(account, ", ".join(targets), now)
    db.session.commit()
    mail.enqueue_pending(email)
    log.info("domain check account=%s domain=%s outcome=%s", account_id, domain, outcome)
    return outcome


def is_failing(account: HostedAccount) -> bool:
    """Flagged since the domain's latest verification (a flag older than that is of a past episode; the
    account page's templates/accounts/_domain_health.html reads the same columns the same way)."""
    since, verified = account.custom_domain_failing_since, account.custom_domain_verified_at
    return bool(account.custom_domain and verified and since and since >= verified)


def _context(account: HostedAccount) -> dict:
    return {"domain": account.custom_domain, "found": account.custom_domain_found or "",
            "expected": domains.cname_target(account), "failing_since": account.custom_domain_failing_since,
            "stops_at": account.custom_domain_stops_at,
            "account_url": None if notices.is_clients(account) else hosts.dashboard_url(f"/accounts/{account.id}")}


def _episode(account: HostedAccount) -> str:
    """The period of a notice: when this failing spell began (outbox keys hold 120 characters, not a domain)."""
    return f"{account.custom_domain_failing_since:%Y%m%d%H%M%S}"


def _points_back(account: HostedAccount):
    email = None
    if is_failing(account):
        audit.record(audit.Actor.system(), "custom_domain_restored", agency_id=account.agency_id,
                     account_id=account.id, domain=account.custom_domain)
        email = notices.to_account(account, "custom_domain_restored", _context(account),
                                   key=keys.notice("custom_domain_restored", account.id, _episode(account)))
    account.custom_domain_failing_since = account.custom_domain_found = None
    account.custom_domain_stopped = account.custom_domain_stops_at = None
    return email


def _points_elsewhere(account: HostedAccount, found: str, now: datetime):
    account.custom_domain_found = found[:600]
    if not is_failing(account):  # first seen failing since its verification
        account.custom_domain_failing_since, account.custom_domain_stops_at = now, now + GRACE
        account.custom_domain_stopped = None
        audit.record(audit.Actor.system(), "custom_domain_failing", agency_id=account.agency_id,
                     account_id=account.id, domain=account.custom_domain, found=found or None)
        return "failing", notices.to_account(account, "custom_domain_failing", _context(account),
                                             key=keys.notice("custom_domain_failing", account.id, _episode(account)))
    if now < account.custom_domain_stops_at:
        return "failing", None
    # The grace is over: only a new verification makes the account answer there again.
    key = keys.notice("custom_domain_stopped", account.id, _episode(account))
    account.custom_domain_verified_at, account.custom_domain_stops_at = None, now
    account.custom_domain_stopped = account.custom_domain
    audit.record(audit.Actor.system(), "custom_domain_stopped", agency_id=account.agency_id, account_id=account.id,
                 domain=account.custom_domain, found=found or None)
    return "stopped", notices.to_account(account, "custom_domain_stopped", _context(account), key=key)


# ---- on-demand TLS (the proxy's `ask`) -------------------------------------------------------------------

def serves(host: str) -> bool:
    """Whether the app answers at `host` (no port): the platform domain, an account's platform host, or a
    verified custom domain that has not stopped. What hosts.resolve routes, so a certificate is only ever
    asked for a host that is served; at most one indexed query."""
    host = (host or "").strip().lower()
    if not host or ":" in host or host.startswith("[") or not hosts.is_valid_host(host):
        return False
    return hosts.resolve(host) is not None
