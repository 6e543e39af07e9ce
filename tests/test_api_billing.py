"""The Agency API's billing (X1 over B1, B3, B4, B6, B7): the billing profile as far as it is read (brand, last 4
digits, expiry), the billing details, the credit ledger and the billing history's documents, as the dashboard
gives them."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from webapp.api import billing as api_billing
from webapp.catalog import get_catalog
from webapp.models import BillingDetails, Invoice
from webapp.services import api_tokens, billing_details

from .helpers import CARD_YEAR, add_card, login, make_account, make_agency, make_member
from .test_api import ACTOR, error_of, new_token
from .test_api_branding import RestApi

ADDRESS = {"legal_name": "Acme SARL", "address_line1": "1 rue de la Paix", "city": "Paris", "country": "fr",
           "postal_code": "75002", "tax_id": "FR 12 345678901"}


def _agency(client, email="owner@agency.test", name="Acme Agency"):
    agency, owner = make_agency(name, email=email)
    return agency, owner, RestApi(client, new_token(owner))


def _reader(app, owner):
    return RestApi(app.test_client(), api_tokens.create(owner, "reader", ACTOR, scope="read")[1])


def test_the_billing_profile_reads_the_card_face_and_nothing_more(client, db):
    agency, owner, api = _agency(client)
    assert api.get("/billing/profile").json == {"card": None, "details": None}
    add_card(agency)
    card = api.get("/billing/profile").json["card"]
    assert card == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": CARD_YEAR}
    # The dashboard's card form has no twin: a card is typed only into the processor's form.
    assert "billing.profile" not in api_billing.TWINS
    assert not [rule for rule in client.application.url_map.iter_rules()
                if rule.endpoint.startswith("api.") and "card" in rule.rule]


def test_billing_details_are_changed_with_the_dashboards_checks(app, client, db):
    agency, owner, api = _agency(client)
    saved = api.patch("/billing/details", json=ADDRESS)
    assert saved.status_code == 200, saved.json
    details = saved.json["details"]
    assert details["country"] == "FR" and details["country_name"] == "France"
    assert details["tax_id"] == "FR12345678901" and details["address_line2"] is None
    # A field left out keeps its value; "" empties an optional one.
    changed = api.patch("/billing/details", json={"city": "Lyon", "tax_id": ""}).json["details"]
    assert changed["city"] == "Lyon" and changed["legal_name"] == "Acme SARL" and changed["tax_id"] is None
    assert api.get("/billing/profile").json["details"] == changed
    # A VAT number that is not of the country's format: 422 by the field, nothing written.
    wrong = error_of(api.patch("/billing/details", json={"tax_id": "FR123"}), 422, "validation_failed")
    assert list(wrong["fields"]) == ["tax_id"] and "FR12345678901" in wrong["fields"]["tax_id"]
    assert "country" in error_of(api.patch("/billing/details", json={"country": "ZZ"}), 422)["fields"]
    assert "vat" in error_of(api.patch("/billing/details", json={"vat": "x"}), 422)["fields"]
    assert billing_details.details_of(agency.id).city == "Lyon"
    assert billing_details.details_of(agency.id).tax_id is None


def test_first_details_need_the_required_fields_and_roles_are_the_dashboards(app, client, db):
    agency, owner, api = _agency(client)
    missing = error_of(api.patch("/billing/details", json={"city": "Paris"}), 422)["fields"]
    assert set(missing) == {"legal_name", "address_line1", "country"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BillingDetails)) == 0
    error_of(_reader(app, owner).patch("/billing/details", json=ADDRESS), 403, "insufficient_scope")
    member = RestApi(client, new_token(make_member(agency, "member")))
    error_of(member.get("/billing/profile"), 403, "forbidden")
    error_of(member.patch("/billing/details", json=ADDRESS), 403, "forbidden")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BillingDetails)) == 0
    assert _reader(app, owner).get("/billing/profile").status_code == 200
    # Another agency's details are not these.
    rival, _ = make_agency("Rival", email="rival@agency.test")
    billing_details.save(ACTOR, rival.id, **{**ADDRESS, "legal_name": "Rival Ltd", "tax_id": ""})
    assert api.get("/billing/profile").json["details"] is None


def test_the_credit_ledger_shows_purchases_and_moves(client, db):
    agency, owner, api = _agency(client)
    add_card(agency)
    account = make_account(agency, "shop")
    amount = get_catalog().prepaid_amounts_cents[0]
    bought = api.confirmed("/credits/purchases", {"kind": "prepaid", "amount": amount})
    assert bought.status_code == 201, bought.json
    moved = api.post("/credits/moves", json={"kind": "prepaid", "amount": 1000, "from_account_id": None,
                                             "to_account_id": account.id})
    assert moved.status_code == 201, moved.json
    ledger = api.get("/credits/ledger?kind=prepaid").json
    assert ledger["kind"] == "prepaid"
    rows = [(r["held_by"], r["account_id"], r["amount"]) for r in ledger["data"]]
    assert rows[-1] == ("pool", None, amount) and ledger["data"][-1]["invoice_id"] == bought.json["invoice"]["id"]
    assert ("account", account.id, 1000) in rows and ("pool", None, -1000) in rows
    assert len(api.get("/credits/ledger?kind=prepaid&limit=1").json["data"]) == 1
    assert api.get("/credits/ledger?kind=sms").json["data"] == []
    assert "kind" in error_of(api.get("/credits/ledger"), 422)["fields"]
    assert "kind" in error_of(api.get("/credits/ledger?kind=gold"), 422)["fields"]
    # Another agency's ledger is its own.
    rival, rival_owner = make_agency("Rival", email="rival@agency.test")
    assert RestApi(client, new_token(rival_owner)).get("/credits/ledger?kind=prepaid").json["data"] == []


def test_the_history_csv_is_the_dashboards_and_the_pdfs_are_served(app, client, db):
    agency, owner, api = _agency(client)
    add_card(agency)
    shop = make_account(agency, "shop")
    for target in (None, shop):
        api.confirmed("/credits/purchases" if target is None else f"/accounts/{shop.id}/credits",
                      {"kind": "prepaid", "amount": get_catalog().prepaid_amounts_cents[0]})
    csv_api = api.get("/invoices.csv")
    assert csv_api.status_code == 200 and csv_api.mimetype == "text/csv"
    assert csv_api.headers["Content-Disposition"] == 'attachment; filename="agencyhq-invoices.csv"'
    dashboard = app.test_client()
    login(dashboard, "owner@agency.test")
    assert csv_api.get_data(as_text=True) == dashboard.get("/billing/history.csv").get_data(as_text=True)
    lines = csv_api.get_data(as_text=True).splitlines()
    assert len(lines) == 3 and lines[0].startswith("number,date,account")
    only_shop = api.get("/invoices.csv?account=shop").get_data(as_text=True)
    assert only_shop == dashboard.get("/billing/history.csv?account=shop").get_data(as_text=True)
    assert len(only_shop.splitlines()) == 2
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    assert len(api.get(f"/invoices.csv?month={month}").get_data(as_text=True).splitlines()) == 3
    assert "month" in error_of(api.get("/invoices.csv?month=0000-01"), 422)["fields"]
    assert "month" in error_of(api.get("/invoices.csv?month=2026-13"), 422)["fields"]
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == shop.id))
    pdf = api.get(f"/invoices/{invoice.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert f"invoice-{invoice.number}.pdf" in pdf.headers["Content-Disposition"]
    statement = api.get(f"/statement.pdf?month={month}")
    assert statement.status_code == 200 and statement.data.startswith(b"%PDF")
    assert "month" in error_of(api.get("/statement.pdf"), 422)["fields"]
    assert "month" in error_of(api.get("/statement.pdf?month=9999-12"), 422)["fields"]


def test_documents_of_another_agency_and_roles(app, client, db):
    agency, owner, api = _agency(client)
    rival, rival_owner = make_agency("Rival", email="rival@agency.test")
    add_card(rival)
    rival_api = RestApi(client, new_token(rival_owner))
    rival_api.confirmed("/credits/purchases", {"kind": "prepaid", "amount": get_catalog().prepaid_amounts_cents[0]})
    theirs = db.session.scalar(sa.select(Invoice).where(Invoice.agency_id == rival.id))
    error_of(api.get(f"/invoices/{theirs.id}.pdf"), 404)
    assert len(api.get("/invoices.csv").get_data(as_text=True).splitlines()) == 1  # the header alone
    member = RestApi(client, new_token(make_member(agency, "member")))
    error_of(member.get("/invoices.csv"), 403, "forbidden")
    error_of(member.get(f"/invoices/{theirs.id}.pdf"), 403, "forbidden")
    assert _reader(app, owner).get("/invoices.csv").status_code == 200


def test_buying_credit_and_packs_is_the_core_purchase_endpoints(app):
    """The dashboard's prepaid, SMS and compatibility pages buy through billing.buy_prepaid/buy_pack; the API's
    /credits/purchases does, with the same quote token (tests/test_api.py covers them)."""
    assert {api_billing.TWINS[k] for k in ("billing.prepaid", "billing.sms", "billing.compatibility")} == {
        "api.buy_pool_credits"}
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()}
    assert "POST" in rules["api.buy_pool_credits"].methods
