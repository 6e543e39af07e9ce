"""The plan catalog, read from catalog.toml once at start and checked for consistency."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property


class CatalogError(ValueError):
    """The catalog file is inconsistent; the app refuses to start with it."""


@dataclass(frozen=True)
class Tier:
    key: str
    label: str
    sms: bool
    monthly: tuple[int, ...]
    annual: tuple[int, ...]


@dataclass(frozen=True)
class DiscountTier:
    min_paid_accounts: int
    percent: int


@dataclass(frozen=True)
class Pack:
    key: str
    credits: int
    price_cents: int


@dataclass(frozen=True)
class Catalog:
    currency: str
    contact_limits: tuple[int, ...]
    tiers: tuple[Tier, ...]
    terms: dict
    trial: dict
    discount_tiers: tuple[DiscountTier, ...]
    prepaid_amounts_cents: tuple[int, ...]
    prepaid_authorization_cents: int
    sms_packs: tuple[Pack, ...]
    compatibility_packs: tuple[Pack, ...]
    commission_rate_bp: int
    commission_payout_minimum_cents: int
    renewal_retry_days: tuple[int, ...]
    renewal_grace_days: int
    renewal_late_retry_every_days: int
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @cached_property
    def tier_by_key(self) -> dict[str, Tier]:
        return {t.key: t for t in self.tiers}

    @property
    def tier_keys(self) -> list[str]:
        return [t.key for t in self.tiers]

    @property
    def term_keys(self) -> list[str]:
        return list(self.terms)

    def term_months(self, term: str) -> int:
        return int(self.terms[term]["months"])

    def list_price_cents(self, tier: str, term: str, contact_limit: int) -> int:
        """The list price of one period of a plan; 0 for a trial. Raises KeyError/ValueError on unknown plans."""
        if term == "trial":
            if contact_limit not in self.contact_limits or contact_limit > self.trial["max_contacts"]:
                raise ValueError(f"trial plans go up to {self.trial['max_contacts']} contacts")
            self.tier_by_key[tier]
            return 0
        t = self.tier_by_key[tier]
        index = self.contact_limits.index(contact_limit)
        return (t.monthly if term == "monthly" else t.annual)[index]

    def discount_percent(self, paid_accounts: int) -> int:
        percent = 0
        for tier in self.discount_tiers:
            if paid_accounts >= tier.min_paid_accounts:
                percent = tier.percent
        return percent

    def next_discount_tier(self, paid_accounts: int) -> DiscountTier | None:
        for tier in self.discount_tiers:
            if tier.min_paid_accounts > paid_accounts:
                return tier
        return None

    @staticmethod
    def apply_discount(list_cents: int, percent: int) -> int:
        """Price after discount, rounded half up to the cent."""
        return list_cents - (list_cents * percent + 50) // 100

    def to_public_dict(self) -> dict:
        return {
            "currency": self.currency,
            "contact_limits": list(self.contact_limits),
            "terms": {k: dict(v) for k, v in self.terms.items()},
            "tiers": [
                {"key": t.key, "label": t.label, "sms_allowed": t.sms,
                 "monthly_cents": list(t.monthly), "annual_cents": list(t.annual)}
                for t in self.tiers
            ],
            "trial": dict(self.trial),
            "discount_tiers": [{"min_paid_accounts": d.min_paid_accounts, "percent": d.percent}
                               for d in self.discount_tiers],
            "prepaid_amounts_cents": list(self.prepaid_amounts_cents),
            "sms_packs": [p.__dict__ for p in self.sms_packs],
            "compatibility_packs": [p.__dict__ for p in self.compatibility_packs],
        }


def _int_list(values, what):
    if not values or not all(isinstance(v, int) and v >= 0 for v in values):
        raise CatalogError(f"{what} must be a non-empty list of whole, non-negative numbers (cents)")
    return tuple(values)


def load_catalog(path: str) -> Catalog:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    try:
        limits = _int_list(data["contact_limits"], "contact_limits")
        if list(limits) != sorted(set(limits)):
            raise CatalogError("contact_limits must be increasing")
        tiers = []
        for t in data["tiers"]:
            tier = Tier(t["key"], t["label"], bool(t["sms"]),
                        _int_list(t["monthly"], f"{t['key']}.monthly"),
                        _int_list(t["annual"], f"{t['key']}.annual"))
            if len(tier.monthly) != len(limits) or len(tier.annual) != len(limits):
                raise CatalogError(f"tier {tier.key} needs one price per contact limit")
            tiers.append(tier)
        discounts = tuple(DiscountTier(int(d["min_paid_accounts"]), int(d["percent"]))
                          for d in data["discount_tiers"])
        if [d.min_paid_accounts for d in discounts] != sorted(d.min_paid_accounts for d in discounts):
            raise CatalogError("discount_tiers must be ordered by min_paid_accounts")
        if not all(0 <= d.percent < 100 for d in discounts):
            raise CatalogError("discount percent must be between 0 and 99")
        if int(data["renewal"]["late_retry_every_days"]) < 1:
            raise CatalogError("renewal.late_retry_every_days must be 1 or more")
        terms = data["terms"]
        if set(terms) != {"monthly", "annual", "trial"}:
            raise CatalogError("terms must be monthly, annual and trial")
        return Catalog(
            currency=data["currency"],
            contact_limits=limits,
            tiers=tuple(tiers),
            terms=terms,
            trial=data["trial"],
            discount_tiers=discounts,
            prepaid_amounts_cents=_int_list(data["prepaid"]["amounts_cents"], "prepaid.amounts_cents"),
            prepaid_authorization_cents=int(data["prepaid"]["authorization_cents"]),
            sms_packs=tuple(Pack(p["key"], int(p["credits"]), int(p["price_cents"])) for p in data["sms_packs"]),
            compatibility_packs=tuple(Pack(p["key"], int(p["credits"]), int(p["price_cents"]))
                                      for p in data["compatibility_packs"]),
            commission_rate_bp=int(data["commission_rate_bp"]),
            commission_payout_minimum_cents=int(data["commission_payout_minimum_cents"]),
            renewal_retry_days=_int_list(data["renewal"]["retry_days"], "renewal.retry_days"),
            renewal_grace_days=int(data["renewal"]["grace_days"]),
            renewal_late_retry_every_days=int(data["renewal"]["late_retry_every_days"]),
            raw=data,
        )
    except KeyError as exc:
        raise CatalogError(f"catalog is missing {exc}") from exc


def get_catalog() -> Catalog:
    from flask import current_app
    return current_app.extensions["catalog"]
