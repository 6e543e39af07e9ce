"""B2, B8, A7: every account renews on its own day; a decline is retried on the catalog's schedule,
the agency is told each time, and after the grace period the account is disabled (and enabled
again when a later charge succeeds). Cancelled accounts and trials expire at the end of their period.

The sweeper hands each due (account, period) to its own operation, keyed by both, so a second
sweep, a second sweeper or a restarted worker never renews anything twice."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from .. import faults
from ..catalog import get_catalog
from ..extensions import db
from ..adapters.payments import OUTAGE, GatewayError
from ..models import CreditBalance, HostedAccount, Invoice, OutboundEmail, utcnow
from ..models.accounts import CLIENT_BILLED_KINDS, RECURRING, RENEWING_STATUSES
from . import billing, events, hosts, invoice_numbers, invoice_text, keys, mail, metrics, notices, operations
from .dates import add_months



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
        items.append({"key": keys.renewal(account_id, period_end), "subject_type": "account",
                      "subject_id": account_id, "agency_id": agency_id,
                      "params": {"period_start": period_end.isoformat(), "discount_percent": discounts[agency_id],
                                 "priced_on": today.isoformat()}})
    return operations.submit_many("renew_account", items)


# ---- C1, A4: an account that pays its own way renews on its client's own card ------------------------------

def next_renewal_plan(account: HostedAccount) -> tuple[str, str, int]:
    """(tier, term, contact limit) the next renewal charges: a downgrade waiting for it (A8) applies then."""
    if account.pending_plan_tier:
        return (account.pending_plan_tier, account.pending_plan_term or account.plan_term,
                account.pending_contact_limit or account.contact_limit)
    return account.plan_tier, account.plan_term, account.contact_limit


def renewal_price_cents(account: HostedAccount) -> int:
    """What the next renewal of an account billed to its client costs: the list price (no agency discount)."""
    return get_catalog().list_price_cents(*next_renewal_plan(account))


def sweep_commission_renewals() -> None:
    """Referred (C1) and detached (A4) accounts renew one by one through `renewals.renew`, which bills the
    client's own card, never an agency's (the sweeper's batch path is for agency-billed accounts only). A
    detached account has no card until its client adds one: its renewal is declined ("no_card") and dunned."""
    today = date.today()
    due = db.session.execute(
        sa.select(HostedAccount.id, HostedAccount.agency_id, HostedAccount.period_end)
        .where(HostedAccount.kind.in_(CLIENT_BILLED_KINDS), HostedAccount.plan_term.in_(RECURRING),
               HostedAccount.status.in_(RENEWING_STATUSES), HostedAccount.cancelled_at.is_(None),
               HostedAccount.period_end <= today)
        .order_by(HostedAccount.period_end, HostedAccount.id).limit(5000)).all()
    operations.enqueue_many(operations.submit_many("renew_account", [
        {"key": keys.renewal(account_id, period_end), "subject_type": "account", "subject_id": account_id,
         "agency_id": agency_id, "params": {"period_start": period_end.isoformat(), "discount_percent": 0,
                                            "priced_on": today.isoformat()}}
        for account_id, agency_id, period_end in due]))


def _retry_wanted():
    """A failed renewal is tried again while its account is live, still waits for that period, and
    is billed the same way: not cancelled (it expires unpaid), not renewed afresh since (A7), not
    detached from (A4) or moved away from the agency that was invoiced. A referred or detached account's
    renewals are its client's (no agency on the invoice): an agency renewal left unpaid when the account was
    detached is not tried on the client's card."""
    return sa.and_(
        Invoice.kind == "renewal", Invoice.status == "failed", HostedAccount.id == Invoice.account_id,
        HostedAccount.cancelled_at.is_(None), HostedAccount.status.in_(RENEWING_STATUSES),
        HostedAccount.period_end == Invoice.period_start,
        sa.or_(sa.and_(HostedAccount.kind == "resold", HostedAccount.agency_id == Invoice.agency_id),
               sa.and_(HostedAccount.kind.in_(CLIENT_BILLED_KINDS), Invoice.agency_id.is_(None))))


def submit_retries(now: datetime | None = None, *, agency_id: int | None = None, account_id: int | None = None,
                   params: dict | None = None) -> list[int]:
    """One retry operation per failed renewal due now, keyed by its attempt, so a second sweep
    (or a card saved meanwhile) finds the same operation."""
    now = now or utcnow()
    query = sa.select(Invoice.id, Invoice.agency_id, Invoice.attempts).where(
        _retry_wanted(), Invoice.next_attempt_at <= now)
    if agency_id is not None:
        query = query.where(Invoice.agency_id == agency_id)
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id, Invoice.agency_id.is_(None))
    invoices = db.session.execute(query).all()
    return operations.submit_many("retry_renewal", [
        {"key": keys.renewal_retry(i.id, i.attempts), "agency_id": i.agency_id, "subject_type": "invoice", "subject_id": i.id,
         "params": params}
        for i in invoices])


