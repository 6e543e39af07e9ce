"""Issue 22, accounts that pay their own way: a referred (C1) or detached (A4) account's admin has a Billing
page on the account's own host (its card, its invoices, change plan, cancel and resume); a detached account is
billed to its client from its next renewal, and the client is told by e-mail; a decline on the client's card
is dunned like an agency's (retried, told, disabled after the grace period, enabled by a paid charge), and a
card saved on the Billing page tries the unpaid renewal at once. Money to the cent."""
from __future__ import annotations

import html as html_module
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from webapp.models import (AccountUser, AuditEvent, BillingProfile, CardSetup, HostedAccount, Invoice, OutboundEmail,
                           User, utcnow)
from webapp.services import account_billing, billing, client_auth, commission, renewals, support
from webapp.services.audit import Actor
from webapp.services.passwords import hash_password

from .helpers import CARD_YEAR, add_card, csrf_token, make_account, make_agency, make_support, stripe_confirm_setup

ADMIN_PASSWORD = "client-own-password-1"
GOOD, DECLINED, DECLINED_ON_SAVE = "4242424242424242", "4000000000000341", "4000000000000002"
PLUS_MONTHLY_1000 = 7000       # catalog: plus, monthly, 1 000 contacts
PROFESSIONAL_MONTHLY_1000 = 18700
LITE_MONTHLY_1000 = 2900


def host(account) -> str:
    return f"http://{account.name}.localhost"


def text(response) -> str:
    """The page as its reader reads it (entities such as &#39; unescaped)."""
    return html_module.unescape(response.get_data(as_text=True))


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def referred_account(db, run_jobs, agency, name="bakery", **over):
    """A client signs up through the agency's referral link (C1) with its own card; provisioned, its admin's
    password set to one the test knows."""
    values = dict(name=name, client_name="The Bakery", client_email=f"owner@{name}.test", tier="plus", term="monthly",
                  contact_limit=1000, number=GOOD, exp_month=12, exp_year=CARD_YEAR, cvc="123")
    values.update(over)
    account, _ = commission.sign_up(agency.referral_code, commission.Referral(**values), request_key=f"k-{name}")
    run_jobs()
    db.session.expire_all()
    admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == account.id))
    admin.password_hash = hash_password(ADMIN_PASSWORD)
    db.session.commit()
    return db.session.get(HostedAccount, account.id)


def detached_account(db, agency, user, name="going-solo", **fields):
    """A resold account the agency asked support to detach (A4), approved: the client's own now."""
    account = make_account(agency, name, admin_password=ADMIN_PASSWORD, client_email=f"me@{name}.test", **fields)
    actor = Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role)
    request = support.request_detach(account, user, client_email=f"me@{name}.test", actor=actor)
    staff = db.session.scalar(sa.select(User).where(User.role == "support")) or make_support()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor(f"user:{staff.id}", staff.email))
    db.session.expire_all()
    return db.session.get(HostedAccount, account.id)


def client_login(client, account, username="admin", password=ADMIN_PASSWORD):
    page = client.get("/app/login", base_url=host(account))
    answer = client.post("/app/login", base_url=host(account), data={
        "csrf_token": csrf_token(text(page)), "username": username, "password": password})
    assert answer.status_code == 303, text(answer)
    return answer


def billing_page(client, account):
    return client.get("/app/billing", base_url=host(account))


def save_card(client, account, number=GOOD, **over):
    token = csrf_token(text(billing_page(client, account)))
    data = {"csrf_token": token, "number": number, "exp_month": "12", "exp_year": str(CARD_YEAR), "cvc": "123"}
    data.update(over)
    return client.post("/app/billing/card", base_url=host(account), data=data)


def confirm_fields(html: str) -> dict:
    fields = dict(re.findall(r'<input[^>]*name="(confirm-[a-z_]+|csrf_token)"[^>]*value="([^"]*)"', html))
    assert "confirm-quote" in fields, html
    return fields


def charges(*, token=None, succeeded=None) -> list[dict]:
    rows = billing.gateway().history("charge")
    if token is not None:
        rows = [r for r in rows if r["token"] == token]
    if succeeded is not None:
        rows = [r for r in rows if ("error" not in r["response"]) == succeeded]
    return rows


