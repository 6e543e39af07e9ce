"""B4: the agency's billing details (legal name, address, country, tax id), edited on the Billing profile and
copied onto every invoice when it is issued (services/invoice_numbers.py), so a later edit never rewrites an
invoice already issued. Checked here for every caller; permission "billing"; each change audited."""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from babel import Locale
from flask import current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Agency, BillingDetails, HostedAccount
from . import audit, permissions
from .errors import ValidationFailed
from .validation import text_problem

FIELDS = ("legal_name", "address_line1", "address_line2", "postal_code", "city", "country", "tax_id")
LIMITS = {"legal_name": 200, "address_line1": 200, "address_line2": 200, "postal_code": 20, "city": 100,
          "tax_id": 30}
REQUIRED = {
    "legal_name": _l("Enter the agency's legal name, as registered."),
    "address_line1": _l("Enter the street address."),
    "city": _l("Enter the city."),
    "country": _l("Choose the country."),
}

# Babel's territories that are not ISO 3166-1 countries (regions, reservations, test codes).
_NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "XK", "ZZ"}
COUNTRIES = frozenset(code for code in Locale("en").territories
                      if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES)

# VAT numbers of the EU member states (and the UK) as VIES writes them: the country's prefix (Greece's is
# EL), then the national part. An example of each for the error message.
VAT_FORMATS: dict[str, tuple[str, str, str]] = {
    "AT": ("AT", r"U\d{8}", "ATU12345678"), "BE": ("BE", r"[01]\d{9}", "BE0123456789"),
    "BG": ("BG", r"\d{9,10}", "BG123456789"), "CY": ("CY", r"\d{8}[A-Z]", "CY12345678X"),
    "CZ": ("CZ", r"\d{8,10}", "CZ12345678"), "DE": ("DE", r"\d{9}", "DE123456789"),
    "DK": ("DK", r"\d{8}", "DK12345678"), "EE": ("EE", r"\d{9}", "EE123456789"),
    "GR": ("EL", r"\d{9}", "EL123456789"), "ES": ("ES", r"[A-Z0-9]\d{7}[A-Z0-9]", "ESX1234567X"),
    "FI": ("FI", r"\d{8}", "FI12345678"), "FR": ("FR", r"[A-HJ-NP-Z0-9]{2}\d{9}", "FR12345678901"),
    "HR": ("HR", r"\d{11}", "HR12345678901"), "HU": ("HU", r"\d{8}", "HU12345678"),
    "IE": ("IE", r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]", "IE1234567T"), "IT": ("IT", r"\d{11}", "IT12345678901"),
    "LT": ("LT", r"\d{9}|\d{12}", "LT123456789"), "LU": ("LU", r"\d{8}", "LU12345678"),
    "LV": ("LV", r"\d{11}", "LV12345678901"), "MT": ("MT", r"\d{8}", "MT12345678"),
    "NL": ("NL", r"\d{9}B\d{2}", "NL123456789B01"), "PL": ("PL", r"\d{10}", "PL1234567890"),
    "PT": ("PT", r"\d{9}", "PT123456789"), "RO": ("RO", r"\d{2,10}", "RO1234567890"),
    "SE": ("SE", r"\d{10}01", "SE123456789001"), "SI": ("SI", r"\d{8}", "SI12345678"),
    "SK": ("SK", r"\d{10}", "SK1234567890"), "GB": ("GB", r"\d{9}|\d{12}|GD\d{3}|HA\d{3}", "GB123456789"),
}
# Any other country's tax id: letters and digits, with the separators people type.
_OTHER_TAX_ID = re.compile(r"^(?=(?:.*\d){2})[A-Z0-9][A-Z0-9 ./-]{2,29}$")
_POSTAL_CODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,19}$")


@dataclass(frozen=True)
class Country:
    code: str
    name: str


def countries(locale=None) -> list[Country]:
    """Every country, named in the reader's language and sorted by that name."""
    names = Locale.parse(str(locale or get_locale() or "en")).territories
    english = Locale("en").territories
    return sorted((Country(code, names.get(code) or english[code]) for code in COUNTRIES),
                  key=lambda c: c.name.casefold())


def country_name(code: str | None, locale=None) -> str:
    if not code:
        return ""
    names = Locale.parse(str(locale or get_locale() or "en")).territories
    return names.get(code) or code


def normalise_tax_id(value: str | None) -> str:
    return re.sub(r"[\s.\-]", "", (value or "").upper())


