"""C3 through PayPal Payouts (issue 20): the PayPal adapter against a stand-in PayPal on a loopback port
(tests/stand_ins/paypal_server.py), configured only by PAYPAL_API_BASE as in production. The OAuth2 token
is kept until shortly before it expires; a payout is one batch per (agency, month) whose sender_batch_id
and PayPal-Request-Id are our key, polled until final; an outage, a crash after PayPal's answer or a
repeated run never makes a second batch; an unclaimed or failed item is shown on the Commission tab and
retried with the next batch (an unclaimed one cancelled first, so its money is back before)."""
from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from webapp import faults
from webapp.adapters.payouts import PayoutError, PayPalPayouts, SandboxPayouts
from webapp.models import Agency, AuditEvent, Operation, OutboundEmail, Payout, utcnow
from webapp.services import commission, keys, operations
from webapp.services.operations import RetryLater

from .helpers import login, make_agency
from .stand_ins.paypal_server import PayPalStandIn
from .test_commission import LAST_MONTH, earn


def _use(app, **config) -> None:
    """New settings for the payout service, and a fresh adapter built from them (as at start-up)."""
    app.config.update(config)
    app.extensions.pop("payout_service", None)


@pytest.fixture
def paypal(app):
    stand_in = PayPalStandIn().start()
    keys_ = ("PAYOUTS", "PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_API_BASE", "GATEWAY_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys_}
    saved_adapter = app.extensions.pop("payout_service", None)
    _use(app, PAYOUTS="paypal", PAYPAL_CLIENT_ID=stand_in.client_id, PAYPAL_CLIENT_SECRET=stand_in.client_secret,
         PAYPAL_API_BASE=stand_in.url, GATEWAY_TIMEOUT=0.5)
    yield stand_in
    app.config.update(saved)
    app.extensions.pop("payout_service", None)
    if saved_adapter is not None:
        app.extensions["payout_service"] = saved_adapter
    stand_in.stop()


def _agency(db, email="me@agency.test", cents=6000):
    agency, user = make_agency()
    agency.paypal_email = email
    earn(db, agency, cents, LAST_MONTH)
    return agency, user


def _payout(db) -> Payout:
    db.session.expire_all()
    return db.session.scalar(sa.select(Payout))


def _later(minutes: int = 5):
    return utcnow() + timedelta(minutes=minutes)


def _emails(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail).where(
        OutboundEmail.kind == "commission_payout"))


def _creates(paypal) -> int:
    return sum(1 for method, path in paypal.calls if (method, path) == ("POST", "/v1/payments/payouts"))


def _due_now(db, op_id: int) -> None:
    db.session.execute(sa.update(Operation).where(Operation.id == op_id).values(run_after=None))
    db.session.commit()


# ---- the token ----------------------------------------------------------------------------------------------

def test_the_token_is_fetched_once_kept_until_it_nearly_expires_then_renewed(app, db, paypal):
    adapter = commission.payouts()
    assert isinstance(adapter, PayPalPayouts) and adapter.api_base == paypal.url
    paypal.fail_next(status=503, path="/v1/oauth2/token")
    with pytest.raises(PayoutError) as down:
        adapter.send("me@agency.test", 1234, "USD", idempotency_key="token-test")
    assert down.value.code == "service_unavailable" and paypal.token_requests == 1 and paypal.created() == []
    paypal.calls.clear()
    with time_machine.travel(datetime(2031, 3, 1, 9, 0, tzinfo=timezone.utc), tick=False) as clock:
        sent = adapter.send("me@agency.test", 1234, "USD", idempotency_key="token-test")
        assert sent.status == "pending" and adapter.status(sent.reference).status == "pending"
        adapter.status(sent.reference)
        assert paypal.token_requests == 1
        clock.shift(timedelta(seconds=paypal.token_lifetime - 301))  # PayPal's 9 hours, less the margin
        adapter.status(sent.reference)
        assert paypal.token_requests == 1
        clock.shift(timedelta(seconds=2))  # within 5 minutes of the end: a new token first
        adapter.status(sent.reference)
        assert paypal.token_requests == 2
        # PayPal refuses a token before its time (401 invalid_token): one new token, and the call goes through.
        paypal.revoke_tokens()
        assert adapter.status(sent.reference).reference == sent.reference
        assert paypal.token_requests == 3
    created = paypal.created()
    assert created == [{"sender_batch_id": "token-test", "payout_batch_id": sent.reference,
                        "receiver": "me@agency.test", "value": "12.34", "transaction_status": "PENDING"}]


