"""The support console (S6): what waits for staff, and the audit log."""
import sqlalchemy as sa

from ...extensions import db
from ...models import AuditEvent, SupportRequest
from ..decorators import support_required
from ..rendering import render
from . import bp


@bp.route("/support")
@support_required
def index():
    open_requests = db.session.scalars(
        sa.select(SupportRequest).where(SupportRequest.status.in_(("open", "awaiting_client")))
        .order_by(SupportRequest.created_at).limit(50)).all()
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .limit(50)).all()
    return render("support/index.html", open_requests=open_requests, events=events)
