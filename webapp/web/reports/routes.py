"""Abuse and bounce reports in the dashboard (S6, N3): the agency's list (filtered by status in the URL),
one report, and "Acknowledge" with a reply. Views parse and call services/reports.py."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import reports
from ...services.errors import Conflict, ValidationFailed
from ...services.scope import parse_page
from ..decorators import agency_required, current_actor, current_scope, permission_required
from ..forms import submit
from ..rendering import render
from .blueprint import bp
from .forms import AcknowledgeForm


@bp.route("/reports")
@agency_required
@permission_required("view")
def index():
    status = request.args.get("status") if request.args.get("status") in reports.STATUSES else ""
    result = reports.listing(current_scope(), actor=current_actor(), status=status,
                             page=parse_page(request.args.get("page")))
    return render("reports/index.html", "reports/_list.html", result=result, status=status,
                  statuses=reports.STATUSES)


def _page(report, form: AcknowledgeForm, status: int = 200):
    response = render("reports/show.html", **reports.detail(report), form=form)
    response.status_code = status
    return response


@bp.route("/reports/<report_id>")
@agency_required
@permission_required("view")
def show(report_id):
    return _page(reports.get(current_scope(), report_id, actor=current_actor()), AcknowledgeForm(formdata=None))


@bp.route("/reports/<report_id>/acknowledge", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def acknowledge(report_id):
    report = reports.get(current_scope(), report_id, actor=current_actor())  # another agency's: 404 first
    form = AcknowledgeForm()
    sent = submit(form, lambda: reports.acknowledge(current_scope(), report.id, reply=form.reply.data or "",
                                                    user=current_user, actor=current_actor()),
                  refusals=(ValidationFailed, Conflict))
    if sent.done:
        flash(_("Report %(id)s is acknowledged; support sees your reply.", id=report.id), "success")
        return redirect(url_for("reports.show", report_id=report.id), code=303)
    return _page(report, form, sent.status)
