"""Money (B1-B8): the card, prepaid credit first, discount tiers, renewals, declines, packs.
Invariants: no (account, period) invoiced or captured twice; balances never below zero; for every
agency, paid invoice totals = prepaid applied + card captures; integer cents everywhere."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import (AuditEvent, BillingProfile, CreditBalance, CreditEntry, GatewayCall, HostedAccount,
                           Invoice, Operation, OutboundEmail)
from webapp.services import billing, operations, renewals
from webapp.services.audit import Actor
from webapp.services.errors import ValidationFailed

from .helpers import csrf_token, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
GOOD, DECLINED, NO_FUNDS = "4242 4242 4242 4242", "4000000000000002", "4000000000009995"
NEXT_YEAR = date.today().year + 1


def card(agency, number=GOOD):
    return billing.save_card(agency.id, number=number, exp_month=12, exp_year=NEXT_YEAR, cvc="123", actor=ACTOR)


def gateway_ops(app, op):
    return [r for r in billing.gateway().history(op)]


def redis_down(monkeypatch, queue):
    """The queue's Redis stops answering: a client aimed at a closed port."""
    import redis
    import rq
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(queue, "queue", rq.Queue(queue.queue.name, connection=dead))
    monkeypatch.setattr(queue, "connection", dead)


def check_ledger_invariant(db, agency_id):
    """Paid invoice totals = prepaid applied + card captures; the card captures are the gateway's."""
    paid = db.session.execute(sa.select(sa.func.coalesce(sa.func.sum(Invoice.total_cents), 0),
                                        sa.func.coalesce(sa.func.sum(Invoice.prepaid_applied_cents), 0),
                                        sa.func.coalesce(sa.func.sum(Invoice.card_charged_cents), 0))
                              .where(Invoice.agency_id == agency_id, Invoice.status == "paid")).one()
    assert paid[0] == paid[1] + paid[2]
    captured = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(GatewayCall.amount_cents), 0)).where(
        GatewayCall.agency_id == agency_id, GatewayCall.op == "charge", GatewayCall.outcome == "succeeded"))
    assert captured == paid[2]
    assert db.session.scalar(sa.select(sa.func.min(CreditBalance.balance))) in (None,) or \
        db.session.scalar(sa.select(sa.func.min(CreditBalance.balance))) >= 0


# ---- B1 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number, month, year, cvc, field", [
    ("4242 4242 4242 4241", 12, NEXT_YEAR, "123", "number"),     # Luhn
    ("42", 12, NEXT_YEAR, "123", "number"),
    ("4242424242424242", 1, 2020, "123", "exp_month"),            # expired
    ("4242424242424242", 13, NEXT_YEAR, "123", "exp_month"),
    ("4242424242424242", 12, NEXT_YEAR, "12", "cvc"),
    ("378282246310005", 12, NEXT_YEAR, "123", "cvc"),              # Amex needs 4 digits
])
def test_card_validation_says_which_field_is_wrong(db, number, month, year, cvc, field):
    agency, _ = make_agency()
    with pytest.raises(ValidationFailed) as exc:
        billing.save_card(agency.id, number=number, exp_month=month, exp_year=year, cvc=cvc, actor=ACTOR)
    assert field in exc.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BillingProfile)) == 0


def test_only_token_brand_last4_and_expiry_are_kept(app, db, client, caplog):
    """B1: no card number in our tables (the sandbox's own included) nor in any log line, through
    a card saved on the page and by the service, a charge and a declined charge."""
    import logging
    caplog.set_level(logging.DEBUG)  # every logger,
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQLAlchemy's statements and parameters too
    numbers = ("4242424242424242", "5555555555554444", "4000000000009995")
    agency, _ = make_agency(email="cardkeeper@agency.test")
    login(client, "cardkeeper@agency.test")
    token = csrf_token(client.get("/billing/profile").get_data(as_text=True))
    assert client.post("/billing/profile", data={"csrf_token": token, "number": GOOD, "exp_month": 12,
                                                 "exp_year": NEXT_YEAR, "cvc": "123"}).status_code == 303
    profile = db.session.scalar(sa.select(BillingProfile))
    replaced = card(agency, "5555555555554444")
    assert replaced.id == profile.id and replaced.brand == "mastercard" and replaced.last4 == "4444"
    assert billing.settle(_renewal_invoice(agency, make_account(agency), key="paid")).status == "paid"
    card(agency, NO_FUNDS)
    with pytest.raises(billing.PaymentDeclined):
        billing.settle(_renewal_invoice(agency, make_account(agency), key="declined"))
    dump = []
    for table in ("billing_profiles", "gateway_calls", "audit_events", "sandbox_gateway_records"):
        dump += [str(row) for row in db.session.execute(sa.text(f"SELECT * FROM {table}"))]
    assert len([row for row in dump if "tok_" in row]) >= 3  # the sandbox's records were read
    assert not any(number in row for row in dump for number in numbers)
    assert "request method=POST path=/billing/profile" in caplog.text  # the logs were captured,
    assert "INSERT INTO sandbox_gateway_records" in caplog.text  # with the SQL and its parameters
    assert not any(number in caplog.text for number in numbers)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "billing_card_saved")) == 3


