"""Browser: build an automation, push it with the wizard, watch the counts, Activate all, the View
page, and a sub-account's admin deleting its copy, which then counts as missing (P1-P9)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from webapp.extensions import db

from ..helpers import PASSWORD, email_step, make_account, make_agency

pytestmark = pytest.mark.browser


def test_wizard_publish_activate_report_and_a_deleted_copy(page, app, live_server, worker):
    with app.app_context():
        agency, _ = make_agency("Franchise Agency", email="franchise@agency.test")
        agency.franchise_enabled = True
        db.session.commit()
        for i in range(3):
            make_account(agency, f"store-{i}", client_name=f"Store {i}",
                         admin_password="store-admin-pass" if i == 0 else None)
        make_account(agency, "warehouse", client_name="Warehouse")
        email_step(agency)  # the parent account's template, the message of the e-mail step (issue 23)
    page.goto("/login")
    page.get_by_label("E-mail").fill("franchise@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()

    # P1: build it in the parent account with the step editor.
    page.get_by_role("link", name="Automations in my parent account").click()
    page.get_by_role("link", name="Build an automation").click()
    page.wait_for_load_state("load")
    page.get_by_label("Name").fill("Store welcome")
    page.get_by_label("Which list, tag, date field or form").fill("Newsletter")
    page.locator("#steps-0-subject").fill("Welcome to the store")
    page.locator("#steps-0-from_name").fill("The store")
    page.locator("#steps-0-template_id").select_option(index=1)
    page.get_by_role("button", name="+ Wait").click()
    expect(page.locator("#step-list li")).to_have_count(2)
    page.locator("#steps-1-amount").fill("3")
    page.get_by_role("button", name="+ Add a tag").click()
    expect(page.locator("#step-list li")).to_have_count(3)
    page.locator("#steps-2-tag").fill("welcomed")
    page.get_by_role("button", name="↑").last.click()  # the tag before the wait
    expect(page.locator("#step-list li").nth(1)).to_have_attribute("data-step", "add_tag")
    page.get_by_role("button", name="Save (a new version)").click()
    expect(page.get_by_text("saved as version 1")).to_be_visible()

    # P3: the wizard.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    page.get_by_role("link", name="New automation").click()
    page.get_by_label(re.compile("Store welcome")).check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**continue=1**")  # step 2 loaded, and htmx listening, before the search is typed
    page.wait_for_load_state("load")
    page.get_by_label("Search sub-accounts").fill("store")
    expect(page.locator("#account-list li")).to_have_count(3)
    page.get_by_role("button", name=re.compile("Select all 3 matching")).click()
    expect(page.locator("#selected-count")).to_have_text("3 sub-accounts selected")
    page.get_by_label("Activate as soon as it is pushed").check()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_text("Publishing")).to_be_visible()
    expect(page.locator('#counts [data-count="active"]')).to_have_text("3", timeout=20000)

    # The tab's exact counts, then Deactivate all / Activate all.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    row = page.locator("#pushdowns tbody tr").first
    expect(row).to_contain_text("Published")
    expect(row.locator('[data-count="active"]')).to_have_text("3")
    row.get_by_role("link", name="View").click()
    page.get_by_role("button", name="Deactivate all").click()
    expect(page.locator('#counts [data-count="inactive"]')).to_have_text("3")
    page.get_by_role("button", name="Activate all", exact=True).click()
    expect(page.locator('#counts [data-count="active"]')).to_have_text("3")
    expect(page.locator("#report-table")).to_contain_text("Store 1")
    assert page.locator("#pushdown-chart").is_visible()

    # P8: the sub-account's admin deletes its copy: missing, exactly and at once.
    client = page.context.new_page()
    client.on("dialog", lambda d: d.accept())
    base = live_server.replace("localhost", "store-0.localhost")
    client.goto(base + "/app/login")
    client.get_by_label("Password").fill("store-admin-pass")
    client.get_by_role("button", name="Log in").click()
    client.get_by_role("link", name="Automations").click()
    expect(client.locator("#automations")).to_contain_text("Store welcome")
    client.get_by_role("button", name="Delete").click()
    expect(client.locator("#no-automations")).to_be_visible()

    page.reload()
    expect(page.locator('#counts [data-count="missing"]')).to_have_text("1")
    expect(page.locator('#counts [data-count="active"]')).to_have_text("2")
    page.get_by_label("State").select_option("missing")
    expect(page.locator("#report-table tbody tr")).to_have_count(1)
    expect(page.locator("#report-table")).to_contain_text("store-0")
    assert "state=missing" in page.url  # the filter is in the URL
    page.reload()
    expect(page.locator("#report-table tbody tr")).to_have_count(1)
