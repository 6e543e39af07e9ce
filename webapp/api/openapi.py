"""The OpenAPI 3.1 document of the Agency API (X1). It is the contract: the views validate their
query strings and bodies against the schemas below (api/validation.py), the tests check every
answer against it (Schemathesis), and the docs page is rendered from it."""
from __future__ import annotations

from ..catalog import Catalog
from ..models.accounts import ACCOUNT_KINDS, ACCOUNT_STATUSES, PLAN_TERMS, PLAN_TIERS
from ..models.billing import INVOICE_KINDS, INVOICE_STATUSES
from ..models.operations import OPERATION_STATUSES
from ..models.reports import REPORT_KINDS, REPORT_SEVERITIES, REPORT_STATUSES
from ..services import resold
from ..services.scope import MAX_ID

API_VERSION = "1.0.0"
from ..sites import API_PREFIX as PREFIX
# No control characters (NUL above all): they mean nothing in these fields and break SQL drivers.
PRINTABLE = "^[^\\u0000-\\u001F\\u007F]*$"
CURSOR = "^[A-Za-z0-9_-]{1,200}$"
IDEMPOTENCY_KEY = "^[\\x21-\\x7E]{1,120}$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def _text(max_length: int, min_length: int = 0, **extra) -> dict:
    schema = {"type": "string", "maxLength": max_length, "pattern": PRINTABLE, **extra}
    if min_length:
        schema["minLength"] = min_length
    return schema


def _obj(properties: dict, required: list | None = None, *, closed: bool = True, **extra) -> dict:
    schema = {"type": "object", "properties": properties,
              "required": list(properties) if required is None else required, **extra}
    if closed:
        schema["additionalProperties"] = False
    return schema


INT = {"type": "integer"}
QUOTE_TOKEN = {"type": "string", "maxLength": 64, "description": (
    "The token of the preview whose figures you confirm (the matching /preview call). Nothing is charged "
    "without it; if the figures changed since, nothing is charged and the answer is 409 quote_stale with "
    "the new figures.")}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
STRING = {"type": "string"}


