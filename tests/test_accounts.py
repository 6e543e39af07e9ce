"""Account lifecycle (A1-A10, S6): Add New with its first charge and provisioning, login-as, plan
changes, cancel, trials, custom domains, transfers, detaches and the support console."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from webapp.models import (AccountUser, AuditEvent, HostedAccount, Invoice, LoginAsToken, Operation, OutboundEmail,
                           SupportRequest, utcnow)
from webapp.services import accounts, billing
from webapp.jobs import sweeper
from webapp.services.audit import Actor

from .helpers import add_card, audited, confirm_change, csrf_token, login, make_account, make_agency, make_support

ACTOR = Actor("user:0", "tests")
YEAR = date.today().year + 1


def agency_with_card(email="owner@agency.test", number="4242424242424242"):
    agency, user = make_agency(email=email)
    add_card(agency, number)
    return agency, user


def form_data(client, **overrides):
    page = client.get("/accounts/new").get_data(as_text=True)
    key = re.search(r'id="request_key" name="request_key" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": csrf_token(page), "request_key": key, "name": "fresh-bakery", "custom_domain": "",
            "client_name": "Fresh Bakery", "client_email": "owner@fresh.test", "notification_email": "ops@agency.test",
            "language": "fr", "timezone": "Europe/Paris", "tier": "plus", "term": "monthly", "contact_limit": "1000"}
    data.update(overrides)
    return data


@pytest.mark.parametrize("name, reason", [
    ("ab", "3 to 40"), ("a" * 41, "3 to 40"), ("Bakery", "lowercase"), ("-bakery", "hyphens"),
    ("bakery-", "hyphens"), ("bak--ery", "hyphens"), ("bak_ery", "hyphens"), ("www", "reserved"),
    ("admin", "reserved"), ("taken-name", "already taken"),
])
def test_name_rules_say_why(db, name, reason):
    agency, _ = make_agency()
    make_account(agency, "taken-name")
    assert reason in accounts.name_problem(name)
    assert accounts.name_problem("fresh-bakery-2") is None


@pytest.mark.parametrize("domain, ok", [
    ("mail.example.com", True), ("MAIL.Example.COM.", True), ("example", False), ("-bad.example.com", False),
    ("bad_label.example.com", False), ("x" * 64 + ".com", False), ("mail.localhost", False), ("a.b.c.d.example.io", True),
    ("1.2.3.4", False),
])
def test_custom_domain_shape(db, domain, ok):
    assert (accounts.domain_problem(domain) is None) is ok


def test_name_check_and_live_price_fragments(client, db):
    agency, _ = agency_with_card()
    make_account(agency, "taken-name")
    login(client, "owner@agency.test")
    free = client.get("/accounts/name-check?name=fresh-bakery", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "is available" in free
    taken = client.get("/accounts/name-check?name=taken-name", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "already taken" in taken
    price = client.get("/accounts/price?tier=plus&term=monthly&contact_limit=1000",
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "$70.00" in price
    trial = client.get("/accounts/price?tier=plus&term=trial&contact_limit=100000",
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Free trial" in trial and 'value="100000"' not in trial  # trial limits in the refreshed choices
    assert client.get("/accounts/price?tier=evil&term=x&contact_limit=z", headers={"HX-Request": "true"}).status_code == 200


def test_add_and_pay_now_charges_once_and_provisions(client, db, run_jobs, app):
    agency, _ = agency_with_card()
    login(client, "owner@agency.test")
    data = form_data(client)
    response = client.post("/accounts/new", data=data)
    assert response.status_code == 303
    again = client.post("/accounts/new", data=data)  # a double click: same account, no second charge
    assert again.status_code == 303 and again.headers["Location"] == response.headers["Location"]
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "fresh-bakery"))
    assert account.status == "provisioning" and account.language == "fr" and account.plan_term == "monthly"
    invoice = db.session.scalar(sa.select(Invoice))
    assert invoice.kind == "signup" and invoice.account_id == account.id and invoice.status == "paid"
    assert len(billing.gateway().history("charge")) == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="provisioning"' in page and "every 1s" in page
    progress = f"/accounts/{account.id}/progress"
    polled = client.get(progress, headers={"HX-Request": "true"})
    assert 'id="provisioning-steps"' in polled.get_data(as_text=True) and "HX-Refresh" not in polled.headers
    run_jobs()
    # Once done, the poll reloads the page: its heading, Login and Change plan change with the panel.
    done = client.get(progress, headers={"HX-Request": "true"})
    assert done.headers["HX-Refresh"] == "true"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'</h1> <span class="badge status-active">Active</span>', page) and 'id="login-as"' in page
    assert "is ready" in page and 'id="cred-password"' in page
    assert re.search(r"http://fresh-bakery\.localhost(:\d+)?/app/login", page)
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id))
    assert admin.username == "admin"
    # Nothing was e-mailed to the client: only the agency's notification address.
    assert {e.to_address for e in db.session.scalars(sa.select(OutboundEmail))} == {"ops@agency.test"}
    token = csrf_token(page)
    client.post(f"/accounts/{account.id}/credentials/dismiss", data={"csrf_token": token})
    assert 'id="cred-password"' not in client.get(response.headers["Location"]).get_data(as_text=True)


def test_provisioning_registers_the_custom_domain_pending_verification_once(client, db, run_jobs, app):
    """A2, A9: a custom domain given at Add New is a provisioning step: registered pending verification, its
    CNAME record shown from the start (progress, account page, credentials, the agency's notice)."""
    from webapp.services import operations, provisioning
    agency_with_card()
    login(client, "owner@agency.test")
    response = client.post("/accounts/new", data=form_data(client, custom_domain="Mail.Fresh-Bakery.test"))
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    steps = re.findall(r'<li data-step="(\w+)"', page)
    assert steps == ["records", "admin", "branding", "templates", "domain", "notice", "activate"]
    assert "Custom domain registered, waiting for its CNAME record (mail.fresh-bakery.test)" in page
    assert "mail.fresh-bakery.test.  CNAME  fresh-bakery.localhost." in page
    run_jobs()
    account = db.session.scalar(sa.select(HostedAccount))
    op = db.session.scalar(sa.select(Operation).where(Operation.kind == "provision_account"))
    assert op.status == "succeeded" and op.total == 7
    assert op.result["custom_domain"] == {"domain": "mail.fresh-bakery.test", "cname_target": "fresh-bakery.localhost",
                                          "verified": False}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="credentials-domain"' in page and "mail.fresh-bakery.test is registered" in page
    assert "mail.fresh-bakery.test.  CNAME  fresh-bakery.localhost." in page and "Not verified" in page
    notice = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "account_ready"))
    assert "mail.fresh-bakery.test.  CNAME  fresh-bakery.localhost." in notice.body_text
    assert account.custom_domain_verified_at is None
    assert client.get("/app/login", base_url="http://mail.fresh-bakery.test").status_code == 404  # not before Verify
    # The step is idempotent: run again (a resumed worker), nothing is registered twice.
    provisioning.provision_account(operations.OperationContext(op))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "custom_domain_registered")) == 1
    # Without a custom domain the step has nothing to do, and the progress does not list it.
    response = client.post("/accounts/new", data=form_data(client, name="plain-bakery"))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-step="domain"' not in page and 'data-step="notice"' in page
    run_jobs()
    plain = db.session.scalar(sa.select(Operation).where(Operation.kind == "provision_account",
                                                         Operation.id != op.id))
    assert plain.status == "succeeded" and "custom_domain" not in plain.result


