"""Browser, under Stripe (the stand-in's Stripe.js Elements mock): an agency saves its card in Stripe's
card form; a declined card is told by the form and nothing is saved; the saved card shows its last 4,
and the card number never reached AgencyHQ: not in a request to it, not in its database."""
from __future__ import annotations

import sqlalchemy as sa
import pytest
from playwright.sync_api import expect

from ..helpers import browser_login, make_agency

pytestmark = pytest.mark.browser


def _fill(page, number: str):
    card = page.locator("#card-element")
    card.get_by_placeholder("number").fill(number)
    card.get_by_placeholder("exp_month").fill("12")
    card.get_by_placeholder("exp_year").fill("34")
    card.get_by_placeholder("cvc").fill("123")
    card.get_by_placeholder("postal_code").fill("75001")


def test_the_card_is_saved_through_stripes_form(page, app, stripe_gateway, live_server):
    with app.app_context():
        make_agency("Paying Agency", email="payer@agency.test")
    bodies = []
    page.on("request", lambda request: bodies.append((request.url, request.post_data or "")))
    browser_login(page, "payer@agency.test")
    page.goto("/billing/profile")
    expect(page.locator("#card-on-file")).to_contain_text("No card yet")

    _fill(page, "4000000000000002")  # declined when it is saved, by Stripe
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("#card-errors")).to_contain_text("declined")
    expect(page.locator("#card-on-file")).to_contain_text("No card yet")

    page.reload()
    _fill(page, "4242424242424242")
    page.get_by_role("button", name="Save card").click()
    expect(page.locator("#card-on-file")).to_contain_text("4242")
    expect(page.get_by_text("Your card was saved")).to_be_visible()

    ours = [body for url, body in bodies if url.startswith(live_server)]
    assert ours and not any("4242424242424242" in body or "4000000000000002" in body for body in ours)
    assert any("4242424242424242" in body for url, body in bodies if url.startswith(stripe_gateway.stand_in))
    from webapp.extensions import db
    with app.app_context():
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    assert "4242424242424242" not in " ".join(str(v) for v in row), table.name


def test_a_referred_client_pays_through_stripes_form(page, app, stripe_gateway, live_server):
    with app.app_context():
        agency, _ = make_agency("Referring Agency", email="referrer@agency.test")
        code = agency.referral_code
    page.goto(f"/r/{code}")
    page.get_by_label("Account name").fill("florist")
    page.get_by_label("Your name or company").fill("The Florist")
    page.get_by_label("Contact e-mail").fill("owner@florist.test")
    _fill(page, "4000000000000002")
    page.get_by_role("button", name="Create my account and pay").click()
    expect(page.locator("#card-errors")).to_contain_text("declined")
    page.reload()
    page.get_by_label("Account name").fill("florist")
    page.get_by_label("Your name or company").fill("The Florist")
    page.get_by_label("Contact e-mail").fill("owner@florist.test")
    _fill(page, "4242424242424242")
    page.get_by_role("button", name="Create my account and pay").click()
    expect(page.get_by_text("your payment went through")).to_be_visible()
