"""Browser: the FAQ searched as you type, and a live chat between an agency user and a member of
support staff, each in their own browser, seeing the other's lines appear without a reload."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import browser_login, make_account, make_agency, make_support

pytestmark = pytest.mark.browser



def test_faq_search_as_you_type_keeps_the_query_in_the_url(page, app):
    with app.app_context():
        make_agency("Curious Agency", email="curious@agency.test")
    browser_login(page, "curious@agency.test")
    page.get_by_role("navigation", name="Agency menu").get_by_role("link", name="Common questions").click()
    entries = page.locator("article[data-faq]")
    from webapp.web.help import faq
    expect(entries).to_have_count(len(faq.FAQ))
    page.wait_for_load_state("load")  # htmx listens once the page has loaded
    page.evaluate("window.__samePage = true")  # gone if the page reloads

    page.get_by_label("Search the questions").press_sequentially("Prepaid", delay=40)
    expect(page).to_have_url(re.compile(r"/help\?q=Prepaid$"))
    expect(page.locator("#faq-count")).to_contain_text("questions match “Prepaid”")
    expect(page.locator("article[data-faq='prepaid']")).to_be_visible()
    expect(page.locator("article[data-faq='custom-domain']")).to_have_count(0)
    expect(page.locator("article[data-faq='prepaid'] mark").first).to_have_text(re.compile("prepaid", re.I))
    assert page.evaluate("window.__samePage") is True  # htmx swapped the results; no reload

    page.get_by_label("Search the questions").fill("cname")
    expect(entries).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=cname"))
    page.reload()  # the URL alone gives the same view
    expect(entries).to_have_count(1)
    expect(page.get_by_label("Search the questions")).to_have_value("cname")
    page.locator("article[data-faq='custom-domain']").get_by_role("link", name="Resold tab").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_agency_and_support_chat_live_in_two_browsers(browser, live_server, app):
    with app.app_context():
        agency, _ = make_agency("Chatty Agency", email="chatty@agency.test")
        make_account(agency, "bakery")
        make_support("sam@agencyhq.test")
    agency_ctx = browser.new_context(base_url=live_server)
    staff_ctx = browser.new_context(base_url=live_server)
    try:
        nora, sam = agency_ctx.new_page(), staff_ctx.new_page()
        for p in (nora, sam):
            p.set_default_timeout(10000)

        browser_login(nora, "chatty@agency.test")
        nora.get_by_role("navigation", name="Agency menu").get_by_role("link", name="Contact support").click()
        nora.get_by_label("Subject").fill("Custom domain will not verify")
        nora.get_by_label("About one of your accounts (optional)").fill("bakery")
        nora.get_by_label("Message").fill("I created the CNAME an hour ago.")
        nora.get_by_role("button", name="Send to support").click()
        expect(nora.get_by_text("support has been e-mailed")).to_be_visible()
        expect(nora.locator("#chat-lines li")).to_have_count(1)
        nora.wait_for_load_state("load")
        nora.evaluate("window.__samePage = true")

        browser_login(sam, "sam@agencyhq.test")
        sam.get_by_role("link", name="Contact tickets").click()
        sam.get_by_role("link", name=re.compile("Custom domain will not verify")).click()
        expect(sam.locator("#chat-lines")).to_contain_text("I created the CNAME an hour ago.")
        sam.wait_for_load_state("load")
        sam.evaluate("window.__samePage = true")

        # Support answers: the line shows at once on support's page and, polled, on the agency's.
        sam.get_by_label("Your message").fill("Hello! Checking the record now.")
        sam.get_by_role("button", name="Send").click()
        expect(sam.locator("#chat-lines li")).to_have_count(2)
        expect(sam.get_by_label("Your message")).to_have_value("")
        expect(nora.locator("#chat-lines li").last).to_contain_text("Hello! Checking the record now.")
        expect(nora.locator("#chat-lines li").last).to_contain_text("Support")

        # The agency replies, twice in a row; support sees both, once each, in order.
        nora.get_by_label("Your message").fill("Thanks. The record points to bakery.localhost.")
        nora.get_by_role("button", name="Send").click()
        expect(nora.get_by_label("Your message")).to_have_value("")
        nora.get_by_label("Your message").fill("Anything else I should check?")
        nora.get_by_role("button", name="Send").click()
        expect(sam.locator("#chat-lines li")).to_have_count(4)
        expect(sam.locator("#chat-lines li").nth(2)).to_contain_text("points to bakery.localhost")
        expect(sam.locator("#chat-lines li").nth(3)).to_contain_text("Anything else I should check?")
        expect(nora.locator("#chat-lines li")).to_have_count(4)
        assert sam.evaluate("window.__samePage") is True

        # An empty line is refused in place, nothing sent.
        nora.get_by_role("button", name="Send").click()
        expect(nora.get_by_text("Write a message.")).to_be_visible()
        nora.wait_for_timeout(2500)  # a poll goes by: still four lines on both sides
        expect(sam.locator("#chat-lines li")).to_have_count(4)
        expect(nora.locator("#chat-lines li")).to_have_count(4)

        # Support closes the ticket; the agency's page says so without a reload and stops polling.
        sam.once("dialog", lambda dialog: dialog.accept())
        sam.get_by_role("button", name="Close ticket").click()
        expect(sam.get_by_text("Ticket 1 is closed.")).to_be_visible()
        expect(nora.locator("#chat-closed")).to_contain_text("This ticket is closed")
        expect(nora.locator("#chat-form")).to_have_count(0)
        assert nora.evaluate("window.__samePage") is True  # all of it live, no reload
    finally:
        agency_ctx.close()
        staff_ctx.close()


def test_faq_search_and_chat_work_without_javascript(browser, live_server, app):
    with app.app_context():
        make_agency("Plain Agency", email="plain@agency.test")
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(10000)
        browser_login(page, "plain@agency.test")
        page.goto("/help")
        page.get_by_label("Search the questions").fill("trial")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"/help\?q=trial$"))
        expect(page.locator("article[data-faq='trials']")).to_be_visible()
        expect(page.locator("article[data-faq='card']")).to_have_count(0)

        page.goto("/contact")
        page.get_by_label("Subject").fill("Plain question")
        page.get_by_label("Message").fill("Sent without JavaScript.")
        page.get_by_role("button", name="Send to support").click()
        expect(page.locator("#chat-lines li")).to_have_count(1)
        page.get_by_label("Your message").fill("A second line, still without JavaScript.")
        page.get_by_role("button", name="Send").click()
        expect(page).to_have_url(re.compile(r"/contact/\d+#chat$"))
        expect(page.locator("#chat-lines li")).to_have_count(2)
        expect(page.get_by_role("link", name="Reload to see new messages")).to_be_visible()
    finally:
        context.close()