# ---- the page, and who may see it --------------------------------------------------------------------------

def test_a_referred_accounts_admin_sees_its_card_and_invoices_on_its_own_host(app, db, client, run_jobs):
    agency, _ = make_agency()
    account = referred_account(db, run_jobs, agency)
    client_login(client, account)
    page = billing_page(client, account)
    html = text(page)
    assert page.status_code == 200
    assert 'id="menu-billing"' in html and 'href="/app/billing"' in html  # the side menu links it
    assert re.search(r'id="card-on-file"><span class="text-capitalize">visa</span> ···· 4242', html)
    assert f"Expires 12/{CARD_YEAR}" in html
    signup = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id))
    row = re.search(rf'<tr data-invoice="{signup.number}">(.*?)</tr>', html, re.S).group(1)
    assert "$70.00" in row and "Paid" in row and "Sign-up" in row
    # Its detail: the line and the amounts to the cent, printable, the client billed.
    detail = text(client.get(f"/app/billing/invoices/{signup.id}", base_url=host(account)))
    assert 'id="invoice-total">$70.00<' in detail and 'id="invoice-charged">$70.00<' in detail
    assert "bakery: Plus monthly, 1,000 contacts" in detail and "The Bakery" in detail
    assert "data-print" in detail
    # The next renewal and its price (no agency discount: the client pays the list price).
    assert re.search(r'id="next-renewal">[^<]*· \$70\.00', html)


def test_a_resold_account_has_no_billing_page_its_agency_pays(app, db, client):
    agency, _ = make_agency()
    add_card(agency)
    account = make_account(agency, "resold-one", admin_password=ADMIN_PASSWORD)
    client_login(client, account)
    overview = text(client.get("/app/", base_url=host(account)))
    assert 'id="menu-billing"' not in overview
    assert billing_page(client, account).status_code == 404
    for path in ("/app/billing/plan?tier=lite&term=monthly&contact_limit=1000", "/app/billing/invoices/1"):
        assert client.get(path, base_url=host(account)).status_code == 404, path
    token = csrf_token(overview)
    for path in ("/app/billing/card", "/app/billing/cancel", "/app/billing/resume", "/app/billing/plan"):
        assert client.post(path, base_url=host(account), data={"csrf_token": token}).status_code == 404, path


def test_another_user_of_the_account_and_the_agency_signed_in_as_admin_cannot_pay(app, db, client, run_jobs):
    agency, owner = make_agency()
    account = referred_account(db, run_jobs, agency)
    db.session.add(AccountUser(account_id=account.id, username="editor", email="ed@bakery.test",
                               password_hash=hash_password(ADMIN_PASSWORD)))
    db.session.commit()
    client_login(client, account, username="editor")
    refused = billing_page(client, account)
    assert refused.status_code == 403
    assert "Only the account's admin can see and change its billing" in text(refused)

    # The agency (A10) opened the account as admin: it sees the page, without the card form, and cannot pay.
    agency_tab = app.test_client()
    client_login(agency_tab, account)
    with agency_tab.session_transaction(base_url=host(account)) as session:
        session["signed_in_by"] = client_auth.login_as_session(owner)
    page = billing_page(agency_tab, account)
    html = text(page)
    assert page.status_code == 200 and 'id="billing-read-only"' in html
    assert 'name="number"' not in html and 'id="cancel-account"' not in html
    token = csrf_token(html)
    card = agency_tab.post("/app/billing/card", base_url=host(account), data={
        "csrf_token": token, "number": GOOD, "exp_month": "12", "exp_year": str(CARD_YEAR), "cvc": "123"})
    assert card.status_code == 403 and "signed in with its password" in text(card)
    assert agency_tab.post("/app/billing/cancel", base_url=host(account), data={"csrf_token": token}).status_code == 403
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).cancelled_at is None
    assert count(db, AuditEvent, AuditEvent.action == "account_card_saved") == 0