def test_add_new_shows_the_discounted_price_beside_the_list_price(client, db):
    """A1, B5: with five paid accounts the agency's 10 % tier is in force: the form shows both prices."""
    agency, _ = agency_with_card()
    for i in range(5):
        make_account(agency, f"paid-{i}")
    make_account(agency, "just-trying", plan_term="trial", contact_limit=500)  # trials do not count
    login(client, "owner@agency.test")
    page = client.get("/accounts/new").get_data(as_text=True)
    assert '<option value="Europe/Paris"><option value="Europe/Podgorica">' in page  # the time-zone list
    assert re.search(r'id="list-price">\s*\$70\.00 / month', page)
    assert "You pay (after your 10 % discount)" in page and 'id="discounted-price">$63.00<' in page
    annual = client.get("/accounts/price?tier=plus&term=annual&contact_limit=1000",
                        headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.search(r'id="list-price">\s*\$700\.00 / year', annual) and 'id="discounted-price">$630.00<' in annual
    # And what the agency pays is that discounted price.
    assert client.post("/accounts/new", data=form_data(client)).status_code == 303
    assert db.session.scalar(sa.select(Invoice.total_cents)) == 6300


def test_annual_plans_say_so_on_the_account_page_and_in_the_resold_row(client, db):
    """A6: an annual account renews yearly and shows so everywhere."""
    agency, _ = agency_with_card()
    yearly = make_account(agency, "yearly-shop", plan_term="annual", contact_limit=1000,
                          period_end=date.today() + timedelta(days=300))
    login(client, "owner@agency.test")
    page = client.get(f"/accounts/{yearly.id}").get_data(as_text=True)
    assert re.search(r'id="current-plan">Plus · Annual<', page)
    assert "Renews yearly on" in page and "Renews monthly on" not in page
    resold = client.get("/?plan=annual").get_data(as_text=True)
    row = re.search(r'<tr data-account="yearly-shop">.*?</tr>', resold, re.S).group(0)
    assert "Annual" in row and "Monthly" not in row and "$700.00" in row


def test_redis_down_at_add_and_pay_now_for_a_paid_plan_delays_it_then_it_completes_once_charged_once(
        client, db, run_jobs, app, monkeypatch):
    """A2 fault: the first period is charged at once; provisioning waits for the queue and runs once."""
    from webapp.services import operations
    from .test_billing import redis_down
    agency_with_card()
    login(client, "owner@agency.test")
    redis_down(monkeypatch, app.extensions["job_queue"])
    data = form_data(client)
    response = client.post("/accounts/new", data=data)
    assert response.status_code == 303
    assert client.post("/accounts/new", data=data).headers["Location"] == response.headers["Location"]  # a 2nd press
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Provisioning is delayed" in page
    account = db.session.scalar(sa.select(HostedAccount))
    assert account.status == "provisioning" and account.plan_term == "monthly"
    assert db.session.scalar(sa.select(Invoice.status)) == "paid" and len(_charges(billing.gateway())) == 1
    monkeypatch.undo()  # Redis is back: the sweeper hands the operation over (a second pass changes nothing)
    sweeper.sweep()
    sweeper.sweep()
    run_jobs()
    db.session.refresh(account)
    assert account.status == "active"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is ready" in page and 'id="cred-password"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1
    assert len(_charges(billing.gateway())) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail).where(
        OutboundEmail.kind == "account_ready")) == 1


