"""The Billing page of an account that pays its own way (issue 22): a referred account (C1, kind
"commission") or a detached one (A4, kind "standalone"). Its client's own card, saved the same way as an
agency's (through the gateway; only the token, brand, last 4 and expiry are kept), and its own invoices
(made out to nobody's agency). A resold account has none of this: its agency pays (B1).

Saving a card tries the account's unpaid renewals on it at once (B8), as an agency's card does for its
accounts (renewals.retry_after_card_saved); a paid renewal enables an account disabled for non-payment."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AccountUser, BillingProfile, HostedAccount, Invoice
from . import audit, billing, keys, renewals
from .errors import Forbidden, NotFound
from .scope import parse_id

# What the list shows: a voided charge (declined at once, nothing owed) is no invoice of the client's.
LISTED_STATUSES = ("open", "paid", "failed")
PAGE_SIZE = 50


def pays_its_own_way(account: HostedAccount | None) -> bool:
    """A referred or a detached account: billed to its client, who has a Billing page. Not a resold or
    parent account, whose agency pays."""
    return account is not None and account.billed_to_client


def require_own_billing(account: HostedAccount | None) -> HostedAccount:
    """The account, if it pays its own way; a resold account's billing is its agency's (NotFound)."""
    if not pays_its_own_way(account):
        raise NotFound()
    return account


def require_billing_admin(account: HostedAccount, actor: audit.Actor) -> None:
    """Only the account's own `admin`, signed in with its password, changes what its card pays: not
    another user of the account, not its agency or support signed in as admin (A10)."""
    require_own_billing(account)
    ref = str(getattr(actor, "ref", ""))
    user_id = ref.removeprefix("account_user:") if ref.startswith("account_user:") else None
    user = db.session.get(AccountUser, int(user_id)) if user_id and user_id.isdigit() else None
    if user is None or user.account_id != account.id:
        raise Forbidden(str(_l("Only the account's own admin, signed in with its password, can change its billing.")))
    if user.username != "admin":
        raise Forbidden(str(_l("Only the account's admin can see and change its billing. Ask them to sign in.")))


# ---- the card ----------------------------------------------------------------------------------------

def card_of(account: HostedAccount) -> BillingProfile | None:
    return billing.account_card_of(account.id)


def save_card(account: HostedAccount, *, number: str, exp_month, exp_year, cvc: str, actor: audit.Actor) -> "CardSaved":
    """Adds or replaces the client's card from AgencyHQ's own card form (the sandbox, whose number goes to
    the gateway only). Raises ValidationFailed by the field."""
    require_billing_admin(account, actor)
    key = keys.card_token(f"account:{account.id}:{keys.fresh()}")
    return _keep_card(account, billing.tokenize_typed_card(number, exp_month, exp_year, cvc, key=key), key, actor)


def start_card_setup(account: HostedAccount, actor: audit.Actor) -> billing.CardFormSetup:
    """Under a processor that collects the card itself (Stripe.js): the form for this account's card."""
    require_billing_admin(account, actor)
    return billing.start_card_setup(None, purpose="account_card", account_id=account.id)


def save_card_from_setup(account: HostedAccount, *, setup_ref: str, state: str, actor: audit.Actor) -> "CardSaved":
    """The card the client entered in the processor's form on this account's Billing page, once."""
    require_billing_admin(account, actor)
    card = billing.finish_card_setup(None, "account_card", setup_ref=setup_ref, state=state, account_id=account.id)
    return _keep_card(account, card, keys.card_setup(setup_ref), actor)


@dataclass(frozen=True)
class CardSaved:
    card: BillingProfile
    # The account's unpaid renewals now being tried on the new card.
    retried: int


def _keep_card(account: HostedAccount, card, key: str, actor: audit.Actor) -> CardSaved:
    profile = billing.store_card(card, key, account_id=account.id)
    audit.record(actor, "account_card_saved", agency_id=account.agency_id, account_id=account.id, brand=card.brand,
                 last4=card.last4)
    db.session.commit()
    # B8: what the decline e-mail promises, for this account alone (the agencies' hook is per agency).
    retried = renewals.retry_after_account_card_saved(account.id)
    return CardSaved(profile, retried)


# ---- its invoices --------------------------------------------------------------------------------------

def _own(account: HostedAccount):
    """The account's own invoices: made out to it, never to an agency (those are the agency's, B4)."""
    return sa.and_(Invoice.account_id == account.id, Invoice.agency_id.is_(None))


def invoices(account: HostedAccount, limit: int = PAGE_SIZE) -> list[Invoice]:
    return list(db.session.scalars(sa.select(Invoice).where(_own(account), Invoice.status.in_(LISTED_STATUSES))
                                   .order_by(Invoice.created_at.desc(), Invoice.id.desc()).limit(limit)))


def invoice(account: HostedAccount, invoice_id) -> Invoice:
    """One of the account's own invoices, or NotFound (another account's, an agency's, or none)."""
    found = db.session.scalar(sa.select(Invoice).where(Invoice.id == parse_id(invoice_id), _own(account),
                                                       Invoice.status.in_(LISTED_STATUSES)))
    if found is None:
        raise NotFound()
    return found


def unpaid_renewal(account: HostedAccount) -> Invoice | None:
    """The renewal the account still owes (declined, retried on schedule), if any."""
    return renewals.unpaid_account_renewal(account.id)
