"""The Agency API page's webhooks (issue 24): endpoints added (the secret shown once), edited, enabled and
disabled, deleted; the delivery log per endpoint with Send test event, Resend and its older pages."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from markupsafe import escape

from webapp.models import WebhookDelivery, WebhookEndpoint
from webapp.services import webhooks
from webapp.services.scope import AgencyScope

from .helpers import agency_actor, csrf_token, login, make_agency, make_member

URL = "https://hooks.example.test/agencyhq"


@pytest.fixture
def owner(db, app, monkeypatch):
    # The receiver's name resolves nowhere here: its address is checked when a delivery is sent, not tested here.
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", True)
    agency, user = make_agency(email="owner@agency.test")
    return user


def _token(client, path="/settings/api") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def _add(client, url=URL, events=("account.provisioned", "invoice.paid"), description="CRM"):
    return client.post("/settings/api/webhooks", data={"csrf_token": _token(client), "url": url,
                                                       "description": description, "events": list(events)})


def _secret(html: str) -> str:
    return re.search(r'id="new-webhook-secret" type="text" readonly value="([^"]+)"', html).group(1)


def _endpoint(db) -> WebhookEndpoint:
    db.session.expire_all()
    return db.session.scalar(sa.select(WebhookEndpoint))


def _deliveries(db, endpoint_id) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                                   .order_by(WebhookDelivery.id)))


def test_the_secret_is_shown_once_and_the_endpoint_is_listed(db, client, owner):
    login(client, owner.email)
    response = _add(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    secret = _secret(html)
    assert secret.startswith("whsec_")
    # How to check a signature is beside it (Standard Webhooks' three headers).
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert header in html
    endpoint = _endpoint(db)
    assert endpoint.url == URL and endpoint.events == ["account.provisioned", "invoice.paid"]
    assert endpoint.description == "CRM" and endpoint.enabled
    page = client.get("/settings/api").get_data(as_text=True)
    assert secret not in page and 'id="new-webhook-secret"' not in page
    row = re.search(rf'<tr data-endpoint="{endpoint.id}">.*?</tr>', page, re.S).group(0)
    assert URL in row and str(escape(str(webhooks.EVENT_LABELS["invoice.paid"]))) in row and "Enabled" in row
    assert "Never" in row  # no success yet
    assert secret not in client.get(f"/settings/api/webhooks/{endpoint.id}").get_data(as_text=True)


def test_a_bad_url_is_said_by_the_field_and_nothing_is_added(db, client, owner, app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_HTTP", False)
    login(client, owner.email)
    response = _add(client, url="http://hooks.example.test/plain")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="new-webhook-secret"' not in html
    error = re.search(r'<div class="invalid-feedback" id="url-error">([^<]+)</div>', html)
    assert error and "https" in error.group(1)
    assert 'aria-describedby="url-error' in html and 'value="http://hooks.example.test/plain"' in html
    too_long = _add(client, url="https://hooks.example.test/" + "a" * 2000)
    assert too_long.status_code == 422 and 'id="url-error"' in too_long.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0


def test_events_are_required_and_the_choices_are_kept(db, client, owner):
    login(client, owner.email)
    response = _add(client, events=())
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="events-error"' in html
    assert "Choose at least one event" in html
    unknown = _add(client, events=("account.exploded",))
    assert unknown.status_code == 422 and 'id="events-error"' in unknown.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0
    # The checkboxes are the service's events, each with its label.
    page = client.get("/settings/api").get_data(as_text=True)
    for kind, label in webhooks.EVENT_LABELS.items():
        assert f'value="{kind}"' in page and str(escape(str(label))) in page


def test_edit_disable_and_enable_an_endpoint(db, client, owner):
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    path = f"/settings/api/webhooks/{endpoint.id}"
    saved = client.post(path, data={"csrf_token": _token(client, path), "url": "https://crm.example.test/new",
                                    "description": "", "events": ["invoice.refunded"]})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(path)
    endpoint = _endpoint(db)
    assert endpoint.url == "https://crm.example.test/new" and endpoint.events == ["invoice.refunded"]
    assert "The endpoint is saved." in client.get(path).get_data(as_text=True)

    refused = client.post(path, data={"csrf_token": _token(client, path), "url": "ftp://crm.example.test/",
                                      "events": ["invoice.refunded"]})
    refused_html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="url-error"' in refused_html
    assert refused_html.index('id="edit-webhook"') < refused_html.index('id="delivery-log-section"')  # in view
    assert _endpoint(db).url == "https://crm.example.test/new"

    off = client.post(path, data={"csrf_token": _token(client, path), "enabled": "no"})
    assert off.status_code == 303
    endpoint = _endpoint(db)
    assert not endpoint.enabled and endpoint.disabled_reason == "agency"
    html = client.get(path).get_data(as_text=True)
    assert "The endpoint is disabled" in html and ">Enable<" in html
    on = client.post(path, data={"csrf_token": _token(client, path), "enabled": "yes"})
    assert on.status_code == 303 and _endpoint(db).enabled
    assert client.post(path, data={"csrf_token": _token(client, path), "enabled": "maybe"}).status_code == 422


def test_an_endpoint_disabled_for_failing_says_so_with_its_date(db, client, owner):
    from datetime import datetime, timedelta, timezone
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    endpoint.enabled, endpoint.disabled_reason = False, "failing"
    endpoint.failing_since = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc) - timedelta(days=3)
    db.session.commit()
    row = re.search(rf'<tr data-endpoint="{endpoint.id}">.*?</tr>',
                    client.get("/settings/api").get_data(as_text=True), re.S).group(0)
    assert "Disabled for failing" in row and "Feb 27, 2026" in row
    assert 'id="disabled-for-failing"' in client.get(f"/settings/api/webhooks/{endpoint.id}").get_data(as_text=True)


def test_delete_an_endpoint(db, client, owner):
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    path = f"/settings/api/webhooks/{endpoint.id}"
    assert "data-confirm=" in client.get(path).get_data(as_text=True)  # it asks first
    response = client.post(f"{path}/delete", data={"csrf_token": _token(client, path)})
    assert response.status_code == 303 and "/settings/api" in response.headers["Location"]
    assert _endpoint(db) is None
    page = client.get("/settings/api").get_data(as_text=True)
    assert "is deleted" in page and 'id="no-webhooks"' in page
    assert client.get(path).status_code == 404


def test_send_test_event_and_resend_make_deliveries(db, client, owner):
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    path = f"/settings/api/webhooks/{endpoint.id}"
    sent = client.post(f"{path}/test", data={"csrf_token": _token(client, path)})
    assert sent.status_code == 303 and sent.headers["Location"].endswith(path)
    [test] = _deliveries(db, endpoint.id)
    assert test.event.type == webhooks.TEST_EVENT and test.status == "pending"
    html = client.get(path).get_data(as_text=True)
    assert "A test event is on its way" in html and test.event.public_id in html and "Test event" in html

    resent = client.post(f"{path}/deliveries/{test.id}/resend", data={"csrf_token": _token(client, path)})
    assert resent.status_code == 303
    first, again = _deliveries(db, endpoint.id)
    assert again.event_id == first.event_id and again.id != first.id and again.status == "pending"
    assert "is sent again" in client.get(path).get_data(as_text=True)


def test_the_log_shows_each_delivery_escaped_and_pages_older_ones(db, client, owner, app):
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    scope, actor = AgencyScope(owner.agency_id), agency_actor(owner)
    made = [webhooks.send_test(scope, endpoint.id, actor=actor).id for _ in range(27)]
    newest = db.session.get(WebhookDelivery, made[-1])
    newest.status, newest.attempts, newest.last_status_code, newest.last_latency_ms = "failed", 3, 500, 1234
    newest.response_excerpt = "<script>alert('x')</script>"
    newest.last_error = "The receiver answered 500."
    db.session.commit()
    path = f"/settings/api/webhooks/{endpoint.id}"
    html = client.get(path).get_data(as_text=True)
    row = re.search(rf'<tr data-delivery="{newest.id}".*?</tr>', html, re.S).group(0)
    assert "HTTP 500" in row and "1,234 ms" in row and "3 attempts" in row and "Failed" in row
    assert "The receiver answered 500." in row and newest.event.public_id in row
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in row
    assert html.index(f'data-delivery="{made[-1]}"') < html.index(f'data-delivery="{made[-2]}"')  # newest first
    assert f'data-delivery="{made[1]}"' not in html  # 25 a page
    older = re.search(r'href="([^"]*before=\d+)"', html).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert f'data-delivery="{made[0]}"' in second and f'data-delivery="{made[1]}"' in second
    assert f'data-delivery="{made[-1]}"' not in second and ">Older<" not in second and ">Newest<" in second


def test_htmx_gets_the_log_alone_and_a_plain_request_the_page(db, client, owner):
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    path = f"/settings/api/webhooks/{endpoint.id}"
    full = client.get(path)
    assert full.status_code == 200 and "HX-Request" in full.headers["Vary"]
    assert "<html" in full.get_data(as_text=True) and 'id="deliveries"' in full.get_data(as_text=True)
    fragment = client.get(path, headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in body and body.lstrip().startswith('<div id="deliveries"')
    # A history restore is a whole page.
    restore = client.get(path, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)

    # Send test event from htmx: the log comes back with the new delivery, and keeps refreshing while it waits.
    sent = client.post(f"{path}/test", data={"csrf_token": _token(client, path)}, headers={"HX-Request": "true"})
    body = sent.get_data(as_text=True)
    assert sent.status_code == 200 and "<html" not in body and "A test event is on its way" in body
    assert 'hx-trigger="every 2s"' in body and 'data-status="pending"' in body
    [delivery] = _deliveries(db, endpoint.id)
    delivery.status, delivery.last_status_code = "succeeded", 204
    db.session.commit()
    settled = client.get(path, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in settled.split(">", 1)[0] and "HTTP 204" in settled  # stops polling when done
    resent = client.post(f"{path}/deliveries/{delivery.id}/resend", data={"csrf_token": _token(client, path)},
                         headers={"HX-Request": "true"})
    assert resent.status_code == 200 and "is sent again" in resent.get_data(as_text=True)
    assert len(_deliveries(db, endpoint.id)) == 2


def test_another_agencys_endpoint_and_delivery_answer_404(db, client, owner):
    rival_agency, rival = make_agency("Rival", email="rival@agency.test")
    scope, actor = AgencyScope(rival_agency.id), agency_actor(rival)
    theirs, _secret_ = webhooks.create_endpoint(scope, url=URL, events=["invoice.paid"], description="",
                                                actor=actor)
    delivery = webhooks.send_test(scope, theirs.id, actor=actor)
    login(client, owner.email)
    _add(client)
    mine = _endpoint_of(db, owner.agency_id)
    token = _token(client)
    page = client.get("/settings/api").get_data(as_text=True)
    assert f'data-endpoint="{theirs.id}"' not in page
    base = f"/settings/api/webhooks/{theirs.id}"
    assert client.get(base).status_code == 404
    assert client.post(base, data={"csrf_token": token, "enabled": "no"}).status_code == 404
    assert client.post(base, data={"csrf_token": token, "url": URL, "events": ["invoice.paid"]}).status_code == 404
    assert client.post(f"{base}/test", data={"csrf_token": token}).status_code == 404
    assert client.post(f"{base}/delete", data={"csrf_token": token}).status_code == 404
    assert client.post(f"{base}/deliveries/{delivery.id}/resend", data={"csrf_token": token}).status_code == 404
    # Their delivery under my endpoint's address is not found either.
    assert client.post(f"/settings/api/webhooks/{mine.id}/deliveries/{delivery.id}/resend",
                       data={"csrf_token": token}).status_code == 404
    assert client.get("/settings/api/webhooks/not-a-number").status_code == 404
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, theirs.id).enabled
    assert len(_deliveries(db, theirs.id)) == 1


def _endpoint_of(db, agency_id) -> WebhookEndpoint:
    db.session.expire_all()
    return db.session.scalar(sa.select(WebhookEndpoint).where(WebhookEndpoint.agency_id == agency_id))


@pytest.mark.parametrize("role", ["member", "billing"])
def test_members_and_billing_get_403(db, client, owner, role):
    scope, actor = AgencyScope(owner.agency_id), agency_actor(owner)
    endpoint, _secret_ = webhooks.create_endpoint(scope, url=URL, events=["invoice.paid"], description="",
                                                  actor=actor)
    user = make_member(owner.agency, role, email=f"{role}@agency.test")
    login(client, user.email)
    token = _token(client, "/my-account")
    assert client.get(f"/settings/api/webhooks/{endpoint.id}").status_code == 403
    assert client.post("/settings/api/webhooks", data={"csrf_token": token, "url": URL,
                                                       "events": ["invoice.paid"]}).status_code == 403
    assert client.post(f"/settings/api/webhooks/{endpoint.id}/test", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/settings/api/webhooks/{endpoint.id}/delete", data={"csrf_token": token}).status_code == 403
    assert _endpoint(db) is not None and _deliveries(db, endpoint.id) == []


def test_a_disabled_endpoint_gets_no_test_event_and_says_why(db, client, owner):
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    path = f"/settings/api/webhooks/{endpoint.id}"
    client.post(path, data={"csrf_token": _token(client, path), "enabled": "no"})
    html = client.get(path).get_data(as_text=True)
    assert re.search(r'<button class="btn btn-outline-primary" type="submit" disabled>Send test event', html)
    refused = client.post(f"{path}/test", data={"csrf_token": _token(client, path)}, follow_redirects=True)
    assert "This endpoint is disabled" in refused.get_data(as_text=True)
    in_htmx = client.post(f"{path}/test", data={"csrf_token": _token(client, path)}, headers={"HX-Request": "true"})
    assert in_htmx.status_code == 200 and 'class="alert alert-danger"' in in_htmx.get_data(as_text=True)
    assert _deliveries(db, endpoint.id) == []


def test_adding_or_changing_an_endpoint_asks_for_the_password_after_ten_minutes(db, client, owner):
    from datetime import timedelta

    from webapp.models import LoginSession, utcnow
    login(client, owner.email)
    _add(client)
    endpoint = _endpoint(db)
    path = f"/settings/api/webhooks/{endpoint.id}"
    token = _token(client, path)
    db.session.execute(sa.update(LoginSession).values(authenticated_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    added = client.post("/settings/api/webhooks", data={"csrf_token": token, "url": URL, "events": ["invoice.paid"]})
    assert added.status_code == 303 and "/reauth" in added.headers["Location"]
    moved = client.post(path, data={"csrf_token": token, "url": "https://elsewhere.example.test/",
                                    "events": ["invoice.paid"]})
    assert moved.status_code == 303 and "/reauth" in moved.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 1 and _endpoint(db).url == URL


def test_a_bad_url_and_no_event_are_both_told_at_once(client, db):
    """The form leaves the rules to the service, which names every field's problem in one answer."""
    from .helpers import csrf_token, login, make_agency
    _agency, owner = make_agency(email="both@agency.test")
    login(client, owner.email)
    page = client.get("/settings/api").get_data(as_text=True)
    answer = client.post("/settings/api/webhooks", data={"csrf_token": csrf_token(page), "url": "http://example.com/h"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "Choose at least one event." in html and "https" in html.split("Endpoint URL", 1)[1].split("Events", 1)[0]
