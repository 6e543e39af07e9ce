"""The API's views: parse (against the OpenAPI document), call the same service as the dashboard,
answer JSON. Service errors become the error format in errors.py."""
from __future__ import annotations

import base64
import hashlib
import json

import sqlalchemy as sa

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ..catalog import get_catalog
from ..extensions import db
from ..models import Automation, HostedAccount, Invoice, Operation, Pushdown
from ..services import (accounts, billing, billing_history, client_auth, credits, keys, provisioning, pushdown,
                        reports, resold, serializers)
from ..services.errors import NotFound, ValidationFailed
from .blueprint import bp
from .guard import permission_required, request_key
from .openapi import operation as find_operation
from .validation import Validator, check_body, check_query


# ---- parsing, against the document ------------------------------------------------------------------

def _document() -> dict:
    return current_app.extensions["openapi"]


def _validator() -> Validator:
    """One per document, so each schema is compiled once."""
    document = _document()
    found = current_app.extensions.get("openapi_validator")
    if found is None or found.components is not document["components"]:
        found = current_app.extensions["openapi_validator"] = Validator(document["components"])
    return found


def query(operation_id: str) -> dict:
    return check_query(_validator(), find_operation(_document(), operation_id).get("parameters", []), request.args)


def body(operation_id: str) -> dict:
    """The JSON body checked against the operation's schema: unknown fields and wrong types are a 422."""
    spec = find_operation(_document(), operation_id)["requestBody"]
    data = g.get("api_body")
    if data is None:
        if spec.get("required"):
            raise ValidationFailed(_("Send a JSON body."), {"body": _("This field is required.")})
        data = {}
    return check_body(_validator(), spec["content"]["application/json"]["schema"], data)


def scope():
    return g.api_scope


def actor():
    return g.api_actor


def _cursor_fingerprint(params: dict) -> str:
    stable = {k: v for k, v in params.items() if k != "cursor"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:12]


