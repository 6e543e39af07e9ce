"""P1, on the parent account's own host: its Automations page - the automations the agency pushes to its
sub-accounts, built and edited with the step editor shared with the dashboard, and deleted here (their
pushdowns stay on the dashboard's Automations tab)."""
import functools

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from ...extensions import db
from ...models import Agency, User
from ...services import audit, pushdown
from ...services.errors import ServiceError
from ..decorators import account_admin_required, current_actor
from ..pushdown.library import apply_action, edit_automation, parse_steps, saved_message
from .blueprint import bp


def _actor() -> audit.Actor:
    """The agency user who opened the account (A10), with their role in the team as it is now; else the
    account's admin."""
    by = session.get("signed_in_by")
    if by:
        user = db.session.get(User, by["user_id"])
        return audit.Actor(f"user:{by['user_id']}", by["label"], request.remote_addr, by.get("agency_id"),
                           team_role=user.team_role if user is not None else None)
    return current_actor()


def parent_required(view):
    """Only the parent account has these pages; on any other account they are not there."""
    @account_admin_required
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.account.kind != "parent" or g.account.agency_id is None:
            abort(404)
        return view(*args, **kwargs)
    return wrapper


def _franchise() -> bool:
    agency = db.session.get(Agency, g.account.agency_id)
    return bool(agency and agency.franchise_enabled)


def _editor_context(**context):
    return dict(step_types=pushdown.STEP_TYPES, steps_url=url_for("client.parent_automation_steps"),
                message_templates=pushdown.parent_templates(g.account.agency_id),
                cancel_url=url_for("client.parent_automations"), **context)


@bp.route("/app/parent/automations")
@parent_required
def parent_automations():
    franchise = _franchise()
    rows = pushdown.parent_automations(g.account.agency_id) if franchise else []
    return render_template("client/parent_automations.html", rows=rows, franchise=franchise)


@bp.route("/app/parent/automations/new", methods=["GET", "POST"], defaults={"automation_id": None})
@bp.route("/app/parent/automations/<automation_id>/edit", methods=["GET", "POST"])
@parent_required
def parent_automation_edit(automation_id):
    if not _franchise():
        return render_template("client/parent_automations.html", rows=[], franchise=False), 403
    agency_id = g.account.agency_id
    row = pushdown.parent_automation(agency_id, automation_id) if automation_id else None
    form, steps, step_errors, status, saved = edit_automation(agency_id, row, _actor())
    if saved is not None:
        flash(saved_message(saved), "success")
        return redirect(url_for("client.parent_automations"), code=303)
    return render_template("client/parent_automations_edit.html", **_editor_context(
        form=form, row=row, steps=steps, step_errors=step_errors)), status


@bp.route("/app/parent/automations/steps", methods=["POST"])
@parent_required
def parent_automation_steps():
    """htmx: the step list after an add, remove or move (nothing saved)."""
    steps = apply_action(parse_steps(request.form), request.form.get("action", ""))
    return render_template("pushdown/_steps.html", **_editor_context(steps=steps, step_errors={}))


@bp.route("/app/parent/automations/<automation_id>/delete", methods=["POST"])
@parent_required
def parent_automation_delete(automation_id):
    try:
        row = pushdown.delete_automation(g.account.agency_id, automation_id, _actor())
    except ServiceError as exc:
        if exc.status == 404:
            raise
        flash(exc.message, "danger")
    else:
        flash(_("“%(name)s” was deleted from the parent account. Its pushdowns stay on your agency's Automations "
                "tab, and the sub-accounts keep the copies already pushed.", name=row.name), "success")
    return redirect(url_for("client.parent_automations"), code=303)
