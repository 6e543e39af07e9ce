"""A real `python worker.py` killed with -9 mid-delivery (issue 24): after the receiver got the webhook and
before the worker recorded it. The next worker's sweep finds the delivery "sending" by a worker gone stale
and sends it once more, with the same webhook-id: the receiver, de-duplicating by it, acts on it once."""
from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from webapp.jobs import registry
from webapp.models import WebhookAttempt, WebhookDelivery
from webapp.services import webhooks
from webapp.services.scope import AgencyScope

from .helpers import SUBPROCESS_SECRET_KEY, agency_actor, make_agency
from .test_webhooks import Receiver
from .test_worker_process import _no_stray_workers, _start_worker, _wait, process_redis_url  # noqa: F401

WORKER_ENV = {"WEBHOOKS_ALLOW_HTTP": "1", "WEBHOOKS_ALLOW_PRIVATE": "1", "WEBHOOK_TIMEOUT_SECONDS": "0.5",
              "WEBHOOK_STALE_SECONDS": "1"}


def test_a_worker_killed_mid_delivery_has_it_sent_once_more_with_the_same_webhook_id(
        app, db, service_urls, process_redis_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "SECRET_KEY", SUBPROCESS_SECRET_KEY)  # the workers decrypt the secret
    receiver = Receiver()
    try:
        agency, user = make_agency()
        endpoint, secret = webhooks.create_endpoint(AgencyScope(agency.id), url=receiver.url(),
                                                    events=["account.provisioned"], description="",
                                                    actor=agency_actor(user))
        event = webhooks.emit(agency.id, "account.provisioned", {"id": 1}, account_id=1)
        db.session.commit()
        delivery_id = db.session.scalar(sa.select(WebhookDelivery.id))
        registry.make_queue(process_redis_url, app.config["QUEUE_NAME"]).enqueue_calls(
            webhooks.DELIVERY_JOB, [(delivery_id,)])

        def delivery():
            db.session.expire_all()
            return db.session.get(WebhookDelivery, delivery_id)

        crashing = _start_worker(service_urls[0], process_redis_url, AGENCYHQ_CRASH_AT="webhook.after_send",
                                 AGENCYHQ_CRASH_ONCE_FILE=str(tmp_path / "crashed"), **WORKER_ENV)
        try:
            assert _wait(lambda: crashing.poll() is not None, timeout=60), Path(crashing.log_path).read_text()[-3000:]
            assert crashing.returncode == -9
        finally:
            crashing.kill()
        assert len(receiver.at("/hook")) == 1  # it got there; the worker died before writing it down
        assert delivery().status == "sending" and delivery().attempts == 1

        worker = _start_worker(service_urls[0], process_redis_url, **WORKER_ENV)
        try:
            assert _wait(lambda: delivery().status == "succeeded", timeout=60), \
                Path(worker.log_path).read_text()[-3000:]
            time.sleep(2.5)  # a sweep or two more: nothing is sent a third time
        finally:
            worker.terminate()
            worker.wait(timeout=20)
        requests = receiver.verified("/hook", secret)
        assert len(requests) == 2
        assert {request["headers"]["webhook-id"] for request, _ in requests} == {event.public_id}
        acted_on = {payload["id"]: payload for _request, payload in requests}  # the receiver de-duplicates
        assert list(acted_on) == [event.public_id]
        assert delivery().attempts == 2
        assert db.session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == 1  # the recorded try
    finally:
        receiver.close()
