"""No charge without its amount (issue 22): what a charge will take today, worked out before it is made.

A preview (a Quote) says what is charged today (the pro-rata part or the period, the discount, the prepaid
credit that will be spent, what goes to the card) and what each renewal costs after. The page or the API
shows it; the confirming press sends back its token, and the charge is made only if a fresh preview has
the same token. Anything that changed in between (the price, the discount, the prepaid balance, the days
left in the period) gives another token: the charge is refused with the new figures (StaleQuote)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..catalog import get_catalog
from ..extensions import db
from ..models import CreditBalance
from .errors import Conflict


@dataclass(frozen=True)
class QuoteLine:
    description: str
    amount_cents: int
    # What the line is, as data (invoice_text's builders), so the page shows it in the reader's language.
    label: dict | None = None


@dataclass(frozen=True)
class Quote:
    # "upgrade", "downgrade", "trial_to_paid", "reactivation", "sms_pack", "compatibility_pack", "prepaid".
    change: str
    lines: tuple[QuoteLine, ...]
    list_cents: int
    discount_percent: int
    discount_cents: int
    # What is charged today: prepaid_cents of it from prepaid credit, card_cents on the card.
    today_cents: int
    prepaid_cents: int
    card_cents: int
    currency: str
    # What each renewal after costs (at today's discount), and when the next one is; None for purchases.
    renewal_cents: int | None = None
    renews_on: date | None = None
    # When the change takes effect (today, or the next renewal for a downgrade).
    effective: date | None = None
    # The pro-rata days an upgrade is charged for.
    days: int | None = None
    subject: dict = field(default_factory=dict)
    token: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["lines"] = [{"description": line.description, "amount_cents": line.amount_cents}
                         for line in self.lines]
        for name in ("renews_on", "effective"):
            data[name] = data[name].isoformat() if data[name] else None
        data.pop("subject")
        return data


class StaleQuote(Conflict):
    """The confirmation was for other figures than today's (or for none): nothing was charged."""

    code = "quote_stale"

    def __init__(self, quote: Quote, message: str | None = None):
        super().__init__(message or str(_l("The amount changed since it was shown (the price, the discount or "
                                           "your prepaid balance): nothing was charged. Check the new figures and "
                                           "confirm again.")))
        self.quote = quote


def prepaid_available(agency_id: int | None, account_id: int | None) -> int:
    """The prepaid credit a charge of this agency (for this account) would spend first: the account's own,
    then the agency's pool (billing._apply_prepaid spends it in that order)."""
    if agency_id is None:
        return 0  # an invoice of the account's own client: the agency's credit is never spent on it
    scopes = ["agency"] + ([f"account:{account_id}"] if account_id else [])
    return int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(CreditBalance.balance), 0)).where(
        CreditBalance.agency_id == agency_id, CreditBalance.kind == "prepaid",
        CreditBalance.scope.in_(scopes))) or 0)


def make(change: str, lines: list[QuoteLine], *, discount_percent: int, agency_id: int | None,
         account_id: int | None, spends_prepaid: bool = True, renewal_cents: int | None = None,
         renews_on: date | None = None, effective: date | None = None, days: int | None = None,
         subject: dict | None = None) -> Quote:
    catalog = get_catalog()
    listed = sum(line.amount_cents for line in lines)
    total = catalog.apply_discount(listed, discount_percent)
    prepaid = min(total, prepaid_available(agency_id, account_id)) if spends_prepaid and total > 0 else 0
    quote = Quote(change=change, lines=tuple(lines), list_cents=listed, discount_percent=discount_percent,
                  discount_cents=listed - total, today_cents=total, prepaid_cents=prepaid, card_cents=total - prepaid,
                  currency=catalog.currency, renewal_cents=renewal_cents, renews_on=renews_on, effective=effective,
                  days=days, subject=subject or {})
    return _signed(quote)


def _signed(quote: Quote) -> Quote:
    figures = quote.to_dict()
    figures.pop("token")
    figures["subject"] = quote.subject
    digest = hashlib.sha256(json.dumps(figures, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return replace(quote, token=digest)


def confirm(fresh: Quote, token: str | None) -> Quote:
    """The fresh preview, if the person confirmed these very figures; else StaleQuote with them."""
    if not token or token != fresh.token:
        raise StaleQuote(fresh)
    return fresh
