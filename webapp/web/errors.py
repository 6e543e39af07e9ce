"""Error pages: a clear message and the right status, never a bare 500 stack."""
from __future__ import annotations

import logging

from flask import Response, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..services.errors import ServiceError

log = logging.getLogger(__name__)


def _page(status: int, title: str, message: str):
    if request_ctx and request_ctx.url_adapter is None:
        return plain_page(status, title, message)  # the page's links cannot be built for this Host
    return render_template("errors/error.html", status=status, title=title, message=message), status


def plain_page(status: int, title: str, message: str):
    """An error answer that needs no template and no URL: for requests we cannot route at all."""
    return Response(f"{title}\n\n{message}\n", status=status, mimetype="text/plain")


def bad_host():
    """The answer to a Host header that is not a host name: 400, before anything builds a URL."""
    from .. import api
    from ..api import errors as api_errors
    message = _("The Host header of this request is not a valid host name.")
    if api.is_api_request():
        return api_errors.error_response(400, "bad_request", message)
    return plain_page(400, _("Bad request"), message)


def register(app) -> None:
    # The API answers its errors in its own JSON format, those raised before routing (404, 405) too.
    from .. import api
    from ..api import errors as api_errors

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        db.session.rollback()
        if api.is_api_request():
            return api_errors.http_error(exc)
        return _page(400, _("This form has expired"),
                     _("The form was missing its security token or it had expired. Go back, reload the page "
                       "and try again."))

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        db.session.rollback()
        if api.is_api_request():
            return api_errors.service_error(exc)
        return _page(exc.status, _("That did not work"), exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        if api.is_api_request():
            return api_errors.http_error(exc)
        if (exc.code or 500) >= 500:
            # Flask hands an unhandled exception here wrapped in InternalServerError.
            original = getattr(exc, "original_exception", None) or exc
            log.error("unhandled error on %s %s", request.method, request.path,
                      exc_info=(type(original), original, original.__traceback__))
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
        return _page(exc.code or 500, titles.get(exc.code, exc.name),
                     messages.get(exc.code, exc.description or ""))

