"""Issue 23, "Papercuts across the dashboard": each bug a new user tripped over, as a request test that
failed before its fix."""
from __future__ import annotations

import ast
import re
from datetime import date, datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import sqlalchemy as sa
from babel import dates, numbers
from flask_babel import LazyString

from webapp.catalog import get_catalog
from webapp.models import AuditEvent, SupportRequest
from webapp.services import audit, support

from .helpers import add_card, agency_actor, csrf_token, login, make_account, make_agency, make_support

ROOT = Path(__file__).resolve().parents[1]


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def post(client, path, data=None, page=None):
    token = csrf_token(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})})


# ---- dates and times: one format per kind ----------------------------------------------------------------

def test_a_flash_message_shows_its_day_as_the_page_does(client, db):
    agency, user = make_agency(email="dates@agency.test")
    account = make_account(agency, "dated", period_end=date(2026, 12, 11))
    login(client, user.email)
    done = post(client, f"/accounts/{account.id}/cancel")
    assert done.status_code == 303
    page = text_of(client.get(done.headers["Location"]))
    assert "stays usable until Dec 11, 2026." in page
    assert "2026-12-11" not in page


def test_an_extended_trial_is_told_with_its_day_as_the_page_shows_it(client, db):
    agency, user = make_agency(email="trial@agency.test")
    account = make_account(agency, "trying", plan_term="trial", contact_limit=500,
                           period_end=date.today() + timedelta(days=3))
    login(client, user.email)
    done = post(client, f"/accounts/{account.id}/extend-trial", page=f"/accounts/{account.id}")
    page = text_of(client.get(done.headers["Location"]))
    db.session.expire_all()
    shown = re.search(r"The trial now ends on ([^.<]+)\.", page)
    assert shown, page
    assert shown.group(1) == dates.format_date(db.session.get(type(account), account.id).period_end, "medium", locale="en")


def test_the_resold_tabs_created_column_is_a_day_like_the_renewal_beside_it(client, db):
    agency, user = make_agency(email="created@agency.test")
    make_account(agency, "made", created_at=datetime(2026, 7, 13, 20, 2, tzinfo=timezone.utc),
                 period_end=date(2026, 12, 13))
    login(client, user.email)
    row = re.search(r'<tr data-account="made">.*?</tr>', text_of(client.get("/")), re.S).group(0)
    assert "Jul 13, 2026" in row and "Dec 13, 2026" in row
    assert "7/13/26" not in row and "8:02" not in row


def test_every_moment_is_shown_in_one_format(app, client, db):
    """The `datetime` filter gives one format whatever a template asks for: the day as dates are
    shown, and the time to the minute."""
    instant = datetime(2026, 7, 13, 20, 2, 41, tzinfo=timezone.utc)
    with app.test_request_context():
        render = app.jinja_env.from_string('{{ t|datetime("short") }}|{{ t|datetime }}|{{ t|date }}').render
        short, medium, day = render(t=instant).split("|")
    assert short == medium == "Jul 13, 2026, 8:02\u202fPM"
    assert day == "Jul 13, 2026"


# ---- the Resold rows, the side menu, the favicon ------------------------------------------------------------

def test_a_login_url_wraps_only_after_its_dots_and_slashes(client, db):
    agency, user = make_agency(email="wrap@agency.test")
    make_account(agency, "a-rather-long-account-name")
    login(client, user.email)
    row = re.search(r'<tr data-account="a-rather-long-account-name">.*?</tr>', client.get("/").get_data(as_text=True),
                    re.S).group(0)
    link = re.search(r'<div class="sub login-url"><a [^>]*>(.*?)</a>', row).group(1)
    assert link.split("<wbr>") == ["http://", '<span class="nowrap-piece">a-rather-long-account-name.</span>',
                                   "localhost/", "app/", "login"]  # the only places it may wrap
    # Only a piece that could break at a hyphen is kept whole by a span (issue 25: lighter rows).
    assert "text-break" not in row
    css = (ROOT / "static/css/app.css").read_text()
    assert ".login-url { overflow-wrap: normal; word-break: normal; }" in css
    assert ".login-url .nowrap-piece { white-space: nowrap; }" in css


