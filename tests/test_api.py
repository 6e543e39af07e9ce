"""The Agency API (X1): every endpoint with its error paths, tenant isolation, tokens, idempotency,
the rate limit and bad input. Requests go through the test client with a bearer token."""
from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import (AccountUser, ApiIdempotencyRecord, ApiToken, AuditEvent, HostedAccount, Invoice,
                           LoginAsToken, Operation, OutboundEmail, SupportRequest, utcnow)
from webapp.services import api_tokens, billing
from webapp.services.audit import Actor

from .helpers import add_card, login, make_account, make_agency

ACTOR = Actor("user:0", "tests")
YEAR = date.today().year + 1


def new_token(user, name="tests"):
    return api_tokens.create(user, name, ACTOR)[1]



class Api:
    """The test client with a bearer token, speaking JSON."""

    def __init__(self, client, token):
        self.client, self.token = client, token

    def _headers(self, headers):
        out = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        out.update(headers or {})
        return out

    def get(self, path, headers=None, **kwargs):
        return self.client.get(f"/api/v1{path}", headers=self._headers(headers), **kwargs)

    def post(self, path, json=None, headers=None, **kwargs):
        if json is not None:
            kwargs["json"] = json
        return self.client.post(f"/api/v1{path}", headers=self._headers(headers), **kwargs)

    def confirmed(self, path, json, headers=None):
        """A charging call as the API asks for it: its preview first, then the call with the preview's token."""
        preview = path.replace("/renew", "/plan") + "/preview" if not path.endswith("/purchases") \
            else path.replace("/purchases", "/preview")
        quote = self.post(preview, json=json)
        assert quote.status_code == 200, quote.get_data(as_text=True)
        return self.post(path, json={**json, "quote": quote.get_json()["token"]}, headers=headers)


@pytest.fixture
def agency(db):
    return make_agency(email="owner@agency.test")


@pytest.fixture
def api(client, agency):
    return Api(client, new_token(agency[1]))


@pytest.fixture
def other(db, client):
    """A second agency with an account, an invoice and an operation of its own."""
    agency, user = make_agency(name="Rival", email="rival@agency.test")
    add_card(agency)
    account = make_account(agency, "rival-shop")
    invoice = billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    op = Operation(kind="provision_account", idempotency_key="rival-op", agency_id=agency.id,
                   subject_type="account", subject_id=account.id, total=6)
    db.session.add(op)
    db.session.commit()
    return {"agency": agency, "account": account.id, "invoice": invoice.id, "operation": op.id,
            "api": Api(client, new_token(user))}


def error_of(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"} and error["message"]
    if code:
        assert error["code"] == code
    return error


NEW = {"name": "fresh-bakery", "client_name": "Fresh Bakery", "client_email": "owner@fresh.test",
       "notification_email": "ops@agency.test", "language": "fr", "timezone": "Europe/Paris",
       "plan": {"tier": "plus", "term": "monthly", "contact_limit": 1000}}
TRIAL = {**NEW, "name": "trying-out", "plan": {"tier": "plus", "term": "trial", "contact_limit": 500}}


# ---- tokens and authentication ------------------------------------------------------------------------

def test_the_database_holds_only_the_tokens_hash_and_prefix(db, agency):
    raw = new_token(agency[1], "CRM")
    row = db.session.scalar(sa.select(ApiToken))
    assert raw.startswith("ahq_") and len(raw) > 40
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:12] and row.name == "CRM" and row.agency_id == agency[0].id
    with db.engine.connect() as conn:
        dump = " ".join(str(v) for r in conn.execute(sa.text("SELECT * FROM api_tokens")) for v in r)
        dump += " ".join(str(v) for r in conn.execute(sa.text("SELECT * FROM audit_events")) for v in r)
    assert raw not in dump and raw[12:] not in dump


def test_requests_need_a_live_bearer_token(db, client, api, agency):
    assert error_of(Api(client, None).get("/accounts"), 401, "unauthorized")
    assert Api(client, None).get("/accounts").headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(Api(client, "ahq_not-a-real-token").get("/accounts"), 401, "invalid_token")
    assert error_of(client.get("/api/v1/accounts", headers={"Authorization": f"Basic {api.token}"}), 401)
    assert error_of(client.get("/api/v1/accounts", headers={"Authorization": "Bearer "}), 401)
    assert api.get("/accounts").status_code == 200
    token = db.session.scalar(sa.select(ApiToken))
    api_tokens.revoke(api_tokens.AgencyScope(agency[0].id), token.id, ACTOR)
    assert error_of(api.get("/accounts"), 401, "invalid_token")
    assert error_of(api.post("/accounts", json=TRIAL), 401)
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 0


