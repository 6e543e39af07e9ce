"""Commission (C1-C3): referred accounts billed to their own client, a commission on each of
their payments, and a monthly payout of the balance to the agency's PayPal e-mail.

Each thing that must happen once has a unique key in the database: one commission entry (and at
most one reversal) per invoice, one payout per (agency, month), and the payout service is called
with `payout:<agency>:<month>` so a retry after a crash gets the first answer, never a second payout
(a next batch, `payout:<agency>:<month>:2`, only once the first ended failed: its money never left or
came back)."""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from .. import faults
from ..adapters.payments import GatewayError
from ..adapters.payouts import FAILED_BATCH_STATUSES, FAILED_ITEM_STATUSES, UNCLAIMED, PayoutError, PayoutResult
from ..catalog import get_catalog
from ..extensions import db
from ..models import (Agency, BillingProfile, CommissionEntry, HostedAccount, Invoice, Operation, Payout,
                      utcnow)
from . import accounts, audit, billing, events, hosts, keys, mail, notices, operations, permissions, provisioning
from .dates import add_months
from .errors import NotFound, ValidationFailed
from .operations import RetryLater
from .validation import email_problem

SIGNUP_TERMS = ("monthly", "annual")  # a referred client pays from the start: no trials through the link


log = logging.getLogger("agencyhq.commission")

# A payout's next try waits as long as an operation's retry (services/operations.RetryLater).
PAYOUT_RETRY_DELAY = timedelta(seconds=30)
# How often the sweeper asks about a batch the payout service is still processing (check_payouts).
PAYOUT_CHECK_EVERY = timedelta(seconds=60)
# A batch that ended so, the payout's money is not with the agency: a new batch may go (an unclaimed
# item is cancelled first, so its money comes back before the new batch is sent).
ENDED_FAILED = FAILED_ITEM_STATUSES | FAILED_BATCH_STATUSES | {UNCLAIMED}


def payouts():
    """The payout adapter: the sandbox (the default, offline) or PayPal Payouts (PAYOUTS=paypal). The code
    below gets the same answers from both and never asks which one it has."""
    adapter = current_app.extensions.get("payout_service")
    if adapter is None:
        from ..adapters import payouts as adapters
        config = current_app.config
        choice = config.get("PAYOUTS") or "sandbox"
        if choice == "paypal":
            adapter = adapters.PayPalPayouts(config.get("PAYPAL_CLIENT_ID"), config.get("PAYPAL_CLIENT_SECRET"),
                                             config.get("PAYPAL_API_BASE") or "https://api-m.paypal.com",
                                             timeout=float(config.get("GATEWAY_TIMEOUT") or 20))
        elif choice == "sandbox":
            adapter = adapters.SandboxPayouts(db.engine)
        else:  # never fall back to the sandbox: it would tell agencies they were paid
            raise RuntimeError(f"PAYOUTS={choice!r} is not a payout service: set it to sandbox or paypal.")
        current_app.extensions["payout_service"] = adapter
    return adapter


def month_of(moment) -> str:
    return f"{moment:%Y-%m}"


def previous_month(today: date) -> str:
    return month_of(add_months(today.replace(day=1), -1, 1))


# ---- C1: the referral link and the sign-up through it ---------------------------------------------

def referral_url(agency: Agency) -> str:
    return hosts.dashboard_url(f"/r/{agency.referral_code}")


def agency_by_code(code: str) -> Agency:
    code = (code or "").strip()
    agency = db.session.scalar(sa.select(Agency).where(Agency.referral_code == code)) if 0 < len(code) <= 32 else None
    if agency is None:
        raise NotFound(str(_l("This referral link is not valid. Check the link you were given.")))
    return agency


@dataclass
class Referral:
    name: str
    client_name: str
    client_email: str
    tier: str
    term: str
    contact_limit: int
    number: str = ""
    exp_month: object = None
    exp_year: object = None
    cvc: str = ""
    # Under a processor that collects the card itself (Stripe.js): the setup it confirmed, and our state.
    setup_ref: str = ""
    state: str = ""


