"""The support console's System page (issue 25): the job queue's depth and its oldest waiting operation, the
failed operations with their errors and a Retry each, and the sweeper's last pass."""
from datetime import timedelta

from flask import flash, redirect, url_for
from flask_babel import format_timedelta, gettext as _

from ...services import system as system_status
from ...services.errors import NotFound, ServiceError
from ..decorators import current_actor, support_required
from ..rendering import render
from .blueprint import bp


def _age(seconds: float) -> str:
    return format_timedelta(timedelta(seconds=max(0, int(seconds))), threshold=1.0)


@bp.route("/support/system")
@support_required
def system():
    status = system_status.queue_status()
    response = render("support/system.html", status=status, failed=system_status.failed_operations(),
                      oldest_age=_age(status.oldest_waiting_seconds) if status.oldest_waiting else None,
                      limit=system_status.FAILED_SHOWN)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/support/system/operations/<operation_id>/retry", methods=["POST"])
@support_required
def retry_operation(operation_id):
    try:
        op = system_status.retry_failed(operation_id, current_actor())
    except NotFound:
        raise
    except ServiceError as exc:
        flash(exc.message, "warning")
    else:
        flash(_("Operation %(id)s (%(kind)s) is queued again.", id=op.id, kind=op.kind), "success")
    return redirect(url_for("support.system"), code=303)
