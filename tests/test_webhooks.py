"""Outgoing webhooks (issue 24): events, signed deliveries to a real HTTP receiver started here (every
signature verified with the `standardwebhooks` library), order per account, retries with back-off under a
test clock, disabling after 3 days with the agency's e-mail, resend, the test event, the safety checks, and
the API's endpoints (success, another agency's ids, bad input, a read-only token)."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
import time_machine
from standardwebhooks import Webhook

from webapp.adapters import webhook_http
from webapp.models import (AuditEvent, OutboundEmail, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
                           utcnow)
from webapp.services import api_tokens, webhooks
from webapp.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from webapp.services.scope import AgencyScope

from .helpers import agency_actor, make_agency, make_member

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)


# ---- a real receiver -------------------------------------------------------------------------------------

class Receiver:
    """A threaded HTTP server on 127.0.0.1. Each path answers as told: "ok" (200), an HTTP status number,
    "hang" (no answer until the test ends), "redirect" (302), "big" (a 10 MB body). `plan(path, ...)` queues
    answers for the next requests to a path; after them it answers its default."""

    def __init__(self):
        self.received: list[dict] = []
        self.defaults: dict[str, object] = {}
        self.plans: dict[str, list] = {}
        self.failing_ids: set[str] = set()  # webhook-ids answered 503, whatever the path
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append({"path": self.path, "headers": dict(self.headers.items()),
                                              "body": body.decode(), "at": datetime.now(timezone.utc)})
                    queued = receiver.plans.get(self.path)
                    how = queued.pop(0) if queued else receiver.defaults.get(self.path, "ok")
                    if self.headers.get("webhook-id") in receiver.failing_ids:
                        how = 503
                try:
                    self._answer(how)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _answer(self, how):
                if how == "hang":
                    receiver.release.wait(10)
                    return
                if how == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if how == "big":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10 * 1024 * 1024))
                    self.end_headers()
                    chunk = b"x" * 65536
                    for _ in range(160):
                        self.wfile.write(chunk)
                    return
                code = 200 if how == "ok" else int(how)
                answer = b"thanks" if code == 200 else b"receiver says no"
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, path, *answers):
        with self.lock:
            self.plans.setdefault(path, []).extend(answers)

    def at(self, path):
        with self.lock:
            return [r for r in self.received if r["path"] == path]

    def verified(self, path, secret):
        """Every request to `path`, its signature checked with the Standard Webhooks library as the receiver
        would have checked it when it came (its timestamp within 5 minutes of the receiver's clock)."""
        out = []
        for request in self.at(path):
            with time_machine.travel(request["at"], tick=False):
                payload = Webhook(secret).verify(request["body"], request["headers"])
            out.append((request, payload))
        return out

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 0.5)
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def owner(db):
    return make_agency(email="owner@agency.test")


def _endpoint(agency, user, url, events=("account.provisioned",), description=""):
    return webhooks.create_endpoint(AgencyScope(agency.id), url=url, events=list(events), description=description,
                                    actor=agency_actor(user))


def _emit(db, agency, type="account.provisioned", account_id=None, data=None):
    event = webhooks.emit(agency.id, type, data if data is not None else {"id": account_id or 0, "name": "x"},
                          account_id=account_id)
    db.session.commit()
    return event


def _delivery(db, delivery_id):
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


def _deliveries(db, endpoint):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                                   .order_by(WebhookDelivery.id)))


def _send_due(run_jobs):
    """A sweeper pass's share (what is due goes to the queue) and a worker draining it."""
    webhooks.dispatch_due()
    run_jobs()


# ---- emit ---------------------------------------------------------------------------------------------

def test_emit_records_the_event_and_a_delivery_for_each_enabled_endpoint_that_wants_it(db, owner, receiver):
    agency, user = owner
    wants, other = _endpoint(agency, user, receiver.url("/a"))[0], _endpoint(agency, user, receiver.url("/b"),
                                                                             events=["invoice.paid"])[0]
    off = _endpoint(agency, user, receiver.url("/c"))[0]
    webhooks.update_endpoint(AgencyScope(agency.id), off.id, enabled=False, actor=agency_actor(user))
    event = webhooks.emit(agency.id, "account.provisioned", {"id": 7, "at": T0}, account_id=7)
    assert event.public_id.startswith("msg_") and len(event.public_id) == 31
    assert event.data == {"id": 7, "at": "2026-06-01T09:00:00Z"}  # kept as JSON
    db.session.commit()
    assert [d.endpoint_id for d in db.session.scalars(sa.select(WebhookDelivery))] == [wants.id]
    assert _deliveries(db, other) == [] and _deliveries(db, off) == []
    # No endpoint wants it: the event is still kept (GET /events lists it); no agency: nothing.
    assert _emit(db, agency, "payout.paid", data={"id": 1}).type == "payout.paid"
    assert webhooks.emit(None, "payout.paid", {"id": 1}) is None
    with pytest.raises(ValueError):
        webhooks.emit(agency.id, "account.exploded", {})


