"""Money (B1-B8): the card on file, invoices, prepaid credit spent first, packs of credits.

Every charge follows the same steps, each safe to repeat after a crash:
1. the invoice is committed first, unique per (account, period) for renewals, with an idempotency key;
2. prepaid credit is applied once per attempt (a ledger entry keyed by the invoice and the attempt,
   a conditional UPDATE that never takes a balance below zero), so a retry spends credit bought since;
3. the card is charged for the rest with a key made of the invoice's key and its attempt number,
   so the gateway answers a repeated call with the first charge instead of charging again;
4. the outcome is committed with what it pays for (credits added, the period advanced).
Money is integer cents throughout."""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Mapping

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .. import faults
from ..adapters.payments import OUTAGE, GatewayError
from ..catalog import get_catalog
from ..extensions import db
from ..models import (BillingProfile, CardSetup, CreditBalance, CreditEntry, GatewayCall, HostedAccount, Invoice,
                      InvoiceLine, utcnow)
from ..models.accounts import PAID_COUNTED, AccountCount
from ..models.billing import CARD_SETUP_PURPOSES
from . import audit, events, invoice_numbers, invoice_text, keys, permissions, quotes
from .errors import Conflict, NotFound, ServiceError, ValidationFailed

log = logging.getLogger("agencyhq.billing")

PLAN_KINDS = ("signup", "renewal", "upgrade", "reactivation")


@dataclass(frozen=True)
class Hooks:
    """What happens around a payment, wired by webapp/jobs/registry.py."""

    # Invoice kind -> what that kind delivers once it is paid, in the paying transaction.
    on_paid: Mapping[str, Callable]
    # Called for every invoice paid (in the paying transaction) and every refund (before its commit):
    # the commission ledger (C2) listens here, whatever the kind of invoice.
    after_paid: tuple = ()
    after_refund: tuple = ()
    # Called with an agency's invoice whose charge was declined (before the decline commits; not for an outage
    # of the processor, which is tried again), and with one just refunded in full (before its commit).
    after_declined: tuple = ()
    after_refunded: tuple = ()
    # Called with the agency's id after its card is saved: unpaid renewals are tried on it (B8).
    on_card_saved: tuple = ()


def _hooks() -> Hooks:
    return current_app.extensions["billing_hooks"]


class PaymentDeclined(ServiceError):
    status = 402
    code = "payment_declined"

    def __init__(self, message: str, decline_code: str, invoice: Invoice | None = None):
        super().__init__(message)
        self.decline_code = decline_code
        self.invoice = invoice


def gateway():
    """The payment gateway adapter configured by PAYMENT_GATEWAY: the embedded sandbox (the default,
    offline) or Stripe. Nothing else in AgencyHQ knows which it is."""
    gw = current_app.extensions.get("payment_gateway")
    if gw is None:
        config = current_app.config
        kind = config.get("PAYMENT_GATEWAY", "sandbox")
        if kind == "stripe":
            from ..adapters.stripe_gateway import StripeGateway
            gw = StripeGateway(secret_key=config.get("STRIPE_SECRET_KEY"),
                               publishable_key=config.get("STRIPE_PUBLISHABLE_KEY"),
                               api_base=config.get("STRIPE_API_BASE", "https://api.stripe.com"),
                               js_url=config.get("STRIPE_JS_URL", "https://js.stripe.com/v3/"),
                               webhook_secret=config.get("STRIPE_WEBHOOK_SECRET"),
                               timeout=config.get("GATEWAY_TIMEOUT", 20))
        elif kind == "sandbox":
            from ..adapters.payments import SandboxGateway
            gw = SandboxGateway(db.engine)
        else:
            raise RuntimeError(f"PAYMENT_GATEWAY={kind!r}: choose sandbox or stripe")
        current_app.extensions["payment_gateway"] = gw
    return gw


# ---- B1: the card on file ------------------------------------------------------------------------

def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def validate_card(number: str, exp_month, exp_year, cvc: str, today: date | None = None) -> tuple[str, int, int, str]:
    """Checks what can be checked before asking the gateway; errors are per field."""
    today = today or date.today()
    fields = {}
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits.isdigit() or not 12 <= len(digits) <= 19:
        fields["number"] = str(_l("Enter the card number: 12 to 19 digits."))
    elif not luhn_ok(digits):
        fields["number"] = str(_l("This card number is not valid; check it for a typo."))
    try:
        month, year = int(exp_month), int(exp_year)
        if year < 100:
            year += 2000
        if not 1 <= month <= 12:
            raise ValueError
        if (year, month) < (today.year, today.month) or year > today.year + 20:
            fields["exp_month"] = str(_l("The card has expired or the date is wrong."))
    except (TypeError, ValueError):
        fields["exp_month"] = str(_l("Enter the expiry month (1-12) and year."))
        month, year = 0, 0
    amex = digits[:2] in ("34", "37")
    if not (cvc or "").isdigit() or len(cvc) != (4 if amex else 3):
        fields["cvc"] = str(_l("Enter the %(n)s-digit security code.", n=4 if amex else 3))
    if fields:
        raise ValidationFailed(str(_l("The card was not saved.")), fields)
    return digits, month, year, cvc


def save_card(agency_id: int, *, number: str, exp_month, exp_year, cvc: str, actor: audit.Actor) -> BillingProfile:
    """Adds or replaces the agency's card from AgencyHQ's own card form (the sandbox, whose number
    goes to the gateway only). Only the token, brand, last 4 and expiry are kept."""
    permissions.require(actor, "billing")
    key = keys.card_token(f"{agency_id}:{keys.fresh()}")
    return _keep_card(agency_id, tokenize_typed_card(number, exp_month, exp_year, cvc, key=key, agency_id=agency_id),
                      key, actor)