def _validate(data: Referral) -> dict:
    fields = {}
    problem = accounts.name_problem(data.name)
    if problem:
        fields["name"] = problem
    if not (data.client_name or "").strip():
        fields["client_name"] = str(_l("Enter your name or your company's."))
    problem = email_problem(data.client_email)
    if problem:
        fields["client_email"] = problem
    catalog = get_catalog()
    if data.tier not in catalog.tier_by_key:
        fields["tier"] = str(_l("Choose a plan tier."))
    if data.term not in SIGNUP_TERMS:
        fields["term"] = str(_l("Choose monthly or annual."))
    if "tier" not in fields and "term" not in fields:
        try:
            catalog.list_price_cents(data.tier, data.term, int(data.contact_limit))
        except (KeyError, ValueError, TypeError):
            fields["contact_limit"] = str(_l("This contact limit is not offered."))
    if not billing.gateway().collects_card:
        try:
            billing.validate_card(data.number, data.exp_month, data.exp_year, data.cvc)
        except ValidationFailed as exc:
            fields.update(exc.fields)
    return fields


def sign_up(code: str, data: Referral, *, request_key: str) -> tuple[HostedAccount, Operation]:
    """C1: a client signs up through an agency's link. The client's own card pays the first period;
    the account is the agency's, of kind "commission", and never billed to the agency. A declined
    card creates nothing. The same request_key twice (a double click) gives the same account."""
    agency = agency_by_code(code)
    key = keys.referral_invoice(agency.id, request_key)
    earlier = db.session.scalar(sa.select(Invoice).where(Invoice.idempotency_key == key))
    if earlier is not None and earlier.account_id:
        account = db.session.get(HostedAccount, earlier.account_id)
        return account, provisioning.submit(account)
    if earlier is not None and earlier.status == "void":
        key = keys.another_try(key)  # an earlier try was declined: this one is a new payment
    data.name, data.client_email = (data.name or "").strip(), (data.client_email or "").strip()
    fields = _validate(data)
    if fields:
        raise ValidationFailed(str(_l("Your account was not created; see the fields marked.")), fields)
    if billing.gateway().collects_card:
        # Stripe: the card the client entered in Stripe's form on this agency's referral page, once.
        token = billing.finish_card_setup(agency.id, "referral", setup_ref=data.setup_ref, state=data.state)
    else:
        digits, month, year, cvc = billing.validate_card(data.number, data.exp_month, data.exp_year, data.cvc)
        try:
            token = billing.gateway().tokenize(digits, month, year, cvc, idempotency_key=keys.card_token(key))
        except GatewayError as exc:
            raise ValidationFailed(exc.message, {"number": exc.message}) from None
    card = BillingProfile(gateway=billing.gateway().name, gateway_token=token.token, brand=token.brand,
                          last4=token.last4, exp_month=token.exp_month, exp_year=token.exp_year,
                          gateway_customer_id=token.customer)
    catalog = get_catalog()
    today = date.today()
    start, end = today, add_months(today, catalog.term_months(data.term), today.day)
    try:
        invoice = billing.charge_now(
            agency_id=None, kind="signup", key=key, period=(start, end), card=card, discount_percent=0,
            lines=[billing.plan_line(data.name, data.tier, data.term, int(data.contact_limit), start, end)])
    except billing.PaymentDeclined as exc:
        raise ValidationFailed(str(_l("Your card was declined: %(reason)s Nothing was charged and no account "
                                      "was created.", reason=exc.message)), {"number": exc.message}) from None
    account = HostedAccount(
        agency_id=agency.id, kind="commission", name=data.name, status="provisioning", plan_tier=data.tier,
        plan_term=data.term, contact_limit=int(data.contact_limit), client_name=data.client_name.strip(),
        client_email=data.client_email, notification_email=data.client_email,  # the client gets its own notices
        period_start=start, period_end=end, anchor_day=start.day)
    try:
        with billing.refunded_on_failure(invoice, "the account could not be created"):
            db.session.add(account)
            db.session.flush()
            card.account_id = account.id
            db.session.add(card)
            invoice = db.session.get(Invoice, invoice.id)
            invoice.account_id = account.id
            db.session.flush()
            record_payment(invoice)
            op = provisioning.submit(account)
            op.params = {"request_key": request_key, "referral": True}
            _receipt(account, invoice)
            audit.record(audit.Actor.system(), "commission_account_signed_up", agency_id=agency.id,
                         account_id=account.id, name=account.name,
                         plan=f"{data.tier}/{data.term}/{data.contact_limit}")
            db.session.commit()
    except IntegrityError:
        raise ValidationFailed(str(_l("Your account was not created; see the fields marked.")),
                               {"name": str(_l("“%(name)s” was taken a moment ago; choose another name.",
                                               name=data.name))}) from None
    operations.enqueue(op)
    return account, op


