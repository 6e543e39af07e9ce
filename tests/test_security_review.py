"""Issue 17: the holes an adversarial review found, one test (or a few) per item, each failing on
the code before the fix. Rows and gateway calls are counted before and after every refused attempt."""
from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from webapp.models import (AuditEvent, HostedAccount, LoginAsToken, LoginSession, SupportRequest)
from webapp.services import billing, support
from webapp.services.audit import Actor

from .helpers import PASSWORD, add_card, csrf_token, login, make_account, make_agency, make_support

YEAR = date.today().year + 1
HOST = "http://acme.localhost"



def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# ---- 1. An account leaving an agency ends the agency's way in ------------------------------------------

def _login_as_tab(app, client, account):
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    link = client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token}).headers["Location"]
    tab = app.test_client()
    assert tab.get(link).status_code == 303
    assert tab.get("/app/settings", base_url=HOST).status_code == 200
    return tab


def _unused_link(client, account) -> str:
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    return client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token}).headers["Location"]


def _set_password_from(tab) -> int:
    page = tab.get("/app/settings", base_url=HOST)
    if page.status_code != 200:
        return page.status_code
    return tab.post("/app/settings", base_url=HOST, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "new_password": "taken-over-pass-1",
        "confirm_password": "taken-over-pass-1"}).status_code


@pytest.mark.parametrize("decision", ["detach", "transfer"])
def test_an_account_leaving_its_agency_ends_every_login_as_session_and_link_of_that_agency(app, client, db, decision):
    losing, user = make_agency(email="owner@agency.test")
    gaining, gainer = make_agency(email="gainer@agency.test")
    acme = make_account(losing, "acme", admin_password="client-pass-1", client_email="boss@acme.test")
    staff = make_support()
    login(client, "owner@agency.test")
    tab = _login_as_tab(app, client, acme)
    link = _unused_link(client, acme)
    # The client's own login (with its password) is not the agency's: it stays.
    own = app.test_client()
    page = own.get("/app/login", base_url=HOST)
    assert own.post("/app/login", base_url=HOST, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                       "username": "admin", "password": "client-pass-1"}
                    ).status_code == 303
    actor = Actor(f"user:{user.id}", user.email, None, losing.id, team_role=user.team_role)
    if decision == "detach":
        request = support.request_detach(acme, user, client_email="boss@acme.test", actor=actor)
    else:
        request = support.request_transfer(gaining.id, gainer, account_name="acme", admin_email="boss@acme.test",
                                           actor=Actor(f"user:{gainer.id}", gainer.email, None, gaining.id, team_role=gainer.team_role))
        request.status = "open"  # the admin confirmed
        db.session.commit()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor(f"user:{staff.id}", staff.email))

    # The former agency's tab lands on the login page and cannot set a password; its unused link opens nothing.
    settings = tab.get("/app/settings", base_url=HOST)
    assert settings.status_code == 302 and settings.headers["Location"].endswith("/app/login?next=%2Fapp%2Fsettings")
    assert _set_password_from(tab) == 302
    assert app.test_client().get(link).status_code == 403
    assert own.get("/app/settings", base_url=HOST).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginSession)
                             .where(LoginSession.opened_by_agency_id.is_not(None))) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAsToken)
                             .where(LoginAsToken.used_at.is_(None))) == 0
    ended = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "agency_access_ended"))
    assert (ended.agency_id, ended.account_id, ended.detail) == (
        losing.id, acme.id, {"login_as_sessions": 1, "login_as_links": 1})


def test_a_rejected_request_or_another_accounts_move_leaves_the_login_as_session_alone(app, client, db):
    agency, user = make_agency(email="owner@agency.test")
    acme = make_account(agency, "acme", admin_password="client-pass-1", client_email="boss@acme.test")
    other = make_account(agency, "other-shop", admin_password="client-pass-1")
    staff = make_support()
    login(client, "owner@agency.test")
    tab = _login_as_tab(app, client, acme)
    actor = Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role)
    staff_actor = Actor(f"user:{staff.id}", staff.email)
    rejected = support.request_detach(acme, user, client_email="boss@acme.test", actor=actor)
    support.decide(rejected.id, approve=False, reason="Not now", staff=staff, actor=staff_actor)
    moved = support.request_detach(other, user, client_email="boss@other.test", actor=actor)
    support.decide(moved.id, approve=True, reason="", staff=staff, actor=staff_actor)
    assert tab.get("/app/settings", base_url=HOST).status_code == 200
    assert db.session.get(SupportRequest, rejected.id).status == "rejected"