def test_billing_profile_page(client, db):
    agency, user = make_agency(email="pay@agency.test")
    login(client, "pay@agency.test")
    page = client.get("/billing/profile")
    assert "No card yet" in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    bad = client.post("/billing/profile", data={"csrf_token": token, "number": "4242424242424241", "exp_month": 12,
                                                "exp_year": NEXT_YEAR, "cvc": "123"})
    assert bad.status_code == 422 and "not valid" in bad.get_data(as_text=True)
    assert "4242424242424241" not in bad.get_data(as_text=True)  # never echoed back
    ok = client.post("/billing/profile", data={"csrf_token": token, "number": GOOD, "exp_month": 12,
                                               "exp_year": NEXT_YEAR, "cvc": "123"})
    assert ok.status_code == 303
    assert "···· 4242" in client.get("/billing/profile").get_data(as_text=True)


# ---- B3 / B5 -------------------------------------------------------------------------------------

def _renewal_invoice(agency, account, key="k1", price=7000):
    return billing.create_invoice(agency_id=agency.id, kind="renewal", account=account,
                                  period=(date.today(), date.today() + timedelta(days=30)), key=key,
                                  lines=[billing.Line("renewal", price)])


def test_prepaid_is_spent_first_with_a_released_authorization(app, db):
    agency, _ = make_agency()
    card(agency)
    account = make_account(agency)
    billing.buy_prepaid(agency.id, 10000, account=None, actor=ACTOR)
    assert billing.balance(agency.id, "prepaid") == 10000
    invoice = billing.settle(_renewal_invoice(agency, account))
    assert (invoice.status, invoice.prepaid_applied_cents, invoice.card_charged_cents) == ("paid", 7000, 0)
    assert billing.balance(agency.id, "prepaid") == 3000
    assert [a["amount_cents"] for a in gateway_ops(app, "authorize")] == [100]
    assert len(gateway_ops(app, "void")) == 1 and gateway_ops(app, "capture") == []
    # Partial cover: prepaid first, the card for the rest.
    second = billing.settle(_renewal_invoice(agency, make_account(agency), key="k2"))
    assert (second.prepaid_applied_cents, second.card_charged_cents) == (3000, 4000)
    assert billing.balance(agency.id, "prepaid") == 0
    check_ledger_invariant(db, agency.id)


def test_credit_assigned_to_an_account_is_spent_on_it_first(app, db):
    agency, _ = make_agency()
    card(agency)
    mine, other = make_account(agency), make_account(agency)
    billing.buy_prepaid(agency.id, 5000, account=mine, actor=ACTOR)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    billing.settle(_renewal_invoice(agency, other, key="o", price=1000))
    assert billing.balance(agency.id, "prepaid", mine.id) == 5000  # not spent on another account
    invoice = billing.settle(_renewal_invoice(agency, mine, key="m", price=7000))
    assert invoice.prepaid_applied_cents == 7000
    assert billing.balance(agency.id, "prepaid", mine.id) == 0 and billing.balance(agency.id, "prepaid") == 2000


def test_prepaid_amounts_come_from_the_catalog(db):
    agency, _ = make_agency()
    card(agency)
    with pytest.raises(ValidationFailed):
        billing.buy_prepaid(agency.id, 1234, account=None, actor=ACTOR)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_discount_tier_in_force_on_the_day_of_the_charge(app, db):
    agency, _ = make_agency()
    card(agency)
    accounts = [make_account(agency) for _ in range(4)]
    assert billing.create_invoice(agency_id=agency.id, kind="renewal", account=accounts[0], key="a",
                                  period=(date.today(), date.today()), lines=[billing.Line("x", 10000)]).total_cents == 10000
    accounts.append(make_account(agency))  # the fifth paid account: 10 %
    inv = billing.create_invoice(agency_id=agency.id, kind="renewal", account=accounts[1], key="b",
                                 period=(date.today(), date.today()), lines=[billing.Line("x", 10000)])
    assert (inv.discount_percent, inv.discount_cents, inv.total_cents) == (10, 1000, 9000)
    make_account(agency, plan_term="trial", contact_limit=500)  # trials do not count
    assert billing.paid_accounts(agency.id) == 5


