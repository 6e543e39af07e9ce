"""Logging in and out of the dashboard (agency users and support staff)."""
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models import User
from ...services import auth
from ...services.errors import ValidationFailed
from ..decorators import dashboard_user_required
from ..forms import apply_errors
from ..signin import sign_in, sign_out
from .blueprint import bp
from .forms import LoginForm, ReauthForm


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
    status, headers = 200, {}
    if form.validate_on_submit():
        result = auth.sign_in(form.email.data, form.password.data, ip=request.remote_addr,
                              user_agent=request.user_agent.string)
        if result.outcome == "ok":
            next_url = _safe_next(request.args.get("next"))
            sign_in(result.user, remember=form.remember.data)
            return redirect(next_url or home_for(result.user), code=303)
        if result.outcome == "wrong":
            form.password.errors.append(_("Wrong e-mail or password."))
            status = 401
        else:
            minutes = max(1, -(-result.retry_after // 60))
            if result.outcome == "locked":
                form.form_errors.append(_("Too many failed sign-ins with this e-mail. Try again in %(n)s minutes, "
                                          "or reset your password.", n=minutes))
            else:
                form.form_errors.append(_("Too many failed sign-ins from your network. Try again in %(n)s "
                                          "minutes.", n=minutes))
            status, headers = 429, {"Retry-After": str(result.retry_after)}
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status, headers


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/reauth", methods=["GET", "POST"])
@dashboard_user_required
def reauth():
    """Confirm it is you: the password (and code) again, then back where you were."""
    form = ReauthForm()
    next_url = _safe_next(request.args.get("next")) or home_for(current_user)
    status = 200
    if form.validate_on_submit():
        try:
            auth.reauthenticate(current_user, password=form.password.data, code=form.code.data,
                                ip=request.remote_addr)
        except ValidationFailed as exc:
            apply_errors(form, exc)
            status = 422
        else:
            return redirect(next_url, code=303)
    elif request.method == "POST":
        status = 422
    return render_template("auth/reauth.html", form=form, next_url=next_url), status