# ---- 2. No production run on a public secret; the welcome page is reached by the sign-up's own token ----

@pytest.mark.parametrize("key, problem", [
    (None, "SECRET_KEY is not set"), ("", "SECRET_KEY is not set"),
    ("dev-only-secret-change-me", "public development default"), ("x" * 31, "shorter than 32 characters"),
])
def test_a_production_app_refuses_to_start_on_a_missing_default_or_short_secret_key(app, key, problem):
    from webapp import InsecureConfiguration, create_app
    from webapp.config import Config
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(InsecureConfiguration) as refused:
        create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=key, EMBEDDED_WORKER=False)
    assert problem in str(refused.value) and "secrets.token_urlsafe" in str(refused.value)
    assert create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="k" * 32, EMBEDDED_WORKER=False).secret_key
    # Debug (flask run --debug) and tests may use the development default.
    debug = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY=key, DEBUG=True, EMBEDDED_WORKER=False)
    assert debug.secret_key


def test_the_key_make_run_writes_is_read_when_secret_key_is_unset(tmp_path, monkeypatch):
    from webapp import config
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(config, "SECRET_KEY_FILE", tmp_path / "secret_key")
    assert config._secret_key() is None
    (tmp_path / "secret_key").write_text("r" * 64 + "\n")
    assert config._secret_key() == "r" * 64
    monkeypatch.setenv("SECRET_KEY", "from-the-environment-" + "e" * 20)
    assert config._secret_key().startswith("from-the-environment-")
    makefile = (config.ROOT / "Makefile").read_text()
    assert "instance/secret_key:" in makefile and "secrets.token_urlsafe(48)" in makefile
    assert "migrate: install instance/secret_key" in makefile
    assert "instance/" in (config.ROOT / ".gitignore").read_text().split()


def test_the_referral_welcome_page_needs_the_sign_ups_own_token_not_a_signed_cookie(app, client, db, run_jobs):
    from itsdangerous import URLSafeTimedSerializer

    from webapp.models import Operation
    from .test_commission import signup_form
    agency, _ = make_agency()
    page = client.get(f"/r/{agency.referral_code}")
    answer = client.post(f"/r/{agency.referral_code}", data=signup_form(page.get_data(as_text=True)))
    welcome = answer.headers["Location"]
    token = welcome.rsplit("/", 1)[1]
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "provision_account"))
    assert len(token) >= 43 and str(op.id) != token and token not in str(op.params)  # only its hash is kept
    run_jobs()
    # The attack of the review: a session cookie signed with a known key, naming the operation.
    forger = app.test_client()
    signer = URLSafeTimedSerializer(app.secret_key, salt="cookie-session", signer_kwargs={"key_derivation": "hmac",
                                                                                          "digest_method": "sha1"})
    forger.set_cookie("session", signer.dumps({"referral_ops": [op.id]}), domain="localhost")
    for guess in (f"/r/{agency.referral_code}/welcome/{op.id}", f"/r/{agency.referral_code}/welcome/{'A' * 43}"):
        assert forger.get(guess).status_code == 404
    other, _ = make_agency("Other")
    assert forger.get(f"/r/{other.referral_code}/welcome/{token}").status_code == 404  # another agency's link
    shown = client.get(welcome)
    assert shown.status_code == 200 and 'id="cred-password"' in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    assert 'id="cred-password"' not in client.get(welcome).get_data(as_text=True)  # once


# ---- 3. Nothing is charged for what is not created ---------------------------------------------------

def _money_rows(db):
    from webapp.models import CreditEntry, GatewayCall, Invoice
    return {m.__name__: _count(db, m) for m in (HostedAccount, Invoice, GatewayCall, CreditEntry)} | {
        "charges": len(billing.gateway().history("charge"))}


def _api(client, user):
    from webapp.services import api_tokens

    class Api:
        headers = {"Authorization": f"Bearer {api_tokens.create(user, 'tests', Actor('system', 'tests'))[1]}"}

        def post(self, path, body):
            return client.post(f"/api/v1{path}", json=body, headers=self.headers)

        def get(self, path):
            return client.get(f"/api/v1{path}", headers=self.headers)
    return Api()


NEW_ACCOUNT = {"name": "fresh-bakery", "client_name": "Fresh Bakery", "client_email": "owner@fresh.test",
               "notification_email": "ops@agency.test", "language": "en", "timezone": "Europe/Paris",
               "plan": {"tier": "plus", "term": "monthly", "contact_limit": 1000}}


