"""Issue 20 on the web: the billing profile under Stripe (the card goes to Stripe's form, only the setup's
id and our single-use state come back), and POST /webhooks/stripe (signature, 5-minute window, each event
once: a refund or a dispute made outside AgencyHQ shows on its invoice; a dispute tells the agency)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import sqlalchemy as sa

from webapp.models import AuditEvent, BillingProfile, CardSetup, GatewayEvent, Invoice, OutboundEmail
from webapp.services import billing

from .conftest import STRIPE_TEST_KEYS
from .helpers import add_card, csrf_token, login, make_account, make_agency, stripe_confirm_setup


def signed(payload: bytes, *, secret: str = STRIPE_TEST_KEYS["webhook"], at: int | None = None) -> dict:
    at = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), b"%d.%s" % (at, payload), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={signature}", "Content-Type": "application/json"}


def event(kind: str, obj: dict, event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": kind, "created": int(time.time()),
                       "data": {"object": obj}}).encode()


def paid_invoice(db):
    agency, user = make_agency()
    add_card(agency)
    make_account(agency, "florist")
    invoice = billing.charge_now(agency_id=agency.id, kind="prepaid", key="prepaid-test",
                                 lines=[billing.Line("Prepaid credit", 5000)])
    return agency, user, invoice


def test_the_billing_profile_shows_stripes_form_and_saves_the_card_it_confirmed(client, db, stripe_gateway):
    agency, user = make_agency()
    login(client, user.email)
    page = client.get("/billing/profile")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="number"' not in html  # no card field of ours
    assert STRIPE_TEST_KEYS["publishable"] in html and "js.stripe.com/v3/" in html
    csp = page.headers["Content-Security-Policy"]
    assert stripe_gateway.stand_in in csp.split("script-src", 1)[1].split(";", 1)[0]
    secret = re.search(r'data-client-secret="([^"]+)"', html).group(1)
    setup_ref = re.search(r'name="setup_ref" type="hidden" value="([^"]+)"', html).group(1)
    state = re.search(r'name="state" type="hidden" value="([^"]+)"', html).group(1)
    setup = billing.CardFormSetup("stripe", "", STRIPE_TEST_KEYS["publishable"], secret, setup_ref, state)
    assert stripe_confirm_setup(setup, "4242424242424242").status_code == 200  # the browser to Stripe
    saved = client.post("/billing/profile", data={"csrf_token": csrf_token(html), "setup_ref": setup_ref,
                                                  "state": state})
    assert saved.status_code == 303
    profile = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.agency_id == agency.id))
    assert (profile.gateway, profile.last4) == ("stripe", "4242")
    assert profile.gateway_token.startswith("pm_") and profile.gateway_customer_id.startswith("cus_")
    # Single use: the same setup and state again attach nothing.
    again = client.post("/billing/profile", data={"csrf_token": csrf_token(html), "setup_ref": setup_ref,
                                                  "state": state})
    assert again.status_code == 422 and "already used" in again.get_data(as_text=True)


def test_a_card_set_up_for_one_agency_is_never_attached_to_another(client, db, stripe_gateway):
    from webapp.services.audit import Actor
    mine, _ = make_agency("Mine", email="me@mine.test")
    theirs, intruder = make_agency("Theirs", email="them@theirs.test")
    setup = billing.start_card_setup(mine.id, actor=Actor("system", "tests"))
    stripe_confirm_setup(setup, "4242424242424242")
    login(client, intruder.email)
    html = client.get("/billing/profile").get_data(as_text=True)
    stolen = client.post("/billing/profile", data={"csrf_token": csrf_token(html), "setup_ref": setup.setup_ref,
                                                   "state": setup.state})
    assert stolen.status_code == 422
    assert db.session.scalar(sa.select(BillingProfile).where(BillingProfile.agency_id == theirs.id)) is None
    # ... and the owner's state still works for the owner.
    assert db.session.scalar(sa.select(CardSetup.used_at).where(CardSetup.setup_ref == setup.setup_ref)) is None


def test_no_card_number_reaches_our_database(db, stripe_gateway):
    agency, _ = make_agency()
    add_card(agency, "4242424242424242")
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                assert "4242424242424242" not in " ".join(str(v) for v in row), table.name


def test_webhook_signature_window_and_replay(client, db, stripe_gateway):
    agency, _user, invoice = paid_invoice(db)
    payload = event("charge.refunded", {"object": "charge", "id": "ch_x", "payment_intent": invoice.gateway_charge_id,
                                        "amount_refunded": 1200})
    assert client.post("/webhooks/stripe", data=payload, headers=signed(payload, secret="whsec_wrong")).status_code == 400
    old = signed(payload, at=int(time.time()) - 301)
    assert client.post("/webhooks/stripe", data=payload, headers=old).status_code == 400
    assert client.post("/webhooks/stripe", data=payload, headers={"Content-Type": "application/json"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GatewayEvent)) == 0
    first = client.post("/webhooks/stripe", data=payload, headers=signed(payload))
    assert first.status_code == 200
    replay = client.post("/webhooks/stripe", data=payload, headers=signed(payload))
    assert replay.status_code == 200 and replay.get_json()["message"] == "Already processed."
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).refunded_outside_cents == 1200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "invoice_refunded_outside")) == 1


def test_a_dispute_shows_on_the_invoice_and_tells_the_agency_once(client, db, stripe_gateway):
    agency, user, invoice = paid_invoice(db)
    dispute = {"object": "dispute", "id": "dp_1", "charge": "ch_1", "payment_intent": invoice.gateway_charge_id,
               "amount": 5000, "status": "needs_response", "reason": "fraudulent"}
    for event_id in ("evt_d1", "evt_d1", "evt_d2"):  # a replay, then Stripe's own retry under a new id
        payload = event("charge.dispute.created", dispute, event_id)
        assert client.post("/webhooks/stripe", data=payload, headers=signed(payload)).status_code == 200
    emails = db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind == "invoice_disputed")).all()
    assert [e.to_address for e in emails] == [user.email]
    login(client, user.email)
    page = client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert "disputed this payment" in page and "needs_response" in page


def test_a_refund_made_by_agencyhq_is_not_counted_twice(client, db, stripe_gateway):
    _agency, _user, invoice = paid_invoice(db)
    reference = invoice.gateway_charge_id
    billing.refund(invoice, reason="test")
    db.session.commit()
    payload = event("charge.refunded", {"object": "charge", "id": "ch_y", "payment_intent": reference,
                                        "amount_refunded": 5000})
    answer = client.post("/webhooks/stripe", data=payload, headers=signed(payload))
    assert answer.status_code == 200 and "by AgencyHQ" in answer.get_json()["message"]
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).refunded_outside_cents == 0


def test_the_webhook_is_not_there_under_the_sandbox(client, db):
    payload = event("charge.refunded", {"object": "charge"})
    assert client.post("/webhooks/stripe", data=payload, headers=signed(payload)).status_code == 404


def _referral_fields(html: str, **over) -> dict:
    data = {"csrf_token": csrf_token(html), "name": "bakery", "client_name": "The Bakery",
            "client_email": "owner@bakery.test", "tier": "plus", "term": "monthly", "contact_limit": "1000",
            "request_key": re.search(r'name="request_key" type="hidden" value="([^"]+)"', html).group(1),
            "setup_ref": re.search(r'name="setup_ref" type="hidden" value="([^"]+)"', html).group(1),
            "state": re.search(r'name="state" type="hidden" value="([^"]+)"', html).group(1)}
    data.update(over)
    return data


def _confirm_from_page(html: str, number: str):
    secret = re.search(r'data-client-secret="([^"]+)"', html).group(1)
    setup_ref = re.search(r'name="setup_ref" type="hidden" value="([^"]+)"', html).group(1)
    setup = billing.CardFormSetup("stripe", "", STRIPE_TEST_KEYS["publishable"], secret, setup_ref, "")
    return stripe_confirm_setup(setup, number)


def test_a_referred_client_signs_up_with_stripes_card_form(client, db, stripe_gateway):
    from webapp.models import HostedAccount
    agency, _ = make_agency()
    page = client.get(f"/r/{agency.referral_code}").get_data(as_text=True)
    assert 'name="number"' not in page and STRIPE_TEST_KEYS["publishable"] in page
    assert _confirm_from_page(page, "4242424242424242").status_code == 200
    answer = client.post(f"/r/{agency.referral_code}", data=_referral_fields(page))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "bakery"))
    assert account.kind == "commission"
    card = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == account.id))
    assert card.gateway == "stripe" and card.gateway_token.startswith("pm_") and card.last4 == "4242"
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id))
    assert invoice.status == "paid" and invoice.gateway_charge_id.startswith("pi_")


def test_a_referral_card_form_of_one_agency_cannot_sign_up_through_another(client, db, stripe_gateway):
    from webapp.models import HostedAccount
    mine, _ = make_agency("Mine", email="me@mine.test")
    theirs, _ = make_agency("Theirs", email="them@theirs.test")
    page = client.get(f"/r/{mine.referral_code}").get_data(as_text=True)
    _confirm_from_page(page, "4242424242424242")
    other = client.get(f"/r/{theirs.referral_code}").get_data(as_text=True)
    fields = _referral_fields(other, setup_ref=_referral_fields(page)["setup_ref"], state=_referral_fields(page)["state"])
    answer = client.post(f"/r/{theirs.referral_code}", data=fields)
    assert answer.status_code == 422 and "already used" in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)) == 0
