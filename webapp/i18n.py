"""Which language and time zone a page (or an API answer) is shown in; registered by create_app."""
from __future__ import annotations

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
