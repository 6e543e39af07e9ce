"""Browser (issue 17, item 9): every page of every role, listed from the URL map, loads under the
Content-Security-Policy without a single violation. Chromium reports each one as a console error
and as a `securitypolicyviolation` event; both are collected. A GET page nobody visits fails the
test, unless it is in SKIPPED with the reason."""
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

pytestmark = pytest.mark.browser

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
WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP-VIOLATION ${e.violatedDirective} blocked=${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


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


def test_no_page_of_any_role_breaks_the_content_security_policy(app, browser, live_server, platform):
    client_base = live_server.replace("localhost", f"{demo.CLIENT_ACCOUNT}.localhost")
    violations: list[tuple[str, str]] = []
    pages = {}
    for role in ("agency", "support", "client", "client_anonymous", "anonymous"):
        context = browser.new_context(base_url=client_base if role.startswith("client") else live_server)
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(10000)
        page.on("console", lambda message, page=page: violations.append((page.url, message.text))
                if message.type == "error" and ("Content Security Policy" in message.text
                                                or "CSP-VIOLATION" in message.text) else None)
        pages[role] = page
    _sign_in(pages["agency"], "/login", "E-mail", demo.AGENCY_EMAIL, demo.AGENCY_PASSWORD)
    _sign_in(pages["support"], "/login", "E-mail", demo.SUPPORT_EMAIL, demo.SUPPORT_PASSWORD)
    _sign_in(pages["client"], "/app/login", "Username", "admin", demo.CLIENT_PASSWORD)

    visited = []
    with app.test_request_context(base_url=live_server):
        from flask import url_for
        rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and not r.endpoint.startswith("api.")]
        for rule in sorted(rules, key=lambda r: r.rule):
            if rule.endpoint in SKIPPED:
                continue
            path = url_for(rule.endpoint, **_args(rule, platform))
            page = pages[_role(rule.endpoint)]
            answer = page.goto(path)
            assert answer is not None and answer.status < 500, f"{path}: {answer and answer.status}"
            if rule.endpoint in ("auth.login", "client.login") or _role(rule.endpoint) == "anonymous":
                pass
            else:
                assert "/login" not in page.url, f"{path} sent {_role(rule.endpoint)} to the login page"
            page.wait_for_load_state("load")
            visited.append(rule.endpoint)
    # The error pages too (a 404, a 403 of another role's page), and their Go back link.
    assert pages["agency"].goto("/no-such-page").status == 404
    assert pages["agency"].goto("/support").status == 403
    pages["agency"].get_by_role("link", name="Go back").click()
    for page in pages.values():
        page.wait_for_timeout(200)  # late reports (a swap the page triggered on load)
        page.context.close()
    assert not violations, "\n".join(f"{url}: {text}" for url, text in violations)
    every = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods and not r.endpoint.startswith("api.")}
    assert every - set(SKIPPED) == set(visited)
