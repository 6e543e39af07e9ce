"""Browser: a client signs up through the agency's referral link (a declined card first), the
account shows on the agency's Commission tab with its commission, and after the month's payout
runs the payout is in the history."""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from ..helpers import PASSWORD, make_agency

pytestmark = pytest.mark.browser


def test_referral_signup_commission_and_payout(page, app, worker):
    with app.app_context():
        agency, _ = make_agency("Referring Agency", email="referrer@agency.test")
        code, agency_id = agency.referral_code, agency.id

    page.goto(f"/r/{code}")
    expect(page.get_by_text("Recommended by Referring Agency")).to_be_visible()
    page.get_by_label("Account name").fill("florist")
    page.get_by_label("Your name or company").fill("The Florist")
    page.get_by_label("Contact e-mail").fill("owner@florist.test")
    page.get_by_label("Plan").select_option("professional")
    page.get_by_label("Billing").select_option("annual")
    page.get_by_label("Contacts").select_option("2500")
    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill(str(date.today().year + 1))
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Create my account and pay").click()
    expect(page.locator("#number-error")).to_contain_text("declined")

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Create my account and pay").click()
    expect(page.get_by_text("your payment went through")).to_be_visible()
    expect(page.locator("#credentials")).to_contain_text("florist is ready", timeout=20000)

    page.goto("/login")
    page.get_by_label("E-mail").fill("referrer@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Commission").first.click()
    expect(page.locator("#referral-link")).to_have_value(f"{page.url.split('/commission')[0]}/r/{code}")
    row = page.locator('tr[data-account="florist"]')
    expect(row).to_contain_text("$2,490.00")
    expect(row).to_contain_text("$498.00")
    expect(page.locator("#payout-waiting")).to_contain_text("set your PayPal e-mail")

    page.get_by_label("PayPal e-mail").fill("not-an-email")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#paypal_email-error")).to_be_visible()
    page.get_by_label("PayPal e-mail").fill("payouts@agency.test")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your PayPal e-mail was saved")).to_be_visible()

    with app.app_context():  # the month turns: this commission is now last month's, and its payout runs
        from webapp.extensions import db
        from webapp.models import CommissionEntry
        from webapp.services import commission
        month = commission.previous_month(date.today())
        db.session.execute(sa.update(CommissionEntry).values(month=month))
        db.session.commit()
        assert commission.pay_month(agency_id, month).status == "paid"
        db.session.remove()
    page.reload()
    expect(page.locator(f'#payout-history tr[data-month="{month}"]')).to_contain_text("$498.00")
    expect(page.locator("#payout-history")).to_contain_text("payouts@agency.test")