@pytest.mark.parametrize("field, value", [
    ("client_name", "Fresh \ud800 Bakery"), ("client_name", "Fresh\x00Bakery"), ("timezone", "Europe/Paris\x00"),
    ("custom_domain", "mail.\udfff.test"), ("notification_email", "ops\x00@agency.test"),
])
def test_the_api_refuses_text_the_database_cannot_store_before_any_money_moves(client, db, field, value):
    agency, user = make_agency()
    add_card(agency.id)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=Actor("system", "tests"))
    api = _api(client, user)
    before = _money_rows(db)
    answer = api.post("/accounts", {**NEW_ACCOUNT, field: value})
    assert answer.status_code == 422, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == "validation_failed" and field in error["fields"]
    assert "cannot be stored" in error["fields"][field]
    assert _money_rows(db) == before


def test_every_api_string_and_query_value_is_checked_in_one_place(client, db):
    agency, user = make_agency()
    agency.franchise_enabled = True
    db.session.commit()
    api = _api(client, user)
    answer = api.post("/pushdowns", {"automation_id": 1, "select_matching": "shop\ud800"})
    assert answer.status_code == 422 and "select_matching" in answer.get_json()["error"]["fields"]
    answer = api.get("/accounts?q=shop%00")
    assert answer.status_code == 422 and "q" in answer.get_json()["error"]["fields"]
    answer = api.post("/accounts", {**NEW_ACCOUNT, "plan": {"tier": "plus\x00", "term": "monthly", "contact_limit": 1000}})
    assert answer.status_code == 422 and "plan.tier" in answer.get_json()["error"]["fields"]


def test_add_new_refuses_a_nul_byte_by_the_field_before_charging(client, db):
    from .test_accounts import form_data
    agency, _ = make_agency(email="owner@agency.test")
    add_card(agency.id)
    login(client, "owner@agency.test")
    before = _money_rows(db)
    answer = client.post("/accounts/new", data=form_data(client, client_name="Fresh\x00Bakery"))
    assert answer.status_code == 422
    assert re.search(r'id="client_name-error"[^>]*>[^<]*cannot be stored', answer.get_data(as_text=True))
    assert _money_rows(db) == before


@pytest.mark.parametrize("prepaid", [False, True])
def test_a_failure_after_the_charge_refunds_it_and_leaves_no_paid_invoice_without_its_account(
        app, client, db, monkeypatch, prepaid):
    from webapp.models import Invoice
    from webapp.services import provisioning
    agency, user = make_agency()
    add_card(agency.id)
    if prepaid:
        billing.buy_prepaid(agency.id, 10000, account=None, actor=Actor("system", "tests"))
    pool = billing.balance(agency.id, "prepaid")
    api = _api(client, user)

    def broken(account):
        raise RuntimeError("the provisioning queue fell over")
    monkeypatch.setattr(provisioning, "submit", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    answer = api.post("/accounts", NEW_ACCOUNT)
    assert answer.status_code == 500
    db.session.expire_all()
    assert _count(db, HostedAccount) == 0
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "signup"))
    assert invoice.status == "void" and invoice.card_charged_cents == 0
    assert billing.balance(agency.id, "prepaid") == pool  # the prepaid credit it spent is back
    from webapp.models import GatewayCall
    refunds = db.session.scalars(sa.select(GatewayCall.amount_cents).where(GatewayCall.op == "refund")).all()
    assert refunds == ([] if prepaid else [7000]) and len(billing.gateway().history("refund")) == len(refunds)


# ---- 4. The dashboard login holds -------------------------------------------------------------------

def _sign_in(client, email, password, ip="10.0.0.1", agent="Tests/1.0"):
    page = client.get("/login")
    return client.post("/login", environ_base={"REMOTE_ADDR": ip}, headers={"User-Agent": agent}, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "email": email, "password": password})


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_fifty_wrong_passwords_then_the_right_one_do_not_sign_in(app, db):
    import time_machine
    make_agency(email="owner@agency.test")
    client = app.test_client()
    with time_machine.travel(0, tick=False) as clock:
        clock.move_to("2026-12-02 10:00:00+00:00")
        answers = [_sign_in(client, "owner@agency.test", f"guess-{i}", ip=f"10.0.{i // 10}.{i}").status_code
                   for i in range(50)]
        assert answers[:4] == [401] * 4 and set(answers[4:]) == {429}
        right = _sign_in(client, "owner@agency.test", PASSWORD, ip="10.9.9.9")
        assert right.status_code == 429 and not _signed_in(client)
        assert "Too many failed sign-ins with this e-mail" in right.get_data(as_text=True)
        assert 1 <= int(right.headers["Retry-After"]) <= 300
        clock.shift(299)
        assert _sign_in(client, "owner@agency.test", PASSWORD, ip="10.9.9.9").status_code == 429
        clock.shift(2)
        assert _sign_in(client, "owner@agency.test", PASSWORD, ip="10.9.9.9").status_code == 303
        assert _signed_in(client)


