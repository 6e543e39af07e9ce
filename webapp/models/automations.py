"""Automations, their versions, and pushdowns into sub-accounts (P1-P10)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

TRIGGER_KINDS = ("subscribes", "tag_added", "date_based", "form_submitted")
PUSHDOWN_STATUSES = ("draft", "scheduled", "published")
ACTIVATION_MODES = ("none", "at", "on_push")
COPY_STATUSES = ("pending", "copied", "failed")


class Automation(Model):
    """An automation held by one hosted account: built in the parent account (P1), or a
    copy pushed into a sub-account (source_pushdown_id set)."""

    __tablename__ = "automations"
    # P4: a sub-account holds at most one copy of a pushdown (NULL for the parent's own automations).
    __table_args__ = (sa.Index("uq_automations_pushdown_account", "source_pushdown_id", "account_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    active: Mapped[bool] = mapped_column(default=False)
    current_version: Mapped[int] = mapped_column(default=1)
    # use_alter: automations and pushdowns refer to each other.
    source_pushdown_id: Mapped[int | None] = mapped_column(sa.ForeignKey("pushdowns.id", use_alter=True), index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # P8: a sub-account's admin deleted its copy.
    deleted_at: Mapped[object | None] = mapped_column(UTCDateTime)

    versions = relationship("AutomationVersion", back_populates="automation",
                            order_by="AutomationVersion.number")


class AutomationVersion(Model):
    """Each save of an automation is a new version; a pushdown copies one version."""

    __tablename__ = "automation_versions"
    __table_args__ = (sa.UniqueConstraint("automation_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(sa.ForeignKey("automations.id"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(120))
    trigger_kind: Mapped[str] = mapped_column(enum(*TRIGGER_KINDS, name="trigger_kind"))
    trigger_config: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Ordered steps: [{"type": "send_email", "template_id": ...}, {"type": "wait", "hours": 24}, ...]
    steps: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    automation = relationship("Automation", back_populates="versions")


class Pushdown(Model):
    """One automation of the parent account sent to a chosen set of sub-accounts."""

    __tablename__ = "pushdowns"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    automation_id: Mapped[int] = mapped_column(sa.ForeignKey("automations.id"), index=True)
    # The version copied by the last publish.
    version_number: Mapped[int | None]
    status: Mapped[str] = mapped_column(enum(*PUSHDOWN_STATUSES, name="pushdown_status"), default="draft")
    activation_mode: Mapped[str] = mapped_column(enum(*ACTIVATION_MODES, name="activation_mode"), default="none")
    activate_at: Mapped[object | None] = mapped_column(UTCDateTime)
    activate_tz: Mapped[str | None] = mapped_column(sa.String(64))
    publish_at: Mapped[object | None] = mapped_column(UTCDateTime)
    publish_tz: Mapped[str | None] = mapped_column(sa.String(64))
    # P5: the one switch for every sub-account holding the automation.
    active: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # When a scheduled activation (activation_mode "at") fired: it fires once.
    activated_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # Publishes so far (the first, updates, retries of failed copies): keys each publish operation.
    publish_count: Mapped[int] = mapped_column(default=0, server_default="0")

    automation = relationship("Automation", foreign_keys=[automation_id])


class PushdownCopy(Model):
    """A sub-account chosen for a pushdown, and the copy it holds (unique per pair: P4)."""

    __tablename__ = "pushdown_copies"
    __table_args__ = (sa.UniqueConstraint("pushdown_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pushdown_id: Mapped[int] = mapped_column(sa.ForeignKey("pushdowns.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    automation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("automations.id"))
    version_number: Mapped[int | None]
    status: Mapped[str] = mapped_column(enum(*COPY_STATUSES, name="copy_status"), default="pending")
    error: Mapped[str | None] = mapped_column(sa.String(500))
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
