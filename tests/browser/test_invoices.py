"""Browser (issue 22, B4): the agency fills its billing details (told by the field about a bad VAT number and a
missing country), saves them, opens an invoice that carries them and downloads its PDF."""
from __future__ import annotations

import io

import pytest
from playwright.sync_api import expect

from ..helpers import add_card, browser_login, make_agency
from webapp.services import billing
from webapp.services.audit import Actor

pytestmark = pytest.mark.browser


def test_billing_details_then_an_invoice_and_its_pdf(page, app):
    with app.app_context():
        agency, _ = make_agency("Invoiced Agency", email="books@agency.test")
        add_card(agency)
        agency_id = agency.id
    browser_login(page, "books@agency.test")
    page.get_by_role("navigation", name="Agency menu").get_by_role("link", name="Billing profile").click()
    page.wait_for_load_state("load")  # htmx listens once the page has loaded
    details = page.locator("#billing-details")
    details.get_by_label("Legal name").fill("Invoiced Agency SARL")
    details.get_by_label("Address", exact=True).fill("3 place du Marché")
    details.get_by_label("Postal code").fill("69001")
    details.get_by_label("City").fill("Lyon")
    details.get_by_label("Tax id or VAT number (optional)").fill("FR123")
    details.get_by_role("button", name="Save billing details").click()
    expect(page.locator("#country-error")).to_have_text("Choose the country.")
    expect(details.get_by_label("Country")).to_have_attribute("aria-invalid", "true")
    expect(details.get_by_label("Legal name")).to_have_value("Invoiced Agency SARL")  # kept as typed

    page.locator("#billing-details").get_by_label("Country").select_option("FR")
    page.locator("#billing-details").get_by_role("button", name="Save billing details").click()
    expect(page.locator("#tax_id-error")).to_contain_text("This VAT number of France is too short, too long")
    page.locator("#billing-details").get_by_label("Tax id or VAT number (optional)").fill("FR 40 303 265 045")
    page.locator("#billing-details").get_by_role("button", name="Save billing details").click()
    expect(page.locator("#details-saved")).to_be_visible()
    expect(page.locator("#billing-details").get_by_label("Tax id or VAT number (optional)")).to_have_value("FR40303265045")

    with app.app_context():
        number = billing.buy_prepaid(agency_id, 5000, account=None, actor=Actor("system", "tests")).number
    page.get_by_role("navigation", name="Agency menu").get_by_role("link", name="Billing history").click()
    page.locator(f"tr[data-invoice='{number}'] a").first.click()
    expect(page.locator("#invoice-number")).to_have_text(number)
    expect(page.locator("#billed-to")).to_contain_text("Invoiced Agency SARL")
    expect(page.locator("#billed-to")).to_contain_text("69001 Lyon")
    expect(page.locator("#billed-to")).to_contain_text("FR40303265045")
    with page.expect_download() as download:
        page.locator("#invoice-pdf").click()
    assert download.value.suggested_filename == f"invoice-{number}.pdf"
    data = open(download.value.path(), "rb").read()
    from pypdf import PdfReader
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert data.startswith(b"%PDF-") and number in text and "Invoiced Agency SARL" in text and "$50.00" in text