def _receipt(account: HostedAccount, invoice: Invoice) -> None:
    """The client's own billing e-mail: the platform bills it directly (C1), under the account's brand and
    in its language. The invoice is marked receipted (the agencies' receipt sweep leaves it alone)."""
    notices.to_client(account, account.client_email, "commission_receipt", {
        "invoice": invoice, "login_url": hosts.account_login_url(account)}, key=keys.receipt_email(invoice.id))
    invoice.receipt_at = utcnow()


def new_request_key() -> str:
    return keys.fresh()


# ---- C1: the welcome page, which shows the new account's one-time password -------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_welcome_token(op: Operation) -> str:
    """A fresh random token for the sign-up's welcome page (256 bits; only its hash is kept). The page
    is reached by this token, never by the operation's sequential id nor by a cookie the server signed
    alone. A repeated sign-up request (a double click) gets a new token: the browser follows the last
    answer, so the earlier link stops working."""
    token = secrets.token_urlsafe(32)
    op.params = {**(op.params or {}), "welcome_token_sha256": _token_hash(token)}
    db.session.commit()
    return token


def welcome_operation(agency: Agency, token: str) -> Operation:
    """The provisioning operation of the sign-up this welcome token was issued for, or NotFound."""
    if not token or len(token) > 64:
        raise NotFound()
    op = db.session.scalar(sa.select(Operation).where(
        Operation.agency_id == agency.id, Operation.kind == "provision_account",
        Operation.params["welcome_token_sha256"].as_string() == _token_hash(token)))
    if op is None:
        raise NotFound()
    return op


# ---- C2: the commission ledger ----------------------------------------------------------------------

def commission_on(amount_cents: int) -> int:
    """The catalog's rate on an amount, rounded half up to the cent."""
    return (amount_cents * get_catalog().commission_rate_bp + 5000) // 10000


def _commission_account(invoice: Invoice) -> HostedAccount | None:
    if not invoice.account_id:
        return None
    account = db.session.get(HostedAccount, invoice.account_id)
    return account if account is not None and account.kind == "commission" and account.agency_id else None


def record_payment(invoice: Invoice) -> CommissionEntry | None:
    """The commission on one paid invoice of a referred account, once (unique per invoice).
    Part of the caller's transaction."""
    account = _commission_account(invoice)
    if account is None or invoice.status != "paid" or invoice.total_cents <= 0:
        return None
    existing = db.session.scalar(sa.select(CommissionEntry).where(CommissionEntry.invoice_id == invoice.id,
                                                                  CommissionEntry.is_reversal.is_(False)))
    if existing is not None:
        return existing
    entry = CommissionEntry(agency_id=account.agency_id, account_id=account.id, invoice_id=invoice.id,
                            is_reversal=False, month=month_of(invoice.paid_at or utcnow()),
                            amount_cents=commission_on(invoice.total_cents))
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        return None
    if invoice.kind != "signup":  # the sign-up's receipt is sent with the account (sign_up)
        _receipt(account, invoice)
    return entry