def test_add_new_bad_input_creates_nothing(client, db):
    agency, _ = agency_with_card()
    make_account(agency, "taken-name")
    login(client, "owner@agency.test")
    cases = [({"name": "taken-name"}, "already taken"), ({"name": "www"}, "reserved"),
             ({"client_email": "not-an-email"}, "valid e-mail"), ({"notification_email": ""}, "write about"),
             ({"custom_domain": "bad..domain"}, "host name"), ({"contact_limit": "1234"},
              "Choose one of the contact limits offered: 500, 1,000, 2,500, 5,000, 10,000, 25,000, 50,000, 100,000."),
             ({"timezone": "Mars/Olympus"}, "time zone"),
             ({"term": "trial", "contact_limit": "50000"}, "A trial goes up to 500 contacts."),
             ({"tier": "gold"}, "Choose a plan tier.")]
    for overrides, message in cases:
        response = client.post("/accounts/new", data=form_data(client, **overrides))
        assert response.status_code == 422, overrides
        html = response.get_data(as_text=True)
        assert message in html and "Not a valid choice" not in html, overrides
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_a_declined_card_creates_nothing(client, db):
    agency_with_card(number="4000000000000341")
    login(client, "owner@agency.test")
    response = client.post("/accounts/new", data=form_data(client))
    assert response.status_code == 402 and "declined" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)) == 0
    assert db.session.scalar(sa.select(Invoice.status)) == "void"


def _request_key(html):
    return re.search(r'id="request_key" name="request_key" type="hidden" value="([^"]+)"', html).group(1)


def _charges(gateway):
    """The charges the gateway took (declined attempts are in its history too, without a reference)."""
    return [c for c in gateway.history("charge") if c["response"].get("reference")]


def test_after_a_decline_the_same_form_with_a_fixed_card_creates_the_account_charged_once(client, db):
    """A2: the re-shown form carries a fresh request key, so pressing Add & Pay Now again (after fixing
    the card) is a new attempt rather than the voided one; a stale key is a message, never an error page."""
    agency, _ = agency_with_card(number="4000000000000341")
    login(client, "owner@agency.test")
    data = form_data(client)
    declined = client.post("/accounts/new", data=data)
    assert declined.status_code == 402
    page = declined.get_data(as_text=True)
    assert "declined" in page and _request_key(page) != data["request_key"]
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=YEAR, cvc="123", actor=ACTOR)
    # The tab from before the decline (Back, then the button again): told what happened, with a new key.
    stale = client.post("/accounts/new", data=data)
    assert stale.status_code == 409 and "declined before and nothing was charged" in stale.get_data(as_text=True)
    assert _request_key(stale.get_data(as_text=True)) != data["request_key"]
    resent = client.post("/accounts/new", data={**data, "csrf_token": csrf_token(page), "request_key": _request_key(page)})
    assert resent.status_code == 303
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "fresh-bakery"))
    assert account is not None and account.status == "provisioning"
    assert len(_charges(billing.gateway())) == 1
    assert [i.status for i in db.session.scalars(sa.select(Invoice).order_by(Invoice.id))] == ["void", "paid"]


def test_a_trial_is_free_and_redis_down_only_delays_it(client, db, run_jobs, app, monkeypatch):
    from .test_billing import redis_down
    agency_with_card()
    login(client, "owner@agency.test")
    queue = app.extensions["job_queue"]
    redis_down(monkeypatch, queue)
    response = client.post("/accounts/new", data=form_data(client, term="trial", contact_limit="500"))
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Provisioning is delayed" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    monkeypatch.undo()
    from webapp.services import operations
    sweeper.sweep()
    run_jobs()
    account = db.session.scalar(sa.select(HostedAccount))
    db.session.refresh(account)
    assert account.status == "active" and account.plan_term == "trial"
    assert (account.period_end - date.today()).days == 14


def test_failed_provisioning_shows_its_reason_and_retry_never_charges_again(client, db, app, run_jobs, monkeypatch):
    from webapp.services import provisioning
    agency_with_card()
    login(client, "owner@agency.test")
    monkeypatch.setitem(app.config, "OPERATION_MAX_ATTEMPTS", 1)

    def broken(account):
        raise RuntimeError("template store unreachable")
    monkeypatch.setattr(provisioning, "_copy_templates", broken)
    response = client.post("/accounts/new", data=form_data(client))
    run_jobs()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Provisioning failed" in page and "Retry" in page
    # The reason is the error's class and message, not its class alone.
    assert "Provisioning failed: RuntimeError: template store unreachable (gave up after 1 attempt)" in page
    monkeypatch.undo()
    account = db.session.scalar(sa.select(HostedAccount))
    client.post(f"/accounts/{account.id}/retry", data={"csrf_token": csrf_token(page)})
    run_jobs()
    db.session.refresh(account)
    assert account.status == "active"
    again = client.post(f"/accounts/{account.id}/retry", data={"csrf_token": csrf_token(page)})  # a stale page
    assert again.status_code == 303
    assert "nothing to retry" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(billing.gateway().history("charge")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AccountUser)) == 1


