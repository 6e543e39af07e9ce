"""Error answers for the whole app, registered by create_app: a clear message and the right status,
never a bare 500 stack. The Agency API answers in its one JSON format, {"error": {"code", "message",
"fields"}}; every other request gets a page."""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .services.errors import ServiceError
from .sites import is_api_request

log = logging.getLogger("agencyhq.errors")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
              422: "validation_failed", 429: "rate_limited"}


# ---- the API's JSON errors ---------------------------------------------------------------------------

def json_error(status: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None,
               **extra):
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}, **extra}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_service_error(exc: ServiceError):
    db.session.rollback()
    quote = getattr(exc, "quote", None)  # a stale confirmation: today's figures, to show and confirm again
    return json_error(exc.status, exc.code, exc.message, {k: str(v) for k, v in exc.fields.items()},
                      getattr(exc, "headers", None), **({"quote": quote.to_dict()} if quote is not None else {}))


def json_http_error(exc: HTTPException):
    db.session.rollback()
    status = exc.code or 500
    if status >= 500:
        _log_unhandled(exc)
        return json_error(500, "internal_error", _("Something went wrong on our side; nothing was saved. "
                                                   "Try again in a moment."))
    messages = {
        404: _("There is nothing at this address."),
        405: _("This address does not take %(method)s.", method=request.method),
        413: _("The body is larger than allowed."),
    }
    response = json_error(status, HTTP_CODES.get(status, "error"), messages.get(status, exc.description or ""))
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


# ---- pages ------------------------------------------------------------------------------------------------

def plain_page(status: int, title: str, message: str):
    """An error answer that needs no template and no URL: for requests we cannot route at all."""
    return Response(f"{title}\n\n{message}\n", status=status, mimetype="text/plain")


def _page(status: int, title: str, message: str):
    if request_ctx and request_ctx.url_adapter is None:
        return plain_page(status, title, message)  # the page's links cannot be built for this Host
    return render_template("errors/error.html", status=status, title=title, message=message), status


def bad_host():
    """The answer to a Host header that is not a host name: 400, before anything builds a URL."""
    message = _("The Host header of this request is not a valid host name.")
    if is_api_request():
        return json_error(400, "bad_request", message)
    return plain_page(400, _("Bad request"), message)


def _log_unhandled(exc: HTTPException) -> None:
    # Flask hands an unhandled exception here wrapped in InternalServerError.
    original = getattr(exc, "original_exception", None) or exc
    log.error("unhandled error on %s %s", request.method, request.path,
              exc_info=(type(original), original, original.__traceback__))


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        db.session.rollback()
        if is_api_request():
            return json_http_error(exc)
        return _page(400, _("This form has expired"),
                     _("The form was missing its security token or it had expired. Go back, reload the page "
                       "and try again."))

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        if is_api_request():
            return json_service_error(exc)
        db.session.rollback()
        response = _page(exc.status, _("That did not work"), exc.message)
        headers = getattr(exc, "headers", None)
        return (*response, headers) if headers and isinstance(response, tuple) else response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if is_api_request():
            return json_http_error(exc)
        db.session.rollback()
        if (exc.code or 500) >= 500:
            _log_unhandled(exc)
            return _page(500, _("Something went wrong"),
                         _("The error was logged. Nothing was saved; please try again in a moment."))
        titles = {
            400: _("Bad request"), 403: _("Not allowed"), 404: _("Page not found"),
            405: _("Method not allowed"), 413: _("Too large"), 429: _("Too many requests"),
        }
        messages = {
            403: _("You do not have access to this page."),
            404: _("There is nothing at this address. Check the link or go back."),
            413: _("What you sent is larger than allowed."),
        }
        return _page(exc.code or 500, titles.get(exc.code, exc.name), messages.get(exc.code, exc.description or ""))