def retry_after_card_saved(agency_id: int) -> int:
    """B8: the agency saved a card, so its unpaid renewals are tried on it now (also those of
    accounts already disabled after the grace period); the decline e-mail promises as much."""
    now = utcnow()
    due = db.session.scalars(sa.select(Invoice.id).where(_retry_wanted(), Invoice.agency_id == agency_id)).all()
    if not due:
        return 0
    db.session.execute(sa.update(Invoice).where(Invoice.id.in_(due), Invoice.status == "failed")
                       .values(next_attempt_at=now))
    db.session.commit()
    operations.enqueue_many(submit_retries(now, agency_id=agency_id, params={"card_saved": True}))
    return len(due)


def retry_after_account_card_saved(account_id: int) -> int:
    """B8 for an account that pays its own way: its client saved a card on its Billing page, so the
    account's unpaid renewals are tried on it now (also when the account was disabled after the grace
    period: a paid renewal enables it again)."""
    now = utcnow()
    due = db.session.scalars(sa.select(Invoice.id).where(
        _retry_wanted(), Invoice.account_id == account_id, Invoice.agency_id.is_(None))).all()
    if not due:
        return 0
    db.session.execute(sa.update(Invoice).where(Invoice.id.in_(due), Invoice.status == "failed")
                       .values(next_attempt_at=now))
    db.session.commit()
    operations.enqueue_many(submit_retries(now, account_id=account_id, params={"card_saved": True}))
    return len(due)


def unpaid_account_renewal(account_id: int) -> Invoice | None:
    """The latest declined renewal of an account that pays its own way, still to be paid (its Billing page
    shows it)."""
    return db.session.scalar(sa.select(Invoice).where(
        _retry_wanted(), Invoice.account_id == account_id, Invoice.agency_id.is_(None))
        .order_by(Invoice.id.desc()).limit(1))