def test_login_as_opens_the_account_once_with_a_banner_and_is_audited(client, app, db):
    agency, _ = agency_with_card()
    account = make_account(agency, "acme", admin_password="acme-secret-pass")
    login(client, "owner@agency.test")
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    response = client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token})
    link = response.headers["Location"]
    assert response.status_code == 303 and re.match(r"http://acme\.localhost(:\d+)?/app/login-as\?token=", link)
    client_side = app.test_client()
    opened = client_side.get(link)
    assert opened.status_code == 303
    overview = client_side.get("/app/", base_url="http://acme.localhost").get_data(as_text=True)
    assert "Signed in by your agency" in overview
    assert app.test_client().get(link).status_code == 403  # single use
    other = make_account(agency, "other", admin_password="x-secret-pass")
    assert app.test_client().get(link.replace("acme.", "other."), base_url="http://other.localhost").status_code == 403
    client_side.post("/app/logout", base_url="http://acme.localhost",
                     data={"csrf_token": csrf_token(overview)})
    assert audited(db) == ["billing_card_saved", "login_as_link", "login_as_started", "login_as_ended"]
    assert other.id
    # Expired links do not work either.
    from webapp.models import utcnow
    client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token})
    db.session.execute(sa.update(LoginAsToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    last = client.post(f"/accounts/{account.id}/login-as", data={"csrf_token": token}).headers["Location"]
    db.session.execute(sa.update(LoginAsToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert app.test_client().get(last).status_code == 403


def test_upgrade_is_charged_pro_rata_and_a_downgrade_waits(db):
    agency, _ = agency_with_card()
    account = make_account(agency, plan_tier="plus", plan_term="monthly", contact_limit=1000,
                           period_start=date.today(), period_end=date.today() + timedelta(days=15))
    result = accounts.change_plan(account, tier="professional", term="monthly", contact_limit=1000,
                                  request_key="r1", actor=ACTOR)
    # (187.00 - 70.00) / 30 a day for 15 days = 58.50
    assert result["change"] == "upgrade" and result["invoice"].total_cents == 5850
    assert account.plan_tier == "professional"
    result = accounts.change_plan(account, tier="lite", term="monthly", contact_limit=500, request_key="r2", actor=ACTOR)
    assert result["change"] == "downgrade" and account.plan_tier == "professional"
    assert (account.pending_plan_tier, account.pending_contact_limit) == ("lite", 500)
    with pytest.raises(Exception):
        accounts.change_plan(account, tier="plus", term="monthly", contact_limit=1234, request_key="r3", actor=ACTOR)


def test_change_plan_says_which_part_of_the_plan_is_not_offered(client, db):
    """A8: an unknown tier is about the tier, not the contact limit; a contact limit off the catalog lists the steps."""
    from webapp.services.errors import ValidationFailed
    agency, _ = agency_with_card()
    account = make_account(agency, "changing")
    with pytest.raises(ValidationFailed) as tier:
        accounts.change_plan(account, tier="gold", term="monthly", contact_limit=1000, request_key="k1", actor=ACTOR)
    assert tier.value.fields == {"tier": "Choose a plan tier."}
    with pytest.raises(ValidationFailed) as limit:
        accounts.change_plan(account, tier="plus", term="monthly", contact_limit=1234, request_key="k2", actor=ACTOR)
    assert limit.value.fields["contact_limit"].startswith("Choose one of the contact limits offered: 500, 1,000, ")
    login(client, "owner@agency.test")
    page = client.get(f"/accounts/{account.id}/change?tier=gold&term=monthly&contact_limit=1000")
    assert page.status_code == 422
    assert "Choose a plan tier." in page.get_data(as_text=True)
    assert "contact limit is not offered" not in page.get_data(as_text=True)
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    posted = client.post(f"/accounts/{account.id}/plan", data={"csrf_token": token, "plan-tier": "gold",
                                                               "plan-term": "monthly", "plan-contact_limit": "1000",
                                                               "plan-request_key": "k3", "plan-quote": "forged"})
    assert posted.status_code == 422 and "Choose a plan tier." in posted.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


def test_downgrade_takes_effect_at_the_renewal(db):
    from webapp.services import renewals
    agency, _ = agency_with_card()
    account = make_account(agency, plan_tier="professional", contact_limit=1000, period_end=date.today(),
                           period_start=date.today() - timedelta(days=30), pending_plan_tier="lite",
                           pending_plan_term="monthly", pending_contact_limit=500)
    invoice = renewals.renew(account.id, date.today())
    assert invoice.list_price_cents == 1500 and account.plan_tier == "lite" and account.pending_plan_tier is None


def test_cancel_once_then_expire_at_period_end(client, db):
    from webapp.services import renewals
    agency, _ = agency_with_card()
    account = make_account(agency, "leaving", period_end=date.today() + timedelta(days=3))
    login(client, "owner@agency.test")
    assert "Yes, cancel" in client.get(f"/accounts/{account.id}/cancel").get_data(as_text=True)
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    assert client.post(f"/accounts/{account.id}/cancel", data={"csrf_token": token}).status_code == 303
    db.session.refresh(account)
    assert account.status == "cancelled" and account.cancelled_at is not None
    client.post(f"/accounts/{account.id}/cancel", data={"csrf_token": token})
    assert "already cancelled" in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert renewals.expire_ended(date.today()) == 0  # still usable
    assert renewals.expire_ended(date.today() + timedelta(days=3)) == 1
    db.session.refresh(account)
    assert account.status == "expired"


def test_trials_extend_once_then_ask_support_and_renew_to_paid(db):
    agency, _ = agency_with_card()
    trial = make_account(agency, "trying", plan_term="trial", contact_limit=500, status="expired",
                         period_end=date.today() - timedelta(days=1))
    first = accounts.extend_trial(trial, ACTOR)
    assert first["extended"] and trial.status == "active" and trial.period_end == date.today() + timedelta(days=14)
    second = accounts.extend_trial(trial, ACTOR)
    assert not second["extended"] and second["request"].kind == "trial_extension"
    with pytest.raises(Exception, match="already with support"):
        accounts.extend_trial(trial, ACTOR)
    result = accounts.change_plan(trial, tier="plus", term="annual", contact_limit=1000, request_key="t", actor=ACTOR)
    assert result["change"] == "trial_to_paid" and result["invoice"].total_cents == 70000
    assert trial.plan_term == "annual" and trial.status == "active"
    assert (trial.period_end - date.today()).days >= 365


def _at_once(app, calls):
    """Run each call in its own thread and app context, started together; return results or exceptions."""
    import threading
    from webapp.extensions import db as _db
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        with app.app_context():
            try:
                barrier.wait()
                results[i] = call()
            except Exception as exc:  # noqa: BLE001 - returned for the assertions
                results[i] = exc
            finally:
                _db.session.remove()
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_clicks_at_once_extend_a_trial_once_and_support_decides_a_request_once(app, db):
    """The agency's one extension and support's decision are each claimed by a conditional UPDATE (A5, S6)."""
    from webapp.extensions import db as _db
    from webapp.services import support
    agency, _ = agency_with_card()
    trial = make_account(agency, "racing", plan_term="trial", contact_limit=500,
                         period_end=date.today() + timedelta(days=2))
    trial_id = trial.id

    def extend():
        return accounts.extend_trial(_db.session.get(HostedAccount, trial_id), ACTOR)
    results = _at_once(app, [extend, extend, extend])
    db.session.expire_all()
    extended = [r for r in results if isinstance(r, dict) and r["extended"]]
    assert len(extended) == 1, results
    assert db.session.get(HostedAccount, trial_id).trial_extensions == 1
    assert db.session.get(HostedAccount, trial_id).period_end == date.today() + timedelta(days=16)
    request = db.session.scalar(sa.select(SupportRequest).where(SupportRequest.account_id == trial_id))
    request_id = request.id
    staff = [make_support(email=f"staff{i}@agencyhq.test") for i in range(3)]
    staff_ids = [s.id for s in staff]

    def decide(i):
        return lambda: support.decide(request_id, approve=True, reason="", staff=_db.session.get(type(staff[0]), staff_ids[i]),
                                      actor=Actor(f"user:{staff_ids[i]}", "staff"))
    results = _at_once(app, [decide(i) for i in range(3)])
    db.session.expire_all()
    assert sum(1 for r in results if isinstance(r, SupportRequest)) == 1, results
    assert all("already decided" in str(r) for r in results if not isinstance(r, SupportRequest)), results
    assert db.session.get(HostedAccount, trial_id).trial_extensions == 2
    assert db.session.get(HostedAccount, trial_id).period_end == date.today() + timedelta(days=30)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "trial_extension_approved")) == 1


def test_renew_on_an_expired_paid_account_starts_a_paid_period_from_the_dashboard(client, db):
    """The Resold tab's Renew leads to the plan form for every expired account, trial or paid (A5, A7)."""
    agency, _ = agency_with_card()
    lapsed = make_account(agency, "lapsed", status="expired", cancelled_at=datetime.now(timezone.utc),
                          period_end=date.today() - timedelta(days=3))
    login(client, "owner@agency.test")
    confirm_change(client, lapsed.id, tier="plus", term="monthly", contact_limit=1000, request_key="renew-1")
    db.session.refresh(lapsed)
    assert lapsed.status == "active" and lapsed.cancelled_at is None and lapsed.period_end > date.today()
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == lapsed.id))
    assert invoice.status == "paid" and invoice.total_cents == 7000 and invoice.kind == "reactivation"
    with pytest.raises(Exception, match="Only an expired account"):
        accounts.renew(lapsed, tier="plus", term="monthly", contact_limit=1000, request_key="again", actor=ACTOR)