def test_amounts_are_paypal_strings_and_a_refused_request_says_why(app, db, paypal):
    adapter = commission.payouts()
    adapter.send("me@agency.test", 5, "USD", idempotency_key="five-cents")
    adapter.send("me@agency.test", 100000, "EUR", idempotency_key="thousand")
    assert [c["value"] for c in paypal.created()] == ["0.05", "1000.00"]
    with pytest.raises(PayoutError) as refused:
        adapter.send("not an address", 6000, "USD", idempotency_key="bad-receiver")
    assert refused.value.code == "rejected" and "VALIDATION_ERROR" in refused.value.message
    assert "items[0].receiver" in refused.value.detail and "debug_id" in refused.value.detail
    with pytest.raises(PayoutError) as missing:
        adapter.status("NOSUCHBATCH")
    assert missing.value.code == "not_found"
    assert len(paypal.created()) == 2


# ---- a payout through PayPal ---------------------------------------------------------------------------------

def test_a_payout_is_paid_through_a_pending_batch_and_the_agency_is_told_once(app, db, paypal, run_jobs, client):
    agency, user = _agency(db)
    commission.sweep_payouts()
    run_jobs()
    payout = _payout(db)
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "commission_payout"))
    assert op.status == "succeeded" and op.result["paid"] is False and op.result["status"] == "pending"
    assert payout.status == "pending" and payout.batch_id and payout.item_status == "PENDING"
    assert paypal.created() == [{"sender_batch_id": keys.payout(agency.id, LAST_MONTH),
                                 "payout_batch_id": payout.batch_id, "receiver": "me@agency.test", "value": "60.00",
                                 "transaction_status": "PENDING"}]
    login(client, user.email)
    assert f"PayPal is processing it (batch {payout.batch_id})" in client.get("/commission").get_data(as_text=True)
    # The sweeper asks; PayPal is still at it; it asks again once PayPal has paid.
    assert commission.check_payouts() == 0  # asked a moment ago: not yet
    assert commission.check_payouts(_later(2)) == 1 and _payout(db).status == "pending"
    paypal.process()
    assert commission.check_payouts(_later(4)) == 1
    payout = _payout(db)
    assert payout.status == "paid" and payout.item_status == "SUCCESS" and payout.reference == payout.batch_id
    assert payout.paid_at is not None and payout.error is None
    # Asked again, by the sweeper and by the operation run again: nothing more is sent or told.
    assert commission.check_payouts(_later(6)) == 0
    assert commission.pay_month(agency.id, LAST_MONTH).status == "paid"
    commission.sweep_payouts()
    run_jobs()
    assert _creates(paypal) == 1 and _emails(db) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "commission_paid_out")) == 1
    email = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "commission_payout"))
    assert email.to_address == user.email and "$60.00" in email.subject and payout.batch_id in email.body_text
    html = client.get("/commission").get_data(as_text=True)
    assert f'<tr data-month="{LAST_MONTH}">' in html and payout.batch_id in html and "Paid" in html


def test_a_repeated_run_and_a_crash_after_paypals_answer_make_one_batch(app, db, paypal, monkeypatch):
    agency, _ = _agency(db)

    def killed(name):
        if name == "payout.after_adapter":
            raise RuntimeError("worker killed")
    monkeypatch.setattr(faults, "point", killed)
    with pytest.raises(RuntimeError):
        commission.pay_month(agency.id, LAST_MONTH)  # PayPal made the batch; nothing of it committed here
    db.session.rollback()
    monkeypatch.setattr(faults, "point", lambda name: None)
    payout = _payout(db)
    assert payout.status == "pending" and payout.batch_id is None and len(paypal.created()) == 1
    # The rerun sends the same key: PayPal answers with the first batch (PayPal-Request-Id).
    payout = commission.pay_month(agency.id, LAST_MONTH)
    assert payout.batch_id == paypal.created()[0]["payout_batch_id"] and _creates(paypal) == 2
    commission.pay_month(agency.id, LAST_MONTH)  # a third run asks about the batch, sends nothing
    assert _creates(paypal) == 2
    # PayPal has forgotten the request id (it keeps them 30 days) and the batch id was lost again: the
    # same sender_batch_id is refused as a duplicate, with the link to the first batch, which is the answer.
    paypal.forget_request_ids()
    db.session.execute(sa.update(Payout).values(batch_id=None, item_id=None))
    db.session.commit()
    payout = commission.pay_month(agency.id, LAST_MONTH)
    assert payout.batch_id == paypal.created()[0]["payout_batch_id"] and _creates(paypal) == 3
    paypal.process()
    commission.check_payouts(_later())
    assert _payout(db).status == "paid" and len(paypal.created()) == 1 and _emails(db) == 1


