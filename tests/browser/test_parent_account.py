"""Browser (issue 23, seed 003): the agency opens its parent account from the dashboard (login-as, a new tab),
builds an automation there whose e-mail step sends one of the parent's templates, pushes it from the
dashboard's Automations tab with the wizard, and every sub-account holds it with its message; a later
change of the message shows in "Parent changed since last push"."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Automation
from webapp.services import pushdown, templates
from webapp.services.audit import Actor

from ..helpers import PASSWORD, make_account, make_agency

pytestmark = pytest.mark.browser


def test_build_in_the_parent_account_with_a_template_then_push_it(page, app, live_server, worker):
    with app.app_context():
        agency, _ = make_agency("Parent Agency", email="parent-owner@agency.test")
        agency.franchise_enabled = True
        db.session.commit()
        parent = pushdown.parent_account(agency.id)
        parent_name, agency_id = parent.name, agency.id
        for name, html in (("Welcome mail", "<h1>Welcome to the store</h1><p>Your first coupon inside.</p>"),
                           ("Coupon mail", "<h1>A coupon</h1><p>Ten percent off this week.</p>")):
            templates.create_in_account(parent, templates.TemplateInput(name, "", html), Actor("system", "tests"))
        for i in range(3):
            make_account(agency, f"outlet-{i}", client_name=f"Outlet {i}")
    page.goto("/login")
    page.get_by_label("E-mail").fill("parent-owner@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    expect(page.locator("#parent-note")).to_contain_text("this information comes from the parent account")

    # Login-as into the parent account, on its own host, in a new tab.
    with page.context.expect_page() as new_tab:
        page.get_by_role("navigation", name="Agency menu").get_by_role("button", name="Open the parent account").click()
    hq = new_tab.value
    hq.wait_for_load_state()
    assert re.match(rf"http://{parent_name}\.localhost:\d+/app/", hq.url)
    expect(hq.locator("#signed-in-by")).to_contain_text("Signed in by your agency")
    hq.get_by_role("navigation", name="Account").get_by_role("link", name="Automations").click()
    hq.get_by_role("link", name="Build an automation").click()
    hq.wait_for_load_state("load")
    hq.get_by_label("Name").fill("Outlet welcome")
    hq.get_by_label("Which list, tag, date field or form").fill("Newsletter")
    hq.locator("#steps-0-subject").fill("Welcome to the outlet")
    hq.locator("#steps-0-from_name").fill("Parent Agency")
    hq.get_by_role("button", name="+ Wait").click()  # htmx swaps the step list: what was typed stays
    expect(hq.locator("#step-list li")).to_have_count(2)
    expect(hq.locator("#steps-0-subject")).to_have_value("Welcome to the outlet")
    hq.locator("#steps-1-amount").fill("2")
    # Saved without its message: refused by the field.
    hq.get_by_role("button", name="Save (a new version)").click()
    expect(hq.locator("#steps-0-template_id")).to_have_attribute("aria-invalid", "true")
    expect(hq.get_by_text("Choose the template this e-mail sends")).to_be_visible()
    hq.get_by_label("Template (the message)").select_option(label="Welcome mail")
    hq.get_by_role("button", name="Save (a new version)").click()
    expect(hq.get_by_text("saved as version 1")).to_be_visible()
    expect(hq.locator("#parent-automations")).to_contain_text("Outlet welcome")

    # The dashboard's Automations tab pushes it with the wizard.
    page.bring_to_front()
    page.get_by_role("link", name="New automation").click()
    page.get_by_label(re.compile("Outlet welcome")).check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**continue=1**")  # step 2 loaded, and htmx listening, before the search is typed
    page.wait_for_load_state("load")
    page.get_by_label("Search sub-accounts").fill("outlet")
    expect(page.locator("#account-list li")).to_have_count(3)
    page.get_by_role("button", name=re.compile("Select all 3 matching")).click()
    expect(page.locator("#selected-count")).to_have_text("3 sub-accounts selected")
    page.get_by_label("Activate as soon as it is pushed").check()
    page.get_by_role("button", name="Publish now").click()
    expect(page.locator('#counts [data-count="active"]')).to_have_text("3", timeout=20000)

    # Every sub-account holds the automation with its message: subject, sender and the template's HTML.
    with app.app_context():
        copies = db.session.scalars(sa.select(Automation).where(Automation.source_pushdown_id.is_not(None))).all()
        assert len(copies) == 3
        for copy in copies:
            step = pushdown.version(copy).steps[0]
            assert step["subject"] == "Welcome to the outlet" and step["from_name"] == "Parent Agency"
            assert step["template_name"] == "Welcome mail" and "Your first coupon inside." in step["html"]

    # The message changes in the parent: the tab says so, and the View page's diff shows the new one.
    hq.bring_to_front()
    hq.get_by_role("link", name="Edit").click()
    hq.get_by_label("Template (the message)").select_option(label="Coupon mail")
    hq.get_by_role("button", name="Save (a new version)").click()
    expect(hq.get_by_text("saved as version 2")).to_be_visible()
    page.bring_to_front()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    row = page.locator("#pushdowns tbody tr").first
    expect(row).to_contain_text("Parent changed since last push")
    row.get_by_role("link", name="View").click()
    expect(page.get_by_text("Ten percent off this week.")).to_be_visible()
    expect(page.get_by_text(re.compile("Coupon mail"))).to_be_visible()

    # Deleted in the parent account: its pushdown stays on the tab.
    hq.bring_to_front()
    hq.get_by_role("link", name="Automations").first.click()
    hq.on("dialog", lambda d: d.accept())
    hq.get_by_role("button", name="Delete").click()
    expect(hq.locator("#no-automations")).to_be_visible()
    page.bring_to_front()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    expect(page.locator("#pushdowns tbody tr")).to_have_count(1)
    expect(page.locator("#pushdowns")).to_contain_text("Outlet welcome")
    with app.app_context():
        assert pushdown.parent_automations(agency_id) == []
