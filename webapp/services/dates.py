"""Calendar arithmetic for renewal days."""
from __future__ import annotations

import calendar
from datetime import date


def add_months(day: date, months: int, anchor_day: int | None = None) -> date:
    """`day` moved by `months`, on `anchor_day` (default: day's own), clamped to the month's end:
    an account created on the 31st renews on the 30th in April and on the 31st again in May."""
    anchor = anchor_day or day.day
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor, last))
