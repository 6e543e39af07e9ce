"""Browser (issue 22): edit a client's details (a bad e-mail is refused by its field, then a good one is
saved), cancel then resume, and disable then enable an account, from the account page."""
from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import HostedAccount

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(app):
    with app.app_context():
        agency, _ = make_agency("Flows Agency", email="flows22@agency.test")
        account = make_account(agency, "corner-shop", client_name="Corner Shop", client_email="old@corner.test",
                               admin_password="corner-admin-pw", period_end=date.today() + timedelta(days=12))
        return SimpleNamespace(id=account.id)


def _account(app, account_id) -> HostedAccount:
    with app.app_context():
        account = db.session.get(HostedAccount, account_id)
        db.session.expunge(account)
        return account


def test_edit_details_with_a_bad_email_then_a_good_one(page, app, shop):
    browser_login(page, "flows22@agency.test", lands=r"/$")
    page.goto(f"/accounts/{shop.id}")
    page.wait_for_load_state("load")
    page.get_by_role("link", name="Edit details").click()
    form = page.locator("#details-form")  # the Client card became the form, in place
    expect(form).to_be_visible()
    assert page.url.endswith(f"/accounts/{shop.id}")
    form.get_by_label("Client name").fill("Corner Shop & Café")
    form.get_by_label("Client e-mail").fill("not an e-mail")
    form.get_by_label("Language").select_option("fr")
    form.get_by_label("Time zone").fill("Europe/Paris")
    form.get_by_role("button", name="Save details").click()
    error = page.locator("#details-client_email-error")
    expect(error).to_have_text("Enter a valid e-mail address.")  # by its field
    expect(form.get_by_label("Client name")).to_have_value("Corner Shop & Café")  # what was typed is kept
    assert _account(app, shop.id).client_email == "old@corner.test"  # nothing written
    form.get_by_label("Client e-mail").fill("hello@corner.test")
    form.get_by_role("button", name="Save details").click()
    expect(page.get_by_text("The client's details were saved.")).to_be_visible()
    expect(page.locator("#client-email")).to_have_text("hello@corner.test")
    expect(page.locator("#client-name")).to_have_text("Corner Shop & Café")
    expect(page.locator("#client-language")).to_have_text("Français")
    expect(page.locator("#client-timezone")).to_have_text("Europe/Paris")
    saved = _account(app, shop.id)
    assert (saved.client_email, saved.language) == ("hello@corner.test", "fr")


def test_cancel_then_resume(page, app, shop):
    browser_login(page, "flows22@agency.test", lands=r"/$")
    page.goto(f"/accounts/{shop.id}")
    page.wait_for_load_state("load")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#cancel").get_by_role("link", name="Cancel this account").click()
    expect(page.locator("#cancelled-note")).to_contain_text("stays usable until")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("is resumed: it renews on")).to_be_visible()
    expect(page.locator("#cancel").get_by_role("link", name="Cancel this account")).to_be_visible()
    expect(page.locator("h1 + .badge")).to_have_text("Active")
    account = _account(app, shop.id)
    assert (account.status, account.cancelled_at) == ("active", None)


def test_disable_then_enable(page, app, shop, browser):
    browser_login(page, "flows22@agency.test", lands=r"/$")
    page.goto(f"/accounts/{shop.id}")
    page.wait_for_load_state("load")
    page.once("dialog", lambda dialog: dialog.accept())  # "Disable corner-shop? ..."
    page.get_by_role("button", name="Disable this account").click()
    expect(page.locator("#closed-note")).to_contain_text("You disabled this account")
    expect(page.locator("h1 + .badge")).to_have_text("Disabled")
    expect(page.locator("#login-as")).to_have_count(0)
    # The client sees the closed page on the account's own host.
    client = browser.new_context(base_url=page.url.split("/accounts")[0].replace("localhost", "corner-shop.localhost"))
    client_page = client.new_page()
    client_page.goto("/app/login")
    expect(client_page.locator("#account-closed")).to_have_text("This account is disabled")
    page.get_by_role("button", name="Enable this account").click()
    expect(page.get_by_text("is enabled again")).to_be_visible()
    expect(page.locator("h1 + .badge")).to_have_text("Active")
    client_page.goto("/app/login")  # at once
    expect(client_page.get_by_label("Username")).to_be_visible()
    client.close()
