"""Template filters: money from integer cents, times in the viewer's zone."""
from __future__ import annotations

from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale

from ..catalog import get_catalog


def money(cents: int | None, currency: str | None = None) -> str:
    if cents is None:
        return "—"
    return format_currency(cents / 100, currency or get_catalog().currency)


def register(app) -> None:
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["number"] = lambda v: format_decimal(v) if v is not None else "—"
    app.jinja_env.filters["datetime"] = lambda v, fmt="medium": format_datetime(v, fmt) if v else "—"
    app.jinja_env.filters["date"] = lambda v, fmt="medium": format_date(v, fmt) if v else "—"
