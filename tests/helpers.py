"""Test data makers: small functions that build real rows through the models."""
from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

from webapp.extensions import db
from webapp.models import AccountUser, Agency, HostedAccount, User, utcnow
from webapp.services import billing
from webapp.services.audit import Actor
from webapp.services.passwords import hash_password

PASSWORD = "correct-horse-battery"
# What the tests' own app processes (gunicorn, python worker.py) are started with: they refuse a
# missing or short SECRET_KEY, as production does.
SUBPROCESS_SECRET_KEY = "tests-only-secret-key-0123456789abcdef"
_seq = itertools.count(1)


def make_agency(name: str = "Acme Agency", email: str | None = None, password: str = PASSWORD) -> tuple[Agency, User]:
    n = next(_seq)
    agency = Agency(name=name, referral_code=f"ref{n}")
    db.session.add(agency)
    db.session.flush()
    user = User(email=email or f"agent{n}@agency.test", name=f"Agent {n}", password_hash=hash_password(password),
                role="agency", team_role="owner", agency_id=agency.id, email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return agency, user


def make_support(email: str = "staff@agencyhq.test", password: str = PASSWORD) -> User:
    user = User(email=email, name="Staff", password_hash=hash_password(password), role="support", email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user


def make_account(agency: Agency, name: str | None = None, *, admin_password: str | None = None, **fields) -> HostedAccount:
    n = next(_seq)
    values = dict(kind="resold", status="active", plan_tier="plus", plan_term="monthly", contact_limit=1000,
                  client_name=f"Client {n}", client_email=f"client{n}@example.test",
                  notification_email="alerts@agency.test", period_start=date.today(),
                  period_end=date.today() + timedelta(days=30), anchor_day=date.today().day)
    values.update(fields)
    account = HostedAccount(agency_id=agency.id, name=name or f"acct-{n}", **values)
    db.session.add(account)
    db.session.flush()
    if admin_password:
        db.session.add(AccountUser(account_id=account.id, username="admin", email=account.client_email,
                                   password_hash=hash_password(admin_password)))
    db.session.commit()
    return account


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, email: str, password: str = PASSWORD, base_url: str = "http://localhost"):
    page = client.get("/login", base_url=base_url)
    return client.post("/login", base_url=base_url, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "email": email, "password": password})


def audited(db, *where) -> list[str]:
    """The audit log's actions, oldest first, without the sign-ins that set up the test."""
    from sqlalchemy import select

    from webapp.models import AuditEvent
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.notlike("sign_in_%"), *where).order_by(AuditEvent.id)))


CARD = "4242424242424242"
CARD_YEAR = date.today().year + 1


def add_card(agency, number: str = CARD):
    """Saves a card on the agency (an Agency or its id) through billing and the configured gateway, as the
    billing profile does; returns the billing profile. Under Stripe the card goes to the stand-in Stripe
    only, as Stripe.js sends it: the SetupIntent AgencyHQ made is confirmed there, then AgencyHQ reads it."""
    agency_id, actor = getattr(agency, "id", agency), Actor("system", "tests")
    if not billing.gateway().collects_card:
        return billing.save_card(agency_id, number=number, exp_month=12, exp_year=CARD_YEAR, cvc="123", actor=actor)
    setup = billing.start_card_setup(agency_id, actor=actor)
    stripe_confirm_setup(setup, number)
    return billing.save_card_from_setup(agency_id, setup_ref=setup.setup_ref, state=setup.state, actor=actor)


def stripe_confirm_setup(setup, number: str, *, exp_year: int = CARD_YEAR):
    """What Stripe.js's confirmCardSetup sends, from the browser straight to Stripe (the stand-in)."""
    import httpx
    api = billing.gateway().api_base
    digits = "".join(ch for ch in number if ch.isdigit())
    return httpx.post(f"{api}/v1/setup_intents/{setup.setup_ref}/confirm", json={
        "key": setup.publishable_key, "client_secret": setup.client_secret, "use_stripe_sdk": True,
        "payment_method_data": {"type": "card", "card": {"number": digits, "exp_month": 12, "exp_year": exp_year,
                                                         "cvc": "123"}}})


def browser_login(page, email: str, password: str = PASSWORD, *, lands: str | None = r"/(support)?$"):
    """Signs a Playwright page in on the dashboard login; waits for the page it lands on (a regex of the
    URL's end, or only for the load when None)."""
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    if lands is None:
        page.wait_for_load_state()
    else:
        page.wait_for_url(re.compile(lands))


def make_member(agency: Agency, team_role: str = "member", email: str | None = None,
                password: str = PASSWORD) -> User:
    """Another user of an agency's team, with its role (make_agency makes the Owner)."""
    n = next(_seq)
    user = User(email=email or f"{team_role}{n}@agency.test", name=f"{team_role.title()} {n}",
                password_hash=hash_password(password), role="agency", team_role=team_role, agency_id=agency.id,
                email_confirmed_at=utcnow())
    db.session.add(user)
    db.session.commit()
    return user


def agency_actor(user: User):
    """The audit actor of an agency user, with the user's role in the team (as the dashboard makes it)."""
    from webapp.services.audit import Actor
    return Actor(f"user:{user.id}", user.email, None, user.agency_id, team_role=user.team_role)


def confirm_change(client, account_id: int, *, tier: str, term: str, contact_limit, request_key: str | None = None):
    """The dashboard's two presses of a plan change or a renewal: the page that shows what it charges (the
    preview), then its Confirm, posting back the preview's token. Returns the Confirm's response."""
    import re
    page = client.get(f"/accounts/{account_id}/change?tier={tier}&term={term}&contact_limit={contact_limit}")
    html = page.get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="(plan-[a-z_]+|csrf_token)"[^>]*value="([^"]*)"', html))
    assert "plan-quote" in fields, html
    if request_key:
        fields["plan-request_key"] = request_key
    return client.post(f"/accounts/{account_id}/plan", data=fields)


def confirm_purchase(client, path: str, **choice):
    """The dashboard's two presses of a purchase of credit: its price shown (GET with the choice), then its
    Confirm, posting back the preview's token. Returns (preview page, the Confirm's response or None)."""
    import re
    from urllib.parse import urlencode
    page = client.get(f"{path}?{urlencode(choice)}")
    html = page.get_data(as_text=True)
    form = re.search(r'<form method="post" action="[^"]*" id="confirm-purchase">(.*?)</form>', html, re.S)
    if form is None:
        return page, None
    fields = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', form.group(1)))
    return page, client.post(path, data=fields)


def email_step(agency: Agency, subject: str = "Hi", html: str = "<p>Hello</p>", **fields) -> dict:
    """A send-e-mail step of a parent automation (P1): its message is a template of the agency's parent account,
    made here the first time (issue 23)."""
    from webapp.services import pushdown, templates
    parent = pushdown.parent_account(agency.id)
    template = next((t for t in templates.account_templates(parent) if t.html == html), None) or \
        templates.create_in_account(parent, templates.TemplateInput(f"Message {next(_seq)}", "", html),
                                    Actor("system", "tests"))
    return {"type": "send_email", "subject": subject, "from_name": "The Agency", "template_id": template.id, **fields}
