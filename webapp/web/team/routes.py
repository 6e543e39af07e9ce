"""The Team page (issue 19): members, invitations, roles, removal, and the Owner's switches; and the page
an invited person opens to join. Views parse and call services.team, which holds the rules."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models import User
from ...services import permissions, team
from ...services.errors import ServiceError
from ..decorators import agency_required, current_actor, permission_required, recent_login_required
from ..forms import submit
from ..rendering import render
from .blueprint import bp
from .forms import AcceptForm, InviteForm, RequireTwoFactorForm, RoleForm, TransferForm, role_choices


def _page(invite_form: InviteForm | None = None, status: int = 200):
    agency_id, my_role = current_user.agency_id, current_user.team_role
    invite_form = invite_form or InviteForm()
    invite_form.role.choices = role_choices(my_role)
    members = team.members(agency_id)
    role_forms = {}
    for m in members:
        form = RoleForm(prefix=f"member-{m.id}", formdata=None)
        form.role.choices, form.role.data = role_choices(my_role), m.team_role
        role_forms[m.id] = form
    transfer = TransferForm(formdata=None)
    transfer.user_id.choices = [(str(m.id), f"{m.name} ({m.email})") for m in members if m.id != current_user.id]
    switch = RequireTwoFactorForm(formdata=None, data={"require_2fa": current_user.agency.require_2fa})
    return render("team/index.html", members=members, invites=team.pending_invites(agency_id),
                  invite_form=invite_form, role_forms=role_forms, transfer_form=transfer, switch_form=switch,
                  role_labels=permissions.ROLE_LABELS, me=current_user), status


def _back():
    return redirect(url_for("team.index"), code=303)


@bp.route("/team")
@agency_required
@permission_required("team")
def index():
    return _page()


@bp.route("/team/invite", methods=["POST"])
@agency_required
@permission_required("team")
@recent_login_required
def invite():
    form = InviteForm()
    form.role.choices = role_choices(current_user.team_role)
    done = submit(form, lambda: team.invite(current_actor(), email=form.email.data, role=form.role.data))
    if done.done:
        flash(_("Invitation sent to %(email)s; the link works for 7 days.", email=done.value.email), "success")
        return _back()
    return _page(form, done.status)


@bp.route("/team/invites/<link_id>/resend", methods=["POST"])
@agency_required
@permission_required("team")
@recent_login_required
def resend(link_id):
    link = team.resend(current_actor(), link_id)
    flash(_("A new invitation was sent to %(email)s; the earlier link no longer works.", email=link.email), "success")
    return _back()


@bp.route("/team/invites/<link_id>/revoke", methods=["POST"])
@agency_required
@permission_required("team")
@recent_login_required
def revoke(link_id):
    team.revoke_invite(current_actor(), link_id)
    flash(_("The invitation was withdrawn: its link no longer works."), "success")
    return _back()


@bp.route("/team/members/<user_id>/role", methods=["POST"])
@agency_required
@permission_required("team")
@recent_login_required
def change_role(user_id):
    form = RoleForm(prefix=f"member-{user_id}")
    if not form.validate_on_submit():
        flash(_("Choose one of the roles offered."), "danger")
        return _back()
    member = team.change_role(current_actor(), user_id, form.role.data)
    flash(_("%(name)s is now %(role)s.", name=member.name, role=permissions.ROLE_LABELS[member.team_role]), "success")
    return _back()


@bp.route("/team/members/<user_id>/remove", methods=["POST"])
@agency_required
@permission_required("team")
@recent_login_required
def remove(user_id):
    member = team.member(current_user.agency_id, user_id)
    name = member.name
    team.remove(current_actor(), user_id)
    flash(_("%(name)s was removed from the team: their logins and API tokens have ended.", name=name), "success")
    if str(user_id) == str(current_user.id):
        return redirect(url_for("auth.login"), code=303)
    return _back()


@bp.route("/team/require-2fa", methods=["POST"])
@agency_required
@permission_required("owner")
@recent_login_required
def require_2fa():
    form = RequireTwoFactorForm()
    if not form.validate_on_submit():
        return _back()
    agency = team.set_require_2fa(current_actor(), form.require_2fa.data)
    flash(_("Every member now signs in with a code; those without one set it up at their next sign-in.")
          if agency.require_2fa else _("Two-factor sign-in is now each member's choice."), "success")
    return _back()


@bp.route("/team/transfer", methods=["POST"])
@agency_required
@permission_required("owner")
@recent_login_required
def transfer():
    form = TransferForm()
    if not form.validate_on_submit():
        return _back()
    owner = team.transfer_ownership(current_actor(), form.user_id.data)
    flash(_("%(name)s is now the Owner; you are an Admin.", name=owner.name), "success")
    return redirect(url_for("resold.index"), code=303)


# ---- accepting an invitation (no login: the link is the proof) -----------------------------------------

def _dead(exc: ServiceError):
    return render_template("team/invite_dead.html", message=exc.message), exc.status


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token):
    try:
        invitation = team.invitation(token)
    except team.LinkGone as exc:
        return _dead(exc)
    signed_in = current_user if isinstance(current_user, User) and current_user.is_authenticated else None
    if signed_in is not None:
        message = _("You are signed in as %(email)s, but this invitation is for %(invited)s. Sign out first, then "
                    "open the link again.", email=signed_in.email, invited=invitation.link.email)
        return render_template("team/invite_signed_in.html", message=message), 409
    form = AcceptForm()
    form.email.data = invitation.link.email
    try:
        done = submit(form, lambda: team.accept(token, name=form.name.data, password=form.password.data,
                                                confirm=form.confirm_password.data, signed_in=None,
                                                ip=request.remote_addr))
    except team.LinkGone as exc:
        return _dead(exc)
    if done.done:
        flash(_("Welcome to %(agency)s. Sign in with %(email)s and your new password.",
                agency=invitation.agency.name, email=done.value.email), "success")
        return redirect(url_for("auth.login"), code=303)
    form.password.data = form.confirm_password.data = ""
    return render_template("team/accept.html", form=form, invitation=invitation), done.status
