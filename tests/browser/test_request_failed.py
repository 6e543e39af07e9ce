"""A background (htmx) request that fails says so on the page, instead of nothing happening."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import browser_login, make_agency

pytestmark = pytest.mark.browser


def test_a_failed_search_request_shows_a_message_and_the_next_one_hides_it(page, app):
    with app.app_context():
        make_agency("Unlucky Agency", email="unlucky@agency.test")
    browser_login(page, "unlucky@agency.test")
    page.goto("/help")
    page.wait_for_load_state("load")
    failing = {"on": True}

    def answer(route):
        if failing["on"] and route.request.headers.get("hx-request"):
            route.fulfill(status=500, body="boom")
        else:
            route.continue_()
    page.route(re.compile(r".*/help\?q=.*"), answer)
    box = page.locator("#request-failed")
    expect(box).to_be_hidden()
    page.get_by_label("Search the questions").fill("prepaid")
    expect(box).to_be_visible()
    expect(box).to_have_text(re.compile("Something went wrong on our side"))
    failing["on"] = False
    page.get_by_label("Search the questions").fill("trial")
    expect(box).to_be_hidden()
    expect(page.locator("article[data-faq='trials']")).to_be_visible()