def test_twenty_concurrent_spends_never_take_the_balance_below_zero(app, db):
    agency, _ = make_agency()
    card(agency)
    billing.buy_prepaid(agency.id, 10000, account=None, actor=ACTOR)
    accounts = [make_account(agency) for _ in range(20)]
    invoices = [_renewal_invoice(agency, a, key=f"c{i}", price=700).id for i, a in enumerate(accounts)]
    errors = []

    def spend(invoice_id):
        from webapp.extensions import db as _db
        with app.app_context():
            try:
                billing.settle(_db.session.get(Invoice, invoice_id))
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion below
                errors.append(repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=spend, args=(i,)) for i in invoices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db.session.expire_all()
    applied = db.session.scalar(sa.select(sa.func.sum(Invoice.prepaid_applied_cents)).where(Invoice.kind == "renewal"))
    remaining = billing.balance(agency.id, "prepaid")
    assert remaining >= 0 and applied + remaining == 10000
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(Invoice.status == "paid")) == 21
    check_ledger_invariant(db, agency.id)


# ---- B6 / B7 -------------------------------------------------------------------------------------

def test_sms_packs_for_plus_accounts_never_lite(app, db):
    agency, _ = make_agency()
    card(agency)
    plus = make_account(agency, plan_tier="plus")
    lite = make_account(agency, plan_tier="lite")
    invoice = billing.buy_pack(agency.id, plus, "sms", "sms-500", actor=ACTOR)
    assert invoice.total_cents == 2000 and invoice.discount_percent == 0
    assert billing.balance(agency.id, "sms", plus.id) == 500
    with pytest.raises(ValidationFailed, match="Lite"):
        billing.buy_pack(agency.id, lite, "sms", "sms-500", actor=ACTOR)
    billing.buy_pack(agency.id, lite, "compatibility", "compat-25", actor=ACTOR)
    assert billing.balance(agency.id, "compatibility", lite.id) == 25
    with pytest.raises(ValidationFailed):
        billing.buy_pack(agency.id, plus, "sms", "sms-7", actor=ACTOR)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 2


def test_a_declined_purchase_charges_nothing_and_gives_nothing(app, db):
    agency, _ = make_agency()
    card(agency)
    account = make_account(agency)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    card(agency, DECLINED)
    with pytest.raises(billing.PaymentDeclined):
        billing.buy_pack(agency.id, account, "sms", "sms-10000", actor=ACTOR)  # 300.00: more than the prepaid
    assert billing.balance(agency.id, "sms", account.id) == 0
    assert billing.balance(agency.id, "prepaid") == 5000  # the prepaid it took was given back
    assert db.session.scalar(sa.select(Invoice.status).where(Invoice.kind == "sms_pack")) == "void"
    check_ledger_invariant(db, agency.id)


def test_credit_pages_and_balances_on_the_account_page(client, db):
    agency, _ = make_agency(email="credits@agency.test")
    card(agency)
    account = make_account(agency, "bakery", plan_tier="plus")
    make_account(agency, "tiny", plan_tier="lite")
    login(client, "credits@agency.test")
    token = csrf_token(client.get("/billing/sms").get_data(as_text=True))
    ok = client.post("/billing/sms", data={"csrf_token": token, "account": "bakery", "pack": "sms-2000"})
    assert ok.status_code == 303
    lite = client.post("/billing/sms", data={"csrf_token": token, "account": "tiny", "pack": "sms-500"})
    assert lite.status_code == 422 and "Lite" in lite.get_data(as_text=True)
    unknown = client.post("/billing/sms", data={"csrf_token": token, "account": "nope", "pack": "sms-500"})
    assert unknown.status_code == 422 and "No account of yours has that name." in unknown.get_data(as_text=True)
    assert client.post("/billing/compatibility", data={"csrf_token": token, "account": "tiny",
                                                       "pack": "compat-100"}).status_code == 303
    bad_amount = client.post("/billing/prepaid", data={"csrf_token": token, "amount": "1234"})
    assert bad_amount.status_code == 422
    assert client.post("/billing/prepaid", data={"csrf_token": token, "amount": "5000"}).status_code == 303
    html = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="sms-balance">2,000<' in html
    assert "bakery" in client.get("/billing/account-names?account=bak").get_data(as_text=True)