def test_a_pending_downgrade_shows_its_price_after_the_current_one(client, db):
    agency, user = make_agency(email="down@agency.test")
    make_account(agency, "shrinking", plan_tier="plus", plan_term="monthly", contact_limit=5000,
                 pending_plan_tier="lite", pending_plan_term="monthly", pending_contact_limit=1000)
    make_account(agency, "steady", plan_tier="plus", plan_term="monthly", contact_limit=5000)
    login(client, user.email)
    page = client.get("/").get_data(as_text=True)
    row = re.search(r'<tr data-account="shrinking">.*?</tr>', page, re.S).group(0)
    catalog = get_catalog()
    now = numbers.format_currency(catalog.list_price_cents("plus", "monthly", 5000) / 100, catalog.currency, locale="en")
    then = numbers.format_currency(catalog.list_price_cents("lite", "monthly", 1000) / 100, catalog.currency, locale="en")
    assert now in row and f"then {then}" in unescape(row)
    assert "then" not in re.search(r'<tr data-account="steady">.*?</tr>', page, re.S).group(0)


def test_logout_and_transfer_in_look_like_what_they_are(client, db):
    agency, user = make_agency(email="menu@agency.test")
    login(client, user.email)
    page = client.get("/").get_data(as_text=True)
    logout = re.search(r'<button class="([^"]+)" id="side-logout"', page).group(1).split()
    assert "p-0" not in logout and "side-link" in logout  # the links' own padding
    transfer = re.search(r'<a class="([^"]+)" id="transfer-in"', page).group(1).split()
    assert "btn-outline-primary" in transfer and "btn-outline-secondary" not in transfer


def test_every_page_has_a_favicon_and_favicon_ico_answers_on_every_host(client, db):
    agency, _ = make_agency(email="icon@agency.test")
    make_account(agency, "iconic")
    page = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert client.get("/static/favicon.svg").status_code == 200
    for host in ("http://localhost", "http://iconic.localhost"):
        icon = client.get("/favicon.ico", base_url=host)
        assert icon.status_code == 200, host
        assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file


# ---- transfer in ---------------------------------------------------------------------------------------------

def test_asking_to_transfer_in_an_account_the_agency_owns_is_refused_by_the_field(client, db):
    agency, user = make_agency(email="owner@agency.test")
    make_account(agency, "mine", admin_password="mine-pass-1", client_email="boss@mine.test")
    login(client, user.email)
    refused = post(client, "/accounts/transfer", {"account_name": "mine", "admin_email": "boss@mine.test"})
    assert refused.status_code == 422
    html = text_of(refused)
    assert 'aria-invalid="true" aria-describedby="account_name-error"' in html
    assert re.search(r'id="account_name-error">mine is already one of your accounts\.<', html)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SupportRequest)) == 0


def test_support_sees_the_requesting_agencys_name(client, db):
    agency, user = make_agency("Northwind Studio", email="north@agency.test")
    other, _ = make_agency("Previous", email="previous@agency.test")
    make_account(other, "moving-shop", admin_password="moving-pass-1", client_email="boss@moving.test")
    support.request_transfer(agency.id, user, account_name="moving-shop", admin_email="boss@moving.test",
                             actor=agency_actor(user))
    db.session.execute(sa.update(SupportRequest).values(status="open"))
    db.session.commit()
    staff = make_support()
    login(client, staff.email)
    console = text_of(client.get("/support?kind=transfer"))
    assert "Transfer moving-shop to Northwind Studio" in console
    assert "Asked by Northwind Studio" in console
    assert f"agency {agency.id}" not in console


def test_rejecting_without_a_reason_says_so_by_the_reason_field(client, db):
    agency, user = make_agency(email="asker@agency.test")
    account = make_account(agency, "leaving")
    request = support.request_detach(account, user, client_email="owner@leaving.test", actor=agency_actor(user))
    staff = make_support()
    login(client, staff.email)
    refused = post(client, f"/support/requests/{request.id}/decide", {"decision": "reject"}, page="/support")
    assert refused.status_code == 422
    html = text_of(refused)
    assert f'aria-invalid="true" aria-describedby="reason-error-{request.id}"' in html
    assert f'id="reason-error-{request.id}">Say why the request is rejected.<' in html
    db.session.expire_all()
    assert db.session.get(SupportRequest, request.id).status == "open"


# ---- the support audit log ----------------------------------------------------------------------------------

