"""Browser: the agency brands its accounts with a live preview; stored content never runs."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD, make_account, make_agency

pytestmark = pytest.mark.browser

PAYLOADS = ['<script>alert(1)</script>', '<img src=x onerror=alert(2)>', '"><svg onload=alert(3)>',
            "javascript:alert(4)", "{{7*7}}", "<iframe src=javascript:alert(5)>"]


def test_defaults_preview_override_and_nothing_runs(page, app, live_server):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    with app.app_context():
        agency, _ = make_agency("Brand Agency", email="brands@agency.test")
        account_id = make_account(agency, "brandme", admin_password="brand-pass-123").id
    page.goto("/login")
    page.get_by_label("E-mail").fill("brands@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Account default settings").click()
    page.wait_for_load_state("load")  # htmx listens once the page has loaded
    page.get_by_label("Product name").fill("Brand Mail")
    expect(page.locator("#preview-name")).to_have_text("Brand Mail")  # the live preview follows the form
    page.get_by_label("Login page text").fill(" ".join(PAYLOADS))
    expect(page.locator("#preview-text")).to_contain_text("<script>alert(1)</script>")  # shown as text
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    page.goto(f"/accounts/{account_id}/branding")
    page.get_by_label("Product name").fill("Brandme Own")
    page.get_by_label("Login page headline").fill(PAYLOADS[1])
    page.get_by_role("button", name="Save for this account").click()
    expect(page.locator("#branding-mode")).to_contain_text("its own branding")

    client = page.context.new_page()
    client.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    client.goto(live_server.replace("localhost", "brandme.localhost") + "/app/login")
    expect(client.locator(".brand-name")).to_have_text("Brandme Own")
    expect(client.get_by_text(PAYLOADS[1])).to_be_visible()
    assert "AgencyHQ" not in client.content()
    client.wait_for_timeout(300)
    assert dialogs == []
    assert re.search(r"brandme", client.url)
