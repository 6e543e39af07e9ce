"""What happened to an agency's accounts, invoices, credits, pushdowns, reports and payouts, told to its
webhooks (issue 24, X1). Each event is added to the session of the change it describes (webhooks.emit),
so it commits or rolls back with it, and carries the object as the API answers it (serializers.py).

The services call these where the change is made; the billing ones are hooks of the payment cycle,
wired in webapp/jobs/registry.py."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Automation, HostedAccount, Invoice, Operation
from . import serializers, webhooks


def _fresh(row) -> None:
    """Rows changed by a Core UPDATE (conditional, race-safe) are read again before they are described."""
    db.session.flush()
    db.session.expire(row)


def account(row: HostedAccount, type: str, *, agency_id: int | None = None) -> None:
    """An account.* event, to the account's agency (or to `agency_id`: the one a detached account left). The
    parent account (P1) is the agency's workshop, not an account it resells: nothing is told of it."""
    if row is None or row.kind == "parent":
        return
    from .billing import discount_in_force  # billing calls the invoice hooks below
    _fresh(row)
    discount = discount_in_force(row.agency_id) if row.agency_id is not None else 0
    webhooks.emit(agency_id or row.agency_id, type, serializers.account(row, discount), account_id=row.id)


def accounts(ids, type: str) -> None:
    for row in db.session.scalars(sa.select(HostedAccount).where(HostedAccount.id.in_(list(ids)))
                                  .order_by(HostedAccount.id)):
        account(row, type)


def provisioning_failed(op: Operation) -> None:
    """The failure hook of a provisioning operation (registry.ON_FAILED): after its last attempt."""
    if op.subject_type == "account":
        account(db.session.get(HostedAccount, op.subject_id), "account.provisioning_failed")


def _invoice(row: Invoice, type: str) -> None:
    if row.agency_id is None:  # a client's own invoice (a referred or detached account): not the agency's
        return
    name = db.session.scalar(sa.select(HostedAccount.name).where(HostedAccount.id == row.account_id)) \
        if row.account_id else None
    webhooks.emit(row.agency_id, type, serializers.invoice(row, name, lines=True), account_id=row.account_id)


def invoice_paid(row: Invoice) -> None:
    _invoice(row, "invoice.paid")


def invoices_paid(rows: list[Invoice]) -> None:
    """invoice.paid for a batch of invoices paid by bulk statements (the renewal batches): read again with
    their lines and accounts' names in three queries, not three per invoice."""
    ids = [row.id for row in rows if row.agency_id is not None]
    if not ids:
        return
    fresh = db.session.scalars(sa.select(Invoice).where(Invoice.id.in_(ids)).order_by(Invoice.id)
                               .options(selectinload(Invoice.lines))
                               .execution_options(populate_existing=True)).all()
    names = dict(db.session.execute(sa.select(HostedAccount.id, HostedAccount.name).where(
        HostedAccount.id.in_({row.account_id for row in fresh if row.account_id}))).all())
    for row in fresh:
        webhooks.emit(row.agency_id, "invoice.paid", serializers.invoice(row, names.get(row.account_id), lines=True),
                      account_id=row.account_id)


def invoice_payment_failed(row: Invoice) -> None:
    _invoice(row, "invoice.payment_failed")


def invoice_refunded(row: Invoice) -> None:
    _invoice(row, "invoice.refunded")


def credits_allocated(agency_id: int, account_row: HostedAccount, kind: str, amount: int, balance: int) -> None:
    """Credits that reached an account: bought for it, or moved to it from the pool or another account."""
    webhooks.emit(agency_id, "credits.allocated", {
        "account_id": account_row.id, "account_name": account_row.name, "kind": kind, "amount": amount,
        "balance": balance}, account_id=account_row.id)


def pushdown(row, type: str) -> None:
    from .pushdown import counts  # the pushdown package calls this module
    db.session.flush()
    webhooks.emit(row.agency_id, type, serializers.pushdown(row, db.session.get(Automation, row.automation_id),
                                                            counts([row.id])[row.id]))


def report_opened(row) -> None:
    name = db.session.scalar(sa.select(HostedAccount.name).where(HostedAccount.id == row.account_id))
    webhooks.emit(row.agency_id, "report.opened", serializers.report(row, name), account_id=row.account_id)


def payout(row, type: str) -> None:
    webhooks.emit(row.agency_id, type, serializers.payout(row))
