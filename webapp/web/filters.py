"""Template filters: money from integer cents, times in the viewer's zone."""
from __future__ import annotations

from flask import g
from flask_babel import lazy_gettext as _l
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale

from ..catalog import get_catalog


def money(cents: int | None, currency: str | None = None) -> str:
    if cents is None:
        return "—"
    return format_currency(cents / 100, currency or get_catalog().currency)


LABELS = {
    "status": {"provisioning": _l("Provisioning"), "active": _l("Active"), "cancelled": _l("Cancelled"),
               "disabled": _l("Disabled"), "expired": _l("Expired")},
    "term": {"monthly": _l("Monthly"), "annual": _l("Annual"), "trial": _l("Trial")},
    "tier": {"lite": _l("Lite"), "plus": _l("Plus"), "professional": _l("Professional"),
             "enterprise": _l("Enterprise")},
}


def label(kind: str, key: str) -> str:
    """The translated name of a status, term or tier, translated once per request (tables call
    this for every row, and each gettext costs a context look-up)."""
    cache = g.setdefault("_labels", {})
    if kind not in cache:
        cache[kind] = {k: str(v) for k, v in LABELS[kind].items()}
    return cache[kind].get(key, key)


def register(app) -> None:
    app.jinja_env.globals["label"] = label
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["number"] = lambda v: format_decimal(v) if v is not None else "—"
    app.jinja_env.filters["datetime"] = lambda v, fmt="medium": format_datetime(v, fmt) if v else "—"
    app.jinja_env.filters["date"] = lambda v, fmt="medium": format_date(v, fmt) if v else "—"
