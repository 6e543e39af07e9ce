"""My account (S4, issue 19): who I am (name, e-mail), my password, my language and time zone, two-factor
sign-in, and where I am signed in."""
from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh as refresh_locale
from flask_login import current_user, login_user

from ...services import auth, dates, profile, sessions, two_factor
from ...services.errors import Conflict, NotFound, ValidationFailed
from ..decorators import current_actor, dashboard_user_required, recent_login_required
from ..forms import apply_errors, submit
from ..rendering import render
from .blueprint import bp
from .forms import ButtonForm, EmailForm, NameForm, PasswordForm, PreferencesForm, TwoFactorForm


def _page(status=200, **forms):
    password_form = forms.get("password_form") or PasswordForm(prefix="pw")
    prefs = forms.get("prefs") or PreferencesForm(prefix="prefs")
    prefs.language.choices = list(current_app.config["LANGUAGES"].items())
    prefs.timezone.choices = [(tz, tz) for tz in dates.timezones()]
    if prefs.language.data is None:
        prefs.language.data, prefs.timezone.data = current_user.language, current_user.timezone
    name_form = forms.get("name_form") or NameForm(prefix="name", data={"name": current_user.name})
    email_form = forms.get("email_form") or EmailForm(prefix="email")
    return render("myaccount/index.html", password_form=password_form, prefs=prefs, name_form=name_form,
                  email_form=email_form, button=ButtonForm(), pending_email=profile.pending_email(current_user),
                  logins=sessions.logins_of(current_user), this_login=current_user.login_session_id,
                  codes_left=two_factor.recovery_codes_left(current_user) if current_user.has_2fa else 0), status


@bp.route("/my-account", methods=["GET"])
@dashboard_user_required
def index():
    return _page()


@bp.route("/my-account/name", methods=["POST"])
@dashboard_user_required
def change_name():
    form = NameForm(prefix="name")
    result = submit(form, lambda: profile.change_name(current_user, form.name.data, current_actor()))
    if result.done:
        flash(_("Your name was saved."), "success")
        return redirect(url_for("myaccount.index"), code=303)
    return _page(result.status, name_form=form)


@bp.route("/my-account/email", methods=["POST"])
@dashboard_user_required
@recent_login_required
def change_email():
    form = EmailForm(prefix="email")
    result = submit(form, lambda: profile.request_email_change(current_user, form.email.data, current_actor()))
    if result.done:
        flash(_("We sent a link to %(email)s. Your e-mail changes when you open it; until then you sign in "
                "with the current one.", email=result.value), "success")
        return redirect(url_for("myaccount.index"), code=303)
    return _page(result.status, email_form=form)


@bp.route("/my-account/email/<token>", methods=["GET", "POST"])
def confirm_email(token):
    """The link e-mailed to the new address. A GET shows a button (mail scanners follow links)."""
    form = ButtonForm()
    if request.method == "GET":
        return render_template("myaccount/confirm_email.html", form=form), 200, {"Cache-Control": "no-store"}
    if not form.validate_on_submit():
        abort(400)
    try:
        user = profile.confirm_email_change(token, ip=request.remote_addr)
    except NotFound as exc:
        return render_template("auth/link_dead.html", message=exc.message), 410
    except Conflict as exc:
        return render_template("auth/link_dead.html", message=exc.message), 409
    flash(_("Your login's e-mail is now %(email)s.", email=user.email), "success")
    return redirect(url_for("myaccount.index") if current_user.is_authenticated else url_for("auth.login"),
                    code=303)


@bp.route("/my-account/password", methods=["POST"])
@dashboard_user_required
@recent_login_required
def change_password():
    password_form = PasswordForm(prefix="pw")
    if submit(password_form, lambda: auth.change_password(
            current_user, current=password_form.current_password.data, new=password_form.new_password.data,
            confirm=password_form.confirm_password.data, actor=current_actor())).done:
        login_user(current_user._get_current_object())  # this session follows the new epoch
        flash(_("Your password was changed. Other sessions were logged out."), "success")
        return redirect(url_for("myaccount.index"), code=303)
    return _page(422, password_form=password_form)