# ---- B2: renewals --------------------------------------------------------------------------------

def _due_account(agency, **fields):
    today = date.today()
    values = dict(plan_tier="plus", plan_term="monthly", contact_limit=1000, period_start=today - timedelta(days=30),
                  period_end=today, anchor_day=today.day)
    values.update(fields)
    return make_account(agency, **values)


def test_due_accounts_renew_once_on_their_own_day(app, db, run_jobs):
    agency, _ = make_agency()
    card(agency)
    due = _due_account(agency)
    annual = _due_account(agency, plan_term="annual")
    disabled = _due_account(agency, status="disabled")
    later = _due_account(agency, period_end=date.today() + timedelta(days=3))
    cancelled = _due_account(agency, status="cancelled", cancelled_at=__import__("webapp.models", fromlist=["utcnow"]).utcnow())
    renewals.sweep_renewals()
    run_jobs()
    db.session.expire_all()
    invoices = db.session.scalars(sa.select(Invoice).where(Invoice.kind == "renewal")).all()
    assert sorted(i.account_id for i in invoices) == sorted([due.id, annual.id, disabled.id])
    assert all(i.status == "paid" for i in invoices)
    assert db.session.get(HostedAccount, due.id).period_end > date.today()
    year = db.session.get(HostedAccount, annual.id)
    assert (year.period_end - date.today()).days >= 365
    assert db.session.get(HostedAccount, later.id).period_end == date.today() + timedelta(days=3)
    assert db.session.get(HostedAccount, cancelled.id).status == "expired"  # A7: no renewal, it ends
    assert db.session.get(HostedAccount, disabled.id).status == "active"
    charges = len(gateway_ops(app, "charge"))
    # A second sweep the same day charges nothing.
    renewals.sweep_renewals()
    operations.sweep()
    run_jobs()
    assert len(gateway_ops(app, "charge")) == charges
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 3
    check_ledger_invariant(db, agency.id)


def test_the_sweepers_batch_renews_accounts_with_large_ids(app, db, run_jobs):
    """B2: the batch path's temporary invoice number fits invoices.number (32 characters) whatever
    the account id; PostgreSQL refused `pending-renewal:<id>:<date>` from id 100 000 on."""
    agency, _ = make_agency()
    card(agency)
    big = [_due_account(agency, id=123456), _due_account(agency, id=2_147_483_647)]
    renewals.sweep_renewals()
    run_jobs()
    db.session.expire_all()
    invoices = db.session.scalars(sa.select(Invoice).order_by(Invoice.account_id)).all()
    assert [(i.account_id, i.status) for i in invoices] == [(123456, "paid"), (2_147_483_647, "paid")]
    assert all(i.number == f"INV-{i.created_at:%Y%m}-{i.id:06d}" for i in invoices)
    assert all(db.session.get(HostedAccount, a.id).period_end > date.today() for a in big)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Operation).where(
        Operation.kind == "renew_account", Operation.status != "succeeded")) == 0
    # They went the batch way: written by it, not one by one.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CreditEntry).where(
        CreditEntry.reason == "No prepaid credit for this renewal")) == 2
    assert len(gateway_ops(app, "charge")) == 2
    check_ledger_invariant(db, agency.id)


def test_one_invoice_and_one_capture_per_account_and_period(app, db):
    agency, _ = make_agency()
    card(agency)
    account = _due_account(agency)
    start = account.period_end
    first = renewals.renew(account.id, start)
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == account.id).values(period_end=start))
    db.session.commit()
    second = renewals.renew(account.id, start)  # as if the period had not moved: the invoice is the same
    assert first.id == second.id
    assert len(gateway_ops(app, "charge")) == 1
    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(Invoice(agency_id=agency.id, account_id=account.id, kind="renewal", number="dup",
                               period_key=start.isoformat(), idempotency_key="other"))
        db.session.commit()
    db.session.rollback()


def test_two_sweepers_at_once_make_one_operation_per_renewal(app, db):
    agency, _ = make_agency()
    card(agency)
    accounts = [_due_account(agency) for _ in range(10)]

    def sweep():
        from webapp.extensions import db as _db
        with app.app_context():
            renewals.submit_due()
            _db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Operation)
                             .where(Operation.kind == "renew_account")) == len(accounts)
    assert db.session.scalar(sa.select(Operation.params)
                             .where(Operation.kind == "renew_account").limit(1))["discount_percent"] == 10


