"""The Agency API page (S2): tokens made, shown once, revoked; the documentation; the CLI command."""
from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa

from webapp.models import ApiToken, AuditEvent

from .helpers import audited, csrf_token, login, make_agency


def _create(client, name="CRM sync"):
    page = client.get("/settings/api").get_data(as_text=True)
    return client.post("/settings/api", data={"csrf_token": csrf_token(page), "name": name})


def _raw_token(html: str) -> str:
    return re.search(r'id="new-token" type="text" readonly value="([^"]+)"', html).group(1)


def test_the_side_menu_links_to_the_page(db, client):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/settings/api"' in html


def test_a_token_is_shown_once_and_stored_hashed(db, client):
    agency, _user = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    response = _create(client)
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    raw = _raw_token(response.get_data(as_text=True))
    row = db.session.scalar(sa.select(ApiToken))
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest() and row.agency_id == agency.id
    page = client.get("/settings/api").get_data(as_text=True)
    assert raw not in page and f"{row.prefix}…" in page and "CRM sync" in page and "Never" in page
    assert client.get("/api/v1/plans", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert audited(db) == ["api_token_created"]


def test_a_token_needs_a_name(db, client):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    response = _create(client, "   ")
    assert response.status_code == 422 and 'id="new-token"' not in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_revoke_is_audited_and_the_token_stops_working(db, client):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    raw = _raw_token(_create(client).get_data(as_text=True))
    token = db.session.scalar(sa.select(ApiToken))
    page = client.get("/settings/api").get_data(as_text=True)
    response = client.post(f"/settings/api/{token.id}/revoke", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert "is revoked" in client.get("/settings/api").get_data(as_text=True)
    assert client.get("/api/v1/plans", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "api_token_revoked"))
    assert event.detail["prefix"] == token.prefix and event.actor.startswith("user:")
    # Revoking again says so instead of failing.
    again = client.post(f"/settings/api/{token.id}/revoke", data={"csrf_token": csrf_token(page)},
                        follow_redirects=True)
    assert "already revoked" in again.get_data(as_text=True)


def test_another_agencys_token_cannot_be_revoked(db, client):
    _agency, rival = make_agency(email="rival@agency.test")
    from webapp.services import api_tokens
    from webapp.services.audit import Actor
    token, raw = api_tokens.create(rival, "theirs", Actor.system())
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    page = client.get("/settings/api").get_data(as_text=True)
    assert "theirs" not in page
    assert client.post(f"/settings/api/{token.id}/revoke", data={"csrf_token": csrf_token(page)}).status_code == 404
    assert client.get("/api/v1/plans", headers={"Authorization": f"Bearer {raw}"}).status_code == 200


def test_the_page_needs_an_agency_user_and_csrf(db, client):
    assert client.get("/settings/api").status_code == 302
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    assert client.post("/settings/api", data={"name": "no csrf"}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_the_documentation_page_shows_every_operation(app, db, client):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    html = client.get("/settings/api/docs").get_data(as_text=True)
    doc = app.extensions["openapi"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert f'id="{op["operationId"]}"' in html
            assert f"/api/v1{path}" in html
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert "<script" not in html.split("</main>")[0].split('<main')[1]  # nothing but HTML
    assert 'href="/api/v1/openapi.json"' in html


def test_cli_prints_a_token_that_works(app, db, client, runner):
    make_agency(email="owner@agency.test")
    result = runner.invoke(args=["create-api-token", "Owner@Agency.test", "--name", "Nightly sync"])
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip().splitlines()[0]
    assert raw.startswith("ahq_")
    assert db.session.scalar(sa.select(ApiToken.name)) == "Nightly sync"
    assert client.get("/api/v1/plans", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    missing = runner.invoke(args=["create-api-token", "nobody@agency.test"])
    assert missing.exit_code != 0 and "no agency user" in missing.output


# ---- issue 24: scopes and expiry ----------------------------------------------------------------------------

def _create_with(client, **fields):
    page = client.get("/settings/api").get_data(as_text=True)
    return client.post("/settings/api", data={"csrf_token": csrf_token(page), "name": "Reporting", **fields})


def test_a_read_only_token_reads_and_is_refused_any_change_in_the_error_format(db, client):
    from webapp.models import HostedAccount
    from .helpers import make_account
    agency, _user = make_agency(email="owner@agency.test")
    account = make_account(agency, "shop")
    login(client, "owner@agency.test")
    response = _create_with(client, scope="read")
    assert response.status_code == 201
    raw = _raw_token(response.get_data(as_text=True))
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"/api/v1/accounts/{account.id}", headers=headers).status_code == 200
    refused = client.post(f"/api/v1/accounts/{account.id}/cancel", headers=headers, json={})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "insufficient_scope"
    assert "read only" in refused.get_json()["error"]["message"]
    assert db.session.get(HostedAccount, account.id).cancelled_at is None
    page = client.get("/settings/api").get_data(as_text=True)
    assert "Read only" in page and "by owner@agency.test" in page


def test_a_token_stops_working_after_its_expiry_day(db, client, time_machine):
    from datetime import date, datetime, timedelta, timezone
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    last = date.today() + timedelta(days=3)
    raw = _raw_token(_create_with(client, expires_on=last.isoformat()).get_data(as_text=True))
    headers = {"Authorization": f"Bearer {raw}"}
    assert f"after {last.strftime('%b')}" in client.get("/settings/api").get_data(as_text=True)
    time_machine.move_to(datetime.combine(last, datetime.min.time(), timezone.utc) + timedelta(hours=23), tick=False)
    assert client.get("/api/v1/plans", headers=headers).status_code == 200  # all of its last day
    time_machine.move_to(datetime.combine(last + timedelta(days=1), datetime.min.time(), timezone.utc), tick=False)
    expired = client.get("/api/v1/plans", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.get_json()["error"]["message"]


def test_bad_scope_and_expiry_are_said_by_their_fields_all_at_once(db, client):
    from datetime import date, timedelta
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    past = (date.today() - timedelta(days=1)).isoformat()
    response = _create_with(client, name="", scope="admin", expires_on=past)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give the token a name." in html and "Choose a day from today on" in html
    too_far = _create_with(client, expires_on=(date.today() + timedelta(days=4 * 366)).isoformat())
    assert too_far.status_code == 422 and "within three years" in too_far.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_cli_makes_a_read_only_token_with_an_expiry(app, db, runner):
    from datetime import date, timedelta
    make_agency(email="owner@agency.test")
    last = date.today() + timedelta(days=30)
    result = runner.invoke(args=["create-api-token", "owner@agency.test", "--scope", "read",
                                 "--expires-on", last.isoformat()])
    assert result.exit_code == 0, result.output
    token = db.session.scalar(sa.select(ApiToken))
    assert token.scope == "read" and token.expires_at.date() == last + timedelta(days=1)
