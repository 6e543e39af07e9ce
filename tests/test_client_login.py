"""The hosted account's own login (W3-W7): lockout timeline on a controllable clock, the per-address
throttle, password reset by e-mail (single use, expiry, no enumeration, link from the stored host),
the agency's reset and Settings."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from webapp.models import AuditEvent, OutboundEmail, utcnow
from webapp.services import client_auth

from .helpers import add_card, csrf_token, login, make_account, make_agency

HOST = "http://acme.localhost"


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = utcnow()

        def advance(self, **kw):
            self.now += timedelta(**kw)
    c = Clock()
    monkeypatch.setattr(client_auth, "now", lambda: c.now)
    return c


@pytest.fixture
def acme(db):
    agency, _ = make_agency(email="owner@agency.test")
    return make_account(agency, "acme", admin_password="right-password-1", client_email="boss@acme.test")


def attempt(client, password, ip="10.0.0.1"):
    page = client.get("/app/login", base_url=HOST)
    return client.post("/app/login", base_url=HOST, environ_base={"REMOTE_ADDR": ip},
                       data={"csrf_token": csrf_token(page.get_data(as_text=True)), "username": "admin",
                             "password": password})


def test_the_branded_login_page_has_a_forgot_link(client, acme):
    html = client.get("/app/login", base_url=HOST).get_data(as_text=True)
    assert 'href="/app/forgot"' in html and "Forgot?" in html


def test_five_failures_lock_for_five_minutes_even_for_the_right_password(client, acme, clock):
    for _ in range(4):
        assert attempt(client, "wrong-password").status_code == 401
    locked = attempt(client, "wrong-password")
    assert locked.status_code == 429 and "Failed attempt" in locked.get_data(as_text=True)
    assert 'href="/app/login"' in locked.get_data(as_text=True)  # the Back link
    clock.advance(minutes=4, seconds=59)
    assert attempt(client, "right-password-1").status_code == 429
    clock.advance(seconds=2)
    assert attempt(client, "right-password-1").status_code == 303
    actions = [e.action for e in sa.orm.Session.object_session(acme).scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("client_login_failed") == 5 and "client_account_locked" in actions
    assert actions[-2:] == ["client_login_locked_out", "client_login_succeeded"]


def test_a_success_resets_the_count(client, acme, clock):
    for _ in range(4):
        attempt(client, "wrong-password")
    assert attempt(client, "right-password-1").status_code == 303
    client.post("/app/logout", base_url=HOST, data={"csrf_token": csrf_token(
        client.get("/app/", base_url=HOST).get_data(as_text=True))})
    for _ in range(4):
        assert attempt(client, "wrong-password").status_code == 401  # four more: still not locked


def test_one_address_cannot_lock_out_many_accounts(client, db, clock):
    agency, _ = make_agency()
    names = [f"victim-{i}" for i in range(6)]
    for name in names:
        make_account(agency, name, admin_password="right-password-1")
    statuses = []
    for name in names:
        for _ in range(5):
            page = client.get("/app/login", base_url=f"http://{name}.localhost")
            statuses.append(client.post("/app/login", base_url=f"http://{name}.localhost",
                                        environ_base={"REMOTE_ADDR": "10.9.9.9"},
                                        data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                              "username": "admin", "password": "nope-nope-nope"}).status_code)
    # 20 failures lock 4 accounts; the address is then refused before it can touch the others.
    page = client.get("/app/login", base_url="http://victim-5.localhost")
    other_ip = client.post("/app/login", base_url="http://victim-5.localhost", environ_base={"REMOTE_ADDR": "10.1.1.1"},
                           data={"csrf_token": csrf_token(page.get_data(as_text=True)), "username": "admin",
                                 "password": "right-password-1"})
    assert other_ip.status_code == 303  # the fifth and sixth accounts were never locked
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "client_login_throttled")) == 10


def test_forgot_password_never_says_whether_the_email_exists(client, acme, db, clock, run_jobs):
    def ask(email):
        page = client.get("/app/forgot", base_url=HOST)
        return client.post("/app/forgot", base_url=HOST, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                              "email": email})
    known, unknown = ask("BOSS@acme.test"), ask("nobody@acme.test")
    assert known.status_code == unknown.status_code == 200
    def strip(response):  # CSRF tokens carry a timestamp: everything else must be the same
        html = re.sub(r'value="[^"]+"', "", response.get_data(as_text=True))
        return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    assert strip(known) == strip(unknown)
    run_jobs()  # the job compares the e-mail with the admin's and sends the link
    emails = db.session.scalars(sa.select(OutboundEmail)).all()
    assert [e.to_address for e in emails] == ["boss@acme.test"]


def _reset_link(db):
    body = db.session.scalars(sa.select(OutboundEmail).order_by(OutboundEmail.id.desc())).first().body_text
    return re.search(r"(http://\S+/app/reset/\S+)", body).group(1)


def test_reset_link_single_use_expiring_from_the_stored_host_and_it_ends_other_sessions(app, client, acme, db, clock,
                                                                                      run_jobs):
    other = app.test_client()
    attempt(other, "right-password-1")
    assert other.get("/app/", base_url=HOST).status_code == 200
    page = client.get("/app/forgot", base_url=HOST, headers={"X-Forwarded-Host": "evil.example"})
    client.post("/app/forgot", base_url=HOST, headers={"X-Forwarded-Host": "evil.example"},
                data={"csrf_token": csrf_token(page.get_data(as_text=True)), "email": "boss@acme.test"})
    run_jobs()
    link = _reset_link(db)
    assert link.startswith("http://acme.localhost") and "evil" not in link
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 22  # at least 128 bits
    stored = db.session.scalar(sa.text("SELECT token_hash FROM password_reset_tokens"))
    assert token not in stored  # stored hashed
    path = "/app/reset/" + token
    form = client.get(path, base_url=HOST)
    weak = client.post(path, base_url=HOST, data={"csrf_token": csrf_token(form.get_data(as_text=True)),
                                                  "new_password": "short", "confirm_password": "short"})
    assert "at least 12 characters" in weak.get_data(as_text=True)
    done = client.post(path, base_url=HOST, data={"csrf_token": csrf_token(form.get_data(as_text=True)),
                                                  "new_password": "brand-new-pass-9", "confirm_password": "brand-new-pass-9"})
    assert done.status_code == 303
    assert client.get(path, base_url=HOST).status_code == 410  # single use
    assert other.get("/app/", base_url=HOST).status_code == 302  # the other session ended
    assert db.session.scalar(sa.text("SELECT count(*) FROM login_sessions")) == 0  # and its row went
    assert attempt(client, "brand-new-pass-9").status_code == 303
    # A link older than 60 minutes is refused.
    page = client.get("/app/forgot", base_url=HOST)
    client.post("/app/forgot", base_url=HOST, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                   "email": "boss@acme.test"})
    run_jobs()
    late = _reset_link(db).rsplit("/", 1)[1]
    clock.advance(minutes=61)
    assert client.get("/app/reset/" + late, base_url=HOST).status_code == 410
    assert client.get("/app/reset/forged-token", base_url=HOST).status_code == 410


def test_a_just_reset_password_does_not_lift_the_lockout(client, acme, db, clock):
    for _ in range(5):
        attempt(client, "wrong-password")
    client_auth.send_reset(acme, acme.users[0])
    token = _reset_link(db).rsplit("/", 1)[1]
    form = client.get("/app/reset/" + token, base_url=HOST)
    client.post("/app/reset/" + token, base_url=HOST, data={"csrf_token": csrf_token(form.get_data(as_text=True)),
                                                            "new_password": "brand-new-pass-9",
                                                            "confirm_password": "brand-new-pass-9"})
    assert attempt(client, "brand-new-pass-9").status_code == 429
    clock.advance(minutes=5, seconds=1)
    assert attempt(client, "brand-new-pass-9").status_code == 303


def test_agency_sends_the_reset_and_sets_a_password_when_signed_in(app, client, acme, db):
    login(client, "owner@agency.test")
    token = csrf_token(client.get(f"/accounts/{acme.id}").get_data(as_text=True))
    assert client.post(f"/accounts/{acme.id}/send-reset", data={"csrf_token": token}).status_code == 303
    assert db.session.scalar(sa.select(OutboundEmail.to_address)) == "boss@acme.test"
    link = client.post(f"/accounts/{acme.id}/login-as", data={"csrf_token": token}).headers["Location"]
    as_client = app.test_client()
    as_client.get(link)
    settings = as_client.get("/app/settings", base_url=HOST).get_data(as_text=True)
    assert "no current password is needed" in settings
    done = as_client.post("/app/settings", base_url=HOST, data={
        "csrf_token": csrf_token(settings), "new_password": "set-by-agency-1", "confirm_password": "set-by-agency-1"})
    assert done.status_code == 303
    assert attempt(app.test_client(), "set-by-agency-1").status_code == 303
    assert "client_password_set_by_agency" in [e.action for e in db.session.scalars(sa.select(AuditEvent))]


def test_settings_change_password_needs_the_current_one(client, acme):
    attempt(client, "right-password-1")
    page = client.get("/app/settings", base_url=HOST).get_data(as_text=True)
    wrong = client.post("/app/settings", base_url=HOST, data={"csrf_token": csrf_token(page), "current_password": "no",
                                                              "new_password": "another-pass-12",
                                                              "confirm_password": "another-pass-12"})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    mismatch = client.post("/app/settings", base_url=HOST, data={
        "csrf_token": csrf_token(page), "current_password": "right-password-1", "new_password": "another-pass-12",
        "confirm_password": "another-pass-13"})
    assert "not the same" in mismatch.get_data(as_text=True)
    ok = client.post("/app/settings", base_url=HOST, data={
        "csrf_token": csrf_token(page), "current_password": "right-password-1", "new_password": "another-pass-12",
        "confirm_password": "another-pass-12"})
    assert ok.status_code == 303 and client.get("/app/settings", base_url=HOST).status_code == 200


# ---- A7, B8: an expired or disabled account is closed to its client ------------------------------------


def _login_as(client, account):
    """The agency presses Login on the account: the one-minute link, or the account page with why not."""
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    return client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token})


def test_an_expired_account_shows_its_client_a_branded_closed_page_until_it_is_renewed(app, client, acme, db):
    from webapp.models import Branding, LoginAsToken
    from webapp.services import accounts, renewals
    from webapp.services.audit import Actor
    add_card(acme.agency_id)
    db.session.add(Branding(agency_id=acme.agency_id, account_id=acme.id, product_name="Acme Mail",
                            support_email="help@agency.test", support_url="https://agency.test/help"))
    db.session.commit()
    signed_in, stranger = app.test_client(), app.test_client()
    login_page = stranger.get("/app/login", base_url=HOST).get_data(as_text=True)
    assert attempt(signed_in, "right-password-1").status_code == 303
    assert signed_in.get("/app/", base_url=HOST).status_code == 200
    # A7: cancelled, it stays usable to the end of its period, then the sweeper expires it.
    accounts.cancel(acme, Actor("user:0", "tests"))
    assert signed_in.get("/app/", base_url=HOST).status_code == 200
    renewals.expire_ended(acme.period_end)
    db.session.refresh(acme)
    assert acme.status == "expired"
    for path in ("/app/", "/app/settings", "/app/templates", "/app/login", "/app/forgot"):
        closed = signed_in.get(path, base_url=HOST)
        html = closed.get_data(as_text=True)
        assert closed.status_code == 403, path
        assert 'data-reason="expired"' in html and "This account has expired" in html, path
        assert "mailto:help@agency.test" in html and "https://agency.test/help" in html and "Acme Mail" in html
        assert "Overview" not in html and "Logout" not in html  # never the app
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    tried = stranger.post("/app/login", base_url=HOST, data={"csrf_token": csrf_token(login_page),
                                                             "username": "admin", "password": "right-password-1"})
    assert tried.status_code == 403 and "This account has expired" in tried.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before  # no login happened
    # The agency's Login says why it cannot open it, and no link is made.
    login(client, "owner@agency.test")
    refused = _login_as(client, acme)
    assert refused.status_code == 303 and refused.headers["Location"].endswith(f"/accounts/{acme.id}")
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "has expired, so it cannot be opened: renew it first" in page and 'id="closed-note"' in page
    assert 'id="login-as"' not in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAsToken)) == 0
    # Renewing (the green Renew leads to the plan form) opens it again, for the client and for login-as.
    accounts.change_plan(acme, tier="plus", term="monthly", contact_limit=1000, request_key="renew",
                         actor=Actor("user:0", "tests"))
    assert acme.status == "active"
    assert signed_in.get("/app/", base_url=HOST).status_code == 200
    assert client.get("/app/login", base_url=HOST).status_code == 200
    assert re.match(r"http://acme\.localhost(:\d+)?/app/login-as\?token=", _login_as(client, acme).headers["Location"])


def test_a_disabled_account_is_closed_to_its_client_until_a_charge_succeeds(app, client, acme, db):
    from datetime import date
    from webapp.services import renewals
    add_card(acme.agency_id, "4000000000000341")
    acme.period_end = date.today()
    db.session.commit()
    invoice = renewals.renew(acme.id, acme.period_end)
    assert invoice.status == "failed"
    # B8: still unpaid after the grace period: disabled.
    assert renewals.disable_after_grace(utcnow() + timedelta(days=8)) == 1
    db.session.refresh(acme)
    assert acme.status == "disabled"
    closed = client.get("/app/login", base_url=HOST)
    html = closed.get_data(as_text=True)
    assert closed.status_code == 403 and 'data-reason="disabled"' in html and "This account is disabled" in html
    assert "contact the company that provides this account" in html  # no branding: no name but the agency's
    login(client, "owner@agency.test")
    refused = _login_as(client, acme)
    assert "is disabled because its renewal is unpaid, so it cannot be opened" in \
        client.get(refused.headers["Location"]).get_data(as_text=True)
    # A good card, and the renewal charged on its next try: enabled again, for the client too.
    add_card(acme.agency_id)
    assert renewals.renew(acme.id, invoice.period_start).status == "paid"
    db.session.refresh(acme)
    assert acme.status == "active"
    assert client.get("/app/login", base_url=HOST).status_code == 200
    assert attempt(app.test_client(), "right-password-1").status_code == 303


# ---- A10: the end of a session the agency opened is written however it ends ---------------------------

def _open_as_agency(app, client, acme, ip="198.51.100.7"):
    """The agency presses Login (from `ip`) and the new tab exchanges the link on the account's host."""
    token = csrf_token(client.get(f"/accounts/{acme.id}").get_data(as_text=True))
    link = client.post(f"/accounts/{acme.id}/login-as", data={"csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip}).headers["Location"]
    tab = app.test_client()
    assert tab.get(link, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 303
    assert "Signed in by your agency" in tab.get("/app/", base_url=HOST).get_data(as_text=True)
    return tab


def _login_as_events(db):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("login_as%"))
                              .order_by(AuditEvent.id)).all()


def test_login_as_is_audited_with_who_and_from_where_and_ends_when_a_normal_login_replaces_it(app, client, acme, db,
                                                                                               clock):
    from webapp.models import User
    agency_user = db.session.scalar(sa.select(User).where(User.email == "owner@agency.test"))
    login(client, "owner@agency.test")
    tab = _open_as_agency(app, client, acme)
    # A second link opened in the same browser replaces the first session: its end is written.
    tab2_link = client.post(f"/accounts/{acme.id}/login-as", environ_base={"REMOTE_ADDR": "198.51.100.7"}, data={
        "csrf_token": csrf_token(client.get(f"/accounts/{acme.id}").get_data(as_text=True))}).headers["Location"]
    assert tab.get(tab2_link, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 303
    # The login page is still offered while signed in by the agency; a password login replaces that session.
    page = tab.get("/app/login", base_url=HOST)
    assert page.status_code == 200 and "ends that session" in page.get_data(as_text=True)
    done = tab.post("/app/login", base_url=HOST, environ_base={"REMOTE_ADDR": "203.0.113.9"}, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "username": "admin", "password": "right-password-1"})
    assert done.status_code == 303
    overview = tab.get("/app/", base_url=HOST)
    assert overview.status_code == 200 and "Signed in by your agency" not in overview.get_data(as_text=True)
    # Each replaced session's login went with it: the admin has only the password login left.
    assert db.session.scalar(sa.text("SELECT count(*) FROM login_sessions WHERE account_user_id IS NOT NULL")) == 1
    events = _login_as_events(db)
    assert [(e.action, e.detail.get("reason")) for e in events] == [
        ("login_as_link", None), ("login_as_started", None), ("login_as_link", None),
        ("login_as_started", None), ("login_as_ended", "replaced_by_login_as"), ("login_as_ended", "replaced_by_login")]
    # Who acted and from where, on every row: the agency user, the dashboard's address for the link,
    # the browser's address on the account's host for the start and the end.
    assert {(e.actor, e.actor_label, e.agency_id, e.account_id) for e in events} == {
        (f"user:{agency_user.id}", "owner@agency.test", acme.agency_id, acme.id)}
    assert [e.ip for e in events] == ["198.51.100.7", "203.0.113.9", "198.51.100.7", "203.0.113.9", "203.0.113.9",
                                      "203.0.113.9"]
    assert "client_login_succeeded" in [e.action for e in db.session.scalars(sa.select(AuditEvent))]


def test_a_login_as_session_ends_after_its_lifetime_on_the_next_request(app, client, acme, db, clock):
    login(client, "owner@agency.test")
    tab = _open_as_agency(app, client, acme)
    clock.advance(hours=7, minutes=59)
    assert tab.get("/app/", base_url=HOST).status_code == 200
    assert [e.action for e in _login_as_events(db)][-1] == "login_as_started"
    clock.advance(minutes=2)
    ended = tab.get("/app/settings", base_url=HOST, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert ended.status_code == 302 and ended.headers["Location"].endswith("/app/login")
    assert "The session your agency opened has ended" in tab.get("/app/login", base_url=HOST).get_data(as_text=True)
    last = _login_as_events(db)[-1]
    assert (last.action, last.detail["reason"], last.actor_label, last.ip) == \
        ("login_as_ended", "expired", "owner@agency.test", "203.0.113.9")
    assert tab.get("/app/", base_url=HOST).status_code == 302  # signed out
    assert [e.action for e in _login_as_events(db)].count("login_as_ended") == 1  # written once


def test_a_login_as_session_whose_user_was_signed_out_elsewhere_is_ended(app, client, acme, db, clock):
    login(client, "owner@agency.test")
    tab = _open_as_agency(app, client, acme)
    attempt(app.test_client(), "right-password-1")
    acme.users[0].session_epoch += 1  # a new password ends every other session of the admin
    db.session.commit()
    assert tab.get("/app/", base_url=HOST).status_code == 302
    assert _login_as_events(db)[-1].detail == {"reason": "signed_out"}
