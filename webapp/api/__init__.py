"""The Agency API (X1): /api/v1, JSON in and out, bearer tokens only, over the same services as
the dashboard. What every request goes through is in guard.py; the views are in routes.py."""
from __future__ import annotations

from flask import Blueprint, Flask, has_request_context, request

from .openapi import PREFIX

bp = Blueprint("api", __name__, url_prefix=PREFIX)


def is_api_request() -> bool:
    """Decided by the path, so that errors raised before routing (404, 405) answer in JSON too."""
    return has_request_context() and (request.path == PREFIX or request.path.startswith(PREFIX + "/"))


def register_api(app: Flask) -> None:
    from ..extensions import csrf
    from ..services.accounts import LANGUAGES
    from . import openapi
    app.register_blueprint(bp)
    # A bearer token is not sent by browsers on their own, so CSRF cannot forge an API call; a request
    # that carries only a session cookie is refused (401) before it does anything.
    csrf.exempt(bp)
    app.extensions["openapi"] = openapi.build(app.extensions["catalog"], LANGUAGES)


from . import errors, guard, routes  # noqa: E402,F401

errors.register(bp)
guard.register(bp)