def reverse_payment(invoice: Invoice) -> CommissionEntry | None:
    """A refund takes the commission back with a negative entry in the month of the refund, once."""
    original = db.session.scalar(sa.select(CommissionEntry).where(CommissionEntry.invoice_id == invoice.id,
                                                                  CommissionEntry.is_reversal.is_(False)))
    if original is None:
        return None
    if db.session.scalar(sa.select(CommissionEntry.id).where(CommissionEntry.invoice_id == invoice.id,
                                                             CommissionEntry.is_reversal.is_(True))):
        return None
    entry = CommissionEntry(agency_id=original.agency_id, account_id=original.account_id, invoice_id=invoice.id,
                            is_reversal=True, month=month_of(utcnow()), amount_cents=-original.amount_cents)
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        return None
    return entry


def referred_accounts(agency_id: int) -> list[dict]:
    """The agency's commission accounts with what each paid and earned."""
    paid = (sa.select(Invoice.account_id, sa.func.sum(Invoice.card_charged_cents).label("paid"))
            .where(Invoice.status == "paid", Invoice.agency_id.is_(None)).group_by(Invoice.account_id).subquery())
    earned = (sa.select(CommissionEntry.account_id, sa.func.sum(CommissionEntry.amount_cents).label("earned"))
              .where(CommissionEntry.agency_id == agency_id).group_by(CommissionEntry.account_id).subquery())
    rows = db.session.execute(
        sa.select(HostedAccount, sa.func.coalesce(paid.c.paid, 0), sa.func.coalesce(earned.c.earned, 0))
        .outerjoin(paid, paid.c.account_id == HostedAccount.id)
        .outerjoin(earned, earned.c.account_id == HostedAccount.id)
        .where(HostedAccount.agency_id == agency_id, HostedAccount.kind == "commission")
        .order_by(HostedAccount.created_at.desc(), HostedAccount.id.desc())).all()
    return [{"account": a, "paid_cents": int(p), "commission_cents": int(e)} for a, p, e in rows]


def ledger(agency_id: int) -> list[dict]:
    """C2: the commission by month, newest first, with each month's entries."""
    entries = db.session.scalars(sa.select(CommissionEntry).where(CommissionEntry.agency_id == agency_id)
                                 .order_by(CommissionEntry.month.desc(), CommissionEntry.id.desc())).all()
    names = dict(db.session.execute(sa.select(HostedAccount.id, HostedAccount.name).where(
        HostedAccount.id.in_({e.account_id for e in entries}))).all()) if entries else {}
    months: dict[str, dict] = {}
    for e in entries:
        month = months.setdefault(e.month, {"month": e.month, "total_cents": 0, "entries": []})
        month["total_cents"] += e.amount_cents
        month["entries"].append({"entry": e, "account_name": names.get(e.account_id, "")})
    return list(months.values())


def balance_through(agency_id: int, month: str) -> int:
    """What is owed for commission up to the end of `month`: every entry until then, less every
    payout for an earlier month (so a balance below the minimum rolls over)."""
    earned = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(CommissionEntry.amount_cents), 0)).where(
        CommissionEntry.agency_id == agency_id, CommissionEntry.month <= month))
    paid_out = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Payout.amount_cents), 0)).where(
        Payout.agency_id == agency_id, Payout.month < month))
    return int(earned) - int(paid_out)


def unpaid_balance(agency_id: int) -> int:
    return balance_through(agency_id, "9999-12")


# ---- C3: settings and the monthly payout --------------------------------------------------------------

def set_paypal_email(agency_id: int, email: str, *, actor: audit.Actor) -> Agency:
    permissions.require(actor, "billing")
    email = (email or "").strip()
    problem = email_problem(email)
    if problem:
        raise ValidationFailed(str(_l("The PayPal e-mail was not saved.")), {"paypal_email": problem})
    agency = db.session.get(Agency, agency_id)
    agency.paypal_email = email
    audit.record(actor, "commission_paypal_email_set", agency_id=agency_id)
    db.session.commit()
    return agency


