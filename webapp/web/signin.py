"""Signing in and out, on the dashboard and on a hosted account's host alike: a fresh session cookie,
and a login kept on the server (services.sessions) that every logout ends."""
from __future__ import annotations

from flask import Flask, g, redirect, request, session, url_for
from flask_login import login_user, logout_user, user_logged_out

from ..services import sessions


def sign_in(user, *, remember: bool = False, opened_by=None) -> None:
    """Whatever this browser was signed in as ends first; nothing of the old session survives.
    `opened_by`: the agency user whose login-as this is (A10)."""
    sign_out()
    sessions.start(user, opened_by=opened_by, ip=request.remote_addr, user_agent=request.user_agent.string)
    login_user(user, remember=remember)


def sign_out() -> None:
    logout_user()
    session.clear()


def _end_login(_app, user, **_extra) -> None:
    sessions.end(user)


def register(app: Flask) -> None:
    # Every logout_user(), wherever it is called, ends the server-side login of the user it signs out.
    user_logged_out.connect(_end_login, app)
    app.before_request(_enrolment_first)


# What a dashboard user who must set up two-factor sign-in may still open meanwhile.
ENROLMENT_ENDPOINTS = {"myaccount.two_factor_setup", "auth.logout", "static"}


def _enrolment_first():
    """Two-factor sign-in required of this login (support staff; a team whose Owner requires it) and not
    set up: enrolment comes before anything else, whichever way the login was restored (a remember-me
    cookie too), not only right after the password."""
    site = g.get("site")
    if site is None or site.kind != "dashboard" or request.endpoint in ENROLMENT_ENDPOINTS \
            or request.endpoint is None or request.blueprint in ("health", "api"):
        return None
    from flask_login import current_user
    from ..models import User
    from ..services import two_factor
    user = current_user._get_current_object() if current_user else None
    if not isinstance(user, User) or not user.is_authenticated or user.has_2fa or not two_factor.required_for(user):
        return None
    target = url_for("myaccount.two_factor_setup")
    if request.headers.get("HX-Request"):
        from flask_htmx import make_response as htmx_response
        return htmx_response(redirect=target)
    return redirect(target, code=303)
