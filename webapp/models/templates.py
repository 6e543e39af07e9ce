"""Campaign templates (W8, W9): in accounts, and the agency's set for new accounts."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, enum, utcnow

TEMPLATE_KINDS = ("designer", "basic", "copy")


class EmailTemplate(Model):
    """account_id set: a template in that account. account_id NULL: one of the agency's
    templates for new accounts, copied into every account provisioned afterwards."""

    __tablename__ = "email_templates"
    __table_args__ = (
        sa.CheckConstraint("account_id IS NOT NULL OR agency_id IS NOT NULL", name="has_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(enum(*TEMPLATE_KINDS, name="template_kind"))
    name: Mapped[str] = mapped_column(sa.String(120))
    tags: Mapped[str] = mapped_column(sa.String(500), default="")
    # Sanitized HTML only; never rendered outside a sandboxed iframe.
    html: Mapped[str] = mapped_column(sa.Text, default="")
    source_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("email_templates.id"))
    # The agency template this one was copied from at provisioning (keeps the copy idempotent).
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # The last edit of its name, tags or HTML; None while it is as it was made.
    updated_at: Mapped[object | None] = mapped_column(UTCDateTime)


class TemplateShareLink(Model):
    __tablename__ = "template_share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("email_templates.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)