def unpaid_renewals(agency_id: int) -> int:
    """The agency's declined renewals still to be paid: saving a card tries them at once."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(
        _retry_wanted(), Invoice.agency_id == agency_id)) or 0


def expire_ended(today: date | None = None) -> int:
    """Cancelled accounts at the end of their paid period, and trials at the end of theirs, expire; each
    is told in the same transaction (trial_ended, or account_expired: cancelled, or cancelled unpaid), so
    an expiry is never without its notice and a second sweep expires and tells nothing more."""
    today = today or date.today()
    now = utcnow()
    expired = db.session.scalars(
        sa.update(HostedAccount)
        .where(HostedAccount.period_end <= today, HostedAccount.status.in_(("active", "cancelled", "disabled")),
               sa.or_(HostedAccount.cancelled_at.is_not(None), HostedAccount.plan_term == "trial"))
        .values(status="expired", expired_at=now).returning(HostedAccount.id)
        .execution_options(synchronize_session=False)).all()
    emails = [_tell_expired(account) for account in db.session.scalars(
        sa.select(HostedAccount).where(HostedAccount.id.in_(expired)).order_by(HostedAccount.id))]
    events.accounts(expired, "account.expired")
    db.session.commit()
    mail.enqueue_pending(*emails)
    return len(expired)


def _tell_expired(account: HostedAccount):
    db.session.refresh(account)
    if account.plan_term == "trial":
        kind, reason = "trial_ended", "trial"
    else:
        unpaid = db.session.scalar(sa.select(Invoice.id).where(
            Invoice.account_id == account.id, Invoice.kind == "renewal", Invoice.status == "failed",
            Invoice.period_start == account.period_end))
        kind, reason = "account_expired", "unpaid" if unpaid else "cancelled"
    return notices.to_account(account, kind, {
        "ended_on": account.period_end, "reason": reason,
        "renew_url": None if notices.is_clients(account) else hosts.dashboard_url(f"/accounts/{account.id}")},
        key=keys.notice(kind, account.id, account.period_end))


def disable_after_grace(now: datetime | None = None) -> int:
    """B8: an account whose renewal is still unpaid after the grace period is disabled."""
    now = now or utcnow()
    grace = timedelta(days=get_catalog().renewal_grace_days)
    overdue = db.session.scalars(sa.select(Invoice).where(
        _retry_wanted(), Invoice.first_declined_at <= now - grace)).all()
    count = 0
    for invoice in overdue:
        account = db.session.get(HostedAccount, invoice.account_id)
        if account is not None and account.status == "active":
            account.status, account.disabled_at, account.disabled_reason = "disabled", now, "unpaid"
            _notify(account, invoice, "disabled")
            events.account(account, "account.disabled")
            count += 1
    db.session.commit()
    return count


BATCH_SIZE = 50


def enqueue_batches(op_ids: list[int]) -> bool:
    """Hands renewals to workers BATCH_SIZE at a time; if that fails they stay queued and the
    sweeper sends them one by one later."""
    if not op_ids:
        return True
    from flask import current_app
    queue = current_app.extensions["job_queue"]
    chunks = [(op_ids[i:i + BATCH_SIZE],) for i in range(0, len(op_ids), BATCH_SIZE)]
    if not queue.enqueue_calls("renewal_batch", chunks):
        return False
    operations.mark_enqueued(op_ids)
    return True


def sweep_renewals() -> None:
    today = date.today()
    expire_ended(today)
    enqueue_batches(submit_due(today))
    operations.enqueue_many(submit_retries())
    disable_after_grace()


def advance_period(invoice: Invoice) -> None:
    """What a paid renewal delivers: the account moves to its new period (and is enabled again after a
    decline)."""
    account = db.session.get(HostedAccount, invoice.account_id)
    values = advanced_values(account, invoice)
    for name, value in values.items():
        setattr(account, name, value)
    if values.get("status") == "active":
        events.account(account, "account.enabled")
    if account.kind == "standalone" and invoice.agency_id is None and invoice.receipt_at is None:
        _client_receipt(account, invoice)


def _client_receipt(account: HostedAccount, invoice: Invoice) -> None:
    """A detached account's client gets the receipt of each renewal it paid, as a referred client does
    (commission._receipt): under the account's brand, in its language. Part of the paying transaction."""
    notices.to_client(account, account.client_email, "commission_receipt", {
        "invoice": invoice, "login_url": hosts.account_login_url(account)}, key=keys.receipt_email(invoice.id))
    invoice.receipt_at = utcnow()


def _send_pending_receipt(invoice: Invoice) -> None:
    """After the paying commit: the client's receipt (if one was written) goes to the queue now."""
    if invoice.agency_id is None and invoice.status == "paid":
        email = db.session.scalar(sa.select(OutboundEmail).where(
            OutboundEmail.dedupe_key == keys.receipt_email(invoice.id)))
        mail.enqueue_pending(email)


