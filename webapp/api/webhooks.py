"""The API's outgoing webhooks (issue 24): the agency's endpoints, their delivery log, resend and test, and
the events of the last 30 days (GET /events, so a receiver that was down can catch up), over
services/webhooks.py as the Agency API page. A webhook's `data` and an event here carry the same object."""
from __future__ import annotations

import base64

from flask import jsonify
from flask_babel import gettext as _

from ..models.webhooks import DELIVERY_STATUSES, DISABLED_REASONS
from ..services import webhooks
from ..services.errors import ValidationFailed
from ..services.scope import MAX_ID
from .blueprint import bp
from .guard import permission_required
from .openapi import (DATETIME, INT, STRING, _delete, _get, _nullable, _obj, _patch, _post, _ref, _responses,
                      _text)
from .routes import actor, body, query, scope

TWINS = {
    "api_tokens.webhook_create": "api.create_webhook",
    "api_tokens.webhook_update": "api.update_webhook",
    "api_tokens.webhook_delete": "api.delete_webhook",
    "api_tokens.webhook_resend": "api.resend_webhook_delivery",
    "api_tokens.webhook_test": "api.test_webhook",
}

EVENT_ID_PATTERN = "^msg_[A-Za-z0-9]{1,36}$"


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def endpoint_json(endpoint) -> dict:
    return {"id": endpoint.id, "url": endpoint.url, "description": endpoint.description,
            "events": list(endpoint.events or []), "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason, "created_at": _iso(endpoint.created_at),
            "failing_since": _iso(endpoint.failing_since), "last_success_at": _iso(endpoint.last_success_at)}


def delivery_json(delivery) -> dict:
    return {"id": delivery.id, "endpoint_id": delivery.endpoint_id, "event_id": delivery.event.public_id,
            "event_type": delivery.event.type, "resend_no": delivery.resend_no, "status": delivery.status,
            "attempts": delivery.attempts, "next_attempt_at": _iso(delivery.next_attempt_at),
            "last_attempt_at": _iso(delivery.last_attempt_at), "last_status_code": delivery.last_status_code,
            "last_latency_ms": delivery.last_latency_ms, "last_error": delivery.last_error,
            "response_excerpt": delivery.response_excerpt, "created_at": _iso(delivery.created_at)}


def attempt_json(attempt) -> dict:
    return {"attempted_at": _iso(attempt.attempted_at), "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms, "error": attempt.error, "response_excerpt": attempt.response_excerpt}


# ---- endpoints ------------------------------------------------------------------------------------------

@bp.get("/webhooks")
@permission_required("api_tokens")
def list_webhooks():
    query("listWebhooks")
    return jsonify({"data": [endpoint_json(e) for e in webhooks.list_endpoints(scope())]})


@bp.post("/webhooks")
@permission_required("api_tokens")
def create_webhook():
    data = body("createWebhook")
    endpoint, secret = webhooks.create_endpoint(scope(), url=data["url"], events=data["events"],
                                                description=data.get("description", ""), actor=actor())
    return jsonify({**endpoint_json(endpoint), "secret": secret}), 201


@bp.get("/webhooks/<endpoint_id>")
@permission_required("api_tokens")
def get_webhook(endpoint_id):
    query("getWebhook")
    return jsonify(endpoint_json(webhooks.get_endpoint(scope(), endpoint_id)))


@bp.patch("/webhooks/<endpoint_id>")
@permission_required("api_tokens")
def update_webhook(endpoint_id):
    webhooks.get_endpoint(scope(), endpoint_id)  # another agency's: 404 before the body
    data = body("updateWebhook")
    endpoint = webhooks.update_endpoint(scope(), endpoint_id, url=data.get("url"), events=data.get("events"),
                                        description=data.get("description"), enabled=data.get("enabled"),
                                        actor=actor())
    return jsonify(endpoint_json(endpoint))


@bp.delete("/webhooks/<endpoint_id>")
@permission_required("api_tokens")
def delete_webhook(endpoint_id):
    query("deleteWebhook")
    endpoint = webhooks.get_endpoint(scope(), endpoint_id)
    endpoint_id = endpoint.id
    webhooks.delete_endpoint(scope(), endpoint_id, actor=actor())
    return jsonify({"id": endpoint_id, "deleted": True})


def _before_id(params: dict) -> int | None:
    cursor = params.get("cursor")
    if not cursor:
        return None
    try:
        before = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode(), 10)
        if not 1 <= before <= MAX_ID:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed(_("The cursor is not valid."), {"cursor": _("Use the next_cursor of an earlier "
                                                                           "answer.")}) from None
    return before


