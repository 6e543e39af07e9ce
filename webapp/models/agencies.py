"""Agencies and the people who log in to the dashboard: agency users and support staff."""
from __future__ import annotations

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

USER_ROLES = ("agency", "support")


class Agency(Model):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # C1: the code in the agency's referral link /r/<code>.
    referral_code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # P10: pushdown automations are for franchise partners only.
    franchise_enabled: Mapped[bool] = mapped_column(default=False)
    # C3: where commission payouts go.
    paypal_email: Mapped[str | None] = mapped_column(sa.String(254))
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    users = relationship("User", back_populates="agency")


class User(UserMixin, Model):
    """Someone who logs in on the dashboard host: an agency user or a support staff member."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("(role = 'agency' AND agency_id IS NOT NULL) OR "
                           "(role = 'support' AND agency_id IS NULL)", name="role_agency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(enum(*USER_ROLES, name="user_role"))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # Bumped when the password changes: every other session of this user ends.
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime)

    agency = relationship("Agency", back_populates="users")

    # Which login this object was loaded for (services.sessions); not a column.
    login_session_id = None

    def get_id(self) -> str:
        # The epoch in the session id ends every session when the password changes; the login's id
        # ends this one when it logs out.
        return f"u:{self.id}:{self.session_epoch}:{self.login_session_id}"

    @property
    def is_support(self) -> bool:
        return self.role == "support"

    @property
    def is_agency_user(self) -> bool:
        return self.role == "agency"
