"""The Automations tab (P2), the pushdown wizard (P3), publishing (P4), the switch for all (P5),
updates (P6), drafts (P7), the report page, and what agencies without pushdown see (P10)."""
import functools
from types import SimpleNamespace

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...extensions import db
from ...models import Agency
from ...services import pushdown
from ...services.errors import Conflict, ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, permission_required
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
    """P3, step 1: exactly one automation of the parent account (searchable); then the wizard. Nothing
    is written until the wizard's draft, schedule or publish."""
    if request.method == "POST":
        return _wizard(None)
    q = (request.args.get("q") or "")[:100]
    errors, status = {}, 200
    if "automation_id" in request.args or "continue" in request.args:
        ids = [a for a in request.args.getlist("automation_id") if a.strip()]
        if len(ids) == 1:
            pushdown.parent_automation(current_user.agency_id, ids[0])  # another agency's: 404
            return _wizard(None)
        errors, status = {"automation_id": _("Choose exactly one automation: a pushdown pushes one automation.")}, 422
    automations = pushdown.parent_automations(current_user.agency_id, q)
    return render("pushdown/new.html", "pushdown/_automation_choices.html", automations=automations, q=q,
                  errors=errors, chosen=None, step=1), status


@bp.route("/automations/<pushdown_id>/edit", methods=["GET", "POST"])
@agency_required
@franchise_required
@permission_required("library")
def edit(pushdown_id):
    row = _pushdown(pushdown_id)
    if row.status == "published":
        return redirect(url_for("pushdown.view", pushdown_id=row.id))
    return _wizard(row)


def _activation_defaults(row):
    """The form's activation and schedule: the pushdown's as typed, or none, in the person's time zone."""
    activation = pushdown.activation_of(row) if row else pushdown.ActivationInput()
    publish_date, publish_time, publish_tz = pushdown.schedule_of(row) if row else ("", "", "")
    zone = current_user.timezone or "UTC"
    return SimpleNamespace(activation=activation.mode, activate_date=activation.day, activate_time=activation.at,
                           activate_tz=activation.tz or zone, publish_date=publish_date, publish_time=publish_time,
                           publish_tz=publish_tz or zone)


FINAL_CHOICES = {"draft", "schedule", "now"}


def _wizard(row):
    """P3: the automation, the sub-accounts and the activation on one form whose state travels with it
    (a Selection in hidden fields): the picker's buttons re-render it, writing nothing; "Save as
    draft", "Schedule" and "Publish now" write it all at once. With htmx the picker alone comes back."""
    agency_id = current_user.agency_id
    errors, status = {}, 200
    if request.method == "GET":
        form = PublishForm(formdata=None, obj=_activation_defaults(row))
        sel = pushdown.Selection(saved=row is not None)
        automation_id = str(row.automation_id) if row else request.args.get("automation_id", "")
        q = (request.args.get("q") or "")[:100]
    else:
        form = PublishForm()
        form.validate_on_submit()
        values = request.form
        sel = pushdown.Selection.parse(values.get("saved"), values.getlist("pick"), values.getlist("match"),
                                       values.getlist("drop"))
        automation_ids = values.getlist("automation_id")
        automation_id = automation_ids[0] if len(automation_ids) == 1 else ""
        q = (values.get("q") or "")[:100]
        action, _sep, arg = (values.get("action") or "").partition(":")
        try:
            if action in FINAL_CHOICES:
                saved = pushdown.save_wizard(
                    agency_id, row, automation_ids, sel, action,
                    pushdown.ActivationInput(form.activation.data or "none", form.activate_date.data or "",
                                             form.activate_time.data or "", form.activate_tz.data or ""),
                    (form.publish_date.data or "", form.publish_time.data or "", form.publish_tz.data or ""),
                    current_actor())
                return _saved(saved, action)
            sel = pushdown.change_selection(agency_id, sel, action, arg or None, q)
        except (ValidationFailed, Conflict) as exc:
            errors, status = _place_errors(form, exc), exc.status
            if wants_fragment() and action not in FINAL_CHOICES:
                status = 200  # htmx swaps only a success: the picker shows its own refusal
    accounts, matching, selected = pushdown.wizard_accounts(agency_id, sel, row.id if row else None, q)
    return render("pushdown/new.html", "pushdown/_accounts.html", step=2, row=row, form=form, q=q, sel=sel,
                  accounts=accounts, matching=matching, selected=selected, errors=errors,
                  automation_id=automation_id, automations=pushdown.parent_automations(agency_id)), status


def _place_errors(form, exc) -> dict:
    """Each problem once, by what it is about: the form's fields get theirs; the rest (the automation,
    the sub-accounts, a refusal of the whole) are returned for their own place on the page."""
    fields = exc.fields if isinstance(exc, ValidationFailed) else {}
    if not fields:
        return {"publish": exc.message}
    for name, message in fields.items():
        if name in form._fields:
            form[name].errors = list(form[name].errors) + [message]
    return {k: v for k, v in fields.items() if k not in form._fields}


def _saved(row, action):
    if action == "now":
        flash(_("Publishing: the automation is being copied into the sub-accounts."), "success")
        return redirect(url_for("pushdown.view", pushdown_id=row.id), code=303)
    flash(_("Scheduled.") if action == "schedule" else _("Saved as a draft."), "success")
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
    return render("pushdown/view.html", "pushdown/_report.html", row=row, rows=rows, next_after=next_after,
                  state=state, q=q, after=after, failure_text=pushdown.failure_text, **pushdown.summary(row))


@bp.route("/automations/<pushdown_id>/progress")
@agency_required
@franchise_required
@permission_required("library")
def progress(pushdown_id):
    row = _pushdown(pushdown_id)
    numbers = pushdown.counts([row.id])[row.id]
    return render_template("pushdown/_progress.html", row=row, operation=pushdown.last_operation(row),
                           counts=numbers, bars=pushdown.chart(numbers))


def _act(pushdown_id, action, done_message, **view_args):
    """A button on the View page (or a row's menu on the tab: back=index): the service's refusal or its
    success as a message, back to where it was pressed."""
    row = _pushdown(pushdown_id)
    try:
        action(row, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(done_message, "success")
    if request.form.get("back") == "index":
        return redirect(url_for("pushdown.index", _anchor=f"pushdown-{row.id}"), code=303)
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
