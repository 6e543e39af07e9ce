"""Browser: the demo agency logs in and sees the dashboard shell and its side menu."""
from __future__ import annotations

import pytest

from webapp.services import demo

pytestmark = pytest.mark.browser


def test_demo_agency_logs_in_and_sees_the_shell(app, db, page, live_server):
    with app.app_context():
        demo.seed()
    page.goto("/")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill(demo.AGENCY_EMAIL)
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("Wrong e-mail or password.").is_visible()
    page.get_by_label("Password").fill(demo.AGENCY_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    assert page.get_by_role("heading", name="Resold accounts").is_visible()
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Resold").is_visible()
    side = page.get_by_role("navigation", name="Agency menu")
    assert side.get_by_role("link", name="My account").is_visible()
    assert side.get_by_role("button", name="Logout").is_visible()
    assert page.locator("table.resold tbody tr").count() > 0
    side.get_by_role("link", name="My account").click()
    page.wait_for_url("**/my-account")
    assert page.locator("#username").inner_text() == demo.AGENCY_EMAIL
    page.screenshot(path=str(_artifacts() / "shell-my-account.png"), full_page=True)
    # Someone kept a copy of this browser's cookies (a shared computer): it opens the dashboard...
    copy = page.context.browser.new_context(base_url=live_server, storage_state=page.context.storage_state())
    other = copy.new_page()
    other.goto("/")
    assert other.get_by_role("heading", name="Resold accounts").is_visible()
    side.get_by_role("button", name="Logout").click()
    page.wait_for_url("**/login")
    assert page.get_by_text("You are logged out.").is_visible()
    # ...until the person logs out: then the copy asks for a login too.
    other.reload()
    other.wait_for_url("**/login?next=*")
    assert other.get_by_label("Password").is_visible()
    copy.close()


def test_support_staff_see_the_console_not_the_side_menu(app, db, page):
    with app.app_context():
        demo.seed()
    page.goto("/login")
    page.get_by_label("E-mail").fill(demo.SUPPORT_EMAIL)
    page.get_by_label("Password").fill(demo.SUPPORT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/support")
    assert page.get_by_role("heading", name="Support console").is_visible()
    assert page.get_by_role("navigation", name="Agency menu").count() == 0


def _artifacts():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