def test_a_session_cookie_alone_is_refused_and_no_csrf_token_is_needed_with_a_bearer(db, client, agency):
    login(client, "owner@agency.test")
    assert client.get("/").status_code == 200  # logged in on the dashboard
    error_of(client.get("/api/v1/accounts"), 401, "unauthorized")
    error_of(client.post("/api/v1/accounts", json=TRIAL), 401, "unauthorized")
    api = Api(client, new_token(agency[1]))
    response = api.post("/accounts", json=TRIAL)
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers


def test_last_used_time_is_kept(db, api):
    assert db.session.scalar(sa.select(ApiToken.last_used_at)) is None
    api.get("/plans")
    db.session.expire_all()
    assert db.session.scalar(sa.select(ApiToken.last_used_at)) is not None


def test_openapi_document_is_public_and_lists_every_endpoint(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    # the core; test_the_document_matches_the_routes checks that every served route is documented
    assert set(doc["paths"]) >= {
        "/plans", "/accounts/{id}/retry", "/accounts", "/accounts/name-check", "/accounts/{id}", "/accounts/{id}/plan",
        "/accounts/{id}/cancel", "/accounts/{id}/resume", "/accounts/{id}/disable", "/accounts/{id}/enable",
        "/accounts/{id}/renew", "/accounts/{id}/extend-trial",
        "/accounts/{id}/password-reset", "/accounts/{id}/login-link", "/accounts/{id}/credits",
        "/operations/{id}", "/invoices", "/invoices/{id}", "/reports", "/pushdowns", "/pushdowns/{id}/publish",
        "/pushdowns/{id}/activate-all", "/pushdowns/{id}/deactivate-all", "/pushdowns/{id}/accounts",
        "/accounts/{id}/plan/preview", "/accounts/{id}/credits/preview", "/credits", "/credits/preview",
        "/credits/purchases", "/credits/moves"}


def test_the_document_matches_the_routes(app):
    """Every documented operation is served, and every API route is documented."""
    doc = app.extensions["openapi"]
    documented = {(m.upper(), "/api/v1" + p.replace("{id}", "<>")) for p, item in doc["paths"].items() for m in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_json":
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<{arg}>", "<>")
            served |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


# ---- errors in general ------------------------------------------------------------------------------------

def test_unknown_paths_and_methods_answer_in_json(api):
    error_of(api.get("/nothing-here"), 404, "not_found")
    response = api.client.delete("/api/v1/plans", headers=api._headers(None))
    error_of(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_malformed_oversize_and_wrongly_shaped_bodies(db, api):
    error_of(api.post("/accounts", data="{not json", content_type="application/json"), 400, "malformed_json")
    error_of(api.post("/accounts", data=b"\xff\xfe", content_type="application/json"), 400, "malformed_json")
    error_of(api.post("/accounts", data='{"name": NaN}', content_type="application/json"), 400, "malformed_json")
    error_of(api.post("/accounts", data="[" * 100000 + "]" * 100000, content_type="application/json"), 413)
    big = {**TRIAL, "client_name": "x" * 70000}
    error_of(api.post("/accounts", json=big), 413, "payload_too_large")
    error_of(api.post("/accounts", data="[" * 5000 + "]" * 5000, content_type="application/json"), 400)
    fields = error_of(api.post("/accounts", json=[TRIAL]), 422, "validation_failed")["fields"]
    assert fields == {"body": "Must be an object."}
    error_of(api.post("/accounts"), 422)
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 0


def test_unknown_fields_and_wrong_types_are_refused_and_nothing_is_written(db, api):
    cases = [
        ({**TRIAL, "admin_password": "x"}, {"admin_password": "Unknown field."}),
        ({**TRIAL, "name": 42}, {"name": "Must be a string."}),
        ({**TRIAL, "plan": {**TRIAL["plan"], "contact_limit": "500"}}, {"plan.contact_limit"}),
        ({**TRIAL, "plan": {**TRIAL["plan"], "contact_limit": True}}, {"plan.contact_limit"}),
        ({**TRIAL, "plan": {**TRIAL["plan"], "tier": "gold"}}, {"plan.tier"}),
        ({**TRIAL, "plan": {"tier": "plus"}}, {"plan.term", "plan.contact_limit"}),
        ({**TRIAL, "plan": None}, {"plan"}),
        ({k: v for k, v in TRIAL.items() if k != "client_email"}, {"client_email"}),
        ({**TRIAL, "client_name": "Nul\x00byte"}, {"client_name"}),
        ({**TRIAL, "language": "klingon"}, {"language"}),
    ]
    for body, expected in cases:
        fields = error_of(api.post("/accounts", json=body), 422, "validation_failed")["fields"]
        assert (fields == expected) if isinstance(expected, dict) else (set(fields) == expected), (body, fields)
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0


def test_service_rules_answer_with_their_fields(db, api):
    """The same checks as the dashboard's form, from the same service."""
    fields = error_of(api.post("/accounts", json={**TRIAL, "name": "www", "client_email": "nope",
                                                  "timezone": "Mars/Olympus"}), 422)["fields"]
    assert set(fields) == {"name", "client_email", "timezone"} and "reserved" in fields["name"]
    fields = error_of(api.post("/accounts", json={**TRIAL, "plan": {**TRIAL["plan"], "contact_limit": 1000}}),
                      422)["fields"]
    assert "contact_limit" in fields and "500" in fields["contact_limit"]
    # A paid plan needs a card (or prepaid credit): nothing is created.
    error = error_of(api.post("/accounts", json=NEW), 422)
    assert "card" in error["message"]
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 0


def test_messages_follow_accept_language(api):
    error = error_of(api.post("/accounts", json={**TRIAL, "name": "www"}, headers={"Accept-Language": "fr"}), 422)
    assert "réservé" in error["fields"]["name"]


# ---- plans and accounts -----------------------------------------------------------------------------------

def test_plans_are_the_catalog_with_the_agencys_discount(api, agency):
    for i in range(5):
        make_account(agency[0], f"paid-{i}")
    body = api.get("/plans").get_json()
    assert body["currency"] == "USD" and 500 in body["contact_limits"]
    assert [t["key"] for t in body["tiers"]] == ["lite", "plus", "professional", "enterprise"]
    assert body["discount"] == {"paid_accounts": 5, "percent": 10}
    error_of(api.get("/plans?x=1"), 422)


def test_list_accounts_filters_sorts_and_pages_like_the_resold_tab(db, api, agency, other):
    a = agency[0]
    make_account(a, "alpha-shop", client_name="Zed Client", contact_limit=5000)
    make_account(a, "beta-shop", plan_term="annual", contact_limit=2500)
    make_account(a, "gamma-trial", plan_term="trial", contact_limit=500)
    make_account(a, "delta-old", status="expired", expired_at=utcnow())
    for i in range(5):
        make_account(a, f"bulk-{i:02d}", contact_limit=1000)
    body = api.get("/accounts").get_json()
    assert body["total"] == 8 and "rival-shop" not in [r["name"] for r in body["data"]]
    assert [r["name"] for r in body["data"]][:3] == ["alpha-shop", "beta-shop", "bulk-00"]
    row = body["data"][0]
    assert row["plan"] == {"tier": "plus", "term": "monthly", "contact_limit": 5000}
    assert row["login_url"].endswith("alpha-shop.localhost/app/login") and row["price_cents"] > 0
    names = lambda r: [x["name"] for x in r.get_json()["data"]]  # noqa: E731
    assert names(api.get("/accounts?q=zed")) == ["alpha-shop"]
    assert names(api.get("/accounts?plan_type=trial&plan_type=annual")) == ["beta-shop", "gamma-trial"]
    assert names(api.get("/accounts?status=expired")) == ["delta-old"]
    assert len(names(api.get("/accounts?status=all"))) == 9
    assert names(api.get("/accounts?sort=plan_size&order=desc&limit=2")) == ["alpha-shop", "beta-shop"]
    # Pages by cursor, each row once.
    seen, cursor = [], None
    while True:
        response = api.get("/accounts?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200
        page = response.get_json()
        seen += [r["name"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and len(set(seen)) == 8
    # A cursor only fits the parameters it was made with.
    cursor = api.get("/accounts?limit=3").get_json()["next_cursor"]
    assert error_of(api.get(f"/accounts?limit=4&cursor={cursor}"), 422)["fields"].keys() == {"cursor"}
    error_of(api.get("/accounts?cursor=garbage"), 422)


@pytest.mark.parametrize("query, field", [
    ("status=deleted", "status"), ("sort=price", "sort"), ("order=up", "order"), ("limit=0", "limit"),
    ("limit=101", "limit"), ("limit=ten", "limit"), ("plan_type=free", "plan_type[0]"), ("page=2", "page"),
    ("limit=1&limit=2", "limit"), ("q=" + "x" * 101, "q"), ("q=a%00b", "q"),
])
def test_list_accounts_refuses_bad_parameters(api, query, field):
    assert field in error_of(api.get(f"/accounts?{query}"), 422, "validation_failed")["fields"]


def test_name_check(api, agency):
    make_account(agency[0], "taken-name")
    assert api.get("/accounts/name-check?name=fresh-name").get_json() == {"available": True, "reason": None}
    body = api.get("/accounts/name-check?name=taken-name").get_json()
    assert body["available"] is False and "taken" in body["reason"]
    assert api.get("/accounts/name-check?name=www").get_json()["available"] is False
    assert api.get("/accounts/name-check?name=A").get_json()["available"] is False
    assert "name" in error_of(api.get("/accounts/name-check"), 422)["fields"]


def test_create_a_trial_then_read_its_credentials_once(db, api, run_jobs):
    response = api.post("/accounts", json=TRIAL)
    assert response.status_code == 202
    body = response.get_json()
    assert body["account"]["status"] == "provisioning" and body["account"]["name"] == "trying-out"
    assert body["operation"]["status"] == "queued" and body["operation"]["account_id"] == body["account"]["id"]
    op_id = body["operation"]["id"]
    run_jobs()
    first = api.get(f"/operations/{op_id}").get_json()
    assert first["status"] == "succeeded" and first["progress"] == first["total"]
    assert first["result"]["username"] == "admin" and first["result"]["login_url"].endswith("/app/login")
    password = first["result"]["password"]
    assert password
    second = api.get(f"/operations/{op_id}").get_json()
    assert second["result"]["password"] is None and second["result"]["username"] == "admin"
    assert api.get(f"/accounts/{body['account']['id']}").get_json()["status"] == "active"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account_created"))
    token = db.session.scalar(sa.select(ApiToken))
    assert event.actor == f"api_token:{token.id}" and token.prefix in event.actor_label


def test_create_a_paid_account_charges_the_first_period(db, api, agency):
    add_card(agency[0])
    response = api.post("/accounts", json=NEW)
    assert response.status_code == 202
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "signup"))
    assert invoice.status == "paid" and invoice.total_cents == 7000
    assert invoice.account_id == response.get_json()["account"]["id"]


def test_a_declined_card_is_a_402_and_nothing_is_created(db, api, agency):
    add_card(agency[0], "4000000000000341")
    assert error_of(api.post("/accounts", json=NEW), 402, "payment_declined")
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 0


def test_get_account_with_its_credits(api, agency):
    account = make_account(agency[0], "shop-one")
    body = api.get(f"/accounts/{account.id}").get_json()
    assert body["name"] == "shop-one" and body["credits"] == {"sms": 0, "compatibility": 0, "prepaid_cents": 0}


def test_another_agencys_ids_are_not_found_everywhere(db, api, other):
    acc, inv, op = other["account"], other["invoice"], other["operation"]
    for path in (f"/accounts/{acc}", f"/invoices/{inv}", f"/operations/{op}", "/accounts/abc", "/accounts/0",
                 f"/accounts/{2**64}", f"/accounts/{2**31}", f"/invoices/{2**40}", "/invoices/-1", "/operations/1.5"):
        error_of(api.get(path), 404, "not_found")
    for action, body in (("plan", {"tier": "enterprise", "term": "monthly", "contact_limit": 1000}),
                         ("renew", {"tier": "plus", "term": "monthly", "contact_limit": 1000}),
                         ("cancel", None), ("extend-trial", None), ("password-reset", None), ("login-link", None),
                         ("credits", {"kind": "sms", "amount": 500})):
        error_of(api.post(f"/accounts/{acc}/{action}", json=body), 404, "not_found")
    # The rival's own token sees them; nothing of theirs changed.
    assert other["api"].get(f"/accounts/{acc}").status_code == 200
    account = db.session.get(HostedAccount, acc)
    assert account.status == "active" and account.plan_tier == "plus" and account.cancelled_at is None
    assert db.session.scalar(sa.select(sa.func.count(LoginAsToken.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1


def test_change_plan_upgrade_and_downgrade(db, api, agency):
    add_card(agency[0])
    account = make_account(agency[0], "growing")
    body = api.confirmed(f"/accounts/{account.id}/plan",
                         {"tier": "professional", "term": "monthly", "contact_limit": 1000}).get_json()
    assert body["change"] == "upgrade" and body["account"]["plan"]["tier"] == "professional"
    assert body["invoice"]["kind"] == "upgrade" and body["invoice"]["status"] == "paid"
    body = api.confirmed(f"/accounts/{account.id}/plan", {"tier": "lite", "term": "monthly", "contact_limit": 1000})
    body = body.get_json()
    assert body["change"] == "downgrade" and body["invoice"] is None
    assert body["effective_on"] == body["account"]["period_end"]
    assert body["account"]["pending_plan"] == {"tier": "lite", "term": "monthly", "contact_limit": 1000}
    error_of(api.post(f"/accounts/{account.id}/plan", json={"tier": "lite", "term": "trial", "contact_limit": 500}),
             422)
    error_of(api.post(f"/accounts/{account.id}/plan", json={"tier": "lite", "term": "monthly"}), 422)
    error_of(api.post(f"/accounts/{account.id}/plan", json={"tier": "lite", "term": "monthly",
                                                            "contact_limit": 1234}), 422)


def test_cancel_then_cancel_again_is_a_conflict(db, api, agency):
    account = make_account(agency[0], "leaving")
    body = api.post(f"/accounts/{account.id}/cancel").get_json()
    assert body["status"] == "cancelled" and body["cancelled_at"]
    error_of(api.post(f"/accounts/{account.id}/cancel", json={}), 409, "conflict")
    account2 = make_account(agency[0], "leaving-too")
    assert error_of(api.post(f"/accounts/{account2.id}/cancel", json={"reason": "x"}), 422)["fields"] == {
        "reason": "Unknown field."}


def test_renew_expired_trials_and_expired_paid_accounts(db, api, agency):
    add_card(agency[0])
    live = make_account(agency[0], "still-live")
    trial = make_account(agency[0], "old-trial", plan_term="trial", contact_limit=500, status="expired",
                         period_end=date.today() - timedelta(days=1), expired_at=utcnow())
    lapsed = make_account(agency[0], "old-paid", status="expired", cancelled_at=utcnow(),
                          period_end=date.today() - timedelta(days=1), expired_at=utcnow())
    plan = {"tier": "plus", "term": "annual", "contact_limit": 1000}
    error_of(api.post(f"/accounts/{live.id}/renew", json={**plan, "quote": "x"}), 409)
    body = api.confirmed(f"/accounts/{trial.id}/renew", plan).get_json()
    assert body["change"] == "renewed" and body["account"]["status"] == "active"
    assert body["invoice"]["total_cents"] == 70000 and body["invoice"]["kind"] == "reactivation"
    body = api.confirmed(f"/accounts/{lapsed.id}/renew", plan).get_json()
    assert body["change"] == "renewed" and body["account"]["status"] == "active"
    assert body["account"]["cancelled_at"] is None and body["account"]["period_end"] > date.today().isoformat()
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.account_id == lapsed.id)) == \
        "account_renewed"


def test_extend_a_trial_once_then_ask_support(db, api, agency):
    trial = make_account(agency[0], "trial-one", plan_term="trial", contact_limit=500)
    body = api.post(f"/accounts/{trial.id}/extend-trial").get_json()
    assert body["extended"] is True and body["until"] == body["account"]["period_end"]
    body = api.post(f"/accounts/{trial.id}/extend-trial").get_json()
    assert body["extended"] is False and body["support_request_id"]
    assert db.session.get(SupportRequest, body["support_request_id"]).kind == "trial_extension"
    error_of(api.post(f"/accounts/{trial.id}/extend-trial"), 409)
    paid = make_account(agency[0], "paid-one")
    error_of(api.post(f"/accounts/{paid.id}/extend-trial"), 400, "bad_request")


def test_password_reset_goes_to_the_accounts_admin(db, api, agency):
    account = make_account(agency[0], "with-admin", admin_password="old-password-1")
    response = api.post(f"/accounts/{account.id}/password-reset")
    assert response.status_code == 202 and response.get_json() == {"sent": True}
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id))
    assert db.session.scalar(sa.select(OutboundEmail.to_address).where(
        OutboundEmail.kind == "client_password_reset")) == admin.email
    bare = make_account(agency[0], "no-admin")
    error_of(api.post(f"/accounts/{bare.id}/password-reset"), 409)


def test_login_link_is_single_use_and_audited(db, api, agency, client):
    account = make_account(agency[0], "open-me", admin_password="old-password-1")
    response = api.post(f"/accounts/{account.id}/login-link")
    assert response.status_code == 201
    body = response.get_json()
    assert body["url"].startswith("http://open-me.localhost/app/login-as?token=") and body["expires_in_seconds"] == 60
    opened = client.get(body["url"].replace("http://open-me.localhost", ""), base_url="http://open-me.localhost")
    assert opened.status_code in (302, 303)
    again = client.get(body["url"].replace("http://open-me.localhost", ""), base_url="http://open-me.localhost")
    assert again.status_code != opened.status_code or "login" in again.headers.get("Location", "")
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.account_id == account.id)).all()
    assert "login_as_link" in actions and "login_as_started" in actions
    provisioning = make_account(agency[0], "not-yet", status="provisioning")
    error_of(api.post(f"/accounts/{provisioning.id}/login-link"), 400)


def test_credits_by_kind_and_amount(db, api, agency):
    add_card(agency[0])
    plus = make_account(agency[0], "plus-shop")
    lite = make_account(agency[0], "lite-shop", plan_tier="lite")
    response = api.confirmed(f"/accounts/{plus.id}/credits", {"kind": "sms", "amount": 500})
    assert response.status_code == 201
    body = response.get_json()
    assert body["credits"]["sms"] == 500 and body["invoice"]["kind"] == "sms_pack"
    body = api.confirmed(f"/accounts/{plus.id}/credits", {"kind": "compatibility", "amount": 100}).get_json()
    assert body["credits"]["compatibility"] == 100
    body = api.confirmed(f"/accounts/{plus.id}/credits", {"kind": "prepaid", "amount": 5000}).get_json()
    assert body["credits"]["prepaid_cents"] == 5000
    assert "account" in error_of(api.post(f"/accounts/{lite.id}/credits/preview", json={"kind": "sms", "amount": 500}),
                                 422)["fields"]
    assert "amount" in error_of(api.post(f"/accounts/{plus.id}/credits/preview", json={"kind": "sms", "amount": 7}),
                                422)["fields"]
    assert "amount" in error_of(api.post(f"/accounts/{plus.id}/credits/preview", json={"kind": "prepaid", "amount": 1}),
                                422)["fields"]
    assert "kind" in error_of(api.post(f"/accounts/{plus.id}/credits/preview", json={"kind": "gold", "amount": 5}),
                              422)["fields"]
    assert "amount" in error_of(api.post(f"/accounts/{plus.id}/credits/preview", json={"kind": "sms", "amount": 1.5}),
                                422)["fields"]
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 3


def test_invoices_list_filter_page_and_detail(db, api, agency, other):
    add_card(agency[0])
    shop = make_account(agency[0], "billed-shop")
    for amount in (5000, 10000, 25000):
        billing.buy_prepaid(agency[0].id, amount, account=None, actor=ACTOR)
    billing.buy_pack(agency[0].id, shop, "sms", "sms-500", actor=ACTOR)
    body = api.get("/invoices").get_json()
    assert body["total"] == 4 and other["invoice"] not in [i["id"] for i in body["data"]]
    assert body["data"][0]["kind"] == "sms_pack" and body["data"][0]["account_name"] == "billed-shop"
    assert [i["kind"] for i in api.get("/invoices?account=billed-shop").get_json()["data"]] == ["sms_pack"]
    month = date.today().strftime("%Y-%m")
    assert api.get(f"/invoices?month={month}").get_json()["total"] == 4
    assert api.get("/invoices?month=1999-01").get_json()["total"] == 0
    first = api.get("/invoices?limit=3").get_json()
    rest = api.get(f"/invoices?limit=3&cursor={first['next_cursor']}").get_json()
    assert len(first["data"]) == 3 and len(rest["data"]) == 1 and rest["next_cursor"] is None
    detail = api.get(f"/invoices/{body['data'][0]['id']}").get_json()
    assert detail["lines"][0]["amount_cents"] == 2000 and re.fullmatch(r"\d{4}-\d{6}", detail["number"])
    for bad in ("month=2026-13", "month=yesterday", "limit=500", "sort=amount"):
        error_of(api.get(f"/invoices?{bad}"), 422)


def test_operations_of_the_agency_only(db, api, agency, other):
    error_of(api.get(f"/operations/{other['operation']}"), 404)
    assert other["api"].get(f"/operations/{other['operation']}").get_json()["result"] is None


# ---- idempotency ------------------------------------------------------------------------------------------

def test_the_same_idempotency_key_replays_the_first_answer(db, api, agency):
    add_card(agency[0])
    headers = {"Idempotency-Key": "crm-7f3a"}
    first = api.post("/accounts", json=NEW, headers=headers)
    again = api.post("/accounts", json=NEW, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1
    # Another key makes another request (and here, the name is taken).
    assert api.post("/accounts", json=NEW, headers={"Idempotency-Key": "crm-other"}).status_code == 422
    # A failed answer is replayed too, without running again.
    bad = {**NEW, "name": "www"}
    assert api.post("/accounts", json=bad, headers={"Idempotency-Key": "k-bad"}).status_code == 422
    assert api.post("/accounts", json=bad, headers={"Idempotency-Key": "k-bad"}).headers["Idempotent-Replayed"]


def test_the_same_key_with_another_body_or_path_is_a_conflict(db, api, agency):
    account = make_account(agency[0], "keyed")
    headers = {"Idempotency-Key": "k1"}
    assert api.post("/accounts", json=TRIAL, headers=headers).status_code == 202
    assert error_of(api.post("/accounts", json={**TRIAL, "name": "other-name"}, headers=headers), 409,
                    "conflict")["fields"] == {"Idempotency-Key": "reused"}
    error_of(api.post(f"/accounts/{account.id}/cancel", headers=headers), 409)
    assert db.session.scalar(sa.select(sa.func.count(HostedAccount.id))) == 2
    assert db.session.get(HostedAccount, account.id).status == "active"
    # The same JSON written differently is the same request.
    same = api.post("/accounts", data='{"plan": {"contact_limit": 500, "term": "trial", "tier": "plus"}, '
                    + ", ".join(f'"{k}": "{v}"' for k, v in TRIAL.items() if k != "plan") + "}",
                    content_type="application/json", headers=headers)
    assert same.status_code == 202 and same.headers["Idempotent-Replayed"] == "true"


def test_keys_are_per_token_and_expire_after_a_day(db, client, api, agency):
    account = make_account(agency[0], "twice")
    headers = {"Idempotency-Key": "daily"}
    assert api.post(f"/accounts/{account.id}/cancel", headers=headers).status_code == 200
    other_token = Api(client, new_token(agency[1], "second"))
    error_of(other_token.post(f"/accounts/{account.id}/cancel", headers=headers), 409, "conflict")  # ran again
    record = db.session.scalar(sa.select(ApiIdempotencyRecord).where(ApiIdempotencyRecord.token_id == 1))
    record.created_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    error_of(api.post(f"/accounts/{account.id}/cancel", headers=headers), 409)  # not a replay: runs again
    from webapp.services.api_tokens import purge_idempotency_records
    db.session.execute(sa.update(ApiIdempotencyRecord).values(created_at=utcnow() - timedelta(hours=30)))
    db.session.commit()
    assert purge_idempotency_records() == 2


def test_a_key_still_being_answered_is_a_conflict_until_it_is_abandoned(db, api, agency):
    account = make_account(agency[0], "busy")
    token = db.session.scalar(sa.select(ApiToken))
    import json as _json
    request_hash = hashlib.sha256(f"POST /api/v1/accounts/{account.id}/cancel\n".encode()).hexdigest()
    db.session.add(ApiIdempotencyRecord(token_id=token.id, key="slow", request_hash=request_hash))
    db.session.commit()
    assert error_of(api.post(f"/accounts/{account.id}/cancel", headers={"Idempotency-Key": "slow"}), 409)[
        "fields"] == {"Idempotency-Key": "in_progress"}
    db.session.execute(sa.update(ApiIdempotencyRecord).values(created_at=utcnow() - timedelta(minutes=5)))
    db.session.commit()
    response = api.post(f"/accounts/{account.id}/cancel", headers={"Idempotency-Key": "slow"})
    assert response.status_code == 200 and _json.loads(response.get_data())["status"] == "cancelled"


@pytest.mark.parametrize("key", ["", "x" * 121, "has space", "é"])
def test_bad_idempotency_keys_are_refused(api, key):
    error_of(api.post("/accounts", json=TRIAL, headers={"Idempotency-Key": key}), 400, "bad_idempotency_key")


def test_a_rerun_after_a_crash_does_not_create_twice(db, api, agency):
    """The key also reaches the services: if the answer was lost (the record freed), the rerun finds
    the account made the first time instead of charging again."""
    add_card(agency[0])
    first = api.post("/accounts", json=NEW, headers={"Idempotency-Key": "crash"}).get_json()
    db.session.execute(sa.delete(ApiIdempotencyRecord))
    db.session.commit()
    second = api.post("/accounts", json=NEW, headers={"Idempotency-Key": "crash"})
    assert second.status_code == 202 and second.get_json()["account"]["id"] == first["account"]["id"]
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1


# ---- rate limit -------------------------------------------------------------------------------------------

def test_rate_limit_per_token(app, client, api, agency, monkeypatch):
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 3)
    for _ in range(3):
        response = api.get("/plans")
        assert response.status_code == 200
    assert response.headers["X-RateLimit-Remaining"] == "0"
    limited = api.get("/plans")
    error_of(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    error_of(api.post("/accounts", json=TRIAL), 429)
    assert Api(client, new_token(agency[1], "another")).get("/plans").status_code == 200


def test_rate_limit_lets_requests_through_when_its_storage_is_down(app, api, monkeypatch):
    import redis

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise redis.exceptions.ConnectionError("down")
            return fail

    monkeypatch.setattr(app.extensions["rate_limiter"], "_limiter", Down())
    assert api.get("/plans").status_code == 200


def test_the_rate_limit_does_not_share_the_job_queues_connection(app, api, monkeypatch):
    """Issue 18: a job queue whose Redis is down does not touch the API's rate limit."""
    import redis

    class Down:
        def __getattr__(self, name):
            raise redis.exceptions.ConnectionError("down")

    monkeypatch.setattr(app.extensions["job_queue"], "connection", Down())
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 1)
    assert api.get("/plans").status_code == 200
    assert api.get("/plans").status_code == 429


def test_two_readers_at_once_get_the_password_once(db, agency):
    """Both read the row while it still holds the password; the conditional UPDATE lets one have it."""
    from webapp.services import provisioning
    account = make_account(agency[0], "raced")
    op = Operation(kind="provision_account", idempotency_key="raced", agency_id=agency[0].id, subject_type="account",
                   subject_id=account.id, total=6, progress=6, status="succeeded",
                   result={"login_url": "http://raced.localhost/app/login", "username": "admin", "password": "s3cret"})
    account.credentials_until = utcnow() + timedelta(hours=24)  # A2: within its 24 hours
    db.session.add(op)
    db.session.commit()
    stale = Operation(id=op.id, kind=op.kind, result=dict(op.result))  # what the second reader loaded
    assert provisioning.read_credentials(op)["password"] == "s3cret"
    assert provisioning.read_credentials(stale) == {"login_url": "http://raced.localhost/app/login",
                                                   "username": "admin", "password": None}
    db.session.expire_all()
    assert "password" not in db.session.get(Operation, op.id).result
