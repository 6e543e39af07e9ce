"""Signing in and out, on the dashboard and on a hosted account's host alike: a fresh session cookie,
and a login kept on the server (services.sessions) that every logout ends."""
from __future__ import annotations

from flask import Flask, request, session
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
