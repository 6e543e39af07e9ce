"""Browser: the Resold tab as people use it, with htmx and without JavaScript."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser


@pytest.fixture
def resold_data(app):
    with app.app_context():
        agency, user = make_agency("Browser Agency", email="browser@agency.test")
        for i in range(32):
            make_account(agency, f"shop-{i:02d}", client_name=f"Shop {i}", plan_term="monthly",
                         contact_limit=[500, 1000, 2500, 5000][i % 4], period_end=date.today() + timedelta(days=i))
        for i in range(6):
            make_account(agency, f"studio-{i}", client_name=f"Studio {i}", plan_term="annual", contact_limit=10000)
        make_account(agency, "trial-shop", client_name="Trial Shop", plan_term="trial", contact_limit=500)
        make_account(agency, "old-shop", client_name="Old Shop", status="expired")
    return "browser@agency.test"



def _rows(page):
    return page.locator("table.resold tbody tr[data-account]")


def test_search_filter_sort_page_and_back_twice(page, resold_data):
    browser_login(page, resold_data, lands=r"/$")
    expect(_rows(page)).to_have_count(25)
    expect(page.locator("#result-count")).to_contain_text("of 39 accounts")
    page.wait_for_load_state("load")  # htmx listens once the page has loaded

    page.get_by_label("Search").press_sequentially("shop", delay=40)
    expect(page).to_have_url(re.compile(r"q=shop"))
    expect(page.locator("#result-count")).to_contain_text("of 33 accounts")  # 32 shops and the trial shop

    page.get_by_label("Monthly").check()
    expect(page).to_have_url(re.compile(r"plan=monthly"))
    expect(page.locator("#result-count")).to_contain_text("of 32 accounts")
    expect(_rows(page).first).to_have_attribute("data-account", "shop-00")

    page.locator("table.resold").get_by_role("link", name=re.compile(r"^Plan")).click()
    expect(page).to_have_url(re.compile(r"sort=plan_size"))
    expect(_rows(page).first).to_have_attribute("data-account", "shop-00")  # 500 contacts, lowest id
    expect(_rows(page).nth(1)).to_have_attribute("data-account", "shop-04")
    sorted_url = page.url

    page.get_by_role("link", name="Next").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(_rows(page)).to_have_count(7)
    # 8 shops each of 500, 1000, 2500 and 5000 contacts: page 2 is the last seven of the 5000s.
    expect(_rows(page).first).to_have_attribute("data-account", "shop-07")
    assert "sort=plan_size" in page.url and "q=shop" in page.url and "plan=monthly" in page.url

    page.go_back()
    expect(page).to_have_url(sorted_url)
    expect(_rows(page)).to_have_count(25)
    expect(_rows(page).nth(1)).to_have_attribute("data-account", "shop-04")
    expect(page.get_by_label("Search")).to_have_value("shop")
    expect(page.get_by_label("Monthly")).to_be_checked()

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"sort=plan_size"))
    expect(page).to_have_url(re.compile(r"plan=monthly"))
    expect(_rows(page).first).to_have_attribute("data-account", "shop-00")
    expect(_rows(page).nth(1)).to_have_attribute("data-account", "shop-01")  # back to name order

    # A reload of a pushed URL is the same view as a full page.
    page.goto(sorted_url)
    expect(_rows(page).nth(1)).to_have_attribute("data-account", "shop-04")


def test_a_rows_menu_brings_what_can_be_done_when_it_opens(page, resold_data):
    """Issue 25: the menu is written once for the table; each row gets its copy, and its items come when opened."""
    browser_login(page, resold_data, lands=r"/$")
    page.wait_for_load_state("load")
    expect(page.locator("table.resold tbody details.row-menu")).to_have_count(25)
    row = page.locator("tr[data-account='shop-03']")
    row.get_by_label("More actions for shop-03").click()
    expect(row.get_by_role("link", name="Cancel this account")).to_be_visible()
    expect(row.get_by_role("link", name="White-label settings")).to_be_visible()
    # After a sort (an htmx swap of the rows), the new rows have their menus too; an expired one offers no cancel.
    page.get_by_label("Status").select_option("expired")
    page.get_by_role("button", name="Apply").click()
    old = page.locator("tr[data-account='old-shop']")
    old.get_by_label("More actions for old-shop").click()
    expect(old.get_by_role("link", name="Change")).to_be_visible()
    expect(old.get_by_role("link", name="Cancel this account")).to_have_count(0)
    old.get_by_role("link", name="Change").click()
    expect(page).to_have_url(re.compile(r"/accounts/\d+/change$"))


def test_the_tab_works_without_javascript(browser, live_server, resold_data):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        browser_login(page, resold_data, lands=r"/$")
        expect(_rows(page)).to_have_count(25)
        page.get_by_label("Search").fill("studio")
        page.get_by_label("Annual").check()
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"q=studio"))
        expect(_rows(page)).to_have_count(6)
        page.locator("table.resold").get_by_role("link", name=re.compile(r"^Account")).click()
        expect(page).to_have_url(re.compile(r"order=desc"))
        expect(_rows(page).first).to_have_attribute("data-account", "studio-5")
        page.get_by_label("Status").select_option("expired")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_text("No account matches “studio”.")).to_be_visible()
        page.get_by_role("link", name="Clear the search").click()
        expect(page).not_to_have_url(re.compile(r"q=studio"))
        expect(page.get_by_text("No account matches these filters.")).to_be_visible()
        # Without JavaScript a row has no ⋯ menu (app.js gives each row its copy, issue 25): the account's name
        # leads to its page, where every action of the menu is.
        page.goto("/")
        expect(page.locator("tr[data-account='shop-00'] details")).to_have_count(0)
        page.locator("tr[data-account='shop-00']").get_by_role("link", name="shop-00", exact=True).click()
        expect(page.locator("#cancel").get_by_role("link", name="Cancel this account")).to_be_visible()
    finally:
        context.close()


def _shown_in_scroller(page, header):
    """The header lies inside the table's scroller as it is shown, with no sideways scrolling."""
    box = header.bounding_box()
    scroller = page.locator("#resold-results .table-responsive").bounding_box()
    return box is not None and scroller["x"] <= box["x"] and box["x"] + box["width"] <= scroller["x"] + scroller["width"] + 1


