"""Browser: Add New from the form to the credentials, login-as into a new tab, change plan,
cancel, and renewing an expired trial."""
from __future__ import annotations

import re
from types import SimpleNamespace
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from webapp.services import billing
from webapp.services.audit import Actor

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser


@pytest.fixture
def agency(app):
    with app.app_context():
        agency, _ = make_agency("Browser Agency", email="flows@agency.test")
        billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 1,
                          cvc="123", actor=Actor("user:0", "tests"))
        make_account(agency, "taken-name")
        return SimpleNamespace(id=agency.id)



def test_add_new_with_live_checks_progress_and_credentials(page, agency, worker):
    browser_login(page, "flows@agency.test", lands=r"/$")
    page.get_by_role("link", name="Add New").click()
    page.wait_for_load_state("load")  # htmx listens once the page has loaded
    page.get_by_label("Account name").press_sequentially("taken-name", delay=20)
    expect(page.locator("#name-status")).to_contain_text("already taken")
    page.get_by_label("Account name").fill("")
    page.get_by_label("Account name").press_sequentially("fresh-bakery", delay=20)
    expect(page.locator("#name-status")).to_contain_text("is available")
    expect(page.locator("#list-price")).to_contain_text("$70.00")
    page.get_by_label("Contact limit").select_option("5000")
    expect(page.locator("#list-price")).to_contain_text("$187.00")
    page.get_by_label("Billing").select_option("annual")
    expect(page.locator("#list-price")).to_contain_text("$1,870.00")
    page.get_by_label("Client name").fill("Fresh Bakery")
    page.get_by_label("Client e-mail").fill("not an e-mail")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Add & Pay Now").click()
    expect(page.get_by_text("Enter a valid e-mail address.")).to_be_visible()  # next to the field
    page.get_by_label("Client e-mail").fill("owner@fresh.test")
    page.get_by_role("button", name="Add & Pay Now").click()
    expect(page.locator("#credentials")).to_be_visible(timeout=20000)  # progress, then the credentials
    expect(page.locator("#cred-username")).to_have_value("admin")
    expect(page.locator("#cred-login_url")).to_have_value(re.compile(r"http://fresh-bakery\.localhost:\d+/app/login"))
    assert len(page.locator("#cred-password").input_value()) >= 16
    # The whole page moved on with the panel: the heading's badge, Login and Change plan.
    expect(page.locator("h1 + .badge")).to_have_text("Active")
    expect(page.locator("#login-as")).to_be_visible()
    page.reload()  # reloading loses nothing
    expect(page.locator("#credentials")).to_be_visible()


def test_login_as_opens_a_new_tab_with_the_banner(page, app, agency):
    with app.app_context():
        account_id = make_account(agency, "acme", admin_password="acme-secret-pass").id
    browser_login(page, "flows@agency.test", lands=r"/$")
    page.goto(f"/accounts/{account_id}")
    with page.context.expect_page() as new_tab:
        page.get_by_role("button", name="Login").first.click()
    tab = new_tab.value
    tab.wait_for_load_state()
    assert re.match(r"http://acme\.localhost:\d+/app/", tab.url)
    expect(tab.locator("#signed-in-by")).to_contain_text("Signed in by your agency")


def test_login_from_a_resold_row_opens_the_account_in_a_new_tab(page, app, agency):
    """The row's Login button posts the table's one form (the form attribute): no JavaScript needed."""
    with app.app_context():
        make_account(agency, "rowlogin", admin_password="rowlogin-secret-pass")
    browser_login(page, "flows@agency.test", lands=r"/$")
    page.goto("/?q=rowlogin")
    row = page.locator('tr[data-account="rowlogin"]')
    with page.context.expect_page() as new_tab:
        row.get_by_role("button", name="Login").click()
    tab = new_tab.value
    tab.wait_for_load_state()
    assert re.match(r"http://rowlogin\.localhost:\d+/app/", tab.url)
    expect(tab.locator("#signed-in-by")).to_contain_text("Signed in by your agency")


def test_change_plan_cancel_and_renew_an_expired_trial(page, app, agency):
    with app.app_context():
        paid_id = make_account(agency, "growing", plan_tier="plus", contact_limit=1000,
                               period_end=date.today() + timedelta(days=10)).id
        make_account(agency, "trying", plan_term="trial", contact_limit=500, status="expired",
                     period_end=date.today() - timedelta(days=2))
    browser_login(page, "flows@agency.test", lands=r"/$")
    page.goto(f"/accounts/{paid_id}")
    page.locator("#plan").get_by_label("Contact limit").select_option("5000")
    page.get_by_role("button", name="Change plan…").click()
    # The amount first: (187.00 - 70.00) / 30 a day for the 10 days left, nothing charged yet.
    expect(page.get_by_role("heading", name="Change your account")).to_be_visible()
    expect(page.locator("#quote-today")).to_have_text("$39.00")
    expect(page.locator("#quote-card")).to_have_text("$39.00")
    expect(page.locator("#quote-renewal")).to_contain_text("Then $187.00 at each renewal")
    # Another choice, in place (htmx), the URL keeping it.
    page.wait_for_load_state("load")
    page.locator("#plan-choice").get_by_label("Contact limit").select_option("10000")
    expect(page.locator("#quote-today")).to_have_text("$63.00")
    expect(page).to_have_url(re.compile(r"contact_limit=10000"))
    page.locator("#plan-choice").get_by_label("Contact limit").select_option("5000")
    expect(page.locator("#quote-today")).to_have_text("$39.00")
    page.get_by_role("button", name="Confirm and pay $39.00").click()
    expect(page.get_by_text("The plan was changed. Charged now: $39.00")).to_be_visible()
    page.locator("#plan").get_by_label("Plan tier").select_option("lite")
    page.locator("#plan").get_by_label("Contact limit").select_option("500")
    page.get_by_role("button", name="Change plan…").click()
    expect(page.locator("#quote-today")).to_have_text("$0.00")
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.locator("#pending-plan")).to_contain_text("Lite")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#cancel").get_by_role("link", name="Cancel this account").click()
    expect(page.locator("#cancelled-note")).to_contain_text("stays usable until")

    page.goto("/?status=expired")
    page.locator("tr[data-account='trying']").get_by_role("link", name="Renew").click()
    expect(page.get_by_role("heading", name="Change your account")).to_be_visible()
    expect(page.locator("#quote-box")).to_contain_text("Renewal of the expired account")
    expect(page.locator("#quote-today")).to_have_text("$49.00")  # Plus monthly, 500 contacts
    page.get_by_role("button", name="Confirm and pay $49.00").click()
    expect(page.locator("#current-plan")).to_contain_text("Monthly")
    expect(page.locator(".badge.status-active").first).to_be_visible()