def test_a_success_resets_the_count_and_the_lock_answers_the_same_for_an_unknown_email(app, db):
    make_agency(email="owner@agency.test")
    for _ in range(4):
        _sign_in(app.test_client(), "owner@agency.test", "wrong-password")
    assert _sign_in(app.test_client(), "owner@agency.test", PASSWORD).status_code == 303
    assert [_sign_in(app.test_client(), "owner@agency.test", "wrong").status_code for _ in range(4)] == [401] * 4

    def answers(email):
        out = []
        for i in range(6):
            response = _sign_in(app.test_client(), email, "wrong-password", ip=f"10.1.1.{i}")
            html = re.sub(r'value="[^"]*"|"X-CSRFToken": "[^"]+"', "", response.get_data(as_text=True))
            out.append((response.status_code, response.headers.get("Retry-After"), html))
        return out
    assert answers("someone@agency.test") == answers("nobody-at-all@agency.test")


def test_an_address_that_failed_twenty_times_is_refused_before_any_password_is_checked(app, db, monkeypatch):
    from argon2 import PasswordHasher
    make_agency(email="owner@agency.test")
    make_agency(email="second@agency.test")
    for i in range(20):
        assert _sign_in(app.test_client(), f"spray-{i}@agency.test", "guess", ip="10.6.6.6").status_code == 401
    checks = []
    original = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: checks.append(1) or original(self, h, p))
    refused = _sign_in(app.test_client(), "owner@agency.test", PASSWORD, ip="10.6.6.6")
    assert refused.status_code == 429 and checks == []
    assert "from your network" in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    assert _sign_in(app.test_client(), "second@agency.test", PASSWORD, ip="10.7.7.7").status_code == 303
    # An unknown e-mail is checked against a dummy hash, as long as a real one takes.
    _sign_in(app.test_client(), "nobody@agency.test", "guess", ip="10.8.8.8")
    assert checks == [1, 1]


def test_every_sign_in_is_in_the_audit_log_with_address_and_browser(app, db):
    _agency, user = make_agency(email="owner@agency.test")
    staff = make_support()
    _sign_in(app.test_client(), "owner@agency.test", "wrong-password", ip="198.51.100.1", agent="Firefox/140")
    _sign_in(app.test_client(), "ghost@agency.test", "wrong-password", ip="198.51.100.2", agent="Chrome/150")
    _sign_in(app.test_client(), "owner@agency.test", PASSWORD, ip="198.51.100.3", agent="Safari/20")
    _sign_in(app.test_client(), staff.email, PASSWORD, ip="198.51.100.4", agent="Edge/150")
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("sign_in_%"))
                                .order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor, e.ip, e.detail.get("user_agent")) for e in events] == [
        ("sign_in_failed", "anonymous", "198.51.100.1", "Firefox/140"),
        ("sign_in_failed", "anonymous", "198.51.100.2", "Chrome/150"),
        ("sign_in_succeeded", f"user:{user.id}", "198.51.100.3", "Safari/20"),
        ("sign_in_succeeded", f"user:{staff.id}", "198.51.100.4", "Edge/150"),
    ]
    assert events[1].detail["email"] == "ghost@agency.test"


# ---- 5. Reset links die with the password; reset e-mails are throttled --------------------------------

def _links(db):
    from webapp.models import OutboundEmail
    bodies = db.session.scalars(sa.select(OutboundEmail.body_text).where(OutboundEmail.kind == "client_password_reset")
                                .order_by(OutboundEmail.id)).all()
    return [re.search(r"(/app/reset/\S+)", b).group(1) for b in bodies]


@pytest.fixture
def acme(db):
    agency, _ = make_agency(email="owner@agency.test")
    return make_account(agency, "acme", admin_password="client-pass-1", client_email="boss@acme.test")


def _client_signed_in(app):
    tab = app.test_client()
    page = tab.get("/app/login", base_url=HOST)
    tab.post("/app/login", base_url=HOST, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                "username": "admin", "password": "client-pass-1"})
    return tab