def encode_cursor(page: int, params: dict) -> str:
    raw = json.dumps([page, _cursor_fingerprint(params)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(params: dict) -> int:
    """The page a cursor points at; it only fits the parameters it was made with."""
    cursor = params.get("cursor")
    if cursor is None:
        return 1
    try:
        page, fingerprint = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= 10**9:
            raise ValueError
    except (ValueError, TypeError):
        raise ValidationFailed(_("The cursor is not valid."), {"cursor": _("Use the next_cursor of an earlier "
                                                                           "answer.")}) from None
    if fingerprint != _cursor_fingerprint(params):
        raise ValidationFailed(_("The cursor was made for other parameters."),
                               {"cursor": _("Send the same parameters as for the first page.")})
    return page


def _next_cursor(page: int, limit: int, total: int, params: dict) -> str | None:
    return encode_cursor(page + 1, params) if page * limit < total else None


def _discount() -> int:
    return billing.discount_in_force(scope().agency_id)


def _account_json(account: HostedAccount, discount: int | None = None) -> dict:
    return serializers.account(account, _discount() if discount is None else discount)


# ---- the catalog --------------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi_json():
    return jsonify(_document())


@bp.get("/plans")
@permission_required("view")
def plans():
    query("listPlans")
    catalog = get_catalog()
    summary = resold.summary(scope())
    return jsonify({**catalog.to_public_dict(),
                    "discount": {"paid_accounts": summary.paid_accounts, "percent": summary.discount_percent}})


# ---- accounts (R1-R5, A1-A10) -------------------------------------------------------------------------

@bp.get("/accounts")
@permission_required("view")
def list_accounts():
    params = query("listAccounts")
    page, limit = decode_cursor(params), params["limit"]
    # The Resold tab's own reading of its URL, so both filter, search and sort alike.
    view = resold.View.from_args(MultiDict([("q", params.get("q", "")), ("status", params["status"]),
                                            ("sort", params["sort"]), ("order", params["order"]),
                                            ("page", str(page))] + [("plan", p) for p in params.get("plan_type", [])]))
    result = resold.page(scope(), view, page_size=limit)
    rows = result.rows if result.view.page == page else []  # past the end: nothing, not the last page again
    discount = _discount() if rows else 0
    return jsonify({"data": [_account_json(a, discount) for a in rows], "total": result.total,
                    "next_cursor": _next_cursor(page, limit, result.total, params) if rows else None})


@bp.get("/accounts/name-check")
@permission_required("view")
def name_check():
    name = query("checkAccountName")["name"]
    problem = accounts.name_problem(name)
    return jsonify({"available": problem is None, "reason": problem})


@bp.post("/accounts")
@permission_required("view")
def create_account():
    data = body("createAccount")
    plan = data["plan"]
    new = accounts.NewAccount(
        name=data["name"], custom_domain=data.get("custom_domain", ""), client_name=data["client_name"],
        client_email=data["client_email"], notification_email=data["notification_email"],
        language=data["language"], timezone=data["timezone"].strip(), tier=plan["tier"], term=plan["term"],
        contact_limit=plan["contact_limit"])
    account, op = accounts.create(scope().agency_id, new, request_key=request_key(), actor=actor())
    return jsonify({"account": _account_json(account), "operation": serializers.operation(op, None)}), 202


@bp.get("/accounts/<account_id>")
@permission_required("view")
def get_account(account_id):
    query("getAccount")
    account = scope().account(account_id)
    return jsonify({**_account_json(account),
                    "credits": serializers.credits(billing_history.account_balances(account))})


@bp.patch("/accounts/<account_id>")
@permission_required("manage_accounts")
def update_account(account_id):
    """The client's details, edited after Add New with its rules; a field left out keeps its value."""
    account = scope().account(account_id)
    data = body("updateAccount")
    details = accounts.ClientDetails(**{name: data.get(name, getattr(account, name))
                                        for name in accounts.DETAIL_FIELDS})
    accounts.update_details(account, details, actor())
    return jsonify(_account_json(account))


@bp.post("/accounts/<account_id>/retry")
@permission_required("manage_accounts")
def retry_provisioning(account_id):
    """A failed provisioning run again from where it stopped (nothing is charged again)."""
    account = scope().account(account_id)
    body("retryProvisioning")
    op = accounts.retry_provisioning(account, actor())
    return jsonify({"account": _account_json(account), "operation": serializers.operation(op, None)}), 202


def _plan_result(account: HostedAccount, result: dict):
    invoice = result.get("invoice")
    return jsonify({"change": result["change"], "effective_on": serializers._iso(result.get("effective")),
                    "invoice": serializers.invoice(invoice, account.name) if invoice is not None else None,
                    "account": _account_json(account)})


@bp.post("/accounts/<account_id>/plan/preview")
@permission_required("charge")
def preview_plan_change(account_id):
    """What the change would charge today and at each renewal, with the token that confirms it; nothing moves."""
    account = scope().account(account_id)
    data = body("previewPlanChange")
    return jsonify(accounts.preview_change(account, tier=data["tier"], term=data["term"],
                                           contact_limit=data["contact_limit"], actor=actor()).to_dict())


@bp.post("/accounts/<account_id>/plan")
@permission_required("charge")
def change_plan(account_id):
    account = scope().account(account_id)
    data = body("changePlan")
    result = accounts.change_plan(account, tier=data["tier"], term=data["term"], contact_limit=data["contact_limit"],
                                  request_key=request_key(), actor=actor(), quote=data["quote"])
    return _plan_result(account, result)


@bp.post("/accounts/<account_id>/renew")
@permission_required("charge")
def renew(account_id):
    account = scope().account(account_id)
    data = body("renewAccount")
    result = accounts.renew(account, tier=data["tier"], term=data["term"], contact_limit=data["contact_limit"],
                            request_key=request_key(), actor=actor(), quote=data["quote"])
    return _plan_result(account, result)


@bp.post("/accounts/<account_id>/cancel")
@permission_required("manage_accounts")
def cancel(account_id):
    account = scope().account(account_id)
    body("cancelAccount")
    return jsonify(_account_json(accounts.cancel(account, actor())))


@bp.post("/accounts/<account_id>/resume")
@permission_required("manage_accounts")
def resume(account_id):
    account = scope().account(account_id)
    body("resumeAccount")
    return jsonify(_account_json(accounts.resume(account, actor())))


@bp.post("/accounts/<account_id>/disable")
@permission_required("manage_accounts")
def disable(account_id):
    account = scope().account(account_id)
    body("disableAccount")
    return jsonify(_account_json(accounts.disable(account, actor())))


@bp.post("/accounts/<account_id>/enable")
@permission_required("manage_accounts")
def enable(account_id):
    account = scope().account(account_id)
    body("enableAccount")
    return jsonify(_account_json(accounts.enable(account, actor())))


@bp.post("/accounts/<account_id>/extend-trial")
@permission_required("manage_accounts")
def extend_trial(account_id):
    account = scope().account(account_id)
    body("extendTrial")
    result = accounts.extend_trial(account, actor())
    request_row = result.get("request")
    return jsonify({"extended": result["extended"], "until": serializers._iso(result.get("until")),
                    "support_request_id": request_row.id if request_row is not None else None,
                    "account": _account_json(account)})


@bp.post("/accounts/<account_id>/password-reset")
@permission_required("manage_accounts")
def password_reset(account_id):
    account = scope().account(account_id)
    body("sendPasswordReset")
    client_auth.agency_sends_reset(account, actor())
    return jsonify({"sent": True}), 202


@bp.post("/accounts/<account_id>/login-link")
@permission_required("manage_accounts")
def login_link(account_id):
    account = scope().account(account_id)
    body("createLoginLink")
    url = accounts.login_as_link(account, g.api_token_user_id, actor())
    return jsonify({"url": url, "expires_in_seconds": accounts.LOGIN_AS_SECONDS}), 201


@bp.post("/accounts/<account_id>/credits/preview")
@permission_required("charge")
def preview_account_credits(account_id):
    account = scope().account(account_id)
    data = body("previewAccountCredits")
    return jsonify(billing.preview_credits(scope().agency_id, account, data["kind"], data["amount"]).to_dict())


@bp.post("/accounts/<account_id>/credits")
@permission_required("charge")
def buy_credits(account_id):
    account = scope().account(account_id)
    data = body("buyCredits")
    invoice = billing.buy_credits(scope().agency_id, account, data["kind"], data["amount"], actor=actor(),
                                  key=keys.api_credits_invoice(request_key()), quote=data["quote"])
    return jsonify({"invoice": serializers.invoice(invoice, account.name),
                    "credits": serializers.credits(billing_history.account_balances(account))}), 201


def _pool() -> dict:
    agency_id = scope().agency_id
    return serializers.credits({kind: billing.balance(agency_id, kind) for kind in credits.KINDS})


@bp.get("/credits")
@permission_required("billing")
def get_credits():
    query("getCredits")
    held = billing_history.held_balances(scope())
    return jsonify({"pool": _pool(), "accounts": [
        {"account_id": account_id, "name": name, "credits": serializers.credits(balances)}
        for (account_id, name), balances in held.items()]})


@bp.post("/credits/preview")
@permission_required("charge")
def preview_pool_credits():
    data = body("previewPoolCredits")
    return jsonify(billing.preview_credits(scope().agency_id, None, data["kind"], data["amount"]).to_dict())


@bp.post("/credits/purchases")
@permission_required("charge")
def buy_pool_credits():
    data = body("buyPoolCredits")
    invoice = billing.buy_credits(scope().agency_id, None, data["kind"], data["amount"], actor=actor(),
                                  key=keys.api_credits_invoice(request_key()), quote=data["quote"])
    return jsonify({"invoice": serializers.invoice(invoice, None), "pool": _pool()}), 201


@bp.post("/credits/moves")
@permission_required("charge")
def move_credits():
    data = body("moveCredits")
    ends = [scope().account(data[name]) if data[name] is not None else None
            for name in ("from_account_id", "to_account_id")]
    result = credits.move(scope().agency_id, data["kind"], data["amount"], source=ends[0], target=ends[1],
                          request_key=request_key(), actor=actor())
    return jsonify({"moved": result["moved"] or data["amount"], "pool": _pool()}), 201


# ---- operations (A2) -----------------------------------------------------------------------------------

@bp.get("/operations/<operation_id>")
@permission_required("view")
def get_operation(operation_id):
    query("getOperation")
    op = scope().get(Operation, operation_id)
    result = None
    if op.status == "succeeded":
        result = provisioning.read_credentials(op) if op.kind == "provision_account" else op.result
    return jsonify(serializers.operation(op, result))


# ---- invoices (B4) -------------------------------------------------------------------------------------

@bp.get("/invoices")
@permission_required("billing")
def list_invoices():
    params = query("listInvoices")
    page, limit = decode_cursor(params), params["limit"]
    if params.get("month") and not billing_history.valid_month(params["month"]):
        raise ValidationFailed(_("The query parameters are not valid; see the fields."),
                               {"month": _("Give a month as YYYY-MM, of a year from 0001 to 9998.")})
    filters = billing_history.HistoryFilters(account=params.get("account", "").strip().lower(),
                                             month=params.get("month", ""), page=page)
    result = billing_history.invoices(scope(), filters, page_size=limit)
    rows = result.rows if result.page == page else []
    return jsonify({"data": [serializers.invoice(inv, name) for inv, name in rows], "total": result.total,
                    "next_cursor": _next_cursor(page, limit, result.total, params) if rows else None})


@bp.get("/invoices/<invoice_id>")
@permission_required("billing")
def get_invoice(invoice_id):
    query("getInvoice")
    inv = scope().get(Invoice, invoice_id)
    account = db.session.get(HostedAccount, inv.account_id) if inv.account_id else None
    return jsonify(serializers.invoice(inv, account.name if account else None, lines=True))


# ---- abuse and bounce reports (S6, N3) --------------------------------------------------------------------

@bp.get("/reports")
@permission_required("view")
def list_reports():
    params = query("listReports")
    page, limit = decode_cursor(params), params["limit"]
    result = reports.listing(scope(), actor=actor(), status=params.get("status", ""), page=page, per_page=limit)
    rows = result.rows if result.page == page else []  # past the end: nothing, not the last page again
    return jsonify({"data": [serializers.report(row.report, row.account_name) for row in rows], "total": result.total,
                    "next_cursor": _next_cursor(page, limit, result.total, params) if rows else None})


# ---- pushdowns (P2-P5) ------------------------------------------------------------------------------

def _pushdown_json(row: Pushdown) -> dict:
    return serializers.pushdown(row, db.session.get(Automation, row.automation_id),
                                pushdown.counts([row.id])[row.id])


def _franchise_pushdown(pushdown_id) -> Pushdown:
    pushdown.require_franchise(scope().agency_id)
    return pushdown.pushdown(scope().agency_id, pushdown_id)


def _activation(data: dict | None):
    data = data or {}
    return pushdown.ActivationInput(data.get("mode", "none"), data.get("date", ""), data.get("time", ""),
                                    data.get("timezone", ""))


@bp.get("/pushdowns")
@permission_required("library")
def list_pushdowns():
    query("listPushdowns")
    pushdown.require_franchise(scope().agency_id)
    return jsonify({"data": [serializers.pushdown(item["row"], item["automation"], item["counts"])
                             for item in pushdown.listing(scope().agency_id)]})


@bp.post("/pushdowns")
@permission_required("library")
def create_pushdown():
    data = body("createPushdown")
    agency_id = scope().agency_id
    pushdown.require_franchise(agency_id)
    pushdown.parent_automation(agency_id, data["automation_id"])  # 404 before anything is written
    if data.get("account_ids"):
        found = db.session.scalar(sa.select(sa.func.count()).select_from(
            scope().accounts().where(HostedAccount.id.in_(data["account_ids"])).subquery()))
        if found != len(set(data["account_ids"])):
            raise NotFound()
    activation = _activation(data.get("activation"))
    row = pushdown.create_draft(agency_id, [data["automation_id"]], actor())
    try:
        if data.get("account_ids"):
            pushdown.select(row, data["account_ids"])
        if "select_matching" in data:
            pushdown.select_matching(row, data["select_matching"])
        pushdown.set_activation(row, activation)
    except Exception:
        # Nothing half-written: the draft goes with the refusal.
        db.session.rollback()
        pushdown.delete_draft(db.session.get(Pushdown, row.id), actor())
        raise
    return jsonify(_pushdown_json(row)), 201


@bp.post("/pushdowns/<pushdown_id>/publish")
@permission_required("library")
def publish_pushdown(pushdown_id):
    row = _franchise_pushdown(pushdown_id)
    data = body("publishPushdown")
    op = pushdown.publish(row, _activation(data["activation"]) if "activation" in data else None, actor())
    return jsonify({"pushdown": _pushdown_json(row), "operation": serializers.operation(op, None)}), 202


def _switch(pushdown_id, active: bool, operation_id: str):
    row = _franchise_pushdown(pushdown_id)
    body(operation_id)
    pushdown.switch(row, active, actor())
    return jsonify(_pushdown_json(row))


@bp.post("/pushdowns/<pushdown_id>/activate-all")
@permission_required("library")
def activate_all(pushdown_id):
    return _switch(pushdown_id, True, "activateAllPushdown")


@bp.post("/pushdowns/<pushdown_id>/deactivate-all")
@permission_required("library")
def deactivate_all(pushdown_id):
    return _switch(pushdown_id, False, "deactivateAllPushdown")


@bp.get("/pushdowns/<pushdown_id>/accounts")
@permission_required("library")
def pushdown_accounts(pushdown_id):
    params = query("listPushdownAccounts")
    row = _franchise_pushdown(pushdown_id)
    after = ""
    if params.get("cursor"):
        try:
            after = base64.urlsafe_b64decode(params["cursor"] + "=" * (-len(params["cursor"]) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            raise ValidationFailed(_("The cursor is not valid."), {"cursor": _("Use the next_cursor of an earlier "
                                                                               "answer.")}) from None
    rows, next_after = pushdown.report(row, params.get("state", ""), "", after, params["limit"])
    return jsonify({
        "data": [{"account_id": r.id, "name": r.name, "state": r.state, "version_held": r.version_number,
                  "last_change": serializers._iso(r.changed), "error": r.error} for r in rows],
        "next_cursor": base64.urlsafe_b64encode(next_after.encode()).rstrip(b"=").decode() if next_after else None})
