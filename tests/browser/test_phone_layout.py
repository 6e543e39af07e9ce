"""Browser, on a phone (390 x 844): no page of any role scrolls sideways. Wide tables scroll in
their own box; the page itself stays as wide as the screen."""
from __future__ import annotations

import pytest

from webapp.services import demo

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# What sticks out past the right edge, deepest first, to say why a page is too wide.
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
               && ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 5).map(e => e.outerHTML.slice(0, 160))"""


def _width_problems(page, paths: list[str]) -> list[str]:
    problems = []
    for path in paths:
        response = page.goto(path)
        assert response.ok, (path, response.status)
        page.wait_for_load_state("networkidle")
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll_width > inner_width:
            problems.append(f"{path}: {scroll_width} > {inner_width}: {page.evaluate(OVERFLOWING)}")
    return problems


def _links(page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "links => links.map(a => a.getAttribute('href'))")


def _dashboard_login(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("networkidle")


@pytest.fixture
def phone(browser, live_server, app):
    with app.app_context():
        demo.seed()
    context = browser.new_context(base_url=live_server, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def test_agency_pages_fit_a_phone(phone):
    _dashboard_login(phone, demo.AGENCY_EMAIL, demo.AGENCY_PASSWORD)
    phone.goto("/")
    account_page = _links(phone, "table.resold tbody a[href^='/accounts/']")[0]
    pages = ["/", *_links(phone, "#topnav a"), *_links(phone, "#side-menu a"), account_page]
    assert {"/automations", "/billing/profile", "/billing/history", "/my-account"} <= set(pages)
    # One page of each kind a menu page leads to: an invoice, a pushdown, the wizard, templates.
    for listing, selector in (("/billing/history", "main a[href^='/billing/invoices/']"),
                              ("/automations", "main a[href^='/automations/']"),
                              ("/settings/templates", "main a[href^='/settings/templates/']")):
        phone.goto(listing)
        pages += [listing, *_links(phone, selector)]
    problems = _width_problems(phone, list(dict.fromkeys(pages)))
    assert not problems, "\n".join(problems)


def test_support_console_fits_a_phone(phone):
    _dashboard_login(phone, demo.SUPPORT_EMAIL, demo.SUPPORT_PASSWORD)
    phone.goto("/support")
    pages = ["/support", *_links(phone, "#topnav a"), *_links(phone, "nav[aria-label='Support menu'] a")]
    assert len(set(pages)) >= 3
    problems = _width_problems(phone, list(dict.fromkeys(pages)))
    assert not problems, "\n".join(problems)


def test_hosted_account_pages_fit_a_phone(phone, live_server):
    base = live_server.replace("localhost", f"{demo.CLIENT_ACCOUNT}.localhost")
    login = _width_problems(phone, [base + "/app/login"])
    phone.get_by_label("Username").fill("admin")
    phone.get_by_label("Password").fill(demo.CLIENT_PASSWORD)
    phone.get_by_role("button", name="Log in").click()
    phone.wait_for_url("**/app/")
    pages = [base + href for href in _links(phone, "header.client-top nav a")]
    assert len(pages) == 4
    phone.goto(base + "/app/templates")
    pages += [base + href for href in _links(phone, "main a[href^='/app/templates/']")]
    problems = login + _width_problems(phone, pages)
    assert not problems, "\n".join(problems)