def test_another_accounts_invoice_or_an_agencys_answers_404(app, db, client, run_jobs):
    agency, _ = make_agency()
    add_card(agency)
    mine = referred_account(db, run_jobs, agency, "mine")
    theirs = referred_account(db, run_jobs, agency, "theirs")
    resold = make_account(agency, "agency-paid")
    agency_invoice = billing.charge_now(agency_id=agency.id, kind="prepaid", key="prepaid-1",
                                        lines=[billing.Line("Prepaid credit", 1000)], account=resold)
    their_invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == theirs.id))
    client_login(client, mine)
    for invoice_id in (their_invoice.id, agency_invoice.id, "abc", "0", "-1", "9" * 30):
        answer = client.get(f"/app/billing/invoices/{invoice_id}", base_url=host(mine))
        assert answer.status_code == 404, invoice_id
    html = text(billing_page(client, mine))
    assert their_invoice.number not in html and agency_invoice.number not in html


# ---- the card -------------------------------------------------------------------------------------------------

def test_the_client_replaces_its_card_through_the_gateway_and_bad_cards_are_told_by_the_field(app, db, client,
                                                                                               run_jobs):
    agency, _ = make_agency()
    agency_card = add_card(agency)
    account = referred_account(db, run_jobs, agency)
    client_login(client, account)
    bad = save_card(client, account, number="4242 4242 4242 4241")
    assert bad.status_code == 422 and "This card number is not valid" in text(bad)
    assert "4242 4242 4242 4241" not in text(bad)  # never echoed back
    expired = save_card(client, account, exp_year=str(date.today().year - 1))
    assert expired.status_code == 422 and "The card has expired" in text(expired)
    refused = save_card(client, account, number=DECLINED_ON_SAVE)
    assert refused.status_code == 422 and "declined" in text(refused).lower()
    db.session.expire_all()
    assert db.session.scalar(sa.select(BillingProfile.last4).where(BillingProfile.account_id == account.id)) == "4242"

    saved = save_card(client, account, number="5555 5555 5555 4444", exp_month="7")
    assert saved.status_code == 303
    html = text(client.get(saved.headers["Location"], base_url=host(account)))
    assert "Your card was saved" in html and "···· 4444" in html and f"Expires 07/{CARD_YEAR}" in html
    db.session.expire_all()
    profile = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == account.id))
    assert (profile.brand, profile.last4, profile.exp_month, profile.agency_id) == ("mastercard", "4444", 7, None)
    assert count(db, BillingProfile, BillingProfile.account_id == account.id) == 1  # replaced, not added
    assert db.session.get(BillingProfile, agency_card.id).last4 == "4242"  # the agency's card untouched
    assert count(db, AuditEvent, AuditEvent.action == "account_card_saved", AuditEvent.account_id == account.id) == 1


def test_under_stripe_the_card_is_saved_through_a_setup_bound_to_the_account(app, db, client, run_jobs,
                                                                             stripe_gateway):
    agency, _ = make_agency()
    account = make_account(agency, "stripey", kind="commission", admin_password=ADMIN_PASSWORD,
                           notification_email="me@stripey.test")
    other = make_account(agency, "other-stripey", kind="commission", notification_email="me@other.test")
    client_login(client, account)
    page = billing_page(client, account)
    html = text(page)
    assert page.status_code == 200 and "data-stripe-key" in html and 'name="number"' not in html
    # The page's policy lets Stripe.js load and show its card frame on the account's own host.
    assert stripe_gateway.stand_in in page.headers["Content-Security-Policy"]
    setup_row = db.session.scalar(sa.select(CardSetup).order_by(CardSetup.id.desc()))
    assert (setup_row.purpose, setup_row.account_id, setup_row.agency_id) == ("account_card", account.id, None)
    # The state is single-use and bound to this account: another account's page cannot use it.
    setup = account_billing.start_card_setup(account, Actor(f"account_user:{account.users[0].id}", "admin"))
    stripe_confirm_setup(setup, GOOD)
    with pytest.raises(billing.ValidationFailed):
        billing.finish_card_setup(None, "account_card", setup_ref=setup.setup_ref, state=setup.state, account_id=other.id)
    setup = account_billing.start_card_setup(account, Actor(f"account_user:{account.users[0].id}", "admin"))
    stripe_confirm_setup(setup, GOOD)
    token = csrf_token(html)
    saved = client.post("/app/billing/card", base_url=host(account), data={
        "csrf_token": token, "setup_ref": setup.setup_ref, "state": setup.state})
    assert saved.status_code == 303, text(saved)
    again = client.post("/app/billing/card", base_url=host(account), data={
        "csrf_token": token, "setup_ref": setup.setup_ref, "state": setup.state})
    assert again.status_code == 422 and "expired or was already used" in text(again)
    db.session.expire_all()
    profile = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == account.id))
    assert profile.last4 == "4242" and profile.gateway == "stripe" and profile.gateway_token.startswith("pm_")
    assert count(db, BillingProfile, BillingProfile.account_id == other.id) == 0


