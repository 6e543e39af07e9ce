"""Browser: the Agency API page (S2): make a token, see it once, use it, revoke it."""
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
        agency, _ = make_agency("Token Agency", email="tokens@agency.test")
        return SimpleNamespace(id=agency.id)



def test_create_a_token_see_it_once_and_revoke_it(page, agency, live_server):
    browser_login(page, "tokens@agency.test", lands=r"/$")
    page.get_by_role("link", name="Agency API").click()
    page.wait_for_url(re.compile(r"/settings/api$"))
    expect(page.locator("#no-tokens")).to_be_visible()
    page.wait_for_load_state("load")
    page.get_by_label("Token name").fill("CRM sync")
    page.get_by_role("button", name="Create token").click()
    token_box = page.locator("#new-token")
    expect(token_box).to_be_visible()
    raw = token_box.input_value()
    assert raw.startswith("ahq_")
    row = page.locator(f"tr[data-token='{raw[:12]}']")
    expect(row).to_contain_text("CRM sync")
    expect(row.locator(".token-last-used")).to_have_text("Never")
    expect(row.locator(".token-scope")).to_have_text("Read and write")
    expect(row.locator(".token-expiry")).to_have_text("Never")

    # The token works; the page shows only its prefix from now on, with its last use.
    answer = page.request.get(f"{live_server}/api/v1/plans", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status == 200
    page.goto("/settings/api")
    expect(page.locator("#new-token")).to_have_count(0)
    assert raw not in page.content()
    expect(row.locator(".token-last-used")).not_to_have_text("Never")

    # The docs are one click away.
    page.get_by_role("link", name="Read the API documentation").click()
    expect(page.locator("#createAccount")).to_contain_text("POST")
    page.go_back()

    page.wait_for_load_state("load")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    expect(row).to_contain_text("Revoked")
    assert page.request.get(f"{live_server}/api/v1/plans",
                            headers={"Authorization": f"Bearer {raw}"}).status == 401


def test_a_read_only_token_with_an_expiry_reads_but_changes_nothing(page, agency, live_server):
    from datetime import date, timedelta
    browser_login(page, "tokens@agency.test", lands=r"/$")
    page.goto("/settings/api")
    page.get_by_label("Token name").fill("Reporting")
    page.get_by_label("Access").select_option(label="Read only")
    last = date.today() + timedelta(days=10)
    page.get_by_label("Expires after (optional)").fill(last.isoformat())
    page.get_by_role("button", name="Create token").click()
    raw = page.locator("#new-token").input_value()
    row = page.locator(f"tr[data-token='{raw[:12]}']")
    expect(row.locator(".token-scope")).to_have_text("Read only")
    expect(row.locator(".token-expiry")).to_contain_text("after")
    expect(row.locator(".token-creator")).to_have_text("by tokens@agency.test")
    headers = {"Authorization": f"Bearer {raw}"}
    assert page.request.get(f"{live_server}/api/v1/plans", headers=headers).status == 200
    refused = page.request.post(f"{live_server}/api/v1/credits/moves", headers=headers,
                                data={"kind": "sms", "amount": 1, "from_account_id": None, "to_account_id": None})
    assert refused.status == 403 and refused.json()["error"]["code"] == "insufficient_scope"
