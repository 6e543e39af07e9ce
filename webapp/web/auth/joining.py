"""Joining (issue 19): the agency sign-up at /signup, its e-mailed confirmation, "Forgot password?",
and the e-mailed links that set or reset a dashboard password."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ...services import agencies, auth, dates
from ...services.errors import NotFound, ValidationFailed
from ..forms import apply_errors
from ..signin import sign_in
from .blueprint import bp
from .forms import EmailOnlyForm, NewPasswordForm, SignupForm


def _no_store(page, status=200):
    return page, status, {"Cache-Control": "no-store"}


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    mode = agencies.signup_mode()
    if mode == "closed":
        return render_template("auth/signup_closed.html"), 200
    form = SignupForm()
    form.language.choices = list(current_app.config["LANGUAGES"].items())
    status = 200
    if form.validate_on_submit():
        try:
            owner = agencies.sign_up(agencies.Application(
                agency_name=form.agency_name.data or "", name=form.name.data or "", email=form.email.data or "",
                password=form.password.data or "", timezone=(form.timezone.data or "").strip(),
                language=form.language.data or ""), ip=request.remote_addr)
        except ValidationFailed as exc:
            apply_errors(form, exc)
            status = 422
        else:
            return render_template("auth/signup_sent.html", email=owner.email, mode=mode), 201
    elif request.method == "POST":
        status = 422
    return render_template("auth/signup.html", form=form, mode=mode, zones=dates.timezones()), status


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def confirm_signup(token):
    """The e-mailed link. A GET shows a button (mail scanners follow links; only a person's POST confirms)."""
    if request.method == "GET":
        if auth.link_user("confirm_email", token) is None:
            return render_template("auth/link_dead.html", message=agencies.dead_link_message("confirm_email", token)), 410
        return render_template("auth/confirm.html", token=token)
    try:
        user = agencies.confirm_email(token)
    except NotFound as exc:
        return render_template("auth/link_dead.html", message=exc.message), 410
    if user.agency is not None and user.agency.state == "active":
        sign_in(user)
        flash(_("Your e-mail is confirmed and your agency is open. Here are the first steps."), "success")
        return redirect(url_for("resold.index"), code=303)
    return render_template("auth/awaiting_approval.html", agency=user.agency)


@bp.route("/signup/resend", methods=["POST"])
def resend_confirmation():
    form = EmailOnlyForm()
    if form.validate_on_submit():
        agencies.resend_confirmation(form.email.data)
    flash(_("If a sign-up waits for that e-mail, a new confirmation link is on its way."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    """The same answer, in the same time, whether or not a login has the e-mail."""
    form = EmailOnlyForm()
    if form.validate_on_submit():
        auth.request_reset(form.email.data, ip=request.remote_addr)
        return render_template("auth/forgot.html", form=form, sent=True)
    return render_template("auth/forgot.html", form=form, sent=False), 200 if request.method == "GET" else 422


def _password_by_link(purpose: str, token: str, done_message: str):
    form = NewPasswordForm()
    if auth.link_user(purpose, token) is None:
        return _no_store(render_template("auth/link_dead.html",
                                         message=agencies.dead_link_message(purpose, token)), 410)
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        try:
            auth.set_password_by_link(purpose, token, new=form.new_password.data or "",
                                      confirm=form.confirm_password.data or "", ip=request.remote_addr)
        except NotFound as exc:
            return _no_store(render_template("auth/link_dead.html", message=exc.message), 410)
        except ValidationFailed as exc:
            apply_errors(form, exc)
            status = 422
        else:
            flash(done_message, "success")
            return redirect(url_for("auth.login"), code=303)
    elif request.method == "POST":
        status = 422
    return _no_store(render_template("auth/set_password.html", form=form, purpose=purpose), status)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token):
    return _password_by_link("reset_password", token,
                             _("Your password was changed and every other sign-in ended. Sign in with it."))


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token):
    return _password_by_link("set_password", token, _("Your password is set. Sign in with it."))