# ---- A4: a detached account is billed to its client from its next renewal ---------------------------------

def test_a_detached_account_is_billed_to_its_client_from_its_next_renewal_and_the_client_is_told(app, db, client,
                                                                                                 run_jobs):
    agency, user = make_agency("Acme Agency")
    agency_card = add_card(agency)
    renews_on = date.today() + timedelta(days=12)
    account = detached_account(db, agency, user, language="fr", period_end=renews_on,
                               period_start=renews_on - timedelta(days=30), anchor_day=renews_on.day)
    assert (account.kind, account.agency_id) == ("standalone", None)
    told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "account_billed_to_client"))
    assert told.to_address == "me@going-solo.test" and told.locale == "fr"
    assert told.from_name == "going-solo"  # the account's brand (its name), never AgencyHQ's
    assert "AgencyHQ" not in told.body_text + told.body_html + told.subject
    assert "Acme Agency" not in told.body_text and agency_card.last4 not in told.body_text
    assert "70,00" in told.body_text  # its price, in the client's language, to the cent
    from babel.dates import format_date
    assert format_date(renews_on, "medium", locale="fr") in told.body_text
    assert "http://going-solo.localhost/app/billing" in told.body_text
    assert count(db, OutboundEmail, OutboundEmail.kind == "account_billed_to_client") == 1

    # Its renewal day: the client-billed sweep renews it, on nobody's card yet: declined "no_card", dunned.
    with time_machine.travel(renews_on.isoformat() + " 09:00:00+00:00", tick=False):
        renewals.sweep_commission_renewals()
        run_jobs()
    db.session.expire_all()
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id))
    assert (invoice.status, invoice.decline_code, invoice.agency_id) == ("failed", "no_card", None)
    assert (invoice.total_cents, invoice.discount_cents) == (PLUS_MONTHLY_1000, 0)
    assert charges(token=agency_card.gateway_token) == []  # never the old agency's card
    declined = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "renewal_declined"))
    assert declined.to_address == "me@going-solo.test" and declined.locale == "fr"
    assert "http://going-solo.localhost/app/billing" in declined.body_text
    assert "Billing profile" not in declined.body_text

    # The client adds a card on its Billing page: the renewal is charged to it at once, 70.00 to the cent.
    with time_machine.travel(renews_on.isoformat() + " 10:00:00+00:00", tick=False):
        client_login(client, account)
        html = text(billing_page(client, account))
        assert 'id="billing-unpaid"' in html
        saved = save_card(client, account)
        assert saved.status_code == 303
        from flask_babel import force_locale, ngettext
        with app.test_request_context(), force_locale("fr"):  # the account's language
            retried = ngettext("%(num)d unpaid renewal is being charged to this card now.",
                               "%(num)d unpaid renewals are being charged to this card now.", 1)
        assert retried in text(client.get("/app/billing", base_url=host(account)))
        run_jobs()
    db.session.expire_all()
    invoice = db.session.get(Invoice, invoice.id)
    assert (invoice.status, invoice.card_charged_cents, invoice.prepaid_applied_cents) == ("paid", 7000, 0)
    assert db.session.get(HostedAccount, account.id).period_end == renewals.next_period(account, renews_on)[1]
    receipt = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "commission_receipt"))
    assert receipt.to_address == "me@going-solo.test" and "70,00" in receipt.body_text