def advanced_values(account: HostedAccount, invoice: Invoice) -> dict:
    values = {}
    if account.period_end == invoice.period_start:
        values.update(period_start=invoice.period_start, period_end=invoice.period_end)
    # B8: only an account disabled because it was unpaid is enabled again by a paid renewal; one support
    # disabled for abuse (S6) or its agency disabled (issue 22) stays disabled until they enable it. No
    # reason is an account disabled before reasons were kept: only non-payment disabled accounts then.
    if account.status == "disabled" and account.disabled_reason in (None, "unpaid"):
        values.update(status="active", disabled_at=None, disabled_reason=None)
    return values


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
        events.account(account, "account.plan_changed")
        db.session.commit()
    start, end = next_period(account, period_start)
    # C1, A4: a referred or detached account is billed to its client's own card, never to an agency (no
    # agency discount); a detached one without a card is declined ("no_card") and dunned like any other.
    referred = account.billed_to_client
    key = _client_renewal_key(account, start) if referred else keys.renewal_invoice(account.id, start)
    invoice = billing.create_invoice(
        agency_id=None if referred else account.agency_id, kind="renewal", account=account, period=(start, end),
        discount_percent=0 if referred else discount_percent, key=key,
        lines=[renewal_line(account, start, end)])
    if referred and invoice.agency_id is not None:
        return None  # an agency's renewal of this period still being charged (detached meanwhile): not the client's
    faults.point("renewal.before_charge")
    try:
        billing.settle(invoice)
    except billing.PaymentDeclined as exc:
        _schedule_retry(invoice, outage=exc.decline_code == OUTAGE)
        return invoice
    metrics.renewal("charged")
    faults.point("renewal.after_commit")
    _send_pending_receipt(invoice)
    return invoice


def _client_renewal_key(account: HostedAccount, start: date) -> str:
    """The key of a client's own renewal of the period starting `start`. A detached account (A4) may have
    an unpaid renewal of that period made out to its former agency: that one is given up (void, its prepaid
    credit back to the agency, the period freed) and the client's invoice takes a key of its own, so that
    none of its charges reuses a key the agency's card was charged with."""
    key = keys.renewal_invoice(account.id, start)
    earlier = db.session.scalar(sa.select(Invoice).where(Invoice.idempotency_key == key))
    if earlier is None or earlier.agency_id is None:
        return key
    if earlier.status == "failed":
        release_agency_renewal(earlier)
    return f"{key}:client" if earlier.status == "void" else key


def release_agency_renewal(invoice: Invoice) -> None:
    """An agency's declined renewal of an account the agency no longer pays for (detached, A4): nothing is
    owed on it any more. Void, its prepaid credit returned to the agency, and its period freed for the
    client's own invoice."""
    if invoice.status != "failed" or invoice.agency_id is None:
        return
    billing.void_and_refund_prepaid(invoice)  # commits
    invoice.period_key, invoice.next_attempt_at = None, None
    db.session.commit()


def release_agency_renewals(account_id: int) -> int:
    """Every declined renewal of the account still made out to an agency (see release_agency_renewal)."""
    unpaid = db.session.scalars(sa.select(Invoice).where(
        Invoice.account_id == account_id, Invoice.kind == "renewal", Invoice.status == "failed",
        Invoice.agency_id.is_not(None))).all()
    for invoice in unpaid:
        release_agency_renewal(invoice)
    return len(unpaid)


def renewal_line(account: HostedAccount, start: date, end: date) -> billing.Line:
    """The one line of a renewal invoice: the account's plan for the period, at the catalog's price."""
    catalog = get_catalog()
    price = catalog.list_price_cents(account.plan_tier, account.plan_term, account.contact_limit)
    return billing.Line(f"{account.name}: {catalog.tier_by_key[account.plan_tier].label} {account.plan_term}, "
                        f"{account.contact_limit:,} contacts, {start} to {end}", price,
                        label=invoice_text.plan_label(account.name, account.plan_tier, account.plan_term,
                                                      account.contact_limit, start, end))


