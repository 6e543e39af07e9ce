"""What the card processor tells us later, by webhook (issue 20): a refund or a dispute (chargeback)
made outside AgencyHQ, shown on its invoice, a dispute also told to the agency. Each event is acted on
once: its id is kept (GatewayEvent, unique per provider and id), so a replay is answered 200 and does
nothing. The signature and its 5-minute window are checked by the adapter (`parse_event`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..adapters.payments import GatewayError
from ..extensions import db
from ..models import GatewayEvent, Invoice, utcnow
from . import agencies, audit, billing, hosts, mail
from .money import format_money

log = logging.getLogger("agencyhq.gateway_events")


@dataclass(frozen=True)
class Answer:
    status: int
    message: str


def receive_stripe(payload: bytes, signature: str | None) -> Answer:
    gw = billing.gateway()
    if not hasattr(gw, "parse_event"):
        return Answer(404, "Stripe is not this deployment's card processor.")
    try:
        event = gw.parse_event(payload, signature)
    except GatewayError as exc:
        return Answer(400, f"Signature check failed: {exc.message}")
    event_id, kind = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id:
        return Answer(400, "The event has no id.")
    obj = (event.get("data") or {}).get("object") or {}
    try:
        with db.session.begin_nested():
            row = GatewayEvent(provider="stripe", event_id=event_id[:100], type=kind[:80], outcome="received")
            db.session.add(row)
    except IntegrityError:
        db.session.rollback()
        return Answer(200, "Already processed.")
    handler = HANDLERS.get(kind)
    email = None
    if handler is None:
        row.outcome = "ignored: not an event AgencyHQ acts on"
    else:
        row.invoice_id, row.outcome, email = handler(obj)
    db.session.commit()
    if email is not None:
        mail.enqueue_pending(email)
    return Answer(200, row.outcome)


def _invoice_for(obj: dict) -> Invoice | None:
    """The invoice a charge, refund or dispute belongs to: our invoices keep the PaymentIntent's id."""
    refs = [r for r in (obj.get("payment_intent"), obj.get("id") if obj.get("object") == "charge" else None,
                        obj.get("charge")) if isinstance(r, str) and r]
    if not refs:
        return None
    return db.session.scalar(sa.select(Invoice).where(Invoice.gateway_charge_id.in_(refs)).limit(1))


def _refunded(charge: dict):
    invoice = _invoice_for(charge)
    if invoice is None:
        return None, "ignored: no invoice of ours", None
    if invoice.status != "paid":
        return invoice.id, "ignored: the invoice was refunded by AgencyHQ", None
    refunded = int(charge.get("amount_refunded") or 0)
    invoice.refunded_outside_cents = min(refunded, invoice.card_charged_cents)
    audit.record(audit.Actor.system(), "invoice_refunded_outside", agency_id=invoice.agency_id,
                 account_id=invoice.account_id, invoice=invoice.number, amount_cents=invoice.refunded_outside_cents)
    return invoice.id, f"refund of {invoice.refunded_outside_cents} cents shown on {invoice.number}", None


def _dispute(dispute: dict, *, opened: bool):
    invoice = _invoice_for(dispute)
    if invoice is None:
        return None, "ignored: no invoice of ours", None
    invoice.dispute_status = str(dispute.get("status") or ("needs_response" if opened else "closed"))[:40]
    if opened and invoice.disputed_at is None:
        invoice.disputed_at = utcnow()
    audit.record(audit.Actor.system(), "invoice_disputed" if opened else "invoice_dispute_updated",
                 agency_id=invoice.agency_id, account_id=invoice.account_id, invoice=invoice.number,
                 status=invoice.dispute_status, reason=str(dispute.get("reason") or ""))
    email = _tell_agency_of_dispute(invoice, dispute) if opened else None
    return invoice.id, f"dispute {invoice.dispute_status} on {invoice.number}", email


def _tell_agency_of_dispute(invoice: Invoice, dispute: dict):
    if invoice.agency_id is None:
        return None
    to = agencies.owner_emails([invoice.agency_id]).get(invoice.agency_id)
    if to is None:
        return None
    amount = format_money(int(dispute.get("amount") or invoice.card_charged_cents), invoice.currency)
    return mail.queue_email(
        to=to, kind="invoice_disputed", agency_id=invoice.agency_id,
        dedupe_key=f"dispute:{dispute.get('id') or invoice.id}",
        subject=f"A payment of {amount} was disputed (invoice {invoice.number})",
        body=(f"The card holder's bank opened a dispute on invoice {invoice.number} ({amount}), reason: "
              f"{dispute.get('reason') or 'not given'}.\n\nThe amount is held until the dispute is decided. "
              f"Invoice: {hosts.dashboard_url(f'/billing/invoices/{invoice.id}')}\n"))


HANDLERS = {
    "charge.refunded": _refunded,
    "charge.dispute.created": lambda obj: _dispute(obj, opened=True),
    "charge.dispute.updated": lambda obj: _dispute(obj, opened=False),
    "charge.dispute.closed": lambda obj: _dispute(obj, opened=False),
}
