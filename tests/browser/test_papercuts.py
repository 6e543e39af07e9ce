"""Browser: issue 23's papercuts as a new user saw them: a login URL wrapped mid-word, a Logout out of line
with the side menu, a "Transfer an account in" that looked disabled, a favicon that was not found."""
from __future__ import annotations

import pytest

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser

# Where a text node's lines begin: the index of every character that starts a new line (by its box's top).
LINE_STARTS = """(el) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const chars = [];
  let node;
  while ((node = walker.nextNode())) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (rect) chars.push([node.data[i], Math.round(rect.top)]);
    }
  }
  const starts = [];
  for (let i = 1; i < chars.length; i++) if (chars[i][1] > chars[i - 1][1] + 2) starts.push(i);
  return {text: chars.map(c => c[0]).join(""), starts};
}"""


@pytest.fixture
def agency_email(app):
    with app.app_context():
        agency, _ = make_agency("Papercut Agency", email="papercut@agency.test")
        make_account(agency, "a-very-long-account-name-for-wrapping", client_name="Long Name Bakery")
    return "papercut@agency.test"


def test_a_login_url_wraps_only_after_a_dot_or_a_slash(page, agency_email):
    page.set_viewport_size({"width": 1000, "height": 900})
    browser_login(page, agency_email, lands=r"/$")
    link = page.locator('tr[data-account="a-very-long-account-name-for-wrapping"] td:first-child div a')
    # Narrow the cell as a phone or a crowded table does, then read where its lines begin.
    link.evaluate("el => { el.parentElement.style.width = '12rem'; }")
    lines = link.evaluate(LINE_STARTS)
    assert lines["starts"], "the URL did not wrap at all: the test proves nothing"
    for start in lines["starts"]:
        assert lines["text"][start - 1] in "./", (lines["text"], start)


def test_logout_lines_up_with_the_side_menu_links(page, agency_email):
    browser_login(page, agency_email, lands=r"/$")
    starts = page.evaluate("""() => {
      const left = el => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return Math.round(range.getClientRects()[0].left);
      };
      const links = [...document.querySelectorAll('#side-menu a.side-link')].map(left);
      return {links, logout: left(document.querySelector('#side-menu form button'))};
    }""")
    assert len(set(starts["links"])) == 1, starts
    assert starts["logout"] == starts["links"][0], starts


def test_transfer_in_looks_like_an_active_button(page, agency_email):
    browser_login(page, agency_email, lands=r"/$")
    colours = page.evaluate("""() => {
      const style = el => getComputedStyle(el);
      const transfer = style(document.querySelector('main a[href="/accounts/transfer"]'));
      const unavailable = document.querySelector('.side-link.unavailable');
      return {colour: transfer.color, border: transfer.borderColor, cursor: transfer.cursor,
              greyed: unavailable ? style(unavailable).color : null, opacity: transfer.opacity};
    }""")
    # primary: the border Bootstrap's, the text its darker shade, which reads at 4.5:1 on the page grey (issue 26)
    assert colours["colour"] == "rgb(10, 88, 202)" and colours["border"] == "rgb(13, 110, 253)", colours
    assert colours["opacity"] == "1" and colours["cursor"] == "pointer", colours
    assert colours["colour"] != colours["greyed"]


def test_no_page_asks_for_something_that_is_not_found(page, agency_email, live_server):
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    browser_login(page, agency_email, lands=r"/$")
    page.goto("/billing/profile")
    page.wait_for_load_state("load")
    assert not missing, missing
    icon = page.evaluate("""async () => {
      const link = document.querySelector('link[rel=icon]');
      const answer = await fetch(link.href);
      const ico = await fetch('/favicon.ico');
      return [answer.status, answer.headers.get('content-type'), ico.status];
    }""")
    assert icon[0] == 200 and icon[1].startswith("image/svg+xml") and icon[2] == 200, icon
