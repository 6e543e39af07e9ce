"""Browser: an Owner sets the agency's notices under My account > Notices (issue 21, N2): receipts off,
notices in French, saved after a reload; a bad e-mail is shown by its field. With and without JavaScript."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from ..helpers import browser_login, make_agency

pytestmark = pytest.mark.browser


@pytest.fixture
def agency(app):
    with app.app_context():
        agency, _ = make_agency("Notice Agency", email="notice-owner@agency.test")
        return SimpleNamespace(id=agency.id)


def _settings(app, agency_id):
    from webapp.extensions import db
    from webapp.models import Agency
    with app.app_context():
        row = db.session.get(Agency, agency_id)
        values = (row.notice_email, row.notice_language, row.notify_receipts, row.receipt_digest, row.notify_upcoming)
        db.session.remove()
    return values


def _open_notices(page):
    browser_login(page, "notice-owner@agency.test", lands=r"/$")
    page.locator("#side-menu").get_by_role("link", name="My account").click()
    page.wait_for_url(re.compile(r"/my-account$"))
    page.locator("#agency-notices").get_by_role("link", name="Notices").click()
    page.wait_for_url(re.compile(r"/my-account/notices$"))


def test_an_owner_turns_receipts_off_in_french_and_a_bad_email_is_shown_by_its_field(app, page, agency):
    _open_notices(page)
    expect(page.get_by_label("Send agency notices to")).to_have_value("")
    expect(page.locator("#notice-settings")).to_contain_text("notice-owner@agency.test")  # who gets them now
    expect(page.locator("#required-notices")).to_contain_text("Abuse and bounce reports")
    expect(page.locator("#required-notices input")).to_have_count(0)
    page.wait_for_load_state("load")  # htmx is ready

    receipts = page.get_by_label("Renewal receipts")
    expect(receipts).to_be_checked()
    receipts.uncheck()
    page.get_by_label("Language of agency notices").select_option(label="Français")
    page.get_by_role("button", name="Save notification settings").click()
    expect(page.locator("#notices-saved")).to_be_visible()
    assert _settings(app, agency.id) == (None, "fr", False, True, True)

    page.reload()
    expect(page.get_by_label("Renewal receipts")).not_to_be_checked()
    expect(page.get_by_label("Language of agency notices")).to_have_value("fr")
    expect(page.get_by_label("Upcoming annual renewals, 7 days before")).to_be_checked()

    email = page.get_by_label("Send agency notices to")
    email.fill("not an e-mail")
    page.get_by_role("button", name="Save notification settings").click()
    error = page.locator("#notice_email-error")
    expect(error).to_have_text("Enter a valid e-mail address.")
    expect(page.get_by_label("Send agency notices to")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Send agency notices to")).to_have_value("not an e-mail")
    assert _settings(app, agency.id) == (None, "fr", False, True, True)


def test_without_javascript_the_form_posts_and_comes_back(app, browser, live_server, agency):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10000)
    try:
        _open_notices(page)
        page.get_by_label("Send agency notices to").fill("desk@agency.test")
        page.get_by_label("Upcoming annual renewals, 7 days before").uncheck()
        page.get_by_role("button", name="Save notification settings").click()
        page.wait_for_url(re.compile(r"/my-account/notices$"))
        expect(page.get_by_text("The notification settings were saved.")).to_be_visible()
        expect(page.get_by_label("Send agency notices to")).to_have_value("desk@agency.test")
        expect(page.get_by_label("Upcoming annual renewals, 7 days before")).not_to_be_checked()
        assert _settings(app, agency.id) == ("desk@agency.test", "en", True, True, False)
    finally:
        context.close()