def test_a_detached_account_never_takes_its_agencys_unpaid_renewal_onto_the_clients_card(app, db, run_jobs):
    """The agency's card declined the account's renewal, then support detached it: that invoice is given up
    (void, nothing owed by anyone), and the client's own renewal of the same period has keys of its own."""
    agency, user = make_agency()
    agency_card = add_card(agency, DECLINED)
    account = make_account(agency, "lapsing", admin_password=ADMIN_PASSWORD, period_end=date.today(),
                           period_start=date.today() - timedelta(days=30))
    agency_invoice = renewals.renew(account.id, date.today())
    assert (agency_invoice.status, agency_invoice.agency_id) == ("failed", agency.id)
    request = support.request_detach(account, user,
                                     client_email="me@lapsing.test",
                                     actor=Actor(f"user:{user.id}", user.email, None, agency.id, team_role="owner"))
    staff = make_support()
    support.decide(request.id, approve=True, reason="", staff=staff, actor=Actor(f"user:{staff.id}", staff.email))
    db.session.expire_all()
    released = db.session.get(Invoice, agency_invoice.id)
    assert (released.status, released.period_key) == ("void", None)
    told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "account_billed_to_client"))
    from babel.dates import format_date
    assert f"From its next renewal, on {format_date(date.today(), 'medium', locale='en')}," in told.body_text
    # The client's card pays its renewal of that very period.
    billing_profile = BillingProfile(account_id=released.account_id, gateway="sandbox", brand="visa", last4="4242",
                                     exp_month=12, exp_year=CARD_YEAR,
                                     gateway_token=billing.gateway().tokenize(GOOD, 12, CARD_YEAR, "123",
                                                                              idempotency_key="client-card").token)
    db.session.add(billing_profile)
    db.session.commit()
    renewals.sweep_commission_renewals()
    run_jobs()
    db.session.expire_all()
    own = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == released.account_id,
                                                     Invoice.status == "paid"))
    assert own.agency_id is None and own.period_start == date.today() and own.idempotency_key.endswith(":client")
    assert own.card_charged_cents == PLUS_MONTHLY_1000
    assert len(charges(token=agency_card.gateway_token)) == 1  # only the agency's own, declined, attempt
    assert charges(token=billing_profile.gateway_token, succeeded=True)[0]["amount_cents"] == PLUS_MONTHLY_1000


def test_a_detached_trial_is_told_when_it_ends_and_where_to_choose_a_plan(app, db):
    agency, user = make_agency()
    ends = date.today() + timedelta(days=5)
    detached_account(db, agency, user, "trying", plan_term="trial", contact_limit=500, period_end=ends)
    told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "account_billed_to_client"))
    assert "Its trial ends on" in told.body_text and "/app/billing" in told.body_text
    assert "is charged to your own card:" not in told.body_text


# ---- B8 for accounts that pay their own way: retried, told, disabled, enabled by a paid charge ----------------

@pytest.mark.parametrize("kind", ["commission", "standalone"])
def test_a_declined_renewal_is_dunned_disabled_after_the_grace_and_a_card_saved_on_the_page_pays_it(
        app, db, client, run_jobs, kind):
    agency, user = make_agency()
    agency_card = add_card(agency)
    declined = billing.gateway().tokenize(DECLINED, 12, CARD_YEAR, "123", idempotency_key="declined-card")
    if kind == "commission":
        account = referred_account(db, run_jobs, agency, "dunned")  # signed up with a good card, now declined
        db.session.execute(sa.update(BillingProfile).where(BillingProfile.account_id == account.id)
                           .values(gateway_token=declined.token, last4="0341"))
    else:
        account = detached_account(db, agency, user, "dunned")
        db.session.add(BillingProfile(account_id=account.id, gateway="sandbox", brand="visa", last4="0341",
                                      exp_month=12, exp_year=CARD_YEAR, gateway_token=declined.token))
    db.session.commit()
    day0 = account.period_end
    start = f"{day0.isoformat()} 08:00:00+00:00"
    with time_machine.travel(start, tick=False) as clock:
        renewals.sweep_commission_renewals()
        run_jobs()
        db.session.expire_all()
        invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id,
                                                             Invoice.kind == "renewal"))
        assert (invoice.status, invoice.agency_id, invoice.attempts) == ("failed", None, 1)
        notice = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "renewal_declined"))
        assert notice.to_address == account.notification_email and "/app/billing" in notice.body_text
        # The catalog's retry days, then the grace period: disabled, and the client told.
        for day in (1, 3, 5, 7):
            clock.move_to(f"{(day0 + timedelta(days=day)).isoformat()} 08:01:00+00:00")
            renewals.sweep_renewals()
            run_jobs()
        db.session.expire_all()
        assert db.session.get(HostedAccount, account.id).status == "disabled"
        disabled = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "renewal_disabled"))
        assert disabled.to_address == account.notification_email and "/app/billing" in disabled.body_text
        assert charges(token=agency_card.gateway_token) == []

        # Closed to its client, but its admin still logs in to the Billing page (and only there).
        client_login(client, account)
        assert client.get("/app/", base_url=host(account)).status_code == 403
        assert client.get("/app/templates", base_url=host(account)).status_code == 403
        html = text(billing_page(client, account))
        assert 'id="billing-disabled"' in html and 'id="billing-unpaid"' in html
        saved = save_card(client, account)
        assert saved.status_code == 303
        run_jobs()
        db.session.expire_all()
        invoice = db.session.get(Invoice, invoice.id)
        assert invoice.status == "paid" and invoice.card_charged_cents == PLUS_MONTHLY_1000
        assert db.session.get(HostedAccount, account.id).status == "active"
        assert client.get("/app/", base_url=host(account)).status_code == 200  # open again
    # Every attempt's charge: the declined ones on the old card, one paid on the new; never an agency's.
    new_card = db.session.scalar(sa.select(BillingProfile).where(BillingProfile.account_id == account.id))
    assert [c["amount_cents"] for c in charges(token=new_card.gateway_token)] == [PLUS_MONTHLY_1000]


