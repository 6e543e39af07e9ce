"""P5: one switch for all - a pushdown's copies are activated or deactivated together, in one
transaction; and an account that leaves its agency leaves that agency's pushdowns (A3, A4)."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ...extensions import db
from ...models import Automation, Pushdown, PushdownCopy, utcnow
from .. import audit, events, permissions
from ..errors import Conflict


# ---- P5: one switch for all -------------------------------------------------------------------------

def switch(row: Pushdown, active: bool, actor: audit.Actor) -> Pushdown:
    """"Activate all" / "Deactivate all": one UPDATE in one transaction, so the automation is never
    active in one sub-account and inactive in another; counts are exact as soon as it returns."""
    permissions.require(actor, "library")
    if row.status != "published":
        raise Conflict(str(_l("Publish the pushdown first.")))
    _switch(row, active)
    if row.activation_mode == "on_push" and row.activated_at is None:
        row.activated_at = utcnow()  # the person decided: the publish still copying does not switch it on
    audit.record(actor, "pushdown_activated" if active else "pushdown_deactivated", agency_id=row.agency_id,
                 **{"pushdown_id": row.id})
    events.pushdown(row, "pushdown.switched")
    db.session.commit()
    return row


def release_account(account_id: int, agency_id: int | None) -> None:
    """A3, A4: an account leaving `agency_id` (transferred or detached) leaves that agency's pushdowns.
    It is no longer one of their sub-accounts, and the copies it holds become its own automations:
    no later publish, update or switch of the previous agency reaches them. Part of the caller's
    transaction."""
    if agency_id is None:
        return
    theirs = sa.select(Pushdown.id).where(Pushdown.agency_id == agency_id).scalar_subquery()
    db.session.execute(sa.delete(PushdownCopy).where(PushdownCopy.account_id == account_id,
                                                     PushdownCopy.pushdown_id.in_(theirs)))
    db.session.execute(sa.update(Automation).where(Automation.account_id == account_id,
                                                   Automation.source_pushdown_id.in_(theirs))
                       .values(source_pushdown_id=None, updated_at=utcnow()))


def _switch(row: Pushdown, active: bool) -> None:
    # Locks the pushdown row first, so a publish batch and a switch never interleave.
    db.session.execute(sa.update(Pushdown).where(Pushdown.id == row.id).values(active=active))
    db.session.execute(sa.update(Automation).where(Automation.source_pushdown_id == row.id,
                                                   Automation.deleted_at.is_(None))
                       .values(active=active, updated_at=utcnow()))
    row.active = active