def tokenize_typed_card(number: str, exp_month, exp_year, cvc: str, *, key: str, agency_id: int | None = None):
    """A card typed in AgencyHQ's own form (the sandbox) turned into the gateway's token; its number goes to the
    gateway only. ValidationFailed by the field when it is wrong or refused (the refusal logged)."""
    gw = gateway()
    if gw.collects_card:
        raise ValidationFailed(str(_l("Enter the card in the card processor's form.")),
                               {"number": str(_l("Enter the card in the card processor's form."))})
    digits, month, year, cvc = validate_card(number, exp_month, exp_year, cvc)
    try:
        return gw.tokenize(digits, month, year, cvc, idempotency_key=key)
    except GatewayError as exc:
        _log_call(agency_id, None, "tokenize", None, key, "failed", None, exc.code)
        db.session.commit()
        raise ValidationFailed(exc.message, {"number": exc.message}) from None


def store_card(card, key: str, *, agency_id: int | None = None, account_id: int | None = None) -> BillingProfile:
    """The gateway's card kept as the card on file of an agency (B1) or of an account that pays its own way
    (C1, A4), added or replaced: only its token, brand, last 4 and expiry. Part of the caller's transaction."""
    owner = BillingProfile.agency_id == agency_id if agency_id is not None else BillingProfile.account_id == account_id
    profile = db.session.scalar(sa.select(BillingProfile).where(owner))
    if profile is None:
        profile = BillingProfile(agency_id=agency_id, account_id=account_id)
        db.session.add(profile)
    profile.gateway, profile.gateway_token, profile.gateway_customer_id = gateway().name, card.token, card.customer
    profile.brand, profile.last4, profile.exp_month, profile.exp_year = card.brand, card.last4, card.exp_month, card.exp_year
    _log_call(agency_id, None, "tokenize", None, key, "succeeded", card.token[:12], None)
    return profile


def _keep_card(agency_id: int, card, key: str, actor: audit.Actor) -> BillingProfile:
    profile = store_card(card, key, agency_id=agency_id)
    audit.record(actor, "billing_card_saved", agency_id=agency_id, brand=card.brand, last4=card.last4)
    db.session.commit()
    for hook in _hooks().on_card_saved:
        hook(agency_id)
    return profile


# ---- B1 under a processor that collects the card itself (Stripe.js) ---------------------------------

CARD_SETUP_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class CardFormSetup:
    """What a page needs to show the processor's card form: its script, its keys, and our single-use
    state, which the form posts back with the setup it confirmed."""

    gateway: str
    js_url: str
    publishable_key: str | None
    client_secret: str
    setup_ref: str
    state: str


def _state_hash(state: str) -> str:
    return hashlib.sha256((state or "").encode()).hexdigest()


def start_card_setup(agency_id: int | None, *, purpose: str = "agency_card", actor: audit.Actor | None = None,
                     account_id: int | None = None) -> CardFormSetup:
    """A card form for the agency's billing profile (purpose agency_card), for a client signing up through
    its referral link (purpose referral), or for the Billing page of an account that pays its own way
    (purpose account_card, bound to `account_id`, never to an agency): the processor's setup, and our state
    bound to it."""
    if purpose not in CARD_SETUP_PURPOSES:
        raise KeyError(purpose)
    if purpose == "agency_card":
        permissions.require(actor, "billing")
    own = purpose == "account_card"
    if own and account_id is None:
        raise ValueError("an account's card form needs its account")
    owner = f"account:{account_id}" if own else str(agency_id)
    gw = gateway()
    customer = None
    profile = account_card_of(account_id) if own else card_of(agency_id) if purpose == "agency_card" else None
    if profile is not None and profile.gateway == gw.name:
        customer = profile.gateway_customer_id  # a new card for the same Stripe Customer
    metadata = {"account_id": account_id, "purpose": purpose} if own else {"agency_id": agency_id, "purpose": purpose}
    try:
        start = gw.start_card_setup(customer=customer, description=f"AgencyHQ {purpose} {owner}", metadata=metadata,
                                    idempotency_key=keys.card_setup(f"{owner}:{keys.fresh()}"))
    except GatewayError as exc:
        raise ServiceError(exc.message) from None
    state = secrets.token_urlsafe(32)
    db.session.add(CardSetup(agency_id=None if own else agency_id, account_id=account_id if own else None,
                             purpose=purpose, gateway=gw.name, setup_ref=start.setup_ref, customer_ref=start.customer,
                             state_hash=_state_hash(state), created_at=utcnow()))
    db.session.commit()
    return CardFormSetup(gateway=gw.name, js_url=gw.js_url, publishable_key=gw.publishable_key, client_secret=start.client_secret,
                         setup_ref=start.setup_ref, state=state)