# ---- A8, A7 on the Billing page: change plan with its preview, cancel and resume ---------------------------------

def test_an_upgrade_is_previewed_to_the_cent_then_charged_to_the_clients_card_on_confirm(app, db, client, run_jobs):
    agency, _ = make_agency()
    agency_card = add_card(agency)
    account = referred_account(db, run_jobs, agency)
    account.period_end = date.today() + timedelta(days=20)
    db.session.commit()
    client_login(client, account)
    preview = client.get("/app/billing/plan?tier=professional&term=monthly&contact_limit=1000",
                         base_url=host(account))
    html = text(preview)
    expected = round((PROFESSIONAL_MONTHLY_1000 - PLUS_MONTHLY_1000) / 30 * 20)  # pro rata: 20 days of 30
    assert expected == 7800
    assert preview.status_code == 200 and 'id="quote-today">$78.00<' in html
    assert "Confirm and pay $78.00" in html and "Pro rata for the 20 days left" in html
    assert "Then $187.00 at each renewal" in html
    fields = confirm_fields(html)
    confirmed = client.post("/app/billing/plan", base_url=host(account), data=fields)
    assert confirmed.status_code == 303, text(confirmed)
    page = text(client.get("/app/billing", base_url=host(account)))
    assert "The plan was changed. Charged to your card now: $78.00." in page
    db.session.expire_all()
    upgrade = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "upgrade"))
    assert (upgrade.agency_id, upgrade.account_id, upgrade.total_cents, upgrade.card_charged_cents,
            upgrade.discount_percent) == (None, account.id, 7800, 7800, 0)
    assert db.session.get(HostedAccount, account.id).plan_tier == "professional"
    assert charges(token=agency_card.gateway_token) == []
    # The same Confirm pressed again (a double click) charges nothing more.
    again = client.post("/app/billing/plan", base_url=host(account), data=fields)
    assert again.status_code in (303, 409, 422)
    assert count(db, Invoice, Invoice.kind == "upgrade") == 1


