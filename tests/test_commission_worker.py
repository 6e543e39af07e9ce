"""C3 fault: a real `python worker.py` killed with -9 after PayPal paid and before our commit; the
next worker finishes the month's payout with one payout at PayPal, one row, one e-mail (with the sandbox,
and with the PayPal adapter against the stand-in PayPal)."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from webapp.jobs import registry
from webapp.models import CommissionEntry, Invoice, Operation, OutboundEmail, Payout, utcnow
from webapp.services import commission

from .helpers import make_account, make_agency
from .test_commission import LAST_MONTH, earn
from .test_paypal_payouts import paypal  # noqa: F401  (the stand-in PayPal, as a fixture)
from .test_worker_process import _no_stray_workers, _start_worker, _wait, process_redis_url  # noqa: F401


def test_worker_killed_between_payout_and_commit_pays_once(app, db, service_urls, process_redis_url, tmp_path):
    agency, user = make_agency()
    agency.paypal_email = "me@agency.test"
    month = commission.previous_month(date.today())
    account = make_account(agency, kind="commission")
    invoice = Invoice(agency_id=None, account_id=account.id, kind="renewal", status="paid", number="INV-T-1",
                      idempotency_key="t:1", total_cents=50000, card_charged_cents=50000)
    db.session.add(invoice)
    db.session.flush()
    db.session.add(CommissionEntry(agency_id=agency.id, account_id=account.id, invoice_id=invoice.id, month=month,
                                   amount_cents=10000))
    db.session.commit()
    op_ids = commission.submit_payouts()
    assert len(op_ids) == 1
    registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]).enqueue_operation(op_ids[0])

    crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT="payout.after_adapter",
                             AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / "crashed"))
    try:
        assert crashing.wait(timeout=60) == -9, Path(crashing.log_path).read_text()[-3000:]
    finally:
        crashing.kill()
    db.session.expire_all()
    # PayPal paid; our row still says it is being sent.
    assert len(commission.payouts().history()) == 1
    assert db.session.scalar(sa.select(Payout.status)) == "pending"

    def done():
        db.session.expire_all()
        return db.session.get(Operation, op_ids[0]).status == "succeeded"
    worker = _start_worker(service_urls[0], process_redis_url)
    try:
        assert _wait(done, timeout=90), Path(worker.log_path).read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    sent = commission.payouts().history()
    payout = db.session.scalar(sa.select(Payout))
    assert len(sent) == 1 and sent[0]["amount_cents"] == 10000
    assert payout.status == "paid" and payout.reference == sent[0]["response"]["reference"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payout)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail).where(
        OutboundEmail.kind == "commission_payout")) == 1


def test_worker_killed_after_paypals_answer_reruns_and_gets_the_same_batch(app, db, service_urls, process_redis_url,
                                                                         tmp_path, paypal):
    """The same through PayPal (the stand-in on loopback, which the worker reaches by PAYPAL_API_BASE): the
    rerun sends the same sender_batch_id and PayPal-Request-Id and PayPal answers with the first batch."""
    agency, user = make_agency()
    agency.paypal_email = "me@agency.test"
    earn(db, agency, 10000, LAST_MONTH)
    op_ids = commission.submit_payouts()
    registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]).enqueue_operation(op_ids[0])
    env = {"PAYOUTS": "paypal", "PAYPAL_API_BASE": paypal.url, "PAYPAL_CLIENT_ID": paypal.client_id,
           "PAYPAL_CLIENT_SECRET": paypal.client_secret}
    crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT="payout.after_adapter",
                             AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / "crashed"), **env)
    try:
        assert crashing.wait(timeout=60) == -9, Path(crashing.log_path).read_text()[-3000:]
    finally:
        crashing.kill()
    db.session.expire_all()
    assert len(paypal.created()) == 1 and db.session.scalar(sa.select(Payout.batch_id)) is None

    def done():
        db.session.expire_all()
        return db.session.get(Operation, op_ids[0]).status == "succeeded"
    worker = _start_worker(service_urls[0], process_redis_url, **env)
    try:
        assert _wait(done, timeout=90), Path(worker.log_path).read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    payout = db.session.scalar(sa.select(Payout))
    batch = paypal.created()[0]["payout_batch_id"]
    assert payout.status == "pending" and payout.batch_id == batch
    paypal.process()
    commission.check_payouts(utcnow() + timedelta(minutes=5))
    db.session.expire_all()
    payout = db.session.scalar(sa.select(Payout))
    assert payout.status == "paid" and payout.reference == batch and len(paypal.created()) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail).where(
        OutboundEmail.kind == "commission_payout")) == 1