def test_custom_domain_is_verified_by_a_real_dns_query(client, db, dns_server):
    agency, _ = agency_with_card()
    account = make_account(agency, "acme", admin_password="acme-secret-pass")
    login(client, "owner@agency.test")
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "domain-domain": "Mail.Acme.test",
                                                        "action": "save"})
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "mail.acme.test.  CNAME  acme.localhost." in page
    client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "action": "verify"})
    assert "no CNAME record" in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 404
    dns_server.records["mail.acme.test"] = "somewhere.else.test"
    client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "action": "verify"})
    assert "points to somewhere.else.test" in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    dns_server.records["mail.acme.test"] = "acme.localhost"
    client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "action": "verify"})
    assert "is verified" in client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 200


def test_a_dns_lookup_failure_says_so_and_leaves_the_domain_unverified(client, app, db, dns_server, monkeypatch):
    """A9: a server answering SERVFAIL, or none answering at all, is a clear message; nothing is verified."""
    import socket
    agency, _ = agency_with_card()
    account = make_account(agency, "acme", custom_domain="mail.acme.test")
    login(client, "owner@agency.test")
    token = csrf_token(client.get(f"/accounts/{account.id}").get_data(as_text=True))
    dns_server.failing.add("mail.acme.test")
    client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "action": "verify"})
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "The DNS servers could not look up mail.acme.test (they answered with an error)" in page
    # A DNS server that never answers: a socket on loopback nobody reads.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        monkeypatch.setitem(app.config, "DNS_NAMESERVERS", [f"127.0.0.1:{silent.getsockname()[1]}"])
        monkeypatch.setitem(app.config, "DNS_TIMEOUT", 0.5)
        response = client.post(f"/accounts/{account.id}/domain", data={"csrf_token": token, "action": "verify"})
    assert response.status_code == 303
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert "The DNS servers did not answer about mail.acme.test in time, so it is not verified yet" in page
    db.session.refresh(account)
    assert account.custom_domain_verified_at is None and "Not verified" in page
    assert client.get("/app/login", base_url="http://mail.acme.test").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "custom_domain_verified")) == 0


def test_a_custom_domain_already_used_is_refused_with_a_message(client, db):
    """A9: a verified domain is unique platform-wide, at Add New and on the account page; nothing charged,
    nothing changed, and the message does not say who holds it."""
    agency, _ = agency_with_card()
    other, _ = make_agency(email="rival@agency.test")
    make_account(other, "first-owner", custom_domain="mail.shared.test", custom_domain_verified_at=utcnow())
    mine = make_account(agency, "second-owner")
    login(client, "owner@agency.test")
    response = client.post("/accounts/new", data=form_data(client, custom_domain="MAIL.shared.test."))
    assert response.status_code == 422
    assert "This domain is already in use on the platform." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0
    assert db.session.scalar(sa.select(HostedAccount.id).where(HostedAccount.name == "fresh-bakery")) is None
    token = csrf_token(client.get(f"/accounts/{mine.id}").get_data(as_text=True))
    client.post(f"/accounts/{mine.id}/domain", data={"csrf_token": token, "domain-domain": "mail.shared.test",
                                                     "action": "save"})
    assert "This domain is already in use on the platform." in client.get(f"/accounts/{mine.id}").get_data(as_text=True)
    db.session.refresh(mine)
    assert mine.custom_domain is None


