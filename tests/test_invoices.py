"""Invoices an accountant accepts (issue 22, B4): the agency's billing details on the Billing profile and on
every invoice as they were when it was issued; numbers gap-free per calendar year, given once, concurrently
too; kinds, statuses and lines in the reader's language; PDFs of each invoice and of a month's statement;
the spend chart adds up to the invoices it summarises."""
from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from webapp.catalog import get_catalog
from webapp.models import AuditEvent, BillingDetails, Invoice, InvoiceNumberCounter
from webapp.services import billing, billing_details, invoice_documents, invoice_numbers, invoice_text
from webapp.services.audit import Actor
from webapp.services.errors import Forbidden, ValidationFailed

from .helpers import add_card, agency_actor, csrf_token, login, make_account, make_agency, make_member

ACTOR = Actor("system", "tests")
DETAILS = {"legal_name": "Acme Agency SAS", "address_line1": "12 rue de la Paix", "address_line2": "Bâtiment B",
           "postal_code": "75002", "city": "Paris", "country": "FR", "tax_id": "FR 40 303 265 045"}
DECLINED = "4000000000000341"


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _renewal(agency, account, key, price=7000, period_days=30):
    return billing.create_invoice(agency_id=agency.id, kind="renewal", account=account, key=key,
                                  period=(date.today(), date.today() + timedelta(days=period_days)),
                                  lines=[billing.Line(f"{account.name}: Plus monthly, 1,000 contacts, "
                                                      f"{date.today()} to {date.today() + timedelta(days=30)}", price)])


def _year() -> int:
    return datetime.now(timezone.utc).year


# ---- 1. the billing details ---------------------------------------------------------------------------

@pytest.mark.parametrize("country, typed, kept", [
    ("FR", "fr 40 303 265 045", "FR40303265045"),
    ("DE", "123456789", "DE123456789"),          # typed without its prefix
    ("GR", "EL123456789", "EL123456789"),        # Greece's VAT prefix is EL
    ("AT", "U12345678", "ATU12345678"),
    ("NL", "NL123456789B01", "NL123456789B01"),
    ("US", "12-3456789", "12-3456789"),          # any other country: its own form, kept as typed
    ("FR", "", None),                            # optional
])
def test_tax_ids_are_checked_against_the_country(app_ctx, country, typed, kept):
    clean = billing_details.validate({**DETAILS, "country": country, "tax_id": typed})
    assert clean["tax_id"] == kept and clean["country"] == country


@pytest.mark.parametrize("changes, field", [
    ({"tax_id": "FR123"}, "tax_id"),
    ({"tax_id": "DE123456789"}, "tax_id"),       # another country's VAT number
    ({"country": "DE", "tax_id": "DE12345678"}, "tax_id"),
    ({"country": "US", "tax_id": "x"}, "tax_id"),
    ({"country": ""}, "country"),
    ({"country": "ZZ"}, "country"),              # not a country
    ({"legal_name": "  "}, "legal_name"),
    ({"address_line1": ""}, "address_line1"),
    ({"city": ""}, "city"),
    ({"postal_code": "75@02"}, "postal_code"),
    ({"legal_name": "x" * 201}, "legal_name"),
    ({"city": "Pa\x00ris"}, "city"),
])
def test_bad_billing_details_are_refused_by_the_field(app_ctx, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        billing_details.validate({**DETAILS, **changes})
    assert field in refused.value.fields


def test_billing_details_on_the_profile_page_errors_by_the_field_saved_and_audited(client, db):
    agency, owner = make_agency("Acme", email="owner@acme.test")
    login(client, "owner@acme.test")
    page = client.get("/billing/profile").get_data(as_text=True)
    assert 'id="billing-details"' in page and 'name="legal_name"' in page and '<option value="FR">' in page
    token = csrf_token(page)
    bad = client.post("/billing/profile/details", data={**DETAILS, "country": "", "tax_id": "FR123",
                                                       "csrf_token": token})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "<html" in html  # without JavaScript: the whole page, with the errors
    assert re.search(r'id="country-error">Choose the country\.<', html)
    assert 'value="Acme Agency SAS"' in html  # what was typed is kept
    assert billing_details.details_of(agency.id) is None
    vat = client.post("/billing/profile/details", data={**DETAILS, "tax_id": "FR123", "csrf_token": token})
    assert vat.status_code == 422 and 'id="tax_id-error">This VAT number of France is too short, too long' \
        in vat.get_data(as_text=True)
    other = client.post("/billing/profile/details", data={**DETAILS, "tax_id": "DE123456789", "csrf_token": token})
    assert 'id="tax_id-error">This is not a VAT number of France' in other.get_data(as_text=True)
    # Every problem in one answer: the form's own (an empty legal name) and the service's (the VAT number).
    both = client.post("/billing/profile/details", data={**DETAILS, "legal_name": "", "tax_id": "FR123",
                                                        "csrf_token": token}).get_data(as_text=True)
    assert 'id="legal_name-error"' in both and 'id="tax_id-error">This VAT number of France' in both
    # htmx: the section alone, in place (200: htmx swaps no 4xx), with the same errors
    fragment = client.post("/billing/profile/details", headers={"HX-Request": "true"},
                           data={**DETAILS, "country": "", "csrf_token": token})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert 'id="country-error"' in fragment.get_data(as_text=True) and "HX-Request" in fragment.headers["Vary"]
    saved = client.post("/billing/profile/details", data={**DETAILS, "csrf_token": token})
    assert saved.status_code == 303
    details = billing_details.details_of(agency.id)
    assert (details.legal_name, details.country, details.tax_id, details.postal_code) == \
        ("Acme Agency SAS", "FR", "FR40303265045", "75002")
    assert 'value="FR40303265045"' in client.get("/billing/profile").get_data(as_text=True)
    again = client.post("/billing/profile/details", headers={"HX-Request": "true"},
                        data={**DETAILS, "city": "Lyon", "csrf_token": token})
    assert again.status_code == 200 and 'id="details-saved"' in again.get_data(as_text=True)
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "billing_details_saved")
                                .order_by(AuditEvent.id)).all()
    assert [e.detail["fields"] for e in events][1] == ["city"] and len(events) == 2
    assert events[0].actor == f"user:{owner.id}"
    # no CSRF token: refused
    assert client.post("/billing/profile/details", data=DETAILS).status_code in (400, 403)


