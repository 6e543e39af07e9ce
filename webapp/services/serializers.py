"""Rows as the JSON the OpenAPI document describes (components/schemas of the same names): the API answers
with them, and the webhooks carry them as their events' objects."""
from __future__ import annotations

from ..catalog import get_catalog
from ..sites import API_PREFIX
from ..models import HostedAccount, Invoice, Operation
from . import hosts, resold


def _iso(value):
    return value.isoformat() if value is not None else None


def plan(tier, term, contact_limit) -> dict:
    return {"tier": tier, "term": term, "contact_limit": contact_limit}


def account(a: HostedAccount, discount_percent: int) -> dict:
    return {
        "id": a.id, "name": a.name, "kind": a.kind, "status": a.status, "login_url": hosts.account_login_url(a),
        "custom_domain": a.custom_domain, "custom_domain_verified": a.custom_domain_verified_at is not None,
        "client_name": a.client_name, "client_email": a.client_email, "notification_email": a.notification_email,
        "language": a.language, "timezone": a.timezone,
        "plan": plan(a.plan_tier, a.plan_term, a.contact_limit),
        "pending_plan": (plan(a.pending_plan_tier, a.pending_plan_term or a.plan_term,
                              a.pending_contact_limit or a.contact_limit) if a.pending_plan_tier else None),
        "price_cents": resold.price_after_discount(a, discount_percent),
        "currency": get_catalog().currency,
        "created_at": _iso(a.created_at), "period_start": _iso(a.period_start), "period_end": _iso(a.period_end),
        "cancelled_at": _iso(a.cancelled_at), "trial_extensions": a.trial_extensions,
        "disabled_reason": a.disabled_reason if a.status == "disabled" else None,
    }


def credits(balances: dict) -> dict:
    return {"sms": balances.get("sms", 0), "compatibility": balances.get("compatibility", 0),
            "prepaid_cents": balances.get("prepaid", 0)}


def operation(op: Operation, result: dict | None) -> dict:
    return {
        "id": op.id, "kind": op.kind, "status": op.status, "progress": op.progress, "total": op.total,
        "message": op.message, "error": op.error,
        "account_id": op.subject_id if op.subject_type == "account" else None,
        "created_at": _iso(op.created_at), "finished_at": _iso(op.finished_at), "result": result,
    }


def invoice(inv: Invoice, account_name: str | None, *, lines: bool = False) -> dict:
    out = {
        "id": inv.id, "number": inv.number, "account_id": inv.account_id, "account_name": account_name,
        "kind": inv.kind, "status": inv.status, "currency": inv.currency,
        "period_start": _iso(inv.period_start), "period_end": _iso(inv.period_end),
        "list_price_cents": inv.list_price_cents, "discount_percent": inv.discount_percent,
        "discount_cents": inv.discount_cents, "total_cents": inv.total_cents,
        "prepaid_applied_cents": inv.prepaid_applied_cents, "card_charged_cents": inv.card_charged_cents,
        "created_at": _iso(inv.created_at), "paid_at": _iso(inv.paid_at),
        "pdf_url": hosts.dashboard_url(f"{API_PREFIX}/invoices/{inv.id}.pdf"),
    }
    if lines:
        out["lines"] = [{"description": line.description, "quantity": line.quantity, "unit_cents": line.unit_cents,
                         "amount_cents": line.amount_cents} for line in inv.lines]
    return out


def pushdown(row, automation, counts: dict) -> dict:
    return {
        "id": row.id, "automation_id": row.automation_id, "automation_name": automation.name if automation else None,
        "status": row.status, "version_number": row.version_number, "active": row.active,
        "activation_mode": row.activation_mode, "activate_at": _iso(row.activate_at),
        "created_at": _iso(row.created_at), "published_at": _iso(row.published_at),
        "parent_changed": bool(row.status == "published" and automation is not None
                               and automation.current_version != row.version_number),
        "counts": counts,
    }


def report(r, account_name: str) -> dict:
    return {
        "id": r.id, "account_id": r.account_id, "account_name": account_name, "kind": r.kind,
        "severity": r.severity, "status": r.status, "description": r.description, "evidence": r.evidence,
        "sample_message": r.sample_message, "agency_reply": r.agency_reply, "created_at": _iso(r.created_at),
        "acknowledged_at": _iso(r.acknowledged_at), "closed_at": _iso(r.closed_at),
        "account_disabled_at": _iso(r.account_disabled_at),
    }


def payout(p) -> dict:
    """A commission payout (C3): one per month, paid to the agency's PayPal e-mail."""
    return {
        "id": p.id, "month": p.month, "amount_cents": p.amount_cents, "currency": get_catalog().currency,
        "paypal_email": p.paypal_email, "status": p.status, "reference": p.reference, "error": p.error,
        "unclaimed": p.unclaimed, "attempt": p.attempt, "created_at": _iso(p.created_at), "paid_at": _iso(p.paid_at),
        "next_attempt_at": _iso(p.next_attempt_at),
    }