def test_transfer_in_detach_and_the_support_console(client, app, db, run_jobs):
    agency, user = agency_with_card()
    other, _ = make_agency(email="previous@agency.test")
    moving = make_account(other, "moving-shop", admin_password="moving-pass-1", client_email="boss@moving.test")
    staying = make_account(agency, "staying")
    staff = make_support()
    actor = Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role)
    from webapp.services import support
    support.request_transfer(agency.id, user, account_name="moving-shop", admin_email="BOSS@moving.test", actor=actor)
    ghost = support.request_transfer(agency.id, user, account_name="ghost", admin_email="a@b.test", actor=actor)
    assert ghost.account_id is None  # same answer, nothing e-mailed
    emails = db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind == "transfer_confirm")).all()
    assert [e.to_address for e in emails] == ["boss@moving.test"]
    link = re.search(r"(/transfer/confirm/\S+)", emails[0].body_text).group(1)
    confirm = client.get(link)
    assert confirm.status_code == 200
    assert client.post(link, data={"csrf_token": csrf_token(confirm.get_data(as_text=True))}).status_code == 200
    assert client.get("/transfer/confirm/forged").status_code == 200
    assert client.post("/transfer/confirm/forged", data={"csrf_token": csrf_token(confirm.get_data(as_text=True))}).status_code == 404
    support.request_detach(staying, user, client_email="owner@staying.test", actor=actor)
    login(client, staff.email)
    console = client.get("/support").get_data(as_text=True)
    assert "Transfer moving-shop" in console and "Detach staying" in console
    token = csrf_token(console)
    requests = {r.kind: r for r in db.session.scalars(sa.select(SupportRequest).where(SupportRequest.status == "open"))}
    rejected = client.post(f"/support/requests/{requests['detach'].id}/decide", data={"csrf_token": token,
                                                                                    "decision": "reject"})
    assert rejected.status_code == 422 and "Say why" in rejected.get_data(as_text=True)  # by the field (issue 23)
    client.post(f"/support/requests/{requests['transfer'].id}/decide", data={"csrf_token": token, "decision": "approve"})
    client.post(f"/support/requests/{requests['detach'].id}/decide", data={"csrf_token": token, "decision": "approve"})
    db.session.expire_all()
    assert db.session.get(HostedAccount, moving.id).agency_id == agency.id
    detached = db.session.get(HostedAccount, staying.id)
    assert detached.agency_id is None and detached.kind == "standalone"
    found = client.get("/support?q=moving").get_data(as_text=True)
    assert 'data-found="moving-shop"' in found
    audit = client.get("/support?action=transfer_approved").get_data(as_text=True)
    assert audit.count('data-event="transfer_approved"') == 1
    assert {e.subject for e in db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind.like("%_decided")))} \
        >= {"The transfer of moving-shop was approved"}
    # The agency cannot reach the console, and support's decision cannot be made twice.
    again = client.post(f"/support/requests/{requests['transfer'].id}/decide", data={"csrf_token": token, "decision": "approve"})
    assert "already decided" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_transfer_decisions_go_to_the_requesting_agency_which_then_gets_the_notices(db):
    """A3: the previous agency's notification address is not told; the new owner is, and from the
    approval on the account's notices (billing, abuse, bounces) go to the new owner."""
    from webapp.services import support
    agency, user = agency_with_card(number="4000000000000341")
    previous, _ = make_agency(email="previous@agency.test")
    moving = make_account(previous, "moving-shop", admin_password="moving-pass-1", client_email="boss@moving.test",
                          notification_email="alerts@previous.test", period_end=date.today())
    refused = make_account(previous, "staying-put", admin_password="staying-pass-1",
                           client_email="boss@staying.test", notification_email="alerts@previous.test")
    staff = make_support()
    actor = Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role)
    requests = []
    for account, admin in ((moving, "boss@moving.test"), (refused, "boss@staying.test")):
        support.request_transfer(agency.id, user, account_name=account.name, admin_email=admin, actor=actor)
        request = db.session.scalar(sa.select(SupportRequest).where(SupportRequest.account_id == account.id))
        request.status = "open"  # the admin confirmed (confirm_transfer is covered above)
        db.session.commit()
        requests.append(request.id)
    staff_actor = Actor(f"user:{staff.id}", staff.email)
    support.decide(requests[0], approve=True, reason="", staff=staff, actor=staff_actor)
    support.decide(requests[1], approve=False, reason="The admin says no", staff=staff, actor=staff_actor)
    db.session.expire_all()
    decided = {e.subject: e.to_address for e in db.session.scalars(
        sa.select(OutboundEmail).where(OutboundEmail.kind == "transfer_decided"))}
    assert decided == {"The transfer of moving-shop was approved": "owner@agency.test",
                       "The transfer of staying-put was rejected": "owner@agency.test"}
    moved = db.session.get(HostedAccount, moving.id)
    assert moved.agency_id == agency.id and moved.notification_email == "owner@agency.test"
    kept = db.session.get(HostedAccount, refused.id)
    assert kept.agency_id == previous.id and kept.notification_email == "alerts@previous.test"
    # The next billing notice of the moved account (a declined renewal on the new agency's card) goes to the new owner.
    from webapp.services import renewals
    renewals.renew(moved.id, moved.period_end)
    notice = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "renewal_declined"))
    assert notice.to_address == "owner@agency.test"