def _schemas(catalog: Catalog, languages: dict) -> dict:
    plan = _obj({"tier": {"type": "string", "enum": list(PLAN_TIERS)},
                 "term": {"type": "string", "enum": list(PLAN_TERMS)},
                 "contact_limit": INT})
    account = {
        "id": INT, "name": STRING, "kind": {"type": "string", "enum": list(ACCOUNT_KINDS)},
        "status": {"type": "string", "enum": list(ACCOUNT_STATUSES)},
        "login_url": {"type": "string", "format": "uri"},
        "custom_domain": _nullable(STRING), "custom_domain_verified": {"type": "boolean"},
        "client_name": STRING, "client_email": STRING, "notification_email": STRING,
        "language": STRING, "timezone": STRING, "plan": _ref("Plan"),
        "pending_plan": {**_nullable(_ref("Plan")), "description": "A downgrade that takes effect at the next renewal."},
        "price_cents": {**_nullable(INT), "description": "What the next period costs the agency today, after its "
                                                         "discount; 0 for a trial."},
        "currency": STRING, "created_at": DATETIME,
        "period_start": _nullable(DATE),
        "period_end": {**_nullable(DATE), "description": "The next renewal day, or the expiry day of a trial or a "
                                                         "cancelled account."},
        "cancelled_at": {**_nullable(DATETIME), "description": "Set while the account is cancelled; resume it before "
                                                               "period_end to undo that."},
        "trial_extensions": INT,
        "disabled_reason": {"type": ["string", "null"], "enum": ["unpaid", "abuse", "agency", None], "description": (
            "Why a disabled account is disabled: unpaid (enabled again by a paid renewal), abuse (by support, "
            "which alone enables it) or agency (you disabled it; enable it again).")},
    }
    credits = _obj({"sms": INT, "compatibility": INT, "prepaid_cents": INT})
    invoice = {
        "id": INT, "number": STRING, "account_id": _nullable(INT), "account_name": _nullable(STRING),
        "kind": {"type": "string", "enum": list(INVOICE_KINDS)},
        "status": {"type": "string", "enum": list(INVOICE_STATUSES)}, "currency": STRING,
        "period_start": _nullable(DATE), "period_end": _nullable(DATE),
        "list_price_cents": INT, "discount_percent": INT, "discount_cents": INT, "total_cents": INT,
        "prepaid_applied_cents": INT, "card_charged_cents": INT, "created_at": DATETIME,
        "paid_at": _nullable(DATETIME),
        "pdf_url": {"type": "string", "format": "uri", "description": "The invoice as a PDF (GET it with your token)."},
    }
    pack = _obj({"key": STRING, "credits": INT, "price_cents": INT})
    paid_plan = {
        "tier": {"type": "string", "enum": catalog.tier_keys},
        "term": {"type": "string", "enum": [t for t in catalog.term_keys if t != "trial"]},
        "contact_limit": {"type": "integer", "enum": list(catalog.contact_limits)},
    }
    purchase = {
        "kind": {"type": "string", "enum": ["sms", "compatibility", "prepaid"]},
        "amount": {"type": "integer", "minimum": 1, "maximum": 10**9, "description": (
            "SMS or compatibility: a number of credits, one of the pack sizes ("
            f"SMS {', '.join(str(p.credits) for p in catalog.sms_packs)}; compatibility "
            f"{', '.join(str(p.credits) for p in catalog.compatibility_packs)}). Prepaid: cents, one of "
            f"{', '.join(str(a) for a in catalog.prepaid_amounts_cents)}.")},
    }
    return {
        "Error": _obj({"error": _obj({
            "code": {"type": "string", "description": "Stable, for programs: not_found, validation_failed, "
                                                      "conflict, rate_limited, quote_stale, ..."},
            "message": {"type": "string", "description": "For people, in the language of Accept-Language."},
            "fields": {"type": "object", "additionalProperties": {"type": "string"},
                       "description": "The problem with each field, by its name (nested: plan.tier)."},
            "quote": {**_ref("Quote"), "description": "quote_stale only: today's figures; confirm them with their "
                                                      "token."},
        }, required=["code", "message", "fields"])}),
        "Quote": _obj({
            "change": {"type": "string", "enum": ["upgrade", "downgrade", "trial_to_paid", "reactivation",
                                                  "sms_pack", "compatibility_pack", "prepaid"]},
            "lines": {"type": "array", "items": _obj({"description": STRING, "amount_cents": INT})},
            "list_cents": INT, "discount_percent": INT, "discount_cents": INT,
            "today_cents": {**INT, "description": "What is charged today: prepaid_cents + card_cents."},
            "prepaid_cents": {**INT, "description": "Of it, from prepaid credit (spent first)."},
            "card_cents": {**INT, "description": "Of it, on the card."},
            "currency": STRING,
            "renewal_cents": {**_nullable(INT), "description": "What each renewal costs after, at today's discount."},
            "renews_on": _nullable(DATE), "effective": {**_nullable(DATE), "description": "When the change applies."},
            "days": {**_nullable(INT), "description": "The pro-rata days an upgrade is charged for."},
            "token": {"type": "string", "description": "Send it back as `quote` to be charged exactly this; if "
                                                       "anything changed since, nothing is charged (409 "
                                                       "quote_stale, with the new figures)."},
        }),
        "Plan": plan,
        "PlanChoice": _obj({
            "tier": {"type": "string", "enum": catalog.tier_keys},
            "term": {"type": "string", "enum": catalog.term_keys},
            "contact_limit": {"type": "integer", "enum": list(catalog.contact_limits),
                              "description": f"A trial goes up to {catalog.trial['max_contacts']} contacts."},
        }),
        "PaidPlanChoice": _obj(paid_plan),
        "PaidPlanConfirm": _obj({**paid_plan, "quote": QUOTE_TOKEN}),
        "Account": _obj(account),
        "AccountDetail": _obj({**account, "credits": credits}),
        "AccountPage": _obj({"data": {"type": "array", "items": _ref("Account")}, "total": INT,
                             "next_cursor": {**_nullable(STRING), "description": "Pass as `cursor` for the next "
                                                                                 "page; null on the last one."}}),
        "NameCheck": _obj({"available": {"type": "boolean"},
                           "reason": {**_nullable(STRING), "description": "Why the name cannot be used."}}),
        "NewAccount": _obj({
            "name": {**_text(40, 1), "description": "Becomes <name>.<platform domain>: 3 to 40 lowercase letters, "
                                                    "digits and single hyphens."},
            "custom_domain": {**_text(253), "description": "Optional; once its CNAME record is in place, verify it with POST /accounts/{id}/domain/verify."},
            "client_name": _text(120, 1), "client_email": _text(254, 1),
            "notification_email": {**_text(254, 1), "description": "Where the platform writes about billing, "
                                                                   "campaign approval, abuse and bounces."},
            "language": {"type": "string", "enum": list(languages)},
            "timezone": {**_text(64, 1), "description": "An IANA time zone such as Europe/Paris."},
            "plan": _ref("PlanChoice"),
        }, required=["name", "client_name", "client_email", "notification_email", "language", "timezone", "plan"]),
        "AccountDetailsChange": _obj({
            "client_name": _text(120, 1), "client_email": _text(254, 1),
            "notification_email": {**_text(254, 1), "description": "Where the platform writes about billing, "
                                                                   "campaign approval, abuse and bounces."},
            "language": {"type": "string", "enum": list(languages)},
            "timezone": {**_text(64, 1), "description": "An IANA time zone such as Europe/Paris."},
        }, required=[], description="The fields to change; those left out keep their values. The same rules as "
                                    "when the account was created."),
        "Operation": _obj({
            "id": INT, "kind": {"type": "string", "description": "provision_account, ..."},
            "status": {"type": "string", "enum": list(OPERATION_STATUSES)},
            "progress": INT, "total": INT, "message": _nullable(STRING), "error": _nullable(STRING),
            "account_id": _nullable(INT), "created_at": DATETIME, "finished_at": _nullable(DATETIME),
            "result": {"type": ["object", "null"], "description": (
                "When a provisioning has succeeded: the login URL, the username and the password. The "
                "password is given once, to the first request that reads it; after that it is null."),
                "properties": {"login_url": STRING, "username": STRING, "password": _nullable(STRING)}},
        }),
        "AccountCreated": _obj({"account": _ref("Account"), "operation": _ref("Operation")}),
        "Activation": _obj({
            "mode": {"type": "string", "enum": ["none", "at", "on_push"], "description": (
                "none: not active until Activate all; at: active at date + time in timezone; on_push: active as "
                "soon as it is copied.")},
            "date": {**_text(10), "description": "YYYY-MM-DD, for mode at."},
            "time": {**_text(5), "description": "HH:MM, for mode at."},
            "timezone": {**_text(64), "description": "An IANA time zone, for mode at."},
        }, required=["mode"]),
        "PushdownCounts": _obj({"active": INT, "inactive": INT, "missing": INT, "selected": INT, "failed": INT,
                                "pending": INT}),
        "Pushdown": _obj({
            "id": INT, "automation_id": INT, "automation_name": _nullable(STRING),
            "status": {"type": "string", "enum": ["draft", "scheduled", "published"]},
            "version_number": _nullable(INT), "active": {"type": "boolean"},
            "activation_mode": {"type": "string", "enum": ["none", "at", "on_push"]},
            "activate_at": _nullable(DATETIME), "created_at": DATETIME, "published_at": _nullable(DATETIME),
            "parent_changed": {"type": "boolean"}, "counts": _ref("PushdownCounts"),
        }),
        "PushdownList": _obj({"data": {"type": "array", "items": _ref("Pushdown")}}),
        "NewPushdown": _obj({
            "automation_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID,
                              "description": "Exactly one automation of the parent account."},
            "account_ids": {"type": "array", "maxItems": 1000,
                            "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
            "select_matching": {**_text(100), "description": "Also select every sub-account in use (active, or "
                                                             "cancelled until its period ends) whose name, client or "
                                                             "e-mail contains this text (\"\" for all)."},
            "activation": _ref("Activation"),
        }, required=["automation_id"]),
        "PublishPushdown": _obj({"activation": _ref("Activation")}, required=[]),
        "PushdownPublished": _obj({"pushdown": _ref("Pushdown"), "operation": _ref("Operation")}),
        "PushdownAccounts": _obj({
            "data": {"type": "array", "items": _obj({
                "account_id": INT, "name": STRING, "state": {"type": "string", "enum": ["active", "inactive", "missing"]},
                "version_held": _nullable(INT), "last_change": _nullable(DATETIME), "error": _nullable(STRING)})},
            "next_cursor": _nullable(STRING)}),
        "PlanChangeResult": _obj({
            "change": {"type": "string", "enum": ["upgrade", "downgrade", "trial_to_paid", "renewed"]},
            "effective_on": {**_nullable(DATE), "description": "For a downgrade: the renewal day it starts on."},
            "invoice": _nullable(_ref("Invoice")), "account": _ref("Account"),
        }),
        "TrialExtension": _obj({
            "extended": {"type": "boolean", "description": "false: the trial was already extended once, and a "
                                                           "request went to support instead."},
            "until": _nullable(DATE), "support_request_id": _nullable(INT), "account": _ref("Account"),
        }),
        "PasswordResetSent": _obj({"sent": {"type": "boolean"}}),
        "LoginLink": _obj({"url": {"type": "string", "format": "uri"},
                           "expires_in_seconds": INT}),
        "CreditPurchase": _obj(purchase),
        "CreditPurchaseConfirm": _obj({**purchase, "quote": QUOTE_TOKEN}),
        "CreditMove": _obj({
            "kind": {"type": "string", "enum": ["sms", "compatibility", "prepaid"]},
            "amount": {"type": "integer", "minimum": 1, "maximum": 10**9,
                       "description": "Credits, or cents of prepaid credit."},
            "from_account_id": {**_nullable(INT), "description": "null: the agency's pool."},
            "to_account_id": {**_nullable(INT), "description": "null: the agency's pool."},
        }),
        "CreditMoveResult": _obj({"moved": INT, "pool": credits}),
        "CreditBalances": _obj({"pool": credits, "accounts": {"type": "array", "items": _obj({
            "account_id": INT, "name": STRING, "credits": credits})}}),
        "PoolPurchaseResult": _obj({"invoice": _ref("Invoice"), "pool": credits}),
        "CreditPurchaseResult": _obj({"invoice": _ref("Invoice"), "credits": credits}),
        "Empty": {"type": "object", "maxProperties": 0, "additionalProperties": False},
        "Invoice": _obj(invoice),
        "InvoiceDetail": _obj({**invoice, "lines": {"type": "array", "items": _obj({
            "description": STRING, "quantity": INT, "unit_cents": INT, "amount_cents": INT})}}),
        "InvoicePage": _obj({"data": {"type": "array", "items": _ref("Invoice")}, "total": INT,
                             "next_cursor": _nullable(STRING)}),
        "Report": _obj({
            "id": INT, "account_id": INT, "account_name": STRING,
            "kind": {"type": "string", "enum": list(REPORT_KINDS)},
            "severity": {"type": "string", "enum": list(REPORT_SEVERITIES)},
            "status": {"type": "string", "enum": list(REPORT_STATUSES), "description": (
                "open: waiting for the agency's reply; acknowledged: the agency replied; closed: by support.")},
            "description": STRING, "evidence": STRING, "sample_message": _nullable(STRING),
            "agency_reply": _nullable(STRING), "created_at": DATETIME, "acknowledged_at": _nullable(DATETIME),
            "closed_at": _nullable(DATETIME),
            "account_disabled_at": {**_nullable(DATETIME), "description": (
                "When support disabled the account for abuse because of this report; null when it is not "
                "disabled for it.")},
        }),
        "ReportPage": _obj({"data": {"type": "array", "items": _ref("Report")}, "total": INT,
                            "next_cursor": _nullable(STRING)}),
        "Catalog": _obj({
            "currency": STRING,
            "contact_limits": {"type": "array", "items": INT},
            "terms": {"type": "object", "additionalProperties": _obj({"months": INT, "label": STRING})},
            "tiers": {"type": "array", "items": _obj({
                "key": STRING, "label": STRING, "sms_allowed": {"type": "boolean"},
                "monthly_cents": {"type": "array", "items": INT}, "annual_cents": {"type": "array", "items": INT}})},
            "trial": {"type": "object", "additionalProperties": INT},
            "discount_tiers": {"type": "array", "items": _obj({"min_paid_accounts": INT, "percent": INT})},
            "prepaid_amounts_cents": {"type": "array", "items": INT},
            "sms_packs": {"type": "array", "items": pack},
            "compatibility_packs": {"type": "array", "items": pack},
            "discount": _obj({"paid_accounts": INT, "percent": INT}, description="The agency's discount today (B5)."),
        }),
    }