def test_a_stale_preview_charges_nothing_and_shows_the_new_figures(app, db, client, run_jobs):
    agency, _ = make_agency()
    account = referred_account(db, run_jobs, agency)
    account.period_end = date.today() + timedelta(days=20)
    db.session.commit()
    client_login(client, account)
    html = text(client.get("/app/billing/plan?tier=professional&term=monthly&contact_limit=1000",
                      base_url=host(account)))
    fields = confirm_fields(html)
    # A day passes in the period (another press elsewhere, a renewal...): the figures are not those shown.
    account = db.session.get(HostedAccount, account.id)
    account.period_end = date.today() + timedelta(days=10)
    db.session.commit()
    stale = client.post("/app/billing/plan", base_url=host(account), data=fields)
    body = text(stale)
    assert stale.status_code == 409 and "nothing was charged" in body
    assert 'id="quote-today">$39.00<' in body  # the new figures, to confirm again
    assert count(db, Invoice, Invoice.kind == "upgrade") == 0
    forged = dict(fields, **{"confirm-quote": "not-a-token"})
    assert client.post("/app/billing/plan", base_url=host(account), data=forged).status_code == 409
    bad = client.get("/app/billing/plan?tier=gold&term=monthly&contact_limit=1000", base_url=host(account))
    assert bad.status_code == 422 and "change-problem" in text(bad)
    huge = client.get("/app/billing/plan?tier=plus&term=monthly&contact_limit=" + "9" * 5000, base_url=host(account))
    assert huge.status_code == 422
    assert count(db, Invoice, Invoice.kind == "upgrade") == 0


def test_a_declined_upgrade_says_so_and_changes_nothing(app, db, client, run_jobs):
    agency, _ = make_agency()
    account = referred_account(db, run_jobs, agency)
    db.session.execute(sa.update(BillingProfile).where(BillingProfile.account_id == account.id).values(
        gateway_token=billing.gateway().tokenize(DECLINED, 12, CARD_YEAR, "123", idempotency_key="dec").token))
    db.session.commit()
    client_login(client, account)
    html = text(client.get("/app/billing/plan?tier=enterprise&term=monthly&contact_limit=1000",
                      base_url=host(account)))
    declined = client.post("/app/billing/plan", base_url=host(account), data=confirm_fields(html))
    assert declined.status_code == 402 and "Your card was declined" in text(declined)
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).plan_tier == "plus"
    assert db.session.scalar(sa.select(Invoice.status).where(Invoice.kind == "upgrade")) == "void"


def test_a_downgrade_waits_for_the_renewal_and_the_renewal_charges_its_price(app, db, client, run_jobs):
    agency, user = make_agency()
    account = detached_account(db, agency, user, "shrinking")
    client_login(client, account)
    save_card(client, account)
    html = text(client.get("/app/billing/plan?tier=lite&term=monthly&contact_limit=1000",
                      base_url=host(account)))
    assert 'id="quote-today">$0.00<' in html and "Nothing is charged today" in html and "Confirm the change" in html
    assert client.post("/app/billing/plan", base_url=host(account), data=confirm_fields(html)).status_code == 303
    page = text(client.get("/app/billing", base_url=host(account)))
    assert "The new plan starts at the next renewal" in page and 'id="pending-plan"' in page
    assert re.search(r'id="next-renewal">[^<]*· \$29\.00', page)
    db.session.expire_all()
    account = db.session.get(HostedAccount, account.id)
    with time_machine.travel(f"{account.period_end.isoformat()} 08:00:00+00:00", tick=False):
        renewals.sweep_commission_renewals()
        run_jobs()
    db.session.expire_all()
    renewal = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "renewal"))
    assert (renewal.status, renewal.total_cents, renewal.card_charged_cents) == ("paid", LITE_MONTHLY_1000, 2900)
    assert db.session.get(HostedAccount, account.id).plan_tier == "lite"


def test_a_detached_account_is_cancelled_and_resumed_from_its_own_billing_page(app, db, client, run_jobs):
    agency, user = make_agency()
    account = detached_account(db, agency, user, "leaving-soon")
    client_login(client, account)
    html = text(billing_page(client, account))
    assert 'data-confirm="Cancel the account?' in html
    cancelled = client.post("/app/billing/cancel", base_url=host(account), data={"csrf_token": csrf_token(html)})
    assert cancelled.status_code == 303
    page = text(billing_page(client, account))
    assert "The account is cancelled: it is not renewed again" in page and 'id="resume-account"' in page
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).cancelled_at is not None
    # Cancelled: its renewal day passes without a charge, nobody's card.
    with time_machine.travel(f"{account.period_end - timedelta(days=1)} 08:00:00+00:00", tick=False):
        renewals.sweep_commission_renewals()
    assert count(db, Invoice, Invoice.account_id == account.id) == 0
    twice = client.post("/app/billing/cancel", base_url=host(account), data={"csrf_token": csrf_token(page)})
    assert "already cancelled" in text(client.get(twice.headers["Location"], base_url=host(account)))
    resumed = client.post("/app/billing/resume", base_url=host(account), data={"csrf_token": csrf_token(page)})
    assert resumed.status_code == 303
    assert "The cancellation is undone" in text(billing_page(client, account))
    db.session.expire_all()
    assert db.session.get(HostedAccount, account.id).cancelled_at is None
    assert count(db, AuditEvent, AuditEvent.action.in_(("account_cancelled", "account_resumed")),
                 AuditEvent.account_id == account.id, AuditEvent.actor.like("account_user:%")) == 2


