"""Browser, on the account's own host (*.localhost), issue 22: the admin of a referred account opens Billing
from the side menu, sees its card and invoices, replaces the card (a bad number is told by the field), changes
the plan with a preview whose Confirm shows the amount, cancels and undoes it; a detached account's client,
whose renewal was declined for want of a card, adds one and the renewal is paid at once."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine
from playwright.sync_api import expect

from ..helpers import CARD_YEAR, make_agency
from ..test_account_billing import ADMIN_PASSWORD, detached_account, referred_account

pytestmark = pytest.mark.browser


def _start() -> datetime:
    """The test's clock starts now (and runs), but never in the last hour of a day: the pro-rata days of the
    preview and those of the charge are counted on the same date."""
    now = datetime.now(timezone.utc)
    return now - timedelta(hours=1) if now.hour == 23 else now


START = _start()
TODAY = START.date()


def _log_in(page, base):
    page.goto(base + "/app/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _fill_card(page, number: str, month: str = "12"):
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry month").fill(month)
    page.get_by_label("Expiry year").fill(str(CARD_YEAR))
    page.get_by_label("Security code (CVC)").fill("123")
    page.get_by_role("button", name="Save card").click()


def test_the_referred_clients_billing_page_card_plan_and_cancel(page, app, live_server, run_jobs):
    with time_machine.travel(START, tick=True):
        with app.app_context():
            from webapp.extensions import db
            from webapp.models import HostedAccount
            agency, _ = make_agency("Referring Agency")
            account = referred_account(db, run_jobs, agency, "bakery")
            db.session.execute(sa.update(HostedAccount).where(HostedAccount.id == account.id)
                               .values(period_end=TODAY + timedelta(days=20)))
            db.session.commit()
            db.session.remove()
        base = live_server.replace("localhost", "bakery.localhost")
        _log_in(page, base)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        page.get_by_role("link", name="Billing").click()
        expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
        expect(page.locator("#card-on-file")).to_contain_text("4242")
        expect(page.locator("#card-expiry")).to_contain_text(f"12/{CARD_YEAR}")
        signup = page.locator("#invoices tbody tr").first
        expect(signup).to_contain_text("Sign-up")
        expect(signup).to_contain_text("$70.00")
        expect(signup).to_contain_text("Paid")

        # A mistyped card is told by its field; a good one replaces the card on file.
        _fill_card(page, "4242 4242 4242 4241")
        expect(page.locator("#number-error")).to_contain_text("not valid")
        expect(page.locator("#card-on-file")).to_contain_text("4242")
        _fill_card(page, "5555 5555 5555 4444", month="7")
        expect(page.get_by_text("Your card was saved")).to_be_visible()
        expect(page.locator("#card-on-file")).to_contain_text("4444")
        expect(page.locator("#card-expiry")).to_contain_text(f"07/{CARD_YEAR}")

        # Change plan: the preview (htmx, in place) shows what is charged today; its Confirm says the amount.
        page.get_by_label("Plan tier").select_option("professional")
        page.get_by_role("button", name="Show the price").click()
        expect(page.locator("#quote-today")).to_have_text("$78.00")  # 20 days of (187.00 - 70.00) / 30
        expect(page.locator("#quote-renewal")).to_contain_text("$187.00")
        expect(page).to_have_url(re.compile(r"/app/billing/plan\?tier=professional"))
        confirm = page.get_by_role("button", name="Confirm and pay $78.00")
        expect(confirm).to_be_visible()
        confirm.click()
        expect(page.get_by_text("The plan was changed. Charged to your card now: $78.00.")).to_be_visible()
        expect(page.locator("#current-plan")).to_contain_text("Professional")
        upgrade = page.locator("#invoices tbody tr", has_text="Upgrade")
        expect(upgrade).to_contain_text("$78.00")
        upgrade.get_by_role("link").click()
        expect(page.locator("#invoice-total")).to_have_text("$78.00")
        expect(page.locator(".invoice-line")).to_contain_text("pro rata for 20 days")
        page.get_by_role("link", name="Billing").first.click()

        # Cancel (asked first), then undo it.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancel the account").click()
        expect(page.locator("#cancelled-note")).to_contain_text("stays usable until")
        page.get_by_role("button", name="Undo the cancellation").click()
        expect(page.get_by_text("The cancellation is undone")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel the account")).to_be_visible()


def test_a_detached_clients_declined_renewal_is_paid_by_the_card_it_adds(page, app, live_server, run_jobs):
    with time_machine.travel(START, tick=True):
        with app.app_context():
            from webapp.extensions import db
            from webapp.services import renewals
            agency, user = make_agency("Old Agency")
            detached_account(db, agency, user, "solo", period_end=TODAY,
                                       period_start=TODAY - timedelta(days=30))
            renewals.sweep_commission_renewals()  # its day: billed to its client, who has no card yet
            db.session.remove()
        run_jobs()
        base = live_server.replace("localhost", "solo.localhost")
        _log_in(page, base)
        page.get_by_role("link", name="Billing").click()
        expect(page.locator("#billing-unpaid")).to_contain_text("There is no card on file")
        expect(page.locator("#card-on-file")).to_contain_text("No card yet")
        expect(page.locator("#invoices tbody tr").first).to_contain_text("Payment failed")
        _fill_card(page, "4242 4242 4242 4242")
        expect(page.get_by_text("1 unpaid renewal is being charged to this card now.")).to_be_visible()
        run_jobs()  # the retry the saved card started
        page.reload()
        expect(page.locator("#billing-unpaid")).to_have_count(0)
        renewal = page.locator("#invoices tbody tr").first
        expect(renewal).to_contain_text("Renewal")
        expect(renewal).to_contain_text("$70.00")
        expect(renewal).to_contain_text("Paid")