def test_the_audit_log_names_the_account_of_every_entry_and_says_its_action_in_words(client, db):
    agency, user = make_agency(email="logged@agency.test")
    account = make_account(agency, "visited")
    audit.record(audit.Actor(f"user:{user.id}", user.email), "login_as_started", agency_id=agency.id,
                 account_id=account.id, by_support=False)
    db.session.commit()
    staff = make_support()
    login(client, staff.email)
    console = text_of(client.get("/support?action=login_as_started"))
    row = re.search(r'<tr data-event="login_as_started">.*?</tr>', console, re.S).group(0)
    assert "Login-as started" in row and "<td>login_as_started</td>" not in row
    assert re.search(r"<td data-account>visited</td>", row)
    assert '<option value="login_as_started" selected>Login-as started</option>' in console


def _recorded_actions() -> set[str]:
    """Every action passed to audit.record( in webapp, read from the source; the few made of parts are
    expanded from what they are made of."""
    found, built = set(), []
    for path in (ROOT / "webapp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "audit":
                stack = [node.args[1]]
                while stack:
                    arg = stack.pop()
                    if isinstance(arg, ast.Constant):
                        found.add(arg.value)
                    elif isinstance(arg, ast.IfExp):
                        stack += [arg.body, arg.orelse]
                    else:
                        built.append(f"{path.relative_to(ROOT)}: {ast.unparse(arg)}")
    expanded = {
        "webapp/services/two_factor.py: action": {"two_factor_disabled", "two_factor_reset_by_support"},
        "webapp/services/billing.py: f'{kind}_credits_bought'": {"sms_credits_bought", "compatibility_credits_bought"},
        "webapp/services/support.py: f'{request.kind}_{request.status}'":
            {f"{kind}_{status}" for kind in support.QUEUE_KINDS for status in ("approved", "rejected")},
    }
    assert set(built) <= set(expanded), f"an action made of parts this test does not know: {set(built) - set(expanded)}"
    for parts in built:
        found |= expanded[parts]
    return found


def test_every_action_recorded_anywhere_has_a_translated_label():
    actions = _recorded_actions()
    assert len(actions) > 100  # the source was read
    missing = sorted(actions - set(audit.ACTION_LABELS))
    assert not missing, f"add these to webapp/services/audit.py ACTION_LABELS: {missing}"
    assert all(isinstance(label, LazyString) for label in audit.ACTION_LABELS.values())


def test_an_action_without_a_label_is_still_shown_in_words(app):
    with app.test_request_context():
        assert audit.action_label("login_as_started") == "Login-as started"
        assert audit.action_label("something_old_happened") == "Something old happened"


# ---- the account page ------------------------------------------------------------------------------------------

def test_the_account_page_names_the_clients_language(client, db):
    agency, user = make_agency(email="lang@agency.test")
    account = make_account(agency, "parle", language="fr")
    login(client, user.email)
    page = client.get(f"/accounts/{account.id}").get_data(as_text=True)
    assert '<dd class="col-7" id="client-language">Français</dd>' in page


# ---- Add New and the billing form ------------------------------------------------------------------------------

def _describes(html: str, input_id: str) -> tuple[str | None, list[str]]:
    tag = re.search(rf'<input[^>]*\bid="{input_id}"[^>]*>', html).group(0)
    invalid = re.search(r'aria-invalid="([^"]+)"', tag)
    described = re.search(r'aria-describedby="([^"]+)"', tag)
    return (invalid.group(1) if invalid else None), (described.group(1).split() if described else [])


def test_add_new_ties_every_fields_error_to_its_field(client, db):
    agency, user = make_agency(email="new@agency.test")
    add_card(agency)
    login(client, user.email)
    page = client.get("/accounts/new").get_data(as_text=True)
    key = re.search(r'id="request_key" name="request_key" type="hidden" value="([^"]+)"', page).group(1)
    refused = client.post("/accounts/new", data={
        "csrf_token": csrf_token(page), "request_key": key, "name": "", "custom_domain": "not a domain!",
        "client_name": "", "client_email": "nope", "notification_email": "", "language": "en",
        "timezone": "Mars/Olympus", "tier": "plus", "term": "monthly", "contact_limit": "1000"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    for field in ("name", "custom_domain", "client_name", "client_email", "timezone"):
        invalid, described = _describes(html, field)
        assert invalid == "true", field
        error_id = f"{field}-error"
        assert error_id in described, (field, described)
        assert f'id="{error_id}"' in html, field
    assert _describes(html, "name")[1] == ["name-error", "name-check", "name-help"]
    assert "timezone-help" in _describes(html, "timezone")[1]


def test_the_card_form_reports_every_fields_problem_in_one_answer(client, db):
    agency, user = make_agency(email="card@agency.test")
    login(client, user.email)
    # The number is checked by the card rules only, the missing expiry month by the form: both are told.
    refused = post(client, "/billing/profile", {"number": "1234", "exp_month": "", "exp_year": "2030", "cvc": "1"})
    assert refused.status_code == 422
    html = text_of(refused)
    assert re.search(r'id="number-error">Enter the card number: 12 to 19 digits\.<', html)
    assert re.search(r'id="cvc-error">Enter the 3-digit security code\.<', html)
    assert 'id="exp_month-error"' in html


# ---- the client's pages ---------------------------------------------------------------------------------------

def test_the_clients_overview_names_its_account_and_its_username(client, db):
    agency, _ = make_agency(email="clients@agency.test")
    make_account(agency, "bakery", admin_password="bakery-pass-1")
    base = "http://bakery.localhost"
    page = client.get("/app/login", base_url=base)
    client.post("/app/login", base_url=base, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                   "username": "admin", "password": "bakery-pass-1"})
    overview = client.get("/app/", base_url=base).get_data(as_text=True)
    assert re.search(r'id="overview-account">bakery<', overview)
    assert re.search(r'id="overview-username"><code>admin</code>', overview)


def test_forgot_refuses_a_text_that_is_not_an_email_address_by_the_field(client, db):
    agency, _ = make_agency(email="forgot@agency.test")
    make_account(agency, "florist", admin_password="florist-pass-1")
    base = "http://florist.localhost"
    page = client.get("/app/forgot", base_url=base).get_data(as_text=True)
    refused = client.post("/app/forgot", base_url=base, data={"csrf_token": csrf_token(page), "email": "admin"})
    assert refused.status_code == 422
    html = text_of(refused)
    assert 'id="reset-sent"' not in html
    assert re.search(r'id="email-error">Enter a valid e-mail address\.<', html)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "client_password_reset_requested")) == 0
    sent = client.post("/app/forgot", base_url=base, data={"csrf_token": csrf_token(page), "email": "who@florist.test"})
    assert 'id="reset-sent"' in sent.get_data(as_text=True)