def test_redis_down_when_a_renewal_is_due_loses_nothing(app, db, run_jobs, monkeypatch):
    agency, _ = make_agency()
    card(agency)
    account = _due_account(agency)
    queue = app.extensions["job_queue"]
    redis_down(monkeypatch, queue)
    renewals.sweep_renewals()  # the renewal cannot reach a worker...
    db.session.expire_all()
    assert db.session.scalar(sa.select(Operation.status).where(Operation.kind == "renew_account")) == "queued"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    monkeypatch.undo()
    operations.sweep()  # Redis is back: the queued renewal goes out
    run_jobs()
    db.session.expire_all()
    assert db.session.scalar(sa.select(Invoice.status)) == "paid"
    assert db.session.get(HostedAccount, account.id).period_end > date.today()


# ---- B8: declines ----------------------------------------------------------------------------------

def test_declined_renewal_is_retried_the_agency_told_then_disabled_then_enabled(app, db, run_jobs, smtp_server):
    from webapp.models import utcnow
    agency, _ = make_agency()
    card(agency, NO_FUNDS)
    account = _due_account(agency, notification_email="ops@agency.test", client_email="client@example.test")
    renewals.sweep_renewals()
    run_jobs()
    db.session.expire_all()
    invoice = db.session.scalar(sa.select(Invoice))
    assert invoice.status == "failed" and invoice.attempts == 1 and "insufficient funds" in invoice.last_error
    assert (invoice.next_attempt_at - invoice.first_declined_at).days == 1  # the catalog's days 1, 3, 5
    assert [m["to"] for m in smtp_server.messages] == [["ops@agency.test"]]  # never the client
    assert "declined" in smtp_server.messages[0]["subject"]
    # Day 1: tried again, declined again, told again.
    db.session.execute(sa.update(Invoice).values(next_attempt_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    renewals.sweep_renewals()
    run_jobs()
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.attempts == 2 and (invoice.next_attempt_at - invoice.first_declined_at).days == 3
    assert len(smtp_server.messages) == 2
    # After the grace period the account is disabled.
    db.session.execute(sa.update(Invoice).values(first_declined_at=utcnow() - timedelta(days=8)))
    db.session.commit()
    renewals.disable_after_grace()
    run_jobs()
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).status == "disabled"
    assert any("disabled" in m["subject"] for m in smtp_server.messages)
    # A new card, the next retry succeeds: paid, the period moves, the account is enabled again.
    card(agency)
    db.session.execute(sa.update(Invoice).values(next_attempt_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    renewals.sweep_renewals()
    run_jobs()
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert invoice.status == "paid" and invoice.card_charged_cents == invoice.total_cents
    account = db.session.get(HostedAccount, account.id)
    assert account.status == "active" and account.period_end > date.today()
    assert len([c for c in gateway_ops(app, "charge") if "error" not in c["response"]]) == 1
    check_ledger_invariant(db, agency.id)


# ---- B4 ----------------------------------------------------------------------------------------------

def test_billing_history_filters_pages_csv_invoice_and_print(client, app, db):
    agency, _ = make_agency(email="hist@agency.test")
    other, _ = make_agency(email="other@agency.test")
    card(agency)
    card(other)
    a = make_account(agency, "alpha-shop")
    b = make_account(agency, "beta-shop")
    billing.settle(_renewal_invoice(agency, a, key="h1"))
    billing.settle(_renewal_invoice(agency, b, key="h2"))
    foreign = billing.settle(_renewal_invoice(other, make_account(other, "gamma"), key="h3"))
    login(client, "hist@agency.test")
    page = client.get("/billing/history").get_data(as_text=True)
    assert page.count("data-invoice=") == 2 and 'id="spend-data"' in page
    only_a = client.get("/billing/history?account=alpha-shop", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert only_a.count("data-invoice=") == 1 and "<html" not in only_a
    month = date.today().strftime("%Y-%m")
    assert client.get(f"/billing/history?month={month}").get_data(as_text=True).count("data-invoice=") == 2
    assert client.get("/billing/history?month=1999-01").get_data(as_text=True).count("data-invoice=") == 0
    assert client.get("/billing/history?month=garbage&page=zz").status_code == 200
    csv_text = client.get("/billing/history.csv").get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("number,date,account") and len(lines) == 3 and ",70.00," in csv_text
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == a.id))
    html = client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    assert invoice.number in html and "Charged to card" in html and "$70.00" in html
    assert "window.print()" in client.get(f"/billing/invoices/{invoice.id}/print").get_data(as_text=True)
    assert client.get(f"/billing/invoices/{foreign.id}").status_code == 404
    assert client.get("/billing/invoices/abc").status_code == 404