def payout_history(agency_id: int) -> list[Payout]:
    return db.session.scalars(sa.select(Payout).where(Payout.agency_id == agency_id)
                              .order_by(Payout.month.desc())).all()


def payout_operation(agency_id: int, month: str) -> Operation | None:
    return db.session.scalar(sa.select(Operation).where(Operation.idempotency_key == keys.payout(agency_id, month)))


def status_for(agency: Agency, today: date | None = None) -> dict:
    """What the tab says about the next payout: its month, the balance, and why it may wait."""
    month = previous_month(today or date.today())
    due = balance_through(agency.id, month)
    minimum = get_catalog().commission_payout_minimum_cents
    payout = db.session.scalar(sa.select(Payout).where(Payout.agency_id == agency.id, Payout.month == month))
    reason = None
    if payout is None:
        if not agency.paypal_email:
            reason = "no_paypal_email"
        elif due < minimum:
            reason = "below_minimum"
    return {"month": month, "due_cents": due, "minimum_cents": minimum, "payout": payout, "reason": reason,
            "unpaid_cents": unpaid_balance(agency.id)}


def submit_payouts(today: date | None = None) -> list[int]:
    """One payout operation per agency for the previous month, for the agencies that earned
    commission and set a PayPal e-mail (the others wait, and their tab says why)."""
    month = previous_month(today or date.today())
    agency_ids = db.session.scalars(sa.select(CommissionEntry.agency_id).distinct().join(
        Agency, Agency.id == CommissionEntry.agency_id).where(
        CommissionEntry.month <= month, Agency.paypal_email.is_not(None), Agency.paypal_email != "")).all()
    return operations.submit_many("commission_payout", [
        {"key": keys.payout(agency_id, month), "agency_id": agency_id, "subject_type": "agency",
         "subject_id": agency_id, "params": {"month": month}} for agency_id in agency_ids])


def sweep_payouts() -> None:
    operations.enqueue_many(submit_payouts())


def batch_key(agency_id: int, month: str, attempt: int = 1) -> str:
    """The payout service's key for a payout's batch (PayPal's sender_batch_id and PayPal-Request-Id): the
    month's key, with the attempt from the second batch on (each sent only after the one before it ended
    failed). The next batch's operation has the same key."""
    key = keys.payout(agency_id, month)
    return key if attempt <= 1 else f"{key}:{attempt}"


def pay_month(agency_id: int, month: str, *, last_try: bool = False) -> Payout | None:
    """Pays the agency's balance up to the end of `month` once. Safe to run again at any point: the payout
    row is unique per (agency, month); each batch's key is committed before it is sent, so a rerun after a
    crash sends the same key and the service answers with the first batch; a new batch starts only after
    the previous one ended failed. A batch the service is still processing stays pending (check_payouts
    asks about it). Raises RetryLater when the service fails or refuses (the row shows why); `last_try`: the
    operation will not retry, and the row says so."""
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        return None
    payout = db.session.scalar(sa.select(Payout).where(Payout.agency_id == agency_id, Payout.month == month))
    if payout is not None and payout.status == "paid":
        return payout
    if payout is None:
        due = balance_through(agency_id, month)
        if due < get_catalog().commission_payout_minimum_cents or not agency.paypal_email:
            return None  # rolls over to a later month
        payout = Payout(agency_id=agency_id, month=month, amount_cents=due, paypal_email=agency.paypal_email,
                        status="pending")
        try:
            with db.session.begin_nested():
                db.session.add(payout)
        except IntegrityError:
            payout = db.session.scalar(sa.select(Payout).where(Payout.agency_id == agency_id, Payout.month == month))
        db.session.commit()  # the row exists before any money moves
        if payout.status == "paid":
            return payout
    if payout.batch_id and payout.status == "pending":
        return _record(agency, payout, _ask(month, lambda: payouts().status(payout.batch_id)))
    if payout.status == "failed" and payout.item_status in ENDED_FAILED:
        if payout.attempt >= _max_batches():
            return payout  # no tries left: the tab says so
        payout = _next_batch(agency, payout)
        if payout.status == "paid" or payout.batch_id:
            return payout
    try:
        result = payouts().send(payout.paypal_email, payout.amount_cents, agency.currency,
                                idempotency_key=batch_key(agency_id, month, payout.attempt))
    except PayoutError as exc:
        newly_failed = payout.status != "failed"
        payout.status, payout.error = "failed", exc.message[:300]
        payout.next_attempt_at = None if last_try else utcnow() + PAYOUT_RETRY_DELAY
        if newly_failed:  # told once, not at each retry of the same failure
            events.payout(payout, "payout.failed")
        db.session.commit()
        raise RetryLater(f"Payout for {month} failed: {exc.detail}", PAYOUT_RETRY_DELAY) from None
    faults.point("payout.after_adapter")  # sent, nothing committed here yet
    return _record(agency, payout, result)