def test_only_roles_with_billing_may_change_the_details(client, db):
    agency, _ = make_agency()
    member = make_member(agency, "member", email="member@acme.test")
    with pytest.raises(Forbidden):
        billing_details.save(agency_actor(member), agency.id, **DETAILS)
    billing_details.save(agency_actor(make_member(agency, "billing")), agency.id, **DETAILS)
    login(client, "member@acme.test")
    assert client.post("/billing/profile/details", data=DETAILS).status_code in (400, 403)
    assert client.get("/billing/statement.pdf").status_code == 403


# ---- 2. numbers gap-free per year ---------------------------------------------------------------------

def test_an_invoice_is_issued_when_paid_with_the_details_as_they_were_then(client, db):
    agency, _ = make_agency("Acme", email="owner@acme.test")
    add_card(agency)
    billing_details.save(ACTOR, agency.id, **DETAILS)
    first = billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    billing_details.save(ACTOR, agency.id, **{**DETAILS, "legal_name": "Acme Renamed SAS", "city": "Lyon"})
    second = billing.buy_prepaid(agency.id, 10000, account=None, actor=ACTOR)
    year = _year()
    assert (first.number, second.number) == (f"{year}-000001", f"{year}-000002")
    assert first.issued_at == first.paid_at and first.billed_to["legal_name"] == "Acme Agency SAS"
    assert second.billed_to["legal_name"] == "Acme Renamed SAS" and second.billed_to["city"] == "Lyon"
    assert first.issuer["legal_name"] == "AgencyHQ"
    login(client, "owner@acme.test")
    for url in (f"/billing/invoices/{first.id}", f"/billing/invoices/{first.id}/print"):
        html = client.get(url).get_data(as_text=True)
        assert "Acme Agency SAS" in html and "Paris" in html and "FR40303265045" in html and "France" in html, url
        assert "Acme Renamed SAS" not in html and f"{year}-000001" in html, url
        assert f'href="/billing/invoices/{first.id}.pdf"' in html, url
    assert "Acme Renamed SAS" in client.get(f"/billing/invoices/{second.id}").get_data(as_text=True)


