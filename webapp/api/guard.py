"""What every API request goes through, in order: the body size limit, the bearer token, the
per-token rate limit, the JSON body, and the Idempotency-Key of a POST."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid

from functools import lru_cache, wraps

from flask import current_app, g, request
from flask_babel import gettext as _

from ..services import api_tokens, permissions, throttle
from ..services.scope import AgencyScope
from .errors import ApiError
from .openapi import IDEMPOTENCY_KEY

log = logging.getLogger("agencyhq.api")

PUBLIC_ENDPOINTS = {"api.openapi_json"}
KEY_RE = re.compile(IDEMPOTENCY_KEY)


def register(bp) -> None:
    bp.before_request(limit_body)
    bp.before_request(authenticate)
    bp.before_request(rate_limit)
    bp.before_request(read_body)
    bp.before_request(claim_idempotency_key)
    bp.after_request(finish)


def permission_required(permission: str):
    """The token's creator's role in the team must allow `permission`, or 403 in the one JSON error
    format, with the dashboard's message. Kept on the view (`view.permission`) for the tests' matrix."""
    if permission not in permissions.PERMISSIONS:
        raise KeyError(permission)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            permissions.require(g.api_actor, permission)
            return view(*args, **kwargs)
        wrapped.permission = permission
        return wrapped
    return decorator


def limit_body():
    request.max_content_length = current_app.config["API_MAX_BODY_BYTES"]


def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    challenge = {"WWW-Authenticate": 'Bearer realm="AgencyHQ API"'}
    header = request.headers.get("Authorization", "")
    scheme, _sep, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "unauthorized", _("Send your API token as “Authorization: Bearer <token>”. A session "
                                              "cookie is not accepted here."), headers=challenge)
    token = api_tokens.authenticate(raw.strip())
    if token is None:
        raise ApiError(401, "invalid_token", _("This token is unknown, expired or was revoked."),
                       headers={"WWW-Authenticate": 'Bearer realm="AgencyHQ API", error="invalid_token"'})
    if request.method not in ("GET", "HEAD", "OPTIONS") and not api_tokens.may_write(token.scope):
        raise ApiError(403, "insufficient_scope", _("This token may only read (its scope is read only): make a "
                                                    "read-and-write token to change anything."))
    refusal = api_tokens.agency_refusal(token)
    if refusal:
        raise ApiError(403, "agency_suspended", refusal)
    g.api_token_id, g.api_token_user_id = token.id, token.user_id
    g.api_scope = AgencyScope(token.agency_id)
    g.api_actor = api_tokens.actor_for(token, request.remote_addr)


@lru_cache(maxsize=8)
def _token_limit(limit: int, window: int) -> throttle.Limit:
    return throttle.Limit("api-token", throttle.rule(limit, window))


def rate_limit():
    """A fixed window per token, counted by Flask-Limiter's storage (Redis with REDIS_URL, memory
    otherwise). If the storage cannot be reached the request goes through: the limit protects, it must
    not break."""
    token_id = g.get("api_token_id")
    if token_id is None:
        return
    limit, seconds = current_app.config["API_RATE_LIMIT"], current_app.config["API_RATE_WINDOW"]
    rule = _token_limit(limit, seconds)
    allowed = throttle.hit(rule, str(token_id))
    window = throttle.window(rule, str(token_id))
    if window is not None:
        g.api_rate = (limit, window.remaining, window.reset_at)
    if not allowed:
        retry_after = min(seconds, max(1, window.reset_at - int(time.time()))) if window is not None else seconds
        raise ApiError(429, "rate_limited", _("Too many requests with this token; try again in %(n)s seconds.",
                                              n=retry_after), headers={"Retry-After": str(retry_after)})


def read_body():
    """The JSON body of a POST or a PATCH into g.api_body (None when there is none)."""
    g.api_body = None
    if request.method not in ("POST", "PATCH"):
        return
    raw = request.get_data(cache=True)  # over API_MAX_BODY_BYTES: 413
    if not raw.strip():
        return
    try:
        g.api_body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "malformed_json", _("The body is not valid JSON (UTF-8).")) from None


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def claim_idempotency_key():
    g.idempotency_key = g.idempotency_record_id = None
    if request.method != "POST" or g.get("api_token_id") is None:
        return
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return
    if not KEY_RE.fullmatch(key):
        raise ApiError(400, "bad_idempotency_key", _("Idempotency-Key must be 1 to 120 visible ASCII characters."),
                       {"Idempotency-Key": _("Use 1 to 120 visible ASCII characters, such as a UUID.")})
    body = g.api_body
    fingerprint = json.dumps(body, sort_keys=True, separators=(",", ":")) if body is not None else ""
    request_hash = hashlib.sha256(f"{request.method} {request.path}\n{fingerprint}".encode()).hexdigest()
    found = api_tokens.begin_request(g.api_token_id, key, request_hash)
    if isinstance(found, api_tokens.Replay):
        response = current_app.response_class(found.body, status=found.status_code, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    g.idempotency_key, g.idempotency_record_id = key, found.id


def request_key() -> str:
    """The key the services dedupe a request by: derived from the Idempotency-Key when there is
    one (so even a rerun after a crash does nothing twice), a fresh one otherwise."""
    key = g.get("idempotency_key")
    if key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"api:{g.api_token_id}:{key}".encode()).hexdigest()[:32]


def finish(response):
    record_id = g.get("idempotency_record_id")
    if record_id is not None:
        g.idempotency_record_id = None
        try:
            ok = response.status_code < 500
            api_tokens.finish_request(record_id, response.status_code if ok else None,
                                      response.get_data(as_text=True) if ok else None)
        except Exception:  # the answer stands; the pending record expires by itself
            log.exception("could not store the answer for an Idempotency-Key")
    rate = g.get("api_rate")
    if rate is not None:
        response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"] = str(rate[0]), str(rate[1])
        response.headers["X-RateLimit-Reset"] = str(rate[2])
    response.headers["Cache-Control"] = "no-store"  # answers may carry a password or a login link
    return response
