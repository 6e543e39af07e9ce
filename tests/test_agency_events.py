"""Issue 24: the webhooks' events are told by the services where the change is made, in its transaction, and
carry the object as the API answers it (the same JSON as GET /api/v1/...)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import HostedAccount, Invoice, Operation, Payout, WebhookEvent
from webapp.services import (accounts, billing, commission, credits, operations, pushdown, renewals, reports,
                             serializers, support)
from webapp.services.audit import Actor
from webapp.services.errors import Conflict

from .helpers import add_card, agency_actor, make_account, make_agency, make_support
from .test_api import new_token
from .test_commission import LAST_MONTH, earn
from .test_pushdown import _automation, _franchise
from .test_reports import new_input

SYSTEM = Actor.system()


def _events(db, type_=None):
    query = sa.select(WebhookEvent).order_by(WebhookEvent.id)
    if type_:
        query = query.where(WebhookEvent.type == type_)
    db.session.expire_all()
    return db.session.scalars(query).all()


def _types(db):
    return [e.type for e in _events(db)]


@pytest.fixture
def owner(db):
    agency, user = make_agency()
    add_card(agency)
    return agency, user


def test_an_account_event_carries_the_account_as_the_api_answers_it(db, client, owner, run_jobs):
    agency, user = owner
    new = accounts.NewAccount(name="bakery", custom_domain="", client_name="Bea", client_email="bea@bakery.test",
                              notification_email="alerts@agency.test", language="en", timezone="UTC", tier="lite",
                              term="monthly", contact_limit=500)
    account, _op = accounts.create(agency.id, new, request_key="k1", actor=SYSTEM)
    assert "account.provisioned" not in _types(db)  # not before it is ready
    run_jobs()
    [event] = _events(db, "account.provisioned")
    assert event.agency_id == agency.id and event.account_id == account.id and event.public_id.startswith("msg_")
    answer = client.get(f"/api/v1/accounts/{account.id}", headers={"Authorization": f"Bearer {new_token(user)}"})
    api = answer.get_json()
    api.pop("credits")
    assert event.data == api and event.data["status"] == "active"
    # paid for with the card: the sign-up invoice too, with its lines
    [paid] = _events(db, "invoice.paid")
    assert paid.data["kind"] == "signup" and paid.data["lines"] and paid.data["status"] == "paid"
    # a rerun of the finished operation tells nothing twice
    run_jobs()
    assert len(_events(db, "account.provisioned")) == 1


def test_a_provisioning_that_fails_for_good_is_told_once(app, db, owner, monkeypatch):
    agency, _ = owner
    account = make_account(agency, "failing", status="provisioning")
    op = operations.submit("provision_account", key="t:fail", agency_id=agency.id, subject=("account", account.id))
    db.session.commit()
    monkeypatch.setitem(app.config, "OPERATION_MAX_ATTEMPTS", 1)

    def boom(ctx):
        raise RuntimeError("the platform is down")
    monkeypatch.setitem(app.extensions, "operation_handlers", {"provision_account": boom})
    assert operations.run(op.id) == "failed"
    [event] = _events(db, "account.provisioning_failed")
    assert event.data["id"] == account.id and event.data["status"] == "provisioning"
    assert operations.run(op.id) == "skipped"
    assert len(_events(db, "account.provisioning_failed")) == 1


def test_cancel_disable_enable_and_a_plan_change_are_told(db, owner):
    agency, user = owner
    actor = agency_actor(user)
    account = make_account(agency, "shop")
    accounts.disable(account, actor)
    accounts.enable(account, actor)
    accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000, request_key="up", actor=actor)
    accounts.cancel(account, actor)
    assert _types(db) == ["account.disabled", "account.enabled", "invoice.paid", "account.plan_changed",
                          "account.cancelled"]
    by_type = {e.type: e.data for e in _events(db)}
    assert by_type["account.disabled"]["status"] == "disabled"
    assert by_type["account.disabled"]["disabled_reason"] == "agency"
    assert by_type["account.plan_changed"]["plan"]["tier"] == "professional"
    assert by_type["account.cancelled"]["cancelled_at"] is not None
    # a refusal tells nothing: the event goes with the change, or not at all
    with pytest.raises(Conflict):
        accounts.cancel(account, actor)
    assert len(_events(db)) == 5


def test_the_parent_account_is_not_told_about(db, owner):
    agency, user = owner
    parent = make_account(agency, "workshop", kind="parent")
    from webapp.services import events
    events.account(parent, "account.disabled")
    assert _events(db) == []


def test_expiry_a_declined_renewal_and_a_refund_are_told(db, owner, monkeypatch):
    agency, _ = owner
    trial = make_account(agency, "trying", plan_term="trial", period_end=date.today() - timedelta(days=1))
    assert renewals.expire_ended() == 1
    [expired] = _events(db, "account.expired")
    assert expired.data["id"] == trial.id and expired.data["status"] == "expired"
    invoice = billing.buy_prepaid(agency.id, 5000, account=None, actor=SYSTEM, key="t:prepaid")
    billing.refund(invoice, reason="asked by the agency")
    db.session.commit()
    [refunded] = _events(db, "invoice.refunded")
    assert refunded.data["id"] == invoice.id and refunded.data["status"] == "void"
    billing.save_card(agency.id, number="4000000000000341", exp_month=12, exp_year=2040, cvc="123", actor=SYSTEM)
    with pytest.raises(billing.PaymentDeclined):
        billing.buy_prepaid(agency.id, 5000, account=None, actor=SYSTEM, key="t:declined")
    [failed] = _events(db, "invoice.payment_failed")
    assert failed.data["status"] == "failed"


def test_credits_reaching_an_account_are_told(db, owner):
    agency, user = owner
    actor = agency_actor(user)
    account = make_account(agency, "shop", plan_tier="plus")
    billing.buy_credits(agency.id, None, "sms", 2000, actor=actor, key="t:pool")
    credits.move(agency.id, "sms", 300, source=None, target=account, actor=actor, request_key="t:move")
    [event] = _events(db, "credits.allocated")
    assert event.account_id == account.id
    assert event.data == {"account_id": account.id, "account_name": "shop", "kind": "sms", "amount": 300,
                          "balance": 300}
    credits.move(agency.id, "sms", 100, source=account, target=None, actor=actor, request_key="t:back")
    assert len(_events(db, "credits.allocated")) == 1  # back to the pool: nothing reached an account


def test_a_pushdown_published_and_switched_is_told(db, run_jobs):
    agency, user = _franchise(db)
    actor = agency_actor(user)
    row = _automation(agency)
    subs = [make_account(agency, f"sub-{i}") for i in range(2)]
    pd = pushdown.create_draft(agency.id, [row.id], actor)
    pushdown.select(pd, [a.id for a in subs])
    pushdown.publish(pd, pushdown.ActivationInput(mode="none"), actor)
    run_jobs()
    pushdown.switch(pd, True, actor)
    published, switched = _events(db, "pushdown.published"), _events(db, "pushdown.switched")
    assert [e.data["id"] for e in published] == [pd.id] and published[0].data["status"] == "published"
    assert switched[0].data["active"] is True and switched[0].data["counts"]["active"] == 2


def test_a_report_opened_and_an_abuse_disable_are_told(db, owner):
    agency, _ = owner
    make_account(agency, "bakery")
    staff = make_support()
    report = reports.file(new_input(), staff=staff, actor=SYSTEM)
    [opened] = _events(db, "report.opened")
    assert opened.data["id"] == report.id and opened.data["account_name"] == "bakery"
    reports.disable_account(report.id, staff=staff, actor=SYSTEM)
    reports.enable_account(report.id, staff=staff, actor=SYSTEM)
    assert _types(db)[-2:] == ["account.disabled", "account.enabled"]


def test_a_payout_paid_is_told(db):
    agency, _ = make_agency()
    agency.paypal_email = "me@agency.test"
    earn(db, agency, 9000, LAST_MONTH)
    payout = commission.pay_month(agency.id, LAST_MONTH)
    assert payout.status == "paid"
    [event] = _events(db, "payout.paid")
    assert event.data["amount_cents"] == 9000 and event.data["month"] == LAST_MONTH
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payout)) == 1


def test_a_detached_account_is_told_to_the_agency_it_left(db, owner):
    agency, user = owner
    actor = agency_actor(user)
    account = make_account(agency, "leaving")
    request = support.request_detach(account, user, client_email="boss@leaving.test", actor=actor)
    staff = make_support()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=SYSTEM)
    [event] = _events(db, "account.detached")
    assert event.agency_id == agency.id and event.data["id"] == account.id
    assert db.session.get(HostedAccount, account.id).agency_id is None


def test_a_failed_payout_is_told(db):
    agency, _ = make_agency()
    agency.paypal_email = "unavailable@paypal.test"
    earn(db, agency, 6000, LAST_MONTH)
    for _ in range(2):  # the service is down: a first failure, then a retry that fails the same way
        with pytest.raises(operations.RetryLater):
            commission.pay_month(agency.id, LAST_MONTH)
    [event] = _events(db, "payout.failed")
    assert event.data["status"] == "failed" and event.data["error"]
    payout = db.session.scalar(sa.select(Payout))
    assert event.data["id"] == payout.id and set(event.data) == set(serializers.payout(payout))


def test_a_transfer_in_is_told_to_the_agency_that_receives_it(db, owner):
    agency, user = owner
    other, _ = make_agency("Old Agency", email="old@agency.test")
    moving = make_account(other, "moving", admin_password="moving-password-1", client_email="boss@moving.test")
    request = support.request_transfer(agency.id, user, account_name="moving", admin_email="boss@moving.test",
                                       actor=agency_actor(user))
    token = "known-token"
    request.confirm_token_hash = support._hash(token)
    db.session.commit()
    support.confirm_transfer(token)
    support.decide(request.id, approve=True, reason="", staff=make_support(), actor=SYSTEM)
    [event] = _events(db, "account.transferred_in")
    assert event.agency_id == agency.id and event.data["id"] == moving.id
    assert not [e for e in _events(db) if e.agency_id == other.id and e.type == "account.transferred_in"]


def test_renewals_paid_in_a_batch_are_told_one_by_one(db, owner, run_jobs):
    agency, _ = owner
    due = [make_account(agency, f"due-{i}", period_start=date.today() - timedelta(days=30),
                        period_end=date.today()) for i in range(3)]
    renewals.sweep_renewals()
    run_jobs()
    paid = [e for e in _events(db, "invoice.paid") if e.data["kind"] == "renewal"]
    assert sorted(e.account_id for e in paid) == sorted(a.id for a in due)
    assert all(e.data["status"] == "paid" and e.data["number"] and e.data["lines"] for e in paid)
