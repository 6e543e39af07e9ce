"""The API's answers for its own refusals (a bad header, a missing token, the rate limit) in the app's
one JSON error format (webapp/errors.py), and the blueprint's handlers that use it."""
from __future__ import annotations

from werkzeug.exceptions import HTTPException

from ..errors import json_http_error, json_service_error
from ..services.errors import ServiceError


class ApiError(ServiceError):
    """An answer the API layer itself gives (a bad header, a missing token, the rate limit)."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message, fields)
        self.status, self.code, self.headers = status, code, headers or {}


def register(bp) -> None:
    bp.register_error_handler(ServiceError, json_service_error)
    bp.register_error_handler(HTTPException, json_http_error)
