"""Secrets handed to people: API tokens, password-reset links, login-as links. Stored hashed."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .agencies import TEAM_ROLES
from .base import Model, UTCDateTime, enum, utcnow

LINK_PURPOSES = ("confirm_email", "set_password", "reset_password", "invite", "change_email")


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(sa.String(80))
    # The first characters, shown so a person can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[object | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # "read": GET only; "read_write": everything its creator's role allows (never more).
    scope: Mapped[str] = mapped_column(sa.String(12), default="read_write", server_default="read_write")
    # Refused from this moment on (the start of the day after the expiry date chosen, UTC); NULL: never expires.
    expires_at: Mapped[object | None] = mapped_column(UTCDateTime)


class ApiIdempotencyRecord(Model):
    """The first answer to a POST with an Idempotency-Key, replayed for 24 hours."""

    __tablename__ = "api_idempotency_records"
    __table_args__ = (sa.UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(sa.ForeignKey("api_tokens.id"))
    key: Mapped[str] = mapped_column(sa.String(120))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PasswordResetToken(Model):
    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_user_id: Mapped[int] = mapped_column(sa.ForeignKey("account_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)


class LoginAsToken(Model):
    """A10: single use, exchanged on the hosted account's own host within a minute."""

    __tablename__ = "login_as_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)


class UserLink(Model):
    """A single-use link e-mailed to a dashboard user (or a person invited to become one): confirm a
    sign-up's e-mail, set or reset a password, accept an invitation, confirm a new e-mail. Hashed; it
    works once, until it expires, unless revoked."""

    __tablename__ = "user_links"
    __table_args__ = (sa.Index("ix_user_links_user_purpose", "user_id", "purpose"),
                      sa.Index("ix_user_links_agency_purpose", "agency_id", "purpose"))

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(enum(*LINK_PURPOSES, name="link_purpose"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    # An invitation's address and role; a change of e-mail's new address.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    team_role: Mapped[str | None] = mapped_column(enum(*TEAM_ROLES, name="link_team_role"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)


class RecoveryCode(Model):
    """One of a user's ten two-factor recovery codes, hashed; each works once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[object | None] = mapped_column(UTCDateTime)