@bp.get("/webhooks/<endpoint_id>/deliveries")
@permission_required("api_tokens")
def list_webhook_deliveries(endpoint_id):
    params = query("listWebhookDeliveries")
    limit = params["limit"]
    rows = webhooks.deliveries(scope(), endpoint_id, limit=limit + 1, before_id=_before_id(params))
    more, rows = len(rows) > limit, rows[:limit]
    cursor = base64.urlsafe_b64encode(str(rows[-1].id).encode()).rstrip(b"=").decode() if more else None
    return jsonify({"data": [delivery_json(d) for d in rows], "next_cursor": cursor})


@bp.get("/webhooks/deliveries/<delivery_id>")
@permission_required("api_tokens")
def get_webhook_delivery(delivery_id):
    query("getWebhookDelivery")
    delivery = webhooks.get_delivery(scope(), delivery_id)
    return jsonify({**delivery_json(delivery),
                    "attempts_log": [attempt_json(a) for a in webhooks.attempts(scope(), delivery.id)]})


@bp.post("/webhooks/<endpoint_id>/test")
@permission_required("api_tokens")
def test_webhook(endpoint_id):
    webhooks.get_endpoint(scope(), endpoint_id)
    body("testWebhook")
    return jsonify(delivery_json(webhooks.send_test(scope(), endpoint_id, actor=actor()))), 202


@bp.post("/webhooks/deliveries/<delivery_id>/resend")
@permission_required("api_tokens")
def resend_webhook_delivery(delivery_id):
    webhooks.get_delivery(scope(), delivery_id)
    body("resendWebhookDelivery")
    return jsonify(delivery_json(webhooks.resend(scope(), delivery_id, actor=actor()))), 202


# ---- events ---------------------------------------------------------------------------------------------