@pytest.mark.parametrize("outage", ["503", "500", "429", "dropped", "lost answer", "timeout", "refused"])
def test_an_outage_leaves_the_payout_failed_with_the_reason_and_it_is_paid_once_later(app, db, paypal, run_jobs,
                                                                                        client, outage):
    agency, user = _agency(db)
    batches = "/v1/payments/payouts"
    if outage == "refused":
        with socket.socket() as probe:  # a port with nobody listening
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        _use(app, PAYPAL_API_BASE=f"http://127.0.0.1:{closed}")
    elif outage == "timeout":
        paypal.stall_next(path=batches)
    elif outage == "dropped":
        paypal.fail_next(status=0, path=batches)
    elif outage == "lost answer":  # PayPal makes the batch; its answer never arrives
        paypal.fail_next(status=503, after=True, path=batches)
    else:
        paypal.fail_next(status=int(outage), path=batches)
    commission.sweep_payouts()
    run_jobs()
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "commission_payout"))
    assert op.status == "queued" and op.run_after is not None and "PayPal" in op.error  # RetryLater
    payout = _payout(db)
    assert payout.status == "failed" and payout.error == "PayPal could not be reached."
    assert payout.next_attempt_at is not None and payout.batch_id is None
    login(client, user.email)
    html = client.get("/commission").get_data(as_text=True)
    assert "PayPal could not be reached." in html and "It will be tried again." in html
    assert len(paypal.created()) == (1 if outage == "lost answer" else 0)
    # PayPal is back: the retry sends the same key; one batch, paid once.
    if outage == "refused":
        _use(app, PAYPAL_API_BASE=paypal.url)
    _due_now(db, op.id)
    assert operations.run(op.id) == "succeeded"
    assert _payout(db).status == "pending"
    paypal.process()
    commission.check_payouts(_later())
    payout = _payout(db)
    assert payout.status == "paid" and payout.error is None
    assert len(paypal.created()) == 1 and _emails(db) == 1


def test_an_outage_while_polling_changes_nothing_and_the_next_pass_asks_again(app, db, paypal):
    agency, _ = _agency(db)
    commission.pay_month(agency.id, LAST_MONTH)
    paypal.process()
    paypal.fail_next(status=503)
    assert commission.check_payouts(_later(2)) == 0
    assert _payout(db).status == "pending"
    with pytest.raises(RetryLater):
        paypal.fail_next(status=503)
        commission.pay_month(agency.id, LAST_MONTH)
    assert commission.check_payouts(_later(4)) == 1 and _payout(db).status == "paid"
    assert len(paypal.created()) == 1


# ---- unclaimed and failed items ------------------------------------------------------------------------------

def test_an_unclaimed_item_shows_on_the_tab_and_the_retry_cancels_it_and_sends_a_new_batch(app, db, paypal, client):
    agency, user = _agency(db, email="nobody@agency.test")
    paypal.set_outcome("nobody@agency.test", "UNCLAIMED")
    first = commission.pay_month(agency.id, LAST_MONTH).batch_id
    paypal.process()
    commission.check_payouts(_later())
    payout = _payout(db)
    assert (payout.status, payout.item_status, payout.attempt) == ("failed", "UNCLAIMED", 1)
    assert payout.error == "RECEIVER_UNREGISTERED: Receiver is unregistered" and payout.next_attempt_at
    login(client, user.email)
    html = client.get("/commission").get_data(as_text=True)
    assert "Unclaimed" in html and "RECEIVER_UNREGISTERED: Receiver is unregistered" in html
    assert "nobody@agency.test" in html and "It will be tried again." in html
    # The next batch is an operation on the retry schedule, keyed as that batch is.
    retry = db.session.scalar(sa.select(Operation).where(
        Operation.idempotency_key == commission.batch_key(agency.id, LAST_MONTH, 2)))
    assert retry.status == "queued" and retry.run_after > utcnow()
    assert operations.run(retry.id) == "skipped"  # not due yet
    # Meanwhile the agency puts an address that has a PayPal account; the retry goes to it.
    db.session.get(Agency, agency.id).paypal_email = "me@agency.test"
    db.session.commit()
    _due_now(db, retry.id)
    assert operations.run(retry.id) == "succeeded"
    created = paypal.created()
    assert [(c["sender_batch_id"], c["receiver"], c["transaction_status"]) for c in created] == [
        (keys.payout(agency.id, LAST_MONTH), "nobody@agency.test", "RETURNED"),  # cancelled: the money is back
        (f"{keys.payout(agency.id, LAST_MONTH)}:2", "me@agency.test", "PENDING")]
    payout = _payout(db)
    assert (payout.status, payout.attempt, payout.paypal_email) == ("pending", 2, "me@agency.test")
    assert payout.batch_id != first
    paypal.process()
    commission.check_payouts(_later())
    payout = _payout(db)
    assert payout.status == "paid" and payout.reference == created[1]["payout_batch_id"]
    assert [c["transaction_status"] for c in paypal.created()] == ["RETURNED", "SUCCESS"] and _emails(db) == 1
    assert "me@agency.test" in client.get("/commission").get_data(as_text=True)


