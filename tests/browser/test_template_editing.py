"""Browser (issue 23, W1, W8): a template edited in the hosted account and in the agency's defaults, with the
live sandboxed preview; the account's site in its accent colour; "Add my templates" switched off on Account
default settings, and an account made with Add New afterwards starts without the agency's templates."""
from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Branding, EmailTemplate, HostedAccount
from webapp.services import billing, templates
from webapp.services.audit import Actor

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser
ACTOR = Actor("user:0", "tests")


def _watch(page, dialogs):
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page


def test_edit_a_template_in_the_account_with_its_accent_colour(page, app, live_server):
    dialogs = []
    _watch(page, dialogs)
    with app.app_context():
        agency, _ = make_agency("Edit Agency")
        account = make_account(agency, "edit-acct", admin_password="edit-acct-pass")
        db.session.add(Branding(agency_id=agency.id, account_id=account.id, primary_color="#2454a6",
                                accent_color="#aa3377"))
        db.session.commit()
        templates.create_in_account(account, templates.TemplateInput("Spring sale", "sale", "<p>Spring!</p>"), ACTOR)
    base = live_server.replace("localhost", "edit-acct.localhost")
    page.goto(base + "/app/login")
    page.get_by_label("Password").fill("edit-acct-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("link", name="Templates", exact=True).click()
    page.get_by_role("link", name="Spring sale").click()
    edit = page.get_by_role("link", name="Edit", exact=True)
    # The site's secondary buttons take the accent (W1 "colours"), from the account's brand.css.
    expect(edit).to_have_css("background-color", "rgb(170, 51, 119)")
    edit.click()
    page.wait_for_load_state("load")
    expect(page.get_by_label("Name")).to_have_value("Spring sale")
    page.get_by_label("Name").fill("Summer sale")
    page.get_by_label("Tags (separated by commas)").fill("sale, summer")
    page.get_by_label("HTML").fill('<h1>Summer {{7*7}}</h1><script>alert("pasted")</script>'
                                   '<img src=x onerror=alert("img")>')
    frame = page.frame_locator("#live-preview iframe")  # shown as you type, sanitized, never evaluated
    expect(frame.locator("h1")).to_have_text("Summer {{7*7}}")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("“Summer sale” was saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="Summer sale")).to_be_visible()
    expect(page.frame_locator("iframe.template-frame").locator("h1")).to_have_text("Summer {{7*7}}")

    # A bad edit is refused by its field, and the template stays as saved.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Name").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Give the template a name.")).to_be_visible()
    page.get_by_role("link", name="Templates", exact=True).click()
    expect(page.locator("#templates")).to_contain_text("Summer sale")
    expect(page.locator("#templates")).to_contain_text("sale, summer")
    assert dialogs == []


@pytest.fixture
def agency(app):
    with app.app_context():
        agency, _ = make_agency("Defaults Agency", email="tpl-defaults@agency.test")
        billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 1,
                          cvc="123", actor=ACTOR)
        row = templates.add_basic(agency.id, templates.TemplateInput("Welcome", "onboarding", "<p>Welcome!</p>"),
                                  ACTOR)
        return SimpleNamespace(id=agency.id, template_id=row.id)


def test_edit_in_the_defaults_then_switch_add_my_templates_off_for_new_accounts(page, app, agency, worker):
    dialogs = []
    _watch(page, dialogs)
    browser_login(page, "tpl-defaults@agency.test", lands=r"/$")
    page.get_by_role("link", name="Account default settings").click()
    page.wait_for_load_state("load")
    expect(page.get_by_label("Primary colour", exact=True)).to_have_value("#2454a6")
    expect(page.get_by_label("Accent colour", exact=True)).to_have_value("#0e7c66")
    box = page.get_by_role("checkbox", name="Add my templates")
    expect(box).to_be_checked()

    # Manage templates, beside it: edit the agency's template.
    page.locator("#new-account-templates").get_by_role("link", name="Manage templates").click()
    page.locator("#agency-templates tr", has_text="Welcome").get_by_role("link", name="Edit").click()
    page.wait_for_load_state("load")
    page.get_by_label("Name").fill("Welcome aboard")
    page.get_by_label("HTML").fill('<p onclick="alert(1)">Aboard!</p>')
    expect(page.frame_locator("#live-preview iframe").locator("p")).to_have_text("Aboard!")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("“Welcome aboard” was saved.")).to_be_visible()
    expect(page.frame_locator("iframe.template-frame").locator("p")).to_have_text("Aboard!")
    with app.app_context():
        row = db.session.get(EmailTemplate, agency.template_id)
        assert (row.name, row.html) == ("Welcome aboard", "<p>Aboard!</p>")

    # "Add my templates" off, with an accent of the agency's own: saved together.
    page.get_by_role("link", name="Account default settings").first.click()
    page.wait_for_load_state("load")
    page.get_by_label("Accent colour", exact=True).fill("#aa3377")
    expect(page.locator("#preview-link")).to_have_css("color", "rgb(170, 51, 119)")  # the live preview
    page.get_by_role("checkbox", name="Add my templates").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Add my templates")).not_to_be_checked()
    expect(page.get_by_label("Accent colour", exact=True)).to_have_value("#aa3377")
    page.locator("#new-account-templates").get_by_role("link", name="Manage templates").click()
    expect(page.locator("#adds-templates")).to_contain_text("is off")

    # A new account made now starts without the agency's templates.
    page.get_by_role("link", name="Resold").first.click()
    page.get_by_role("link", name="Add New").click()
    page.wait_for_load_state("load")
    page.get_by_label("Account name").fill("no-templates-bakery")
    page.get_by_label("Client name").fill("No Templates Bakery")
    page.get_by_label("Client e-mail").fill("owner@bakery.test")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Add & Pay Now").click()
    expect(page.locator("#credentials")).to_be_visible(timeout=20000)
    with page.context.expect_page() as new_tab:
        page.locator("#login-as").click()
    tab = new_tab.value
    tab.wait_for_load_state()
    assert re.match(r"http://no-templates-bakery\.localhost:\d+/app/", tab.url)
    tab.get_by_role("link", name="Templates", exact=True).click()
    expect(tab.locator("#no-templates")).to_be_visible()
    with app.app_context():
        account = db.session.scalar(sa.select(HostedAccount).where(HostedAccount.name == "no-templates-bakery"))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailTemplate).where(
            EmailTemplate.account_id == account.id)) == 0
        assert db.session.scalar(sa.select(Branding.accent_color).where(Branding.account_id == account.id)) == "#aa3377"
    assert dialogs == []