@bp.get("/events")
@permission_required("view")
def list_events():
    params = query("listEvents")
    limit = params["limit"]
    rows = webhooks.events_after(scope(), after=params.get("after"), type=params.get("type"), limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return jsonify({"data": [webhooks.payload(e) for e in rows], "has_more": more})


@bp.get("/events/<event_id>")
@permission_required("view")
def get_event(event_id):
    query("getEvent")
    return jsonify(webhooks.payload(webhooks.get_event(scope(), event_id)))


# ---- the document ---------------------------------------------------------------------------------------

def spec(catalog, languages) -> dict:
    event_types = {"type": "string", "enum": list(webhooks.EVENT_TYPES)}
    all_types = {"type": "string", "enum": list(webhooks.EVENT_TYPES) + [webhooks.TEST_EVENT]}
    events_list = {"type": "array", "items": event_types, "minItems": 1, "uniqueItems": True,
                   "maxItems": len(webhooks.EVENT_TYPES),
                   "description": "The event types sent to it: " + ", ".join(webhooks.EVENT_TYPES) + "."}
    url = {**_text(webhooks.URL_MAX, 1), "description": (
        "Where the events are POSTed: an https:// URL of a public address (checked again after DNS resolution "
        "at each send), at most 2,000 characters. Redirects are not followed.")}
    description = {**_text(webhooks.DESCRIPTION_MAX), "description": "For your people; may be empty."}
    endpoint = {
        "id": INT, "url": STRING, "description": STRING, "events": {"type": "array", "items": event_types},
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": ["string", "null"], "enum": list(DISABLED_REASONS) + [None], "description": (
            "failing: disabled by AgencyHQ after 3 days in which every delivery failed (the agency is e-mailed); "
            "agency: disabled by you.")},
        "created_at": DATETIME,
        "failing_since": {**_nullable(DATETIME), "description": "The first failure of the current run of failures."},
        "last_success_at": _nullable(DATETIME),
    }
    delivery = {
        "id": INT, "endpoint_id": INT, "event_id": {**STRING, "description": "The event's id: its webhook-id."},
        "event_type": all_types, "resend_no": {**INT, "description": "0, or the number of the resend."},
        "status": {"type": "string", "enum": list(DELIVERY_STATUSES)}, "attempts": INT,
        "next_attempt_at": _nullable(DATETIME), "last_attempt_at": _nullable(DATETIME),
        "last_status_code": _nullable(INT), "last_latency_ms": _nullable(INT),
        "last_error": {**_nullable(STRING), "description": "Why the last try failed, in words."},
        "response_excerpt": {**_nullable(STRING), "description": "The first 1,000 characters of the last answer."},
        "created_at": DATETIME,
    }
    attempt = _obj({"attempted_at": DATETIME, "status_code": _nullable(INT), "latency_ms": _nullable(INT),
                    "error": _nullable(STRING), "response_excerpt": _nullable(STRING)})
    event_id_param = {"name": "id", "in": "path", "required": True,
                      "schema": {"type": "string", "pattern": EVENT_ID_PATTERN}}
    get_event_op = _get("getEvent", "One event of the last 30 days", _ref("WebhookEventPayload"),
                        params=[event_id_param], tag="Events")
    get_event_op["responses"] = _responses(200, "OK", _ref("WebhookEventPayload"), (400, 401, 403, 404, 422, 429))
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                        "default": 50}}
    tag = "Webhooks"
    return {
        "paths": {
            "/webhooks": {
                "get": _get("listWebhooks", "The agency's webhook endpoints", _ref("WebhookEndpointList"), tag=tag),
                "post": _post("createWebhook", "Add a webhook endpoint", "WebhookEndpointInput", 201,
                              _ref("WebhookEndpointCreated"), by_id=False, tag=tag, description=(
                                  "The answer carries its signing secret (whsec_...), shown this once. Every "
                                  "delivery is signed per the Standard Webhooks specification (webhook-id, "
                                  "webhook-timestamp, webhook-signature headers): verify it with any of its "
                                  "libraries. The body is {id, type, created_at, data}; data is the object as "
                                  "this API returns it. A receiver should de-duplicate by webhook-id.")),
            },
            "/webhooks/{id}": {
                "get": _get("getWebhook", "One webhook endpoint", _ref("WebhookEndpoint"), by_id=True, tag=tag),
                "patch": _patch("updateWebhook", "Change a webhook endpoint", "WebhookEndpointChange",
                                _ref("WebhookEndpoint"), tag=tag, description=(
                                    "enabled true enables it again, also after it was disabled for failing: the "
                                    "deliveries that were waiting go out, in order.")),
                "delete": _delete("deleteWebhook", "Delete a webhook endpoint and its delivery log",
                                  _ref("WebhookEndpointDeleted"), tag=tag),
            },
            "/webhooks/{id}/deliveries": {"get": _get(
                "listWebhookDeliveries", "The endpoint's deliveries, newest first", _ref("WebhookDeliveryPage"),
                by_id=True, params=[
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                                "default": 50}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,16}$"},
                     "description": "The next_cursor of the previous page."}], tag=tag, description=(
                    "Retried with exponential back-off and jitter (about 5 s, 5 min, 30 min, 2 h, 5 h, then every "
                    "10 h) for 3 days after the first try, then failed."))},
            "/webhooks/{id}/test": {"post": _post(
                "testWebhook", "Send a webhook.test event to this endpoint", "Empty", 202, _ref("WebhookDelivery"),
                body_required=False, tag=tag, description="409 when the endpoint is disabled.")},
            "/webhooks/deliveries/{id}": {"get": _get(
                "getWebhookDelivery", "One delivery, with each of its tries", _ref("WebhookDeliveryDetail"),
                by_id=True, tag=tag)},
            "/webhooks/deliveries/{id}/resend": {"post": _post(
                "resendWebhookDelivery", "Send a delivery's event again", "Empty", 202, _ref("WebhookDelivery"),
                body_required=False, tag=tag, description=(
                    "A new delivery of the same event, with the same webhook-id. 409 when the endpoint is "
                    "disabled."))},
            "/events": {"get": _get(
                "listEvents", "The agency's events of the last 30 days, oldest first", _ref("WebhookEventPage"),
                params=[{"name": "after", "in": "query", "schema": {"type": "string", "pattern": EVENT_ID_PATTERN},
                         "description": "An event's id: the events after it (422 when it is unknown or older "
                                        "than 30 days)."},
                        {"name": "type", "in": "query", "schema": all_types}, limit],
                tag="Events", description=(
                    "What the webhooks carried, so a receiver that was down can catch up: pass the id of the last "
                    "event it has as `after`, and again the last of each page while has_more."))},
            "/events/{id}": {"get": get_event_op},
        },
        "schemas": {
            "WebhookEndpoint": _obj(endpoint),
            "WebhookEndpointCreated": _obj({**endpoint, "secret": {**STRING, "description": (
                "The signing secret, shown this once.")}}),
            "WebhookEndpointList": _obj({"data": {"type": "array", "items": _ref("WebhookEndpoint")}}),
            "WebhookEndpointInput": _obj({"url": url, "events": events_list, "description": description},
                                         required=["url", "events"]),
            "WebhookEndpointChange": _obj({"url": url, "events": events_list, "description": description,
                                           "enabled": {"type": "boolean"}}, required=[]),
            "WebhookEndpointDeleted": _obj({"id": INT, "deleted": {"type": "boolean"}}),
            "WebhookDelivery": _obj(delivery),
            "WebhookDeliveryDetail": _obj({**delivery, "attempts_log": {"type": "array", "items": attempt}}),
            "WebhookDeliveryPage": _obj({"data": {"type": "array", "items": _ref("WebhookDelivery")},
                                         "next_cursor": _nullable(STRING)}),
            "WebhookEventPayload": _obj({"id": STRING, "type": all_types, "created_at": DATETIME,
                                         "data": {"type": "object"}}),
            "WebhookEventPage": _obj({"data": {"type": "array", "items": _ref("WebhookEventPayload")},
                                      "has_more": {"type": "boolean"}}),
            "CreditsAllocated": _obj({"account_id": INT, "account_name": STRING,
                                      "kind": {"type": "string", "enum": ["sms", "compatibility", "prepaid"]},
                                      "amount": {**INT, "description": "Credits, or cents of prepaid credit."},
                                      "balance": {**INT, "description": "What the account holds now."}}),
        },
        "tags": [tag, "Events"],
        "webhooks": _outgoing(all_types),
    }


