"""Browser: an Owner invites a Member from the Team page, the Member accepts the link, signs in, and the
Member's menu has no Billing (issue 19)."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from ..helpers import PASSWORD, browser_login, make_agency

pytestmark = pytest.mark.browser
MEMBER_PASSWORD = "a-long-member-password"


@pytest.fixture
def agency(app):
    with app.app_context():
        agency, _ = make_agency("Team Agency", email="team-owner@agency.test")
        return SimpleNamespace(id=agency.id)


def _invite_path(app, email) -> str:
    from webapp.extensions import db
    from webapp.models import OutboundEmail
    with app.app_context():
        body = db.session.scalar(sa.select(OutboundEmail.body_text).where(OutboundEmail.to_address == email))
        db.session.remove()
    return re.search(r"https?://[^/\s]+(/invite/\S+)", body).group(1)


def test_invite_accept_and_the_members_menu_lacks_billing(app, page, agency, live_server):
    browser_login(page, "team-owner@agency.test", PASSWORD, lands=r"/$")
    menu = page.locator("#side-menu")
    expect(menu.get_by_role("link", name="Billing profile")).to_be_visible()
    menu.get_by_role("link", name="Team").click()
    page.wait_for_url(re.compile(r"/team$"))
    page.get_by_label("E-mail").fill("new-member@agency.test")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("[data-invite='new-member@agency.test']")).to_contain_text("Member")
    page.locator("#side-menu").get_by_role("button", name="Logout").click()
    page.wait_for_url(re.compile(r"/login"))

    page.goto(_invite_path(app, "new-member@agency.test"))
    expect(page.locator("#invite-role")).to_contain_text("Member")
    expect(page.get_by_role("heading", name="Join Team Agency")).to_be_visible()
    page.get_by_label("Your name").fill("Nina Member")
    page.get_by_label("Password", exact=True).fill(MEMBER_PASSWORD)
    page.get_by_label("Password again").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Join the team").click()
    page.wait_for_url(re.compile(r"/login"))

    browser_login(page, "new-member@agency.test", MEMBER_PASSWORD, lands=r"/$")
    menu = page.locator("#side-menu")
    expect(menu.get_by_role("link", name="My account")).to_be_visible()
    expect(menu.get_by_role("link", name="Account default settings")).to_be_visible()
    expect(menu.get_by_text("Billing profile")).to_have_count(0)
    expect(menu.get_by_text("Billing history")).to_have_count(0)
    expect(menu.get_by_text("Team", exact=True)).to_have_count(0)
