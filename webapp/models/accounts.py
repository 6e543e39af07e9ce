"""Hosted accounts (tenants of the platform) and their users."""
from __future__ import annotations

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime, enum, utcnow

ACCOUNT_STATUSES = ("provisioning", "active", "cancelled", "disabled", "expired")
# resold: billed to the agency; parent: the agency's own account (P1);
# commission: referred through the agency's link and billed to the client (C1);
# standalone: detached from its agency (A4).
ACCOUNT_KINDS = ("resold", "parent", "commission", "standalone")
PLAN_TIERS = ("lite", "plus", "professional", "enterprise")
PLAN_TERMS = ("monthly", "annual", "trial")
# Terms that renew (a trial expires); paid and disabled accounts alike are charged on their day (B2).
RECURRING = ("monthly", "annual")
RENEWING_STATUSES = ("active", "disabled")
# Kinds that pay their own way on their client's card (C1 referred, A4 detached), never on an agency's.
CLIENT_BILLED_KINDS = ("commission", "standalone")
# Paid accounts count toward the discount (B5): resold, paid for the current period, trials excepted.
PAID_STATUSES = ("provisioning", "active", "cancelled", "disabled")
PAID_WHERE = ("kind = 'resold' AND plan_term <> 'trial' AND status IN ("
              + ", ".join(f"'{s}'" for s in PAID_STATUSES) + ")")