OUTAGE_RETRY = timedelta(hours=1)

# A decline told to a client who pays its own way (C1, A4), where the agency's words name its Billing profile.
CLIENT_DECLINE_REASONS = {
    "no_card": _l("There is no card on file: add one on your account's Billing page."),
    "authentication_required": _l("The bank asks the card holder to confirm payments with this card: save the "
                                  "card again on your account's Billing page to confirm it."),
}


def _schedule_retry(invoice: Invoice, *, card_saved: bool = False, outage: bool = False) -> None:
    """The next attempt: on the catalog's retry days after the first decline, then every
    late_retry_every_days until paid or cancelled. The agency is told of the first decline, of each
    scheduled retry's, and of a decline right after it saved a card; the later ones are quiet.
    When the card processor could not be reached, the same attempt is tried again within the hour
    (its key unchanged, so it is never charged twice) and nobody is told: nothing was declined."""
    metrics.renewal("unavailable" if outage else "declined")
    if outage:
        invoice.next_attempt_at = utcnow() + OUTAGE_RETRY
        db.session.commit()
        return
    catalog = get_catalog()
    days = catalog.renewal_retry_days
    account = db.session.get(HostedAccount, invoice.account_id)
    first = invoice.first_declined_at or utcnow()
    if invoice.attempts <= len(days):
        invoice.next_attempt_at = first + timedelta(days=days[invoice.attempts - 1])
    else:
        invoice.next_attempt_at = utcnow() + timedelta(days=catalog.renewal_late_retry_every_days)
    db.session.commit()
    if invoice.attempts <= len(days) + 1 or card_saved:
        _notify(account, invoice, "declined")


def _notify(account: HostedAccount, invoice: Invoice, what: str) -> None:
    """The account's notification e-mail is told. For a resold account that is the agency's, and the client
    never is; a referred (C1) or detached (A4) account is the client's own: its notification e-mail is the
    client's, it pays by its own card and is pointed to its own Billing page."""
    catalog = get_catalog()
    scheduled = invoice.attempts <= len(catalog.renewal_retry_days)
    clients = notices.is_clients(account)
    reason = billing.decline_reason(invoice)
    if clients and invoice.decline_code in CLIENT_DECLINE_REASONS:
        reason = CLIENT_DECLINE_REASONS[invoice.decline_code]  # the client's page is Billing, not Billing profile
    email = notices.to_account(account, f"renewal_{what}", {
        "invoice": invoice, "amount": invoice.total_cents - invoice.prepaid_applied_cents,
        "reason": reason,
        "retry_on": invoice.next_attempt_at.date() if scheduled and invoice.next_attempt_at else None,
        "every": catalog.renewal_late_retry_every_days, "grace_days": catalog.renewal_grace_days,
        "profile_url": None if clients else hosts.dashboard_url("/billing/profile"),
        # The client updates its own card on its account's Billing page (account_billing), and the renewal
        # is charged to it at once.
        "billing_url": hosts.account_url(account, "/app/billing") if clients else None,
    }, key=keys.renewal_notice(what, invoice.id, invoice.attempts))
    db.session.commit()
    mail.enqueue_pending(email)


def renew_account(ctx: operations.OperationContext):
    params = ctx.params
    # The discount worked out by the sweep holds for the day it was worked out on (B5).
    discount = params.get("discount_percent") if params.get("priced_on") == date.today().isoformat() else None
    invoice = renew(ctx.operation.subject_id, date.fromisoformat(params["period_start"]), discount)
    if invoice is None:
        return {"renewed": False}
    return {"invoice_id": invoice.id, "status": invoice.status}


