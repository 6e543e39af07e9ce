"""B4: reading the agency's invoices and ledgers (filters, pages, spend per month)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from ..extensions import db
from ..models import CreditBalance, CreditEntry, GatewayCall, HostedAccount, Invoice
from .scope import AgencyScope, parse_page

PAGE_SIZE = 50


def valid_month(value) -> bool:
    """A month as the URLs write it: "2026-11", of a year whose month and the next are real dates (the bounds
    of 9999-12 or 0000-01 are not)."""
    return (isinstance(value, str) and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value) is not None
            and 1 <= int(value[:4]) <= 9998)


@dataclass(frozen=True)
class HistoryFilters:
    account: str = ""
    month: str = ""  # "2026-11"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "HistoryFilters":
        account = (args.get("account") or "").strip().lower()[:40]
        month = args.get("month") or ""
        if not valid_month(month):
            month = ""
        return cls(account, month, parse_page(args.get("page")))

    def params(self, **changes) -> dict:
        values = {"account": self.account, "month": self.month, "page": self.page, **changes}
        return {k: v for k, v in values.items() if v and not (k == "page" and v == 1)}


@dataclass(frozen=True)
class InvoicePage:
    rows: list  # (invoice, account name)
    total: int
    page: int
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def _filtered(scope: AgencyScope, filters: HistoryFilters):
    stmt = (scope.select(Invoice, Invoice, HostedAccount.name)
            .outerjoin(HostedAccount, HostedAccount.id == Invoice.account_id))
    if filters.account:
        stmt = stmt.where(HostedAccount.name == filters.account)
    if filters.month:
        start, end = month_bounds(filters.month)
        stmt = stmt.where(Invoice.created_at >= start, Invoice.created_at < end)
    return stmt


def invoices(scope: AgencyScope, filters: HistoryFilters, page_size: int = PAGE_SIZE) -> InvoicePage:
    """One page, newest first; a page past the end is the last one."""
    stmt = _filtered(scope, filters)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    pages = max(1, math.ceil(total / page_size))
    page = min(filters.page, pages)
    rows = db.session.execute(stmt.order_by(Invoice.created_at.desc(), Invoice.id.desc())
                              .limit(page_size).offset((page - 1) * page_size)).all()
    return InvoicePage([(r[0], r[1]) for r in rows], total, page, page_size)


def all_invoices(scope: AgencyScope, filters: HistoryFilters):
    """Every matching invoice, streamed in batches (the CSV export)."""
    stmt = _filtered(scope, filters).order_by(Invoice.created_at, Invoice.id).execution_options(yield_per=1000)
    for row in db.session.execute(stmt):
        yield row[0], row[1]


def _month_key(column):
    dialect = db.session.get_bind().dialect.name
    return sa.func.to_char(column, "YYYY-MM") if dialect == "postgresql" else sa.func.strftime("%Y-%m", column)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of a month ("2026-11") and of the next, in UTC."""
    year, number = map(int, month.split("-"))
    return (datetime(year, number, 1, tzinfo=timezone.utc),
            datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=timezone.utc))


def spend_by_month(scope: AgencyScope, months: int = 12) -> list[dict]:
    """What the agency paid per month, for the chart, oldest first: every paid invoice of the month it was
    issued (UTC), prepaid purchases included, split into what the card paid and what prepaid credit paid.
    Each month's total is the sum of those invoices' totals (the month's statement says the same)."""
    key = _month_key(Invoice.issued_at)
    stmt = (scope.select(Invoice, key.label("month"), sa.func.count().label("invoices"),
                         sa.func.sum(Invoice.total_cents).label("total"),
                         sa.func.sum(Invoice.card_charged_cents).label("card"),
                         sa.func.sum(Invoice.prepaid_applied_cents).label("prepaid"))
            .where(Invoice.status == "paid", Invoice.issued_at.is_not(None))
            .group_by(key).order_by(key.desc()).limit(months))
    rows = db.session.execute(stmt).all()
    return [{"month": r.month, "invoices": int(r.invoices), "total_cents": int(r.total), "card_cents": int(r.card),
             "prepaid_cents": int(r.prepaid)} for r in reversed(rows)]