class HostedAccount(Model):
    __tablename__ = "hosted_accounts"
    __table_args__ = (
        # One parent account per agency.
        sa.Index("uq_hosted_accounts_parent_per_agency", "agency_id", unique=True,
                 sqlite_where=sa.text("kind = 'parent'"), postgresql_where=sa.text("kind = 'parent'")),
        # The Resold tab (R2-R4, R11): one index per sort key, led by the agency and kind and covering
        # the filter columns, so a page (even a deep one) is read from the index alone.
        sa.Index("ix_hosted_accounts_resold_count", "agency_id", "kind", "status", "plan_term"),
        # The paid accounts that set the discount (B5), counted on every API list, quote and invoice:
        # only those rows, so the count reads half the entries (1.2 -> 0.55 ms at 5 000 accounts).
        # PostgreSQL uses it (each query is planned for its values); SQLite keeps the index above.
        sa.Index("ix_hosted_accounts_paid", "agency_id", sqlite_where=sa.text(PAID_WHERE),
                 postgresql_where=sa.text(PAID_WHERE)),
        # The id is in every one: PostgreSQL has no implicit rowid, and the page query returns ids.
        sa.Index("ix_hosted_accounts_resold_name", "agency_id", "kind", "name", "id", "status", "plan_term"),
        sa.Index("ix_hosted_accounts_resold_size", "agency_id", "kind", "contact_limit", "id", "status", "plan_term"),
        sa.Index("ix_hosted_accounts_resold_created", "agency_id", "kind", "created_at", "id", "status", "plan_term"),
        sa.Index("ix_hosted_accounts_resold_expires", "agency_id", "kind", "period_end", "id", "status", "plan_term"),
        sa.CheckConstraint("contact_limit > 0", name="contact_limit_positive"),
        # A9: only a verified domain is held; any number of accounts may be waiting to verify one.
        sa.Index("uq_hosted_accounts_verified_domain", "custom_domain", unique=True,
                 sqlite_where=sa.text("custom_domain_verified_at IS NOT NULL"),
                 postgresql_where=sa.text("custom_domain_verified_at IS NOT NULL")),
        # A2: the few accounts whose generated password is still kept, for the sweep that erases it.
        sa.Index("ix_hosted_accounts_credentials_until", "credentials_until",
                 sqlite_where=sa.text("credentials_until IS NOT NULL"),
                 postgresql_where=sa.text("credentials_until IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed by the composite Resold-tab indexes below, which all lead with it.
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agencies.id"))
    kind: Mapped[str] = mapped_column(enum(*ACCOUNT_KINDS, name="account_kind"), default="resold")
    # The subdomain: <name>.<PLATFORM_DOMAIN>; unique platform-wide.
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    custom_domain: Mapped[str | None] = mapped_column(sa.String(253), index=True)
    custom_domain_verified_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # A9: the domain this account was waiting to verify when another account verified it first.
    custom_domain_released: Mapped[str | None] = mapped_column(sa.String(253))
    # A9, kept honest (services/domain_checks.py): the last daily re-check of the verified domain; since when
    # it does not point at the platform and what its CNAME says; when it stops (or stopped) serving; and
    # the domain that stopped after that grace (its verification withdrawn) until it is verified again.
    custom_domain_checked_at: Mapped[object | None] = mapped_column(UTCDateTime)
    custom_domain_failing_since: Mapped[object | None] = mapped_column(UTCDateTime)
    custom_domain_found: Mapped[str | None] = mapped_column(sa.String(600))
    custom_domain_stopped: Mapped[str | None] = mapped_column(sa.String(253))
    custom_domain_stops_at: Mapped[object | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(enum(*ACCOUNT_STATUSES, name="account_status"), default="provisioning")
    plan_tier: Mapped[str] = mapped_column(enum(*PLAN_TIERS, name="plan_tier"))
    plan_term: Mapped[str] = mapped_column(enum(*PLAN_TERMS, name="plan_term"))
    contact_limit: Mapped[int]
    # A8: a downgrade waits for the next renewal.
    pending_plan_tier: Mapped[str | None] = mapped_column(sa.String(20))
    pending_plan_term: Mapped[str | None] = mapped_column(sa.String(20))
    pending_contact_limit: Mapped[int | None]
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # Start and end of the period paid for; for a recurring plan period_end is the next
    # renewal day, for a trial or a cancelled account it is the expiry day.
    period_start: Mapped[object | None] = mapped_column(sa.Date)
    period_end: Mapped[object | None] = mapped_column(sa.Date, index=True)
    # Day of month the account renews on (1-31, clamped to short months).
    anchor_day: Mapped[int | None]
    cancelled_at: Mapped[object | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # Why it is disabled: "unpaid" (B8, enabled again by a paid renewal), "abuse" (S6, by support only) or
    # "agency" (disabled by its agency, which enables it again; renewals go on).
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(20))
    expired_at: Mapped[object | None] = mapped_column(UTCDateTime)
    detached_at: Mapped[object | None] = mapped_column(UTCDateTime)
    provisioned_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # A2: until when the generated admin password (kept in the provisioning operation's result) may be shown,
    # 24 hours after provisioning; None once it is erased (dismissed, its time over, or the account closed).
    credentials_until: Mapped[object | None] = mapped_column(UTCDateTime)
    trial_extensions: Mapped[int] = mapped_column(default=0)
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    client_name: Mapped[str] = mapped_column(sa.String(120))
    client_email: Mapped[str] = mapped_column(sa.String(254))
    # Where the platform writes about billing, campaign approval, abuse and bounces.
    notification_email: Mapped[str] = mapped_column(sa.String(254))
    # R1: name, client name, client e-mail and custom domain, lower-cased, kept by `_search_text`.
    # Substring search uses a trigram index on it (pg_trgm on PostgreSQL, FTS5 trigram on SQLite).
    search_text: Mapped[str] = mapped_column(sa.String(800), default="")
    # W2: the account has its own branding instead of following the agency defaults.
    branding_overridden: Mapped[bool] = mapped_column(default=False)

    agency = relationship("Agency")
    users = relationship("AccountUser", back_populates="account", order_by="AccountUser.id")

    @property
    def is_trial(self) -> bool:
        return self.plan_term == "trial"

    @property
    def billed_to_client(self) -> bool:
        """A referred or a detached account: its client pays, on its own card, from its own Billing page."""
        return self.kind in CLIENT_BILLED_KINDS

    @property
    def is_paid(self) -> bool:
        """Counts toward the agency's discount (B5): a recurring plan that has not expired."""
        return (self.plan_term != "trial" and self.kind == "resold"
                and self.status in ("provisioning", "active", "cancelled", "disabled"))


# The same rule as an expression, for the counts: the partial index ix_hosted_accounts_paid (PAID_WHERE)
# is planned for exactly this condition, so the two are kept side by side.
PAID = sa.and_(HostedAccount.kind == "resold", HostedAccount.plan_term != "trial",
               HostedAccount.status.in_(PAID_STATUSES))


class AccountCount(Model):
    """How many of an agency's accounts there are of each kind, status and term (issue 25): the Resold tab's
    counts and the discount's paid accounts are sums of a few of these rows, whatever the agency's size.
    Database triggers on hosted_accounts (migration 0028) keep them in the transaction that changes an
    account, however it is changed (ORM, Core UPDATE, bulk statements); the app only reads them. Accounts
    without an agency (A4, detached) are not counted; a row that falls to zero is kept."""

    __tablename__ = "account_counts"

    # No foreign key: a derived figure never stands in the way of its agency's row.
    agency_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    plan_term: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


# PAID over the counters: the sum of n over these rows is the agency's paid accounts (B5).
PAID_COUNTED = sa.and_(AccountCount.kind == "resold", AccountCount.plan_term != "trial",
                       AccountCount.status.in_(PAID_STATUSES))


def counted_as_paid(kind: str, status: str, plan_term: str) -> bool:
    """PAID_COUNTED for a counter row already read (the Resold tab reads the agency's rows at once); a test
    holds the two to the same answer for every kind, status and term."""
    return kind == "resold" and plan_term != "trial" and status in PAID_STATUSES


@sa.event.listens_for(AccountCount, "before_insert")
@sa.event.listens_for(AccountCount, "before_update")
@sa.event.listens_for(AccountCount, "before_delete")
def _counted_by_the_database(_mapper, _connection, _row) -> None:
    raise RuntimeError("account_counts is kept by the database's triggers on hosted_accounts, never by the app")


class AccountUser(UserMixin, Model):
    """A user of a hosted account; every account has its `admin`."""

    __tablename__ = "account_users"
    __table_args__ = (sa.UniqueConstraint("account_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hosted_accounts.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[str] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    # W4: consecutive failures and the end of a lockout.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime)
    session_epoch: Mapped[int] = mapped_column(default=0)
    password_changed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime)

    account = relationship("HostedAccount", back_populates="users")

    # Which login this object was loaded for, and when that login was last seen (services.sessions);
    # not columns.
    login_session_id = None
    login_last_seen = None

    def get_id(self) -> str:
        return f"h:{self.id}:{self.session_epoch}:{self.login_session_id}"


SEARCH_FIELDS = ("name", "client_name", "client_email", "custom_domain")


def search_text_for(name, client_name, client_email, custom_domain) -> str:
    """The text R1 searches in; the query side lower-cases the same way."""
    return "\n".join(v for v in (name, client_name, client_email, custom_domain) if v).lower()


@sa.event.listens_for(HostedAccount, "before_insert")
@sa.event.listens_for(HostedAccount, "before_update")
def _search_text(_mapper, _connection, account: HostedAccount) -> None:
    account.search_text = search_text_for(*(getattr(account, f) for f in SEARCH_FIELDS))
