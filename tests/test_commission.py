"""Commission (C1-C3): referral sign-up on the client's own card, the ledger at the catalog's rate
(a refund reverses it), the PayPal e-mail, and the monthly payout, paid once per (agency, month)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import (Agency, AuditEvent, BillingProfile, CommissionEntry, HostedAccount, Invoice, Operation,
                           OutboundEmail, Payout)
from webapp.services import billing, commission, operations, renewals
from webapp.services.audit import Actor

from .helpers import add_card, csrf_token, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
# DECLINED is saved, then every charge on it is declined (0002 is now declined when saved, before any charge).
GOOD, DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0341"
NEXT_YEAR = date.today().year + 1
PLUS_MONTHLY_1000 = 7000  # catalog: plus, monthly, 1 000 contacts


def signup_form(page_html: str, **over) -> dict:
    data = {"csrf_token": csrf_token(page_html), "request_key": "", "name": "bakery", "client_name": "The Bakery",
            "client_email": "owner@bakery.test", "tier": "plus", "term": "monthly", "contact_limit": "1000",
            "number": GOOD, "exp_month": "12", "exp_year": str(NEXT_YEAR), "cvc": "123"}
    data.update(over)
    return data


def referral(code: str, **over) -> commission.Referral:
    values = dict(name="bakery", client_name="The Bakery", client_email="owner@bakery.test", tier="plus",
                  term="monthly", contact_limit=1000, number=GOOD, exp_month=12, exp_year=NEXT_YEAR, cvc="123")
    values.update(over)
    return commission.Referral(**values)


def count(db, model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))



# ---- C1: sign-up through /r/<code> -------------------------------------------------------------------

def test_signup_creates_a_commission_account_paid_by_the_clients_card(app, db, client, run_jobs):
    agency, _ = make_agency()
    profile = add_card(agency)
    page = client.get(f"/r/{agency.referral_code}")
    assert page.status_code == 200 and "bakery" not in page.get_data(as_text=True)
    answer = client.post(f"/r/{agency.referral_code}", data=signup_form(page.get_data(as_text=True)))
    assert answer.status_code == 303, answer.get_data(as_text=True)
    db.session.expire_all()
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "bakery"))
    assert account.kind == "commission" and account.agency_id == agency.id
    assert account.notification_email == "owner@bakery.test"  # the client gets its own notices
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id))
    assert invoice.status == "paid" and invoice.agency_id is None and invoice.card_charged_cents == PLUS_MONTHLY_1000
    client_card = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == account.id))
    charges = billing.gateway().history("charge")
    assert len(charges) == 1 and charges[0]["token"] == client_card.gateway_token != profile.gateway_token
    receipt = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "commission_receipt"))
    assert receipt.to_address == "owner@bakery.test"
    run_jobs()
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).status == "active"
    welcome = client.get(answer.headers["Location"])
    assert welcome.status_code == 200 and "admin" in welcome.get_data(as_text=True)


def test_declined_card_creates_nothing_and_says_so_next_to_the_card(app, db, client):
    agency, _ = make_agency()
    page = client.get(f"/r/{agency.referral_code}")
    answer = client.post(f"/r/{agency.referral_code}",
                         data=signup_form(page.get_data(as_text=True), number=DECLINED))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="number-error"' in html and "declined" in html
    assert count(db, HostedAccount) == 0 and count(db, CommissionEntry) == 0 and count(db, BillingProfile) == 0
    assert db.session.scalar(sa.select(Invoice.status)) == "void"


def test_bad_input_and_unknown_code(app, db, client):
    agency, _ = make_agency()
    make_account(agency, "taken")
    page = client.get(f"/r/{agency.referral_code}")
    answer = client.post(f"/r/{agency.referral_code}", data=signup_form(
        page.get_data(as_text=True), name="taken", client_email="nope", number="1234"))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    for field in ("name", "client_email", "number"):
        assert f'id="{field}-error"' in html
    assert billing.gateway().history("charge") == []
    missing = client.get("/r/no-such-code")
    assert missing.status_code == 404 and "referral link is not valid" in missing.get_data(as_text=True)
    assert client.post("/r/no-such-code", data={}).status_code in (400, 404)


def test_same_request_twice_gives_one_account_and_one_charge(app, db):
    agency, _ = make_agency()
    first, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k1")
    again, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k1")
    assert first.id == again.id
    assert len(billing.gateway().history("charge")) == 1 and count(db, CommissionEntry) == 1


def test_the_agency_is_never_charged_for_a_referred_account(app, db):
    agency, _ = make_agency()
    agency_profile = add_card(agency)
    account, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k")
    # The account is due: the agency's renewal sweep leaves it alone; it renews on the client's card.
    today = date.today()
    account.period_end = today
    db.session.commit()
    assert account.id not in [row.id for row in renewals.due_accounts(today)]
    invoice = renewals.renew(account.id, today)
    assert invoice.status == "paid" and invoice.agency_id is None and invoice.discount_percent == 0
    tokens = {row["token"] for row in billing.gateway().history("charge")}
    assert agency_profile.gateway_token not in tokens and len(tokens) == 1
    assert count(db, CommissionEntry, CommissionEntry.account_id == account.id) == 2
    receipts = db.session.scalars(sa.select(OutboundEmail.to_address).where(
        OutboundEmail.kind == "commission_receipt")).all()
    assert receipts == ["owner@bakery.test", "owner@bakery.test"]
    # Agency-billed history never shows the client's invoices.
    assert count(db, Invoice, Invoice.agency_id == agency.id) == 0


def test_commission_renewal_sweep_bills_the_client(app, db, run_jobs):
    agency, _ = make_agency()
    agency_profile = add_card(agency)
    account, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k")
    run_jobs()  # provisioned: active
    db.session.execute(sa.update(HostedAccount).values(period_end=date.today()))
    db.session.commit()
    renewals.sweep_commission_renewals()
    run_jobs()
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).period_end > date.today()
    tokens = [row["token"] for row in billing.gateway().history("charge")]
    assert len(tokens) == 2 and agency_profile.gateway_token not in tokens


# ---- C2: the ledger -------------------------------------------------------------------------------------

def test_payment_earns_the_catalog_rate_and_a_refund_reverses_it(app, db):
    agency, _ = make_agency()
    account, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k")
    rate = app.extensions["catalog"].commission_rate_bp
    entry = db.session.scalar(sa.select(CommissionEntry))
    assert entry.amount_cents == PLUS_MONTHLY_1000 * rate // 10000 == 1400
    assert entry.month == f"{date.today():%Y-%m}" and entry.agency_id == agency.id
    invoice = db.session.get(Invoice, entry.invoice_id)
    billing.refund(invoice, reason="test")
    billing.refund(invoice, reason="again")  # a second refund changes nothing
    amounts = sorted(db.session.scalars(sa.select(CommissionEntry.amount_cents)).all())
    assert amounts == [-1400, 1400]
    assert commission.ledger(agency.id)[0]["total_cents"] == 0
    # Paying the same invoice's commission again is a no-op (unique per invoice).
    assert commission.record_payment(invoice) is None or count(db, CommissionEntry) == 2


def test_resold_payments_earn_no_commission(app, db):
    agency, _ = make_agency()
    add_card(agency)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    assert count(db, CommissionEntry) == 0


def test_tab_shows_link_accounts_and_ledger_and_scopes_by_agency(app, db, client):
    agency, user = make_agency()
    other, other_user = make_agency("Other")
    commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k")
    login(client, user.email)
    html = client.get("/commission").get_data(as_text=True)
    assert f"/r/{agency.referral_code}" in html and "data-copy" in html
    assert 'data-account="bakery"' in html and "$70.00" in html and "$14.00" in html
    assert f'data-month="{date.today():%Y-%m}"' in html
    assert "set your PayPal e-mail" in html
    client.post("/logout", data={"csrf_token": csrf_token(html)})
    other_client = app.test_client()
    login(other_client, other_user.email)
    other_html = other_client.get("/commission").get_data(as_text=True)
    assert "bakery" not in other_html and "$14.00" not in other_html


def test_tab_needs_an_agency_login(app, db, client):
    assert client.get("/commission").status_code in (302, 401)


# ---- C3: settings and payouts -----------------------------------------------------------------------------

def test_paypal_email_is_validated(app, db, client):
    agency, user = make_agency()
    login(client, user.email)
    page = client.get("/commission").get_data(as_text=True)
    bad = client.post("/commission/settings", data={"csrf_token": csrf_token(page), "paypal_email": "not an e-mail"})
    assert bad.status_code == 422 and 'id="paypal_email-error"' in bad.get_data(as_text=True)
    empty = client.post("/commission/settings", data={"csrf_token": csrf_token(page), "paypal_email": ""})
    assert empty.status_code == 422
    db.session.expire_all()
    assert db.session.get(Agency, agency.id).paypal_email is None
    good = client.post("/commission/settings", data={"csrf_token": csrf_token(page), "paypal_email": "me@agency.test"})
    assert good.status_code == 303
    db.session.expire_all()
    assert db.session.get(Agency, agency.id).paypal_email == "me@agency.test"
    assert count(db, AuditEvent, AuditEvent.action == "commission_paypal_email_set") == 1


def earn(db, agency, cents: int, month: str):
    """A commission entry for `month` (an invoice of a referred account backs it)."""
    account = make_account(agency, kind="commission")
    invoice = Invoice(agency_id=None, account_id=account.id, kind="renewal", status="paid",
                      number=f"INV-T-{account.id}", idempotency_key=f"t:{account.id}", total_cents=cents * 5,
                      card_charged_cents=cents * 5)
    db.session.add(invoice)
    db.session.flush()
    db.session.add(CommissionEntry(agency_id=agency.id, account_id=account.id, invoice_id=invoice.id,
                                   month=month, amount_cents=cents))
    db.session.commit()


LAST_MONTH = commission.previous_month(date.today())


def test_payout_below_the_minimum_pays_nothing_and_rolls_over(app, db, run_jobs):
    agency, _ = make_agency()
    agency.paypal_email = "me@agency.test"
    earn(db, agency, 1000, LAST_MONTH)
    commission.sweep_payouts()
    run_jobs()
    assert count(db, Payout) == 0 and commission.payouts().history() == []
    assert commission.status_for(db.session.get(Agency, agency.id))["reason"] == "below_minimum"


def test_payout_above_the_minimum_pays_once_and_tells_the_agency(app, db, run_jobs, client):
    agency, user = make_agency()
    agency.paypal_email = "me@agency.test"
    earn(db, agency, 3000, "2020-01")  # an older balance that rolled over
    earn(db, agency, 3000, LAST_MONTH)
    earn(db, agency, 9000, f"{date.today():%Y-%m}")  # this month's: next month's payout
    for _ in range(2):
        commission.sweep_payouts()
        run_jobs()
    assert commission.pay_month(agency.id, LAST_MONTH).status == "paid"  # a third run: still one
    sent = commission.payouts().history()
    assert len(sent) == 1 and sent[0]["amount_cents"] == 6000 and sent[0]["receiver"] == "me@agency.test"
    payout = db.session.scalar(sa.select(Payout))
    assert payout.status == "paid" and payout.month == LAST_MONTH and payout.amount_cents == 6000
    email = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "commission_payout"))
    assert email.to_address == user.email and "$60.00" in email.subject
    assert commission.unpaid_balance(agency.id) == 9000
    login(client, user.email)
    html = client.get("/commission").get_data(as_text=True)
    assert f'<tr data-month="{LAST_MONTH}"><td>{LAST_MONTH}</td>' in html and payout.reference in html


def test_payout_without_paypal_email_waits(app, db, run_jobs):
    agency, _ = make_agency()
    earn(db, agency, 6000, LAST_MONTH)
    assert commission.submit_payouts() == []
    assert commission.pay_month(agency.id, LAST_MONTH) is None
    assert count(db, Payout) == 0
    assert commission.status_for(db.session.get(Agency, agency.id))["reason"] == "no_paypal_email"


def test_payout_failure_is_retried_later_and_shown(app, db, run_jobs, client):
    agency, user = make_agency()
    agency.paypal_email = "unavailable@paypal.test"
    earn(db, agency, 6000, LAST_MONTH)
    commission.sweep_payouts()
    run_jobs()
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "commission_payout"))
    assert op.status == "queued" and op.run_after is not None and "PayPal" in op.error  # RetryLater
    payout = db.session.scalar(sa.select(Payout))
    assert payout.status == "failed" and commission.payouts().history() == []
    login(client, user.email)
    assert "It will be tried again" in client.get("/commission").get_data(as_text=True)
    # The service comes back: the retry pays it, once.
    db.session.execute(sa.update(Payout).values(paypal_email="me@agency.test"))
    db.session.execute(sa.update(Operation).where(Operation.id == op.id).values(run_after=None))
    db.session.commit()
    assert operations.run(op.id) == "succeeded"
    assert len(commission.payouts().history()) == 1
    db.session.expire_all()
    assert db.session.scalar(sa.select(Payout)).status == "paid"


def test_flaky_service_answers_a_repeated_key_with_the_first_payout(app, db):
    agency, _ = make_agency()
    agency.paypal_email = "fail-once@paypal.test"
    earn(db, agency, 6000, LAST_MONTH)
    with pytest.raises(operations.RetryLater):
        commission.pay_month(agency.id, LAST_MONTH)
    paid = commission.pay_month(agency.id, LAST_MONTH)
    again = commission.payouts().send("fail-once@paypal.test", 6000, "USD",
                                      idempotency_key=f"payout:{agency.id}:{LAST_MONTH}")
    assert paid.status == "paid" and again.reference == paid.reference
    assert len(commission.payouts().history()) == 1


def test_the_sandbox_answers_status_and_cancel_with_its_record(app, db):
    """The sandbox gives the interface PayPal gives (send, status, cancel): it pays at once."""
    sandbox = commission.payouts()
    assert sandbox.name == "sandbox"
    sent = sandbox.send("me@agency.test", 6000, "USD", idempotency_key="status-test")
    assert sent.status == "success" and sandbox.status(sent.reference) == sent == sandbox.cancel(sent.reference)
    with pytest.raises(commission.PayoutError):
        sandbox.status("PAYOUT-UNKNOWN")


def test_a_declined_try_then_a_good_card_with_the_same_form_signs_up(app, db):
    agency, _ = make_agency()
    with pytest.raises(commission.ValidationFailed):
        commission.sign_up(agency.referral_code, referral(agency.referral_code, number=DECLINED), request_key="k")
    account, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k")
    assert account.kind == "commission" and len(billing.gateway().history("charge")) == 2
    assert count(db, HostedAccount) == 1 and count(db, CommissionEntry) == 1


def test_a_declined_renewal_of_a_referred_account_tells_the_client_never_charges_the_agency(app, db):
    agency, _ = make_agency()
    agency_profile = add_card(agency)
    account, _ = commission.sign_up(agency.referral_code, referral(agency.referral_code), request_key="k")
    declined = billing.gateway().tokenize("4000000000000341", 12, NEXT_YEAR, "123", idempotency_key="tok-declined")
    db.session.execute(sa.update(BillingProfile).where(BillingProfile.account_id == account.id)
                       .values(gateway_token=declined.token))
    account.period_end = date.today()
    db.session.commit()
    invoice = renewals.renew(account.id, date.today())
    assert invoice.status == "failed" and invoice.next_attempt_at is not None
    notice = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "renewal_declined"))
    assert notice.to_address == "owner@bakery.test" and "Billing profile" not in notice.body_text
    succeeded = [r for r in billing.gateway().history("charge") if "error" not in r["response"]]
    assert agency_profile.gateway_token not in {r["token"] for r in billing.gateway().history("charge")}
    assert len(succeeded) == 1 and count(db, CommissionEntry) == 1  # only the sign-up earned commission