ERRORS = {
    400: "The request could not be read: malformed JSON, or a bad Idempotency-Key header.",
    401: "No bearer token, or a token that is unknown, expired or revoked.",
    402: "The payment was declined; nothing was charged.",
    403: "Not allowed: the token's creator's role does not allow it, the token's scope is read only "
         "(insufficient_scope, on any POST or PATCH), or the agency is suspended.",
    404: "Nothing of this agency's has that id.",
    409: "The state does not allow it (already cancelled, ...), or an Idempotency-Key reused with another request.",
    413: "The body is larger than allowed.",
    422: "A field is missing, unknown, of the wrong type or not acceptable; `fields` says which.",
    429: "Too many requests for this token; wait for Retry-After seconds.",
}


def _responses(ok_status: int, ok_description: str, schema: dict, errors: tuple) -> dict:
    responses = {str(ok_status): {"description": ok_description,
                                  "content": {"application/json": {"schema": schema}}}}
    for status in sorted(errors):
        response = {"description": ERRORS[status], "content": {"application/json": {"schema": _ref("Error")}}}
        if status == 429:
            response["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": INT}}
        responses[str(status)] = response
    return responses


GET_ERRORS = (400, 401, 403, 422, 429)
POST_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429)
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": MAX_ID}}
IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY},
    "description": "Any unique string (a UUID): the same key within 24 hours answers with the first answer "
                   "again, without doing anything twice; the same key with another body is a 409.",
}


