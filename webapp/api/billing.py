"""The API's billing (B1, B3, B4, B6, B7): the billing profile as far as it can be read (the card's brand,
last 4 digits and expiry, never more), the billing details every invoice is made out to, the credit ledger,
and the billing history's documents (an invoice's PDF, a month's statement, the CSV export) as the dashboard
makes them (services/invoice_documents.py), with the same permissions.

No card is entered through the API: a card is typed only into the payment processor's own form (Stripe's,
on the Billing profile page), so that no card number ever passes through AgencyHQ or an agency's programs.
The dashboard's billing.profile (whose POST saves a card) has no twin for that reason.

Buying prepaid credit and SMS or compatibility packs (the dashboard's billing.prepaid, billing.sms,
billing.compatibility) is already the core's /credits/preview + /credits/purchases into the pool (and
/accounts/{id}/credits/preview + /accounts/{id}/credits for one account), over the same services
(billing.buy_credits calls billing.buy_prepaid and billing.buy_pack, with the preview's quote token): they are
those endpoints' twins below."""
from __future__ import annotations

from flask import Response, jsonify
from flask_babel import gettext as _

from ..services import billing, billing_details, billing_history, invoice_documents, serializers
from ..services.credits import KINDS as CREDIT_KINDS
from ..services.errors import ValidationFailed
from .blueprint import bp
from .guard import permission_required
from .openapi import DATETIME, STRING, _get, _nullable, _obj, _patch, _ref, _text
from .routes import actor, body, query, scope

TWINS = {
    "billing.save_details": "api.update_billing_details",
    "billing.prepaid": "api.buy_pool_credits",
    "billing.sms": "api.buy_pool_credits",
    "billing.compatibility": "api.buy_pool_credits",
}


# ---- representations -------------------------------------------------------------------------------------

def _card_json(card) -> dict | None:
    if card is None:
        return None
    return {"brand": card.brand, "last4": card.last4, "exp_month": card.exp_month, "exp_year": card.exp_year}


def _details_json(details) -> dict | None:
    values = billing_details.snapshot(details)
    if values is None:
        return None
    return {**values, "country_name": billing_details.country_name(details.country),
            "updated_at": serializers._iso(details.updated_at)}


def _profile_json(agency_id: int) -> dict:
    return {"card": _card_json(billing.card_of(agency_id)),
            "details": _details_json(billing_details.details_of(agency_id))}


def _month(value: str) -> str:
    """A month of the history's filters, or a 422 (the pattern lets the years 0000 and 9999 through)."""
    if value and not billing_history.valid_month(value):
        problem = _("Choose a month between 0001-01 and 9998-12.")
        raise ValidationFailed(problem, {"month": problem})
    return value


