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
    """One payout per (agency, month). Each try at the payout service is a batch: `attempt` numbers them
    (its key is the month's key, with ":<attempt>" from the second on), and a new one starts only once the
    previous batch ended failed (its money never left, or came back)."""

    __tablename__ = "payouts"
    __table_args__ = (sa.UniqueConstraint("agency_id", "month"), sa.Index("ix_payouts_status", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"))
    month: Mapped[str] = mapped_column(sa.String(7))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    paypal_email: Mapped[str] = mapped_column(sa.String(254))
    # pending: being sent, or sent and the service is processing it (batch_id set); failed: this batch
    # failed or could not be sent (error says why); paid.
    status: Mapped[str] = mapped_column(enum(*PAYOUT_STATUSES, name="payout_status"), default="pending")
    reference: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[object | None] = mapped_column(UTCDateTime)
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    # The service's batch for this attempt (PayPal's payout_batch_id), its item, and the item's status as
    # last seen (PayPal's transaction_status: SUCCESS, UNCLAIMED, FAILED, ...; DENIED for a denied batch).
    batch_id: Mapped[str | None] = mapped_column(sa.String(64))
    item_id: Mapped[str | None] = mapped_column(sa.String(64))
    item_status: Mapped[str | None] = mapped_column(sa.String(20))
    checked_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # When it is tried again (None: no try is planned).
    next_attempt_at: Mapped[object | None] = mapped_column(UTCDateTime)

    @property
    def unclaimed(self) -> bool:
        return self.status == "failed" and self.item_status == "UNCLAIMED"
