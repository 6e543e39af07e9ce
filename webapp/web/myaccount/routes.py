"""My account (S4): who I am, my password, my language and time zone."""
from flask import current_app, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from ...services import auth, dates
from ..decorators import current_actor, dashboard_user_required
from ..forms import submit
from ..rendering import render
from .blueprint import bp
from .forms import PasswordForm, PreferencesForm


def _forms():
    password_form = PasswordForm(prefix="pw")
    prefs = PreferencesForm(prefix="prefs")
    prefs.language.choices = list(current_app.config["LANGUAGES"].items())
    prefs.timezone.choices = [(tz, tz) for tz in dates.timezones()]
    return password_form, prefs


@bp.route("/my-account", methods=["GET"])
@dashboard_user_required
def index():
    password_form, prefs = _forms()
    prefs.language.data = current_user.language
    prefs.timezone.data = current_user.timezone
    return render("myaccount/index.html", password_form=password_form, prefs=prefs)


@bp.route("/my-account/password", methods=["POST"])
@dashboard_user_required
def change_password():
    password_form, prefs = _forms()
    prefs.language.data, prefs.timezone.data = current_user.language, current_user.timezone
    if submit(password_form, lambda: auth.change_password(
            current_user, current=password_form.current_password.data, new=password_form.new_password.data,
            confirm=password_form.confirm_password.data, actor=current_actor())).done:
        login_user(current_user._get_current_object())  # this session follows the new epoch
        flash(_("Your password was changed. Other sessions were logged out."), "success")
        return redirect(url_for("myaccount.index"), code=303)
    return render("myaccount/index.html", password_form=password_form, prefs=prefs), 422


@bp.route("/my-account/preferences", methods=["POST"])
@dashboard_user_required
def preferences():
    password_form, prefs = _forms()
    if submit(prefs, lambda: auth.update_preferences(current_user, language=prefs.language.data,
                                                     timezone=prefs.timezone.data,
                                                     languages=current_app.config["LANGUAGES"])).done:
        flash(_("Your preferences were saved."), "success")
        return redirect(url_for("myaccount.index"), code=303)
    return render("myaccount/index.html", password_form=password_form, prefs=prefs), 422
