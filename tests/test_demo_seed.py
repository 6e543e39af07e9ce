"""`flask seed-demo`: the demo agency a newcomer logs in to."""
from __future__ import annotations

import sqlalchemy as sa

import re

from webapp.models import Agency, Automation, HostedAccount, Invoice, Operation, User
from webapp.services import billing, demo
from webapp.jobs import sweeper

from .helpers import csrf_token, login


def test_seed_demo_makes_every_status_plan_type_and_tier(runner, db, run_jobs, client):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert demo.AGENCY_EMAIL in result.output and demo.SUPPORT_PASSWORD in result.output
    # The demo lets support in without a second factor, and says so beside the login (make run sets it).
    assert "SUPPORT_REQUIRE_2FA=0" in result.output
    agency = db.session.scalar(sa.select(Agency))
    accounts = db.session.scalars(sa.select(HostedAccount).where(HostedAccount.agency_id == agency.id,
                                                                 HostedAccount.kind == "resold")).all()
    assert len(accounts) == 60
    assert {a.status for a in accounts} == {"provisioning", "active", "cancelled", "disabled", "expired"}
    assert {a.plan_term for a in accounts} == {"trial", "monthly", "annual"}
    assert {a.plan_tier for a in accounts} == {"lite", "plus", "professional", "enterprise"}
    assert all(a.period_end for a in accounts)
    assert db.session.scalar(sa.select(User).where(User.role == "support")) is not None
    # The README's client login has the README's password; the generated one is not shown any more (A2).
    from webapp.services import provisioning
    acme = next(a for a in accounts if a.name == demo.CLIENT_ACCOUNT)
    assert provisioning.credentials_of(acme) is None
    parent = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.kind == "parent"))
    assert len(db.session.scalars(sa.select(Automation).where(Automation.account_id == parent.id)).all()) == 3
    # The two accounts left provisioning finish in the background.
    pending = db.session.scalars(sa.select(Operation).where(Operation.status == "queued",
                                                            Operation.kind == "provision_account")).all()
    assert len(pending) == 2
    sweeper.sweep()
    run_jobs()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HostedAccount)
                             .where(HostedAccount.status == "provisioning")) == 0
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "nothing seeded" in again.output
    # The demo agency's card is one the gateway knows: Add & Pay Now of a paid monthly account goes through.
    login(client, demo.AGENCY_EMAIL, demo.AGENCY_PASSWORD)
    page = client.get("/accounts/new").get_data(as_text=True)
    key = re.search(r'id="request_key" name="request_key" type="hidden" value="([^"]+)"', page).group(1)
    added = client.post("/accounts/new", data={
        "csrf_token": csrf_token(page), "request_key": key, "name": "demo-paid-shop", "custom_domain": "",
        "client_name": "Demo Paid Shop", "client_email": "owner@paid-shop.test", "notification_email": demo.AGENCY_EMAIL,
        "language": "en", "timezone": "Europe/Paris", "tier": "plus", "term": "monthly", "contact_limit": "1000"})
    assert added.status_code == 303, added.get_data(as_text=True)
    account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "demo-paid-shop"))
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id))
    assert invoice.status == "paid" and invoice.kind == "signup" and invoice.card_charged_cents == invoice.total_cents > 0
    assert billing.card_of(agency.id).last4 == "4242"


def test_seed_demo_prints_a_member_login_whose_menu_has_no_billing(runner, db, client):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert demo.MEMBER_EMAIL in result.output and demo.MEMBER_PASSWORD in result.output
    member = db.session.scalar(sa.select(User).where(User.email == demo.MEMBER_EMAIL))
    owner = db.session.scalar(sa.select(User).where(User.email == demo.AGENCY_EMAIL))
    assert member.team_role == "member" and member.agency_id == owner.agency_id
    assert login(client, demo.MEMBER_EMAIL, demo.MEMBER_PASSWORD).status_code == 303
    menu = client.get("/").get_data(as_text=True).split('id="side-menu"')[1]
    assert "Billing profile" not in menu and "Team" not in menu