def test_the_sweeps_leave_agency_billed_accounts_to_their_own_path(app, db, run_jobs):
    """The client-billed sweep renews referred and detached accounts only; a resold one is the agency's."""
    agency, _ = make_agency()
    add_card(agency)
    resold = make_account(agency, "resold-due", period_end=date.today())
    renewals.sweep_commission_renewals()
    run_jobs()
    assert count(db, Invoice, Invoice.account_id == resold.id) == 0


def test_an_expired_detached_account_is_renewed_by_its_client_from_the_billing_page(app, db, client, run_jobs):
    """A7 for an account that pays its own way: expired, it is closed to its client but its Billing page, where
    the client renews it on its own card (a reactivation, the first period charged now, at the list price)."""
    agency, user = make_agency()
    account = detached_account(db, agency, user, "lapsed")
    account.status, account.expired_at = "expired", utcnow()
    account.period_end = date.today() - timedelta(days=3)
    db.session.commit()
    client_login(client, account)
    assert client.get("/app/", base_url=host(account)).status_code == 403  # closed, with its branded page
    page = billing_page(client, account)
    html = text(page)
    assert page.status_code == 200 and 'id="billing-expired"' in html and "Renew the account" in html
    assert 'id="cancel-account"' not in html
    save_card(client, account)
    preview = text(client.get("/app/billing/plan", base_url=host(account)))  # its last plan, priced
    assert 'id="quote-today">$70.00<' in preview and "Confirm and pay $70.00" in preview
    renewed = client.post("/app/billing/plan", base_url=host(account), data=confirm_fields(preview))
    assert renewed.status_code == 303, text(renewed)
    db.session.expire_all()
    account = db.session.get(HostedAccount, account.id)
    assert account.status == "active" and account.period_start == date.today()
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.account_id == account.id))
    assert (invoice.kind, invoice.agency_id, invoice.total_cents, invoice.card_charged_cents) == \
        ("reactivation", None, PLUS_MONTHLY_1000, PLUS_MONTHLY_1000)
    assert client.get("/app/", base_url=host(account)).status_code == 200


def test_an_account_its_agency_had_disabled_opens_to_its_client_once_detached(app, db):
    """The agency's own switch (issue 22) leaves with the agency: nobody would be left to turn it back on.
    A disabled-for-abuse account stays disabled (support's switch)."""
    agency, user = make_agency(email="owner@agency.test")
    shut = detached_account(db, agency, user, name="shut-by-agency", status="disabled", disabled_reason="agency",
                            disabled_at=utcnow())
    abused = detached_account(db, agency, user, name="shut-by-support", status="disabled", disabled_reason="abuse",
                              disabled_at=utcnow())
    assert (shut.status, shut.disabled_reason) == ("active", None)
    assert (abused.status, abused.disabled_reason) == ("disabled", "abuse")


def test_a_detached_annual_plans_client_is_told_before_it_renews_and_where_to_change_it(app, db):
    from webapp.services import reminders
    agency, user = make_agency()
    account = detached_account(db, agency, user, "yearly", plan_term="annual",
                               period_end=date.today() + timedelta(days=5))
    assert reminders.send_upcoming_renewals() == 1
    told = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "upcoming_renewal"))
    assert told.to_address == "me@yearly.test" and "$700.00 will be charged" in told.body_text  # list price
    assert f"{account.name}.localhost" in told.body_text and "/app/billing" in told.body_text
    assert "Contact us" not in told.body_text and "Billing profile" not in told.body_text