def finish_card_setup(agency_id: int | None, purpose: str, *, setup_ref: str, state: str,
                      account_id: int | None = None):
    """The card the processor's form saved, once: the state must be the one shown with that setup, to
    that agency (or its referral page, or that account's Billing page), unused and fresh; otherwise nothing
    is attached. Returns the gateway's CardToken. Raises ValidationFailed."""
    stale = str(_l("This card form has expired or was already used; enter the card again."))
    own = purpose == "account_card"
    owner = (CardSetup.account_id == account_id) if own else (CardSetup.agency_id == agency_id)
    claimed = db.session.execute(sa.update(CardSetup).where(
        CardSetup.state_hash == _state_hash(state), CardSetup.setup_ref == (setup_ref or ""),
        owner, CardSetup.purpose == purpose, CardSetup.used_at.is_(None),
        CardSetup.created_at > utcnow() - CARD_SETUP_LIFETIME).values(used_at=utcnow()))
    db.session.commit()
    if (own and account_id is None) or claimed.rowcount != 1:
        raise ValidationFailed(stale, {"number": stale})
    key = keys.card_setup(setup_ref)
    try:
        card = gateway().finish_card_setup(setup_ref)
    except GatewayError as exc:
        _log_call(agency_id if purpose == "agency_card" else None, None, "tokenize", None, key, "failed", None,
                  exc.code)
        db.session.commit()
        raise ValidationFailed(exc.message, {"number": exc.message}) from None
    return card


def save_card_from_setup(agency_id: int, *, setup_ref: str, state: str, actor: audit.Actor) -> BillingProfile:
    """B1 with Stripe: the card the agency entered in Stripe's form becomes its card on file."""
    permissions.require(actor, "billing")
    card = finish_card_setup(agency_id, "agency_card", setup_ref=setup_ref, state=state)
    return _keep_card(agency_id, card, keys.card_setup(setup_ref), actor)


def card_of(agency_id: int) -> BillingProfile | None:
    return db.session.scalar(sa.select(BillingProfile).where(BillingProfile.agency_id == agency_id))


def account_card_of(account_id: int | None) -> BillingProfile | None:
    """The card of an account that pays its own way (C1, A4): its client's, never its agency's."""
    if account_id is None:
        return None
    return db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == account_id))


# ---- B5: the discount in force -------------------------------------------------------------------

def paid_accounts(agency_id: int) -> int:
    """B5's paid accounts, from the agency's counters (AccountCount, kept by the database)."""
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(AccountCount.n), 0)).where(
        AccountCount.agency_id == agency_id, PAID_COUNTED)) or 0


def discount_in_force(agency_id: int) -> int:
    return get_catalog().discount_percent(paid_accounts(agency_id))


# ---- invoices --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    description: str
    unit_cents: int
    quantity: int = 1
    # A pack's credits (SMS or compatibility): what the paid invoice delivers (Invoice.credits).
    credits: int | None = None
    # What the line is, as data, so it is shown in the reader's language (invoice_text's builders); without
    # it the description is read back when it is in one of AgencyHQ's English forms.
    label: dict | None = None


def plan_line(name: str, tier: str, term: str, limit: int, start: date, end: date) -> Line:
    """A plan for a period at the catalog's list price, as every invoice line of one reads (sign-ups, renewals,
    reactivations): its English form and its data, shown in the reader's language."""
    catalog = get_catalog()
    return Line(f"{name}: {catalog.tier_by_key[tier].label} {term}, {int(limit):,} contacts, {start} to {end}",
                catalog.list_price_cents(tier, term, int(limit)),
                label=invoice_text.plan_label(name, tier, term, int(limit), start, end))


def invoice_number(invoice_id: int, when=None) -> str:
    """The reference of an invoice just made: provisional until it is issued (paid), when it takes the next
    number of its year (invoice_numbers.issue)."""
    return invoice_numbers.provisional_reference(invoice_id)


def pending_number(key: str) -> str:
    """Stands in for the invoice number until the id is known: unique per key, 32 characters at most."""
    return "pending-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def invoice_values(*, agency_id: int | None, kind: str, lines: list[Line], key: str, account_id: int | None = None,
                   period: tuple[date, date] | None = None, discount_percent: int | None = None) -> dict:
    """The columns of a new open invoice: its price from its lines, less the discount (the agency's in
    force, for a plan, unless one is given). The one way invoices are priced, one at a time or many."""
    catalog = get_catalog()
    listed = sum(line.unit_cents * line.quantity for line in lines)
    if discount_percent is None:
        discount_percent = discount_in_force(agency_id) if kind in PLAN_KINDS else 0
    total = catalog.apply_discount(listed, discount_percent)
    return {"agency_id": agency_id, "account_id": account_id, "kind": kind, "status": "open",
            "number": pending_number(key), "currency": catalog.currency,
            "period_key": period[0].isoformat() if period and kind == "renewal" else None,
            "period_start": period[0] if period else None, "period_end": period[1] if period else None,
            "list_price_cents": listed, "discount_percent": discount_percent, "discount_cents": listed - total,
            "total_cents": total, "prepaid_applied_cents": 0, "card_charged_cents": 0, "idempotency_key": key,
            "attempts": 0, "credits": next((line.credits for line in lines if line.credits is not None), None)}


def line_values(invoice_id: int, lines: list[Line]) -> list[dict]:
    return [{"invoice_id": invoice_id, "description": line.description[:200], "quantity": line.quantity,
             "unit_cents": line.unit_cents, "amount_cents": line.unit_cents * line.quantity,
             "label": line.label or invoice_text.parse(line.description)} for line in lines]


