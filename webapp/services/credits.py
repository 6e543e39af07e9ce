"""B3, B6, B7: credit bought into the agency's pool is assigned to accounts as they need it, moved between
accounts and back to the pool. Each move is two ledger entries (out of one balance, into the other) written in
one transaction under one key, so a second press moves nothing more; the balance it leaves is taken with a
conditional UPDATE, so concurrent moves never take a balance below zero."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask_babel import format_currency, format_decimal
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ..catalog import get_catalog
from ..extensions import db
from ..models import CreditBalance, CreditEntry, HostedAccount
from . import audit, billing, events, keys, permissions
from .errors import NotFound, ValidationFailed

KINDS = ("prepaid", "sms", "compatibility")
MAX_AMOUNT = 10**9


def parse_amount(kind: str, text) -> int:
    """An amount as a person types it: credits are whole numbers; prepaid credit is money ("25" or "25.50",
    in cents from here on). ValidationFailed by the field otherwise."""
    value = str(text if text is not None else "").strip().replace(",", "")
    if kind == "prepaid":
        match = re.fullmatch(r"(\d{1,7})(?:\.(\d{1,2}))?", value)
        if not match:
            problem = str(_l("Enter an amount of money, such as 25 or 25.50."))
            raise ValidationFailed(problem, {"amount": problem})
        cents = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    else:
        if not re.fullmatch(r"\d{1,9}", value):
            problem = str(_l("Enter a whole number of credits, such as 500."))
            raise ValidationFailed(problem, {"amount": problem})
        cents = int(value)
    if cents <= 0:
        problem = str(_l("Enter an amount above zero."))
        raise ValidationFailed(problem, {"amount": problem})
    return cents


def _scope_of(account: HostedAccount | None) -> str:
    return f"account:{account.id}" if account is not None else "agency"


def _name(account: HostedAccount | None) -> str:
    return account.name if account is not None else "the pool"


def move(agency_id: int, kind: str, amount: int, *, source: HostedAccount | None, target: HostedAccount | None,
         request_key: str, actor: audit.Actor) -> dict:
    """Moves `amount` of `kind` from `source` to `target` (None: the agency's pool). Refused with a clear message,
    nothing moved, when the amount is not a positive whole amount, the source holds less, an account is another
    agency's (NotFound), source and target are the same, or the target may not receive that credit now."""
    permissions.require(actor, "charge")
    if kind not in KINDS:
        raise ValidationFailed(str(_l("Unknown kind of credit.")), {"kind": str(_l("Unknown kind of credit."))})
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        problem = str(_l("Enter an amount above zero."))
        raise ValidationFailed(problem, {"amount": problem})
    for account in (source, target):
        if account is not None and account.agency_id != agency_id:
            raise NotFound()
    if _scope_of(source) == _scope_of(target):
        problem = str(_l("Choose a different account to move the credit to."))
        raise ValidationFailed(problem, {"target": problem})
    if target is not None:
        problem = billing.receivable_problem(target, kind)
        if problem:
            raise ValidationFailed(problem, {"target": problem})
    key = keys.credit_move(agency_id, request_key)
    if db.session.scalar(sa.select(CreditEntry.id).where(CreditEntry.idempotency_key == key + ":out")):
        return {"moved": 0, "repeated": True}
    src = billing._balance_row(agency_id, kind, _scope_of(source), source.id if source else None)
    dst = billing._balance_row(agency_id, kind, _scope_of(target), target.id if target else None)
    if not billing.spend_credit(src.id, amount):
        db.session.rollback()
        held = billing.balance(agency_id, kind, source.id if source else None)
        shown = _shown(kind, held)
        problem = str(_l("%(owner)s holds only %(amount)s: nothing was moved.",
                         owner=source.name if source else _l("Your pool"), amount=shown))
        raise ValidationFailed(problem, {"amount": problem})
    db.session.execute(sa.update(CreditBalance).where(CreditBalance.id == dst.id)
                       .values(balance=CreditBalance.balance + amount))
    db.session.add_all([
        CreditEntry(balance_id=src.id, delta=-amount, reason=f"Moved to {_name(target)}"[:200],
                    idempotency_key=key + ":out"),
        CreditEntry(balance_id=dst.id, delta=amount, reason=f"Moved from {_name(source)}"[:200],
                    idempotency_key=key + ":in")])
    audit.record(actor, "credit_moved", agency_id=agency_id, account_id=(target or source).id if (target or source) else None,
                 kind=kind, amount=amount, source=_name(source), target=_name(target))
    try:
        if target is not None:
            db.session.flush()
            events.credits_allocated(agency_id, target, kind, amount,
                                            billing.balance(agency_id, kind, target.id))
        db.session.commit()
    except IntegrityError:  # the same press, committed by a concurrent request first
        db.session.rollback()
        return {"moved": 0, "repeated": True}
    return {"moved": amount, "repeated": False}


def _shown(kind: str, amount: int) -> str:
    if kind == "prepaid":
        return format_currency(amount / 100, get_catalog().currency)
    return format_decimal(amount)


def pool(agency_id: int, kind: str) -> int:
    return billing.balance(agency_id, kind)
