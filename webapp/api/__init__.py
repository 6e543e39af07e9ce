"""The Agency API (X1): /api/v1, JSON in and out, bearer tokens only, over the same services as
the dashboard. What every request goes through is in guard.py; the views are in routes.py."""
from __future__ import annotations

from flask import Flask

from . import areas, openapi, routes  # noqa: F401  (the views register on bp)
from .blueprint import bp


def register_api(app: Flask) -> None:
    from ..extensions import csrf
    from ..services.accounts import LANGUAGES
    app.register_blueprint(bp)
    # A bearer token is not sent by browsers on their own, so CSRF cannot forge an API call; a request
    # that carries only a session cookie is refused (401) before it does anything.
    csrf.exempt(bp)
    app.extensions["openapi"] = areas.document(app.extensions["catalog"], LANGUAGES)
