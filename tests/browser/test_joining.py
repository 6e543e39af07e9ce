"""Browser (issue 19): an agency signs up and confirms its e-mail; a user enrols two-factor sign-in and
signs in with a code from the app."""
from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa
import time_machine
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import OutboundEmail

from ..helpers import PASSWORD, make_agency

pytestmark = pytest.mark.browser


def _latest_link(app, kind: str, path: str) -> str:
    with app.app_context():
        body = db.session.scalars(sa.select(OutboundEmail.body_text).where(OutboundEmail.kind == kind)
                                  .order_by(OutboundEmail.id.desc())).first()
        return re.search(rf"https?://[^/\s]+({path}/\S+)", body).group(1)


def test_an_agency_signs_up_confirms_and_is_greeted_with_its_first_steps(page, app):
    page.goto("/login")
    page.get_by_role("link", name="Join the agency program").click()
    page.get_by_label("Agency name").fill("Northwind Studio")
    page.get_by_label("Your name").fill("Nora North")
    page.get_by_label("Work e-mail").fill("nora@northwind.test")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create my agency").click()
    expect(page.get_by_text("12 characters").first).to_be_visible()
    page.get_by_label("Password").fill("plum-orchard-lantern-42")
    page.get_by_role("button", name="Create my agency").click()
    expect(page.get_by_text("nora@northwind.test")).to_be_visible()

    page.goto(_latest_link(app, "signup_confirm", "/signup/confirm"))
    page.get_by_role("button", name="Confirm my e-mail").click()
    steps = page.locator("#first-steps")
    expect(steps).to_be_visible()
    steps.get_by_role("link", name="Add a card").click()
    expect(page).to_have_url(re.compile(r"/billing/profile$"))


def test_two_factor_enrolment_then_sign_in_with_a_code(page, app):
    with app.app_context():
        make_agency(email="owner@agency.test")
    with time_machine.travel("2026-12-02 10:00:00+00:00", tick=True) as clock:
        page.goto("/login")
        page.get_by_label("E-mail").fill("owner@agency.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto("/my-account")
        page.get_by_role("link", name="Set up two-factor sign-in").click()
        expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on").click()
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        page.get_by_role("link", name="I have kept them").click()
        page.get_by_role("button", name="Logout").first.click()

        clock.shift(31)  # the next 30 s step: the code just used is never taken again
        page.get_by_label("E-mail").fill("owner@agency.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        field = page.get_by_label("Code from your app, or a recovery code")
        field.fill("000000")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("does not match")).to_be_visible()
        page.get_by_label("Code from your app, or a recovery code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Resold accounts")).to_be_visible()