def _get(op_id: str, summary: str, schema: dict, *, description: str = "", params: list | None = None,
         by_id: bool = False, tag: str) -> dict:
    errors = GET_ERRORS + ((404,) if by_id else ())
    return {"operationId": op_id, "summary": summary, "description": description, "tags": [tag],
            "parameters": ([ID_PARAM] if by_id else []) + (params or []),
            "responses": _responses(200, "OK", schema, errors)}


def _post(op_id: str, summary: str, body: str, status: int, schema: dict, *, description: str = "",
          by_id: bool = True, charges: bool = False, body_required: bool = True, tag: str) -> dict:
    errors = POST_ERRORS + ((402,) if charges else ())
    return {"operationId": op_id, "summary": summary, "description": description, "tags": [tag],
            "parameters": ([ID_PARAM] if by_id else []) + [IDEMPOTENCY_PARAM],
            "requestBody": {"required": body_required,
                            "content": {"application/json": {"schema": _ref(body)}}},
            "responses": _responses(status, {200: "OK", 201: "Created", 202: "Accepted"}[status], schema, errors)}


def _patch(op_id: str, summary: str, body: str, schema: dict, *, description: str = "", tag: str) -> dict:
    return {"operationId": op_id, "summary": summary, "description": description, "tags": [tag],
            "parameters": [ID_PARAM],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(body)}}},
            "responses": _responses(200, "OK", schema, POST_ERRORS)}