@dataclass(frozen=True)
class Statement:
    """A month's statement: every invoice issued to the agency that month (UTC), oldest first, and the sums
    of the paid ones (a voided invoice is listed, and adds nothing)."""

    month: str
    rows: list  # (invoice, account name)
    total_cents: int
    card_cents: int
    prepaid_cents: int
    discount_cents: int

    @property
    def start(self):
        return month_bounds(self.month)[0].date()


def statement(scope: AgencyScope, month: str) -> Statement:
    start, end = month_bounds(month)
    rows = db.session.execute(
        scope.select(Invoice, Invoice, HostedAccount.name)
        .outerjoin(HostedAccount, HostedAccount.id == Invoice.account_id)
        .where(Invoice.issued_at >= start, Invoice.issued_at < end)
        .order_by(Invoice.issued_at, Invoice.id)).all()
    paid = [r[0] for r in rows if r[0].status == "paid"]
    return Statement(month, [(r[0], r[1]) for r in rows], sum(i.total_cents for i in paid),
                     sum(i.card_charged_cents for i in paid), sum(i.prepaid_applied_cents for i in paid),
                     sum(i.discount_cents for i in paid))


def assigned_balances(scope: AgencyScope, kind: str, limit: int = 100) -> list:
    return db.session.execute(
        scope.select(CreditBalance, HostedAccount.name, CreditBalance.balance)
        .join(HostedAccount, HostedAccount.id == CreditBalance.account_id)
        .where(CreditBalance.kind == kind, CreditBalance.balance > 0)
        .order_by(HostedAccount.name).limit(limit)).all()


def ledger(scope: AgencyScope, kind: str, limit: int = 50) -> list:
    return db.session.execute(
        sa.select(CreditEntry, CreditBalance.scope)
        .join(CreditBalance, CreditBalance.id == CreditEntry.balance_id)
        .where(CreditBalance.agency_id == scope.agency_id, CreditBalance.kind == kind, CreditEntry.delta != 0)
        .order_by(CreditEntry.id.desc()).limit(limit)).all()


def account_name_suggestions(scope: AgencyScope, prefix: str, limit: int = 10) -> list[str]:
    prefix = (prefix or "").strip().lower()
    if not prefix:
        return []
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(db.session.scalars(
        scope.select(HostedAccount, HostedAccount.name).where(
            HostedAccount.kind == "resold", HostedAccount.name.like(escaped + "%", escape="\\"))
        .order_by(HostedAccount.name).limit(limit)))


def gateway_calls(invoice: Invoice) -> list[GatewayCall]:
    return list(db.session.scalars(sa.select(GatewayCall).where(GatewayCall.invoice_id == invoice.id)
                                   .order_by(GatewayCall.id)))


def held_balances(scope: AgencyScope, limit: int = 500) -> dict:
    """{(account id, name): {kind: balance}} of the agency's accounts that hold any credit."""
    held: dict = {}
    for account_id, name, kind, value in db.session.execute(
            scope.select(CreditBalance, HostedAccount.id, HostedAccount.name, CreditBalance.kind, CreditBalance.balance)
            .join(HostedAccount, HostedAccount.id == CreditBalance.account_id)
            .where(CreditBalance.balance > 0).order_by(HostedAccount.name).limit(limit)):
        held.setdefault((account_id, name), {})[kind] = value
    return held


def account_balances(account: HostedAccount) -> dict[str, int]:
    rows = db.session.execute(sa.select(CreditBalance.kind, CreditBalance.balance).where(
        CreditBalance.account_id == account.id)).all()
    return {kind: value for kind, value in rows}
