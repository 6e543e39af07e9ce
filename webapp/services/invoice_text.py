"""B4: what an invoice says, in its reader's language: its kind, its status and each of its lines.

A line is stored with its English description (the CSV, the API) and, since issue 22, with what it is as
data (InvoiceLine.label: {"kind": "plan", "account": ..., "tier": ..., ...}), made by the builders below.
Lines without that data (made before, or by a caller that gives only a description) are read back from the
English forms AgencyHQ writes; a description in no known form is shown as it was written."""
from __future__ import annotations

import re
from datetime import date

from flask_babel import format_date, format_decimal, gettext, ngettext
from flask_babel import lazy_gettext as _l

from ..catalog import get_catalog

KIND_LABELS = {
    "signup": _l("Sign-up"), "renewal": _l("Renewal"), "upgrade": _l("Upgrade"),
    "prepaid": _l("Prepaid credit"), "sms_pack": _l("SMS credits"), "compatibility_pack": _l("Compatibility credits"),
    "reactivation": _l("Reactivation"),
}
STATUS_LABELS = {
    "open": _l("Awaiting payment"), "paid": _l("Paid"), "failed": _l("Payment failed"), "void": _l("Void"),
}
# The payment processor's calls an invoice lists (GatewayCall.op and .outcome).
GATEWAY_OP_LABELS = {
    "tokenize": _l("Card saved"), "authorize": _l("Authorization"), "capture": _l("Capture"),
    "void": _l("Authorization released"), "charge": _l("Charge"), "refund": _l("Refund"),
}
GATEWAY_OUTCOME_LABELS = {
    "succeeded": _l("Succeeded"), "declined": _l("Declined"), "unavailable": _l("Processor unavailable"),
    "authorized": _l("Authorized"), "voided": _l("Released"), "refunded": _l("Refunded"), "failed": _l("Failed"),
}
# A plan's tier and term inside a line ("Plus monthly"); the tiers are the names the dashboard shows.
TIER_NAMES = {"lite": _l("Lite"), "plus": _l("Plus"), "professional": _l("Professional"),
              "enterprise": _l("Enterprise")}
TERM_WORDS = {"monthly": _l("monthly"), "annual": _l("annual"), "trial": _l("trial")}
# Why a paid invoice was given back (billing.refunded_on_failure's reasons), shown on the voided invoice.
REFUND_REASONS = {
    "the account could not be created": _l("the account could not be created"),
    "the plan could not be changed": _l("the plan could not be changed"),
}


def kind_label(kind: str) -> str:
    return str(KIND_LABELS[kind]) if kind in KIND_LABELS else kind.replace("_", " ")


def status_label(status: str) -> str:
    return str(STATUS_LABELS[status]) if status in STATUS_LABELS else status


# ---- the data of a line, as the builders make it -----------------------------------------------------------

def plan_label(account: str, tier: str, term: str, contacts: int, start: date, end: date) -> dict:
    return {"kind": "plan", "account": account, "tier": tier, "term": term, "contacts": int(contacts),
            "start": start.isoformat(), "end": end.isoformat()}


def upgrade_label(account: str, tier: str, term: str, contacts: int, days: int) -> dict:
    return {"kind": "upgrade", "account": account, "tier": tier, "term": term, "contacts": int(contacts),
            "days": int(days)}


def prepaid_label(account: str | None) -> dict:
    return {"kind": "prepaid", "account": account}


def pack_label(what: str, credits: int, account: str | None) -> dict:
    """`what`: "sms" or "compatibility"; no account: the agency's pool."""
    return {"kind": f"{what}_pack", "credits": int(credits), "account": account}


# ---- the English forms written before (and by callers that give only a description) --------------------

_DAY = r"\d{4}-\d{2}-\d{2}"
_PLAN = re.compile(rf"^(?P<account>[^:]+): (?P<tier>\w+) (?P<term>monthly|annual|trial), (?P<contacts>[\d,]+) "
                   rf"contacts, (?P<start>{_DAY}) to (?P<end>{_DAY})$")
_UPGRADE = re.compile(r"^(?P<account>[^:]+): upgrade to (?P<tier>\w+) (?P<term>monthly|annual|trial), "
                      r"(?P<contacts>[\d,]+) contacts, pro rata for (?P<days>\d+) days$")
