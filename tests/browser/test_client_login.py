"""Browser, on the account's own host (*.localhost): five bad passwords, locked, reset by the
e-mailed link, still locked until the window ends, then in."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from webapp.models import OutboundEmail, utcnow
from webapp.services import client_auth

from ..helpers import make_account, make_agency

pytestmark = pytest.mark.browser


def test_lockout_reset_and_login_on_the_subdomain(page, app, live_server, monkeypatch, worker):
    clock = {"now": utcnow()}
    monkeypatch.setattr(client_auth, "now", lambda: clock["now"])
    with app.app_context():
        agency, _ = make_agency()
        make_account(agency, "lockme", admin_password="right-password-1", client_email="boss@lockme.test")
    base = live_server.replace("localhost", "lockme.localhost")
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/app/login"))
    for _ in range(4):
        page.get_by_label("Password").fill("wrong-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#failed-attempt")).to_have_text("Failed attempt")
    page.get_by_role("link", name="Back").click()

    page.get_by_role("link", name="Forgot?").click()
    page.get_by_label("E-mail").fill("boss@lockme.test")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.locator("#reset-sent")).to_be_visible()
    with app.app_context():
        from webapp.extensions import db
        deadline = time.monotonic() + 10
        while (body := db.session.scalar(sa.select(OutboundEmail.body_text).where(
                OutboundEmail.kind == "client_password_reset"))) is None and time.monotonic() < deadline:
            db.session.rollback()
            time.sleep(0.05)  # the worker thread sends it
    link = re.search(r"(http://\S+/app/reset/\S+)", body).group(1)
    assert link.startswith(base)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("fresh-password-22")
    page.get_by_label("Repeat the new password").fill("fresh-password-22")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()

    page.get_by_label("Password").fill("fresh-password-22")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#failed-attempt")).to_be_visible()  # the window has not ended
    page.get_by_role("link", name="Back").click()
    clock["now"] += timedelta(minutes=5, seconds=1)
    page.get_by_label("Password").fill("fresh-password-22")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto(link)
    expect(page.locator("#reset-invalid")).to_be_visible()  # the link worked once
