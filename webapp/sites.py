"""Which part of the app a request is for, decided by its path (so errors raised before routing, such
as a 404 or a 405, are answered in the right format too). Neutral ground: the dashboard (web) and the
Agency API (api) both ask here and never ask each other."""
from __future__ import annotations

from flask import has_request_context, request

API_PREFIX = "/api/v1"


def is_api_request() -> bool:
    return has_request_context() and (request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"))