_PREPAID = re.compile(r"^Prepaid credit(?: for (?P<account>.+))?$")
_PACK = re.compile(r"^(?P<credits>[\d,]+) (?P<what>SMS|compatibility) credits for (?P<account>.+)$")


def _tier_key(text: str) -> str | None:
    text = text.strip().lower()
    for key, tier in get_catalog().tier_by_key.items():
        if text in (key, tier.label.lower()):
            return key
    return None


def parse(description: str | None) -> dict | None:
    """The data of a line from its English description, or None when it is in no known form."""
    text = (description or "").strip()
    for pattern in (_PLAN, _UPGRADE):
        match = pattern.match(text)
        if match:
            tier = _tier_key(match["tier"])
            if tier is None:
                return None
            contacts = int(match["contacts"].replace(",", ""))
            if pattern is _PLAN:
                return plan_label(match["account"], tier, match["term"], contacts,
                                  date.fromisoformat(match["start"]), date.fromisoformat(match["end"]))
            return upgrade_label(match["account"], tier, match["term"], contacts, int(match["days"]))
    match = _PREPAID.match(text)
    if match:
        return prepaid_label(match["account"])
    match = _PACK.match(text)
    if match:
        return pack_label("sms" if match["what"] == "SMS" else "compatibility",
                          int(match["credits"].replace(",", "")),
                          None if match["account"] == "the agency's pool" else match["account"])
    return None


# ---- in the reader's language ----------------------------------------------------------------------------

def _contacts(n: int) -> str:
    return ngettext("%(contacts)s contact", "%(contacts)s contacts", n, contacts=format_decimal(n))


def _plan(data: dict) -> tuple[str, str]:
    tier, term = data.get("tier"), data.get("term")
    return (str(TIER_NAMES[tier]) if tier in TIER_NAMES else str(tier),
            str(TERM_WORDS[term]) if term in TERM_WORDS else str(term))


def render(data: dict | None, description: str = "") -> str:
    """A line in the reader's language (the request's, or the one `i18n.reader` sets)."""
    try:
        return _render(data) if data else description
    except (KeyError, TypeError, ValueError):
        return description  # data of a form this release does not know: its English words


def _render(data: dict) -> str:
    kind = data["kind"]
    if kind == "plan":
        tier, term = _plan(data)
        return gettext("%(account)s: %(tier)s %(term)s, %(contacts)s, %(start)s to %(end)s",
                       account=data["account"], tier=tier, term=term, contacts=_contacts(data["contacts"]),
                       start=format_date(date.fromisoformat(data["start"])),
                       end=format_date(date.fromisoformat(data["end"])))
    if kind == "upgrade":
        tier, term = _plan(data)
        days = ngettext("%(num)d day", "%(num)d days", data["days"])
        return gettext("%(account)s: upgrade to %(tier)s %(term)s, %(contacts)s, pro rata for %(days)s",
                       account=data["account"], tier=tier, term=term, contacts=_contacts(data["contacts"]), days=days)
    if kind == "prepaid":
        if data.get("account"):
            return gettext("Prepaid credit for %(account)s", account=data["account"])
        return gettext("Prepaid credit")
    if kind in ("sms_pack", "compatibility_pack") and not data.get("account"):
        if kind == "sms_pack":
            return ngettext("%(credits)s SMS credit for the agency's pool", "%(credits)s SMS credits for the agency's pool",
                            data["credits"], credits=format_decimal(data["credits"]))
        return ngettext("%(credits)s compatibility credit for the agency's pool",
                        "%(credits)s compatibility credits for the agency's pool",
                        data["credits"], credits=format_decimal(data["credits"]))
    if kind == "sms_pack":
        return ngettext("%(credits)s SMS credit for %(account)s", "%(credits)s SMS credits for %(account)s",
                        data["credits"], credits=format_decimal(data["credits"]), account=data["account"])
    if kind == "compatibility_pack":
        return ngettext("%(credits)s compatibility credit for %(account)s",
                        "%(credits)s compatibility credits for %(account)s",
                        data["credits"], credits=format_decimal(data["credits"]), account=data["account"])
    raise KeyError(kind)


def lines(invoice) -> list[dict]:
    """The invoice's lines as a page or a PDF shows them."""
    return [{"label": render(line.label or parse(line.description), line.description), "quantity": line.quantity,
             "unit_cents": line.unit_cents, "amount_cents": line.amount_cents} for line in invoice.lines]
