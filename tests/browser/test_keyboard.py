"""Browser, keyboard only (issue 26): Add New to a ready trial account and a submit with an error, the
pushdown wizard from the Automations tab to a draft, and the client's branded login (a wrong then a right
password, and the lockout). Every stop of the Tab key is checked: focus is on an element (never <body>) that
shows a focus ring, and where a step lands is checked by the element's accessible name. After an htmx swap,
focus stays with the control that was pressed (or moves to the region's message) and the change is read out
by the one polite live region (#live-announcer, static/js/app.js)."""
from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Agency, Branding, Pushdown
from webapp.services import billing, pushdown
from webapp.services.audit import Actor

from ..helpers import browser_login, make_account, make_agency

pytestmark = pytest.mark.browser
ACTOR = Actor("user:0", "tests")

# The focused element, its accessible name (as a person with a screen reader hears it, simplified: the
# labelling attributes, its labels, a button's value, then its text) and whether a focus ring shows.
FOCUSED = """() => { const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const text = n => (n ? n.textContent : '').replace(/\\s+/g, ' ').trim();
  let name = '';
  if (e.getAttribute('aria-labelledby'))
    name = e.getAttribute('aria-labelledby').split(/\\s+/).map(id => text(document.getElementById(id))).join(' ');
  name = name || e.getAttribute('aria-label') || (e.labels && e.labels.length ? text(e.labels[0]) : '') ||
         (e.tagName === 'INPUT' && ['submit', 'button'].includes(e.type) ? e.value : '') ||
         (['INPUT', 'SELECT', 'TEXTAREA'].includes(e.tagName) ? '' : text(e)) || e.title || e.placeholder || '';
  const s = getComputedStyle(e);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  const shadow = !!s.boxShadow && s.boxShadow !== 'none';
  // A date or time field's focus is on its inner part (day, month, hour...), which Chromium highlights;
  // the field itself matches :focus-within only, not :focus or :focus-visible (see the report).
  const segment = ['date', 'time', 'datetime-local'].includes(e.type) && e.matches(':focus-within');
  return {name: name.trim(), tag: e.tagName, id: e.id, ring: outline || shadow || segment, text: text(e)}; }"""


def focused(page) -> dict:
    info = page.evaluate(FOCUSED)
    assert info is not None, "focus is on <body>: the keyboard user has lost their place"
    assert info["ring"], f"no visible focus ring on {info}"
    return info


def _matches(name: str, want) -> bool:
    return bool(want.search(name)) if isinstance(want, re.Pattern) else name == want


def tab_to(page, want, presses: int = 60, key: str = "Tab") -> dict:
    """Presses Tab until the focused element's accessible name is `want` (a string or a regex), checking at
    every stop that focus is somewhere visible."""
    seen = []
    for _ in range(presses):
        page.keyboard.press(key)
        info = focused(page)
        if _matches(info["name"], want):
            return info
        seen.append(info["name"])
    raise AssertionError(f"Tab never reached {want!r}; it went through {seen}")


def expect_focus(page, want) -> dict:
    """Focus is on the element named `want` (waiting for a swap or a load to settle)."""
    page.wait_for_function(
        "() => document.activeElement && document.activeElement !== document.body")
    expect(page.locator(":focus")).to_have_accessible_name(want)
    return focused(page)


def announced(page):
    return page.locator("#live-announcer")


