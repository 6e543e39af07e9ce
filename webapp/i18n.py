"""Which language and time zone a page (or an API answer) is shown in; registered by create_app."""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, g, has_request_context, request
from flask_login import current_user

from .sites import is_api_request

# Where the messages a hosted account's people see come from: its client's pages and the e-mails sent to it,
# and the services whose messages those pages show. Every account language has all of them
# (tests/test_languages.py). Paths as in the .pot's references.
CLIENT_E_MAILS = ("account_billed_to_client", "account_ready", "client_password_reset", "commission_receipt",
                  "custom_domain_failing", "custom_domain_restored", "custom_domain_stopped", "renewal_receipt",
                  "transfer_confirm", "trial_ending", "upcoming_renewal", "trial_ended", "account_expired",
                  "renewal_declined", "renewal_disabled")
CLIENT_SOURCES = (
    "templates/client/", "templates/errors/", "templates/base.html", "templates/email/base.", "templates/email/_macros",
    "webapp/web/client/", "webapp/services/client_auth.py", "webapp/services/account_billing.py",
    "webapp/services/templates.py", "webapp/services/validation.py", "webapp/services/passwords.py",
    "webapp/services/quotes.py", "webapp/services/invoice_text.py", "webapp/errors.py", "webapp/services/errors.py",
    "webapp/services/throttle.py", "webapp/services/pushdown/automations.py",
    *(f"templates/email/{kind}." for kind in CLIENT_E_MAILS))


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # a job or a CLI command: messages in the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if is_api_request():  # the API never reads the session: Accept-Language alone
        return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]
    site = g.get("site")
    if site is not None and site.kind == "account":
        return account_locale(g.get("account"))
    user = current_user if current_user and getattr(current_user, "is_authenticated", False) else None
    lang = getattr(user, "language", None)
    if lang is None:
        account = g.get("account")
        lang = account.language if account is not None else None
    if lang in languages:
        return lang
    return request.accept_languages.best_match(list(languages)) or current_app.config["BABEL_DEFAULT_LOCALE"]


def account_locale(account) -> str:
    """A hosted account's pages are in the account's language, whatever the browser says; when its branding lets
    the client choose (a picker on the login page), the visitor's choice, kept in the session, comes first."""
    from flask import session
    languages = current_app.config["ACCOUNT_LANGUAGES"]
    chosen = session.get("client_language")
    if chosen in languages and account is not None and picker_allowed(account):
        return chosen
    lang = getattr(account, "language", None)
    return lang if lang in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def picker_allowed(account) -> bool:
    """Whether the account's branding offers its client the language picker (issue 26); set by g.branding_picker
    where the account's branding is read (web/client), False otherwise."""
    return bool(g.get("language_picker"))


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

    languages = {**current_app.config["LANGUAGES"], **current_app.config["ACCOUNT_LANGUAGES"]}
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