def test_a_rolled_back_change_sends_nothing(db, owner, receiver, run_jobs):
    agency, user = owner
    _endpoint(agency, user, receiver.url())
    webhooks.emit(agency.id, "account.provisioned", {"id": 1}, account_id=1)
    db.session.rollback()
    run_jobs()
    _send_due(run_jobs)
    assert receiver.received == []
    assert db.session.scalar(sa.select(sa.func.count(WebhookEvent.id))) == 0


def test_a_delivery_is_signed_per_standard_webhooks_and_carries_what_the_api_shows(db, client, owner, receiver,
                                                                                  run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url())
    assert secret.startswith("whsec_") and secret not in endpoint.secret_encrypted
    event = _emit(db, agency, account_id=5, data={"id": 5, "name": "Bloom", "status": "active"})
    run_jobs()
    [(request, payload)] = receiver.verified("/hook", secret)
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["webhook-id"] == event.public_id and headers["content-type"] == "application/json"
    assert headers["user-agent"] == "AgencyHQ-Webhooks/1"
    assert int(headers["webhook-timestamp"]) == pytest.approx(time.time(), abs=60)
    assert payload == {"id": event.public_id, "type": "account.provisioned", "created_at": payload["created_at"],
                       "data": {"id": 5, "name": "Bloom", "status": "active"}}
    # Another secret does not verify it.
    with pytest.raises(Exception):
        Webhook(webhooks.new_secret()).verify(request["body"], request["headers"])
    # GET /events carries the same object.
    token = api_tokens.create(user, "t", agency_actor(user))[1]
    listed = client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert listed["data"] == [payload] and listed["has_more"] is False
    one = client.get(f"/api/v1/events/{event.public_id}", headers={"Authorization": f"Bearer {token}"})
    assert one.status_code == 200 and one.get_json() == payload
    delivery = _deliveries(db, endpoint)[0]
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.response_excerpt == "thanks" and delivery.last_latency_ms >= 0
    assert db.session.get(WebhookEndpoint, endpoint.id).last_success_at is not None


# ---- order, retries, disabling -----------------------------------------------------------------------

def test_deliveries_of_one_endpoint_go_in_event_order_per_account(db, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url(), events=["account.provisioned", "account.plan_changed"])
    receiver.plan("/hook", 500)  # the first try of the first event fails
    with time_machine.travel(T0, tick=False) as clock:
        first = _emit(db, agency, "account.provisioned", account_id=1)
        second = _emit(db, agency, "account.plan_changed", account_id=1)
        other = _emit(db, agency, "account.provisioned", account_id=2)
        run_jobs()
        # Account 1's second event waits for its first; account 2's is not held up.
        ids = [p["id"] for _r, p in receiver.verified("/hook", secret)]
        assert ids == [first.public_id, other.public_id]
        waiting = [d for d in _deliveries(db, endpoint) if d.event_id == second.id][0]
        assert waiting.status == "pending" and waiting.attempts == 0
        clock.move_to(T0 + timedelta(seconds=6))
        _send_due(run_jobs)
    ids = [p["id"] for _r, p in receiver.verified("/hook", secret)]
    assert ids == [first.public_id, other.public_id, first.public_id, second.public_id]
    assert {d.status for d in _deliveries(db, endpoint)} == {"succeeded"}


