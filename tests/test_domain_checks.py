"""Issue 22, A9 kept honest: verified custom domains re-checked daily against a real DNS server (the
dns_server fixture), on a test clock; flagged and told once, cleared when fixed, stopped after 7 days;
and the on-demand TLS `ask` endpoint."""
from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from webapp.jobs import registry, sweeper
from webapp.models import AuditEvent, HostedAccount, OutboundEmail
from webapp.services import domain_checks

from .helpers import csrf_token, login, make_account, make_agency

START = datetime(2031, 3, 2, 8, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
DOMAIN = "mail.acme.test"


def _verified_account(agency, verified_at=START, **fields):
    values = {"notification_email": "alerts@agency.test", "client_email": "client@acme.test", **fields}
    return make_account(agency, "acme", admin_password="acme-secret-pass", custom_domain=DOMAIN,
                        custom_domain_verified_at=verified_at, **values)


def _emails(db, kind=None):
    db.session.expire_all()
    query = sa.select(OutboundEmail).order_by(OutboundEmail.id)
    if kind:
        query = query.where(OutboundEmail.kind == kind)
    return db.session.scalars(query).all()


def _account(db, account_id):
    db.session.expire_all()
    return db.session.get(HostedAccount, account_id)


def _serves(client, host=DOMAIN) -> int:
    return client.get("/app/login", base_url=f"http://{host}").status_code


def test_the_daily_check_is_a_periodic_task():
    assert domain_checks.check_domains in registry.PERIODIC


def test_a_domain_that_still_points_here_is_checked_once_a_day_and_nothing_is_flagged(app, db, dns_server):
    agency, _ = make_agency()
    dns_server.records[DOMAIN] = "acme.localhost"
    with time_machine.travel(START, tick=False) as clock:
        account = _verified_account(agency)
        assert domain_checks.check_domains() == 0  # verified just now: first re-checked a day later
        clock.shift(DAY)
        assert domain_checks.check_domains() == 1
        assert domain_checks.check_domains() == 0  # a second pass (or a second sweeper) the same day
        clock.shift(DAY - timedelta(minutes=1))
        assert domain_checks.check_domains() == 0
        clock.shift(timedelta(minutes=1))
        assert sweeper.sweep() == 0 and _account(db, account.id).custom_domain_checked_at == START + 2 * DAY
    account = _account(db, account.id)
    assert account.custom_domain_failing_since is None and account.custom_domain_verified_at == START
    assert _emails(db) == []


def test_two_sweepers_claim_a_domain_once(app, db, dns_server):
    agency, _ = make_agency()
    with time_machine.travel(START + DAY, tick=False):
        account = _verified_account(agency, verified_at=START)
        now = START + DAY
        assert domain_checks._claim(account.id, DOMAIN, now) is True
        assert domain_checks._claim(account.id, DOMAIN, now) is False  # the other sweeper finds it taken
        assert domain_checks.check_domains() == 0


def test_a_domain_pointing_elsewhere_is_flagged_shown_and_told_once_to_the_agency(app, db, client, dns_server):
    agency, owner = make_agency(email="owner@agency.test")
    dns_server.records[DOMAIN] = "somewhere.else.test"
    with time_machine.travel(START, tick=False) as clock:
        account = _verified_account(agency)
        clock.shift(DAY)
        assert domain_checks.check_domains() == 1
        flagged = _account(db, account.id)
        assert flagged.custom_domain_failing_since == START + DAY
        assert flagged.custom_domain_found == "somewhere.else.test"
        assert flagged.custom_domain_stops_at == START + 8 * DAY
        assert flagged.custom_domain_verified_at == START  # still serving during the grace
        assert _serves(client) == 200
        # The next days: still failing, no second e-mail, the first day it was seen is kept.
        for _ in range(3):
            clock.shift(DAY)
            assert domain_checks.check_domains() == 1
        assert _account(db, account.id).custom_domain_failing_since == START + DAY
        [email] = _emails(db, "custom_domain_failing")
        assert email.to_address == "alerts@agency.test"  # the agency's notification e-mail, never the client's
        assert email.subject == "mail.acme.test no longer points to acme"
        assert "is a CNAME of somewhere.else.test; it should be a CNAME of acme.localhost." in email.body_text
        assert "mail.acme.test.  CNAME  acme.localhost." in email.body_text
        assert f"/accounts/{account.id}" in email.body_text
        assert "Mar 10, 2031" in email.body_text  # stops serving after the 7 days of grace
        assert len(_emails(db)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "custom_domain_failing")) == 1
        login(client, "owner@agency.test")
        page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="domain-failing"' in page and "mail.acme.test no longer points to this account" in page
    assert "is a CNAME of somewhere.else.test; it should be a CNAME of acme.localhost." in page
    assert "Mar 10, 2031" in page


