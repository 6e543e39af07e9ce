"""N2: the notices the calendar sends, run by the sweeper (webapp/jobs/registry.py):

- a trial ends in 3 days (trial_ending); an annual plan renews in 7 days (upcoming_renewal, optional);
- a paid renewal's receipt (renewal_receipt, optional), or, for an agency that asks for it, the day's
  receipts the next morning: one digest when more than 5 accounts renewed that day (renewal_digest).

Each notice is keyed (kind + account or agency + the day it is for), and each sweep asks only for what
has no e-mail under its key yet, so a second sweep, or two sweepers at once, send nothing twice. The
expiries themselves are told by `renewals.expire_ended`, in the transaction that expires the account."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from ..catalog import get_catalog
from ..extensions import db
from ..models import Agency, HostedAccount, Invoice, OutboundEmail, utcnow
from ..models.accounts import CLIENT_BILLED_KINDS, RENEWING_STATUSES
from . import billing, hosts, keys, mail, notices, renewals

TRIAL_NOTICE_DAYS = 3
UPCOMING_NOTICE_DAYS = 7
# More renewals than this on one day make a digest, for an agency that asks for digests.
DIGEST_OVER = 5
BATCH = 500


def _no_notice_yet(kind: str, subject, period):
    """No e-mail in the outbox under keys.notice(kind, subject, period), in SQL."""
    key = (sa.literal(f"notice:{kind}:") + sa.cast(subject, sa.String) + sa.literal(":")
           + sa.cast(period, sa.String))
    return ~sa.exists().where(OutboundEmail.dedupe_key == key)


def account_url(account: HostedAccount) -> str:
    return hosts.dashboard_url(f"/accounts/{account.id}")


def send_trial_endings(today: date | None = None) -> int:
    """Trials ending within TRIAL_NOTICE_DAYS are told once per end day (an extended trial is told again
    before its new end)."""
    today = today or date.today()
    accounts = db.session.scalars(sa.select(HostedAccount).where(
        HostedAccount.plan_term == "trial", HostedAccount.status == "active",
        HostedAccount.period_end > today, HostedAccount.period_end <= today + timedelta(days=TRIAL_NOTICE_DAYS),
        _no_notice_yet("trial_ending", HostedAccount.id, HostedAccount.period_end))
        .order_by(HostedAccount.id).limit(BATCH)).all()
    emails = [notices.to_account(account, "trial_ending", {
        "ends_on": account.period_end, "days": (account.period_end - today).days,
        "account_url": account_url(account)}, key=keys.notice("trial_ending", account.id, account.period_end))
        for account in accounts]
    db.session.commit()
    mail.enqueue_pending(*emails)
    return len(emails)


def upcoming_price(account: HostedAccount) -> int:
    """What the next period will cost: the catalog's price of the plan it renews to, after the agency's
    discount of today (a referred account pays the list price)."""
    catalog = get_catalog()
    price = catalog.list_price_cents(*renewals.next_renewal_plan(account))
    if account.kind != "resold" or account.agency_id is None:
        return price
    return catalog.apply_discount(price, billing.discount_in_force(account.agency_id))


def send_upcoming_renewals(today: date | None = None) -> int:
    """Annual plans renewing within UPCOMING_NOTICE_DAYS, once per renewal day: to the agency when it asks
    for these notices; the client of an account that pays its own way (referred or detached) is always told."""
    today = today or date.today()
    wants = sa.or_(HostedAccount.kind.in_(CLIENT_BILLED_KINDS),
                   sa.exists().where(Agency.id == HostedAccount.agency_id, Agency.notify_upcoming.is_(True)))
    accounts = db.session.scalars(sa.select(HostedAccount).where(
        HostedAccount.plan_term == "annual", HostedAccount.kind.in_(("resold", "commission", "standalone")),
        HostedAccount.status.in_(RENEWING_STATUSES), HostedAccount.cancelled_at.is_(None),
        HostedAccount.period_end > today, HostedAccount.period_end <= today + timedelta(days=UPCOMING_NOTICE_DAYS),
        wants, _no_notice_yet("upcoming_renewal", HostedAccount.id, HostedAccount.period_end))
        .order_by(HostedAccount.id).limit(BATCH)).all()
    currency = get_catalog().currency
    emails = [notices.to_account(account, "upcoming_renewal", {
        "renews_on": account.period_end, "amount": upcoming_price(account), "currency": currency,
        "account_url": account_url(account),
        "profile_url": None if notices.is_clients(account) else hosts.dashboard_url("/billing/profile"),
        # A client who pays its own way changes or cancels the plan on its account's Billing page (issue 22).
        "billing_url": hosts.account_url(account, "/app/billing") if notices.is_clients(account) else None},
        key=keys.notice("upcoming_renewal", account.id, account.period_end)) for account in accounts]
    db.session.commit()
    mail.enqueue_pending(*emails)
    return len(emails)


# ---- receipts ---------------------------------------------------------------------------------------------

def _receipt_row(invoice: Invoice, account: HostedAccount | None) -> dict:
    return {"invoice": invoice, "account": account, "name": account.name if account else "",
            "url": hosts.dashboard_url(f"/billing/invoices/{invoice.id}")}


def send_receipts(now: datetime | None = None) -> int:
    """The receipts of paid renewals billed to agencies (a referred client's are sent as it pays, by
    commission._receipt). An agency with receipts off gets none (the invoices are marked so); with
    digests on, a day's receipts wait for the day to end (UTC) and go as one digest when there are more
    than DIGEST_OVER, else one by one; with digests off each goes at once."""
    now = now or utcnow()
    today = now.date()
    due = db.session.scalars(sa.select(Invoice).where(
        Invoice.receipt_at.is_(None), Invoice.status == "paid", Invoice.kind == "renewal",
        Invoice.agency_id.is_not(None)).order_by(Invoice.paid_at, Invoice.id).limit(5 * BATCH)).all()
    if not due:
        return 0
    agencies = {a.id: a for a in db.session.scalars(sa.select(Agency).where(
        Agency.id.in_({invoice.agency_id for invoice in due})))}
    accounts = {a.id: a for a in db.session.scalars(sa.select(HostedAccount).where(
        HostedAccount.id.in_({invoice.account_id for invoice in due if invoice.account_id})))}
    by_day: dict[tuple[int, date], list[Invoice]] = defaultdict(list)
    for invoice in due:
        by_day[(invoice.agency_id, invoice.paid_at.date())].append(invoice)
    sent = 0
    for (agency_id, day), invoices in by_day.items():
        agency = agencies.get(agency_id)
        emails = []
        if agency is None or not agency.notify_receipts:
            pass  # marked below: no receipt is owed for them any more
        elif agency.receipt_digest and day >= today:
            continue  # the day is not over: it may still make a digest
        elif agency.receipt_digest and len(invoices) > DIGEST_OVER:
            rows = [_receipt_row(invoice, accounts.get(invoice.account_id)) for invoice in invoices]
            emails += notices.to_agency(agency_id, "renewal_digest", {
                "day": day, "rows": rows, "total": sum(invoice.total_cents for invoice in invoices),
                "card": sum(invoice.card_charged_cents for invoice in invoices),
                "currency": invoices[0].currency, "history_url": hosts.dashboard_url("/billing/history")},
                key=keys.notice("renewal_digest", agency_id, day))
        else:
            for invoice in invoices:
                account = accounts.get(invoice.account_id)
                row, key = _receipt_row(invoice, account), keys.notice("renewal_receipt", invoice.id)
                if account is not None and account.agency_id == agency_id and account.notification_email:
                    emails.append(notices.to_account(account, "renewal_receipt", row, key=key, agency_id=agency_id))
                else:  # moved to another agency since: the receipt is still the paying agency's
                    emails += notices.to_agency(agency_id, "renewal_receipt", {**row, "for_client": False}, key=key)
        db.session.execute(sa.update(Invoice).where(Invoice.id.in_([invoice.id for invoice in invoices]),
                                                    Invoice.receipt_at.is_(None))
                           .values(receipt_at=now).execution_options(synchronize_session=False))
        db.session.commit()
        mail.enqueue_pending(*emails)
        sent += len(emails)
    return sent