def _ask(month: str, call):
    """A question to the payout service about a batch already sent: an outage changes nothing here."""
    try:
        return call()
    except PayoutError as exc:
        raise RetryLater(f"Payout for {month}: {exc.detail}", PAYOUT_RETRY_DELAY) from None


def _max_batches() -> int:
    """A payout is tried with as many batches as an operation has attempts."""
    return current_app.config["OPERATION_MAX_ATTEMPTS"]


def _update(payout: Payout, *where):
    return (sa.update(Payout).where(Payout.id == payout.id, *where)
            .execution_options(synchronize_session=False))


def _next_batch(agency: Agency, payout: Payout) -> Payout:
    """After a batch that ended failed: its unclaimed item is cancelled (if the receiver claimed it first,
    the payout is paid), then the next attempt's key is committed, to the agency's PayPal e-mail of now."""
    if payout.item_status == UNCLAIMED and payout.item_id:
        after = _ask(payout.month, lambda: payouts().cancel(payout.item_id))
        if after.status == "success":
            return _record(agency, payout, after)
        if after.status in ("unclaimed", "pending"):
            raise RetryLater(f"Payout for {payout.month}: the unclaimed item {payout.item_id} is not cancelled yet.",
                             PAYOUT_RETRY_DELAY)
    db.session.execute(_update(payout, Payout.attempt == payout.attempt, Payout.status == "failed").values(
        attempt=Payout.attempt + 1, status="pending", batch_id=None, item_id=None, item_status=None,
        checked_at=None, next_attempt_at=None, paypal_email=agency.paypal_email or payout.paypal_email))
    db.session.commit()  # the new batch's key, before it is sent (a rerun sends the same one)
    db.session.refresh(payout)
    return payout


