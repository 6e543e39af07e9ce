"""B4: an invoice and a month's statement as the pages and the PDFs show them. The PDFs are made by
WeasyPrint from the same partials as the printable page (templates/billing/pdf/), in the reader's language
and time zone. WeasyPrint needs Pango from the system (README, "Quick start")."""
from __future__ import annotations

import csv
import io
import os

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from ..extensions import db
from ..models import Agency, HostedAccount, Invoice
from . import audit, billing, billing_details, billing_history, invoice_numbers, invoice_text, permissions
from .scope import AgencyScope


def invoice_view(invoice: Invoice) -> dict:
    """What the invoice page, its printable page and its PDF show: its lines in the reader's language and
    its parties as copied when it was issued. Before it is issued, the agency's details as they are now
    (what it will carry); an invoice issued before billing details existed shows the agency's name."""
    account = db.session.get(HostedAccount, invoice.account_id) if invoice.account_id else None
    billed_to = invoice.billed_to
    if billed_to is None and invoice_numbers.is_provisional(invoice):
        billed_to = billing_details.billed_to(invoice)
    if billed_to is None:
        name = (db.session.scalar(sa.select(Agency.name).where(Agency.id == invoice.agency_id))
                if invoice.agency_id else (account.client_name if account else None))
        billed_to = {"legal_name": name}
    return {"invoice": invoice, "account": account, "lines": invoice_text.lines(invoice), "billed_to": billed_to,
            "issuer": invoice.issuer or billing_details.issuer(),
            "provisional": invoice_numbers.is_provisional(invoice),
            "kind_label": invoice_text.kind_label(invoice.kind),
            "status_label": invoice_text.status_label(invoice.status),
            "status_note": status_note(invoice),
            "country_name": billing_details.country_name}


def status_note(invoice: Invoice) -> str | None:
    """What the status adds, in the reader's language: why a charge failed, or why a paid invoice was given
    back (its reason, as billing.refund was told it)."""
    message = invoice.last_error
    if not message:
        return None
    if message.startswith("Refunded: "):
        reason = message[len("Refunded: "):]
        return gettext("Refunded: %(reason)s", reason=str(invoice_text.REFUND_REASONS.get(reason, reason)))
    return str(billing.decline_reason(invoice))


def _pdf(template: str, context: dict, title: str) -> bytes:
    import weasyprint  # with its system libraries only where a PDF is asked for
    html = current_app.jinja_env.get_template(template).render({**context, "title": title})
    style = weasyprint.CSS(filename=os.path.join(current_app.static_folder, "css", "invoice-pdf.css"))
    # Nothing is fetched, whatever a billing detail says: the style sheet is read from disk, no protocol is allowed.
    nothing = weasyprint.urls.URLFetcher(allowed_protocols=set())
    return weasyprint.HTML(string=html, url_fetcher=nothing).write_pdf(stylesheets=[style])


def invoice_pdf(actor: audit.Actor, scope: AgencyScope, invoice_id) -> tuple[str, bytes]:
    """(file name, PDF) of one of the agency's invoices."""
    permissions.require(actor, "billing")
    invoice = scope.get(Invoice, invoice_id)
    return f"invoice-{invoice.number}.pdf", _pdf("billing/pdf/invoice.html", invoice_view(invoice), invoice.number)


HISTORY_CSV_COLUMNS = ("number", "date", "account", "kind", "status", "period_start", "period_end", "currency",
                       "list_price", "discount_percent", "discount", "total", "prepaid_applied", "charged_to_card",
                       "authorization", "issued_on")


def _decimal(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}" if cents >= 0 else f"-{_decimal(-cents)}"


def history_csv(actor: audit.Actor, scope: AgencyScope, filters: billing_history.HistoryFilters) -> tuple[str, str]:
    """(file name, CSV) of every invoice of the billing history that matches `filters` (its page ignored),
    oldest first, amounts in units of the currency."""
    permissions.require(actor, "billing")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HISTORY_CSV_COLUMNS)
    for inv, account_name in billing_history.all_invoices(scope, filters):
        writer.writerow([inv.number, inv.created_at.date().isoformat(), account_name or "", inv.kind, inv.status,
                         inv.period_start or "", inv.period_end or "", inv.currency,
                         _decimal(inv.list_price_cents), inv.discount_percent, _decimal(inv.discount_cents),
                         _decimal(inv.total_cents), _decimal(inv.prepaid_applied_cents),
                         _decimal(inv.card_charged_cents), inv.gateway_authorization_id or "",
                         inv.issued_at.date().isoformat() if inv.issued_at else ""])
    return "agencyhq-invoices.csv", buffer.getvalue()


def statement_view(scope: AgencyScope, month: str) -> dict:
    statement = billing_history.statement(scope, month)
    agency = db.session.get(Agency, scope.agency_id)
    details = billing_details.snapshot(billing_details.details_of(scope.agency_id)) or {"legal_name": agency.name}
    rows = [{"invoice": inv, "account_name": name, "kind_label": invoice_text.kind_label(inv.kind),
             "status_label": invoice_text.status_label(inv.status)} for inv, name in statement.rows]
    return {"statement": statement, "rows": rows, "billed_to": details, "issuer": billing_details.issuer(),
            "country_name": billing_details.country_name}


def statement_pdf(actor: audit.Actor, scope: AgencyScope, month: str) -> tuple[str, bytes]:
    """(file name, PDF) of the agency's statement of `month` ("2026-11", UTC)."""
    permissions.require(actor, "billing")
    return f"statement-{month}.pdf", _pdf("billing/pdf/statement.html", statement_view(scope, month), month)
