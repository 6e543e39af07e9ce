"""Which language and time zone a page (or an API answer) is shown in; registered by create_app."""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, g, has_request_context, request
from flask_login import current_user

from .sites import is_api_request


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # a job or a CLI command: messages in the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if is_api_request():  # the API never reads the session: Accept-Language alone
        return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]
    user = current_user if current_user and getattr(current_user, "is_authenticated", False) else None
    lang = getattr(user, "language", None)
    if lang is None:
        account = g.get("account")
        lang = account.language if account is not None else None
    if lang in languages:
        return lang
    return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    if not has_request_context() or is_api_request():
        return "UTC"
    user = current_user if current_user and getattr(current_user, "is_authenticated", False) else None
    tz = getattr(user, "timezone", None)
    if tz is None:
        account = g.get("account")
        tz = account.timezone if account is not None else None
    return tz or "UTC"


@contextmanager
def reader(locale: str | None, tz: str | None = None):
    """Renders for someone else than the viewer (an e-mail): messages, numbers and dates in the reader's
    language and times in the reader's zone, whatever the request or job around it shows. A language
    without a catalog falls back to the default one."""
    from babel.dates import get_timezone as zone
    from flask_babel import force_locale
    import flask_babel

    languages = current_app.config["LANGUAGES"]
    locale = locale if locale in languages else current_app.config["BABEL_DEFAULT_LOCALE"]
    viewer = g.pop("_viewer", None)
    context = flask_babel._get_current_context()
    saved_tz = getattr(context, "babel_tzinfo", None)
    try:
        with force_locale(locale):
            try:
                context.babel_tzinfo = zone(tz or "UTC")
            except LookupError:
                context.babel_tzinfo = zone("UTC")
            yield locale
    finally:
        context.babel_tzinfo = saved_tz
        g.pop("_viewer", None)
        if viewer is not None:
            g._viewer = viewer
