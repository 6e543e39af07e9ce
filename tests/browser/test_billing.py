"""Browser: an agency adds its card, is told clearly about a bad one, buys prepaid credit and SMS
credits, and reads its billing history with the chart."""
from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from ..helpers import PASSWORD, make_account, make_agency

pytestmark = pytest.mark.browser


def test_card_prepaid_sms_and_history(page, app):
    with app.app_context():
        agency, _ = make_agency("Paying Agency", email="payer@agency.test")
        make_account(agency, "bakery", plan_tier="plus")
    page.goto("/login")
    page.get_by_label("E-mail").fill("payer@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Agency menu").get_by_role("link", name="Billing profile").click()
    expect(page.locator("#card-on-file")).to_contain_text("No card yet")

    page.get_by_label("Card number").fill("4242 4242 4242 4241")
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill(str(date.today().year + 1))
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("This card number is not valid")).to_be_visible()
    expect(page.get_by_label("Card number")).to_have_value("")  # never echoed back

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("#card-on-file")).to_contain_text("4242")

    page.get_by_role("link", name="Prepaid credit").click()
    page.get_by_label("Amount", exact=True).select_option(label="$50.00")
    page.get_by_role("button", name="See the price").click()
    expect(page.locator("#quote-card")).to_have_text("$50.00")
    page.get_by_role("button", name="Confirm and pay $50.00").click()
    expect(page.locator("#pool")).to_have_text("$50.00")

    # SMS credits bought into the pool (paid from the prepaid credit first), then assigned to an account.
    page.get_by_role("link", name="SMS credits").click()
    page.get_by_label("Pack").select_option("sms-500")
    page.get_by_role("button", name="See the price").click()
    expect(page.locator("#quote-prepaid")).to_have_text("$20.00")
    expect(page.locator("#quote-card")).to_have_text("$0.00")
    page.get_by_role("button", name="Confirm and pay $20.00").click()
    expect(page.locator("#pool")).to_have_text("500")
    page.wait_for_load_state("load")  # htmx listens once the page has loaded
    page.get_by_label("Amount to move").fill("300")
    page.get_by_label("To (an account's name, or empty for your pool)").press_sequentially("bak", delay=30)
    expect(page.locator("#move-target-names option[value='bakery']")).to_have_count(1)  # suggested as you type
    page.get_by_label("To (an account's name, or empty for your pool)").fill("bakery")
    page.get_by_role("button", name="Move").click()
    expect(page.locator("#balances")).to_contain_text("bakery: 300")
    expect(page.locator("#pool")).to_have_text("200")
    page.get_by_label("Amount to move").fill("999")
    page.get_by_label("To (an account's name, or empty for your pool)").fill("bakery")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Your pool holds only 200: nothing was moved.").first).to_be_visible()

    page.get_by_role("link", name="Billing history").click()
    expect(page.locator("tr[data-invoice]")).to_have_count(2)
    expect(page.locator("#spend-chart")).to_be_visible()
    page.locator("tr[data-invoice] a").first.click()  # the newest: the SMS pack, for the pool
    expect(page.get_by_text("Paid with prepaid credit")).to_be_visible()
    expect(page.get_by_text("Authorization (released, not captured)")).to_be_visible()
    page.screenshot(path=str(_artifacts() / "invoice.png"), full_page=True)


def _artifacts():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
