"""Browser (issue 17): a login-as tab of an agency whose account was detached meanwhile lands on the
login page at its next action."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from webapp.services import support
from webapp.services.audit import Actor

from ..helpers import browser_login, make_account, make_agency, make_support

pytestmark = pytest.mark.browser



@pytest.fixture
def detachable(app):
    with app.app_context():
        agency, user = make_agency("Leaving Agency", email="leaving@agency.test")
        account = make_account(agency, "leaver", admin_password="leaver-secret-pass", client_email="boss@leaver.test")
        make_support("staff@agencyhq.test")
        support.request_detach(account, user, client_email="boss@leaver.test",
                               actor=Actor(f"user:{user.id}", user.email, None, agency.id, team_role=user.team_role))
        return SimpleNamespace(id=account.id)


def test_a_login_as_tab_ends_when_support_detaches_the_account(page, browser, live_server, detachable):
    browser_login(page, "leaving@agency.test", lands=None)
    page.goto(f"/accounts/{detachable.id}")
    with page.context.expect_page() as new_tab:
        page.get_by_role("button", name="Login").first.click()
    tab = new_tab.value
    tab.wait_for_load_state()
    expect(tab.locator("#signed-in-by")).to_be_visible()

    staff = browser.new_context(base_url=live_server).new_page()
    browser_login(staff, "staff@agencyhq.test", lands=None)
    staff.goto("/support?kind=detach")
    staff.locator("tr[data-request]").get_by_role("button", name="Approve").click()
    expect(staff.get_by_text(re.compile(r"Request \d+ approved"))).to_be_visible()
    staff.context.close()

    tab.get_by_role("link", name="Settings").click()
    tab.wait_for_url(re.compile(r"/app/login"))
    expect(tab.get_by_label("Password")).to_be_visible()
    expect(tab.locator("#signed-in-by")).to_have_count(0)
