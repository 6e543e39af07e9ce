"""P1: automations in the agency's parent account. The step editor (add, remove, reorder with htmx; every
button a plain submit without JavaScript) is shared by this dashboard page and the parent account's own
Automations page on its host (web/client/parent_automations.py); each save is a new version (P6:
sub-accounts change only when pushed again). "Open the parent account" logs in there as its admin (A10)."""
import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import accounts, pushdown
from ...services.errors import ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, permission_required
from ..forms import apply_errors
from ..rendering import render
from .blueprint import bp
from .forms import AutomationForm
from .routes import franchise_required

STEP_FIELDS = ("type", "subject", "from_name", "template_id", "amount", "unit", "tag", "otherwise", "email")


def parse_steps(form) -> list[dict]:
    """`steps-<i>-<field>` form fields → the ordered steps as typed."""
    indexes = sorted({int(m.group(1)) for key in form for m in [re.match(r"steps-(\d{1,3})-type$", key)] if m})
    return [{f: (form.get(f"steps-{i}-{f}") or "")[:300] for f in STEP_FIELDS} for i in indexes][:pushdown.MAX_STEPS + 1]


def apply_action(steps: list[dict], action: str) -> list[dict]:
    """The editor's buttons: add-<type>, remove-<i>, up-<i>, down-<i>."""
    kind, _, arg = (action or "").partition("-")
    if kind == "add" and arg in pushdown.STEP_TYPES and len(steps) < pushdown.MAX_STEPS:
        steps.append({"type": arg, "unit": "days", "otherwise": "continue"})
    elif arg.isdigit() and int(arg) < len(steps):
        i = int(arg)
        if kind == "remove":
            steps.pop(i)
        elif kind == "up" and i > 0:
            steps[i - 1], steps[i] = steps[i], steps[i - 1]
        elif kind == "down" and i < len(steps) - 1:
            steps[i + 1], steps[i] = steps[i], steps[i + 1]
    return steps


def edit_automation(agency_id: int, row, actor):
    """The editor's request, wherever it is shown: (form, steps, step errors, status, the saved automation or
    None). A GET fills the form from the current version; a button other than Save only changes the steps."""
    form = AutomationForm()
    status, step_errors, saved = 200, {}, None
    if request.method == "GET":
        current = pushdown.version(row) if row else None
        if current:
            form.name.data, form.trigger_kind.data = current.name, current.trigger_kind
            form.trigger_value.data = next(iter((current.trigger_config or {}).values()), "")
        steps = [dict(s) for s in current.steps] if current else [{"type": "send_email"}]
        parent_templates = {t.id: t for t in pushdown.parent_templates(agency_id)}
        for step in steps:
            step["message_changed"] = pushdown.message_changed(step, parent_templates)
        return form, steps, step_errors, status, saved
    steps = parse_steps(request.form)
    action = request.form.get("action", "save")
    if action != "save":
        return form, apply_action(steps, action), step_errors, status, saved
    if not form.validate_on_submit():
        return form, steps, step_errors, 422, saved
    try:
        saved = pushdown.save_automation(agency_id, row.id if row else None, pushdown.AutomationInput(
            form.name.data or "", form.trigger_kind.data or "", form.trigger_value.data or "", steps), actor)
    except ValidationFailed as exc:
        step_errors = {k: v for k, v in exc.fields.items() if k.startswith("steps")}
        apply_errors(form, ValidationFailed(exc.message, {k: v for k, v in exc.fields.items()
                                                          if not k.startswith("steps")}))
        status = 422
    return form, steps, step_errors, status, saved


@bp.app_template_filter("message_excerpt")
def message_excerpt(html: str) -> str:
    """The words of a send-e-mail step's message (for the editor and the parent account's pages)."""
    return pushdown.message_excerpt(html, 120)


def saved_message(saved) -> str:
    return _("“%(name)s” saved as version %(n)s. Sub-accounts change only when you push it again.",
             name=saved.name, n=saved.current_version)


@bp.route("/automations/library")
@agency_required
@franchise_required
@permission_required("library")
def library():
    rows = pushdown.parent_automations(current_user.agency_id)
    return render("pushdown/library.html", rows=rows, parent=pushdown.parent_account(current_user.agency_id))


@bp.route("/automations/library/new", methods=["GET", "POST"], defaults={"automation_id": None})
@bp.route("/automations/library/<automation_id>/edit", methods=["GET", "POST"])
@agency_required
@franchise_required
@permission_required("library")
def editor(automation_id):
    row = pushdown.parent_automation(current_user.agency_id, automation_id) if automation_id else None
    form, steps, step_errors, status, saved = edit_automation(current_user.agency_id, row, current_actor())
    if saved is not None:
        flash(saved_message(saved), "success")
        return redirect(url_for("pushdown.library"), code=303)
    return render("pushdown/editor.html", form=form, row=row, steps=steps, step_errors=step_errors,
                  step_types=pushdown.STEP_TYPES, parent=pushdown.parent_account(current_user.agency_id),
                  message_templates=pushdown.parent_templates(current_user.agency_id),
                  steps_url=url_for("pushdown.steps_fragment")), status


@bp.route("/automations/library/steps", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def steps_fragment():
    """htmx: the step list after an add, remove or move (nothing saved)."""
    steps = apply_action(parse_steps(request.form), request.form.get("action", ""))
    return render_template("pushdown/_steps.html", steps=steps, step_errors={}, step_types=pushdown.STEP_TYPES,
                           message_templates=pushdown.parent_templates(current_user.agency_id),
                           steps_url=url_for("pushdown.steps_fragment"))


@bp.route("/automations/parent/open", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def open_parent():
    """"Open the parent account": signed in there as its admin, on its own host, like any account (A10)."""
    parent = pushdown.parent_account(current_user.agency_id)
    try:
        link = accounts.login_as_link(parent, current_user.id, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("pushdown.index"), code=303)
    response = redirect(link, code=303)
    response.headers["Cache-Control"] = "no-store"  # the single-use token is in the Location
    return response