def create_invoice(*, agency_id: int, kind: str, lines: list[Line], key: str, account: HostedAccount | None = None,
                   period: tuple[date, date] | None = None, discount_percent: int | None = None) -> Invoice:
    """The invoice for `key` (created if new) and committed, before any money moves. Renewals carry
    a period: a second invoice for the same (account, period) is the first one."""
    existing = db.session.scalar(sa.select(Invoice).where(Invoice.idempotency_key == key))
    if existing is not None:
        return existing
    invoice = Invoice(**invoice_values(agency_id=agency_id, kind=kind, lines=lines, key=key,
                                       account_id=account.id if account else None, period=period,
                                       discount_percent=discount_percent))
    try:
        with db.session.begin_nested():
            db.session.add(invoice)
            db.session.flush()
            invoice.number = invoice_number(invoice.id, utcnow())
            db.session.add_all(InvoiceLine(**values) for values in line_values(invoice.id, lines))
    except IntegrityError:
        # The same key, or the same (account, period), was invoiced by someone else meanwhile.
        db.session.rollback()
        existing = db.session.scalar(sa.select(Invoice).where(sa.or_(
            Invoice.idempotency_key == key,
            sa.and_(Invoice.account_id == (account.id if account else None),
                    Invoice.period_key == invoice.period_key, Invoice.period_key.is_not(None)))))
        if existing is None:
            raise
        return existing
    db.session.commit()
    return invoice


def create_invoices(new: list[tuple[dict, list[Line]]]) -> tuple[dict[str, Invoice], list[Invoice]]:
    """Many invoices at once (the sweeper's renewals), as create_invoice makes them one by one: `new` is
    (invoice_values(...), lines) pairs. Existing keys (and (account, period) pairs) are kept as they are.
    Returns every invoice asked for, by key, and those made now. The caller commits, before any money
    moves."""
    if not new:
        return {}, []
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Invoice).on_conflict_do_nothing()
    now = utcnow()
    db.session.execute(insert, [{**values, "created_at": now} for values, _lines in new])
    lines = {values["idempotency_key"]: invoice_lines for values, invoice_lines in new}
    invoices = {i.idempotency_key: i for i in db.session.scalars(sa.select(Invoice).where(
        Invoice.idempotency_key.in_(list(lines))))}
    made = [i for i in invoices.values() if i.number.startswith("pending-")]
    for invoice in made:
        invoice.number = invoice_number(invoice.id, now)
    if made:
        db.session.execute(sa.insert(InvoiceLine), [row for i in made for row in line_values(i.id, lines[i.idempotency_key])])
    return invoices, made


def _balance_row(agency_id: int, kind: str, scope: str, account_id: int | None) -> CreditBalance:
    row = db.session.scalar(sa.select(CreditBalance).where(CreditBalance.agency_id == agency_id,
                                                           CreditBalance.kind == kind, CreditBalance.scope == scope))
    if row is None:
        try:
            with db.session.begin_nested():
                row = CreditBalance(agency_id=agency_id, kind=kind, scope=scope, account_id=account_id, balance=0)
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(sa.select(CreditBalance).where(
                CreditBalance.agency_id == agency_id, CreditBalance.kind == kind, CreditBalance.scope == scope))
    return row


def balance(agency_id: int, kind: str, account_id: int | None = None) -> int:
    scope = f"account:{account_id}" if account_id else "agency"
    value = db.session.scalar(sa.select(CreditBalance.balance).where(
        CreditBalance.agency_id == agency_id, CreditBalance.kind == kind, CreditBalance.scope == scope))
    return value or 0


def add_credit(agency_id: int, kind: str, amount: int, *, reason: str, key: str, account_id: int | None = None,
               invoice_id: int | None = None) -> bool:
    """Adds to a ledger once per key. Part of the caller's transaction. False if already done."""
    if db.session.scalar(sa.select(CreditEntry.id).where(CreditEntry.idempotency_key == key)):
        return False
    row = _balance_row(agency_id, kind, f"account:{account_id}" if account_id else "agency", account_id)
    db.session.execute(sa.update(CreditBalance).where(CreditBalance.id == row.id)
                       .values(balance=CreditBalance.balance + amount))
    db.session.add(CreditEntry(balance_id=row.id, delta=amount, reason=reason[:200], invoice_id=invoice_id,
                               idempotency_key=key))
    return True


def spend_credit(row_id: int, amount: int) -> bool:
    """Takes `amount` from a balance only if it is there: one conditional UPDATE, safe under
    concurrency on PostgreSQL and on SQLite alike (SQLite ignores SELECT ... FOR UPDATE)."""
    result = db.session.execute(sa.update(CreditBalance)
                                .where(CreditBalance.id == row_id, CreditBalance.balance >= amount)
                                .values(balance=CreditBalance.balance - amount))
    return result.rowcount == 1