def test_a_missing_record_is_a_failure_too(app, db, dns_server):
    agency, _ = make_agency()
    with time_machine.travel(START + DAY, tick=False):
        account = _verified_account(agency, verified_at=START)
        assert domain_checks.check_domains() == 1
    assert _account(db, account.id).custom_domain_found == ""
    [email] = _emails(db, "custom_domain_failing")
    assert "Its DNS now has no CNAME record for mail.acme.test; it should be a CNAME of acme.localhost." \
        in email.body_text


def test_servfail_is_not_a_failure_and_is_tried_again_an_hour_later(app, db, dns_server):
    agency, _ = make_agency()
    dns_server.failing.add(DOMAIN)
    with time_machine.travel(START, tick=False) as clock:
        account = _verified_account(agency)
        clock.shift(DAY)
        assert domain_checks.check_domains() == 1
        checked = _account(db, account.id)
        assert checked.custom_domain_failing_since is None and checked.custom_domain_verified_at == START
        clock.shift(timedelta(minutes=59))
        assert domain_checks.check_domains() == 0
        clock.shift(timedelta(minutes=1))
        dns_server.failing.discard(DOMAIN)
        dns_server.records[DOMAIN] = "elsewhere.test"
        assert domain_checks.check_domains() == 1  # answered now: a real failure
        assert _account(db, account.id).custom_domain_failing_since == START + DAY + timedelta(hours=1)
    assert len(_emails(db, "custom_domain_failing")) == 1


def test_servfail_during_the_grace_does_not_stop_the_domain(app, db, client, dns_server):
    agency, _ = make_agency()
    dns_server.records[DOMAIN] = "elsewhere.test"
    with time_machine.travel(START + DAY, tick=False) as clock:
        account = _verified_account(agency, verified_at=START)
        assert domain_checks.check_domains() == 1
        dns_server.failing.add(DOMAIN)
        for _ in range(9):
            clock.shift(DAY)
            domain_checks.check_domains()
        assert _account(db, account.id).custom_domain_verified_at == START
        assert _serves(client) == 200
    assert _emails(db, "custom_domain_stopped") == []


def test_a_dns_server_that_never_answers_changes_nothing(app, db, dns_server, monkeypatch):
    agency, _ = make_agency()
    account = _verified_account(agency, verified_at=datetime.now(timezone.utc) - 2 * DAY)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        monkeypatch.setitem(app.config, "DNS_NAMESERVERS", [f"127.0.0.1:{silent.getsockname()[1]}"])
        monkeypatch.setitem(app.config, "DNS_TIMEOUT", 0.3)
        assert domain_checks.check_domains() == 1
    account = _account(db, account.id)
    assert account.custom_domain_failing_since is None and account.custom_domain_verified_at is not None
    assert _emails(db) == []


def test_a_domain_that_points_back_is_cleared_and_the_agency_told(app, db, client, dns_server):
    agency, _ = make_agency(email="owner@agency.test")
    dns_server.records[DOMAIN] = "elsewhere.test"
    with time_machine.travel(START + DAY, tick=False) as clock:
        account = _verified_account(agency, verified_at=START)
        domain_checks.check_domains()
        clock.shift(3 * DAY)
        dns_server.records[DOMAIN] = "acme.localhost"
        assert domain_checks.check_domains() == 1
        cleared = _account(db, account.id)
        assert cleared.custom_domain_failing_since is None and cleared.custom_domain_found is None
        assert cleared.custom_domain_stops_at is None and cleared.custom_domain_verified_at == START
        [email] = _emails(db, "custom_domain_restored")
        assert email.to_address == "alerts@agency.test" and email.subject == "mail.acme.test points to acme again"
        clock.shift(DAY)
        domain_checks.check_domains()  # still fine: nothing more
        assert len(_emails(db)) == 2
        login(client, "owner@agency.test")
        page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert 'id="domain-failing"' not in page and 'id="domain-stopped"' not in page
    # A later spell of failing is a new one, told again.
    with time_machine.travel(START + 10 * DAY, tick=False):
        dns_server.records[DOMAIN] = "elsewhere.test"
        assert domain_checks.check_domains() == 1
    assert len(_emails(db, "custom_domain_failing")) == 2