def test_a_detached_account_writes_to_its_client_from_then_on(db):
    """A4: once detached, the account is the client's: the agency's address no longer gets its notices,
    and the agency is told of the decision."""
    from webapp.services import support
    agency, user = agency_with_card()
    account = make_account(agency, "going-solo", notification_email="alerts@agency.test")
    staff = make_support()
    request = support.request_detach(account, user, client_email="me@solo.test",
                                     actor=Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role))
    support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor(f"user:{staff.id}", staff.email))
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).notification_email == "me@solo.test"
    told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "detach_decided"))
    assert told.to_address == "owner@agency.test"


def test_support_console_audit_log_filters_by_account_and_since_date(client, db):
    """S6: the audit log narrows to one account, to events since a day, and both with an action."""
    agency, user = agency_with_card()
    acme, other = make_account(agency, "acme-shop"), make_account(agency, "other-shop")
    staff = make_support()
    old = datetime.now(timezone.utc) - timedelta(days=10)
    db.session.add_all([
        AuditEvent(actor="user:1", actor_label="a@agency.test", action="account_created", account_id=acme.id, at=old),
        AuditEvent(actor="user:1", actor_label="a@agency.test", action="account_cancelled", account_id=acme.id),
        AuditEvent(actor="user:1", actor_label="a@agency.test", action="account_created", account_id=other.id, at=old),
        AuditEvent(actor="user:1", actor_label="a@agency.test", action="account_cancelled", account_id=other.id),
    ])
    db.session.commit()
    login(client, staff.email)

    def rows(**params):
        html = client.get("/support", query_string=params).get_data(as_text=True)
        audit = html[html.index('id="audit"'):]
        return re.findall(r'<tr data-event="(\w+)">.*?</tr>', audit, re.S), audit
    assert sorted(rows(account="acme-shop")[0]) == ["account_cancelled", "account_created"]
    assert sorted(rows(account="ACME-shop ")[0]) == ["account_cancelled", "account_created"]  # as typed
    assert len(rows(account="other-shop")[0]) == 2 and rows(account="nobody")[0] == []
    since = (date.today() - timedelta(days=2)).isoformat()
    recent, html = rows(since=since)
    assert sorted(recent) == ["account_cancelled", "account_cancelled", "billing_card_saved", "sign_in_succeeded"]
    assert f'value="{since}"' in html  # the filter is kept in the form
    assert rows(account="acme-shop", since=since)[0] == ["account_cancelled"]
    assert rows(account="acme-shop", since=since, action="account_created")[0] == []
    assert len(rows(since="not-a-date")[0]) == 6  # a malformed date filters nothing out


def test_a_detached_account_leaves_the_resold_tab_and_the_renewals(client, db):
    """A4: once support detaches it, the agency no longer lists it, reaches it or renews it."""
    from webapp.services import renewals, support
    agency, user = agency_with_card()
    leaving = make_account(agency, "leaving-shop", period_end=date.today() - timedelta(days=1))
    staying = make_account(agency, "staying-shop", period_end=date.today() - timedelta(days=1))
    request = support.request_detach(leaving, user, client_email="me@leaving.test",
                                     actor=Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role))
    staff = make_support()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor(f"user:{staff.id}", staff.email))
    login(client, "owner@agency.test")
    for query in ("/", "/?status=all", "/?status=expired", "/?q=leaving"):
        html = client.get(query).get_data(as_text=True)
        assert 'data-account="leaving-shop"' not in html, query
    assert 'data-account="staying-shop"' in client.get("/?status=all").get_data(as_text=True)
    assert client.get(f"/accounts/{leaving.id}").status_code == 404
    # Both were due yesterday: the sweep renews the one still resold, never the detached one.
    due = [row.id for row in renewals.due_accounts(date.today())]
    assert due == [staying.id]
    renewals.sweep_renewals()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Operation).where(
        Operation.kind == "renew_account", Operation.subject_id == leaving.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice).where(
        Invoice.account_id == leaving.id)) == 0


def test_another_agencys_account_answers_404_to_every_action(client, db):
    agency_with_card()
    other, _ = make_agency(email="x@agency.test")
    theirs = make_account(other, "theirs")
    login(client, "owner@agency.test")
    token = csrf_token(client.get("/accounts/new").get_data(as_text=True))
    for path in ("login-as", "cancel", "extend-trial", "plan", "domain", "detach", "retry"):
        assert client.post(f"/accounts/{theirs.id}/{path}", data={"csrf_token": token}).status_code == 404, path
    assert client.get(f"/accounts/{theirs.id}/progress").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.account_id == theirs.id)) == 0


