"""The periodic task (run_due): scheduled publishes (P3 "Schedule") and scheduled activations (P5)
whose instant has come. It publishes and switches, so it sits above both."""
from __future__ import annotations

import sqlalchemy as sa

from ...extensions import db
from ...models import Pushdown, utcnow
from .. import audit, events
from ..errors import Conflict, ValidationFailed
from .publishing import publish
from .switching import _switch


def run_due() -> None:
    """Publishes scheduled pushdowns and fires scheduled activations whose instant has come."""
    now = utcnow()
    for row in db.session.scalars(sa.select(Pushdown).where(Pushdown.status == "scheduled",
                                                            Pushdown.publish_at <= now).limit(100)).all():
        try:
            publish(row, None, audit.Actor("system:scheduler", "scheduled publish"))
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            row.status = "draft"
            audit.record(audit.Actor("system:scheduler", "scheduled publish"), "pushdown_schedule_failed",
                         agency_id=row.agency_id, **{"pushdown_id": row.id, "reason": exc.message})
            db.session.commit()
    for row in db.session.scalars(sa.select(Pushdown).where(
            Pushdown.status == "published", Pushdown.activation_mode == "at", Pushdown.activated_at.is_(None),
            Pushdown.activate_at <= now).limit(100)).all():
        _switch(row, True)
        row.activated_at = now
        audit.record(audit.Actor("system:scheduler", "scheduled activation"), "pushdown_activated",
                     agency_id=row.agency_id, **{"pushdown_id": row.id})
        events.pushdown(row, "pushdown.switched")
        db.session.commit()
