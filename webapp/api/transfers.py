"""The API's transfer-in and detach requests (A3, A4), over the same services as the dashboard
(services/support.py) with the same permission, and where each request stands.

A transfer in is asked by the agency and confirmed by the account's admin, from the link e-mailed to the
admin (the dashboard's accounts.confirm_transfer, which needs no login: it is the client's step, not the
agency's, and has no API twin); support then approves or rejects it. Until it is approved, the answer never
says whether the address and the e-mail matched an account (no enumeration): its account_id stays null."""
from __future__ import annotations

from flask import g, jsonify

from ..extensions import db
from ..models import HostedAccount, User
from ..models.support import REQUEST_STATUSES
from ..services import serializers, support
from .blueprint import bp
from .guard import permission_required
from .openapi import DATETIME, STRING, _cursor_params, _get, _nullable, _obj, _post, _ref, _text
from .routes import actor, body, decode_cursor, encode_cursor, query, scope

TWINS = {
    "accounts.transfer": "api.request_transfer",
    "accounts.detach": "api.request_detach",
}


def _request_json(row) -> dict:
    account_id = support.request_account_id(row)
    if row.kind == "transfer":
        account_name = row.payload.get("account_name", "")
    else:
        account = db.session.get(HostedAccount, row.account_id) if row.account_id else None
        account_name = account.name if account is not None else ""
    return {"id": row.id, "kind": row.kind, "status": row.status, "account_id": account_id,
            "account_name": account_name,
            "admin_email": row.payload.get("admin_email") if row.kind == "transfer" else None,
            "client_email": row.payload.get("client_email") if row.kind == "detach" else None,
            "decision_reason": row.decision_reason, "created_at": serializers._iso(row.created_at),
            "confirmed_at": serializers._iso(row.confirmed_at), "handled_at": serializers._iso(row.handled_at)}


def _user() -> User:
    return db.session.get(User, g.api_token_user_id)


@bp.post("/transfers")
@permission_required("manage_accounts")
def request_transfer():
    data = body("requestTransfer")
    row = support.request_transfer(scope().agency_id, _user(), account_name=data["account_name"],
                                   admin_email=data["admin_email"], actor=actor())
    return jsonify(_request_json(row)), 201


@bp.post("/accounts/<account_id>/detach")
@permission_required("manage_accounts")
def request_detach(account_id):
    account = scope().account(account_id)
    data = body("requestDetach")
    row = support.request_detach(account, _user(), client_email=data["client_email"], actor=actor())
    return jsonify(_request_json(row)), 201


@bp.get("/transfers")
@permission_required("view")
def list_transfers():
    params = query("listTransfers")
    page, limit = decode_cursor(params), params["limit"]
    result = support.agency_requests(scope().agency_id, kind=params.get("kind", ""),
                                     status=params.get("status", ""), page=page, per_page=limit)
    return jsonify({"data": [_request_json(row) for row in result.rows], "total": result.total,
                    "next_cursor": encode_cursor(page + 1, params) if result.has_next else None})


@bp.get("/transfers/<request_id>")
@permission_required("view")
def get_transfer(request_id):
    query("getTransfer")
    return jsonify(_request_json(support.agency_request(scope().agency_id, request_id)))


def spec(catalog, languages) -> dict:
    statuses = [s for s in REQUEST_STATUSES if s != "closed"]
    schemas = {
        "TransferRequest": _obj({
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": list(support.AGENCY_REQUEST_KINDS),
                     "description": "transfer: an existing account brought under you; detach: one of yours made "
                                    "its client's own, standalone."},
            "status": {"type": "string", "enum": statuses, "description": (
                "awaiting_client: a transfer waits for the account's admin to confirm by the e-mailed link; open: "
                "with support; approved: done (you are told by e-mail); rejected: see decision_reason.")},
            "account_id": {**_nullable({"type": "integer"}), "description": (
                "A detach's account; a transfer's only once approved.")},
            "account_name": STRING,
            "admin_email": {**_nullable(STRING), "description": "A transfer's: the account admin's e-mail you gave."},
            "client_email": {**_nullable(STRING), "description": "A detach's: the client's e-mail, where the "
                                                                 "platform writes once the account is theirs."},
            "decision_reason": _nullable(STRING), "created_at": DATETIME, "confirmed_at": _nullable(DATETIME),
            "handled_at": {**_nullable(DATETIME), "description": "When support decided."},
        }),
        "TransferRequestPage": _obj({"data": {"type": "array", "items": _ref("TransferRequest")}, "total":
                                     {"type": "integer"}, "next_cursor": _nullable(STRING)}),
        "TransferNew": _obj({
            "account_name": {**_text(60), "description": "The account's address: <name>.<platform domain>, or "
                                                         "just <name>."},
            "admin_email": {**_text(254), "description": "The e-mail of the account's admin, who confirms."}}),
        "TransferDetachNew": _obj({"client_email": {**_text(254), "description": (
            "The client's e-mail: the account's notification e-mail once detached.")}}),
    }
    one = _ref("TransferRequest")
    paths = {
        "/transfers": {
            "get": _get("listTransfers", "Your transfer-in and detach requests, newest first",
                        _ref("TransferRequestPage"), tag="Transfers", params=[
                            {"name": "kind", "in": "query",
                             "schema": {"type": "string", "enum": list(support.AGENCY_REQUEST_KINDS)}},
                            {"name": "status", "in": "query", "schema": {"type": "string", "enum": statuses}},
                            *_cursor_params(50)]),
            "post": _post("requestTransfer", "Ask for an existing account to be moved to you", "TransferNew", 201,
                          one, by_id=False, tag="Transfers", description=(
                              "If the address and the e-mail match an account of the platform, its admin gets a "
                              "link to confirm; support then moves it to you. The answer is the same whether they "
                              "match or not.")),
        },
        "/transfers/{id}": {"get": _get("getTransfer", "One of your requests", one, by_id=True, tag="Transfers")},
        "/accounts/{id}/detach": {"post": _post(
            "requestDetach", "Ask support to make the account its client's own", "TransferDetachNew", 201, one,
            tag="Transfers", description=(
                "Remove your branding from it first. Once support approves, it leaves your accounts and your "
                "billing. 409 when a request for it is already with support."))},
    }
    return {"paths": paths, "schemas": schemas, "tags": ["Transfers"]}