@bp.route("/my-account/preferences", methods=["POST"])
@dashboard_user_required
def preferences():
    prefs = PreferencesForm(prefix="prefs")
    prefs.language.choices = list(current_app.config["LANGUAGES"].items())
    prefs.timezone.choices = [(tz, tz) for tz in dates.timezones()]
    if submit(prefs, lambda: auth.update_preferences(current_user, language=prefs.language.data,
                                                     timezone=prefs.timezone.data,
                                                     languages=current_app.config["LANGUAGES"])).done:
        # The request chose its language before the change: the confirmation is in the new one.
        refresh_locale()
        g.pop("_viewer", None)
        flash(_("Your preferences were saved."), "success")
        return redirect(url_for("myaccount.index"), code=303)
    return _page(422, prefs=prefs)


# ---- Where you're signed in ------------------------------------------------------------------------------

@bp.route("/my-account/logins/<login_id>/end", methods=["POST"])
@dashboard_user_required
def end_login(login_id):
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        ended = profile.sign_out_login(current_user, login_id, current_actor())
    except Conflict as exc:
        flash(exc.message, "info")
    else:
        if not ended:
            abort(404)
        flash(_("That login was signed out."), "success")
    return redirect(url_for("myaccount.index", _anchor="logins"), code=303)


@bp.route("/my-account/logins/end-others", methods=["POST"])
@dashboard_user_required
def end_other_logins():
    if not ButtonForm().validate_on_submit():
        abort(400)
    profile.sign_out_elsewhere(current_user, current_actor())
    flash(_("You were signed out everywhere else."), "success")
    return redirect(url_for("myaccount.index", _anchor="logins"), code=303)


# ---- Two-factor sign-in ----------------------------------------------------------------------------------

def _codes_page(codes):
    """Recovery codes are shown once, on this answer only: never cached, never in a later page."""
    return render("myaccount/recovery_codes.html", codes=codes), 200, {"Cache-Control": "no-store"}


@bp.route("/my-account/two-factor", methods=["GET", "POST"])
@dashboard_user_required
def two_factor_setup():
    user = current_user._get_current_object()
    if user.has_2fa:
        return render("myaccount/two_factor.html", button=ButtonForm(), required=two_factor.required_for(user),
                      codes_left=two_factor.recovery_codes_left(user))
    form = TwoFactorForm()
    secret = two_factor.pending_secret(user)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                codes = two_factor.enable(user, secret, form.code.data, current_actor())
            except ValidationFailed as exc:
                apply_errors(form, exc)
                status = 422
            except Conflict:
                return redirect(url_for("myaccount.two_factor_setup"), code=303)
            else:
                flash(_("Two-factor sign-in is on. Keep these recovery codes somewhere safe."), "success")
                return _codes_page(codes)
        else:
            status = 422
    uri = two_factor.provisioning_uri(user, secret)
    page = render("myaccount/two_factor.html", form=form, qr=two_factor.qr_data_uri(uri),
                  secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                  required=two_factor.required_for(user))
    return page, status, {"Cache-Control": "no-store"}


@bp.route("/my-account/two-factor/recovery-codes", methods=["POST"])
@dashboard_user_required
@recent_login_required
def two_factor_codes():
    if not ButtonForm().validate_on_submit():
        abort(400)
    if not current_user.has_2fa:
        return redirect(url_for("myaccount.two_factor_setup"), code=303)
    flash(_("New recovery codes: the old ones no longer work."), "success")
    return _codes_page(two_factor.regenerate_recovery_codes(current_user, current_actor()))


@bp.route("/my-account/two-factor/off", methods=["POST"])
@dashboard_user_required
@recent_login_required
def two_factor_off():
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        two_factor.turn_off(current_user, current_actor())
    except Conflict as exc:
        flash(exc.message, "danger")
        return redirect(url_for("myaccount.two_factor_setup"), code=303)
    flash(_("Two-factor sign-in is off."), "success")
    return redirect(url_for("myaccount.index"), code=303)
