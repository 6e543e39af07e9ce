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


@dataclass(frozen=True)
class HistoryFilters:
    account: str = ""
    month: str = ""  # "2026-11"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "HistoryFilters":
        account = (args.get("account") or "").strip().lower()[:40]
        month = args.get("month") or ""
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
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
        year, month = map(int, filters.month.split("-"))
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
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


def spend_by_month(scope: AgencyScope, months: int = 12) -> list[dict]:
    """What the agency paid per month (prepaid applied + card), for the chart: oldest first."""
    dialect = db.session.get_bind().dialect.name
    key = (sa.func.to_char(Invoice.paid_at, "YYYY-MM") if dialect == "postgresql"
           else sa.func.strftime("%Y-%m", Invoice.paid_at))
    stmt = (scope.select(Invoice, key.label("month"), sa.func.sum(Invoice.total_cents).label("total"),
                         sa.func.sum(Invoice.card_charged_cents).label("card"),
                         sa.func.sum(Invoice.prepaid_applied_cents).label("prepaid"))
            .where(Invoice.status == "paid", Invoice.kind != "prepaid")
            .group_by(key).order_by(key.desc()).limit(months))
    rows = db.session.execute(stmt).all()
    return [{"month": r.month, "total_cents": int(r.total), "card_cents": int(r.card),
             "prepaid_cents": int(r.prepaid)} for r in reversed(rows)]


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


def account_balances(account: HostedAccount) -> dict[str, int]:
    rows = db.session.execute(sa.select(CreditBalance.kind, CreditBalance.balance).where(
        CreditBalance.account_id == account.id)).all()
    return {kind: value for kind, value in rows}