@pytest.mark.parametrize("how", ["settings", "agency", "reset"])
def test_setting_a_password_ends_every_other_reset_link_and_login(app, client, db, acme, how):
    from webapp.services import client_auth
    admin = acme.users[0]
    for _ in range(2):
        client_auth.send_reset(acme, admin)
    first, second = _links(db)
    other = _client_signed_in(app)
    if how == "settings":
        tab = _client_signed_in(app)
        page = tab.get("/app/settings", base_url=HOST)
        assert tab.post("/app/settings", base_url=HOST, data={
            "csrf_token": csrf_token(page.get_data(as_text=True)), "current_password": "client-pass-1",
            "new_password": "brand-new-pass-9", "confirm_password": "brand-new-pass-9"}).status_code == 303
    elif how == "agency":
        client_auth.set_password_by_agency(admin, "brand-new-pass-9", "brand-new-pass-9", Actor("user:1", "agency"))
    else:
        form = client.get(first, base_url=HOST)
        assert client.post(first, base_url=HOST, data={
            "csrf_token": csrf_token(form.get_data(as_text=True)), "new_password": "brand-new-pass-9",
            "confirm_password": "brand-new-pass-9"}).status_code == 303
    for link in (first, second):
        assert client.get(link, base_url=HOST).status_code == 410
    assert other.get("/app/", base_url=HOST).status_code == 302


def test_reset_emails_are_throttled_per_account_and_per_address_with_the_same_answer(app, db, acme, run_jobs):
    agency = acme.agency
    others = [make_account(agency, f"shop-{i}", admin_password="client-pass-1", client_email=f"boss@shop{i}.test")
              for i in range(4)]

    def ask(account, email, ip):
        tab = app.test_client()
        host = f"http://{account.name}.localhost"
        page = tab.get("/app/forgot", base_url=host)
        answer = tab.post("/app/forgot", base_url=host, environ_base={"REMOTE_ADDR": ip},
                          data={"csrf_token": csrf_token(page.get_data(as_text=True)), "email": email})
        return answer.status_code, "reset-sent" in answer.get_data(as_text=True)
    answers = [ask(acme, "boss@acme.test", f"10.2.0.{i}") for i in range(5)]
    assert answers == [(200, True)] * 5
    run_jobs()
    assert len(_links(db)) == 3  # three an hour for one account
    # One address: ten requests an hour, whatever the accounts.
    for i in range(12):
        ask(others[i % 4], f"boss@shop{i % 4}.test", "10.3.3.3")
    run_jobs()
    assert len(_links(db)) == 3 + 10
    throttled = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "client_password_reset_throttled"))
    assert throttled == 2 + 2


def test_the_agency_cannot_flood_an_admin_with_reset_emails(client, db, acme):
    login(client, "owner@agency.test")
    token = csrf_token(client.get(f"/accounts/{acme.id}").get_data(as_text=True))
    for _ in range(4):
        answer = client.post(f"/accounts/{acme.id}/send-reset", data={"csrf_token": token})
    assert "Enough reset e-mails went to this account" in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert len(_links(db)) == 3


# ---- 6. Forgot-password takes the same time whether or not the e-mail exists ---------------------------

def test_forgot_password_takes_the_same_time_for_a_known_and_an_unknown_email(app, db, acme, monkeypatch):
    import statistics
    import time
    monkeypatch.setitem(app.config, "RESET_EMAILS_PER_ACCOUNT", 1000)
    monkeypatch.setitem(app.config, "RESET_REQUESTS_PER_ADDRESS", 1000)
    tab = app.test_client()
    token = csrf_token(tab.get("/app/forgot", base_url=HOST).get_data(as_text=True))

    def timed(email):
        started = time.perf_counter()
        answer = tab.post("/app/forgot", base_url=HOST, data={"csrf_token": token, "email": email})
        assert answer.status_code == 200
        return (time.perf_counter() - started) * 1000
    for _ in range(5):  # warm up both paths
        timed("boss@acme.test"), timed("nobody@acme.test")
    known, unknown = [], []
    for i in range(40):  # interleaved, alternating which goes first
        pair = ("boss@acme.test", "nobody@acme.test") if i % 2 == 0 else ("nobody@acme.test", "boss@acme.test")
        for email in pair:
            (known if email == "boss@acme.test" else unknown).append(timed(email))
    gap = abs(statistics.median(known) - statistics.median(unknown))
    assert gap <= 3, f"known {statistics.median(known):.2f} ms, unknown {statistics.median(unknown):.2f} ms"


