"""Commission on referred accounts (C1-C3)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, enum, utcnow

PAYOUT_STATUSES = ("pending", "paid", "failed")


class CommissionEntry(Model):
    __tablename__ = "commission_entries"
    __table_args__ = (
        # One commission (and at most one reversal) per payment.
        sa.UniqueConstraint("invoice_id", "is_reversal"),
        sa.Index("ix_commission_entries_agency_month", "agency_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hosted_accounts.id"))
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"))
    is_reversal: Mapped[bool] = mapped_column(default=False)
    # "2026-11"
    month: Mapped[str] = mapped_column(sa.String(7))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class Payout(Model):
    __tablename__ = "payouts"
    __table_args__ = (sa.UniqueConstraint("agency_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    month: Mapped[str] = mapped_column(sa.String(7))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    paypal_email: Mapped[str] = mapped_column(sa.String(254))
    status: Mapped[str] = mapped_column(enum(*PAYOUT_STATUSES, name="payout_status"), default="pending")
    reference: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[object | None] = mapped_column(UTCDateTime)
