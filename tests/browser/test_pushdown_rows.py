"""Browser: the Automations tab's row menu (the seed's down arrow) switches a published pushdown on and
off in every sub-account, and the wizard's picker keeps its choice in the form (P3, P5)."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Pushdown
from webapp.services import pushdown
from webapp.services.audit import Actor

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser
ACTOR = Actor("user:0", "tests")


def _franchise_with_automation(app, email):
    with app.app_context():
        agency, _ = make_agency("Rows Agency", email=email)
        agency.franchise_enabled = True
        db.session.commit()
        subs = [make_account(agency, f"outlet-{i}-{agency.id}", client_name=f"Outlet {i}") for i in range(3)]
        automation = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
            "Outlet welcome", "subscribes", "Newsletter", [{"type": "add_tag", "tag": "welcomed"}]), ACTOR)
        return agency.id, automation.id, [s.id for s in subs]


def test_row_menu_activate_all_and_deactivate_all(page, app, live_server, run_jobs):
    agency_id, automation_id, subs = _franchise_with_automation(app, "rows@agency.test")
    with app.app_context():
        row = pushdown.create_draft(agency_id, [automation_id], ACTOR)
        pushdown.select(row, subs)
        pushdown.publish(row, pushdown.ActivationInput("none"), ACTOR)
        row_id = row.id
    run_jobs()  # the copies, as a worker makes them
    browser_login(page, "rows@agency.test")
    page.goto("/automations")
    line = page.locator(f"#pushdown-{row_id}")
    expect(line.locator('[data-count="inactive"]')).to_have_text("3")

    line.get_by_label("More actions for Outlet welcome").click()
    line.get_by_role("button", name="Activate all", exact=True).click()
    expect(page.get_by_text("Active in every sub-account that holds it.")).to_be_visible()
    assert re.search(r"/automations#pushdown-\d+$", page.url)
    line = page.locator(f"#pushdown-{row_id}")
    expect(line.locator('[data-count="active"]')).to_have_text("3")
    expect(line.locator('[data-count="inactive"]')).to_have_text("0")

    line.get_by_label("More actions for Outlet welcome").click()
    line.get_by_role("button", name="Deactivate all").click()
    expect(page.get_by_text("Inactive in every sub-account that holds it.")).to_be_visible()
    expect(page.locator(f'#pushdown-{row_id} [data-count="inactive"]')).to_have_text("3")
    with app.app_context():
        assert db.session.get(Pushdown, row_id).active is False


def test_the_wizard_saves_nothing_until_the_draft(page, app, live_server):
    agency_id, automation_id, subs = _franchise_with_automation(app, "wizard-rows@agency.test")
    browser_login(page, "wizard-rows@agency.test")
    page.goto("/automations/new")
    page.get_by_label(re.compile("Outlet welcome")).check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**continue=1**")  # step 2 loaded, and htmx listening, before the search is typed
    page.wait_for_load_state("load")
    page.get_by_label("Search sub-accounts").fill("outlet-1")
    expect(page.locator("#account-list li")).to_have_count(1)
    page.get_by_role("button", name=re.compile("^Add outlet-1")).click()
    expect(page.locator("#selected-count")).to_have_text("1 sub-account selected")
    page.get_by_label("Search sub-accounts").fill("")
    expect(page.locator("#account-list li")).to_have_count(3)
    page.get_by_role("button", name=re.compile("^Add outlet-2")).click()
    expect(page.locator("#selected-count")).to_have_text("2 sub-accounts selected")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Pushdown)
                                 .where(Pushdown.agency_id == agency_id)) == 0
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_text("Saved as a draft.")).to_be_visible()
    expect(page.locator("#pushdowns")).to_contain_text("2 sub-accounts selected")