def test_a_failed_delivery_stops_blocking_the_next_one_of_its_account(db, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        first = _emit(db, agency, account_id=1)
        receiver.failing_ids.add(first.public_id)
        second = _emit(db, agency, account_id=1)
        run_jobs()
        head, waiting = _deliveries(db, endpoint)
        while _delivery(db, head.id).status == "pending":
            assert _delivery(db, waiting.id).attempts == 0  # it waits while the first is retried
            clock.move_to(_delivery(db, head.id).next_attempt_at)
            _emit(db, agency, account_id=2)  # another account's events get through meanwhile
            _send_due(run_jobs)
        # The first failed for good at 3 days; the second went out at once.
        assert utcnow() == T0 + timedelta(days=3)
    ids = [p["id"] for _r, p in receiver.verified("/hook", secret) if p["data"]["id"] == 1]
    assert ids[-1] == second.public_id and set(ids[:-1]) == {first.public_id}
    statuses = {d.event_id: d.status for d in _deliveries(db, endpoint)}
    assert statuses[first.id] == "failed" and statuses[second.id] == "succeeded"
    assert db.session.get(WebhookEndpoint, endpoint.id).enabled is True


def test_a_500_is_retried_with_exponential_backoff_then_failed_and_the_endpoint_disabled_with_an_email(
        db, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url("/down"))
    receiver.defaults["/down"] = 500
    expected = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                timedelta(hours=5)] + [timedelta(hours=10)] * 20
    with time_machine.travel(T0, tick=False) as clock:
        _emit(db, agency, account_id=3)
        run_jobs()
        [delivery] = _deliveries(db, endpoint)
        delays = []
        while delivery.status == "pending":
            now = utcnow()
            assert delivery.last_error == "The receiver answered HTTP 500."
            assert delivery.response_excerpt == "receiver says no" and delivery.last_status_code == 500
            delays.append(delivery.next_attempt_at - now)
            clock.move_to(delivery.next_attempt_at - timedelta(seconds=1))
            _send_due(run_jobs)  # not due yet: nothing sent
            assert _delivery(db, delivery.id).attempts == len(delays)
            clock.move_to(delivery.next_attempt_at)
            _send_due(run_jobs)
            delivery = _delivery(db, delivery.id)
        finished_at = utcnow()
    # Each delay within ±10 % of its step, until the last try, at 3 days after the first exactly.
    for got, step in zip(delays[:-1], expected):
        assert step * 0.9 <= got <= step * 1.1, (got, step)
    assert finished_at == T0 + timedelta(days=3)
    assert delivery.status == "failed" and delivery.attempts == len(delays) + 1
    assert len(receiver.verified("/down", secret)) == delivery.attempts  # each try verified, same webhook-id
    assert len({r["headers"]["webhook-id"] for r in receiver.at("/down")}) == 1
    assert db.session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == delivery.attempts
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.enabled is False and endpoint.disabled_reason == "failing"
    assert endpoint.failing_since == T0
    [email] = db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind == "webhook_disabled"))
    assert email.to_address == "owner@agency.test" and receiver.url("/down") in email.body_text
    assert "HTTP 500" in email.body_text and f"/settings/api/webhooks/{endpoint.id}" in email.body_text
    assert "webhook_endpoint_disabled" in db.session.scalars(sa.select(AuditEvent.action)).all()
    # Disabled: new events are not delivered to it.
    _emit(db, agency, account_id=3)
    run_jobs()
    assert len(_deliveries(db, endpoint)) == 1


def test_enabling_a_failing_endpoint_again_clears_its_failures_and_sends_what_waited(db, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url())
    scope, actor = AgencyScope(agency.id), agency_actor(user)
    receiver.defaults["/hook"] = 500
    with time_machine.travel(T0, tick=False) as clock:
        _emit(db, agency, account_id=1)
        run_jobs()
        clock.move_to(T0 + timedelta(days=3))
        _send_due(run_jobs)  # the try at 3 days fails: disabled
        waiting = _emit(db, agency, account_id=2)  # not delivered while disabled
        assert db.session.get(WebhookEndpoint, endpoint.id).enabled is False
        receiver.defaults["/hook"] = "ok"
        _send_due(run_jobs)
        assert waiting.public_id not in [p["id"] for _r, p in receiver.verified("/hook", secret)]
        endpoint = webhooks.update_endpoint(scope, endpoint.id, enabled=True, actor=actor)
        assert endpoint.enabled and endpoint.disabled_reason is None and endpoint.failing_since is None
        later = _emit(db, agency, account_id=2)
        run_jobs()
    assert later.public_id in [p["id"] for _r, p in receiver.verified("/hook", secret)]