def retry_renewal(ctx: operations.OperationContext):
    invoice = db.session.get(Invoice, ctx.operation.subject_id)
    if invoice is None or invoice.status == "paid":
        return {"status": "paid"}
    if invoice.status != "failed" or db.session.scalar(sa.select(Invoice.id).where(
            Invoice.id == invoice.id, _retry_wanted())) is None:
        return {"invoice_id": invoice.id, "status": invoice.status, "retried": False}  # cancelled or detached since
    try:
        billing.settle(invoice)
    except billing.PaymentDeclined as exc:
        _schedule_retry(invoice, card_saved=bool(ctx.params.get("card_saved")), outage=exc.decline_code == OUTAGE)
    else:
        metrics.renewal("charged")
        _send_pending_receipt(invoice)
    return {"invoice_id": invoice.id, "status": invoice.status}


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


# ---- many renewals at once ----------------------------------------------------------------------

def renew_batch(op_ids: list[int]) -> dict:
    """The sweeper's renewals, a batch at a time, with the same rules, prices, keys and rows as `renew`
    (billing's own builders) but a handful of statements for the whole batch: the invoices are written
    (and committed) first, then each card is charged with its invoice's key, then every outcome is written
    at once. A crash anywhere leaves open invoices whose charges the gateway answers again by key, so a
    rerun (of the batch, or of any of its operations alone) charges nothing twice. Accounts that need
    more care (prepaid credit to spend, a pending downgrade, no card, a referred account) take `renew`."""
    from ..models import BillingProfile, GatewayCall
    ops = operations.claim_many(op_ids)
    if not ops:
        return {"renewed": 0}
    today = date.today()
    accounts = {a.id: a for a in db.session.scalars(sa.select(HostedAccount).where(
        HostedAccount.id.in_([op.subject_id for op in ops])))}
    agencies = {a.agency_id for a in accounts.values()}
    with_prepaid = set(db.session.scalars(sa.select(CreditBalance.agency_id).distinct().where(
        CreditBalance.agency_id.in_(agencies), CreditBalance.kind == "prepaid",
        CreditBalance.balance > 0)))
    cards = {p.agency_id: p for p in db.session.scalars(sa.select(BillingProfile).where(
        BillingProfile.agency_id.in_(agencies)))}
    discounts: dict[int, int] = {}
    fast, careful, results = [], [], {}
    for op in ops:
        account = accounts.get(op.subject_id)
        start = date.fromisoformat(op.params["period_start"])
        if account is None or account.period_end is None or account.period_end > start \
                or account.cancelled_at is not None or account.plan_term not in RECURRING:
            results[op.id] = {"renewed": False}
        elif account.pending_plan_tier or account.agency_id in with_prepaid or account.agency_id not in cards \
                or account.kind != "resold":  # a referred account is billed to its client: `renew` knows how
            careful.append((op, account, start))
        else:
            if account.agency_id not in discounts:
                priced_today = op.params.get("priced_on") == today.isoformat()
                discounts[account.agency_id] = (op.params["discount_percent"] if priced_today
                                                else billing.discount_in_force(account.agency_id))
            fast.append((op, account, start))

    # 1. The invoices, committed before any money moves (existing ones are kept as they are). Prepaid
    # was looked at (none to spend): a later settle() of these never spends any on them.
    new = []
    for _op, account, start in fast:
        _, end = next_period(account, start)
        lines = [renewal_line(account, start, end)]
        new.append((billing.invoice_values(
            agency_id=account.agency_id, kind="renewal", account_id=account.id, period=(start, end),
            discount_percent=discounts[account.agency_id], key=keys.renewal_invoice(account.id, start),
            lines=lines), lines))
    invoices, made = billing.create_invoices(new)
    billing.record_no_prepaid(made)
    db.session.commit()
    faults.point("renewal.batch_before_charges")

    # 2. The charges, each with its invoice's key: the gateway answers a repeat with the first answer.
    gw = billing.gateway()
    paid, declined, calls = [], [], []
    for op, account, start in fast:
        invoice = invoices[keys.renewal_invoice(account.id, start)]
        if invoice.status == "paid":
            results[op.id] = {"invoice_id": invoice.id, "status": "paid"}
            continue
        if invoice.status != "open" or invoice.prepaid_applied_cents:
            careful.append((op, account, start))
            continue
        key = keys.charge(invoice.idempotency_key, invoice.attempts + 1)
        try:
            result = gw.charge(cards[account.agency_id].gateway_token, invoice.total_cents, invoice.currency,
                               idempotency_key=key, customer=cards[account.agency_id].gateway_customer_id)
        except GatewayError as exc:
            calls.append(billing.gateway_call(invoice.agency_id, invoice.id, "charge", invoice.total_cents, key,
                                              "unavailable" if exc.code == OUTAGE else "declined", None, exc.code))
            declined.append((op, account, invoice, exc))
            continue
        calls.append(billing.gateway_call(invoice.agency_id, invoice.id, "charge", invoice.total_cents, key,
                                          "succeeded", result.reference, None))
        paid.append((op, account, invoice, result.reference))
        faults.point("renewal.batch_after_one_charge")
    faults.point("renewal.batch_after_charges")

    # 3. Every outcome at once: invoices paid, periods moved, accounts enabled again, operations done.
    if calls:
        db.session.execute(sa.insert(GatewayCall), calls)
    now = utcnow()
    if paid:
        db.session.execute(sa.update(Invoice), [
            {"id": inv.id, **billing.paid_values(inv, card_cents=inv.total_cents, reference=reference),
             "paid_at": now}
            for _op, _account, inv, reference in paid])
        moved = [{"id": account.id, **advanced_values(account, inv)} for _op, account, inv, _ref in paid]
        if any(len(values) > 1 for values in moved):
            db.session.execute(sa.update(HostedAccount), [values for values in moved if len(values) > 1])
        for op, _account, inv, _ref in paid:
            results[op.id] = {"invoice_id": inv.id, "status": "paid"}
    operations.finish_many({op_id: result for op_id, result in results.items()})
    if paid:
        # B4: issued as they are paid, in this transaction, their numbers taken last (in the order of their
        # ids): the year's counter row stays locked only from here to the commit, so other workers' batches
        # wait for it as little as they can.
        issued = invoice_numbers.issued_values([inv for _op, _account, inv, _ref in paid], now)
        if issued:
            db.session.execute(sa.update(Invoice), [{"id": invoice_id, **values} for invoice_id, values in issued.items()])
        # The webhooks' invoice.paid (and account.enabled), in this paying transaction as on the one-by-one way.
        events.invoices_paid([inv for _op, _account, inv, _ref in paid])
        for (_op, account, _inv, _ref), values in zip(paid, moved):
            if values.get("status") == "active":
                events.account(account, "account.enabled")
    db.session.commit()
    metrics.renewal("charged", len(paid))

    # Declines and the accounts that need more care go the one-by-one way (same keys, same rules).
    for op, account, invoice, exc in declined:
        db.session.refresh(invoice)
        for name, value in billing.declined_values(invoice, exc.message, exc.code).items():
            setattr(invoice, name, value)
        if exc.code != OUTAGE:
            events.invoice_payment_failed(invoice)
        db.session.commit()
        _schedule_retry(invoice, outage=exc.code == OUTAGE)
        operations.finish_many({op.id: {"invoice_id": invoice.id, "status": "failed"}})
        db.session.commit()
    for op, account, start in careful:
        invoice = renew(account.id, start)
        operations.finish_many({op.id: {"invoice_id": invoice.id if invoice else None,
                                        "status": invoice.status if invoice else "not due"}})
        db.session.commit()
    return {"renewed": len(paid), "declined": len(declined), "one_by_one": len(careful)}
