"""Logging in and out of the dashboard (agency users and support staff)."""
from urllib.parse import urlsplit

from datetime import datetime, timedelta

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...models import User, utcnow
from ...services import agencies, auth
from ...services.errors import ValidationFailed
from ..decorators import dashboard_user_required
from ..forms import apply_errors
from ..signin import sign_in, sign_out
from .blueprint import bp
from .forms import CodeForm, LoginForm, ReauthForm


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
    status, headers, resend = 200, {}, False
    if form.validate_on_submit():
        result = auth.sign_in(form.email.data, form.password.data, ip=request.remote_addr,
                              user_agent=request.user_agent.string)
        next_url = _safe_next(request.args.get("next"))
        if result.outcome == "ok":
            return _signed_in(result, remember=form.remember.data, next_url=next_url)
        if result.outcome == "code_needed":
            # The password was right; the code comes next, within a few minutes, in this browser.
            session["pending_sign_in"] = {"user_id": result.user.id, "epoch": result.user.session_epoch,
                                          "remember": bool(form.remember.data), "next": next_url,
                                          "at": utcnow().isoformat()}
            return redirect(url_for("auth.code"), code=303)
        if result.outcome == "wrong":
            form.password.errors.append(_("Wrong e-mail or password."))
            status = 401
        elif result.outcome == "refused":
            form.form_errors.append(result.message)
            resend = result.user.email_confirmed_at is None
            status = 403
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
    return render_template("auth/login.html", form=form, resend=resend, signup_mode=agencies.signup_mode()), \
        status, headers


def _signed_in(result, *, remember: bool, next_url: str | None):
    sign_in(result.user, remember=remember)
    if result.must_enrol:
        # Two-factor sign-in is required of this login and not set up: enrolment before anything else.
        session["enrol_2fa"] = True
        flash(_("Set up two-factor sign-in to go on: it is required for your login."), "info")
        return redirect(url_for("myaccount.two_factor_setup"), code=303)
    return redirect(next_url or home_for(result.user), code=303)


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    """The second step of signing in: the code from the app, or a recovery code."""
    pending = session.get("pending_sign_in")
    started = _started(pending)
    if started is None or utcnow() - started > timedelta(minutes=auth.CODE_STEP_MINUTES):
        session.pop("pending_sign_in", None)
        flash(_("Sign in again: the code was not given in time."), "info")
        return redirect(url_for("auth.login"), code=303)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        result = auth.finish_sign_in(pending["user_id"], pending["epoch"], form.code.data, ip=request.remote_addr,
                                     user_agent=request.user_agent.string)
        if result.outcome == "ok":
            session.pop("pending_sign_in", None)
            return _signed_in(result, remember=pending.get("remember", False), next_url=pending.get("next"))
        if result.outcome == "restart":
            session.pop("pending_sign_in", None)
            flash(_("Too many wrong codes. Sign in again."), "danger")
            return redirect(url_for("auth.login"), code=303)
        form.code.errors.append(_("This code does not match, or was used already."))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/code.html", form=form), status


def _started(pending):
    try:
        return datetime.fromisoformat(pending["at"])
    except (KeyError, TypeError, ValueError):
        return None


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