def test_after_7_days_failing_the_domain_stops_serving_until_verified_again(app, db, client, dns_server):
    agency, _ = make_agency(email="owner@agency.test")
    dns_server.records[DOMAIN] = "elsewhere.test"
    with time_machine.travel(START + DAY, tick=False) as clock:
        account = _verified_account(agency, verified_at=START)
        domain_checks.check_domains()  # day 0 of the failing spell
        for day in range(1, 7):
            clock.shift(DAY)
            domain_checks.check_domains()
            assert _account(db, account.id).custom_domain_verified_at == START, day
        assert _serves(client) == 200
        assert client.get("/tls/ask", query_string={"domain": DOMAIN}).status_code == 200
        clock.shift(DAY)  # 7 days after it was first seen failing
        assert domain_checks.check_domains() == 1
        stopped = _account(db, account.id)
        assert stopped.custom_domain_verified_at is None and stopped.custom_domain == DOMAIN
        assert stopped.custom_domain_stopped == DOMAIN and stopped.custom_domain_stops_at == START + 8 * DAY
        # The dead domain is not routed and gets no certificate; the platform host still answers.
        assert _serves(client) == 404
        assert client.get("/tls/ask", query_string={"domain": DOMAIN}).status_code == 404
        assert _serves(client, "acme.localhost") == 200
        [email] = _emails(db, "custom_domain_stopped")
        assert email.to_address == "alerts@agency.test"
        assert email.subject == "mail.acme.test no longer serves acme"
        assert "the account answers only at acme.localhost" in email.body_text
        assert "Then press “Verify” on the account's page" in email.body_text
        clock.shift(DAY)
        assert domain_checks.check_domains() == 0  # not verified any more: not checked, nothing told again
        assert len(_emails(db, "custom_domain_stopped")) == 1
        assert len(_emails(db, "custom_domain_failing")) == 1
        login(client, "owner@agency.test")
        page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
        assert 'id="domain-stopped"' in page and "mail.acme.test stopped serving this account on Mar 10, 2031" in page
        assert "is a CNAME of elsewhere.test; it should be a CNAME of acme.localhost." in page
        # Fixed and verified again from the account's page: it serves again and the notes are gone.
        dns_server.records[DOMAIN] = "acme.localhost"
        token = csrf_token(page)
        client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "action": "verify"})
        page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
        assert 'id="domain-stopped"' not in page and 'id="domain-failing"' not in page and "is verified" in page
        assert _serves(client) == 200
        assert client.get("/tls/ask", query_string={"domain": DOMAIN}).status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "custom_domain_stopped")) == 1


def test_a_referred_accounts_client_is_told_under_its_brand_without_the_dashboard(app, db, dns_server):
    agency, _ = make_agency()
    dns_server.records[DOMAIN] = "elsewhere.test"
    with time_machine.travel(START + DAY, tick=False):
        _verified_account(agency, verified_at=START, kind="commission", notification_email="owner@acme.test")
        domain_checks.check_domains()
    [email] = _emails(db, "custom_domain_failing")
    assert email.to_address == "owner@acme.test" and email.from_name == "acme"
    assert "AgencyHQ" not in email.body_text + email.body_html + email.subject
    assert "/accounts/" not in email.body_text


def test_the_tls_ask_endpoint_answers_yes_only_for_hosts_the_app_serves(app, db, client):
    agency, _ = make_agency()
    make_account(agency, "acme", custom_domain=DOMAIN, custom_domain_verified_at=START)
    make_account(agency, "waiting", custom_domain="mail.waiting.test")
    yes = ["localhost", "acme.localhost", "waiting.localhost", DOMAIN, "MAIL.ACME.TEST."]
    no = ["mail.waiting.test", "nobody.localhost", "a.acme.localhost", "example.com", "localhost:5000",
          "acme.localhost:443", "127.0.0.1", "[::1]", "bad..name", "", "x" * 300]
    for host in yes + no:
        # Caddy asks on its own connection: any Host header, no cookie, no login.
        response = client.get("/tls/ask", query_string={"domain": host}, base_url="http://127.0.0.1:8000")
        assert response.status_code == (200 if host in yes else 404), host
        assert response.get_data() == b"" and "Set-Cookie" not in response.headers, host
        assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/tls/ask", base_url="http://127.0.0.1:8000").status_code == 404