def test_a_declined_purchase_takes_no_number_and_a_refund_keeps_its_own(app_ctx, db):
    agency, _ = make_agency()
    add_card(agency)
    paid = billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    other, _ = make_agency("Declined")
    add_card(other, DECLINED)
    with pytest.raises(billing.PaymentDeclined):
        billing.buy_prepaid(other.id, 5000, account=None, actor=ACTOR)
    void = db.session.scalar(sa.select(Invoice).where(Invoice.agency_id == other.id))
    assert void.status == "void" and void.issued_at is None and void.number == f"P-{void.id:08d}"
    nxt = billing.buy_prepaid(agency.id, 10000, account=None, actor=ACTOR)
    year = _year()
    assert (paid.number, nxt.number) == (f"{year}-000001", f"{year}-000002")
    billing.refund(nxt, reason="the account could not be created")
    db.session.commit()
    assert (nxt.status, nxt.number) == ("void", f"{year}-000002")  # a number given is never taken back
    assert invoice_documents.status_note(nxt) == "Refunded: the account could not be created"
    assert billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR, key="third").number == f"{year}-000003"


def test_a_failed_renewal_is_provisional_until_a_retry_pays_it(app_ctx, db):
    agency, _ = make_agency()
    add_card(agency, DECLINED)
    invoice = _renewal(agency, make_account(agency, "late-shop"), "late")
    with pytest.raises(billing.PaymentDeclined):
        billing.settle(invoice)
    assert invoice.status == "failed" and invoice_numbers.is_provisional(invoice)
    add_card(agency)
    billing.settle(invoice)
    assert invoice.status == "paid" and invoice.number == f"{_year()}-000001"


def test_numbers_start_again_each_year_and_old_numbers_stay(app_ctx, db):
    agency, _ = make_agency()
    made = [_renewal(agency, make_account(agency), f"y{n}") for n in range(4)]
    # An invoice issued before numbering per year (migration 0017 marks those issued) keeps its number.
    legacy = made[3]
    legacy.number, legacy.issued_at = f"INV-202611-{legacy.id:06d}", legacy.created_at
    db.session.commit()
    eve = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
    invoice_numbers.issue(made[0], eve)
    invoice_numbers.issue(made[1], eve + timedelta(seconds=2))  # 1 January 2027, UTC
    invoice_numbers.issue(made[2], eve + timedelta(days=1))
    invoice_numbers.issue(legacy, eve)
    db.session.commit()
    assert [i.number for i in made] == ["2026-000001", "2027-000001", "2027-000002", f"INV-202611-{legacy.id:06d}"]
    invoice_numbers.issue(made[0], eve + timedelta(days=3))  # issued once: nothing changes
    assert made[0].number == "2026-000001"
    counters = dict(db.session.execute(sa.select(InvoiceNumberCounter.year, InvoiceNumberCounter.last_number)).all())
    assert counters == {2026: 1, 2027: 2}


def test_a_rolled_back_issue_gives_its_number_back(app_ctx, db):
    agency, _ = make_agency()
    account = make_account(agency)
    invoice = _renewal(agency, account, "rb")
    invoice_numbers.issue(invoice)
    assert invoice.number == f"{_year()}-000001"
    db.session.rollback()  # the paying transaction failed: nothing was issued
    db.session.refresh(invoice)
    assert invoice_numbers.is_provisional(invoice)
    invoice_numbers.issue(invoice)
    db.session.commit()
    assert invoice.number == f"{_year()}-000001"


def _in_threads(app, target, args_list):
    errors, barrier = [], threading.Barrier(len(args_list))

    def run(*args):
        from webapp.extensions import db as _db
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                target(*args)
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                errors.append(repr(exc))
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_concurrent_payments_never_share_or_skip_a_number(app, db):
    """Twelve invoices of three agencies paid at once (on PostgreSQL, truly concurrent transactions): twelve
    numbers, 1 to 12, each once."""
    agencies = [make_agency(f"Agency {n}")[0] for n in range(3)]
    invoices = []
    for agency in agencies:
        add_card(agency)
        invoices += [_renewal(agency, make_account(agency), f"c{agency.id}-{n}").id for n in range(4)]

    def pay(invoice_id):
        from webapp.extensions import db as _db
        billing.settle(_db.session.get(Invoice, invoice_id))

    errors = _in_threads(app, pay, [(i,) for i in invoices])
    assert errors == []
    db.session.expire_all()
    numbers = sorted(db.session.scalars(sa.select(Invoice.number).where(Invoice.id.in_(invoices))))
    assert numbers == [f"{_year()}-{n:06d}" for n in range(1, 13)]


def test_concurrent_takes_with_one_rollback_leave_no_gap(app, db):
    """Eight transactions take a number at once; one rolls back after taking it. The seven that commit
    have 1 to 7: the number given back went to a transaction that was waiting."""
    year = 2030

    def take(n):
        from webapp.extensions import db as _db
        invoice_numbers.take(year)
        if n == 3:
            _db.session.rollback()
        else:
            _db.session.commit()

    assert _in_threads(app, take, [(n,) for n in range(8)]) == []
    db.session.expire_all()
    assert db.session.get(InvoiceNumberCounter, year).last_number == 7