def _delete(op_id: str, summary: str, schema: dict, *, description: str = "", params: list | None = None,
            tag: str) -> dict:
    """DELETE of one thing by its id (params: more path parameters after the id)."""
    return {"operationId": op_id, "summary": summary, "description": description, "tags": [tag],
            "parameters": [ID_PARAM] + (params or []),
            "responses": _responses(200, "OK", schema, (401, 403, 404, 409, 422, 429))}


def _cursor_params(default_limit: int) -> list:
    return [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100,
                                                    "default": default_limit}},
        {"name": "cursor", "in": "query", "schema": {"type": "string", "pattern": CURSOR},
         "description": "The next_cursor of the previous page, with the same other parameters."},
    ]


def build(catalog: Catalog, languages: dict, areas: tuple = ()) -> dict:
    """The whole document: the core below and the parts of the API's area modules (api/areas.py passes them)."""
    accounts_params = [
        {"name": "q", "in": "query", "description": "Searches name, client name, client e-mail and domain.",
         "schema": _text(resold.MAX_QUERY_LENGTH)},
        {"name": "plan_type", "in": "query", "style": "form", "explode": True,
         "description": "Repeat for several; none: every type.",
         "schema": {"type": "array", "maxItems": 3, "items": {"type": "string", "enum": list(resold.PLAN_TYPES)}}},
        {"name": "status", "in": "query", "description": "active: every account that has not expired.",
         "schema": {"type": "string", "enum": list(resold.STATUSES), "default": "active"}},
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(resold.SORTS), "default": "name"}},
        {"name": "order", "in": "query", "schema": {"type": "string", "enum": list(resold.ORDERS), "default": "asc"}},
        *_cursor_params(resold.PAGE_SIZE),
    ]
    invoice_params = [
        {"name": "account", "in": "query", "description": "Only this account's invoices (its name).",
         "schema": _text(40)},
        {"name": "month", "in": "query", "description": "Only invoices made that month.",
         "schema": {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "example": "2026-11"}},
        *_cursor_params(50),
    ]
    report_params = [
        {"name": "status", "in": "query", "description": "Only reports of this status; none: every report.",
         "schema": {"type": "string", "enum": list(REPORT_STATUSES)}},
        *_cursor_params(50),
    ]
    account = _ref("Account")
    paths = {
        "/plans": {"get": _get("listPlans", "The plan catalog and the agency's discount", _ref("Catalog"),
                               tag="Plans")},
        "/accounts": {
            "get": _get("listAccounts", "The agency's resold accounts, a page at a time", _ref("AccountPage"),
                        params=accounts_params, tag="Accounts",
                        description="The Resold tab's view: search, plan-type and status filters, sort."),
            "post": _post("createAccount", "Create an account", "NewAccount", 202, _ref("AccountCreated"),
                          by_id=False, charges=True, tag="Accounts",
                          description="Charges the first period (nothing for a trial), then provisions the account "
                                      "in the background: follow the operation for its progress and credentials."),
        },
        "/accounts/name-check": {"get": _get(
            "checkAccountName", "Is this account name free?", _ref("NameCheck"), tag="Accounts",
            params=[{"name": "name", "in": "query", "required": True, "schema": _text(100)}])},
        "/accounts/{id}": {
            "get": _get("getAccount", "One account", _ref("AccountDetail"), by_id=True, tag="Accounts"),
            "patch": _patch("updateAccount", "Edit the client's details", "AccountDetailsChange", account,
                            tag="Accounts", description="Client name and e-mail, notification e-mail, language and "
                                                        "time zone, checked as when the account was created; "
                                                        "every change is written to the audit log."),
        },
        "/accounts/{id}/retry": {"post": _post(
            "retryProvisioning", "Run a failed provisioning again", "Empty", 202, _ref("AccountCreated"),
            body_required=False, tag="Accounts",
            description="From the step where it stopped; nothing is charged again. 409 when provisioning has not "
                        "failed. Follow the operation for its progress.")},
        "/accounts/{id}/plan/preview": {"post": _post(
            "previewPlanChange", "What a plan change (or renewing an expired account) charges", "PaidPlanChoice",
            200, _ref("Quote"), tag="Accounts",
            description="Nothing is charged: today's amount (pro rata, discount, prepaid credit spent, card) and "
                        "what each renewal costs after, with the token to confirm it by.")},
        "/accounts/{id}/plan": {"post": _post(
            "changePlan", "Change the plan", "PaidPlanConfirm", 200, _ref("PlanChangeResult"), charges=True,
            tag="Accounts", description="An upgrade is charged pro rata now; a downgrade starts at the next renewal; "
                                        "a trial moves to the paid plan from today, charged now.")},
        "/accounts/{id}/cancel": {"post": _post(
            "cancelAccount", "Cancel the account", "Empty", 200, account, body_required=False, tag="Accounts",
            description="No further renewals; it stays usable until the end of the paid period.")},
        "/accounts/{id}/resume": {"post": _post(
            "resumeAccount", "Undo a cancellation", "Empty", 200, account, body_required=False, tag="Accounts",
            description="Until the paid period ends: the account renews on its day again. Nothing is charged now. "
                        "After period_end it has expired (409): renew it instead.")},
        "/accounts/{id}/disable": {"post": _post(
            "disableAccount", "Disable the account yourself", "Empty", 200, account, body_required=False,
            tag="Accounts", description="Its client sees a page saying it is disabled and it cannot be opened, until "
                                        "you enable it. It keeps renewing on its day and being charged.")},
        "/accounts/{id}/enable": {"post": _post(
            "enableAccount", "Enable an account you disabled", "Empty", 200, account, body_required=False,
            tag="Accounts", description="At once. An account disabled for abuse (by support) or unpaid is not yours "
                                        "to enable (409).")},
        "/accounts/{id}/renew": {"post": _post(
            "renewAccount", "Renew an expired account on a paid plan", "PaidPlanConfirm", 200,
            _ref("PlanChangeResult"), charges=True, tag="Accounts",
            description="For an expired trial or an expired paid plan: the first period is charged now, on a "
                        "reactivation invoice. Preview it with /accounts/{id}/plan/preview.")},
        "/accounts/{id}/extend-trial": {"post": _post(
            "extendTrial", "Extend the trial", "Empty", 200, _ref("TrialExtension"), body_required=False,
            tag="Accounts", description="Once by the agency; after that the request goes to support.")},
        "/accounts/{id}/password-reset": {"post": _post(
            "sendPasswordReset", "E-mail a password reset link to the account's admin", "Empty", 202,
            _ref("PasswordResetSent"), body_required=False, tag="Accounts")},
        "/accounts/{id}/login-link": {"post": _post(
            "createLoginLink", "A single-use link that opens the account as admin", "Empty", 201,
            _ref("LoginLink"), body_required=False, tag="Accounts",
            description="Good for one minute; every use is written to the audit log. An expired or disabled "
                        "account cannot be opened (409) until it is renewed or paid.")},
        "/accounts/{id}/credits/preview": {"post": _post(
            "previewAccountCredits", "What buying credits for the account charges", "CreditPurchase", 200,
            _ref("Quote"), tag="Credits")},
        "/accounts/{id}/credits": {"post": _post(
            "buyCredits", "Buy credits for the account", "CreditPurchaseConfirm", 201, _ref("CreditPurchaseResult"),
            charges=True, tag="Credits",
            description="Paid with prepaid credit first, then the card. SMS credits go only to plans that can send "
                        "SMS, and no credit to an expired or disabled account.")},
        "/credits": {"get": _get("getCredits", "The agency's pool and what each account holds",
                                 _ref("CreditBalances"), tag="Credits")},
        "/credits/preview": {"post": _post(
            "previewPoolCredits", "What buying credits into the agency's pool charges", "CreditPurchase", 200,
            _ref("Quote"), by_id=False, tag="Credits")},
        "/credits/purchases": {"post": _post(
            "buyPoolCredits", "Buy credits into the agency's pool", "CreditPurchaseConfirm", 201,
            _ref("PoolPurchaseResult"), by_id=False, charges=True, tag="Credits",
            description="Assign them to accounts afterwards with /credits/moves.")},
        "/credits/moves": {"post": _post(
            "moveCredits", "Move credits between the pool and accounts", "CreditMove", 201,
            _ref("CreditMoveResult"), by_id=False, tag="Credits",
            description="From the pool to an account, between accounts, or back to the pool; each move is in the "
                        "ledger. Never more than the source holds (422).")},
        "/operations/{id}": {"get": _get("getOperation", "A background operation", _ref("Operation"), by_id=True,
                                         tag="Operations")},
        "/invoices": {"get": _get("listInvoices", "The agency's invoices, newest first", _ref("InvoicePage"),
                                  params=invoice_params, tag="Invoices")},
        "/invoices/{id}": {"get": _get("getInvoice", "One invoice with its lines", _ref("InvoiceDetail"),
                                       by_id=True, tag="Invoices")},
        "/reports": {"get": _get(
            "listReports", "The abuse and bounce reports support filed about the agency's accounts, newest first",
            _ref("ReportPage"), params=report_params, tag="Reports",
            description="Each is e-mailed to the agency (never to its client); the agency acknowledges it with a "
                        "reply (POST /reports/{id}/acknowledge, or the dashboard).")},
        "/pushdowns": {
            "get": _get("listPushdowns", "The agency's pushdowns with exact counts", _ref("PushdownList"),
                        tag="Pushdowns", description="For franchise agencies (403 otherwise)."),
            "post": _post("createPushdown", "A draft pushdown of one automation to chosen sub-accounts",
                          "NewPushdown", 201, _ref("Pushdown"), by_id=False, tag="Pushdowns"),
        },
        "/pushdowns/{id}/publish": {"post": _post(
            "publishPushdown", "Publish now: copy the automation into every chosen sub-account", "PublishPushdown",
            202, _ref("PushdownPublished"), body_required=False, tag="Pushdowns",
            description="The copies are made in the background: follow the operation.")},
        "/pushdowns/{id}/activate-all": {"post": _post(
            "activateAllPushdown", "Activate it in every sub-account that holds it", "Empty", 200, _ref("Pushdown"),
            body_required=False, tag="Pushdowns")},
        "/pushdowns/{id}/deactivate-all": {"post": _post(
            "deactivateAllPushdown", "Deactivate it in every sub-account that holds it", "Empty", 200,
            _ref("Pushdown"), body_required=False, tag="Pushdowns")},
        "/pushdowns/{id}/accounts": {"get": _get(
            "listPushdownAccounts", "Each chosen sub-account: its state and the version it holds",
            _ref("PushdownAccounts"), by_id=True, tag="Pushdowns", params=[
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["active", "inactive", "missing"]}},
                *_cursor_params(50)])},
    }
    schemas = _schemas(catalog, languages)
    tags = ["Plans", "Accounts", "Credits", "Operations", "Invoices", "Reports", "Pushdowns"]
    webhooks: dict = {}
    _merge_areas(areas, catalog, languages, paths, schemas, tags, webhooks)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AgencyHQ Agency API", "version": API_VERSION,
            "description": (
                "Everything the dashboard does, for your own programs: accounts and their plans, custom domains and "
                "branding, templates, transfers and detaches, billing, credits and invoices, pushdowns and the parent "
                "account's automations, commission, reports and the team. Webhooks tell your systems what happened "
                "(signed per the Standard Webhooks specification); GET /events lists the last 30 days' events. "
                "JSON in and out. Authenticate with `Authorization: Bearer <token>` (make a token on the Agency "
                "API page). Every POST accepts an `Idempotency-Key` header. Each token may make a limited number "
                "of requests a minute; past it the answer is 429 with Retry-After. Errors are "
                "`{\"error\": {\"code\", \"message\", \"fields\"}}`. Money is in integer cents."),
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in tags],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A token made on the Agency API page (or `flask create-api-token`). It acts with the "
                               "role of the person who made it, never more; a token of scope `read` may only GET; "
                               "it stops working after its expiry day (UTC), if it has one, or when revoked."}},
            "schemas": schemas,
        },
        **({"webhooks": webhooks} if webhooks else {}),
    }


