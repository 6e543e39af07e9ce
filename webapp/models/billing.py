"""Money (B1-B8): billing profiles, invoices, credit ledgers and gateway calls. Integer cents."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

INVOICE_KINDS = ("signup", "renewal", "upgrade", "prepaid", "sms_pack", "compatibility_pack", "reactivation")
INVOICE_STATUSES = ("open", "paid", "failed", "void")
CREDIT_KINDS = ("prepaid", "sms", "compatibility")
GATEWAY_OPS = ("tokenize", "authorize", "capture", "void", "charge", "refund")
# agency_card: the Billing profile (B1); referral: a referred sign-up (C1); account_card: the Billing page
# of an account that pays its own way (C1, A4).
CARD_SETUP_PURPOSES = ("agency_card", "referral", "account_card")


class BillingProfile(Model):
    """The one card of an agency (B1) or, for a commission account, of its client (C1).
    Only the gateway's token and what is printed on the card face are kept."""

    __tablename__ = "billing_profiles"
    __table_args__ = (
        sa.CheckConstraint("(agency_id IS NULL) <> (account_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), unique=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), unique=True)
    gateway: Mapped[str] = mapped_column(sa.String(20), default="sandbox")
    # The gateway's id of the card: a sandbox token, or Stripe's PaymentMethod (pm_...).
    gateway_token: Mapped[str] = mapped_column(sa.String(64))
    # Stripe's Customer (cus_...) the card is attached to; NULL under the sandbox.
    gateway_customer_id: Mapped[str | None] = mapped_column(sa.String(64))
    brand: Mapped[str] = mapped_column(sa.String(20))
    last4: Mapped[str] = mapped_column(sa.String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Invoice(Model):
    __tablename__ = "invoices"
    __table_args__ = (
        # At most one invoice per (account, period): a repeated renewal is a harmless no-op (B2, B8).
        sa.UniqueConstraint("account_id", "period_key"),
        sa.Index("ix_invoices_agency_created", "agency_id", "created_at"),
        sa.Index("ix_invoices_retry", "status", "next_attempt_at"),
        # B4: a month's statement reads the invoices the agency was issued that month.
        sa.Index("ix_invoices_agency_issued", "agency_id", "issued_at"),
        # The renewals whose receipt is still to be sent: a handful of rows, read by the sweeper each minute.
        sa.Index("ix_invoices_receipt_due", "paid_at", sqlite_where=sa.text("receipt_at IS NULL AND status = 'paid'"),
                 postgresql_where=sa.text("receipt_at IS NULL AND status = 'paid'")),
        sa.CheckConstraint("total_cents = prepaid_applied_cents + card_charged_cents OR status <> 'paid'",
                           name="paid_is_covered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(enum(*INVOICE_KINDS, name="invoice_kind"))
    status: Mapped[str] = mapped_column(enum(*INVOICE_STATUSES, name="invoice_status"), default="open")
    # B4: "2026-000001", gap-free per calendar year (UTC), given when the invoice is issued, which is when
    # it is paid (services/invoice_numbers.py); until then a provisional reference "P-<id>". Invoices made
    # before numbering per year keep their "INV-YYYYMM-<id>" numbers.
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # When the number was given (NULL while provisional); the invoice's date for the accountant.
    issued_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # Who the invoice is made out to and who issues it, copied when it is issued (legal name, address
    # lines, postal code, city, country, tax id), so a later edit of the billing details never rewrites it.
    billed_to: Mapped[dict | None] = mapped_column(sa.JSON)
    issuer: Mapped[dict | None] = mapped_column(sa.JSON)
    # "2026-11-23" for a renewal of the period starting that day; NULL for one-off purchases.
    period_key: Mapped[str | None] = mapped_column(sa.String(16))
    period_start: Mapped[object | None] = mapped_column(sa.Date)
    period_end: Mapped[object | None] = mapped_column(sa.Date)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    list_price_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    discount_percent: Mapped[int] = mapped_column(default=0)
    discount_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    prepaid_applied_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    card_charged_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # What a pack of SMS or compatibility credits delivers once paid (B6, B7); NULL for anything else.
    credits: Mapped[int | None] = mapped_column(sa.BigInteger)
    # The gateway charge is made with this key, so a retried charge is never taken twice.
    idempotency_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    gateway_charge_id: Mapped[str | None] = mapped_column(sa.String(64))
    gateway_authorization_id: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # B8: the first decline starts the grace period.
    first_declined_at: Mapped[object | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    # The gateway's code of the last decline (adapters/payments.MESSAGES), so it is told in the reader's words.
    decline_code: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # What the processor reports later, outside AgencyHQ (its webhooks): a refund made in its own
    # dashboard, a dispute (chargeback) opened by the card holder and how it stands.
    refunded_outside_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    disputed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    dispute_status: Mapped[str | None] = mapped_column(sa.String(40))
    # N2: when the receipt of a paid renewal went out (alone or in the day's digest), or was skipped
    # because the agency turned receipts off; NULL while it is still to be sent.
    receipt_at: Mapped[object | None] = mapped_column(UTCDateTime)

    lines = relationship("InvoiceLine", back_populates="invoice", order_by="InvoiceLine.id")


class InvoiceLine(Model):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    description: Mapped[str] = mapped_column(sa.String(200))
    # What the line is, as data ({"kind": "plan", "account": ..., "tier": ..., ...}), so it is shown in the
    # reader's language (services/invoice_text.py); the description is its English form (CSV, API).
    label: Mapped[dict | None] = mapped_column(sa.JSON)
    quantity: Mapped[int] = mapped_column(default=1)
    unit_cents: Mapped[int] = mapped_column(sa.BigInteger)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)

    invoice = relationship("Invoice", back_populates="lines")


class CreditBalance(Model):
    """Current balance of one ledger. Spent with a conditional UPDATE (balance >= amount),
    which holds on SQLite too, where SELECT ... FOR UPDATE is ignored."""

    __tablename__ = "credit_balances"
    __table_args__ = (
        sa.UniqueConstraint("agency_id", "kind", "scope"),
        sa.CheckConstraint("balance >= 0", name="never_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    kind: Mapped[str] = mapped_column(enum(*CREDIT_KINDS, name="credit_kind"))
    # "agency" for the agency's pool, "account:<id>" for credit held by one account.
    scope: Mapped[str] = mapped_column(sa.String(32))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    balance: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class CreditEntry(Model):
    """One movement of a ledger: cents for prepaid, units for SMS and compatibility."""

    __tablename__ = "credit_entries"
    __table_args__ = (sa.Index("ix_credit_entries_balance", "balance_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    balance_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_balances.id"))
    delta: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(200))
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class GatewayCall(Model):
    """Every call to the payment gateway and its outcome, so tests and the UI can show them."""

    __tablename__ = "gateway_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    op: Mapped[str] = mapped_column(enum(*GATEWAY_OPS, name="gateway_op"))
    amount_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(80))
    outcome: Mapped[str] = mapped_column(sa.String(30))
    reference: Mapped[str | None] = mapped_column(sa.String(64))
    error_code: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class CardSetup(Model):
    """One card form shown under a processor that collects the card itself (Stripe's SetupIntent): who
    it was shown to, and a single-use state, so the card it saves is attached to that agency (or that
    referred sign-up, or that account billed to its own client) and no other. Only the state's hash is kept."""

    __tablename__ = "card_setups"
    __table_args__ = (
        # An agency's form (its billing profile, its referral page) or one account's own (its Billing page).
        sa.CheckConstraint("(agency_id IS NULL) <> (account_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The agency whose billing profile shows the form, or whose referral link a client signs up through.
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    # The account (referred, C1, or detached, A4) whose client saves its own card on its Billing page.
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    purpose: Mapped[str] = mapped_column(enum(*CARD_SETUP_PURPOSES, name="card_setup_purpose"))
    gateway: Mapped[str] = mapped_column(sa.String(20))
    setup_ref: Mapped[str] = mapped_column(sa.String(80), unique=True)
    customer_ref: Mapped[str | None] = mapped_column(sa.String(64))
    state_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)


class GatewayEvent(Model):
    """An event a processor sent to our webhook, kept once per (provider, event id): a replay is answered
    200 and acted on never again."""

    __tablename__ = "gateway_events"
    __table_args__ = (sa.UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    event_id: Mapped[str] = mapped_column(sa.String(100))
    type: Mapped[str] = mapped_column(sa.String(80))
    invoice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(200))
    received_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
