"""Browser: support finds an agency waiting for approval on the Agencies page (the state filter keeps
the page, htmx swaps the list), approves it, then suspends an active one with a reason; the owner
of the suspended agency is then refused at sign-in."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD, browser_login, make_agency, make_support

pytestmark = pytest.mark.browser


def test_support_approves_an_application_and_suspends_an_agency(page, app, browser, live_server):
    with app.app_context():
        from webapp.extensions import db
        waiting, _ = make_agency("Hopeful Agency", email="hope@hopeful.test")
        waiting.state = "awaiting_approval"
        make_agency("Late Payer", email="owner@late.test")
        db.session.commit()
        make_support()
    browser_login(page, "staff@agencyhq.test")
    page.get_by_role("navigation", name="Support menu").get_by_role("link", name="Agencies").click()
    expect(page.locator("#agencies tbody tr[data-agency]")).to_have_count(2)
    page.wait_for_load_state("load")  # htmx listens once the page has loaded
    page.evaluate("window.__samePage = true")
    page.get_by_label("State").select_option("awaiting_approval")
    expect(page).to_have_url(re.compile(r"state=awaiting_approval"))
    expect(page.locator("#agencies tbody tr[data-agency]")).to_have_count(1)
    assert page.evaluate("window.__samePage") is True  # the list was swapped, not the page reloaded

    page.get_by_role("link", name="Hopeful Agency").click()
    expect(page.locator("#agency-state")).to_have_text("Awaiting approval")
    page.get_by_role("button", name="Approve the application").click()
    expect(page.get_by_role("status").filter(has_text="is approved")).to_be_visible()
    expect(page.locator("#agency-state")).to_have_text("Active")

    page.get_by_role("link", name="Agencies", exact=True).first.click()
    page.wait_for_load_state("load")  # the search sends as you type once htmx has started
    page.get_by_label("Find an agency (name or a user's e-mail)").fill("owner@late")
    expect(page.locator("#agencies tbody tr[data-agency]")).to_have_count(1)
    page.get_by_role("link", name="Late Payer").click()
    page.get_by_role("button", name="Suspend the agency").click()  # no reason: refused by the field
    expect(page.locator("#reason-error")).to_contain_text("Say why")
    expect(page.locator("#agency-state")).to_have_text("Active")
    page.get_by_label("Reason (the owner is told)").fill("Unpaid invoices since March.")
    page.get_by_role("button", name="Suspend the agency").click()
    expect(page.locator("#agency-state")).to_have_text("Suspended")
    expect(page.locator("#agency-reason")).to_have_text("Unpaid invoices since March.")

    owner = browser.new_context(base_url=live_server).new_page()
    try:
        owner.goto("/login")
        owner.get_by_label("E-mail").fill("owner@late.test")
        owner.get_by_label("Password").fill(PASSWORD)
        owner.get_by_role("button", name="Log in").click()
        expect(owner.get_by_role("alert")).to_contain_text("Your agency is suspended: Unpaid invoices since March.")
    finally:
        owner.context.close()
