"""Logging in and out of the dashboard (agency users and support staff)."""
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models import User
from ...services import auth
from ..signin import sign_in, sign_out
from . import bp
from .forms import LoginForm


def home_for(user: User) -> str:
    return url_for("support.index") if user.is_support else url_for("resold.index")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if isinstance(current_user, User) and current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = auth.authenticate(form.email.data, form.password.data)
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            sign_in(user, remember=form.remember.data)
            return redirect(next_url or home_for(user), code=303)
        form.password.errors.append(_("Wrong e-mail or password."))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"), code=303)