def _document(name: str, content: bytes | str, mimetype: str) -> Response:
    response = Response(content, mimetype=mimetype,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    response.vary.add("Accept-Language")  # in the reader's language
    return response


# ---- B1, B4: the billing profile and the billing details -----------------------------------------------------

@bp.get("/billing/profile")
@permission_required("billing")
def get_billing_profile():
    query("getBillingProfile")
    return jsonify(_profile_json(scope().agency_id))


@bp.patch("/billing/details")
@permission_required("billing")
def update_billing_details():
    """The details every invoice issued from now on is made out to; a field left out keeps its value."""
    data = body("updateBillingDetails")
    agency_id = scope().agency_id
    current = billing_details.snapshot(billing_details.details_of(agency_id)) or {}
    values = {name: data.get(name, current.get(name) or "") for name in billing_details.FIELDS}
    billing_details.save(actor(), agency_id, **values)
    return jsonify(_profile_json(agency_id))


# ---- B3, B6, B7: the ledger of each kind of credit -----------------------------------------------------------

@bp.get("/credits/ledger")
@permission_required("charge")
def get_credit_ledger():
    params = query("getCreditLedger")
    rows = billing_history.ledger(scope(), params["kind"], limit=params["limit"])
    return jsonify({"kind": params["kind"], "data": [{
        "id": entry.id, "created_at": serializers._iso(entry.created_at), "reason": entry.reason,
        "held_by": "pool" if held_by == "agency" else "account",
        "account_id": int(held_by.split(":", 1)[1]) if held_by.startswith("account:") else None,
        "amount": entry.delta, "invoice_id": entry.invoice_id} for entry, held_by in rows]})


# ---- B4: the billing history's documents ----------------------------------------------------------------------

@bp.get("/invoices/<invoice_id>.pdf")
@permission_required("billing")
def get_invoice_pdf(invoice_id):
    query("getInvoicePdf")
    return _document(*invoice_documents.invoice_pdf(actor(), scope(), invoice_id), "application/pdf")


@bp.get("/invoices.csv")
@permission_required("billing")
def get_invoices_csv():
    params = query("getInvoicesCsv")
    filters = billing_history.HistoryFilters(account=params.get("account", "").strip().lower(),
                                             month=_month(params.get("month", "")))
    name, text = invoice_documents.history_csv(actor(), scope(), filters)
    return _document(name, text, "text/csv")


@bp.get("/statement.pdf")
@permission_required("billing")
def get_statement_pdf():
    month = _month(query("getStatementPdf")["month"])
    return _document(*invoice_documents.statement_pdf(actor(), scope(), month), "application/pdf")


# ---- the document ----------------------------------------------------------------------------------------

def _binary(op: dict, mimetype: str) -> dict:
    """An operation of the helpers whose success is a file instead of JSON."""
    ok = op["responses"]["200"]
    return {**op, "responses": {**op["responses"], "200": {
        "description": ok["description"], "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}},
        "headers": {"Content-Disposition": {"description": "attachment, with the file's name.",
                                            "schema": STRING}}}}}


MONTH = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$", "example": "2026-11"}


def spec(catalog, languages) -> dict:
    optional = ("address_line2", "postal_code", "tax_id")
    limits = {**billing_details.LIMITS, "country": 2}
    details = {name: _nullable(STRING) if name in optional else STRING for name in billing_details.FIELDS}
    change = {name: _text(limits[name]) for name in billing_details.FIELDS}
    change["country"] = {**_text(2), "description": "ISO 3166-1 alpha-2, such as FR."}
    change["tax_id"] = {**_text(limits["tax_id"]), "description": (
        "A VAT number of the EU or the UK, checked against the country's format (with or without its prefix), "
        "or another country's tax id. \"\" removes it.")}
    schemas = {
        "BillingCard": _obj({"brand": STRING, "last4": STRING, "exp_month": {"type": "integer"},
                             "exp_year": {"type": "integer"}}, description=(
            "What is printed on the card's face and kept: never its number or security code.")),
        "BillingDetails": _obj({**details, "country_name": STRING, "updated_at": DATETIME}),
        "BillingProfile": _obj({
            "card": {**_nullable(_ref("BillingCard")), "description": "null: no card yet. A card is entered only in "
                                                                     "the processor's form, on the dashboard."},
            "details": {**_nullable(_ref("BillingDetails")), "description": "null: none saved yet."}}),
        "BillingDetailsChange": _obj(change, required=[], description=(
            "The fields to change; those left out keep their values (\"\" empties an optional one). Legal name, "
            "street address, city and country are required.")),
        "BillingLedger": _obj({
            "kind": {"type": "string", "enum": list(CREDIT_KINDS)},
            "data": {"type": "array", "items": _obj({
                "id": {"type": "integer"}, "created_at": DATETIME, "reason": STRING,
                "held_by": {"type": "string", "enum": ["pool", "account"]},
                "account_id": _nullable({"type": "integer"}),
                "amount": {"type": "integer", "description": "Cents for prepaid credit, credits otherwise; "
                                                             "negative when it left this balance."},
                "invoice_id": _nullable({"type": "integer"})})}}),
    }
    paths = {
        "/billing/profile": {"get": _get(
            "getBillingProfile", "Your card (brand, last 4 digits, expiry) and billing details",
            _ref("BillingProfile"), tag="Billing")},
        "/billing/details": {"patch": {**_patch(
            "updateBillingDetails", "Change the billing details invoices are made out to", "BillingDetailsChange",
            _ref("BillingProfile"), tag="Billing", description=(
                "Invoices issued from now on carry them; those issued before keep theirs.")), "parameters": []}},
        "/credits/ledger": {"get": _get(
            "getCreditLedger", "The latest movements of one kind of credit", _ref("BillingLedger"), tag="Credits",
            params=[{"name": "kind", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": list(CREDIT_KINDS)}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}}],
            description="Newest first: purchases, moves between the pool and accounts, and what was spent.")},
        "/invoices/{id}.pdf": {"get": _binary(_get(
            "getInvoicePdf", "The invoice as a PDF, as the dashboard gives it", STRING, by_id=True, tag="Invoices",
            description="In the language of Accept-Language."), "application/pdf")},
        "/invoices.csv": {"get": _binary(_get(
            "getInvoicesCsv", "The billing history as CSV, as the dashboard exports it", STRING, tag="Invoices",
            params=[{"name": "account", "in": "query", "description": "Only this account's invoices (its name).",
                     "schema": _text(40)},
                    {"name": "month", "in": "query", "description": "Only invoices made that month.",
                     "schema": MONTH}],
            description="Every matching invoice, oldest first; amounts in units of the currency."), "text/csv")},
        "/statement.pdf": {"get": _binary(_get(
            "getStatementPdf", "A month's statement as a PDF", STRING, tag="Invoices",
            params=[{"name": "month", "in": "query", "required": True, "schema": MONTH}],
            description="Every invoice issued that month (UTC) and the sums of the paid ones."), "application/pdf")},
    }
    return {"paths": paths, "schemas": schemas, "tags": ["Billing"]}
