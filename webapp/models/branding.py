"""White label (W1, W2): the agency's defaults and per-account overrides."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, utcnow


class Branding(Model):
    """account_id NULL: the agency's defaults; otherwise the branding one account shows."""

    __tablename__ = "brandings"
    __table_args__ = (
        sa.Index("uq_brandings_agency_default", "agency_id", unique=True,
                 sqlite_where=sa.text("account_id IS NULL"), postgresql_where=sa.text("account_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), unique=True)
    product_name: Mapped[str] = mapped_column(sa.String(80), default="")
    logo: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    logo_mime: Mapped[str | None] = mapped_column(sa.String(40))
    primary_color: Mapped[str] = mapped_column(sa.String(7), default="#2454a6")
    # W1 "colours": the second one, for the account site's links and secondary buttons.
    accent_color: Mapped[str] = mapped_column(sa.String(7), default="#0e7c66", server_default="#0e7c66")
    support_email: Mapped[str | None] = mapped_column(sa.String(254))
    support_url: Mapped[str | None] = mapped_column(sa.String(500))
    login_headline: Mapped[str | None] = mapped_column(sa.String(120))
    login_text: Mapped[str | None] = mapped_column(sa.Text)
    # W8 "Add my templates", on the agency's defaults row only: whether new accounts get its templates.
    add_templates: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Issue 26, on the agency's defaults row only: its accounts' login pages offer a language picker.
    language_picker: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