# ---- 7. An unverified custom domain claims nothing ---------------------------------------------------

def _save_domain(client, account, domain, action="save"):
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "domain-domain": domain, "action": action})
    return client.get(f"/accounts/{account.id}").get_data(as_text=True)


def test_an_unverified_domain_does_not_block_the_account_that_really_owns_it(app, client, db, dns_server):
    squatter_agency, _ = make_agency(email="squatter@agency.test")
    squatter = make_account(squatter_agency, "squatter")
    owner_agency, _ = make_agency(email="owner@agency.test")
    owner = make_account(owner_agency, "real-owner")
    squatting = app.test_client()
    login(squatting, "squatter@agency.test")
    assert "Not verified" in _save_domain(squatting, squatter, "mail.owner.test")
    login(client, "owner@agency.test")
    page = _save_domain(client, owner, "mail.owner.test")  # the unverified claim does not block it
    assert "Not verified" in page and "already in use" not in page
    dns_server.records["mail.owner.test"] = "real-owner.localhost"
    page = _save_domain(client, owner, "mail.owner.test", action="verify")
    assert "is verified" in page
    db.session.expire_all()
    released = db.session.get(HostedAccount, squatter.id)
    assert released.custom_domain is None and released.custom_domain_released == "mail.owner.test"
    notice = squatting.get(f"/accounts/{squatter.id}").get_data(as_text=True)
    assert 'id="domain-released"' in notice and "mail.owner.test was verified by another account" in notice
    assert "agency" not in re.search(r'id="domain-released"[^>]*>([^<]*)<', notice).group(1).lower()
    # Now it is held: the squatter cannot take it back, and is not told by whom.
    again = _save_domain(squatting, squatter, "mail.owner.test")
    assert "This domain is already in use on the platform." in again and "Owner" not in again
    assert app.test_client().get("/app/login", base_url="http://mail.owner.test").status_code == 200
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "custom_domain_released"))
    assert (event.account_id, event.agency_id) == (squatter.id, squatter_agency.id)


def test_a_second_verification_of_a_held_domain_is_refused(app, client, db, dns_server):
    from webapp.models import utcnow
    from webapp.services import accounts
    first_agency, _ = make_agency()
    first = make_account(first_agency, "first", custom_domain="mail.both.test")
    second = make_account(first_agency, "second", custom_domain="mail.both.test")
    dns_server.records["mail.both.test"] = "first.localhost"
    accounts.verify_domain(first, Actor("system", "tests"))
    db.session.expire_all()
    assert db.session.get(HostedAccount, second.id).custom_domain is None
    # Had it been set again meanwhile (a stale page), verifying it is refused.
    row = db.session.get(HostedAccount, second.id)
    row.custom_domain = "mail.both.test"
    db.session.commit()
    dns_server.records["mail.both.test"] = "second.localhost"
    from webapp.services.errors import ServiceError
    with pytest.raises(ServiceError, match="already in use"):
        accounts.verify_domain(row, Actor("system", "tests"))
    assert db.session.get(HostedAccount, first.id).custom_domain_verified_at <= utcnow()


# ---- 8. Secrets are not cached or shown in passing --------------------------------------------------

def test_pages_that_show_a_password_or_a_token_are_not_stored_by_any_cache(app, client, db, run_jobs):
    from webapp.models import Operation
    from webapp.services import accounts
    agency, user = make_agency(email="owner@agency.test")
    account, op = accounts.create(agency.id, accounts.NewAccount(
        name="fresh-trial", client_name="Fresh", client_email="boss@fresh.test", notification_email="ops@agency.test",
        language="en", timezone="UTC", tier="plus", term="trial", contact_limit=500), request_key="k",
        actor=Actor("system", "tests"))
    login(client, "owner@agency.test")
    assert client.get(f"/accounts/{account.id}").headers["Cache-Control"] == "no-store"
    progress = client.get(f"/accounts/{account.id}/progress", headers={"HX-Request": "true"})
    assert progress.headers["Cache-Control"] == "no-store"
    run_jobs()
    shown = client.get(f"/accounts/{account.id}")
    assert 'id="cred-password"' in shown.get_data(as_text=True) and shown.headers["Cache-Control"] == "no-store"
    token = csrf_token(shown.get_data(as_text=True))
    created = client.post("/settings/api", data={"csrf_token": token, "name": "crm"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    link = client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token})
    assert "token=" in link.headers["Location"] and link.headers["Cache-Control"] == "no-store"
    assert db.session.get(Operation, op.id)