def press_enter_and_load(page):
    """Enter on a link or a form's field or button: waits for the page it opens."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def select_all_and_type(page, text: str):
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


# ---- Add New ------------------------------------------------------------------------------------------

@pytest.fixture
def agency(app):
    with app.app_context():
        agency, _ = make_agency("Keyboard Agency", email="keys@agency.test")
        billing.save_card(agency.id, number="4242424242424242", exp_month=12, exp_year=date.today().year + 1,
                          cvc="123", actor=ACTOR)
        return SimpleNamespace(id=agency.id)


def test_add_new_by_keyboard_an_error_then_a_trial_followed_to_ready(page, agency, worker):
    browser_login(page, "keys@agency.test", lands=r"/$")
    tab_to(page, "Add New")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/accounts/new$"))
    page.wait_for_load_state("load")

    tab_to(page, "Account name")
    page.keyboard.type("kb-bakery", delay=20)
    expect(page.locator("#name-status")).to_contain_text("is available")  # the live check keeps focus
    expect_focus(page, "Account name")
    tab_to(page, "Client name")
    page.keyboard.type("KB Bakery")
    tab_to(page, "Client e-mail")
    page.keyboard.type("not an e-mail")
    tab_to(page, "Notification e-mail")
    select_all_and_type(page, "desk@agency.test")
    tab_to(page, "Time zone")
    page.keyboard.type("Europe/Paris")
    tab_to(page, "Billing")
    page.keyboard.type("Trial")  # a closed select picks the option typed
    expect(page.locator("#list-price")).to_contain_text("Free trial")
    # The price's swap also replaces the contact-limit field out of band: focus stays on Billing.
    expect_focus(page, "Billing")
    tab_to(page, "Contact limit")
    page.keyboard.press("ArrowDown")  # the price is swapped again; the field keeps the focus
    expect(page.locator("#list-price")).to_contain_text("Free trial")
    expect_focus(page, "Contact limit")
    tab_to(page, "Add & Pay Now")
    press_enter_and_load(page)

    # Sent back with an error: focus on the first invalid field, its error tied to it.
    expect_focus(page, "Client e-mail")
    email = page.locator(":focus")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile("valid e-mail address"))
    select_all_and_type(page, "owner@kb-bakery.test")
    tab_to(page, "Add & Pay Now")
    page.keyboard.press("Enter")

    # The account's page follows the set-up; when it is ready, focus and the live region go to the result.
    expect(page.locator("#credentials")).to_be_visible(timeout=20000)
    expect_focus(page, "kb-bakery is ready")
    expect(announced(page)).to_contain_text("kb-bakery is ready")
    tab_to(page, "Login URL", presses=3)
    tab_to(page, "Copy", presses=2)
    tab_to(page, "Username", presses=2)


# ---- The pushdown wizard ----------------------------------------------------------------------------

def test_pushdown_wizard_by_keyboard_from_the_automations_tab_to_a_draft(page, app):
    with app.app_context():
        agency, _ = make_agency("Keyboard Franchise", email="wizard@agency.test")
        agency.franchise_enabled = True
        db.session.commit()
        for i in range(3):
            make_account(agency, f"shop-{i}", client_name=f"Shop {i}")
        make_account(agency, "depot", client_name="Depot")
        pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
            "Shop welcome", "subscribes", "Newsletter", [{"type": "add_tag", "tag": "welcomed"}]), ACTOR)
    browser_login(page, "wizard@agency.test", lands=r"/$")
    tab_to(page, "Automations")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/automations$"))
    tab_to(page, "New automation")
    press_enter_and_load(page)
    page.wait_for_load_state("load")

    # Step 1: the one automation, a radio group (Space chooses), then Continue.
    expect(page.get_by_text("Step 1 of 3")).to_be_visible()
    tab_to(page, re.compile(r"^Shop welcome"))
    page.keyboard.press("Space")
    expect(page.locator(":focus")).to_be_checked()
    tab_to(page, "Continue")
    press_enter_and_load(page)
    page.wait_for_load_state("load")

    # Step 2: the sub-accounts. The search swaps the list while focus stays in the box.
    expect(page.get_by_role("heading", name="2. Sub-accounts")).to_be_visible()
    tab_to(page, "Search sub-accounts")
    page.keyboard.type("shop", delay=20)
    expect(page.locator("#account-list li")).to_have_count(3)
    expect_focus(page, "Search sub-accounts")
    tab_to(page, "Select all 3 matching")
    page.keyboard.press("Enter")
    expect(page.locator("#selected-count")).to_have_text("3 sub-accounts selected")
    expect_focus(page, "Select all 3 matching")  # the pressed button, in the new list
    expect(announced(page)).to_contain_text("3 sub-accounts selected")
    tab_to(page, "Remove shop-1")
    page.keyboard.press("Enter")
    expect(page.locator("#selected-count")).to_have_text("2 sub-accounts selected")
    expect_focus(page, "Add shop-1")  # the same account's button, now the other way round
    expect(announced(page)).to_contain_text("2 sub-accounts selected")
    page.keyboard.press("Enter")
    expect(page.locator("#selected-count")).to_have_text("3 sub-accounts selected")
    expect_focus(page, "Remove shop-1")

    # Step 3: activation (arrow keys move through the radio group), then the draft.
    tab_to(page, re.compile(r"^(Do not activate|Activate)"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect_focus(page, "Activate as soon as it is pushed")
    expect(page.locator(":focus")).to_be_checked()
    tab_to(page, "Save as draft")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/automations"))
    expect(page.get_by_role("status").filter(has_text="Saved as a draft.")).to_be_visible()
    with app.app_context():
        row = db.session.query(Pushdown).one()
        assert row.status == "draft"


# ---- The client's branded login ---------------------------------------------------------------------

def _client(app, live_server, name: str):
    with app.app_context():
        agency, _ = make_agency(f"{name} Agency")
        account = make_account(agency, name, admin_password="right-password-1")
        db.session.add(Branding(agency_id=agency.id, account_id=account.id, primary_color="#2454a6",
                                product_name=f"{name.title()} Mail"))
        db.session.commit()
    return live_server.replace("localhost", f"{name}.localhost")


def test_client_login_by_keyboard_a_wrong_then_the_right_password(page, app, live_server):
    base = _client(app, live_server, "kbshop")
    page.goto(base + "/app/login")
    expect(page.get_by_role("heading", name="Kbshop Mail")).to_be_visible()
    tab_to(page, "Username")
    select_all_and_type(page, "admin")
    tab_to(page, "Password")
    page.keyboard.type("wrong-password")
    press_enter_and_load(page)
    # Sent back with the error: focus on the field in error (or the form's error summary), the message
    # tied to it, read out with it.
    expect_focus(page, "Password")
    expect(page.locator(":focus")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(":focus")).to_have_accessible_description(re.compile("Wrong username or password"))
    page.keyboard.type("right-password-1")
    tab_to(page, "Log in", presses=2)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_client_lockout_by_keyboard(page, app, live_server):
    base = _client(app, live_server, "kblocked")
    page.goto(base + "/app/login")
    tab_to(page, "Password")
    for attempt in range(5):
        if attempt:
            expect_focus(page, "Password")  # each time sent back to the password, its error read out
        select_all_and_type(page, "wrong-password")
        press_enter_and_load(page)
        if attempt < 4:
            expect(page.get_by_text("Wrong username or password.")).to_be_visible()
    expect(page.locator("#failed-attempt")).to_have_text("Failed attempt")
    expect(page.get_by_text("locked for five minutes")).to_be_visible()
    tab_to(page, "Back")
    press_enter_and_load(page)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    tab_to(page, "Password")


# ---- Resold: the results swapped under the filters --------------------------------------------------

def test_resold_filter_and_sort_by_keyboard_keep_focus_and_read_out_the_count(page, app):
    with app.app_context():
        agency, _ = make_agency("Keyboard Resold", email="resold-keys@agency.test")
        for name in ("alpha-shop", "beta-shop", "gamma-desk"):
            make_account(agency, name)
    browser_login(page, "resold-keys@agency.test", lands=r"/$")
    page.wait_for_load_state("load")
    tab_to(page, "Search")
    page.keyboard.type("shop", delay=20)
    expect(page.locator("#result-count")).to_contain_text("of 2 accounts")
    expect_focus(page, "Search")  # typing goes on where it was
    expect(announced(page)).to_contain_text("of 2 accounts")

    # A sort header swaps the table it is in: focus stays on the same header's link.
    tab_to(page, re.compile(r"^Account\b"))
    for order, first in (("descending", "beta-shop"), ("ascending", "alpha-shop")):
        page.keyboard.press("Enter")
        expect(page.locator(f"th[aria-sort='{order}']")).to_contain_text("Account")
        expect(page.locator("tbody tr").first).to_contain_text(first)
        expect_focus(page, re.compile(r"^Account"))

    # Nothing matches: the empty result is read out.
    tab_to(page, "Search", key="Shift+Tab")
    select_all_and_type(page, "nothing-like-this")
    expect(announced(page)).to_contain_text("No account matches")
    expect_focus(page, "Search")


# ---- An htmx form in place: the account's details ---------------------------------------------------

def test_edit_details_in_place_by_keyboard_focus_follows_the_form_and_its_error(page, app, agency):
    with app.app_context():
        account_id = make_account(db.session.get(Agency, agency.id), "kb-details", client_name="KB Details").id
    browser_login(page, "keys@agency.test", lands=r"/$")
    page.goto(f"/accounts/{account_id}")
    page.wait_for_load_state("load")
    tab_to(page, "Edit details")
    page.keyboard.press("Enter")
    # The card became the form: focus on its heading, not lost with the link that was swapped away.
    expect_focus(page, "Edit the client's details")
    tab_to(page, "Client e-mail", presses=4)
    select_all_and_type(page, "not an e-mail")
    tab_to(page, "Save details", presses=8)
    page.keyboard.press("Enter")
    expect(page.locator("#client-email-error, [id$='client_email-error']").first).to_be_visible()
    expect_focus(page, "Client e-mail")  # the field in error, its message tied to it
    expect(page.locator(":focus")).to_have_accessible_description(re.compile("valid e-mail address"))
    select_all_and_type(page, "boss@kb-details.test")
    tab_to(page, "Save details", presses=8)
    page.keyboard.press("Enter")
    # Saved: the page is loaded again (HX-Redirect) and its message takes the focus and is read out.
    expect(page.locator("#client")).to_contain_text("boss@kb-details.test")
    page.wait_for_function("() => document.activeElement && document.activeElement !== document.body")
    info = focused(page)
    assert info["text"] == "The client's details were saved.", info
    expect(page.locator(":focus")).to_have_attribute("role", "status")
    tab_to(page, "Edit details")  # and Tab goes on from there


def test_pushdown_wizard_publish_without_sub_accounts_focuses_the_error(page, app):
    with app.app_context():
        agency, _ = make_agency("Keyboard Franchise Two", email="wizard2@agency.test")
        agency.franchise_enabled = True
        db.session.commit()
        make_account(agency, "lone-shop")
        automation_id = pushdown.save_automation(agency.id, None, pushdown.AutomationInput(
            "Lone welcome", "subscribes", "Newsletter", [{"type": "add_tag", "tag": "welcomed"}]), ACTOR).id
    browser_login(page, "wizard2@agency.test", lands=r"/$")
    page.goto(f"/automations/new?automation_id={automation_id}&continue=1")
    page.wait_for_load_state("load")
    tab_to(page, "Publish now")
    press_enter_and_load(page)
    page.wait_for_function("() => document.activeElement && document.activeElement !== document.body")
    info = focused(page)  # the error summary (role=alert) of the form, read out as it takes the focus
    error = page.locator("#wizard .alert-danger[role=alert], #wizard [aria-invalid=true]").first
    expect(error).to_be_focused()
    assert "Select at least one sub-account." in info["text"], info