# What each event's `data` is: the object as this API answers it.
DATA_SCHEMAS = {"account": _ref("Account"), "invoice": _ref("InvoiceDetail"), "pushdown": _ref("Pushdown"),
                "report": _ref("Report"), "payout": _ref("CommissionPayout"), "credits": _ref("CreditsAllocated")}
DATA_DESCRIPTIONS = {
    "credits": "The credits that reached an account (bought for it, or moved to it), and what it holds now.",
    "payout": "The commission payout, as GET /commission/payouts lists it.",
    "webhook": "{endpoint_id, url, message}: sent by “Send test event” (POST /webhooks/{id}/test).",
}


def _outgoing(all_types: dict) -> dict:
    """The requests AgencyHQ sends (OpenAPI 3.1 `webhooks`): one POST per event type."""
    headers = [
        {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "The event's id: the same on every retry and resend (de-duplicate by it)."},
        {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "Seconds since 1970 when this try was sent."},
        {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\"> with the "
                        "endpoint's secret (Standard Webhooks)."},
    ]
    out = {}
    for event_type in webhooks.EVENT_TYPES + (webhooks.TEST_EVENT,):
        noun = event_type.split(".")[0]
        data = DATA_SCHEMAS.get(noun) or {"type": "object", "description": DATA_DESCRIPTIONS[noun]}
        label = webhooks.EVENT_LABELS.get(event_type)
        out[event_type] = {"post": {
            "summary": str(label) if label else "A test event",
            "description": "Sent to each enabled endpoint that chose this event type.",
            "parameters": headers,
            "requestBody": {"required": True, "content": {"application/json": {"schema": _obj({
                "id": {"type": "string"}, "type": {**all_types, "const": event_type}, "created_at": DATETIME,
                "data": data})}}},
            "responses": {"200": {"description": (
                "Any 2xx within 10 seconds: received. Anything else, a redirect or no answer is tried again "
                "later, for up to 3 days.")}},
        }}
    return out