def _apply_prepaid(invoice: Invoice, attempt: int) -> int:
    """Spends prepaid credit on the invoice once per attempt, the account's own credit first, then the
    agency's pool: a retry spends credit bought since the last attempt. Returns what this attempt
    spent (also when it runs again after a crash, which spends nothing more)."""
    if invoice.kind == "prepaid" or invoice.total_cents == 0 or invoice.agency_id is None:
        return 0  # a commission account's invoice is the client's: the agency's credit is not spent on it
    key = keys.prepaid_spent(invoice.id, attempt)
    scopes = ([f"account:{invoice.account_id}"] if invoice.account_id else []) + ["agency"]
    done = db.session.scalars(sa.select(CreditEntry.delta).where(
        CreditEntry.idempotency_key.in_([key] + [f"{key}:{scope}" for scope in scopes]))).all()
    if done:
        return -sum(done)
    remaining, applied, entries = invoice.total_cents - invoice.prepaid_applied_cents, 0, []
    for scope in scopes:
        if remaining <= 0:
            break
        for _ in range(5):  # another spender may take credit between our read and our update
            row = db.session.scalar(sa.select(CreditBalance).where(
                CreditBalance.agency_id == invoice.agency_id, CreditBalance.kind == "prepaid",
                CreditBalance.scope == scope).execution_options(populate_existing=True))
            take = min(row.balance, remaining) if row else 0
            if take <= 0:
                break
            if spend_credit(row.id, take):
                entries.append((row.id, take, scope))
                remaining -= take
                applied += take
                break
    for i, (row_id, take, scope) in enumerate(entries):
        db.session.add(CreditEntry(balance_id=row_id, delta=-take, invoice_id=invoice.id,
                                   reason=f"Applied to invoice {invoice.number}",
                                   idempotency_key=key if i == 0 else f"{key}:{scope}"))
    if not entries:
        record_no_prepaid([invoice], attempt)
    invoice.prepaid_applied_cents += applied
    db.session.commit()  # a concurrent settle of the same attempt fails here, before any charge
    return applied


def record_no_prepaid(invoices: list[Invoice], attempt: int = 1) -> None:
    """Records that this attempt at each invoice looked for prepaid credit and found none, so its rerun
    (whose card charge has the same key and must ask the same amount) never spends credit bought in
    between. Part of the caller's transaction."""
    if not invoices:
        return
    pools = {agency_id: _balance_row(agency_id, "prepaid", "agency", None).id
             for agency_id in {i.agency_id for i in invoices}}
    db.session.execute(sa.insert(CreditEntry), [
        {"balance_id": pools[i.agency_id], "delta": 0, "invoice_id": i.id, "created_at": utcnow(),
         "reason": f"No prepaid credit for invoice {i.number}", "idempotency_key": keys.prepaid_spent(i.id, attempt)}
        for i in invoices])


def gateway_call(agency_id, invoice_id, op, amount, key, outcome, reference, error_code) -> dict:
    """One row of the gateway-call log (GatewayCall), as every call to the gateway is written."""
    return {"agency_id": agency_id, "invoice_id": invoice_id, "op": op, "amount_cents": amount,
            "idempotency_key": key, "outcome": outcome, "reference": reference, "error_code": error_code,
            "created_at": utcnow()}


def _log_call(*args):
    db.session.add(GatewayCall(**gateway_call(*args)))


def paid_values(invoice: Invoice, *, card_cents: int, reference: str | None) -> dict:
    """What an invoice becomes once paid, the card having paid `card_cents` of it."""
    values = {"status": "paid", "paid_at": utcnow(), "last_error": None, "decline_code": None,
              "next_attempt_at": None, "attempts": invoice.attempts + 1}
    if card_cents:
        values.update(card_charged_cents=card_cents, gateway_charge_id=reference)
    return values


# What a decline means, in the reader's language (a notice, an invoice): by the code the invoice keeps.
DECLINE_REASONS = {
    "card_declined": _l("The card was declined."),
    "insufficient_funds": _l("The card has insufficient funds."),
    "expired_card": _l("The card has expired."),
    "processing_error": _l("The card processor could not process the card; try again."),
    "authentication_required": _l("The bank asks the card holder to confirm payments with this card: save the "
                                  "card again in Billing profile to confirm it."),
    "gateway_unavailable": _l("The card processor could not be reached; the payment will be tried again."),
    "no_card": _l("There is no card on file: add one in Billing profile."),
}


def decline_reason(invoice: Invoice):
    """Why the invoice's charge failed, in the reader's language (a lazy string) by its decline code; an
    invoice declined before codes were kept (or by a code without words of ours) shows the processor's message."""
    return DECLINE_REASONS.get(invoice.decline_code) or invoice.last_error or DECLINE_REASONS["card_declined"]


def declined_values(invoice: Invoice, message: str, code: str | None = None) -> dict:
    """What an invoice becomes when its charge is declined: failed, with the reason; the first decline
    starts the grace period (B8). When the processor could not be reached (code OUTAGE) whether it
    charged is unknown: the attempt is not counted, so the next try sends the same idempotency key
    and gets the first answer if there was one, and no grace period starts for our outage."""
    if code == OUTAGE:
        return {"status": "failed", "last_error": message[:300], "decline_code": code}
    return {"status": "failed", "last_error": message[:300], "decline_code": code, "attempts": invoice.attempts + 1,
            "first_declined_at": invoice.first_declined_at or utcnow()}


