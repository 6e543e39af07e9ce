"""Browser (S6, N3): support finds an account in the console and files an abuse report about it; the
agency sees the report on the account's page and acknowledges it with a reply; support sees it
acknowledged in its Reports queue, with the reply."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import browser_login, make_account, make_agency, make_support

pytestmark = pytest.mark.browser


def test_support_files_a_report_the_agency_acknowledges_it_support_sees_it(page, app, browser, live_server):
    with app.app_context():
        agency, _ = make_agency("Northwind", email="nora@agency.test")
        account_id = make_account(agency, "bakery", notification_email="alerts@northwind.test").id
        make_support()

    # Support: the console's search, then "File a report" on the account's row.
    browser_login(page, "staff@agencyhq.test")
    page.get_by_label("Search").fill("bakery")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="File a report about bakery").click()
    expect(page.get_by_role("heading", name="File an abuse or bounce report")).to_be_visible()
    expect(page.get_by_label("Account (its address)")).to_have_value("bakery")
    page.get_by_label("Kind").select_option("abuse")
    page.get_by_label("Severity").select_option("high")
    page.get_by_role("button", name="File the report").click()  # nothing said: refused by the fields
    expect(page.locator("#description-error")).to_contain_text("Say what happened.")
    page.get_by_label("What happened").fill("Spam complaints from a bought list.")
    page.get_by_label("Evidence (the complaint, the bounces or the log lines)").fill(
        "Feedback loop: 312 complaints in 2 hours.\n<script>alert(1)</script>")
    page.get_by_label("Sample message (optional)").fill("Subject: You won!")
    page.get_by_role("button", name="File the report").click()
    expect(page.get_by_role("status").filter(has_text="is filed and the agency was e-mailed")).to_be_visible()
    expect(page.locator("#report-status")).to_have_text("Open")
    expect(page.locator("#report-evidence")).to_contain_text("<script>alert(1)</script>")  # shown, not run
    report_url = page.url

    # The agency: the account's page lists it; its page takes the reply.
    agency_page = browser.new_context(base_url=live_server).new_page()
    try:
        agency_page.set_default_timeout(10000)
        browser_login(agency_page, "nora@agency.test")
        agency_page.get_by_role("navigation", name="Agency menu").get_by_role("link", name="Reports").click()
        expect(agency_page.locator("table.reports tbody tr[data-report]")).to_have_count(1)
        agency_page.goto(f"/accounts/{account_id}")
        reports = agency_page.locator("#reports")
        expect(reports.locator("tr[data-report]")).to_have_count(1)
        expect(reports).to_contain_text("Spam complaints from a bought list.")
        expect(reports.locator(".report-status")).to_have_text("Open")
        reports.get_by_role("link", name=re.compile(r"Report \d+")).click()
        expect(agency_page.get_by_role("heading", name="Abuse report about bakery")).to_be_visible()
        agency_page.get_by_role("button", name="Acknowledge the report").click()  # no reply: refused by the field
        expect(agency_page.locator("#reply-error")).to_contain_text("Say what you did about it.")
        agency_page.get_by_label("Your reply to support").fill("The client bought a list; we removed it.")
        agency_page.get_by_role("button", name="Acknowledge the report").click()
        expect(agency_page.get_by_role("status").filter(has_text="is acknowledged")).to_be_visible()
        expect(agency_page.locator("#report-status")).to_have_text("Acknowledged")
        expect(agency_page.locator("#agency-reply")).to_have_text("The client bought a list; we removed it.")
    finally:
        agency_page.context.close()

    # Support: the queue shows it acknowledged, with the reply.
    page.get_by_role("navigation", name="Support menu").get_by_role("link", name="Reports").click()
    row = page.locator("#support-reports tbody tr[data-report]")
    expect(row).to_have_count(1)
    expect(row.locator(".report-status")).to_have_text("Acknowledged")
    row.get_by_role("link", name=re.compile(r"Report \d+")).click()
    expect(page).to_have_url(report_url)
    expect(page.locator("#agency-reply")).to_have_text("The client bought a list; we removed it.")
