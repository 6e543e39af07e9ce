"""The Automations tab (P2), the pushdown wizard (P3), publishing (P4), the switch for all (P5),
updates (P6), drafts (P7), the report page, and what agencies without pushdown see (P10)."""
import functools
import json

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...extensions import db
from ...models import Agency, Automation
from ...services import pushdown
from ...services.errors import ServiceError
from ..decorators import agency_required, current_actor, permission_required
from ..forms import apply_errors
from ..rendering import render, wants_fragment
from .blueprint import bp
from .forms import PublishForm


def franchise_required(view):
    """P10: agencies without pushdown see what it is and how to get it."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        agency = db.session.get(Agency, current_user.agency_id)
        if not agency.franchise_enabled:
            return render("pushdown/not_enabled.html"), 403 if request.endpoint != "pushdown.index" else 200
        return view(*args, **kwargs)
    return wrapper


def _pushdown(pushdown_id):
    return pushdown.pushdown(current_user.agency_id, pushdown_id)


@bp.route("/automations")
@agency_required
@franchise_required
@permission_required("library")
def index():
    return render("pushdown/index.html", rows=pushdown.listing(current_user.agency_id))


@bp.route("/automations/new", methods=["GET", "POST"])
@agency_required
@franchise_required
@permission_required("library")
def new():
    """P3, step 1: exactly one automation of the parent account (searchable)."""
    q = (request.args.get("q") or "")[:100]
    errors, status = {}, 200
    if request.method == "POST":
        try:
            row = pushdown.create_draft(current_user.agency_id, request.form.getlist("automation_id"), current_actor())
        except ServiceError as exc:
            errors, status = exc.fields or {"automation_id": exc.message}, exc.status
        else:
            return redirect(url_for("pushdown.edit", pushdown_id=row.id), code=303)
    automations = pushdown.parent_automations(current_user.agency_id, q)
    return render("pushdown/new.html", "pushdown/_automation_choices.html", automations=automations, q=q,
                  errors=errors, chosen=None), status


@bp.route("/automations/<pushdown_id>/edit")
@agency_required
@franchise_required
@permission_required("library")
def edit(pushdown_id):
    row = _pushdown(pushdown_id)
    if row.status == "published":
        return redirect(url_for("pushdown.view", pushdown_id=row.id))
    return _edit_page(row, PublishForm(formdata=None, obj=_activation_defaults(row)))


def _activation_defaults(row):
    class Values:
        activation = row.activation_mode
        activate_tz = row.activate_tz or current_user.timezone or "UTC"
        publish_tz = row.publish_tz or current_user.timezone or "UTC"
        activate_date = activate_time = publish_date = publish_time = ""
    if row.activate_at and row.activate_tz:
        from zoneinfo import ZoneInfo
        local = row.activate_at.astimezone(ZoneInfo(row.activate_tz))
        Values.activate_date, Values.activate_time = local.date().isoformat(), local.strftime("%H:%M")
    if row.publish_at and row.publish_tz:
        from zoneinfo import ZoneInfo
        local = row.publish_at.astimezone(ZoneInfo(row.publish_tz))
        Values.publish_date, Values.publish_time = local.date().isoformat(), local.strftime("%H:%M")
    return Values


def _edit_page(row, form, status=200, errors=None):
    q = (request.args.get("q") or "")[:100]
    accounts, matching = pushdown.candidates(row, q)
    return render("pushdown/edit.html", "pushdown/_accounts.html", row=row, form=form, q=q, accounts=accounts,
                  matching=matching, selected=pushdown.selected_count(row), errors=errors or {},
                  automations=pushdown.parent_automations(current_user.agency_id),
                  automation=db.session.get(Automation, row.automation_id)), status


@bp.route("/automations/<pushdown_id>/automation", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def change_automation(pushdown_id):
    row = _pushdown(pushdown_id)
    try:
        pushdown.change_automation(row, request.form.getlist("automation_id"))
    except ServiceError as exc:
        return _edit_page(row, PublishForm(formdata=None, obj=_activation_defaults(row)), exc.status,
                          exc.fields or {"automation_id": exc.message})
    return redirect(url_for("pushdown.edit", pushdown_id=row.id), code=303)


@bp.route("/automations/<pushdown_id>/accounts", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def accounts(pushdown_id):
    """P3, step 2: add or remove sub-accounts, or all that match the search; a running count."""
    row = _pushdown(pushdown_id)
    q = (request.form.get("q") or "")[:100]
    action = request.form.get("action", "")
    ids = request.form.getlist("account_id")
    errors, status = {}, 200
    try:
        if action == "add":
            pushdown.select(row, ids)
        elif action == "remove":
            pushdown.unselect(row, ids)
        elif action == "add_matching":
            pushdown.select_matching(row, q)
        elif action == "remove_all":
            pushdown.unselect(row, None)
    except ServiceError as exc:
        errors, status = exc.fields or {"accounts": exc.message}, exc.status
    if wants_fragment():
        accounts_, matching = pushdown.candidates(row, q)
        return render_template("pushdown/_accounts.html", row=row, q=q, accounts=accounts_, matching=matching,
                               selected=pushdown.selected_count(row), errors=errors), status
    if status != 200:
        flash(next(iter(errors.values())), "danger")
    return redirect(url_for("pushdown.edit", pushdown_id=row.id, q=q or None), code=303)


@bp.route("/automations/<pushdown_id>/publish", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def publish(pushdown_id):
    """P3, last step: Publish now, Schedule, or Save as draft."""
    row = _pushdown(pushdown_id)
    form = PublishForm()
    if not form.validate_on_submit():
        return _edit_page(row, form, 422, {"publish": _("The form expired; try again.")})
    activation = pushdown.ActivationInput(form.activation.data or "none", form.activate_date.data or "",
                                          form.activate_time.data or "", form.activate_tz.data or "")
    choice = request.form.get("submit", "draft")
    try:
        if choice == "now":
            pushdown.publish(row, activation, current_actor())
            flash(_("Publishing: the automation is being copied into the sub-accounts."), "success")
            return redirect(url_for("pushdown.view", pushdown_id=row.id), code=303)
        if choice == "schedule":
            pushdown.schedule(row, activation, form.publish_date.data or "", form.publish_time.data or "",
                              form.publish_tz.data or "", current_actor())
            flash(_("Scheduled."), "success")
        else:
            pushdown.save_draft(row, activation, current_actor())
            flash(_("Saved as a draft."), "success")
    except ServiceError as exc:
        db.session.rollback()
        apply_errors(form, exc)
        return _edit_page(row, form, exc.status, exc.fields or {"publish": exc.message})
    return redirect(url_for("pushdown.index"), code=303)


@bp.route("/automations/<pushdown_id>/delete", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def delete(pushdown_id):
    row = _pushdown(pushdown_id)
    try:
        pushdown.delete_draft(row, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("pushdown.index"), code=303)
    flash(_("The draft was deleted. The automation stays in your parent account."), "success")
    return redirect(url_for("pushdown.index"), code=303)


@bp.route("/automations/<pushdown_id>")
@agency_required
@franchise_required
@permission_required("library")
def view(pushdown_id):
    """The report: per sub-account state, version held and last change; filters; a bar chart."""
    row = _pushdown(pushdown_id)
    state = request.args.get("state", "")
    state = state if state in pushdown.REPORT_STATES else ""
    q = (request.args.get("q") or "")[:100]
    after = (request.args.get("after") or "")[:100]
    rows, next_after = pushdown.report(row, state, q, after)
    numbers = pushdown.counts([row.id])[row.id]
    automation = db.session.get(Automation, row.automation_id)
    changed = row.status == "published" and automation and automation.current_version != row.version_number
    return render("pushdown/view.html", "pushdown/_report.html", row=row, rows=rows, next_after=next_after,
                  state=state, q=q, after=after, counts=numbers, automation=automation, changed=changed,
                  changes=pushdown.diff(automation, row.version_number) if changed else [],
                  chart=json.dumps({"labels": [_("Active"), _("Inactive"), _("Missing")],
                                    "values": [numbers["active"], numbers["inactive"], numbers["missing"]]}),
                  operation=pushdown.last_operation(row))


@bp.route("/automations/<pushdown_id>/progress")
@agency_required
@franchise_required
@permission_required("library")
def progress(pushdown_id):
    row = _pushdown(pushdown_id)
    return render_template("pushdown/_progress.html", row=row, operation=pushdown.last_operation(row),
                           counts=pushdown.counts([row.id])[row.id])


def _act(pushdown_id, action, done_message, **view_args):
    """A button on the View page: the service's refusal or its success as a message, back to the View."""
    row = _pushdown(pushdown_id)
    try:
        action(row, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(done_message, "success")
    return redirect(url_for("pushdown.view", pushdown_id=row.id, **view_args), code=303)


@bp.route("/automations/<pushdown_id>/switch", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def switch(pushdown_id):
    active = request.form.get("active") == "1"
    return _act(pushdown_id, lambda row, actor: pushdown.switch(row, active, actor),
                _("Active in every sub-account that holds it.") if active else
                _("Inactive in every sub-account that holds it."))


@bp.route("/automations/<pushdown_id>/update", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def update(pushdown_id):
    return _act(pushdown_id, pushdown.push_update, _("Pushing the parent's current version to every sub-account."))


@bp.route("/automations/<pushdown_id>/retry", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def retry(pushdown_id):
    return _act(pushdown_id, pushdown.retry_failed, _("Trying the failed sub-accounts again."), state="missing")