# ---- 3. in the reader's language ------------------------------------------------------------------------

def test_lines_are_kept_as_data_and_read_back_from_their_english_forms(app_ctx):
    assert invoice_text.parse("shop: Plus monthly, 1,000 contacts, 2026-11-01 to 2026-12-01") == \
        invoice_text.plan_label("shop", "plus", "monthly", 1000, date(2026, 11, 1), date(2026, 12, 1))
    assert invoice_text.parse("shop: upgrade to professional annual, 5,000 contacts, pro rata for 12 days") == \
        invoice_text.upgrade_label("shop", "professional", "annual", 5000, 12)
    assert invoice_text.parse("1,000 SMS credits for shop") == invoice_text.pack_label("sms", 1000, "shop")
    assert invoice_text.parse("Prepaid credit") == invoice_text.prepaid_label(None)
    assert invoice_text.parse("something else") is None
    assert invoice_text.render(None, "something else") == "something else"
    assert invoice_text.render({"kind": "future"}, "kept") == "kept"


def test_kinds_statuses_and_lines_in_the_viewers_language(client, db):
    agency, user = make_agency("Acme", email="fr@acme.test")
    user.language = "fr"
    db.session.commit()
    add_card(agency)
    account = make_account(agency, "boulangerie", plan_tier="professional")
    invoice = billing.settle(billing.create_invoice(
        agency_id=agency.id, kind="renewal", account=account, key="fr1", period=(date(2026, 11, 3), date(2026, 12, 3)),
        lines=[billing.Line("boulangerie: Professional monthly, 1,000 contacts, 2026-11-03 to 2026-12-03", 7000)]))
    prepaid = billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)
    assert invoice.lines[0].label["kind"] == "plan"  # stored as data
    login(client, "fr@acme.test")
    html = client.get(f"/billing/invoices/{invoice.id}").get_data(as_text=True)
    line = re.search(r'<tr class="invoice-line"><td>([^<]+)</td>', html).group(1)
    assert "Professionnel" in line and "3 nov. 2026" in line and "1\u202f000" in line  # French names, dates, numbers
    assert "Professional monthly" not in html and 'id="invoice-status">Payé' in html
    assert "Crédit prépayé" in client.get(f"/billing/invoices/{prepaid.id}").get_data(as_text=True)
    history = client.get("/billing/history").get_data(as_text=True)
    assert "<td>Crédit prépayé</td><td>Payé</td>" in history and "sms_pack" not in history
    pdf = _pdf_text(client.get(f"/billing/invoices/{invoice.id}.pdf").data)  # the PDF too
    assert "Professionnel" in pdf and "3 nov. 2026" in pdf and "Payé" in pdf


# ---- 4. PDFs ----------------------------------------------------------------------------------------

