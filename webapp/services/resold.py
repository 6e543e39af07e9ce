"""The Resold tab's queries: the agency's accounts and its discount summary (R5, R10)."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..catalog import get_catalog
from ..extensions import db
from ..models import HostedAccount
from .scope import AgencyScope

PAID_STATUSES = ("active", "cancelled", "disabled")


@dataclass(frozen=True)
class Summary:
    paid_accounts: int
    discount_percent: int
    next_tier_percent: int | None
    accounts_to_next_tier: int | None


def paid_account_count(scope: AgencyScope) -> int:
    return db.session.scalar(scope.select(HostedAccount, sa.func.count()).where(
        HostedAccount.kind == "resold", HostedAccount.plan_term != "trial",
        HostedAccount.status.in_(PAID_STATUSES))) or 0


def summary(scope: AgencyScope) -> Summary:
    catalog = get_catalog()
    paid = paid_account_count(scope)
    nxt = catalog.next_discount_tier(paid)
    return Summary(paid, catalog.discount_percent(paid), nxt.percent if nxt else None,
                   nxt.min_paid_accounts - paid if nxt else None)


def first_page(scope: AgencyScope, limit: int = 25):
    return db.session.scalars(scope.accounts().where(HostedAccount.kind == "resold")
                              .order_by(HostedAccount.name).limit(limit)).all()