def test_every_sort_header_is_in_view_on_a_laptop_and_created_sorts(page, resold_data, app):
    """R4 on a 1280 px laptop: the Created header is on screen and sorts by creation date; at 992 px
    every sortable header is still in view without scrolling the table sideways."""
    with app.app_context():
        from webapp.extensions import db
        from webapp.models import Agency
        agency = db.session.scalar(sa.select(Agency).where(Agency.name == "Browser Agency"))
        make_account(agency, "zz-first-made", client_name="First Client", plan_term="monthly",
                     created_at=datetime.now(timezone.utc) - timedelta(days=400))
    page.set_viewport_size({"width": 1280, "height": 800})
    browser_login(page, resold_data, lands=r"/$")
    page.wait_for_load_state("load")
    table = page.locator("table.resold")
    created = table.get_by_role("link", name=re.compile(r"^Created"))
    expect(created).to_be_visible()
    assert _shown_in_scroller(page, created)
    created.click()
    expect(page).to_have_url(re.compile(r"sort=created"))
    expect(_rows(page).first).to_have_attribute("data-account", "zz-first-made")  # made 400 days ago
    expect(table.locator("th[aria-sort=ascending]")).to_contain_text("Created")
    created.click()
    expect(page).to_have_url(re.compile(r"sort=created&order=desc"))
    expect(table.locator("th[aria-sort=descending]")).to_contain_text("Created")
    expect(page.locator("tr[data-account='zz-first-made']")).to_have_count(0)  # the oldest is on the last page

    page.set_viewport_size({"width": 992, "height": 800})
    for name in ("Account", "Plan", "Created", "Renews or expires"):
        header = table.get_by_role("link", name=re.compile(rf"^{name}"))
        expect(header).to_be_visible()
        assert _shown_in_scroller(page, header), name


def _fragment_requests(page):
    """The htmx requests for Resold fragments the page sends, as they go out."""
    sent = []
    page.on("request", lambda r: sent.append(r.url) if urlsplit(r.url).path == "/" and "hx-request" in r.headers
            else None)
    return sent


def test_search_as_you_type_sends_one_request_per_pause(page, resold_data):
    """R1: keys typed 60 ms apart (inside the 300 ms debounce) make one fragment request, for the whole word."""
    browser_login(page, resold_data, lands=r"/$")
    page.wait_for_load_state("load")
    sent = _fragment_requests(page)
    # The keys are typed by the page itself, 60 ms apart on the browser's own clock, so a test process
    # slowed by a loaded machine cannot stretch a gap past the debounce.
    page.evaluate("""() => new Promise(done => {
        const box = document.getElementById("q"), word = "studio";
        let i = 0;
        const key = () => {
            box.value = word.slice(0, ++i);
            box.dispatchEvent(new Event("input", {bubbles: true}));
            if (i < word.length) setTimeout(key, 60); else done();
        };
        key();
    })""")
    expect(page.locator("#result-count")).to_contain_text("of 6 accounts")
    page.wait_for_timeout(500)  # longer than the debounce: a late request for a partial word would show
    assert len(sent) == 1, sent  # without the debounce each of the 6 keys sends one
    assert "q=studio" in sent[0]


def test_busy_indicator_shows_while_a_fragment_is_on_its_way(page, resold_data):
    """R1: the spinner (#resold-busy, the form's hx-indicator) shows while the answer is held back, and goes after."""
    browser_login(page, resold_data, lands=r"/$")
    page.wait_for_load_state("load")
    busy = page.locator("#resold-busy")
    expect(busy).to_have_css("opacity", "0")
    held = []
    page.route(lambda url: "q=studio" in url, lambda route: held.append(route))  # hold the answer until the test lets it go
    page.get_by_label("Search").fill("studio")
    while not held:
        page.wait_for_timeout(50)
    expect(busy).to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(busy).to_have_css("opacity", "1")
    expect(_rows(page)).to_have_count(25)  # the old rows are still there
    held[0].continue_()
    expect(page.locator("#result-count")).to_contain_text("of 6 accounts")
    expect(busy).not_to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(busy).to_have_css("opacity", "0")
