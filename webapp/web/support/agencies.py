"""The support console's agencies (issue 19, P10): find one by name or e-mail and state, see it whole,
decide its application, suspend or reactivate it, create one, reset a user's 2FA, and switch pushdown
automations on or off. Views parse and call services/agencies.py, which audits and e-mails."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from ...models.agencies import AGENCY_STATES
from ...services import agencies, pushdown
from ...services.errors import Conflict, ValidationFailed
from ..decorators import current_actor, support_required
from ..forms import apply_errors
from ..rendering import render
from .blueprint import bp
from .forms import NewAgencyForm, ReasonForm


def _filters() -> tuple[str, str]:
    q = " ".join((request.args.get("q") or "").split())[:100]
    state = request.args.get("state") or ""
    return q, state if state in AGENCY_STATES else ""


def _agencies_page(form: NewAgencyForm, status: int = 200):
    q, state = _filters()
    rows = agencies.search(q, state)
    response = render("support/agencies.html", "support/_agencies.html", rows=rows, q=q, state=state,
                      states=AGENCY_STATES, owners=agencies.owner_emails(a.id for a in rows), form=form)
    response.status_code = status
    return response


@bp.route("/support/agencies", endpoint="agencies")
@support_required
def agencies_index():
    return _agencies_page(NewAgencyForm(formdata=None))


@bp.route("/support/agencies", methods=["POST"])
@support_required
def create_agency():
    """Support opens an agency; its owner gets the set-password link by e-mail."""
    form = NewAgencyForm()
    if form.validate_on_submit():
        try:
            agency, owner, _url = agencies.create(name=form.agency_name.data or "", owner_email=form.email.data or "",
                                                  owner_name=form.name.data or "", actor=current_actor())
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash(_("%(name)s is open. %(email)s got a link to choose a password.", name=agency.name,
                    email=owner.email), "success")
            return redirect(url_for("support.agency", agency_id=agency.id), code=303)
    return _agencies_page(form, 422)


def _agency_page(agency_id, status: int = 200, *, form: ReasonForm | None = None, problem: str | None = None):
    agency = agencies.get(agency_id)
    response = render("support/agency.html", **agencies.detail(agency), problem=problem,
                      form=form or ReasonForm(formdata=None))
    response.status_code = status
    return response


@bp.route("/support/agencies/<agency_id>")
@support_required
def agency(agency_id):
    return _agency_page(agency_id)


def _act(agency_id, needs_reason: bool, act, done):
    """Runs one decision: a 303 back to the page when done; the page again with the message by the
    field (422) or, when the agency is no longer in a state that allows it, a 409 saying so."""
    agency = agencies.get(agency_id)  # an unknown id is a 404 before anything else
    form = ReasonForm()
    if needs_reason and not form.validate_on_submit():
        return _agency_page(agency.id, 422, form=form)
    try:
        agency = act(form.reason.data or "")
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return _agency_page(agency_id, 422, form=form)
    except Conflict as exc:
        return _agency_page(agency_id, 409, problem=exc.message)
    flash(done(agency), "success")
    return redirect(url_for("support.agency", agency_id=agency.id), code=303)


@bp.route("/support/agencies/<agency_id>/approve", methods=["POST"])
@support_required
def approve_agency(agency_id):
    return _act(agency_id, False, lambda reason: agencies.decide_application(
        agency_id, approve=True, reason="", actor=current_actor()),
        lambda a: _("%(name)s is approved; its owner was e-mailed and can sign in.", name=a.name))


@bp.route("/support/agencies/<agency_id>/reject", methods=["POST"])
@support_required
def reject_agency(agency_id):
    return _act(agency_id, True, lambda reason: agencies.decide_application(
        agency_id, approve=False, reason=reason, actor=current_actor()),
        lambda a: _("The application of %(name)s is rejected; its owner was e-mailed why.", name=a.name))


@bp.route("/support/agencies/<agency_id>/suspend", methods=["POST"])
@support_required
def suspend_agency(agency_id):
    return _act(agency_id, True, lambda reason: agencies.suspend(agency_id, reason=reason,
                                                                       actor=current_actor()),
                lambda a: _("%(name)s is suspended: its users are signed out and its API tokens refused. "
                            "Its owner was e-mailed.", name=a.name))


@bp.route("/support/agencies/<agency_id>/reactivate", methods=["POST"])
@support_required
def reactivate_agency(agency_id):
    return _act(agency_id, False, lambda reason: agencies.reactivate(agency_id, actor=current_actor()),
                lambda a: _("%(name)s is active again; its owner was e-mailed.", name=a.name))


@bp.route("/support/agencies/<agency_id>/users/<user_id>/reset-2fa", methods=["POST"])
@support_required
def reset_two_factor(agency_id, user_id):
    try:
        user = agencies.reset_two_factor(agency_id, user_id, current_actor())
    except Conflict as exc:
        return _agency_page(agency_id, 409, problem=exc.message)
    flash(_("Two-factor sign-in is off for %(email)s, who was e-mailed and signed out everywhere.",
            email=user.email), "success")
    return redirect(url_for("support.agency", agency_id=agency_id), code=303)


@bp.route("/support/agencies/<agency_id>/franchise", methods=["POST"])
@support_required
def franchise(agency_id):
    enabled = request.form.get("enabled") == "1"
    agency = pushdown.set_franchise(agency_id, enabled, current_actor())
    flash(_("Pushdown automations are now on for %(name)s.", name=agency.name) if enabled else
          _("Pushdown automations are now off for %(name)s.", name=agency.name), "success")
    if request.form.get("back") == "agency":
        return redirect(url_for("support.agency", agency_id=agency.id), code=303)
    return redirect(url_for("support.agencies", q=request.form.get("q") or None,
                            state=request.form.get("state") or None), code=303)