def settle(invoice: Invoice, card: BillingProfile | None = None) -> Invoice:
    """Pays an open or failed invoice: prepaid credit first, the card for the rest. Idempotent:
    call it again after a crash or for a retry and nothing is taken twice. Raises PaymentDeclined.
    `card` is a card not yet on file (a referred client's sign-up, C1); otherwise the invoice's
    agency card, or for an invoice without an agency, its account's own card."""
    # Two settles of one invoice at once (a sweep and a retry, two workers) take turns on its row: the
    # second waits for the first to commit and finds it paid, instead of both spending and charging and one
    # losing on a ledger key or a deadlock over the account. (SQLite has no row locks: a writer there holds
    # the whole database, which serializes them too.)
    db.session.flush()
    db.session.refresh(invoice, with_for_update=True)
    if invoice.status == "paid":
        return invoice
    if invoice.status == "void":
        raise ServiceError(str(_l("This invoice was voided.")))
    attempt = invoice.attempts + 1
    try:
        spent = _apply_prepaid(invoice, attempt)
    except IntegrityError:
        # Another settle of this very attempt (a double press, where SQLite has no row lock to queue on) wrote
        # its ledger entry first: it is the one that pays; this one stops before any charge.
        db.session.rollback()
        db.session.refresh(invoice)
        if invoice.status == "paid":
            return invoice
        raise Conflict(str(_l("This payment is already being made (a second press?): look again in a moment."))) \
            from None
    # Another settle may have paid it meanwhile (its prepaid step committed, which releases a row lock): read again.
    db.session.refresh(invoice)
    if invoice.status == "paid":
        return invoice
    faults.point("billing.after_prepaid")
    remaining = invoice.total_cents - invoice.prepaid_applied_cents
    profile = card or (card_of(invoice.agency_id) if invoice.agency_id else None)
    if profile is None and invoice.agency_id is None and invoice.account_id:
        profile = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == invoice.account_id))
    gw = gateway()
    auth_key, void_key = keys.authorization(invoice.id, attempt), keys.authorization_release(invoice.id, attempt)
    if spent and profile and db.session.scalar(sa.select(GatewayCall.id).where(
            GatewayCall.invoice_id == invoice.id, GatewayCall.idempotency_key == auth_key).limit(1)) is None:
        # B3: prepaid spent (by this attempt) -> a 1.00 authorization on the card, released at once, never captured.
        amount = get_catalog().prepaid_authorization_cents
        try:
            auth = gw.authorize(profile.gateway_token, amount, invoice.currency, idempotency_key=auth_key,
                                customer=profile.gateway_customer_id)
            _log_call(invoice.agency_id, invoice.id, "authorize", amount, auth_key, "authorized", auth.reference, None)
            gw.void(auth.reference, idempotency_key=void_key)
            _log_call(invoice.agency_id, invoice.id, "void", amount, void_key, "voided", auth.reference, None)
            invoice.gateway_authorization_id = auth.reference
        except GatewayError as exc:
            _log_call(invoice.agency_id, invoice.id, "authorize", amount, auth_key, "failed", None, exc.code)
        db.session.commit()
    if remaining > 0:
        if profile is None:
            _record_decline(invoice, "no_card", str(_l("There is no card on file: add one in Billing profile.")))
        key = keys.charge(invoice.idempotency_key, attempt)
        try:
            result = gw.charge(profile.gateway_token, remaining, invoice.currency, idempotency_key=key,
                               customer=profile.gateway_customer_id)
        except GatewayError as exc:
            _log_call(invoice.agency_id, invoice.id, "charge", remaining, key,
                      "unavailable" if exc.code == OUTAGE else "declined", None, exc.code)
            _record_decline(invoice, exc.code, exc.message)
        faults.point("billing.after_charge")  # charged at the gateway, nothing committed here yet
        _log_call(invoice.agency_id, invoice.id, "charge", remaining, key, "succeeded", result.reference, None)
    # Paid once: a concurrent settle of the same attempt that got this far too (its charge, with the same key,
    # answered by the gateway with this same charge) finds the invoice paid and writes nothing, its log included.
    values = paid_values(invoice, card_cents=max(remaining, 0), reference=result.reference if remaining > 0 else None)
    db.session.flush()
    if db.session.execute(sa.update(Invoice).where(Invoice.id == invoice.id, Invoice.status != "paid")
                          .values(**values).execution_options(synchronize_session=False)).rowcount != 1:
        db.session.rollback()
        db.session.refresh(invoice)
        return invoice
    for name, value in values.items():
        setattr(invoice, name, value)
    invoice_numbers.issue(invoice, invoice.paid_at)  # B4: issued now, its number taken in this transaction
    hooks = _hooks()
    deliver = hooks.on_paid.get(invoice.kind)
    if deliver:
        deliver(invoice)
    for hook in hooks.after_paid:
        hook(invoice)
    db.session.commit()
    return invoice


def _record_decline(invoice: Invoice, code: str, message: str):
    for name, value in declined_values(invoice, message, code).items():
        setattr(invoice, name, value)
    if code != OUTAGE:
        for hook in _hooks().after_declined:
            hook(invoice)
    db.session.commit()
    raise PaymentDeclined(message, code, invoice)


def charge_now(*, agency_id: int | None, kind: str, lines: list[Line], key: str, account: HostedAccount | None = None,
               period=None, card: BillingProfile | None = None, discount_percent: int | None = None) -> Invoice:
    """Invoice and settle in one go (purchases, sign-ups, upgrades). A decline voids the invoice so
    nothing is owed and nothing is delivered; prepaid credit it took is given back."""
    invoice = create_invoice(agency_id=agency_id, kind=kind, lines=lines, key=key, account=account, period=period,
                             discount_percent=discount_percent)
    try:
        try:
            return settle(invoice, card)
        except PaymentDeclined as exc:
            if exc.decline_code != OUTAGE:
                raise
            # The processor could not be reached: once more with the same key, which gets its first
            # answer if the charge was made after all.
            return settle(invoice, card)
    except PaymentDeclined as exc:
        if exc.decline_code == OUTAGE:
            log.error("invoice %s voided after the card processor failed twice; charge key %s",
                      invoice.number, keys.charge(invoice.idempotency_key, invoice.attempts + 1))
        void_and_refund_prepaid(invoice)
        raise