@pytest.mark.parametrize("how, reason", [
    ("hang", "Timed out: the receiver did not answer within 0.5 s."),
    (502, "The receiver answered HTTP 502."),
    ("redirect", "Redirect not followed: the receiver answered HTTP 302 to http://127.0.0.1:1/elsewhere."),
    ("big", "Response too large: the answer is longer than 64 KB (HTTP 200)."),
])
def test_a_bad_receiver_fails_with_its_reason_is_retried_and_holds_up_no_other_endpoint(db, owner, receiver,
                                                                                       run_jobs, how, reason):
    agency, user = owner
    bad, _ = _endpoint(agency, user, receiver.url("/bad"))
    good, good_secret = _endpoint(agency, user, receiver.url("/good"))
    receiver.defaults["/bad"] = how
    started = time.monotonic()
    _emit(db, agency, account_id=1)
    run_jobs()
    assert time.monotonic() - started < 5
    [delivery] = _deliveries(db, bad)
    assert delivery.status == "pending" and delivery.last_error == reason  # to be retried
    assert delivery.next_attempt_at > utcnow()
    assert [d.status for d in _deliveries(db, good)] == ["succeeded"]
    # While the bad one waits for its retry, the good endpoint's next delivery goes at once.
    second = _emit(db, agency, account_id=1)
    run_jobs()
    assert [p["id"] for _r, p in receiver.verified("/good", good_secret)][-1] == second.public_id
    if how == "redirect":
        assert receiver.at("/elsewhere") == []


def test_the_address_is_checked_after_resolution_at_each_send_and_the_connection_goes_to_it(
        db, app, owner, receiver, run_jobs, monkeypatch):
    agency, user = owner
    # A name that resolves (here: is made to) to the receiver's address: the request goes to the address
    # checked, with the name in the Host header.
    monkeypatch.setattr(webhook_http, "resolve", lambda host, port, timeout: ["127.0.0.1"])
    endpoint, secret = _endpoint(agency, user, f"http://hooks.example.test:{receiver.port}/named")
    _emit(db, agency, account_id=1)
    run_jobs()
    [(request, _payload)] = receiver.verified("/named", secret)
    assert request["headers"]["Host"] == f"hooks.example.test:{receiver.port}"
    # The same name now resolves to loopback with private addresses refused (a DNS rebinding): not sent.
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    _emit(db, agency, account_id=1)
    run_jobs()
    assert len(receiver.at("/named")) == 1
    last = _deliveries(db, endpoint)[-1]
    assert last.status == "pending"
    assert last.last_error == "Not sent: hooks.example.test resolves to 127.0.0.1, a loopback address."


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.169.254", "::1",
                                     "fd00:ec2::254", "fe80::1", "224.0.0.1", "0.0.0.0", "100.64.0.1",
                                     "::ffff:127.0.0.1"])
def test_inside_addresses_are_refused(address):
    assert webhook_http.address_problem(address)


def test_public_addresses_pass():
    assert webhook_http.address_problem("93.184.216.34") is None
    assert webhook_http.address_problem("2606:4700::1111") is None


# ---- resend, test event ------------------------------------------------------------------------------

def test_resend_is_a_new_delivery_with_the_same_webhook_id(db, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url())
    scope, actor = AgencyScope(agency.id), agency_actor(user)
    event = _emit(db, agency, account_id=1)
    run_jobs()
    [first] = _deliveries(db, endpoint)
    again = webhooks.resend(scope, first.id, actor=actor)
    assert again.id != first.id and again.resend_no == 1 and again.event_id == first.event_id
    run_jobs()
    payloads = [p for _r, p in receiver.verified("/hook", secret)]
    assert [p["id"] for p in payloads] == [event.public_id, event.public_id]
    assert [d.status for d in _deliveries(db, endpoint)] == ["succeeded", "succeeded"]
    assert webhooks.resend(scope, first.id, actor=actor).resend_no == 2
    # A member may not; another agency's delivery is not found.
    member = make_member(agency, "member")
    with pytest.raises(Forbidden):
        webhooks.resend(scope, first.id, actor=agency_actor(member))
    other, other_user = make_agency(email="other@agency.test")
    with pytest.raises(NotFound):
        webhooks.resend(AgencyScope(other.id), first.id, actor=agency_actor(other_user))
    webhooks.update_endpoint(scope, endpoint.id, enabled=False, actor=actor)
    with pytest.raises(Conflict):
        webhooks.resend(scope, first.id, actor=actor)


