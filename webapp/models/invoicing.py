"""Invoices an accountant accepts (B4): the agency's billing details and the per-year invoice counters."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, utcnow


class BillingDetails(Model):
    """Who an agency's invoices are made out to: copied onto each invoice when it is issued."""

    __tablename__ = "billing_details"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), unique=True)
    legal_name: Mapped[str] = mapped_column(sa.String(200))
    address_line1: Mapped[str] = mapped_column(sa.String(200))
    address_line2: Mapped[str | None] = mapped_column(sa.String(200))
    postal_code: Mapped[str | None] = mapped_column(sa.String(20))
    city: Mapped[str] = mapped_column(sa.String(100))
    # ISO 3166-1 alpha-2, upper case ("FR").
    country: Mapped[str] = mapped_column(sa.String(2))
    # A VAT number (with its country prefix, no spaces) or another tax id; optional.
    tax_id: Mapped[str | None] = mapped_column(sa.String(30))
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InvoiceNumberCounter(Model):
    """The last invoice number given in a calendar year (UTC). Moved only by a conditional UPDATE in the
    transaction that issues the invoice: the row stays locked until that transaction ends, so two invoices
    never share a number, and a rolled-back issue gives its number back (no gap)."""

    __tablename__ = "invoice_number_counters"
    __table_args__ = (sa.CheckConstraint("last_number >= 0", name="not_negative"),)

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(sa.BigInteger, default=0)