def test_an_unclaimed_item_claimed_before_the_retry_is_paid_without_a_second_batch(app, db, paypal):
    agency, _ = _agency(db, email="late@agency.test")
    paypal.set_outcome("late@agency.test", "UNCLAIMED")
    commission.pay_month(agency.id, LAST_MONTH)
    paypal.process()
    commission.check_payouts(_later())
    assert _payout(db).item_status == "UNCLAIMED"
    paypal.claim("late@agency.test")  # PayPal refuses the cancel: the item is paid
    payout = commission.pay_month(agency.id, LAST_MONTH)
    assert payout.status == "paid" and payout.attempt == 1
    assert [c["transaction_status"] for c in paypal.created()] == ["SUCCESS"] and _emails(db) == 1


def test_a_failed_item_is_retried_with_new_batches_until_the_tries_run_out(app, db, paypal, client, monkeypatch):
    monkeypatch.setitem(app.config, "OPERATION_MAX_ATTEMPTS", 2)
    agency, user = _agency(db, email="locked@agency.test")
    paypal.set_outcome("locked@agency.test", "FAILED")
    commission.pay_month(agency.id, LAST_MONTH)
    paypal.process()
    commission.check_payouts(_later())
    payout = _payout(db)
    assert (payout.status, payout.item_status) == ("failed", "FAILED") and payout.next_attempt_at
    assert payout.error == "RECEIVER_ACCOUNT_LOCKED: Receiver account is locked or inactive"
    login(client, user.email)
    html = client.get("/commission").get_data(as_text=True)
    assert "PayPal did not pay it to locked@agency.test: RECEIVER_ACCOUNT_LOCKED" in html
    assert "It will be tried again." in html
    commission.pay_month(agency.id, LAST_MONTH)  # the retry (here by hand): a new batch, no cancel needed
    paypal.process()
    commission.check_payouts(_later(10))
    payout = _payout(db)
    assert (payout.status, payout.attempt, payout.next_attempt_at) == ("failed", 2, None)
    assert commission.pay_month(agency.id, LAST_MONTH).attempt == 2  # no tries left: nothing sent
    assert [c["sender_batch_id"] for c in paypal.created()] == [keys.payout(agency.id, LAST_MONTH),
                                                                f"{keys.payout(agency.id, LAST_MONTH)}:2"]
    assert "It will not be tried again automatically" in client.get("/commission").get_data(as_text=True)
    assert _emails(db) == 0


# ---- configuration ---------------------------------------------------------------------------------------------

def test_bad_credentials_give_a_clear_error_not_a_crash(app, db, paypal, run_jobs, client, caplog):
    _use(app, PAYPAL_CLIENT_SECRET="wrong-secret")
    agency, user = _agency(db)
    commission.sweep_payouts()
    run_jobs()
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "commission_payout"))
    assert op.status == "queued" and "invalid_client" in op.error and "PAYPAL_CLIENT_SECRET" in op.error
    payout = _payout(db)
    assert payout.status == "failed" and payout.error == "PayPal refused the platform's credentials."
    assert "wrong-secret" not in op.error + caplog.text
    login(client, user.email)
    response = client.get("/commission")
    assert response.status_code == 200 and "PayPal refused the platform" in response.get_data(as_text=True)
    assert paypal.created() == []
    # Fixed: the retry pays.
    _use(app, PAYPAL_CLIENT_SECRET=paypal.client_secret)
    _due_now(db, op.id)
    assert operations.run(op.id) == "succeeded" and len(paypal.created()) == 1


def test_missing_credentials_and_an_unknown_service_are_refused_clearly(app, db, paypal):
    _use(app, PAYPAL_CLIENT_ID=None)
    agency, _ = _agency(db)
    with pytest.raises(RetryLater, match="PAYPAL_CLIENT_ID"):
        commission.pay_month(agency.id, LAST_MONTH)
    assert _payout(db).error == "Payouts through PayPal are not set up on this platform yet."
    assert paypal.calls == []
    _use(app, PAYOUTS="payal")
    with pytest.raises(RuntimeError, match="sandbox or paypal"):
        commission.payouts()
    _use(app, PAYOUTS="sandbox")
    assert isinstance(commission.payouts(), SandboxPayouts)