def test_invoice_and_statement_pdfs(client, db):
    agency, _ = make_agency("Acme", email="owner@acme.test")
    add_card(agency)
    billing_details.save(ACTOR, agency.id, **DETAILS)
    account = make_account(agency, "bakery")
    renewal = billing.settle(_renewal(agency, account, "pdf1"))
    sms = billing.buy_pack(agency.id, account, "sms", "sms-500", actor=ACTOR)
    other, _ = make_agency("Other")
    add_card(other)
    foreign = billing.buy_prepaid(other.id, 5000, account=None, actor=ACTOR)
    login(client, "owner@acme.test")
    response = client.get(f"/billing/invoices/{renewal.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="invoice-{renewal.number}.pdf"' in response.headers["Content-Disposition"]
    text = _pdf_text(response.data)
    for expected in (renewal.number, "$70.00", "Acme Agency SAS", "12 rue de la Paix", "75002 Paris", "France",
                     "FR40303265045", "Billed to", "Issued by", "AgencyHQ", "bakery: Plus monthly", "Renewal", "Paid"):
        assert expected in text, expected
    month = f"{renewal.issued_at:%Y-%m}"
    statement = client.get(f"/billing/statement.pdf?month={month}")
    assert statement.status_code == 200
    text = _pdf_text(statement.data)
    total = renewal.total_cents + sms.total_cents
    assert renewal.number in text and sms.number in text and foreign.number not in text
    assert f"${total // 100:,}.{total % 100:02d}" in text and "Acme Agency SAS" in text
    assert client.get(f"/billing/invoices/{foreign.id}.pdf").status_code == 404
    assert client.get("/billing/statement.pdf?month=2026-13").status_code == 404
    assert client.get("/billing/statement.pdf?month=1999-01").status_code == 200  # an empty month is a statement too
    page = client.get("/billing/history").get_data(as_text=True)
    assert f'href="/billing/statement.pdf?month={month}"' in page and f'href="/billing/invoices/{sms.id}.pdf"' in page


# ---- 5. the spend chart adds up ----------------------------------------------------------------------

def test_the_spend_chart_adds_up_to_the_invoices_it_summarises(client, db):
    """Prepaid purchases included: each month of the chart is the sum of that month's paid invoices (from
    the CSV), card and prepaid credit apart, and its statement says the same."""
    agency, _ = make_agency("Acme", email="owner@acme.test")
    add_card(agency)
    shop = make_account(agency, "shop")
    billing.buy_prepaid(agency.id, 5000, account=None, actor=ACTOR)                      # card 50.00
    billing.settle(_renewal(agency, shop, "s1", price=7000))                           # prepaid 50.00 + card 20.00
    billing.buy_pack(agency.id, shop, "sms", "sms-500", actor=ACTOR)                      # card
    refunded = billing.buy_prepaid(agency.id, 10000, account=None, actor=ACTOR, key="r")  # refunded: not paid
    billing.refund(refunded, reason="test")
    db.session.commit()
    last_month = billing.settle(_renewal(agency, make_account(agency, "older"), "s2", price=3000))
    earlier = datetime.now(timezone.utc).replace(day=1) - timedelta(days=3)
    last_month.issued_at = last_month.paid_at = earlier
    db.session.commit()
    login(client, "owner@acme.test")
    page = client.get("/billing/history").get_data(as_text=True)
    chart = json.loads(re.search(r'<script type="application/json" id="spend-data">(.*?)</script>', page, re.S).group(1))
    rows = list(csv.DictReader(client.get("/billing/history.csv").get_data(as_text=True).splitlines()))
    cents = lambda text: int(text.replace(".", ""))  # noqa: E731
    by_month = defaultdict(lambda: {"invoices": 0, "total_cents": 0, "card_cents": 0, "prepaid_cents": 0})
    for row in rows:
        if row["status"] != "paid":
            continue
        month = by_month[row["issued_on"][:7]]
        month["invoices"] += 1
        month["total_cents"] += cents(row["total"])
        month["card_cents"] += cents(row["charged_to_card"])
        month["prepaid_cents"] += cents(row["prepaid_applied"])
    assert {m.pop("month"): m for m in chart} == dict(by_month)
    this_month = f"{datetime.now(timezone.utc):%Y-%m}"
    assert by_month[this_month]["invoices"] == 3 and by_month[this_month]["prepaid_cents"] == 5000
    sms = next(p for p in get_catalog().sms_packs if p.key == "sms-500").price_cents
    assert (by_month[this_month]["total_cents"], by_month[this_month]["card_cents"]) == (5000 + 7000 + sms, 5000 + 2000 + sms)
    for month, figures in by_month.items():
        text = _pdf_text(client.get(f"/billing/statement.pdf?month={month}").data)
        total = figures["total_cents"]
        assert f"${total // 100:,}.{total % 100:02d}" in text, month


def test_billing_details_table_matches_the_form(app_ctx):
    assert set(billing_details.FIELDS) <= set(BillingDetails.__table__.columns.keys())


def test_the_details_form_beside_the_processors_card_form(client, db, stripe_gateway):
    """Under Stripe the card form is Stripe's: a refused details post shows the whole page with both forms."""
    make_agency("Acme", email="owner@acme.test")
    login(client, "owner@acme.test")
    token = csrf_token(client.get("/billing/profile").get_data(as_text=True))
    bad = client.post("/billing/profile/details", data={**DETAILS, "city": "", "csrf_token": token})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'id="city-error"' in html and 'id="processor-card-form"' in html
    assert client.post("/billing/profile/details", data={**DETAILS, "csrf_token": token}).status_code == 303


@pytest.mark.parametrize("month", ["9999-12", "0000-01", "2026-13", "2026-1", "abc", "99999-01"])
def test_a_month_out_of_the_calendar_is_ignored_by_the_history_and_refused_by_the_statement(client, db, month):
    make_agency(email="owner@agency.test")
    login(client, "owner@agency.test")
    history = client.get(f"/billing/history?month={month}")
    assert history.status_code == 200  # the filter is dropped, as for any unreadable month
    assert client.get(f"/billing/statement.pdf?month={month}").status_code in (400, 404)