@contextmanager
def refunded_on_failure(invoice: Invoice | None, reason: str):
    """What a charge pays for is written after it (an account, a plan change). If that fails, the charge
    is refunded and its prepaid credit returned in the same operation, so no invoice is ever paid for
    something that was not made; then the error goes on."""
    try:
        yield
    except Exception:
        db.session.rollback()
        paid = db.session.get(Invoice, invoice.id) if invoice is not None else None
        if paid is not None and paid.status == "paid":
            try:
                refund(paid, reason=reason)
                db.session.commit()
            except Exception:  # the gateway is down too: the invoice stays paid and the log says so
                db.session.rollback()
                log.exception("invoice %s could not be refunded after a failure", paid.number)
        raise


def void_and_refund_prepaid(invoice: Invoice, *, tell: tuple = ()) -> None:
    """An unpaid invoice given up: void, and the prepaid credit it took given back (nothing is owed on it).
    `tell`: hooks called with the void invoice in the same transaction."""
    if invoice.status == "paid":
        return
    if invoice.prepaid_applied_cents:
        entries = db.session.scalars(sa.select(CreditEntry).where(CreditEntry.invoice_id == invoice.id,
                                                                  CreditEntry.delta < 0)).all()
        for entry in entries:
            db.session.execute(sa.update(CreditBalance).where(CreditBalance.id == entry.balance_id)
                               .values(balance=CreditBalance.balance - entry.delta))
            db.session.add(CreditEntry(balance_id=entry.balance_id, delta=-entry.delta, invoice_id=invoice.id,
                                       reason=f"Returned from voided invoice {invoice.number}",
                                       idempotency_key=keys.prepaid_returned(entry.id)))
        invoice.prepaid_applied_cents = 0
    invoice.status = "void"
    for hook in tell:
        hook(invoice)
    db.session.commit()


# ---- B3, B6, B7: buying credit ----------------------------------------------------------------------

def deliver_credit(invoice: Invoice) -> None:
    """What a paid purchase of credit delivers: the credit, once (prepaid credit is its price in cents)."""
    kind = {"prepaid": "prepaid", "sms_pack": "sms", "compatibility_pack": "compatibility"}[invoice.kind]
    amount = invoice.list_price_cents if kind == "prepaid" else invoice.credits
    add_credit(invoice.agency_id, kind, amount, reason=f"Bought with invoice {invoice.number}",
               key=keys.credit_bought(invoice.id), account_id=invoice.account_id, invoice_id=invoice.id)
    if invoice.account_id is not None and invoice.agency_id is not None:
        db.session.flush()
        events.credits_allocated(invoice.agency_id, db.session.get(HostedAccount, invoice.account_id), kind,
                                        amount, balance(invoice.agency_id, kind, invoice.account_id))


def _prepaid_amount(amount_cents) -> int:
    if amount_cents not in get_catalog().prepaid_amounts_cents:
        raise ValidationFailed(str(_l("Choose one of the amounts offered.")),
                               {"amount": str(_l("Choose one of the amounts offered."))})
    return amount_cents


def _prepaid_line(amount_cents: int, account: HostedAccount | None) -> Line:
    return Line(f"Prepaid credit{' for ' + account.name if account else ''}", amount_cents,
                label=invoice_text.prepaid_label(account.name if account else None))


def preview_prepaid(agency_id: int, amount_cents, *, account: HostedAccount | None = None):
    """What buying prepaid credit charges (all of it on the card: credit never pays for credit)."""
    amount = _prepaid_amount(amount_cents)
    line = _prepaid_line(amount, account)
    return quotes.make("prepaid", [quotes.QuoteLine(line.description, amount, line.label)], discount_percent=0,
                       agency_id=agency_id, account_id=account.id if account else None, spends_prepaid=False,
                       subject={"agency": agency_id, "account": account.id if account else None, "amount": amount})


def buy_prepaid(agency_id: int, amount_cents: int, *, account: HostedAccount | None, actor: audit.Actor,
                key: str | None = None, quote: str | None = None) -> Invoice:
    """B3: prepaid credit into the agency's pool (or straight to one account). `quote` is the confirmed
    preview's token (quotes.confirm); None only for callers that price nothing for a person."""
    permissions.require(actor, "charge")
    fresh = preview_prepaid(agency_id, amount_cents, account=account)
    if quote is not None:
        quotes.confirm(fresh, quote)
    invoice = charge_now(agency_id=agency_id, kind="prepaid", account=account,
                         key=key or keys.prepaid_invoice(agency_id), lines=[_prepaid_line(amount_cents, account)])
    audit.record(actor, "prepaid_bought", agency_id=agency_id, account_id=account.id if account else None,
                 amount_cents=amount_cents, invoice=invoice.number)
    db.session.commit()
    return invoice


def receivable_problem(account: HostedAccount, kind: str) -> str | None:
    """Why `account` cannot be given credits of `kind` now, or None. SMS goes only to tiers whose catalog flag
    allows it (a trial of such a tier too); no credit goes to an account closed to its client (expired, which a
    cancelled account becomes when its period ends, or disabled)."""
    if account.kind == "parent":
        return str(_l("%(name)s is your parent account, where automations are built: it takes no credits.",
                      name=account.name))
    if account.status == "expired":
        return str(_l("%(name)s has expired: renew it before giving it credits.", name=account.name))
    if account.status == "disabled":
        return str(_l("%(name)s is disabled: enable it before giving it credits.", name=account.name))
    if kind == "sms":
        tier = get_catalog().tier_by_key.get(account.plan_tier)
        if tier is None or not tier.sms:
            return str(_l("%(name)s is on the %(tier)s plan, which cannot send SMS: change its plan first.",
                          name=account.name, tier=invoice_text.TIER_NAMES.get(account.plan_tier, account.plan_tier)))
    return None


