"""Where a service says what just happened to an agency's account, credits, pushdown, report or payout, in
the transaction that made it happen. What listens is wired by webapp/jobs/registry.py (EVENT_TELLERS: the
webhooks' events, services/agency_events.py), so a service that changes an account does not import what
describes one (the serializers read renewals, resold and billing, which themselves change accounts)."""
from __future__ import annotations

from flask import current_app


def _tell(name: str, *args, **kwargs) -> None:
    teller = current_app.extensions.get("event_tellers", {}).get(name)
    if teller is not None:
        teller(*args, **kwargs)


def account(row, type: str, *, agency_id: int | None = None) -> None:
    """account.provisioned, .plan_changed, .cancelled, .expired, .disabled, .enabled, .transferred_in, .detached
    (to `agency_id`, the agency a detached account left)."""
    _tell("account", row, type, agency_id=agency_id)


def accounts(ids, type: str) -> None:
    _tell("accounts", ids, type)


def credits_allocated(agency_id: int, account_row, kind: str, amount: int, balance: int) -> None:
    _tell("credits_allocated", agency_id, account_row, kind, amount, balance)


def pushdown(row, type: str) -> None:
    _tell("pushdown", row, type)


def report_opened(row) -> None:
    _tell("report_opened", row)


def payout(row, type: str) -> None:
    _tell("payout", row, type)


def invoices_paid(rows) -> None:
    """For invoices paid outside billing.settle (the renewal batches); settle tells its hooks (BILLING_HOOKS)."""
    _tell("invoices_paid", rows)


def invoice_payment_failed(row) -> None:
    _tell("invoice_payment_failed", row)


def invoice_refunded(row) -> None:
    """A refund made outside AgencyHQ (in the processor's dashboard), as the processor tells us."""
    _tell("invoice_refunded", row)
