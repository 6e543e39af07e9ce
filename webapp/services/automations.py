"""Automations as a hosted account sees them (P8): the ones it holds, and deleting one.

A copy pushed down by the agency follows its pushdown's switch (P5): the account's admin cannot
turn it on or off, only delete it, after which it counts as missing for that pushdown."""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Automation, HostedAccount, utcnow
from . import audit
from .errors import NotFound
from .scope import parse_id


def in_account(account: HostedAccount) -> list[Automation]:
    return list(db.session.scalars(sa.select(Automation).where(
        Automation.account_id == account.id, Automation.deleted_at.is_(None)).order_by(Automation.name, Automation.id)))


def get_in_account(account: HostedAccount, automation_id) -> Automation:
    row = db.session.scalar(sa.select(Automation).where(
        Automation.account_id == account.id, Automation.id == parse_id(automation_id),
        Automation.deleted_at.is_(None)))
    if row is None:
        raise NotFound()
    return row


def delete_in_account(account: HostedAccount, automation_id, actor: audit.Actor) -> Automation:
    """P8: the account's admin deletes an automation it holds. The row stays (deleted_at set) so the
    pushdown that put it there counts it as missing, and a new push can bring it back."""
    row = get_in_account(account, automation_id)
    row.deleted_at = utcnow()
    row.active = False
    audit.record(actor, "automation_deleted", agency_id=account.agency_id, account_id=account.id,
                 **{"automation_id": row.id, "name": row.name, "pushdown_id": row.source_pushdown_id})
    db.session.commit()
    return row