def test_the_outbox_hides_live_links_and_opening_an_email_is_audited(app, client, db, acme):
    from webapp.models import OutboundEmail
    from webapp.services import client_auth
    client_auth.send_reset(acme, acme.users[0])
    email = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "client_password_reset"))
    token = re.search(r"/app/reset/(\S+)", email.body_text).group(1)
    staff = make_support()
    login(client, staff.email)
    listing = client.get("/support/outbox")
    html = listing.get_data(as_text=True)
    assert listing.headers["Cache-Control"] == "no-store"
    assert token not in html and "/app/reset/••••••••" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "outbox_email_opened")) == 0
    opened = client.get(f"/support/outbox/{email.id}")
    assert opened.status_code == 200 and token in opened.get_data(as_text=True)
    assert opened.headers["Cache-Control"] == "no-store"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "outbox_email_opened"))
    assert (event.actor, event.detail["email"], event.detail["kind"]) == (
        f"user:{staff.id}", email.id, "client_password_reset")
    assert client.get("/support/outbox/999999").status_code == 404
    # Only support reaches it.
    agency_client = app.test_client()
    login(agency_client, "owner@agency.test")
    assert agency_client.get(f"/support/outbox/{email.id}").status_code == 403


# ---- 9. A Content-Security-Policy on every page (the browser test loads them all: tests/browser/test_csp.py) --

def test_every_answer_carries_a_strict_policy_and_previews_keep_their_own(client, db, acme):
    dashboard = client.get("/login").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in dashboard.split(";"))
    assert directives["default-src"] == directives["script-src"] == directives["style-src"] == "'self'"
    assert (directives["object-src"], directives["base-uri"], directives["frame-ancestors"]) == (
        "'none'", "'self'", "'self'")
    assert directives["form-action"] == "'self' http://*.localhost"  # Login leads to an account's host
    assert "unsafe" not in dashboard
    account_site = client.get("/app/login", base_url=HOST).headers["Content-Security-Policy"]
    assert "form-action 'self';" in account_site and "unsafe" not in account_site
    assert "Content-Security-Policy" in client.get("/api/v1/openapi.json").headers
    login(client, "owner@agency.test")
    token = csrf_token(client.get("/settings/templates/new").get_data(as_text=True))
    preview = client.post("/settings/templates/preview", data={"csrf_token": token, "basic-html": "<p>Hi</p>"})
    assert preview.headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")


def test_no_template_has_an_inline_script_handler_or_style():
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "templates"
    found = []
    for path in root.rglob("*.html"):
        text = path.read_text()
        # E-mail's HTML parts are never served as pages of the app (the outbox shows them in a sandbox with
        # no script allowed): mail clients drop style sheets, so their styles are inline by design. Scripts,
        # handlers and javascript: stay forbidden there too.
        email = path.relative_to(root).parts[0] == "email"
        for pattern in (r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", r"\son[a-z]+\s*=",
                        r"\sstyle\s*=", r"<style[\s>]", r"javascript:"):
            if email and pattern in (r"\sstyle\s*=", r"<style[\s>]"):
                continue
            found += [f"{path.relative_to(root)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []


# ---- 10. Smaller holes found in the code -------------------------------------------------------------

@pytest.fixture
def tls_smtp(app, tmp_path, monkeypatch):
    """aiosmtpd requiring STARTTLS, with a certificate for localhost signed by a CA of the test's own."""
    import socket
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost")
    (tmp_path / "san.cnf").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")

    class Sink:
        messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope.rcpt_tos)
            return "250 OK"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            server_hostname="localhost")
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_HOST", "localhost")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "SMTP_STARTTLS", True)
    yield SimpleNamespace(sink=sink, ca=str(tmp_path / "ca.pem"))
    controller.stop()


