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
from . import audit, billing, events, hosts, mail, notices

log = logging.getLogger("agencyhq.gateway_events")


@dataclass(frozen=True)
class Answer:
    status: int
    message: str


def receive_stripe(payload: bytes, signature: str | None) -> Answer:
    gw = billing.gateway()
    if not gw.sends_events:
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
    emails = []
    if handler is None:
        row.outcome = "ignored: not an event AgencyHQ acts on"
    else:
        row.invoice_id, row.outcome, emails = handler(obj)
    db.session.commit()
    mail.enqueue_pending(*(emails or ()))
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
    events.invoice_refunded(invoice)
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
    emails = _tell_agency_of_dispute(invoice, dispute) if opened else []
    return invoice.id, f"dispute {invoice.dispute_status} on {invoice.number}", emails


def _tell_agency_of_dispute(invoice: Invoice, dispute: dict) -> list:
    """The agency's notice e-mail (else its owners) is told, in the agency's notice language, once per dispute."""
    if invoice.agency_id is None:
        return []
    return notices.to_agency(invoice.agency_id, "invoice_disputed", {
        "invoice": invoice, "amount": int(dispute.get("amount") or invoice.card_charged_cents),
        "reason": str(dispute.get("reason") or "") or None,
        "url": hosts.dashboard_url(f"/billing/invoices/{invoice.id}"),
    }, key=f"dispute:{dispute.get('id') or invoice.id}")


HANDLERS = {
    "charge.refunded": _refunded,
    "charge.dispute.created": lambda obj: _dispute(obj, opened=True),
    "charge.dispute.updated": lambda obj: _dispute(obj, opened=False),
    "charge.dispute.closed": lambda obj: _dispute(obj, opened=False),
}