def _record(agency: Agency, payout: Payout, result: PayoutResult) -> Payout:
    """Writes what the service said about the payout's current batch. A worker and the sweeper's check may
    both ask: each write is conditional on the row still being at this attempt and unpaid, and only the one
    that marks it paid tells the agency (once) and records it."""
    now = utcnow()
    current = (Payout.attempt == payout.attempt, Payout.status != "paid")
    item_status = result.item_status or (result.status.upper() if result.status in ("failed", "unclaimed") else None)
    seen = {"batch_id": result.reference or payout.batch_id, "item_id": result.item_reference or payout.item_id,
            "item_status": item_status, "checked_at": now}
    email = None
    if result.status == "success":
        won = db.session.execute(_update(payout, *current).values(
            status="paid", reference=result.reference, error=None, paid_at=now, next_attempt_at=None,
            **seen)).rowcount == 1
        db.session.refresh(payout)
        if won:
            email = _tell_agency(agency, payout)
            audit.record(audit.Actor.system(), "commission_paid_out", agency_id=agency.id, month=payout.month,
                         amount_cents=payout.amount_cents, reference=result.reference)
            events.payout(payout, "payout.paid")
    elif result.status == "pending":
        db.session.execute(_update(payout, *current).values(status="pending", error=None, **seen))
    else:  # failed or unclaimed: the money is not with the agency
        reason = result.reason or item_status
        won = db.session.execute(_update(payout, *current).values(
            status="failed", error=reason[:300], **seen)).rowcount == 1
        if won:
            retry_at = _plan_retry(payout)
            db.session.execute(_update(payout).values(next_attempt_at=retry_at))
            db.session.refresh(payout)
            email = _tell_agency(agency, payout, "payout_failed", reason=reason, retry_at=retry_at)
            events.payout(payout, "payout.failed")
            log.warning("payout %s (%s) batch %s ended %s: %s", payout.id, payout.month, seen["batch_id"],
                        result.item_status or result.status, reason)
    db.session.commit()
    db.session.refresh(payout)
    mail.enqueue_pending(*(email or ()))
    return payout


def _plan_retry(payout: Payout) -> datetime | None:
    """The next batch's operation, on the retry schedule, while batches are left (part of the caller's
    transaction; the sweeper hands it to a worker when it is due). Returns when it runs, or None."""
    if payout.attempt >= _max_batches():
        return None
    attempt = payout.attempt + 1
    op = operations.submit("commission_payout", key=batch_key(payout.agency_id, payout.month, attempt),
                           agency_id=payout.agency_id, subject=("agency", payout.agency_id),
                           params={"month": payout.month, "attempt": attempt},
                           run_after=utcnow() + PAYOUT_RETRY_DELAY)
    return op.run_after


def check_payouts(now: datetime | None = None, limit: int = 50) -> int:
    """The sweeper asks about the batches the payout service is still processing, each at most every
    PAYOUT_CHECK_EVERY: a paid one is marked paid (the agency told); a failed or unclaimed one shows why
    and gets its next batch on the retry schedule. An outage ends the pass (the next one asks again).
    Returns how many it asked about."""
    now = now or utcnow()
    due = db.session.scalars(sa.select(Payout).where(
        Payout.status == "pending", Payout.batch_id.is_not(None),
        sa.or_(Payout.checked_at.is_(None), Payout.checked_at <= now - PAYOUT_CHECK_EVERY))
        .order_by(Payout.id).limit(limit)).all()
    asked = 0
    for payout in due:
        try:
            result = payouts().status(payout.batch_id)
        except PayoutError as exc:
            log.warning("payout %s: could not ask about batch %s: %s", payout.id, payout.batch_id, exc.detail)
            db.session.rollback()
            break
        asked += 1
        _record(db.session.get(Agency, payout.agency_id), payout, result)
    return asked


def _tell_agency(agency: Agency, payout: Payout, kind: str = "commission_payout", **context) -> list:
    """The agency's notice e-mail (or its owners) hears of a payout paid, or of a batch that failed (C3)."""
    key = keys.payout_email(payout.id) if kind == "commission_payout" else keys.notice(kind, payout.id, payout.attempt)
    return notices.to_agency(agency.id, kind, {"payout": payout, "currency": agency.currency,
                                               "commission_url": hosts.dashboard_url("/commission"), **context},
                             key=key)


def commission_payout(ctx: operations.OperationContext):
    last_try = ctx.operation.attempts >= current_app.config["OPERATION_MAX_ATTEMPTS"]
    payout = pay_month(ctx.operation.subject_id, ctx.params["month"], last_try=last_try)
    if payout is None:
        return {"paid": False}
    result = {"paid": payout.status == "paid", "payout_id": payout.id, "amount_cents": payout.amount_cents}
    if payout.status != "paid":  # the service is processing it, or it failed and its next try is planned
        result.update(status=payout.status, batch_id=payout.batch_id, attempt=payout.attempt)
    return result
