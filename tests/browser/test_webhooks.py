"""Browser: the Agency API page's webhooks (issue 24): a person adds an endpoint pointing at a real HTTP
receiver, copies the secret shown once, presses "Send test event" and sees the delivery in the log once the
worker has delivered it; the receiver checks the signature with the standardwebhooks library."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from ..helpers import browser_login, make_agency

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver():
    """An HTTP server on a free loopback port that keeps each request it gets and answers 200."""
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            answer = b'{"received": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hooks/agencyhq", requests=got)
    server.shutdown()
    server.server_close()


@pytest.fixture
def agency(app, monkeypatch):
    # The receiver is plain http on loopback: what local development and tests are allowed.
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", True)
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    with app.app_context():
        agency, _ = make_agency("Hook Agency", email="hooks@agency.test")
        return SimpleNamespace(id=agency.id)


def test_add_an_endpoint_see_the_secret_once_and_deliver_a_test_event(page, agency, receiver, worker):
    browser_login(page, "hooks@agency.test", lands=r"/$")
    page.get_by_role("link", name="Agency API").click()
    page.wait_for_url(re.compile(r"/settings/api$"))
    expect(page.locator("#no-webhooks")).to_be_visible()

    # A mistake first: no event chosen, said by the events.
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#events-error")).to_contain_text("Choose at least one event")
    expect(page.get_by_label("Endpoint URL")).to_have_value(receiver.url)

    page.get_by_label("Description (optional)").fill("Our CRM")
    page.get_by_label("An account is ready").check()
    page.get_by_label("An invoice was paid").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret_box = page.locator("#new-webhook-secret")
    expect(secret_box).to_be_visible()
    secret = secret_box.input_value()
    assert secret.startswith("whsec_")
    expect(page.locator("#new-webhook-box")).to_contain_text("webhook-signature")
    row = page.locator("#webhook-endpoints tr[data-endpoint]")
    expect(row).to_contain_text(receiver.url)
    expect(row.locator(".webhook-events")).to_have_text("An account is ready, An invoice was paid")
    expect(row.locator(".webhook-state")).to_contain_text("Enabled")
    expect(row.locator(".webhook-last-success")).to_have_text("Never")

    # Shown once: the page does not have it any more.
    page.goto("/settings/api")
    expect(page.locator("#new-webhook-secret")).to_have_count(0)
    assert secret not in page.content()

    row.get_by_role("link", name=receiver.url).click()
    expect(page.locator("#no-deliveries")).to_be_visible()
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status").filter(has_text="A test event is on its way")).to_be_visible()
    delivery = page.locator("#delivery-log tbody tr").first
    expect(delivery).to_contain_text("Test event")
    # The log refreshes itself until the worker has delivered it; no reload.
    expect(delivery.locator(".delivery-status-code")).to_have_text("HTTP 200")
    expect(delivery.locator(".delivery-status")).to_have_text("Delivered")
    expect(delivery.locator(".delivery-latency")).to_contain_text("ms")
    delivery.locator(".delivery-response summary").click()
    expect(delivery.locator(".delivery-response pre")).to_have_text('{"received": true}')
    event_id = delivery.locator(".delivery-event-id").inner_text()

    # What arrived is signed with the secret the page showed, per Standard Webhooks.
    [got] = receiver.requests
    assert got["path"] == "/hooks/agencyhq" and got["headers"]["webhook-id"] == event_id
    event = Webhook(secret).verify(got["body"], got["headers"])
    assert event["type"] == "webhook.test" and event["id"] == event_id
    assert json.loads(got["body"])["type"] == "webhook.test"

    # Resend: a new delivery of the same event, delivered as well.
    delivery.get_by_role("button", name="Resend").click()
    expect(page.get_by_role("status").filter(has_text="is sent again")).to_be_visible()
    expect(page.locator("#delivery-log tbody tr")).to_have_count(2)
    expect(page.locator("#delivery-log tbody tr").first.locator(".delivery-status-code")).to_have_text("HTTP 200")
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [event_id, event_id]

    page.goto("/settings/api")
    expect(page.locator("#webhook-endpoints .webhook-last-success")).not_to_have_text("Never")
