"""Agencies and the people who log in to the dashboard: agency users and support staff."""
from __future__ import annotations

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

USER_ROLES = ("agency", "support")
# An agency user's place in its team (the permissions of each are in services/permissions.py).
TEAM_ROLES = ("owner", "admin", "billing", "member")
# An agency's sign-up (AGENCY_SIGNUP): its owner confirms the e-mail, support may have to approve it; support
# may suspend it later (its users cannot sign in, its tokens answer 403, its clients' accounts go on).
AGENCY_STATES = ("confirming", "awaiting_approval", "active", "rejected", "suspended")


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
    state: Mapped[str] = mapped_column(enum(*AGENCY_STATES, name="agency_state"), default="active")
    # Why support rejected or suspended it (told to the owner).
    state_reason: Mapped[str | None] = mapped_column(sa.String(500))
    state_changed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # The owner requires two-factor sign-in of every member of the team.
    require_2fa: Mapped[bool] = mapped_column(default=False)
    # N2: the agency's notices. Where the notices about the agency itself go (a payout, a digest; blank:
    # its owners), their language, and the optional ones it wants (required ones cannot be turned off).
    notice_email: Mapped[str | None] = mapped_column(sa.String(254))
    notice_language: Mapped[str] = mapped_column(sa.String(8), default="en", server_default="en")
    notify_receipts: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    receipt_digest: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    notify_upcoming: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    users = relationship("User", back_populates="agency", order_by="User.id")

    @property
    def is_active(self) -> bool:
        return self.state == "active"


class User(UserMixin, Model):
    """Someone who logs in on the dashboard host: an agency user or a support staff member."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("(role = 'agency' AND agency_id IS NOT NULL) OR "
                           "(role = 'support' AND agency_id IS NULL)", name="role_agency"),
        sa.CheckConstraint("(role = 'agency') = (team_role IS NOT NULL)", name="team_role_of_agency_users"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # NULL until the person sets one (an invitation, an agency or support user made by support or the CLI).
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(enum(*USER_ROLES, name="user_role"))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    team_role: Mapped[str | None] = mapped_column(enum(*TEAM_ROLES, name="team_role"))
    # The e-mail was confirmed by its link (sign-up, an invitation accepted, a change of e-mail).
    email_confirmed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # Two-factor sign-in (TOTP): the secret, when it was turned on, and the last 30 s step accepted (a
    # code is good once).
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[object | None] = mapped_column(UTCDateTime)
    totp_last_counter: Mapped[int | None] = mapped_column(sa.BigInteger)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # Bumped when the password changes: every other session of this user ends.
    session_epoch: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime)

    agency = relationship("Agency", back_populates="users")

    # Which login this object was loaded for, and when that login was last seen (services.sessions);
    # not columns.
    login_session_id = None
    login_last_seen = None

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

    @property
    def has_2fa(self) -> bool:
        return self.totp_enabled_at is not None
