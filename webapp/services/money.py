"""Money is integer cents with a currency; this turns it into text for people."""
from __future__ import annotations

from babel.numbers import format_currency


def format_money(cents: int, currency: str = "USD", locale: str = "en") -> str:
    return format_currency(cents / 100, currency, locale=locale)