def _merge_areas(areas: tuple, catalog: Catalog, languages: dict, paths: dict, schemas: dict, tags: list,
                 webhooks: dict) -> None:
    """Each area module of the API adds its paths, schemas, tags and (OpenAPI 3.1) webhooks - the requests AgencyHQ
    sends; two areas may share a path with different methods, never a method, a schema name or an operationId."""
    for area in areas:
        part = area.spec(catalog, languages)
        clash = set(webhooks) & set(part.get("webhooks", {}))
        if clash:
            raise RuntimeError(f"{area.__name__}: webhooks {sorted(clash)} are defined twice")
        webhooks.update(part.get("webhooks", {}))
        for path, item in part.get("paths", {}).items():
            target = paths.setdefault(path, {})
            clash = set(target) & set(item)
            if clash:
                raise RuntimeError(f"{area.__name__}: {path} {sorted(clash)} is defined twice")
            target.update(item)
        clash = set(schemas) & set(part.get("schemas", {}))
        if clash:
            raise RuntimeError(f"{area.__name__}: schemas {sorted(clash)} are defined twice")
        schemas.update(part.get("schemas", {}))
        tags.extend(t for t in part.get("tags", ()) if t not in tags)
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"operationIds defined twice: {sorted({i for i in ids if ids.count(i) > 1})}")


def operation(document: dict, operation_id: str) -> dict:
    for item in document["paths"].values():
        for op in item.values():
            if op["operationId"] == operation_id:
                return op
    raise KeyError(operation_id)