def _pack_of(kind: str, pack_key: str = None, *, credits: int | None = None):
    catalog = get_catalog()
    packs = {"sms": catalog.sms_packs, "compatibility": catalog.compatibility_packs}.get(kind)
    if packs is None:
        raise ValidationFailed(str(_l("Unknown kind of credit.")), {"kind": str(_l("Unknown kind of credit."))})
    if credits is not None:
        pack = next((p for p in packs if p.credits == credits), None)
        if pack is None:
            problem = str(_l("Choose one of the packs offered: %(sizes)s credits.",
                             sizes=", ".join(f"{p.credits:,}" for p in packs)))
            raise ValidationFailed(problem, {"amount": problem})
        return pack
    pack = next((p for p in packs if p.key == pack_key), None)
    if pack is None:
        raise ValidationFailed(str(_l("Choose one of the packs offered.")), {"pack": str(_l("Choose one of the packs offered."))})
    return pack


def _pack_line(kind: str, pack, account: HostedAccount | None) -> Line:
    what = "SMS credits" if kind == "sms" else "compatibility credits"
    owner = account.name if account else "the agency's pool"
    return Line(f"{pack.credits:,} {what} for {owner}", pack.price_cents, credits=pack.credits,
                label=invoice_text.pack_label(kind, pack.credits, account.name if account else None))


def preview_pack(agency_id: int, account: HostedAccount | None, kind: str, pack_key: str):
    """What a pack costs today (prepaid credit first, then the card), bought into the agency's pool (B6, B7:
    assigned to accounts afterwards) or straight to one account."""
    pack = _pack_of(kind, pack_key)
    if account is not None:
        if account.agency_id != agency_id:
            raise NotFound()
        problem = receivable_problem(account, kind)
        if problem:
            raise ValidationFailed(problem, {"account": problem})
    line = _pack_line(kind, pack, account)
    return quotes.make(f"{kind}_pack", [quotes.QuoteLine(line.description, pack.price_cents, line.label)],
                       discount_percent=0, agency_id=agency_id, account_id=account.id if account else None,
                       subject={"agency": agency_id, "account": account.id if account else None, "kind": kind,
                                "pack": pack.key})


def buy_pack(agency_id: int, account: HostedAccount | None, kind: str, pack_key: str, *, actor: audit.Actor,
             key: str | None = None, quote: str | None = None) -> Invoice:
    """B6/B7: a pack of SMS or compatibility credits, paid (prepaid first), into the agency's pool or to one
    account. `quote` as for buy_prepaid."""
    permissions.require(actor, "charge")
    fresh = preview_pack(agency_id, account, kind, pack_key)
    if quote is not None:
        quotes.confirm(fresh, quote)
    pack = _pack_of(kind, pack_key)
    invoice = charge_now(agency_id=agency_id, kind=f"{kind}_pack", account=account,
                         key=key or keys.pack_invoice(kind, agency_id), lines=[_pack_line(kind, pack, account)])
    audit.record(actor, f"{kind}_credits_bought", agency_id=agency_id, account_id=account.id if account else None,
                 credits=pack.credits, invoice=invoice.number)
    db.session.commit()
    return invoice


def preview_credits(agency_id: int, account: HostedAccount | None, kind: str, amount):
    """The API's way of naming a purchase by its size: a pack's credits, or prepaid credit in cents."""
    if kind == "prepaid":
        if account is not None and account.agency_id != agency_id:
            raise NotFound()
        return preview_prepaid(agency_id, amount, account=account)
    return preview_pack(agency_id, account, kind, _pack_of(kind, credits=amount).key)


def buy_credits(agency_id: int, account: HostedAccount | None, kind: str, amount: int, *, actor: audit.Actor,
                key: str | None = None, quote: str | None = None) -> Invoice:
    """Credit by amount (the API's way): SMS or compatibility credits in the size of one of the packs offered
    (B6, B7), or prepaid credit in cents, in one of the amounts offered (B3); for one account or the pool."""
    permissions.require(actor, "charge")
    if kind == "prepaid":
        if account is not None and account.agency_id != agency_id:
            raise NotFound()
        return buy_prepaid(agency_id, amount, account=account, actor=actor, key=key, quote=quote)
    return buy_pack(agency_id, account, kind, _pack_of(kind, credits=amount).key, actor=actor, key=key, quote=quote)


def refund(invoice: Invoice, *, reason: str) -> Invoice:
    """Gives back a paid invoice in full: the card charge refunded at the gateway (once, by key),
    the prepaid credit returned, the invoice void."""
    if invoice.status != "paid":
        return invoice
    for hook in _hooks().after_refund:  # committed with the refund below, or rolled back with a failed one
        hook(invoice)
    if invoice.card_charged_cents and invoice.gateway_charge_id:
        key = keys.refund(invoice.id)
        result = gateway().refund(invoice.gateway_charge_id, invoice.card_charged_cents, idempotency_key=key)
        _log_call(invoice.agency_id, invoice.id, "refund", invoice.card_charged_cents, key, "refunded",
                  result.reference, None)
        invoice.card_charged_cents = 0
    invoice.last_error = f"Refunded: {reason}"[:300]
    invoice.status = "open"  # so the prepaid return below treats it as unpaid
    db.session.flush()
    void_and_refund_prepaid(invoice, tell=_hooks().after_refunded)
    return invoice