def test_the_support_console_pages_its_queue_and_its_audit_log(client, db):
    """S6: 60 waiting requests and 60 events show 50 at a time, oldest request and newest event first;
    each list pages on its own and keeps the other's place and the filters; a bad page number is page 1."""
    agency, _ = make_agency()
    accounts = [make_account(agency, f"trying-{i:02d}", plan_term="trial", contact_limit=500) for i in range(60)]
    start = utcnow() - timedelta(hours=2)
    for i, account in enumerate(accounts):
        db.session.add(SupportRequest(kind="trial_extension", status="open", agency_id=agency.id, account_id=account.id,
                                      subject=f"Extend trying-{i:02d}", created_at=start + timedelta(minutes=i)))
        db.session.add(AuditEvent(at=start + timedelta(minutes=i), actor="system", actor_label="AgencyHQ",
                                  action="trial_extension_requested", account_id=account.id, detail={"n": i}))
    db.session.commit()
    login(client, make_support().email)
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.action.like("sign_in_%")))  # only the 60 above
    db.session.commit()

    def shown(url):
        page = client.get(url).get_data(as_text=True)
        requests = re.findall(r"<td>Extend (trying-\d+)", page)
        events = [int(n) for n in re.findall(r"n=(\d+) ", page)]
        return page, requests, events

    page, requests, events = shown("/support")
    assert re.search(r'id="queue-total">60<', page) and "Page 1 of 2" in page
    assert requests == [f"trying-{i:02d}" for i in range(50)] and events == list(range(59, 9, -1))
    assert 'rel="prev"' not in page
    later = re.search(r'href="([^"]*page=2[^"]*)"[^>]*>Later requests', page.replace("&amp;", "&"), re.S)
    page, requests, events = shown(later.group(1) if later else "missing")
    assert requests == [f"trying-{i:02d}" for i in range(50, 60)] and len(events) == 50  # the log stays on page 1
    page, requests, events = shown("/support?kind=trial_extension&page=2&audit_page=2&action=trial_extension_requested")
    assert requests == [f"trying-{i:02d}" for i in range(50, 60)] and events == list(range(9, -1, -1))
    newer = re.search(r'<a[^>]*href="([^"]*)"[^>]*>Newer', page.replace("&amp;", "&"), re.S).group(1)
    assert "audit_page=1" in newer and "page=2" in newer and "action=trial_extension_requested" in newer
    assert "Older" not in page
    for bad in ("0", "-3", "abc", "1.5", ""):
        assert shown(f"/support?page={bad}&audit_page={bad}")[1:] == ([f"trying-{i:02d}" for i in range(50)],
                                                                       list(range(59, 9, -1)))
    # Past the end: the queue shows its last page (as the Resold tab and the billing history do); the
    # log, which is not counted, says there is nothing older and links back.
    page, requests, events = shown("/support?page=99999999&audit_page=99999999")
    assert requests == [f"trying-{i:02d}" for i in range(50, 60)] and "Page 2 of 2" in page
    assert events == [] and "No older events." in page and "Nothing has been logged yet." not in page
    assert re.search(r'rel="prev"\s+href="[^"]*audit_page=999999', page)
    filtered = shown("/support?account=nobody-here")[0]
    assert "No event matches these filters." in filtered and "Nothing has been logged yet." not in filtered


def test_a_transferred_account_takes_its_new_agencys_white_label_unless_it_has_its_own(client, db):
    """A3, W1: after the transfer, the branding rows belong to the new agency; an account without a
    white label of its own shows the new agency's, one with its own keeps it."""
    from webapp.models import Branding
    from webapp.services import support
    old, _ = make_agency(email="previous@agency.test")
    new, _ = make_agency(email="next@agency.test")
    db.session.add_all([Branding(agency_id=old.id, product_name="Old Reseller Mail"),
                        Branding(agency_id=new.id, product_name="New Reseller Mail", primary_color="#0b6e4f")])
    plain = make_account(old, "plain-shop", admin_password="plain-pass-1")
    own = make_account(old, "own-shop", branding_overridden=True)
    db.session.add_all([Branding(agency_id=old.id, account_id=plain.id, product_name="Old Reseller Mail"),
                        Branding(agency_id=old.id, account_id=own.id, product_name="Own Shop Mail")])
    requests = [SupportRequest(kind="transfer", status="open", agency_id=new.id, account_id=a.id, subject=f"Transfer {a.name}")
                for a in (plain, own)]
    db.session.add_all(requests)
    db.session.commit()
    staff = make_support()
    for request in requests:
        support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor.system())
    db.session.expire_all()
    rows = {r.account_id: r for r in db.session.scalars(sa.select(Branding).where(Branding.account_id.is_not(None)))}
    assert {r.agency_id for r in rows.values()} == {new.id}
    assert (rows[plain.id].product_name, rows[plain.id].primary_color) == ("New Reseller Mail", "#0b6e4f")
    assert rows[own.id].product_name == "Own Shop Mail"
    page = client.get("/app/login", base_url="http://plain-shop.localhost").get_data(as_text=True)
    assert "New Reseller Mail" in page and "Old Reseller Mail" not in page


def test_add_new_says_every_problem_in_one_answer(client, db):
    """A1: the form's own checks and the service's (reserved name, time zone, contact limit) come back
    together, each next to its field once; nothing is created or charged."""
    agency_with_card()
    login(client, "owner@agency.test")
    response = client.post("/accounts/new", data=form_data(client, name="www", client_name="", client_email="nope",
                                                           timezone="Mars/Olympus", contact_limit="12345"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("reserved", "Enter the client's name.", "Enter a valid e-mail address.",
                    "Choose a time zone from the list", "Choose one of the contact limits offered"):
        assert message in page, message
    assert page.count("Enter a valid e-mail address.") == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 0


@pytest.mark.parametrize("typed", ["", "bad", "x" * 5000 + "@example.test", "a@b"])
def test_a_detach_needs_a_real_client_email_and_asks_nothing_otherwise(db, typed):
    """The address becomes the account's notification e-mail: checked as every e-mail field is."""
    from webapp.models import SupportRequest
    from webapp.services import support
    from webapp.services.errors import ValidationFailed
    agency, user = agency_with_card()
    account = make_account(agency, "going-solo")
    with pytest.raises(ValidationFailed) as refused:
        support.request_detach(account, user, client_email=typed,
                               actor=Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role))
    assert "client_email" in refused.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SupportRequest)) == 0


def test_a_doctored_contact_limit_of_5000_digits_is_refused_by_the_field(db):
    from webapp.services.errors import ValidationFailed
    agency, user = agency_with_card()
    account = make_account(agency, "huge")
    with pytest.raises(ValidationFailed):
        accounts.change_plan(account, tier="plus", term="monthly", contact_limit="9" * 5000, request_key="k",
                             actor=Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role))
