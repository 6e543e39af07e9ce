"""The Stripe adapter (webapp/adapters/stripe_gateway.py) on its own, against the stand-in Stripe:
localstripe, with the few behaviours of Stripe it lacks added by tests/stand_ins/stripe_server.py.

What localstripe lacks, and how the stand-in covers it (see that module's docstring):

- **Idempotency-Key replay**: localstripe ignores the header, so a retried charge would charge twice; the
  stand-in keeps each key's first answer and replays it, and answers the same key with other parameters
  with Stripe's 400 `idempotency_error`.
- **Off-session decline codes**: localstripe declines a charge only with `card_declined` (4000 0000 0000
  0341), refuses 9995/0069/0119 when they are saved, and answers an off-session PaymentIntent whose card
  needs authentication (4000 0027 6000 3184) with `requires_action` where Stripe answers 402
  `authentication_required`. `insufficient_funds`, `expired_card`, `processing_error` and
  `authentication_required` come from `/_config/stand_in/next_error` (the next PaymentIntent creation)
  or `/_config/stand_in/card_error` (every PaymentIntent with one card, until cleared).
- **Outages**: `/_config/stand_in/outage` answers the next calls with a 503 `api_error`, or drops the
  connection, before or after the work is done.
- localstripe's PaymentMethods are always brand "visa" and take 16-digit numbers only.
"""
from __future__ import annotations

import threading
from datetime import date, timedelta

import httpx
import pytest
import sqlalchemy as sa

from webapp.adapters.payments import MESSAGES, GatewayError, GatewayUnavailable
from webapp.models import BillingProfile, GatewayCall, HostedAccount, Invoice
from webapp.services import billing, renewals
from webapp.services.audit import Actor
from webapp.services.errors import ValidationFailed

from .helpers import CARD, CARD_YEAR, add_card, make_account, make_agency

SCA_CARD = "4000002760003184"


@pytest.fixture
def gw(db, stripe_gateway):
    return stripe_gateway


def _config(gw, what: str, body: dict):
    httpx.post(f"{gw.stand_in}/_config/stand_in/{what}", json=body).raise_for_status()


def _intents(gw) -> list:
    return list(gw.client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())


def _card(db, number: str = CARD) -> BillingProfile:
    agency, _ = make_agency()
    return add_card(agency, number)


def _charge(gw, profile, amount=7000, key="charge-1"):
    return gw.charge(profile.gateway_token, amount, "USD", idempotency_key=key, customer=profile.gateway_customer_id)


def _due_account(agency):
    today = date.today()
    return make_account(agency, plan_tier="plus", plan_term="monthly", contact_limit=1000,
                        period_start=today - timedelta(days=30), period_end=today, anchor_day=today.day)


# ---- the card ----------------------------------------------------------------------------------------

def test_a_card_saved_through_a_setup_intent_keeps_only_ids_brand_last4_and_expiry(gw, db):
    agency, _ = make_agency()
    profile = add_card(agency)
    assert profile.gateway == "stripe"
    assert profile.gateway_token.startswith("pm_") and profile.gateway_customer_id.startswith("cus_")
    assert (profile.brand, profile.last4, profile.exp_month, profile.exp_year) == ("visa", "4242", 12, CARD_YEAR)
    assert gw.card(profile.gateway_token).last4 == "4242"
    again = add_card(agency, "5555555555554444")  # a new card for the same Customer
    assert again.id == profile.id and again.last4 == "4444"
    assert again.gateway_customer_id == profile.gateway_customer_id
    billing.settle(billing.create_invoice(agency_id=agency.id, kind="prepaid", key="p1",
                                          lines=[billing.Line("credit", 5000)]))
    dump = []
    for table in ("billing_profiles", "gateway_calls", "audit_events", "card_setups"):
        dump += [str(row) for row in db.session.execute(sa.text(f"SELECT * FROM {table}"))]
    assert any("pm_" in row for row in dump)  # the rows were read
    assert not any(number in row for row in dump for number in (CARD, "5555555555554444"))


