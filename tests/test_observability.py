"""Seeing the running system (issue 25): /metrics and who may read it, Sentry's events without anything
personal, JSON log lines, and the request id returned and carried into the jobs a request submits."""
from __future__ import annotations

import io
import json
import logging
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp import observability
from webapp.models import Operation
from webapp.services import metrics, operations, renewals

from .helpers import add_card, csrf_token, make_account, make_agency

OUTSIDER = "203.0.113.9"


def scrape(client, **kwargs) -> str:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels) -> float:
    """The sample `name{labels...}` (labels in any order, others allowed), 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, number = line.rpartition(" ")
        head, _, label_text = series.partition("{")
        if head != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
        if all(found.get(k) == str(v) for k, v in labels.items()):
            total += float(number)
    return total


def forgot(client, email: str, **headers):
    token = csrf_token(client.get("/forgot").get_data(as_text=True))
    return client.post("/forgot", data={"csrf_token": token, "email": email}, headers=headers)


# ---- /metrics -------------------------------------------------------------------------------------------------

def test_metrics_expose_requests_operations_queue_renewals_emails_webhooks_and_logins(app, client, db, run_jobs):
    before = scrape(client)
    agency, owner = make_agency(email="owner@metrics.test")
    # A request: its endpoint's name labels it, never its path.
    assert client.get("/login").status_code == 200
    assert client.get("/no/such/page/12345").status_code == 404
    # Five wrong passwords: five failures and one lockout.
    token = csrf_token(client.get("/login").get_data(as_text=True))
    for _ in range(5):
        client.post("/login", data={"csrf_token": token, "email": owner.email, "password": "wrong-password-here"})
    # A request that submits a job, and the job (a reset e-mail: its delivery goes to the local outbox).
    assert forgot(client, owner.email).status_code == 200
    waiting = scrape(client)
    assert value(waiting, "agencyhq_queue_depth", kind="send_dashboard_reset") >= 1
    assert value(waiting, "agencyhq_queue_oldest_waiting_seconds") >= 0
    assert "# TYPE agencyhq_queue_oldest_waiting_seconds gauge" in waiting
    run_jobs()
    # A renewal charged, and an operation that fails for good (no handler for its kind).
    add_card(agency)
    today = date.today()
    due = make_account(agency, plan_tier="plus", plan_term="monthly", contact_limit=1000,
                       period_start=today - timedelta(days=30), period_end=today, anchor_day=today.day)
    assert renewals.renew(due.id, today).status == "paid"
    broken = operations.submit("no_such_kind", key="metrics-test-broken")
    db.session.commit()
    assert operations.run(broken.id) == "failed"
    run_jobs()
    # Webhook deliveries are counted by services.webhooks through this function.
    metrics.webhook_delivery("succeeded", 0.02)

    after = scrape(client)
    grew = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    assert grew("agencyhq_http_requests_total", endpoint="auth.login", method="GET", status="200") >= 2
    assert grew("agencyhq_http_requests_total", endpoint="unmatched", status="404") >= 1
    assert "/no/such/page" not in after
    assert grew("agencyhq_http_request_duration_seconds_count", endpoint="auth.login", status="200") >= 2
    assert 'agencyhq_http_request_duration_seconds_bucket{endpoint="auth.login",le="0.005",status="200"}' in after \
        or re.search(r'agencyhq_http_request_duration_seconds_bucket\{[^}]*endpoint="auth.login"', after)
    assert grew("agencyhq_login_failures_total", site="dashboard", reason="wrong") == 5
    assert grew("agencyhq_lockouts_total", site="dashboard") == 1
    for kind in ("send_dashboard_reset", "deliver_email"):
        assert grew("agencyhq_operations_created_total", kind=kind) >= 1, kind
        assert grew("agencyhq_operations_started_total", kind=kind) >= 1, kind
        assert grew("agencyhq_operations_succeeded_total", kind=kind) >= 1, kind
        assert grew("agencyhq_operation_wait_seconds_count", kind=kind) >= 1, kind
        assert grew("agencyhq_operation_run_seconds_count", kind=kind, outcome="succeeded") >= 1, kind
    assert grew("agencyhq_operations_failed_total", kind="no_such_kind") == 1
    assert grew("agencyhq_emails_total", outcome="local") >= 1
    assert grew("agencyhq_renewals_total", outcome="charged") == 1
    assert grew("agencyhq_webhook_deliveries_total", outcome="succeeded") == 1
    assert grew("agencyhq_webhook_delivery_duration_seconds_count", outcome="succeeded") == 1
    # Read from the rows at the scrape: the jobs ran, nothing waits; the failed one is counted.
    assert value(after, "agencyhq_queue_depth") == 0
    assert value(after, "agencyhq_queue_oldest_waiting_seconds") == 0
    assert value(after, "agencyhq_operations_failed_now") == 1


def test_metrics_refuse_an_address_not_allowed_and_take_the_bearer_token(app, client, monkeypatch):
    outside = {"environ_base": {"REMOTE_ADDR": OUTSIDER}}
    refused = client.get("/metrics", **outside)
    assert refused.status_code == 404 and b"agencyhq_" not in refused.data
    # Through a proxy the app does not see through (TRUSTED_PROXIES=0), 127.0.0.1 is the proxy's address.
    assert client.get("/metrics", headers={"X-Forwarded-For": OUTSIDER}).status_code == 404
    assert client.post("/metrics").status_code == 404
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "a-long-random-scrape-token")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}, **outside).status_code == 404
    assert "agencyhq_queue_depth" in scrape(client, headers={"Authorization": "Bearer a-long-random-scrape-token"},
                                            **outside)
    # The allowed addresses: networks and single addresses, IPv4 and IPv6; a bad entry stops the start.
    networks = observability.parse_allow("10.0.0.0/8, 192.168.1.7,::1")
    assert observability._address_allowed("10.20.30.40", networks)
    assert observability._address_allowed("::ffff:192.168.1.7", networks)
    assert observability._address_allowed("::1", networks)
    assert not observability._address_allowed("192.168.1.8", networks)
    assert not observability._address_allowed("not-an-address", networks)
    with pytest.raises(ValueError, match="METRICS_ALLOW"):
        observability.parse_allow("10.0.0.0/8,localhost")


# ---- Sentry ---------------------------------------------------------------------------------------------------

@pytest.fixture
def sentry_events(app, monkeypatch):
    import sentry_sdk
    from sentry_sdk.transport import Transport
    envelopes = []

    class Capture(Transport):
        def capture_envelope(self, envelope):
            envelopes.append(envelope)

    monkeypatch.setitem(app.config, "SENTRY_DSN", "https://public@sentry.invalid/1")
    assert observability.init_sentry(app.config, transport=Capture)

    def events():
        sentry_sdk.flush()
        return [item.payload.json for envelope in envelopes for item in envelope.items if item.type == "event"]

    yield events
    sentry_sdk.init()  # no DSN: off again
    observability._sentry_on = False


def test_sentry_events_carry_nothing_personal(app, client, db, monkeypatch, sentry_events):
    from webapp.services import auth
    secret_password = "Tr0ub4dor&3-very-secret"
    address = "jane.doe@private-client.test"

    def exploding_sign_in(email, password, *, ip=None, user_agent=""):
        card_number = "4242 4242 4242 4242"  # noqa: F841  (a local of the failing frame)
        attempts = 3  # noqa: F841
        raise RuntimeError(f"sign-in blew up for {email} with card 4242424242424242")

    monkeypatch.setattr(auth, "sign_in", exploding_sign_in)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # answered with the 500 page, as in production
    token = csrf_token(client.get("/login").get_data(as_text=True))
    client.set_cookie("tracking", "cookie-value-to-hide", domain="localhost")
    response = client.post("/login?token=query-secret-123&next=/", data={"csrf_token": token, "email": address,
                                                                      "password": secret_password},
                           headers={"Authorization": "Bearer api-token-should-not-leak",
                                    "X-Request-ID": "ignored-untrusted"})
    assert response.status_code == 500
    events = sentry_events()
    assert events, "the error reached Sentry"
    event = events[-1]
    # The source lines around each frame are the code's (this test's own, here), not data: left out of the search.
    text = json.dumps(event)
    for value_ in event["exception"]["values"]:
        for frame in value_["stacktrace"]["frames"]:
            for part in ("pre_context", "context_line", "post_context"):
                frame.pop(part, None)
    searched = json.dumps(event)
    assert "RuntimeError" in text and "sign-in blew up" in text  # the error itself is there
    for personal in (secret_password, address, "jane.doe", "api-token-should-not-leak", "cookie-value-to-hide",
                     "query-secret-123", "4242424242424242", "4242 4242 4242 4242", token):
        assert personal not in searched, searched[max(0, searched.find(personal) - 300):searched.find(personal) + 50]
    assert event.get("user", {}).get("email") is None
    headers = {k.lower() for k in (event.get("request", {}).get("headers") or {})}
    assert "authorization" not in headers and "cookie" not in headers
    # What helps (numbers in the frame, the endpoint, the request id) stays.
    frames = [f for v in event["exception"]["values"] for f in v["stacktrace"]["frames"]]
    failing = [f for f in frames if f.get("function") == "exploding_sign_in"][-1]
    assert failing["vars"]["attempts"] == "3" and failing["vars"]["card_number"] == "[Filtered]"
    assert event["tags"]["request_id"] == response.headers["X-Request-ID"]
    assert event.get("transaction") == "auth.login"


def test_scrub_takes_personal_data_out_of_any_part_of_an_event():
    event = {
        "request": {"url": "http://localhost/reset-password/AbCdEf0123456789AbCdEf0123?x=1",
                    "query_string": "token=abc", "cookies": {"session": "s"},
                    "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Cookie": "a=b", "User-Agent": "x"},
                    "data": {"password": "p4ss", "new_password": "n3w", "email": "a@b.test", "card_number": "4111"}},
        "extra": {"api_key": "k", "note": "reach me at someone@example.com"},
        "breadcrumbs": {"values": [{"message": "GET /x?token=secret-abc", "data": {"url": "/x?code=9"}}]},
        "user": {"id": 7, "email": "a@b.test", "ip_address": "1.2.3.4"},
        "event_id": "1234567890123456789012345678abcd",
    }
    clean = json.dumps(observability.scrub(event))
    for personal in ("p4ss", "n3w", "a@b.test", "4111", "dXNlcjpwYXNz", "someone@example.com", "secret-abc",
                     "AbCdEf0123456789AbCdEf0123", "1.2.3.4", '"k"'):
        assert personal not in clean, personal
    assert "1234567890123456789012345678abcd" in clean and '"id": 7' in clean


# ---- logs and the request id ----------------------------------------------------------------------------------

@pytest.fixture
def json_log():
    """The app's logging as a production process sets it (LOG_FORMAT=json), into a buffer; pytest's own
    handlers are put back afterwards."""
    root, app_logger = logging.getLogger(), logging.getLogger("agencyhq")
    saved = (list(root.handlers), root.level, list(app_logger.handlers), app_logger.level, app_logger.propagate)
    stream = io.StringIO()
    observability.configure_logging("INFO", "json", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    app_logger.handlers[:] = saved[2]
    app_logger.setLevel(saved[3])
    app_logger.propagate = saved[4]


def test_json_logs_one_object_a_line_with_request_and_operation_ids(app, client, db, run_jobs, monkeypatch, json_log):
    monkeypatch.setitem(app.config, "TRUST_REQUEST_ID", True)
    _, owner = make_agency(email="json@logs.test")
    assert forgot(client, owner.email, **{"X-Request-ID": "req-json-42"}).status_code == 200
    run_jobs()
    logging.getLogger("rq.worker.test").warning("a line of another library's logger")
    lines = [line for line in json_log.getvalue().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses on its own
    assert all({"time", "level", "logger", "message", "pid"} <= set(r) for r in records)
    requests = [r for r in records if r["logger"] == "agencyhq.requests" and "path=/forgot" in r["message"]]
    assert requests and requests[-1]["request_id"] == "req-json-42" and requests[-1]["operation_id"] is None
    ran = [r for r in records if r["logger"] == "agencyhq.operations" and "send_dashboard_reset" in r["message"]]
    assert ran and ran[-1]["request_id"] == "req-json-42" and isinstance(ran[-1]["operation_id"], int)
    # Every module's logger reaches the one handler, not only "agencyhq"'s.
    assert any(r["logger"] == "rq.worker.test" for r in records)


def test_the_request_id_is_returned_and_carried_into_the_jobs_it_submits(app, client, db, run_jobs, monkeypatch,
                                                                         caplog):
    made = client.get("/login").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/login").headers["X-Request-ID"] != made
    # Untrusted (no proxy in front): a sent id is not taken.
    sent = client.get("/login", headers={"X-Request-ID": "from-the-client"})
    assert sent.headers["X-Request-ID"] != "from-the-client"
    monkeypatch.setitem(app.config, "TRUST_REQUEST_ID", True)
    proxied = client.get("/login", headers={"X-Request-ID": "from-the-proxy-1"})
    assert proxied.headers["X-Request-ID"] == "from-the-proxy-1"
    assert client.get("/login", headers={"X-Request-ID": "bad id; with spaces"}).headers["X-Request-ID"] != \
        "bad id; with spaces"
    assert client.get("/no/such/page").headers["X-Request-ID"]  # error answers too
    _, owner = make_agency(email="carried@ids.test")
    assert forgot(client, owner.email, **{"X-Request-ID": "req-carried-7"}).status_code == 200
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "send_dashboard_reset")
                           .order_by(Operation.id.desc()))
    assert op.params["_request_id"] == "req-carried-7"
    with caplog.at_level(logging.INFO, logger="agencyhq"):
        run_jobs()
    lines = [r for r in caplog.records
             if r.name == "agencyhq.operations" and r.getMessage().startswith(f"operation {op.id} ")]
    assert lines and all(r.request_id == "req-carried-7" and r.operation_id == op.id for r in lines)
    # The e-mail the job wrote has its own operation, submitted inside the job: it carries the same request id.
    delivery = db.session.scalar(sa.select(Operation).where(Operation.kind == "deliver_email")
                                 .order_by(Operation.id.desc()))
    assert delivery.params.get("_request_id") == "req-carried-7"


def test_text_log_lines_carry_the_ids_after_the_message(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability.KeyValueFormatter())
    logger = logging.getLogger("agencyhq.test_observability")
    logger.addHandler(handler)
    try:
        from webapp.services import logcontext
        with logcontext.operation(41, "req-text"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = stream.getvalue().splitlines()
    assert inside.endswith("inside request_id=req-text operation_id=41") and "pid=" in inside
    assert outside.endswith("outside")


def test_the_grafana_dashboard_uses_only_series_the_app_exposes():
    from pathlib import Path
    dashboard = json.loads((Path(__file__).resolve().parent.parent / "ops" / "grafana" / "agencyhq.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {re.sub(r"_(bucket|count|sum)$", "", name) for e in exprs for name in re.findall(r"agencyhq_\w+", e)}
    source = (Path(metrics.__file__)).read_text()
    defined = {name + ("_total" if kind == "Counter" else "")
               for kind, name in re.findall(r'(Counter|Histogram)\("(agencyhq_\w+)"', source)}
    defined |= set(re.findall(r'GaugeMetricFamily\(\s*"(agencyhq_\w+)"', source))
    assert used and used <= defined, used - defined
    assert {"agencyhq_queue_depth", "agencyhq_http_request_duration_seconds", "agencyhq_login_failures_total"} <= used
