"""P1: automations in the agency's parent account, with an htmx step editor (add, remove, reorder);
each save is a new version (P6: sub-accounts change only when pushed again)."""
import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import pushdown
from ...services.errors import ValidationFailed
from ..decorators import agency_required, current_actor, permission_required
from ..forms import apply_errors
from ..rendering import render
from .blueprint import bp
from .forms import AutomationForm
from .routes import franchise_required

STEP_FIELDS = ("type", "subject", "amount", "unit", "tag", "otherwise", "email")
STEP_LABELS = {"send_email": "Send an e-mail", "wait": "Wait", "add_tag": "Add a tag", "remove_tag": "Remove a tag",
               "condition": "If / else", "notify": "Notify someone"}


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
    form = AutomationForm()
    status, step_errors = 200, {}
    if request.method == "GET":
        current = pushdown.version(row) if row else None
        if current:
            form.name.data, form.trigger_kind.data = current.name, current.trigger_kind
            form.trigger_value.data = next(iter((current.trigger_config or {}).values()), "")
        steps = [dict(s) for s in current.steps] if current else [{"type": "send_email"}]
    else:
        steps = parse_steps(request.form)
        action = request.form.get("action", "save")
        if action != "save":
            steps = apply_action(steps, action)
        elif form.validate_on_submit():
            try:
                saved = pushdown.save_automation(current_user.agency_id, row.id if row else None, pushdown.AutomationInput(
                    form.name.data or "", form.trigger_kind.data or "", form.trigger_value.data or "", steps),
                    current_actor())
            except ValidationFailed as exc:
                step_errors = {k: v for k, v in exc.fields.items() if k.startswith("steps")}
                apply_errors(form, ValidationFailed(exc.message, {k: v for k, v in exc.fields.items()
                                                                  if not k.startswith("steps")}))
                status = 422
            else:
                flash(_("“%(name)s” saved as version %(n)s. Sub-accounts change only when you push it again.",
                        name=saved.name, n=saved.current_version), "success")
                return redirect(url_for("pushdown.library"), code=303)
        else:
            status = 422
    return render("pushdown/editor.html", form=form, row=row, steps=steps,
                  step_errors=step_errors, step_types=pushdown.STEP_TYPES), status


@bp.route("/automations/library/steps", methods=["POST"])
@agency_required
@franchise_required
@permission_required("library")
def steps_fragment():
    """htmx: the step list after an add, remove or move (nothing saved)."""
    steps = apply_action(parse_steps(request.form), request.form.get("action", ""))
    return render_template("pushdown/_steps.html", steps=steps, step_errors={}, step_types=pushdown.STEP_TYPES)
