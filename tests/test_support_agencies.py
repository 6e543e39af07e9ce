"""Support's side of issue 19: the Agencies page and each agency's detail, applications approved or
rejected, suspension (sign-in and the API refused, the clients' accounts and renewals untouched) and
reactivation, agencies created by support, a user's 2FA reset, and support logging into any hosted
account with a reason the agency is told."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from webapp.models import (Agency, AuditEvent, HostedAccount, Invoice, LoginAsToken, LoginSession, OutboundEmail,
                           User, utcnow)
from webapp.services import api_tokens, billing, renewals
from webapp.services.audit import Actor

from .helpers import PASSWORD, audited, csrf_token, login, make_account, make_agency, make_support

ACTOR = Actor("user:0", "tests")
YEAR = date.today().year + 1
STRONG = "a-long-enough-passphrase-42"


@pytest.fixture
def staff(db, client):
    user = make_support()
    assert login(client, user.email).status_code == 303
    return user


def page_token(client, path="/support/agencies"):
    return csrf_token(client.get(path).get_data(as_text=True))


def emails(db, kind):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.kind == kind)
                                   .order_by(OutboundEmail.id)))


def state_of(db, agency_id):
    db.session.expire_all()
    return db.session.get(Agency, agency_id).state


def awaiting(name="Applicant Co", email="applicant@agency.test"):
    agency, owner = make_agency(name, email=email)
    agency.state = "awaiting_approval"
    from webapp.extensions import db
    db.session.commit()
    return agency, owner


# ---- the list and the detail -----------------------------------------------------------------------

def test_agencies_page_searches_names_and_emails_filters_by_state_and_answers_htmx_with_the_fragment(
        client, db, staff):
    make_agency("Northwind Digital", email="boss@northwind.test")
    make_agency("Blue_Fox Media", email="first_last@bluefox.test")
    awaiting("Waiting Room", email="queue@waiting.test")
    full = client.get("/support/agencies?q=northwind")
    html = full.get_data(as_text=True)
    assert full.status_code == 200 and "HX-Request" in full.headers["Vary"]
    assert "Northwind Digital" in html and "Blue_Fox" not in html and "<html" in html
    assert "boss@northwind.test" in html  # the owner's e-mail beside the name
    # A user's e-mail finds its agency, and "_" is a character, not a wildcard.
    by_email = client.get("/support/agencies?q=first_last").get_data(as_text=True)
    assert "Blue_Fox Media" in by_email and "Northwind" not in by_email
    assert "Blue_Fox" not in client.get("/support/agencies?q=first%last").get_data(as_text=True)
    by_state = client.get("/support/agencies?state=awaiting_approval").get_data(as_text=True)
    assert "Waiting Room" in by_state and "Northwind" not in by_state
    assert 'value="awaiting_approval" selected' in by_state
    # An unknown state is no filter, never an error.
    assert "Northwind" in client.get("/support/agencies?state=bogus").get_data(as_text=True)
    fragment = client.get("/support/agencies?state=awaiting_approval", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "Waiting Room" in body and "<html" not in body and 'id="agency-search"' not in body
    assert "HX-Request" in fragment.headers["Vary"]
    # A history restore gets the whole page.
    restore = client.get("/support/agencies", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_only_support_staff_see_the_agencies_pages(client, db):
    agency, _ = make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    assert client.get("/support/agencies").status_code == 403
    assert client.get(f"/support/agencies/{agency.id}").status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    for action in ("suspend", "approve", "reactivate"):
        assert client.post(f"/support/agencies/{agency.id}/{action}",
                           data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert client.post("/support/agencies", data={"csrf_token": token, "agency_name": "Mine",
                                                  "email": "mine@agency.test"}).status_code == 403
    assert state_of(db, agency.id) == "active"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 1


def test_agency_detail_shows_users_roles_2fa_accounts_money_card_and_state(client, db, staff):
    agency, owner = make_agency("Detail Co", email="owner@detail.test")
    member = User(email="member@detail.test", name="Mia Member", password_hash=None, role="agency",
                  team_role="member", agency_id=agency.id, email_confirmed_at=utcnow(),
                  totp_secret="JBSWY3DPEHPK3PXP", totp_enabled_at=utcnow())
    db.session.add(member)
    db.session.commit()
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=YEAR, cvc="123", actor=ACTOR)
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    make_account(agency, "paid-one")
    make_account(agency, "trial-one", plan_term="trial")
    response = client.get(f"/support/agencies/{agency.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "owner@detail.test" in html and "Mia Member" in html and "Owner" in html and "Member" in html
    assert re.search(r'data-user="member@detail.test">.*?text-bg-success">On<', html, re.S)  # 2FA on
    assert re.search(r'id="agency-accounts">2<', html) and re.search(r'id="agency-paid">1<', html)
    assert 'data-account="paid-one"' in html and 'data-account="trial-one"' in html
    assert re.search(r'id="agency-card">Visa ···· 4242<', html)
    assert "$50.00" in html  # the prepaid balance
    assert re.search(r'id="agency-discount">\d+ %<', html)
    assert "Suspend the agency" in html and "Pushdown automations (franchise)" in html
    assert client.get("/support/agencies/999999").status_code == 404
    assert client.get("/support/agencies/abc").status_code == 404


# ---- applications ----------------------------------------------------------------------------------

def test_an_approved_application_emails_the_applicant_who_can_then_sign_in(app, client, db, staff, monkeypatch):
    monkeypatch.setitem(app.config, "AGENCY_SIGNUP", "approval")
    applicant = app.test_client()
    form = applicant.get("/signup").get_data(as_text=True)
    signed_up = applicant.post("/signup", data={
        "csrf_token": csrf_token(form), "agency_name": "Hopeful Agency", "name": "Hope Ful",
        "email": "Hope@Hopeful.test", "password": STRONG, "timezone": "Europe/Paris", "language": "en"})
    assert signed_up.status_code == 201
    confirm = emails(db, "signup_confirm")[0]
    path = re.search(r"http://localhost(/signup/confirm/\S+)", confirm.body_text).group(1)
    page = applicant.get(path).get_data(as_text=True)
    assert applicant.post(path, data={"csrf_token": csrf_token(page)}).status_code == 200
    agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Hopeful Agency"))
    assert agency.state == "awaiting_approval"
    assert emails(db, "agency_application")  # support is told
    refused = login(applicant, "hope@hopeful.test", STRONG)
    assert refused.status_code == 403 and "with our team" in refused.get_data(as_text=True)
    listing = client.get("/support/agencies?state=awaiting_approval").get_data(as_text=True)
    assert "Hopeful Agency" in listing
    token = page_token(client, f"/support/agencies/{agency.id}")
    approved = client.post(f"/support/agencies/{agency.id}/approve", data={"csrf_token": token})
    assert approved.status_code == 303 and approved.headers["Location"].endswith(f"/support/agencies/{agency.id}")
    assert "is approved" in client.get(approved.headers["Location"]).get_data(as_text=True)
    assert state_of(db, agency.id) == "active"
    told = emails(db, "agency_approved")
    assert [e.to_address for e in told] == ["hope@hopeful.test"] and "/login" in told[0].body_text
    assert login(applicant, "hope@hopeful.test", STRONG).status_code == 303
    assert "agency_approved" in audited(db)
    # Approving twice (a stale page, a colleague) is a 409 that says why, and e-mails nobody again.
    again = client.post(f"/support/agencies/{agency.id}/approve", data={"csrf_token": token})
    assert again.status_code == 409 and "no application waiting" in again.get_data(as_text=True)
    assert len(emails(db, "agency_approved")) == 1


def test_a_rejection_needs_a_reason_and_tells_the_applicant_why(client, db, staff):
    agency, owner = awaiting()
    token = page_token(client, f"/support/agencies/{agency.id}")
    blank = client.post(f"/support/agencies/{agency.id}/reject", data={"csrf_token": token, "reason": "   "})
    html = blank.get_data(as_text=True)
    assert blank.status_code == 422 and 'id="reason-error"' in html and "Say why" in html
    assert state_of(db, agency.id) == "awaiting_approval" and not emails(db, "agency_rejected")
    too_long = client.post(f"/support/agencies/{agency.id}/reject", data={"csrf_token": token, "reason": "x" * 501})
    assert too_long.status_code == 422 and state_of(db, agency.id) == "awaiting_approval"
    rejected = client.post(f"/support/agencies/{agency.id}/reject",
                           data={"csrf_token": token, "reason": "We could not verify the agency."})
    assert rejected.status_code == 303 and state_of(db, agency.id) == "rejected"
    told = emails(db, "agency_rejected")
    assert [e.to_address for e in told] == [owner.email] and "could not verify" in told[0].body_text
    refused = login(client.application.test_client(), owner.email)
    assert refused.status_code == 403 and "could not verify" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "agency_rejected"))["reason"] \
        == "We could not verify the agency."


def test_decisions_in_the_wrong_state_are_409_and_unknown_agencies_404(client, db, staff):
    active, _ = make_agency("Busy Co", email="busy@agency.test")
    token = page_token(client)
    for action, data in (("approve", {}), ("reject", {"reason": "no"}), ("reactivate", {})):
        response = client.post(f"/support/agencies/{active.id}/{action}", data={"csrf_token": token, **data})
        assert response.status_code == 409, action
        assert "Busy Co" in response.get_data(as_text=True)
    pending, _ = awaiting()
    response = client.post(f"/support/agencies/{pending.id}/suspend", data={"csrf_token": token, "reason": "x"})
    assert response.status_code == 409 and "Only an active agency" in response.get_data(as_text=True)
    for action in ("approve", "reject", "suspend", "reactivate"):
        assert client.post(f"/support/agencies/999999/{action}",
                           data={"csrf_token": token, "reason": "x"}).status_code == 404
    assert state_of(db, active.id) == "active" and state_of(db, pending.id) == "awaiting_approval"
    assert not [a for a in audited(db) if a.startswith("agency_")]


# ---- suspension ------------------------------------------------------------------------------------

def test_suspension_stops_sign_in_and_the_api_but_not_the_clients_accounts_or_renewals(app, client, db, staff,
                                                                                       run_jobs):
    agency, owner = make_agency("Late Payer", email="owner@late.test")
    billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=YEAR, cvc="123", actor=ACTOR)
    today = date.today()
    account = make_account(agency, "acme", admin_password="client-admin-pass-1", period_start=today - timedelta(days=30),
                           period_end=today, anchor_day=today.day)
    raw = api_tokens.create(owner, "integration", ACTOR)[1]
    api = {"Authorization": f"Bearer {raw}"}
    assert client.application.test_client().get("/api/v1/accounts", headers=api).status_code == 200
    agency_side = app.test_client()
    assert login(agency_side, owner.email).status_code == 303
    assert agency_side.get("/").status_code == 200

    token = page_token(client, f"/support/agencies/{agency.id}")
    blank = client.post(f"/support/agencies/{agency.id}/suspend", data={"csrf_token": token, "reason": ""})
    assert blank.status_code == 422 and "Say why" in blank.get_data(as_text=True)
    assert state_of(db, agency.id) == "active"
    suspended = client.post(f"/support/agencies/{agency.id}/suspend",
                            data={"csrf_token": token, "reason": "Unpaid invoices since March."})
    assert suspended.status_code == 303 and state_of(db, agency.id) == "suspended"
    told = emails(db, "agency_suspended")
    assert [e.to_address for e in told] == [owner.email] and "Unpaid invoices" in told[0].body_text

    # The agency's open session ended; signing in again is refused with the reason.
    assert agency_side.get("/").status_code in (302, 303)
    refused = login(app.test_client(), owner.email)
    assert refused.status_code == 403 and "suspended: Unpaid invoices since March." in refused.get_data(as_text=True)
    # Its API tokens answer 403 with a JSON error that says why.
    answer = app.test_client().get("/api/v1/accounts", headers=api)
    assert answer.status_code == 403 and answer.is_json
    error = answer.get_json()
    assert "agency_suspended" in str(error) and "Unpaid invoices since March." in str(error)

    # The client's own admin still logs in at the account's site...
    site = app.test_client()
    page = site.get("/app/login", base_url="http://acme.localhost").get_data(as_text=True)
    assert site.post("/app/login", base_url="http://acme.localhost", data={
        "csrf_token": csrf_token(page), "username": "admin", "password": "client-admin-pass-1"}).status_code == 303
    assert site.get("/app/", base_url="http://acme.localhost").status_code == 200
    # ...and the renewal sweep still renews the account on the agency's card.
    renewals.sweep_renewals()
    run_jobs()
    db.session.expire_all()
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "renewal", Invoice.account_id == account.id))
    assert invoice is not None and invoice.status == "paid"
    renewed = db.session.get(HostedAccount, account.id)
    assert renewed.period_end > today and renewed.status == "active"

    # Reactivated: the owner is told, signs in again, and the token works again.
    reactivated = client.post(f"/support/agencies/{agency.id}/reactivate", data={"csrf_token": token})
    assert reactivated.status_code == 303 and state_of(db, agency.id) == "active"
    assert [e.to_address for e in emails(db, "agency_reactivated")] == [owner.email]
    assert login(app.test_client(), owner.email).status_code == 303
    assert app.test_client().get("/api/v1/accounts", headers=api).status_code == 200
    assert [a for a in audited(db) if a.startswith("agency_")] == ["agency_suspended", "agency_reactivated"]


# ---- creating agencies, resetting 2FA ----------------------------------------------------------------

def test_support_creates_an_agency_whose_owner_gets_the_set_password_link(app, client, db, staff):
    make_agency("Existing", email="taken@agency.test")
    token = page_token(client)
    duplicate = client.post("/support/agencies", data={"csrf_token": token, "agency_name": "Second Try",
                                                       "email": "TAKEN@agency.test", "name": ""})
    html = duplicate.get_data(as_text=True)
    assert duplicate.status_code == 422 and "already exists" in html and 'id="email-error"' in html
    assert 'value="Second Try"' in html  # what was typed stays
    blank = client.post("/support/agencies", data={"csrf_token": token, "agency_name": " ", "email": "bad"})
    assert blank.status_code == 422 and 'id="agency_name-error"' in blank.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 1  # nothing half-written

    created = client.post("/support/agencies", data={"csrf_token": token, "agency_name": "Fresh Start",
                                                     "email": "Founder@Fresh.test", "name": "Fran Founder"})
    assert created.status_code == 303
    agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Fresh Start"))
    assert created.headers["Location"].endswith(f"/support/agencies/{agency.id}") and agency.state == "active"
    owner = db.session.scalar(sa.select(User).where(User.agency_id == agency.id))
    assert (owner.email, owner.name, owner.team_role, owner.password_hash) == (
        "founder@fresh.test", "Fran Founder", "owner", None)
    mail = emails(db, "agency_created")
    assert [e.to_address for e in mail] == ["founder@fresh.test"]
    path = re.search(r"http://localhost(/set-password/\S+)", mail[0].body_text).group(1)
    newcomer = app.test_client()
    page = newcomer.get(path)
    assert page.status_code == 200
    done = newcomer.post(path, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                     "new_password": STRONG, "confirm_password": STRONG})
    assert done.status_code == 303
    assert login(newcomer, "founder@fresh.test", STRONG).status_code == 303
    assert "agency_created" in audited(db)


def test_support_resets_a_users_two_factor_sign_in(app, client, db, staff):
    agency, owner = make_agency("Lost Phone Co", email="lost@phone.test")
    owner.totp_secret, owner.totp_enabled_at = "JBSWY3DPEHPK3PXP", utcnow()
    db.session.commit()
    other, stranger = make_agency("Elsewhere", email="else@where.test")
    token = page_token(client, f"/support/agencies/{agency.id}")
    assert client.post(f"/support/agencies/{agency.id}/users/{stranger.id}/reset-2fa",
                       data={"csrf_token": token}).status_code == 404  # not this agency's user
    reset = client.post(f"/support/agencies/{agency.id}/users/{owner.id}/reset-2fa", data={"csrf_token": token})
    assert reset.status_code == 303
    db.session.expire_all()
    assert not db.session.get(User, owner.id).has_2fa
    assert [e.to_address for e in emails(db, "two_factor_reset")] == ["lost@phone.test"]
    assert "two_factor_reset_by_support" in audited(db)
    again = client.post(f"/support/agencies/{agency.id}/users/{owner.id}/reset-2fa", data={"csrf_token": token})
    assert again.status_code == 409 and "no two-factor sign-in" in again.get_data(as_text=True)
    assert len(emails(db, "two_factor_reset")) == 1


# ---- support logs into a hosted account ------------------------------------------------------------

def test_support_logs_into_any_account_with_a_reason_that_is_audited_and_emailed(app, client, db, staff):
    agency, owner = make_agency("Client Keeper", email="keeper@agency.test")
    account = make_account(agency, "acme", admin_password="client-admin-pass-1",
                           notification_email="alerts@keeper.test")
    console = client.get("/support?q=acme").get_data(as_text=True)
    assert 'data-found="acme"' in console and f'/support/accounts/{account.id}/login-as' in console
    token = csrf_token(console)
    blank = client.post(f"/support/accounts/{account.id}/login-as?q=acme", data={"csrf_token": token, "reason": " "})
    html = blank.get_data(as_text=True)
    assert blank.status_code == 422 and f'id="login-as-error-{account.id}"' in html and "Say why" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAsToken)) == 0
    assert not emails(db, "support_login_as")
    assert client.post("/support/accounts/999999/login-as", data={"csrf_token": token, "reason": "x"}).status_code \
        == 404

    opened = client.post(f"/support/accounts/{account.id}/login-as?q=acme",
                         data={"csrf_token": token, "reason": "Ticket 42: the client cannot see its contacts"})
    link = opened.headers["Location"]
    assert opened.status_code == 303 and re.match(r"http://acme\.localhost(:\d+)?/app/login-as\?token=", link)
    assert opened.headers["Cache-Control"] == "no-store"
    site = app.test_client()
    assert site.get(link).status_code == 303
    overview = site.get("/app/", base_url="http://acme.localhost").get_data(as_text=True)
    assert "Signed in by AgencyHQ support (staff@agencyhq.test)" in overview
    assert app.test_client().get(link).status_code == 403  # single use
    db.session.expire_all()
    session_row = db.session.scalar(sa.select(LoginSession).where(LoginSession.account_user_id.is_not(None)))
    assert session_row.opened_by_user_id == staff.id and session_row.opened_by_agency_id is None
    entry = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "support_login_as_link"))
    assert entry.actor_label == "staff@agencyhq.test" and entry.account_id == account.id
    assert entry.detail["reason"] == "Ticket 42: the client cannot see its contacts"
    assert audited(db)[-2:] == ["support_login_as_link", "login_as_started"]
    told = emails(db, "support_login_as")
    assert [e.to_address for e in told] == ["alerts@keeper.test"]
    assert "staff@agencyhq.test" in told[0].body_text and "Ticket 42" in told[0].body_text
    site.post("/app/logout", base_url="http://acme.localhost", data={"csrf_token": csrf_token(overview)})
    assert audited(db)[-1] == "login_as_ended"


def test_an_agency_user_cannot_use_supports_login_as(app, client, db):
    agency, owner = make_agency(email="owner@agency.test")
    rival, _ = make_agency("Rival", email="rival@agency.test")
    theirs = make_account(rival, "theirs", admin_password="client-admin-pass-1")
    login(client, "owner@agency.test")
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post(f"/support/accounts/{theirs.id}/login-as",
                       data={"csrf_token": token, "reason": "curious"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAsToken)) == 0


# ---- the command line ------------------------------------------------------------------------------

def test_cli_creates_an_agency_a_support_user_and_password_links(app, runner, db):
    result = runner.invoke(args=["create-agency", "Command Agency", "Boss@Command.test", "--owner-name", "Bo Ss"])
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert re.fullmatch(r"http://localhost/set-password/\S+", link)
    agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Command Agency"))
    owner = db.session.scalar(sa.select(User).where(User.agency_id == agency.id))
    assert (agency.state, owner.email, owner.name, owner.password_hash) == ("active", "boss@command.test", "Bo Ss",
                                                                           None)
    client = app.test_client()
    assert client.get(link.removeprefix("http://localhost")).status_code == 200

    duplicate = runner.invoke(args=["create-agency", "Again", "BOSS@command.test"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 1

    staff = runner.invoke(args=["create-support-user", "Desk@AgencyHQ.test", "--name", "Dee Sk"])
    assert staff.exit_code == 0, staff.output
    staff_link = staff.stdout.strip()
    user = db.session.scalar(sa.select(User).where(User.email == "desk@agencyhq.test"))
    assert user.is_support and user.name == "Dee Sk" and user.password_hash is None
    page = client.get(staff_link.removeprefix("http://localhost"))
    assert page.status_code == 200
    assert client.post(staff_link.removeprefix("http://localhost"), data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "new_password": STRONG,
        "confirm_password": STRONG}).status_code == 303
    assert login(app.test_client(), "desk@agencyhq.test", STRONG).status_code == 303
    assert runner.invoke(args=["create-support-user", "desk@agencyhq.test"]).exit_code != 0

    reset = runner.invoke(args=["reset-password", "boss@command.test"])
    assert reset.exit_code == 0, reset.output
    assert client.get(link.removeprefix("http://localhost")).status_code == 410  # the earlier link died
    assert client.get(reset.stdout.strip().removeprefix("http://localhost")).status_code == 200
    unknown = runner.invoke(args=["reset-password", "nobody@nowhere.test"])
    assert unknown.exit_code != 0 and "no login has the e-mail nobody@nowhere.test" in unknown.output
    assert {"agency_created", "support_user_created", "password_link_created"} <= set(audited(db))


def test_cli_commands_take_no_password_option(app):
    for name in ("create-agency", "create-support-user", "reset-password"):
        command = app.cli.get_command(None, name) if hasattr(app.cli, "get_command") else None
        command = command or app.cli.commands[name]
        assert not any("password" in (p.name or "") for p in command.params), name
