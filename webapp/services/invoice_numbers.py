"""B4: invoice numbers gap-free per calendar year: 2026-000001, 2026-000002, ...

The rule an accountant reads (README, "Invoices"):
- an invoice is *issued* when it is paid (prepaid credit and card together cover it), in the transaction
  that marks it paid; it then takes the next number of the year of that moment (UTC), its date of issue,
  and a copy of who it is made out to (the agency's billing details then) and who issues it;
- until then (a charge being made, a declined renewal waiting for its retry) it carries a provisional
  reference "P-<id>" and is not part of the sequence; a purchase whose card is declined never is;
- a number, once given, is never given again and never taken back: a paid invoice refunded later keeps its
  number and is shown void;
- the invoices made before this rule keep their "INV-YYYYMM-<id>" numbers (migration 0017 marks them issued).

How: one counter row per year, moved by a conditional UPDATE ... RETURNING in the paying transaction. On
PostgreSQL the row stays locked until that transaction ends, so a concurrent issue waits and takes the next
number; on SQLite the writer's lock does the same. A transaction that rolls back gives its number back
with it, so the sequence has no gap."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Invoice, InvoiceNumberCounter, utcnow
from . import billing_details


def provisional_reference(invoice_id: int) -> str:
    return f"P-{invoice_id:08d}"


def is_provisional(invoice: Invoice) -> bool:
    return invoice.issued_at is None


def format_number(year: int, sequence: int) -> str:
    return f"{year}-{sequence:06d}"


def take(year: int, count: int = 1) -> int:
    """Takes the next `count` numbers of `year` in the caller's transaction; returns the first."""
    for _ in range(2):
        last = db.session.execute(
            sa.update(InvoiceNumberCounter).where(InvoiceNumberCounter.year == year)
            .values(last_number=InvoiceNumberCounter.last_number + count)
            .returning(InvoiceNumberCounter.last_number)
            .execution_options(synchronize_session=False)).scalar()
        if last is not None:
            return last - count + 1
        # The year's first invoice: its row, once, whoever gets there first (the other waits, then updates).
        insert = (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)
        db.session.execute(insert(InvoiceNumberCounter).values(year=year, last_number=0)
                           .on_conflict_do_nothing(index_elements=["year"]))
    raise RuntimeError(f"the invoice counter of {year} could not be read")


def issued_values(invoices: list[Invoice], when: datetime | None = None) -> dict[int, dict]:
    """What each invoice not yet issued becomes once issued at `when` (now): {invoice id: columns}. Takes
    their numbers in the caller's transaction, in the order of their ids; already issued ones are left out."""
    when = when or utcnow()
    pending = sorted((i for i in invoices if i.issued_at is None), key=lambda i: i.id)
    if not pending:
        return {}
    first = take(when.year, len(pending))
    issuer, parties = billing_details.issuer(), {}  # a sweep's batch: one agency's details read once

    def billed_to(invoice):
        key = ("agency", invoice.agency_id) if invoice.agency_id is not None else ("account", invoice.account_id)
        if key not in parties:
            parties[key] = billing_details.billed_to(invoice)
        return parties[key]

    return {invoice.id: {"number": format_number(when.year, first + n), "issued_at": when,
                         "billed_to": billed_to(invoice), "issuer": issuer}
            for n, invoice in enumerate(pending)}


def issue(invoice: Invoice, when: datetime | None = None) -> Invoice:
    """Gives the invoice its number, its date of issue and its parties, in the caller's (paying)
    transaction. An invoice already issued keeps what it has."""
    for name, value in issued_values([invoice], when).get(invoice.id, {}).items():
        setattr(invoice, name, value)
    return invoice