# ---- My account, the README ------------------------------------------------------------------------------------

def test_the_language_switch_is_confirmed_in_the_new_language(client, db):
    agency, user = make_agency(email="polyglot@agency.test")
    login(client, user.email)
    done = post(client, "/my-account/preferences", {"prefs-language": "fr", "prefs-timezone": "Europe/Paris"},
                page="/my-account")
    assert done.status_code == 303
    page = text_of(client.get(done.headers["Location"]))
    assert "Vos préférences ont été enregistrées." in page
    assert "Your preferences were saved." not in page


def test_the_readme_says_how_to_run_on_another_port_and_the_makefile_does_it():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run PORT=8080" in quick_start
    makefile = (ROOT / "Makefile").read_text()
    assert "PORT ?= 5000" in makefile and "--port $(PORT)" in makefile


def test_a_services_refusal_shows_its_day_as_the_page_does(client, db):
    agency, user = make_agency(email="again@agency.test")
    account = make_account(agency, "twice", period_end=date(2026, 12, 11))
    login(client, user.email)
    post(client, f"/accounts/{account.id}/cancel")
    again = post(client, f"/accounts/{account.id}/cancel")
    page = text_of(client.get(again.headers["Location"]))
    assert "This account is already cancelled; it stays usable until Dec 11, 2026." in page


def test_a_row_seen_before_shows_a_downgrade_scheduled_since(client, db):
    """The rows are kept per process by what they show (webapp/web/resold/rows.py): the pending plan is part of it."""
    agency, user = make_agency(email="cached@agency.test")
    account = make_account(agency, "changing", plan_tier="plus", plan_term="monthly", contact_limit=5000)
    login(client, user.email)
    row = lambda: re.search(r'<tr data-account="changing">.*?</tr>', client.get("/").get_data(as_text=True), re.S).group(0)  # noqa: E731
    assert "then-price" not in row() and "then-price" not in row()
    account.pending_plan_tier, account.pending_plan_term, account.pending_contact_limit = "lite", "monthly", 1000
    db.session.commit()
    assert "then-price" in row()
