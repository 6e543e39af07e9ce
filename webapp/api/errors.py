"""The API's one error format: {"error": {"code", "message", "fields"}}. Service errors and HTTP
errors map to it here and nowhere else."""
from __future__ import annotations

import logging

from flask import jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..services.errors import ServiceError

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
              422: "validation_failed", 429: "rate_limited"}


class ApiError(ServiceError):
    """An answer the API layer itself gives (a bad header, a missing token, the rate limit)."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message, fields)
        self.status, self.code, self.headers = status, code, headers or {}


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def service_error(exc: ServiceError):
    db.session.rollback()
    return error_response(exc.status, exc.code, exc.message, {k: str(v) for k, v in exc.fields.items()},
                          getattr(exc, "headers", None))


def http_error(exc: HTTPException):
    db.session.rollback()
    status = exc.code or 500
    if status >= 500:
        original = getattr(exc, "original_exception", None) or exc
        log.error("unhandled error on %s %s", request.method, request.path,
                  exc_info=(type(original), original, original.__traceback__))
        return error_response(500, "internal_error", _("Something went wrong on our side; nothing was saved. "
                                                       "Try again in a moment."))
    messages = {
        404: _("There is nothing at this address."),
        405: _("This address does not take %(method)s.", method=request.method),
        413: _("The body is larger than allowed."),
    }
    response = error_response(status, HTTP_CODES.get(status, "error"), messages.get(status, exc.description or ""))
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def register(bp) -> None:
    bp.register_error_handler(ServiceError, service_error)
    bp.register_error_handler(HTTPException, http_error)