def test_agencyhq_refuses_a_card_number_under_stripe(gw, db):
    agency, _ = make_agency()
    with pytest.raises(ValidationFailed) as exc:
        billing.save_card(agency.id, number=CARD, exp_month=12, exp_year=CARD_YEAR, cvc="123",
                          actor=Actor("system", "tests"))
    assert "number" in exc.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BillingProfile)) == 0


def test_a_card_declined_when_it_is_saved_is_not_kept(gw, db):
    agency, _ = make_agency()
    with pytest.raises(ValidationFailed):
        add_card(agency, "4000000000000002")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BillingProfile)) == 0


# ---- money -------------------------------------------------------------------------------------------

def test_the_same_key_twice_is_one_payment_intent(gw, db):
    profile = _card(db)
    first, second = _charge(gw, profile), _charge(gw, profile)
    assert first.reference == second.reference and first.reference.startswith("pi_")
    assert [(i.id, i.amount, i.status) for i in _intents(gw)] == [(first.reference, 7000, "succeeded")]
    with pytest.raises(GatewayError) as exc:  # the same key with another amount: never a second charge
        _charge(gw, profile, amount=9000)
    assert not isinstance(exc.value, GatewayUnavailable)
    assert len(_intents(gw)) == 1


def test_an_authorization_is_a_manual_capture_payment_intent_that_void_cancels(gw, db):
    profile = _card(db)
    auth = gw.authorize(profile.gateway_token, 100, "USD", idempotency_key="auth-1",
                        customer=profile.gateway_customer_id)
    intent = gw.client.v1.payment_intents.retrieve(auth.reference)
    assert (intent.capture_method, intent.status, intent.amount) == ("manual", "requires_capture", 100)
    assert gw.void(auth.reference, idempotency_key="void-1").status == "voided"
    assert gw.client.v1.payment_intents.retrieve(auth.reference).status == "canceled"


def test_a_refund_is_a_stripe_refund(gw, db):
    profile = _card(db)
    charge = _charge(gw, profile)
    refund = gw.refund(charge.reference, 7000, idempotency_key="refund-1")
    assert refund.reference.startswith("re_") and refund.status == "refunded"
    assert gw.refund(charge.reference, 7000, idempotency_key="refund-1").reference == refund.reference
    refunds = list(gw.client.v1.refunds.list(params={"limit": 100}).auto_paging_iter())
    assert [(r.id, r.amount) for r in refunds] == [(refund.reference, 7000)]


@pytest.mark.parametrize("error, code", [
    ({"code": "card_declined", "decline_code": "insufficient_funds"}, "insufficient_funds"),
    ({"code": "expired_card"}, "expired_card"),
    ({"code": "processing_error"}, "processing_error"),
    ({"code": "authentication_required", "decline_code": "authentication_required"}, "authentication_required"),
    ({"code": "card_declined", "decline_code": "do_not_honor"}, "card_declined"),
])
def test_stripe_declines_map_to_the_sandboxs_codes(gw, db, error, code):
    profile = _card(db)
    _config(gw, "next_error", {**error, "message": "Stripe's message"})
    with pytest.raises(GatewayError) as exc:
        _charge(gw, profile)
    assert (exc.value.code, exc.value.message) == (code, MESSAGES[code])
    assert not isinstance(exc.value, GatewayUnavailable)


def test_the_declining_test_card_is_card_declined(gw, db):
    profile = _card(db, "4000000000000341")  # saved; every charge declined
    with pytest.raises(GatewayError) as exc:
        _charge(gw, profile)
    assert exc.value.code == "card_declined"
    assert not [i for i in _intents(gw) if i.status == "succeeded"]