def test_the_test_event_goes_to_that_endpoint_only(db, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, secret = _endpoint(agency, user, receiver.url("/one"))
    _endpoint(agency, user, receiver.url("/two"))
    delivery = webhooks.send_test(AgencyScope(agency.id), endpoint.id, actor=agency_actor(user))
    run_jobs()
    [(_request, payload)] = receiver.verified("/one", secret)
    assert payload["type"] == "webhook.test" and payload["data"]["endpoint_id"] == endpoint.id
    assert receiver.at("/two") == [] and _delivery(db, delivery.id).status == "succeeded"


def test_events_older_than_30_days_are_purged_with_their_deliveries(db, owner, receiver, run_jobs):
    agency, user = owner
    _endpoint(agency, user, receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        old = _emit(db, agency, account_id=1)
        run_jobs()
        clock.move_to(T0 + timedelta(days=29))
        recent = _emit(db, agency, account_id=1)
        run_jobs()
        clock.move_to(T0 + timedelta(days=30, seconds=1))
        old_id, recent_id = old.public_id, recent.public_id
        assert webhooks.purge_events() == 1
    assert [e.public_id for e in db.session.scalars(sa.select(WebhookEvent))] == [recent_id] != [old_id]
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 1


# ---- registering: bad input --------------------------------------------------------------------------

def test_the_url_is_checked_when_it_is_registered(db, app, owner, monkeypatch):
    agency, user = owner
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", False)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    for url in ["http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.8/x", "https://[::1]:8443/x",
                "https://169.254.169.254/latest/meta-data", "https://localhost/x", "ftp://example.com/x",
                "https://user:pw@example.com/x", "https://" + "a" * 1990 + ".com/x", "not a url", ""]:
        with pytest.raises(ValidationFailed) as refused:
            _endpoint(agency, user, url)
        assert set(refused.value.fields) == {"url"}, url
    messages = {}
    for url in ["http://hooks.example.com/x", "https://10.0.0.8/x", "https://[fd00:ec2::254]/x",
                "https://user:pw@example.com/x"]:
        with pytest.raises(ValidationFailed) as refused:
            _endpoint(agency, user, url)
        messages[url] = refused.value.fields["url"]
    assert messages == {"http://hooks.example.com/x": "Use an https:// address.",
                        "https://10.0.0.8/x": "Use a public address: 10.0.0.8 is a private address.",
                        "https://[fd00:ec2::254]/x": "Use a public address: fd00:ec2::254 is a cloud metadata address.",
                        "https://user:pw@example.com/x": "Leave the user name and password out of the URL."}
    monkeypatch.setattr(webhook_http, "resolve", lambda host, port, timeout: ["93.184.216.34", "192.168.1.4"])
    with pytest.raises(ValidationFailed) as refused:
        _endpoint(agency, user, "https://rebind.example.com/x")
    assert refused.value.fields["url"] == ("Use a public address: rebind.example.com resolves to 192.168.1.4, a "
                                           "private address.")
    monkeypatch.undo()
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", False)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    with pytest.raises(ValidationFailed) as refused:
        _endpoint(agency, user, "https://93.184.216.34/hook", events=[])
    assert set(refused.value.fields) == {"events"}
    with pytest.raises(ValidationFailed) as refused:
        _endpoint(agency, user, "https://93.184.216.34/hook", events=["account.exploded"])
    assert set(refused.value.fields) == {"events"}
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0
    endpoint, _ = _endpoint(agency, user, "https://93.184.216.34/hook", events=["invoice.paid", "account.expired"])
    assert endpoint.events == ["account.expired", "invoice.paid"] and endpoint.created_by_user_id == user.id


# ---- the API -------------------------------------------------------------------------------------------

class Api:
    def __init__(self, client, token):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def get(self, path, **kw):
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kw)

    def post(self, path, json=None):
        return self.client.post(f"/api/v1{path}", headers=self.headers, json=json)

    def patch(self, path, json):
        return self.client.patch(f"/api/v1{path}", headers=self.headers, json=json)

    def delete(self, path):
        return self.client.delete(f"/api/v1{path}", headers=self.headers)


