"""To whom a notice goes, in which language and under whose brand (N1, N2).

- An account's notices go to its notification e-mail. For a resold account that address is the agency's:
  AgencyHQ's e-mail in the agency's notice language. A referred account (C1) pays its own way and its
  notification e-mail is the client's: the e-mail carries the account's brand, in the account's language.
- The agency's own notices (a payout, a digest) go to its notice e-mail, else to its owners.
- A person's own e-mail (a reset, a reply to their ticket) is in that person's language and time zone.
- What a hosted account's client receives carries the account's brand and never names AgencyHQ.

Every notice is keyed (kind + subject + period, `keys.notice`): the outbox holds the key once."""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Agency, Branding, HostedAccount, OutboundEmail, User
from . import hosts, mail


def client_brand(account: HostedAccount) -> mail.Brand:
    """The account's own branding (W2), else its agency's defaults (W1); the product name falls back to
    the account's name, as on its login page. A logo is linked on the account's own host."""
    brand = db.session.scalar(sa.select(Branding).where(Branding.account_id == account.id))
    if brand is None and account.agency_id is not None:
        brand = db.session.scalar(sa.select(Branding).where(Branding.agency_id == account.agency_id,
                                                            Branding.account_id.is_(None)))
    if brand is None:
        return mail.Brand(name=account.name, white_label=True)
    return mail.Brand(name=brand.product_name or account.name, color=brand.primary_color or mail.DEFAULT_COLOR,
                      logo_url=hosts.account_url(account, "/app/logo") if brand.logo else None,
                      support_email=brand.support_email, support_url=brand.support_url, white_label=True)


def is_clients(account: HostedAccount) -> bool:
    """The account's notification e-mail is its client's own (a referred or a standalone account)."""
    return account.billed_to_client


def _first_owner(column):
    """`column` of the agency's first owner, as a scalar subquery of the agency's row."""
    return (sa.select(column).where(User.agency_id == Agency.id, User.team_role == "owner").order_by(User.id)
            .limit(1).correlate(Agency).scalar_subquery())


def agency_reader(agency_id: int | None) -> tuple[str | None, str | None]:
    """(language, time zone) of the agency's notices, in one query: its notice language, and its first
    owner's zone (an agency has none of its own)."""
    if agency_id is None:
        return None, None
    row = db.session.execute(sa.select(Agency.notice_language, _first_owner(User.timezone))
                             .where(Agency.id == agency_id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def owner_addresses(agency_id: int) -> list[str]:
    """Every owner's e-mail, oldest first."""
    return list(db.session.scalars(sa.select(User.email).where(User.agency_id == agency_id, User.team_role == "owner")
                                   .order_by(User.id)))


def agency_addresses(agency_id: int) -> list[str]:
    """Where the agency's own notices go: its notice e-mail, else every owner."""
    address = db.session.scalar(sa.select(Agency.notice_email).where(Agency.id == agency_id))
    return [address] if address else owner_addresses(agency_id)


def to_account(account: HostedAccount, kind: str, context: dict, *, key: str,
               agency_id: int | None = None) -> OutboundEmail | None:
    """A notice about `account` to its notification e-mail (the agency's, or the client's own)."""
    if not account.notification_email:
        return None
    context = {"account": account, **context}
    if is_clients(account):
        return mail.send(kind, to=account.notification_email, locale=account.language, tz=account.timezone,
                         brand=client_brand(account), context={**context, "for_client": True},
                         agency_id=agency_id if agency_id is not None else account.agency_id, key=key)
    language, zone = agency_reader(account.agency_id)
    return mail.send(kind, to=account.notification_email, locale=language, tz=zone,
                     context={**context, "for_client": False},
                     agency_id=agency_id if agency_id is not None else account.agency_id, key=key)


def to_agency(agency_id: int, kind: str, context: dict, *, key: str | None,
              to: str | None = None) -> list[OutboundEmail]:
    """A notice for the agency, in its notice language: to `to` when the caller knows the person (the user
    who filed a request), else to its notice e-mail or its owners (one e-mail each, one key each)."""
    language, zone = agency_reader(agency_id)
    return [mail.send(kind, to=address, locale=language, tz=zone, context={"for_client": False, **context},
                      agency_id=agency_id, key=f"{key}:{n}" if key and n else key)
            for n, address in enumerate([to] if to else agency_addresses(agency_id))]


def to_agency_of(account: HostedAccount, kind: str, context: dict, *, key: str | None,
                 agency_id: int | None = None) -> list[OutboundEmail]:
    """A notice about one account for its agency (`agency_id`, else the account's) and never its client: to
    the account's notification e-mail while that is the agency's (a resold or parent account of that agency),
    else to the agency's own addresses; nobody for an account without an agency."""
    agency_id = agency_id if agency_id is not None else account.agency_id
    if agency_id is None:
        return []
    context = {"account": account, **context}
    if not is_clients(account) and account.agency_id == agency_id and account.notification_email:
        return [to_account(account, kind, context, key=key, agency_id=agency_id)]
    return to_agency(agency_id, kind, context, key=key)


def to_user(user: User, kind: str, context: dict, *, key: str | None = None, to: str | None = None) -> OutboundEmail:
    """AgencyHQ's e-mail to one person (agency user or support), in that person's language and zone."""
    return mail.send(kind, to=to or user.email, locale=user.language, tz=user.timezone,
                     context={"user": user, **context}, agency_id=user.agency_id, key=key)


def to_client(account: HostedAccount, to: str, kind: str, context: dict, *, key: str | None = None,
              agency_id: int | None = None) -> OutboundEmail:
    """E-mail to a hosted account's own people (its admin): the account's brand, its language and zone."""
    return mail.send(kind, to=to, locale=account.language, tz=account.timezone, brand=client_brand(account),
                     context={"account": account, **context}, key=key,
                     agency_id=agency_id if agency_id is not None else account.agency_id)
