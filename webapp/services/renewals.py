"""B2, B8, A7: every account renews on its own day; a decline is retried on the catalog's schedule,
the agency is told each time, and after the grace period the account is disabled (and enabled
again when a later charge succeeds). Cancelled accounts and trials expire at the end of their period.

The sweeper hands each due (account, period) to its own operation, keyed by both, so a second
sweep, a second sweeper or a restarted worker never renews anything twice."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from .. import faults
from ..catalog import get_catalog
from ..extensions import db
from ..models import HostedAccount, Invoice, Operation, utcnow
from . import billing, hosts, mail, operations
from .dates import add_months
from .money import format_money

RECURRING = ("monthly", "annual")
# Paid and disabled accounts alike are charged on their day (B2).
RENEWING_STATUSES = ("active", "disabled")


def next_period(account: HostedAccount, start: date, term: str | None = None) -> tuple[date, date]:
    months = get_catalog().term_months(term or account.plan_term)
    return start, add_months(start, months, account.anchor_day or start.day)


def due_accounts(today: date, limit: int = 50_000) -> list:
    return db.session.execute(
        sa.select(HostedAccount.id, HostedAccount.agency_id, HostedAccount.period_end)
        .where(HostedAccount.kind == "resold", HostedAccount.plan_term.in_(RECURRING),
               HostedAccount.status.in_(RENEWING_STATUSES), HostedAccount.cancelled_at.is_(None),
               HostedAccount.period_end <= today)
        .order_by(HostedAccount.period_end, HostedAccount.id).limit(limit)).all()


def submit_due(today: date | None = None) -> list[int]:
    """One renewal operation per due (account, period); existing ones are left alone. The discount
    in force today is worked out once per agency and carried by each renewal (B5)."""
    today = today or date.today()
    due = due_accounts(today)
    discounts: dict[int, int] = {}
    items = []
    for account_id, agency_id, period_end in due:
        if agency_id not in discounts:
            discounts[agency_id] = billing.discount_in_force(agency_id)
        items.append({"key": f"renew:{account_id}:{period_end.isoformat()}", "subject_type": "account",
                      "subject_id": account_id, "agency_id": agency_id,
                      "params": {"period_start": period_end.isoformat(), "discount_percent": discounts[agency_id],
                                 "priced_on": today.isoformat()}})
    return operations.submit_many("renew_account", items)


def submit_retries(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    invoices = db.session.execute(sa.select(Invoice.id, Invoice.agency_id, Invoice.attempts).where(
        Invoice.kind == "renewal", Invoice.status == "failed", Invoice.next_attempt_at <= now)).all()
    return operations.submit_many("retry_renewal", [
        {"key": f"retry:{i.id}:{i.attempts}", "agency_id": i.agency_id, "subject_type": "invoice", "subject_id": i.id}
        for i in invoices])


def expire_ended(today: date | None = None) -> int:
    """Cancelled accounts at the end of their paid period, and trials at the end of theirs, expire."""
    today = today or date.today()
    now = utcnow()
    result = db.session.execute(
        sa.update(HostedAccount)
        .where(HostedAccount.period_end <= today, HostedAccount.status.in_(("active", "cancelled", "disabled")),
               sa.or_(HostedAccount.cancelled_at.is_not(None), HostedAccount.plan_term == "trial"))
        .values(status="expired", expired_at=now))
    db.session.commit()
    return result.rowcount


def disable_after_grace(now: datetime | None = None) -> int:
    """B8: an account whose renewal is still unpaid after the grace period is disabled."""
    now = now or utcnow()
    grace = timedelta(days=get_catalog().renewal_grace_days)
    overdue = db.session.scalars(sa.select(Invoice).where(
        Invoice.kind == "renewal", Invoice.status == "failed", Invoice.first_declined_at <= now - grace)).all()
    count = 0
    for invoice in overdue:
        account = db.session.get(HostedAccount, invoice.account_id)
        if account is not None and account.status == "active":
            account.status, account.disabled_at = "disabled", now
            _notify(account, invoice, "disabled")
            count += 1
    db.session.commit()
    return count


@operations.periodic
def sweep_renewals() -> None:
    today = date.today()
    expire_ended(today)
    operations.enqueue_many(submit_due(today) + submit_retries())
    disable_after_grace()


def _advance(invoice: Invoice) -> None:
    """Paid renewal: the account moves to its new period (and is enabled again after a decline)."""
    account = db.session.get(HostedAccount, invoice.account_id)
    if account.period_end == invoice.period_start:
        account.period_start, account.period_end = invoice.period_start, invoice.period_end
    if account.status == "disabled":
        account.status, account.disabled_at = "active", None


billing.ON_PAID["renewal"] = _advance


def renew(account_id: int, period_start: date, discount_percent: int | None = None) -> Invoice | None:
    """Charges one period of one account. Safe to call again: one invoice per (account, period),
    and the charge reuses its key, so a crash between the charge and the commit charges once."""
    account = db.session.get(HostedAccount, account_id)
    if account is None or account.period_end is None or account.period_end > period_start:
        return None  # already renewed, or not due
    if account.cancelled_at is not None or account.plan_term not in RECURRING:
        return None
    if account.pending_plan_tier:
        # A8: a downgrade takes effect at the renewal.
        account.plan_tier, account.plan_term = account.pending_plan_tier, account.pending_plan_term or account.plan_term
        account.contact_limit = account.pending_contact_limit or account.contact_limit
        account.pending_plan_tier = account.pending_plan_term = account.pending_contact_limit = None
        db.session.commit()
    start, end = next_period(account, period_start)
    catalog = get_catalog()
    price = catalog.list_price_cents(account.plan_tier, account.plan_term, account.contact_limit)
    invoice = billing.create_invoice(
        agency_id=account.agency_id, kind="renewal", account=account, period=(start, end),
        discount_percent=discount_percent,
        key=f"renewal:{account.id}:{start.isoformat()}",
        lines=[billing.Line(f"{account.name}: {catalog.tier_by_key[account.plan_tier].label} "
                            f"{account.plan_term}, {account.contact_limit:,} contacts, {start} to {end}", price)])
    faults.point("renewal.before_charge")
    try:
        billing.settle(invoice)
    except billing.PaymentDeclined:
        _schedule_retry(invoice)
        return invoice
    faults.point("renewal.after_commit")
    return invoice


def _schedule_retry(invoice: Invoice) -> None:
    days = get_catalog().renewal_retry_days
    account = db.session.get(HostedAccount, invoice.account_id)
    first = invoice.first_declined_at or utcnow()
    if invoice.attempts <= len(days):
        invoice.next_attempt_at = first + timedelta(days=days[invoice.attempts - 1])
    else:
        invoice.next_attempt_at = None
    _notify(account, invoice, "declined")
    db.session.commit()


def _notify(account: HostedAccount, invoice: Invoice, what: str) -> None:
    """The agency's notification e-mail for the account is told; the client never is."""
    amount = format_money(invoice.total_cents - invoice.prepaid_applied_cents, invoice.currency)
    if what == "declined":
        retry = (f"We will try again on {invoice.next_attempt_at:%Y-%m-%d}." if invoice.next_attempt_at
                 else "No further automatic attempt will be made; update the card in Billing profile.")
        subject = f"Renewal of {account.name} was declined"
        body = (f"The renewal of the hosted account {account.name} ({amount}, invoice {invoice.number}) was declined: "
                f"{invoice.last_error}\n\n{retry}\nAfter {get_catalog().renewal_grace_days} days unpaid the account "
                f"is disabled until a charge succeeds.\n\nBilling profile: {hosts.dashboard_url('/billing/profile')}\n")
    else:
        subject = f"{account.name} is disabled: its renewal is unpaid"
        body = (f"The hosted account {account.name} was disabled because its renewal (invoice {invoice.number}, "
                f"{amount}) is still unpaid. It is enabled again as soon as a charge succeeds.\n")
    email = mail.queue_email(to=account.notification_email, subject=subject, body=body, kind=f"renewal_{what}",
                             agency_id=account.agency_id, dedupe_key=f"renewal-{what}:{invoice.id}:{invoice.attempts}")
    db.session.commit()
    mail.enqueue_pending(email)


@operations.handler("renew_account")
def renew_account(ctx: operations.OperationContext):
    params = ctx.params
    # The discount worked out by the sweep holds for the day it was worked out on (B5).
    discount = params.get("discount_percent") if params.get("priced_on") == date.today().isoformat() else None
    invoice = renew(ctx.operation.subject_id, date.fromisoformat(params["period_start"]), discount)
    if invoice is None:
        return {"renewed": False}
    return {"invoice_id": invoice.id, "status": invoice.status}


@operations.handler("retry_renewal")
def retry_renewal(ctx: operations.OperationContext):
    invoice = db.session.get(Invoice, ctx.operation.subject_id)
    if invoice is None or invoice.status == "paid":
        return {"status": "paid"}
    try:
        billing.settle(invoice)
    except billing.PaymentDeclined:
        _schedule_retry(invoice)
    return {"invoice_id": invoice.id, "status": invoice.status}


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)
