"""A1: what a new account must be - its name, its domain, its plan from the catalog - checked the same
way for Add New, the API and the referral sign-up."""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ...catalog import get_catalog
from ...extensions import db
from ...models import HostedAccount
from .. import billing, keys
from ..dates import timezone_set
from ..errors import ValidationFailed
from ..validation import email_problem, text_problems

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
RESERVED_NAMES = {
    "www", "admin", "administrator", "api", "app", "apps", "mail", "smtp", "imap", "pop", "ftp", "support", "help",
    "billing", "dashboard", "status", "static", "assets", "cdn", "login", "logout", "signup", "register", "root",
    "agencyhq", "agency", "account", "accounts", "security", "abuse", "postmaster", "webmaster", "hostmaster",
    "ns1", "ns2", "dns", "test", "demo", "staging", "dev", "internal", "system", "null", "undefined",
}
HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
LANGUAGES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "it": "Italiano",
             "nl": "Nederlands", "pt": "Português", "zh": "中文"}


def name_problem(name: str) -> str | None:
    """Why an account name cannot be used, or None when it is free."""
    name = (name or "").strip()
    if not 3 <= len(name) <= 40:
        return str(_l("Use 3 to 40 characters."))
    if name != name.lower():
        return str(_l("Use lowercase letters only."))
    if not NAME_RE.match(name) or "--" in name:
        return str(_l("Use lowercase letters, digits and single hyphens, not at the start or the end."))
    if name in RESERVED_NAMES:
        return str(_l("“%(name)s” is reserved; choose another name.", name=name))
    if db.session.scalar(sa.select(HostedAccount.id).where(HostedAccount.name == name)):
        return str(_l("“%(name)s” is already taken; choose another name.", name=name))
    return None


def normalize_domain(domain: str) -> str:
    return (domain or "").strip().lower().rstrip(".")


def domain_problem(domain: str, account_id: int | None = None) -> str | None:
    domain = normalize_domain(domain)
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(HOST_LABEL_RE.match(label) for label in labels) \
            or not re.fullmatch(r"[a-z]{2,63}", labels[-1]):
        return str(_l("Enter a host name such as mail.example.com."))
    platform = current_app.config["PLATFORM_DOMAIN"]
    if domain == platform or domain.endswith("." + platform):
        return str(_l("Use a domain of your own, not one under %(domain)s.", domain=platform))
    if verified_elsewhere(domain, account_id):
        # Only a verified domain is held (A9); the message does not say by whom.
        return str(_l("This domain is already in use on the platform."))
    return None


def verified_elsewhere(domain: str, account_id: int | None) -> bool:
    held = db.session.scalar(sa.select(HostedAccount.id).where(
        HostedAccount.custom_domain == domain, HostedAccount.custom_domain_verified_at.is_not(None)))
    return held is not None and held != account_id


@dataclass
class NewAccount:
    name: str
    client_name: str
    client_email: str
    notification_email: str
    language: str
    timezone: str
    tier: str
    term: str
    contact_limit: int
    custom_domain: str = ""


def plan_problems(tier: str, term: str, contact_limit) -> dict[str, str]:
    """What is wrong with a plan, per field, in the catalog's words (A1, A8); {} when it is offered."""
    catalog = get_catalog()
    fields = {}
    if tier not in catalog.tier_by_key:
        fields["tier"] = str(_l("Choose a plan tier."))
    if term not in catalog.term_keys:
        fields["term"] = str(_l("Choose monthly, annual or trial."))
    if fields:
        return fields
    try:
        catalog.list_price_cents(tier, term, int(contact_limit))
    except (KeyError, ValueError, TypeError):
        if term == "trial":
            fields["contact_limit"] = str(_l("A trial goes up to %(n)s contacts.",
                                             n=f"{int(catalog.trial['max_contacts']):,}"))
        else:
            fields["contact_limit"] = str(_l("Choose one of the contact limits offered: %(limits)s.",
                                             limits=", ".join(f"{c:,}" for c in catalog.contact_limits)))
    return fields


def price_of(tier: str, term: str, contact_limit: int) -> int:
    fields = plan_problems(tier, term, contact_limit)
    if fields:
        raise ValidationFailed(str(_l("Choose a plan from the catalog.")), fields)
    return get_catalog().list_price_cents(tier, term, int(contact_limit))


def quote(agency_id: int, tier: str, term: str, contact_limit) -> dict:
    """A1: the list price and what the agency pays after its discount, for the live price."""
    listed = price_of(tier, term, contact_limit)
    percent = billing.discount_in_force(agency_id) if term != "trial" else 0
    return {"list_cents": listed, "discount_percent": percent,
            "price_cents": get_catalog().apply_discount(listed, percent), "term": term}


@dataclass
class ClientDetails:
    """What can be edited after Add New: who the client is, where notices go, its language and zone."""
    client_name: str
    client_email: str
    notification_email: str
    language: str
    timezone: str


DETAIL_FIELDS = ("client_name", "client_email", "notification_email", "language", "timezone")
# The columns' sizes (the forms and the API document say the same).
DETAIL_MAX_LENGTHS = {"client_name": 120, "client_email": 254, "notification_email": 254, "timezone": 64}


def details_problems(data) -> dict[str, str]:
    """{field: problem} for the client's details of `data` (a NewAccount or ClientDetails), the same rules at
    Add New and when they are edited later; {} when they are fine."""
    fields = text_problems(**{name: getattr(data, name) for name in DETAIL_FIELDS})
    if fields:  # nothing else can be checked on text the database cannot store
        return fields
    for name, most in DETAIL_MAX_LENGTHS.items():
        if len(getattr(data, name) or "") > most:
            fields[name] = str(_l("Use at most %(n)s characters.", n=most))
    for name in ("client_email", "notification_email"):
        problem = fields.get(name) or email_problem(getattr(data, name))
        if problem:
            fields[name] = problem
    if not (data.client_name or "").strip():
        fields["client_name"] = str(_l("Enter the client's name."))
    if data.language not in LANGUAGES:
        fields["language"] = str(_l("Choose a language from the list."))
    if "timezone" not in fields and data.timezone not in timezone_set():
        fields["timezone"] = str(_l("Choose a time zone from the list (for example Europe/Paris)."))
    return fields


def validate_new(data: NewAccount) -> None:
    fields = text_problems(name=data.name, custom_domain=data.custom_domain, tier=data.tier, term=data.term)
    fields.update(text_problems(**{name: getattr(data, name) for name in DETAIL_FIELDS}))
    if fields:  # nothing else can be checked on text the database cannot store
        raise ValidationFailed(str(_l("The account was not created; see the fields marked.")), fields)
    problem = name_problem(data.name)
    if problem:
        fields["name"] = problem
    if data.custom_domain:
        problem = domain_problem(data.custom_domain)
        if problem:
            fields["custom_domain"] = problem
    fields.update(details_problems(data))
    fields.update(plan_problems(data.tier, data.term, data.contact_limit))
    if fields:
        raise ValidationFailed(str(_l("The account was not created; see the fields marked.")), fields)


def new_request_key() -> str:
    return keys.fresh()