def test_a_card_asking_for_authentication_off_session_is_authentication_required(gw, db):
    """localstripe leaves the PaymentIntent `requires_action` (Stripe answers 402): the adapter cancels it
    and tells the agency to save the card again."""
    customer = gw.client.v1.customers.create(params={"description": "sca"}).id
    method = gw.client.v1.payment_methods.create(params={"type": "card", "card": {
        "number": SCA_CARD, "exp_month": 12, "exp_year": CARD_YEAR, "cvc": "123"}})
    gw.client.v1.payment_methods.attach(method.id, params={"customer": customer})
    with pytest.raises(GatewayError) as exc:
        gw.charge(method.id, 7000, "USD", idempotency_key="sca-1", customer=customer)
    assert exc.value.code == "authentication_required" and "save the card again" in exc.value.message
    assert [i.status for i in _intents(gw)] == ["canceled"]


# ---- outages -----------------------------------------------------------------------------------------

OUTAGES = {"503": {"status": 503}, "dropped": {"status": 0}, "dropped-after-the-work": {"status": 0, "after": True}}


@pytest.mark.parametrize("outage", list(OUTAGES))
def test_an_outage_is_gateway_unavailable_and_the_retry_gets_the_first_charge(gw, db, outage):
    profile = _card(db)
    _config(gw, "outage", {"count": 1, **OUTAGES[outage]})
    with pytest.raises(GatewayUnavailable) as exc:
        _charge(gw, profile)
    assert exc.value.code == "gateway_unavailable"
    assert len(_intents(gw)) == (1 if outage == "dropped-after-the-work" else 0)
    retried = _charge(gw, profile)
    assert [i.id for i in _intents(gw)] == [retried.reference]


@pytest.mark.parametrize("outage", ["503", "dropped-after-the-work"])
def test_a_renewal_during_an_outage_fails_is_retried_and_pays_once(gw, db, outage):
    agency, _ = make_agency()
    add_card(agency)
    account = _due_account(agency)
    start = account.period_end
    _config(gw, "outage", {"count": 1, **OUTAGES[outage]})
    invoice = renewals.renew(account.id, start)
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.attempts, invoice.last_error) == ("failed", 0, MESSAGES["gateway_unavailable"])
    assert invoice.next_attempt_at is not None and invoice.first_declined_at is None
    assert db.session.get(HostedAccount, account.id).period_end == start
    invoice = renewals.renew(account.id, start)  # the retry: the same key
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.attempts, invoice.card_charged_cents) == ("paid", 1, invoice.total_cents)
    intents = _intents(gw)
    assert [(i.id, i.amount) for i in intents] == [(invoice.gateway_charge_id, invoice.total_cents)]
    calls = db.session.execute(sa.select(GatewayCall.idempotency_key, GatewayCall.outcome).where(
        GatewayCall.op == "charge").order_by(GatewayCall.id)).all()
    assert [c.outcome for c in calls] == ["unavailable", "succeeded"] and calls[0][0] == calls[1][0]


def test_twenty_concurrent_renewals_of_one_agency_charge_each_period_once(app, gw, db):
    agency, _ = make_agency()
    add_card(agency)
    accounts = [_due_account(agency) for _ in range(10)]
    due = [(a.id, a.period_end) for a in accounts]
    errors = []
    barrier = threading.Barrier(20)

    def renew(account_id, start):
        from webapp.extensions import db as _db
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                renewals.renew(account_id, start)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
                errors.append(repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=renew, args=args) for args in due * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A renewal that loses the race for the same invoice waits for the first on the invoice's row and finds
    # it paid (PostgreSQL); on SQLite it may stop at its attempt's ledger entry (unique per invoice and
    # attempt), before the card is charged, and says the payment is being made. Nothing else may fail.
    assert all("already being made" in e for e in errors), errors
    if db.engine.dialect.name == "postgresql":
        assert errors == []
    db.session.expire_all()
    invoices = db.session.scalars(sa.select(Invoice).where(Invoice.kind == "renewal")).all()
    assert len(invoices) == 10 and {i.status for i in invoices} == {"paid"}
    intents = [i for i in _intents(gw) if i.status == "succeeded"]
    assert len(intents) == 10
    assert sorted(i.id for i in intents) == sorted(i.gateway_charge_id for i in invoices)
    assert sum(i.amount for i in intents) == sum(i.card_charged_cents for i in invoices)
    assert all(db.session.get(HostedAccount, a).period_end > date.today() for a, _ in due)