@pytest.fixture
def api(client, owner):
    return Api(client, api_tokens.create(owner[1], "crm", agency_actor(owner[1]))[1])


def test_the_api_manages_endpoints_and_answers_the_secret_once(db, api, owner, receiver, run_jobs):
    agency, user = owner
    made = api.post("/webhooks", json={"url": receiver.url(), "events": ["account.provisioned"],
                                       "description": "CRM"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    secret, endpoint_id = body.pop("secret"), body["id"]
    assert secret.startswith("whsec_")
    assert body == {"id": endpoint_id, "url": receiver.url(), "description": "CRM", "events": ["account.provisioned"],
                    "enabled": True, "disabled_reason": None, "created_at": body["created_at"],
                    "failing_since": None, "last_success_at": None}
    listed = api.get("/webhooks").get_json()["data"]
    assert listed == [body] and "secret" not in json.dumps(listed)
    assert api.get(f"/webhooks/{endpoint_id}").get_json() == body
    changed = api.patch(f"/webhooks/{endpoint_id}", json={"events": ["invoice.paid", "account.provisioned"],
                                                          "enabled": False})
    assert changed.status_code == 200
    assert changed.get_json()["events"] == ["account.provisioned", "invoice.paid"]
    assert changed.get_json()["disabled_reason"] == "agency"
    api.patch(f"/webhooks/{endpoint_id}", json={"enabled": True})
    tested = api.post(f"/webhooks/{endpoint_id}/test")
    assert tested.status_code == 202 and tested.get_json()["event_type"] == "webhook.test"
    run_jobs()
    assert len(receiver.verified("/hook", secret)) == 1
    for _ in range(3):
        _emit(db, agency, account_id=1)
    run_jobs()
    page = api.get(f"/webhooks/{endpoint_id}/deliveries?limit=2").get_json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = api.get(f"/webhooks/{endpoint_id}/deliveries?limit=2&cursor={page['next_cursor']}").get_json()
    ids = [d["id"] for d in page["data"] + rest["data"]]
    assert len(ids) == 4 and ids == sorted(ids, reverse=True) and rest["next_cursor"] is None
    one = api.get(f"/webhooks/deliveries/{ids[0]}").get_json()
    assert one["status"] == "succeeded" and one["attempts_log"][0]["status_code"] == 200
    resent = api.post(f"/webhooks/deliveries/{ids[0]}/resend")
    assert resent.status_code == 202 and resent.get_json()["resend_no"] == 1
    run_jobs()
    assert api.delete(f"/webhooks/{endpoint_id}").get_json() == {"id": endpoint_id, "deleted": True}
    assert api.get(f"/webhooks/{endpoint_id}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 0
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("webhook%"))
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["webhook_endpoint_created", "webhook_endpoint_updated", "webhook_endpoint_updated",
                       "webhook_test_sent", "webhook_delivery_resent", "webhook_endpoint_deleted"]


@pytest.mark.parametrize("url", ["http://hooks.example.com/in", "https://10.0.0.1/in", "https://127.0.0.1/in",
                                 "https://[fd00:ec2::254]/in", "https://hooks.example.com/" + "a" * 2000])
def test_a_bad_url_is_a_422_naming_url(db, api, url):
    answer = api.post("/webhooks", json={"url": url, "events": ["invoice.paid"]})
    assert answer.status_code == 422 and "url" in answer.get_json()["error"]["fields"], answer.get_json()


def test_bad_bodies_are_422_naming_the_field(db, api):
    for body, field in [({"url": "https://93.184.216.34/h", "events": []}, "events"),
                        ({"url": "https://93.184.216.34/h", "events": ["nope"]}, "events"),
                        ({"events": ["invoice.paid"]}, "url"),
                        ({"url": "https://93.184.216.34/h", "events": ["invoice.paid"], "description": "x" * 201},
                         "description")]:
        answer = api.post("/webhooks", json=body)
        fields = answer.get_json()["error"]["fields"]
        assert answer.status_code == 422 and [f for f in fields if f.split("[")[0] == field], (body, fields)
    made = api.post("/webhooks", json={"url": "https://93.184.216.34/h", "events": ["invoice.paid"]}).get_json()
    answer = api.patch(f"/webhooks/{made['id']}", json={"url": "http://93.184.216.34/h"})
    assert answer.status_code == 422 and "url" in answer.get_json()["error"]["fields"]
    answer = api.get("/events?after=msg_doesnotexist")
    assert answer.status_code == 422 and "after" in answer.get_json()["error"]["fields"]


def test_another_agencys_ids_are_not_found(db, client, api, owner, receiver, run_jobs):
    agency, user = owner
    endpoint, _ = _endpoint(agency, user, receiver.url())
    event = _emit(db, agency, account_id=1)
    run_jobs()
    delivery = _deliveries(db, endpoint)[0]
    other, other_user = make_agency(email="other@agency.test")
    theirs = Api(client, api_tokens.create(other_user, "x", agency_actor(other_user))[1])
    assert theirs.get(f"/webhooks/{endpoint.id}").status_code == 404
    assert theirs.patch(f"/webhooks/{endpoint.id}", json={"enabled": False}).status_code == 404
    assert theirs.delete(f"/webhooks/{endpoint.id}").status_code == 404
    assert theirs.get(f"/webhooks/{endpoint.id}/deliveries").status_code == 404
    assert theirs.post(f"/webhooks/{endpoint.id}/test").status_code == 404
    assert theirs.get(f"/webhooks/deliveries/{delivery.id}").status_code == 404
    assert theirs.post(f"/webhooks/deliveries/{delivery.id}/resend").status_code == 404
    assert theirs.get(f"/events/{event.public_id}").status_code == 404
    assert theirs.get("/events").get_json()["data"] == []
    assert theirs.get(f"/events?after={event.public_id}").status_code == 422
    assert db.session.get(WebhookEndpoint, endpoint.id).enabled is True


def test_a_read_only_token_may_list_but_not_post(db, client, owner, receiver):
    agency, user = owner
    endpoint, _ = _endpoint(agency, user, receiver.url())
    reader = Api(client, api_tokens.create(user, "ro", agency_actor(user), scope="read")[1])
    assert reader.get("/webhooks").status_code == 200
    refused = reader.post("/webhooks", json={"url": receiver.url(), "events": ["invoice.paid"]})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"
    assert reader.post(f"/webhooks/{endpoint.id}/test").status_code == 403
    assert reader.delete(f"/webhooks/{endpoint.id}").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 1


def test_a_member_may_read_events_but_not_manage_endpoints(db, client, owner):
    agency, _user = owner
    member = make_member(agency, "member")
    # A token acts with its creator's role (an Owner made one for the member before the member's role changed).
    from webapp.services.audit import Actor
    theirs = Api(client, api_tokens.create(member, "m", Actor.system())[1])
    assert theirs.get("/events").status_code == 200
    assert theirs.get("/webhooks").status_code == 403
    assert theirs.post("/webhooks", json={"url": "https://93.184.216.34/h", "events": ["invoice.paid"]}
                       ).status_code == 403


def test_events_after_lets_a_receiver_catch_up_oldest_first(db, api, owner):
    agency, _user = owner
    with time_machine.travel(T0, tick=False) as clock:
        events = []
        for n in range(5):
            clock.move_to(T0 + timedelta(minutes=n))
            events.append(_emit(db, agency, "invoice.paid" if n % 2 else "account.provisioned", data={"n": n}))
        clock.move_to(T0 + timedelta(days=1))
        page = api.get(f"/events?after={events[0].public_id}&limit=2").get_json()
        assert [e["id"] for e in page["data"]] == [events[1].public_id, events[2].public_id] and page["has_more"]
        rest = api.get(f"/events?after={page['data'][-1]['id']}&limit=2").get_json()
        assert [e["id"] for e in rest["data"]] == [events[3].public_id, events[4].public_id]
        paid = api.get("/events?type=invoice.paid").get_json()["data"]
        assert [e["data"]["n"] for e in paid] == [1, 3]
        clock.move_to(T0 + timedelta(days=30, minutes=2, seconds=30))
        assert [e["data"]["n"] for e in api.get("/events").get_json()["data"]] == [3, 4]


def test_an_https_request_goes_to_the_checked_address_with_the_name_for_host_sni_and_certificate(monkeypatch):
    import httpx
    seen = {}
    monkeypatch.setattr(webhook_http, "resolve", lambda host, port, timeout: ["93.184.216.34"])

    def send(self, request, **kwargs):
        seen.update(url=str(request.url), host=request.headers["host"], sni=request.extensions.get("sni_hostname"),
                    agent=request.headers["user-agent"], redirects=self.follow_redirects)
        raise httpx.ConnectError("refused", request=request)
    monkeypatch.setattr(httpx.Client, "send", send)
    outcome = webhook_http.post("https://hooks.example.com/in?x=1", b"{}", {"webhook-id": "msg_1"}, timeout=1,
                                allow_http=False, allow_private=False)
    assert seen == {"url": "https://93.184.216.34/in?x=1", "host": "hooks.example.com",
                    "sni": "hooks.example.com", "agent": "AgencyHQ-Webhooks/1", "redirects": False}
    assert not outcome.ok and outcome.error == "Could not connect: refused."


def test_a_lost_job_is_handed_out_again_by_the_sweep_once(db, app, owner, receiver, run_jobs):
    agency, user = owner
    _endpoint(agency, user, receiver.url())
    event = _emit(db, agency, account_id=1)
    app.extensions["job_queue"].connection.flushdb()  # the queue lost it (Redis restarted)
    run_jobs()
    assert receiver.received == []
    assert webhooks.dispatch_due() == 1
    assert webhooks.dispatch_due() == 0  # just handed out: not again on the next pass
    run_jobs()
    assert [r["headers"]["webhook-id"] for r in receiver.received] == [event.public_id]


def test_an_ipv6_endpoint_is_called_with_a_bracketed_host(monkeypatch):
    import httpx
    seen = {}

    def send(self, request, **kwargs):
        seen.update(url=str(request.url), host=request.headers["host"])
        raise httpx.ConnectError("refused", request=request)
    monkeypatch.setattr(httpx.Client, "send", send)
    webhook_http.post("http://[::1]:8080/in", b"{}", {}, timeout=1, allow_http=True, allow_private=True)
    assert seen == {"url": "http://[::1]:8080/in", "host": "[::1]:8080"}


def test_deliveries_go_to_the_queue_at_the_outer_commit_not_at_a_savepoint(db, app, owner, receiver, run_jobs):
    agency, user = owner
    _endpoint(agency, user, receiver.url())
    queue = app.extensions["job_queue"].queue
    event = webhooks.emit(agency.id, "account.provisioned", {"id": 1}, account_id=1)
    with db.session.begin_nested():  # another service's savepoint, released
        db.session.add(AuditEvent(actor="system", actor_label="x", action="account_created", detail={}))
    try:
        with db.session.begin_nested():  # and one rolled back
            raise ValueError
    except ValueError:
        pass
    assert queue.count == 0  # nothing handed out before the change is committed
    db.session.commit()
    assert queue.count == 1
    run_jobs()
    assert [r["headers"]["webhook-id"] for r in receiver.received] == [event.public_id]


def test_one_endpoint_has_at_most_its_limit_of_sends_at_once(db, app, owner, receiver, monkeypatch):
    agency, user = owner
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_IN_FLIGHT", 2)
    slow, _ = _endpoint(agency, user, receiver.url("/slow"))
    other, _ = _endpoint(agency, user, receiver.url("/other"))
    for account_id in (1, 2, 3):
        _emit(db, agency, account_id=account_id)
    slow_ids = [d.id for d in _deliveries(db, slow)]
    # Two sends to the slow endpoint are under way (their workers wait for its answer).
    assert webhooks.claim(slow_ids[0]) and webhooks.claim(slow_ids[1])
    assert not webhooks.claim(slow_ids[2])  # a third waits its turn
    assert webhooks.claim(_deliveries(db, other)[0].id)  # another endpoint's goes on
    # A send whose worker is gone (stale) no longer counts.
    db.session.execute(sa.update(WebhookDelivery).where(WebhookDelivery.id == slow_ids[0])
                       .values(claimed_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    assert webhooks.claim(slow_ids[2])


def test_a_secret_that_cannot_be_decrypted_fails_the_try_with_the_reason(db, app, owner, receiver, run_jobs,
                                                                          monkeypatch):
    agency, user = owner
    endpoint, _ = _endpoint(agency, user, receiver.url())
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-secret-key")
    _emit(db, agency, account_id=1)
    run_jobs()
    [delivery] = _deliveries(db, endpoint)
    assert receiver.received == [] and delivery.status == "pending"
    assert delivery.last_error.startswith("Not sent: the signing secret cannot be decrypted")
