"""The API's Commission (C1-C3), over services/commission.py as the dashboard's Commission tab: the summary
(referral link, rate, balance, the next payout and the ledger by month), the referred accounts, the payouts,
and the PayPal e-mail payouts go to."""
from __future__ import annotations

from flask import jsonify

from ..catalog import get_catalog
from ..extensions import db
from ..models import Agency
from ..models.accounts import ACCOUNT_STATUSES
from ..models.commission import PAYOUT_STATUSES
from ..services import commission, serializers
from .blueprint import bp
from .guard import permission_required
from .openapi import _get, _nullable, _obj, _patch, _ref, _text
from .routes import actor, body, query, scope

TWINS = {"commission.settings": "api.update_commission_settings"}

_iso = serializers._iso


payout_json = serializers.payout  # the same object the payout.paid and payout.failed webhooks carry


def _agency() -> Agency:
    return db.session.get(Agency, scope().agency_id)


def _settings_json(agency: Agency) -> dict:
    return {"paypal_email": agency.paypal_email or None}


@bp.get("/commission")
@permission_required("view")
def get_commission():
    query("getCommission")
    agency = _agency()
    status = commission.status_for(agency)
    catalog = get_catalog()
    return jsonify({
        "referral_url": commission.referral_url(agency), "rate_bp": catalog.commission_rate_bp,
        "currency": agency.currency, "paypal_email": agency.paypal_email or None,
        "unpaid_cents": status["unpaid_cents"],
        "next_payout": {"month": status["month"], "due_cents": status["due_cents"],
                        "minimum_cents": status["minimum_cents"], "waiting_for": status["reason"],
                        "payout": payout_json(status["payout"]) if status["payout"] is not None else None},
        "months": [{"month": m["month"], "total_cents": m["total_cents"], "entries": [
            {"id": item["entry"].id, "account_id": item["entry"].account_id, "account_name": item["account_name"],
             "invoice_id": item["entry"].invoice_id, "kind": "reversal" if item["entry"].is_reversal else "payment",
             "amount_cents": item["entry"].amount_cents, "created_at": _iso(item["entry"].created_at)}
            for item in m["entries"]]} for m in commission.ledger(agency.id)],
    })


@bp.get("/commission/accounts")
@permission_required("view")
def list_referred_accounts():
    query("listReferredAccounts")
    return jsonify({"data": [{
        "account_id": row["account"].id, "name": row["account"].name, "client_name": row["account"].client_name,
        "client_email": row["account"].client_email, "status": row["account"].status,
        "plan": serializers.plan(row["account"].plan_tier, row["account"].plan_term, row["account"].contact_limit),
        "created_at": _iso(row["account"].created_at), "paid_cents": row["paid_cents"],
        "commission_cents": row["commission_cents"]} for row in commission.referred_accounts(scope().agency_id)]})


@bp.get("/commission/payouts")
@permission_required("view")
def list_payouts():
    query("listPayouts")
    return jsonify({"data": [payout_json(p) for p in commission.payout_history(scope().agency_id)]})


@bp.patch("/commission/settings")
@permission_required("billing")
def update_commission_settings():
    data = body("updateCommissionSettings")
    agency = commission.set_paypal_email(scope().agency_id, data["paypal_email"], actor=actor())
    return jsonify(_settings_json(agency))


def spec(catalog, languages) -> dict:
    integer, string, dt = {"type": "integer"}, {"type": "string"}, {"type": "string", "format": "date-time"}
    payout = _obj({
        "id": integer, "month": {**string, "description": "The month whose commission it pays, YYYY-MM."},
        "amount_cents": integer, "currency": string,
        "status": {"type": "string", "enum": list(PAYOUT_STATUSES), "description": (
            "pending: being sent, or PayPal is processing it; paid; failed: this try failed (error says why).")},
        "paypal_email": string, "reference": {**_nullable(string), "description": "PayPal's batch, once paid."},
        "error": _nullable(string),
        "unclaimed": {"type": "boolean", "description": "PayPal could not deliver it: no PayPal account has that "
                                                        "e-mail."},
        "attempt": integer, "created_at": dt, "paid_at": _nullable(dt),
        "next_attempt_at": {**_nullable(dt), "description": "When a failed payout is tried again; null: it is not "
                                                            "tried again automatically."},
    })
    settings = {"paypal_email": {**_text(254, 1), "description": "The PayPal account payouts are sent to."}}
    settings_patch = {**_patch("updateCommissionSettings", "Set the PayPal e-mail payouts go to",
                               "CommissionSettingsChange", _ref("CommissionSettings"), tag="Commission",
                               description="Payouts go to it from the next one on; the change is written to the "
                                           "audit log."), "parameters": []}
    return {
        "paths": {
            "/commission": {"get": _get(
                "getCommission", "Your referral link, your balance, the next payout and the commission by month",
                _ref("Commission"), tag="Commission",
                description="Clients who sign up through the referral link pay the platform with their own card; "
                            "you earn rate_bp (basis points) of each of their payments, paid out monthly.")},
            "/commission/accounts": {"get": _get(
                "listReferredAccounts", "The accounts referred through your link, with what each paid and earned",
                _ref("CommissionReferredAccounts"), tag="Commission")},
            "/commission/payouts": {"get": _get("listPayouts", "Your commission payouts, newest month first",
                                                _ref("CommissionPayouts"), tag="Commission")},
            "/commission/settings": {"patch": settings_patch},
        },
        "schemas": {
            "CommissionPayout": payout,
            "CommissionPayouts": _obj({"data": {"type": "array", "items": _ref("CommissionPayout")}}),
            "Commission": _obj({
                "referral_url": {"type": "string", "format": "uri"},
                "rate_bp": {**integer, "description": "The commission rate in basis points (1000 = 10 %)."},
                "currency": string, "paypal_email": _nullable(string),
                "unpaid_cents": {**integer, "description": "Every commission earned and not paid out yet."},
                "next_payout": _obj({
                    "month": {**string, "description": "The month the next payout pays, up to its end (YYYY-MM)."},
                    "due_cents": integer,
                    "minimum_cents": {**integer, "description": "A smaller balance rolls over to the next month."},
                    "waiting_for": {"type": ["string", "null"], "enum": ["no_paypal_email", "below_minimum", None],
                                    "description": "Why the payout waits; null when it does not."},
                    "payout": _nullable(_ref("CommissionPayout")),
                }),
                "months": {"type": "array", "items": _obj({
                    "month": string, "total_cents": integer,
                    "entries": {"type": "array", "items": _obj({
                        "id": integer, "account_id": integer, "account_name": string, "invoice_id": integer,
                        "kind": {"type": "string", "enum": ["payment", "reversal"],
                                 "description": "reversal: a refund took the commission back."},
                        "amount_cents": integer, "created_at": dt})}})},
            }),
            "CommissionReferredAccounts": _obj({"data": {"type": "array", "items": _obj({
                "account_id": integer, "name": string, "client_name": string, "client_email": string,
                "status": {"type": "string", "enum": list(ACCOUNT_STATUSES)}, "plan": _ref("Plan"),
                "created_at": dt, "paid_cents": {**integer, "description": "What its client paid in all."},
                "commission_cents": {**integer, "description": "What you earned on it, less refunds."}})}}),
            "CommissionSettings": _obj({"paypal_email": _nullable(string)}),
            "CommissionSettingsChange": _obj(settings),
        },
        "tags": ["Commission"],
    }