def _tax_id_problem(country: str, value: str) -> tuple[str | None, str]:
    """(why the tax id is refused or None, the tax id as it is kept)."""
    if country in VAT_FORMATS:
        prefix, national, example = VAT_FORMATS[country]
        number = normalise_tax_id(value)
        if number[:1].isdigit() or (country == "AT" and number[:1] == "U"):
            number = prefix + number  # typed without its country prefix
        if not re.fullmatch(f"{prefix}(?:{national})", number):
            if number.startswith(prefix):  # the right country, a wrong length or character
                return str(_l("This VAT number of %(country)s is too short, too long or has a wrong character: it "
                              "is written like %(example)s.", country=country_name(country),
                              example=example)), value
            return str(_l("This is not a VAT number of %(country)s: it starts with %(prefix)s, for example "
                          "%(example)s.", country=country_name(country), prefix=prefix, example=example)), value
        return None, number
    kept = re.sub(r"\s+", " ", value.strip().upper())
    if not _OTHER_TAX_ID.match(kept):
        return str(_l("Enter the tax id as it is registered: letters and digits (at least two), with spaces, "
                      "dots, dashes or slashes if it has them.")), value
    return None, kept


def validate(values: dict) -> dict:
    """The details as they are kept (trimmed, upper-case codes), or ValidationFailed with a message by field."""
    clean = {name: re.sub(r"\s+", " ", str(values.get(name) or "")).strip() for name in FIELDS}
    fields: dict[str, str] = {}
    for name, value in clean.items():
        problem = text_problem(value)
        if problem:
            fields[name] = problem
        elif name in LIMITS and len(value) > LIMITS[name]:
            fields[name] = str(_l("At most %(n)s characters.", n=LIMITS[name]))
        elif name in REQUIRED and not value:
            fields[name] = str(REQUIRED[name])
    clean["country"] = clean["country"].upper()
    if "country" not in fields and clean["country"] not in COUNTRIES:
        fields["country"] = str(_l("Choose a country from the list."))
    if clean["postal_code"] and "postal_code" not in fields:
        clean["postal_code"] = clean["postal_code"].upper()
        if not _POSTAL_CODE.match(clean["postal_code"]):
            fields["postal_code"] = str(_l("Enter the postal code: letters, digits, spaces and dashes."))
    if clean["tax_id"] and "tax_id" not in fields:
        if "country" in fields:
            fields["tax_id"] = str(_l("Choose the country first: the tax id is checked against it."))
        else:
            problem, clean["tax_id"] = _tax_id_problem(clean["country"], clean["tax_id"])
            if problem:
                fields["tax_id"] = problem
    if fields:
        raise ValidationFailed(str(_l("The billing details were not saved.")), fields)
    return {name: (value or None) if name in ("address_line2", "postal_code", "tax_id") else value
            for name, value in clean.items()}


def details_of(agency_id: int) -> BillingDetails | None:
    return db.session.scalar(sa.select(BillingDetails).where(BillingDetails.agency_id == agency_id))


def save(actor: audit.Actor, agency_id: int, **values) -> BillingDetails:
    """Saves the agency's billing details; the invoices issued from now on carry them, the ones issued
    before keep what they were issued with."""
    permissions.require(actor, "billing")
    clean = validate(values)
    details = details_of(agency_id)
    if details is None:
        details = BillingDetails(agency_id=agency_id)
        db.session.add(details)
    changed = sorted(name for name in FIELDS if getattr(details, name, None) != clean[name])
    for name in FIELDS:
        setattr(details, name, clean[name])
    if changed:
        audit.record(actor, "billing_details_saved", agency_id=agency_id, fields=changed,
                     country=clean["country"], tax_id=clean["tax_id"])
    db.session.commit()
    return details


# ---- what an invoice carries --------------------------------------------------------------------------

def snapshot(details: BillingDetails | None) -> dict | None:
    if details is None:
        return None
    return {name: getattr(details, name) for name in FIELDS}


def billed_to(invoice) -> dict:
    """Who an invoice being issued is made out to: the agency's billing details as they are now (its name
    alone when it has none yet), or, for a referred client's own invoice, the client."""
    if invoice.agency_id is not None:
        snap = snapshot(details_of(invoice.agency_id))
        if snap is None:
            snap = {"legal_name": db.session.scalar(sa.select(Agency.name).where(Agency.id == invoice.agency_id))}
        return snap
    if invoice.account_id is not None:
        account = db.session.get(HostedAccount, invoice.account_id)
        if account is not None:
            return {"legal_name": account.client_name, "email": account.client_email}
    return {}


def issuer() -> dict:
    """Who issues the invoices (the platform), from its settings."""
    config = current_app.config
    return {"legal_name": config.get("INVOICE_ISSUER_NAME") or "AgencyHQ",
            "address": [line.strip() for line in (config.get("INVOICE_ISSUER_ADDRESS") or "").split("|")
                        if line.strip()],
            "tax_id": config.get("INVOICE_ISSUER_TAX_ID") or None}
