"""What the browser tests that walk every page of every role share (test_csp.py, test_accessibility.py):
the demo data with one of each thing a URL names (`platform`), the ids a rule of the URL map is filled
with (`_args`), who opens an endpoint (`_role`), and the sign-in."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from webapp.models import (AbuseReport, AccountUser, Automation, EmailTemplate, HostedAccount, Invoice, OutboundEmail,
                           Pushdown, SupportRequest)
from webapp.services import billing, client_auth, commission, contact, demo, links, templates
from webapp.services.audit import Actor
from webapp.services.scope import AgencyScope

# Not pages: what they answer is not a document a person reads.
SKIPPED = {
    "static": "files", "health.healthz": "a probe", "health.readyz": "a probe",
    "whitelabel.account_logo": "an image", "whitelabel.defaults_logo": "an image", "client.logo": "an image",
    "client.brand_css": "a style sheet", "billing.history_csv": "a CSV file",
    "billing.invoice_pdf": "a PDF file", "billing.statement_pdf": "a PDF file",
    "health.tls_ask": "an empty yes-or-no answer for the TLS proxy",
    "billing.account_names": "a list for the browser's autocomplete",
    "client.login_as": "exchanges a single-use token, then redirects to the overview (visited)",
}

@pytest.fixture
def platform(app):
    with app.app_context():
        from webapp.extensions import db
        seeded = demo.seed()
        agency, acme = seeded["agency"], db.session.scalar(sa.select(HostedAccount).where(
            HostedAccount.name == demo.CLIENT_ACCOUNT))
        actor = Actor("system", "tests")
        user = agency.users[0]
        invoice = billing.buy_prepaid(agency.id, 5000, account=None, actor=actor)
        ticket = contact.open_ticket(AgencyScope(agency.id), user, subject="Help", message="A question",
                                     account_name=None, actor=actor)
        account_template = db.session.scalar(sa.select(EmailTemplate).where(EmailTemplate.account_id == acme.id))
        _link, share_token = templates.share(acme, account_template.id, actor)
        admin = db.session.scalar(sa.select(AccountUser).where(AccountUser.account_id == acme.id))
        client_auth.send_reset(acme, admin)
        reset = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "client_password_reset"))
        referred, op = commission.sign_up(agency.referral_code, commission.Referral(
            name="referred-shop", client_name="Referred", client_email="me@referred.test", tier="plus",
            term="monthly", contact_limit=1000, number="4242424242424242", exp_month=12, exp_year=2040,
            cvc="123"), request_key="csp")
        _invite, invite_token = links.issue("invite", agency_id=agency.id, email="invited@northwind.test",
                                            team_role="member")
        report = AbuseReport(agency_id=agency.id, account_id=acme.id, kind="abuse", severity="high",
                             description="Spam complaints", evidence="<b>312</b> complaints", sample_message="Hi")
        db.session.add(report)
        db.session.commit()
        from webapp.services import webhooks
        hook, _secret = webhooks.create_endpoint(AgencyScope(agency.id), url="https://93.184.216.34/hook",
                                                 events=["invoice.paid"], description="CRM", actor=actor)
        webhooks.send_test(AgencyScope(agency.id), hook.id, actor=actor)
        return SimpleNamespace(invite_token=invite_token, endpoint_id=hook.id,
            code=agency.referral_code, account_id=acme.id, pushdown_id=db.session.scalar(sa.select(Pushdown.id)),
            automation_id=db.session.scalar(sa.select(Automation.id).order_by(Automation.id)),
            agency_template_id=db.session.scalar(sa.select(EmailTemplate.id).where(EmailTemplate.account_id.is_(None))),
            account_template_id=account_template.id, invoice_id=invoice.id, ticket_id=ticket.id,
            email_id=reset.id, reset_token=re.search(r"/app/reset/(\S+)", reset.body_text).group(1),
            share_token=share_token, welcome_token=commission.issue_welcome_token(op), agency_id=agency.id,
            support_request=db.session.scalar(sa.select(SupportRequest.id)), report_id=report.id)


def _args(rule, data) -> dict | None:
    values = {}
    for name in rule.arguments:
        if name == "template_id":
            values[name] = data.account_template_id if rule.endpoint.startswith("client.") else data.agency_template_id
        elif name == "token":
            values[name] = {"client.reset": data.reset_token, "client.shared": data.share_token,
                            "client.shared_html": data.share_token, "commission.welcome": data.welcome_token,
                            "accounts.confirm_transfer": "no-such-token", "team.accept": data.invite_token,
                            "myaccount.confirm_email": "no-such-token",
                            "auth.reset_password": "no-such-token", "auth.set_password": "no-such-token",
                            "auth.confirm_signup": "no-such-token"}[rule.endpoint]
        elif name == "ticket_id":
            values[name] = data.ticket_id
        else:
            values[name] = getattr(data, name)
    return values


def _role(endpoint: str) -> str:
    if endpoint.startswith("client."):
        return "client" if endpoint not in ("client.login", "client.forgot", "client.reset", "client.shared",
                                            "client.shared_html") else "client_anonymous"
    if endpoint.startswith("support."):
        return "support"
    if endpoint in ("commission.referral", "commission.welcome", "accounts.confirm_transfer", "team.accept") or (
            endpoint.startswith("auth.") and endpoint != "auth.reauth"):
        return "anonymous"
    return "agency"


def _sign_in(page, url, email_label, email, password):
    page.goto(url)
    page.get_by_label(email_label).fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
