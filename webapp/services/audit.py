"""Writing the audit log. The caller says who did it; nothing here reads the request."""
from __future__ import annotations

from dataclasses import dataclass

from ..extensions import db
from ..models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is acting: "user:12", "account_user:3", "api_token:5" or "system"."""

    ref: str
    label: str
    ip: str | None = None
    agency_id: int | None = None
    # An agency user's role in the team (or an API token's creator's): what services.permissions allows.
    team_role: str | None = None

    @classmethod
    def system(cls) -> "Actor":
        return cls("system", "AgencyHQ")


def record(actor: Actor, action: str, *, agency_id: int | None = None, account_id: int | None = None,
           **detail) -> AuditEvent:
    """Adds an event to the session; it commits with the change it describes."""
    event = AuditEvent(actor=actor.ref, actor_label=actor.label[:254], action=action,
                       agency_id=agency_id if agency_id is not None else actor.agency_id,
                       account_id=account_id, ip=actor.ip, detail=detail)
    db.session.add(event)
    return event
