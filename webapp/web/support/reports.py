"""The support console's abuse and bounce reports (S6, N3): the queue (open and acknowledged; the status
in the URL), filing a report against any hosted account, and each report's Close, Disable account and
Enable account. Views parse and call services/reports.py, which audits and e-mails the agency."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import reports
from ...services.errors import Conflict
from ...services.scope import parse_page
from ..decorators import current_actor, support_required
from ..forms import submit
from ..rendering import render
from .blueprint import bp
from .forms import ReportForm


@bp.route("/support/reports", endpoint="reports")
@support_required
def reports_queue():
    status = request.args.get("status") if request.args.get("status") in reports.QUEUE_FILTERS else "waiting"
    result = reports.queue(status, parse_page(request.args.get("page")))
    return render("support/reports.html", "support/_reports.html", result=result, status=status)


@bp.route("/support/reports/new", methods=["GET", "POST"])
@support_required
def new_report():
    """File a report; the account comes from the console's search (?account=<name>) or is typed."""
    form = ReportForm()
    if request.method == "GET" and request.args.get("account"):
        form.account.data = request.args["account"][:40]
    sent = submit(form, lambda: reports.file(reports.ReportInput(
        account=form.account.data or "", kind=form.kind.data or "", severity=form.severity.data or "",
        description=form.description.data or "", evidence=form.evidence.data or "",
        sample_message=form.sample_message.data or ""), staff=current_user, actor=current_actor()))
    if sent.done:
        flash(_("Report %(id)s is filed and the agency was e-mailed.", id=sent.value.id)
              if sent.value.agency_id else
              _("Report %(id)s is filed. The account has no agency, so no one was e-mailed.", id=sent.value.id),
              "success")
        return redirect(url_for("support.report", report_id=sent.value.id), code=303)
    response = render("support/report_new.html", form=form)
    response.status_code = sent.status
    return response


def _report_page(report_id, status: int = 200, problem: str | None = None):
    response = render("support/report.html", **reports.detail(reports.staff_get(report_id)), problem=problem)
    response.status_code = status
    return response


@bp.route("/support/reports/<report_id>")
@support_required
def report(report_id):
    return _report_page(report_id)


def _act(report_id, act, done):
    """One decision: a 303 back to the report when done; when the report or its account no longer allows
    it (already closed, already disabled...), the page again with why (409)."""
    reports.staff_get(report_id)  # an unknown id is a 404 before anything else
    try:
        row = act()
    except Conflict as exc:
        return _report_page(report_id, 409, problem=exc.message)
    flash(done(row), "success")
    return redirect(url_for("support.report", report_id=row.id), code=303)


@bp.route("/support/reports/<report_id>/close", methods=["POST"])
@support_required
def close_report(report_id):
    return _act(report_id, lambda: reports.close(report_id, staff=current_user, actor=current_actor()),
                lambda r: _("Report %(id)s is closed.", id=r.id))


@bp.route("/support/reports/<report_id>/disable-account", methods=["POST"])
@support_required
def disable_account(report_id):
    return _act(report_id, lambda: reports.disable_account(report_id, staff=current_user, actor=current_actor()),
                lambda r: _("The account is disabled for abuse and the agency was told."))


@bp.route("/support/reports/<report_id>/enable-account", methods=["POST"])
@support_required
def enable_account(report_id):
    return _act(report_id, lambda: reports.enable_account(report_id, staff=current_user, actor=current_actor()),
                lambda r: _("The account is enabled again."))
