"""Logins kept on the server: a session cookie counts only while its row is here, so logging out
ends it even if someone kept a copy of the cookie."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime, utcnow


class LoginSession(Model):
    """One login of a dashboard user or of a hosted account's user (exactly one of the two)."""

    __tablename__ = "login_sessions"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NULL) <> (account_user_id IS NULL)", name="one_owner"),
    )

    # Random, and only ever inside the signed session cookie (the user id names it there).
    id: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("account_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # A10: a hosted account's login opened by login-as names the agency user who opened it and their
    # agency, so it ends the moment the account leaves that agency (A3, A4) or that user goes.
    opened_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    opened_by_agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    # When the person last gave their password (and code): re-authentication asks again after 10 minutes.
    authenticated_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # "Where you're signed in": the device and address it was opened from, and when it was last used.
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    last_seen_at: Mapped[object | None] = mapped_column(UTCDateTime)


class SignInFailures(Model):
    """Failed dashboard sign-ins in a row for one e-mail, known or not (the answer must be the same):
    five lock it for a while (services.auth). Keyed by a hash of the e-mail as typed, lower-cased."""

    __tablename__ = "sign_in_failures"

    email_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
