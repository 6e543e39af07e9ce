"""Browser: templates for new accounts with a live sandboxed preview (W8); share a template from one
account and import it in another, then revoke the link (W9); the account's Automations page (P8);
and a stored XSS corpus that never runs a script or opens a dialog anywhere it is shown."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Automation
from webapp.services import branding, templates
from webapp.services.audit import Actor

from ..helpers import PASSWORD, make_account, make_agency
from ..test_templates import XSS_PAYLOADS

pytestmark = pytest.mark.browser
ACTOR = Actor("user:0", "tests")


def _watch(page, dialogs):
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page


def _client_login(page, base, password):
    page.goto(base + "/app/login")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_add_basic_template_with_live_preview(page, app):
    dialogs = []
    _watch(page, dialogs)
    with app.app_context():
        make_agency("Template Agency", email="tpl-browser@agency.test")
    page.goto("/login")
    page.get_by_label("E-mail").fill("tpl-browser@agency.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Account default settings").click()
    page.get_by_role("link", name="Manage templates").click()  # beside the "Add my templates" checkbox
    page.get_by_role("link", name="Add a template").click()
    page.wait_for_load_state("load")
    page.get_by_label("Name").fill("Welcome")
    page.get_by_label("HTML").fill('<h1 style="color:#0b6e4f">Hello {{7*7}}</h1><script>alert("pasted")</script>'
                                   '<img src=x onerror=alert("img")>')
    frame = page.frame_locator("#live-preview iframe")  # shown as you type (static/js/app.js)
    expect(frame.locator("h1")).to_have_text("Hello {{7*7}}")  # sanitized, shown, never evaluated
    expect(page.locator("#live-preview iframe")).to_have_attribute("sandbox", "")
    page.get_by_role("button", name="Add template").click()
    expect(page.get_by_text("is one of your templates")).to_be_visible()
    expect(page.locator("#agency-templates")).to_contain_text("Welcome")
    page.get_by_role("link", name="Welcome").click()
    expect(page.frame_locator("iframe.template-frame").locator("h1")).to_have_text("Hello {{7*7}}")
    page.wait_for_timeout(300)
    assert dialogs == []


def test_share_import_revoke_and_automations_between_two_accounts(browser, app, live_server):
    dialogs = []
    with app.app_context():
        agency, _ = make_agency("Share Agency")
        acme = make_account(agency, "acme-share", admin_password="acme-share-pass")
        make_account(agency, "beta-share", admin_password="beta-share-pass")
        templates.create_in_account(acme, templates.TemplateInput("Spring sale", "sale", "<p>Spring!</p>"), ACTOR)
        db.session.add(Automation(account_id=acme.id, name="Welcome series", active=True))
        db.session.commit()
    acme_base = live_server.replace("localhost", "acme-share.localhost")
    beta_base = live_server.replace("localhost", "beta-share.localhost")
    a = browser.new_context().new_page()
    a_dialogs = []
    a.on("dialog", lambda d: (a_dialogs.append(d.message), d.accept()))
    b = _watch(browser.new_context().new_page(), dialogs)
    for p in (a, b):
        p.set_default_timeout(10000)
    _client_login(a, acme_base, "acme-share-pass")
    _client_login(b, beta_base, "beta-share-pass")

    a.get_by_role("link", name="Templates", exact=True).click()
    a.get_by_role("link", name="Spring sale").click()
    expect(a.frame_locator("iframe.template-frame").locator("p")).to_have_text("Spring!")
    a.get_by_role("button", name="Share").click()
    link = a.locator("#share-link-value").input_value()
    assert link.startswith(acme_base + "/app/shared/")

    b.get_by_role("link", name="Templates", exact=True).click()
    b.get_by_label("Template share link").fill(link)
    b.get_by_role("button", name="Import template").click()
    expect(b.get_by_text("“Spring sale” was imported.")).to_be_visible()
    expect(b.frame_locator("iframe.template-frame").locator("p")).to_have_text("Spring!")

    a.goto(a.url.rsplit("/share", 1)[0])
    a.get_by_role("button", name="Revoke").click()
    expect(a.get_by_text("The share link was revoked")).to_be_visible()
    b.get_by_role("link", name="Templates", exact=True).click()
    b.get_by_label("Template share link").fill(link)
    b.get_by_role("button", name="Import template").click()
    expect(b.get_by_text("This share link was revoked.").first).to_be_visible()

    # P8: the account's admin sees its automations and deletes one, after confirming.
    a.get_by_role("link", name="Automations").click()
    expect(a.locator("#automations")).to_contain_text("Welcome series")
    expect(a.locator("#automations")).to_contain_text("Active")
    a.get_by_role("button", name="Delete").click()
    expect(a.get_by_text("was deleted from this account")).to_be_visible()
    expect(a.locator("#no-automations")).to_be_visible()
    assert a_dialogs == ["Delete “Welcome series” from this account?"] and dialogs == []


def test_stored_xss_corpus_never_runs(browser, app, live_server):
    """Every payload in branding fields and in templates: the login page, the Templates page, each
    template's page and the public share page run no script and open no dialog."""
    with app.app_context():
        agency, _ = make_agency("XSS Agency")
        account = make_account(agency, "xss-corpus", admin_password="xss-corpus-pass")
        text = "".join(XSS_PAYLOADS)
        branding.override(account, branding.BrandingInput(product_name=XSS_PAYLOADS[3][:80],
                                                          login_headline=text[:120], login_text=text[:1000]), ACTOR)
        ids = [templates.create_in_account(account, templates.TemplateInput(
            p[:120], p[:500], "<p>ok</p>" + p + "<script>window.__ran = 1</script>"), ACTOR).id
            for p in XSS_PAYLOADS]
        _link, token = templates.share(account, ids[0], ACTOR)
    context = browser.new_context()
    context.add_init_script("window.__ran = 0")
    page = context.new_page()
    page.set_default_timeout(10000)
    dialogs, errors = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    base = live_server.replace("localhost", "xss-corpus.localhost")
    page.goto(base + "/app/login")
    assert page.evaluate("window.__ran") == 0
    page.get_by_label("Password").fill("xss-corpus-pass")
    page.get_by_role("button", name="Log in").click()
    page.goto(base + "/app/templates")
    for template_id in ids[:: max(1, len(ids) // 12)]:
        page.goto(f"{base}/app/templates/{template_id}")
        page.frame_locator("iframe.template-frame").locator("p").first.wait_for()
    page.goto(f"{base}/app/shared/{token}")
    page.frame_locator("iframe.template-frame").locator("p").first.wait_for()
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.evaluate("window.__ran") == 0
    assert not [e for e in errors if re.search(r"alert|__ran", e)]