def test_starttls_checks_the_servers_certificate_unless_told_not_to(app, db, tls_smtp, monkeypatch):
    from webapp.models import OutboundEmail
    from webapp.services import mail, operations

    def deliver(to):
        email = mail.send("password_reset", to=to, locale="en", context={
            "user": SimpleNamespace(email=to), "url": "https://localhost/x", "minutes": 60})
        db.session.commit()
        op = db.session.scalar(sa.select(Operation).where(Operation.idempotency_key == f"email:{email.id}"))
        operations.run(op.id)
        db.session.expire_all()
        return db.session.get(OutboundEmail, email.id)
    from webapp.models import Operation
    refused = deliver("one@example.test")  # a certificate no authority of this machine signed
    assert refused.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in refused.last_error
    assert tls_smtp.sink.messages == []
    monkeypatch.setenv("SSL_CERT_FILE", tls_smtp.ca)  # the authority is trusted: the same server is accepted
    assert deliver("two@example.test").status == "sent"
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setitem(app.config, "SMTP_VERIFY", False)  # the explicit opt-out
    assert deliver("three@example.test").status == "sent"
    assert tls_smtp.sink.messages == [["two@example.test"], ["three@example.test"]]


@pytest.mark.parametrize("svg, message", [
    (b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g>" * 1200 + b"</g>" * 1200 + b"</svg>", "nested too deeply"),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
     b'<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>', "cannot be read"),
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>', "cannot be read"),
])
def test_a_hostile_svg_logo_answers_422_by_the_field(client, db, svg, message):
    import io
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    token = csrf_token(client.get("/settings/branding").get_data(as_text=True))
    answer = client.post("/settings/branding", content_type="multipart/form-data", data={
        "csrf_token": token, "product_name": "Logo test", "primary_color": "#2454a6",
        "logo": (io.BytesIO(svg), "logo.svg")})
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    from webapp.models import Branding
    assert _count(db, Branding) == 0


def test_a_plain_deep_logo_is_kept_and_cleaned():
    from webapp.services.branding import sanitize_svg
    nested = b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g>" * 60 + b'<path d="M0 0" onclick="x()"/>' + \
        b"</g>" * 60 + b"<script>alert(1)</script></svg>"
    clean = sanitize_svg(nested)
    assert clean.count(b"<g") + clean.count(b":g") == 60 and b"onclick" not in clean and b"script" not in clean


def test_a_referred_accounts_plan_renewal_and_trial_are_not_the_agencys_to_charge(app, client, db):
    from webapp.models import GatewayCall, Invoice
    agency, user = make_agency(email="owner@agency.test")
    add_card(agency.id)
    referred = make_account(agency, "referred", kind="commission", plan_tier="plus", plan_term="monthly")
    lapsed = make_account(agency, "lapsed", kind="commission", status="expired")
    trial = make_account(agency, "referred-trial", kind="commission", plan_term="trial", contact_limit=500)
    before = (_count(db, Invoice), _count(db, GatewayCall), len(billing.gateway().history("charge")))
    api = _api(client, user)
    plan = {"tier": "professional", "term": "annual", "contact_limit": 5000, "quote": "any"}
    for path, body in ((f"/accounts/{referred.id}/plan", plan), (f"/accounts/{lapsed.id}/renew", plan),
                       (f"/accounts/{trial.id}/extend-trial", None)):
        answer = api.post(path, body)
        assert answer.status_code == 409, (path, answer.get_data(as_text=True))
        assert "billed to its client" in answer.get_json()["error"]["message"]
    login(client, "owner@agency.test")
    page = client.get(f"/accounts/{referred.id}")
    assert 'id="billed-to-client"' in page.get_data(as_text=True)
    assert 'action="/accounts/%d/plan"' % referred.id not in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    refused = client.post(f"/accounts/{referred.id}/plan", data={"csrf_token": token, "plan-tier": "professional",
                                                                 "plan-term": "annual", "plan-contact_limit": "5000",
                                                                 "plan-quote": "forged"})
    assert refused.status_code == 409 and "billed to its client" in refused.get_data(as_text=True)
    client.post(f"/accounts/{trial.id}/extend-trial", data={"csrf_token": token})
    db.session.expire_all()
    assert (_count(db, Invoice), _count(db, GatewayCall), len(billing.gateway().history("charge"))) == before
    assert db.session.get(HostedAccount, referred.id).plan_tier == "plus"
    assert db.session.get(HostedAccount, trial.id).trial_extensions == 0


def test_a_disabled_accounts_row_offers_no_login(client, db):
    agency, _ = make_agency(email="owner@agency.test")
    make_account(agency, "closed-shop", status="disabled")
    make_account(agency, "open-shop")
    login(client, "owner@agency.test")
    html = client.get("/?status=all", headers={"HX-Request": "true"}).get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-account="([^"]+)">(.*?)</tr>', html, re.S))
    assert ">Login<" in rows["open-shop"] and ">Login<" not in rows["closed-shop"]
    assert "Why disabled?" in rows["closed-shop"]
