"""Calendar arithmetic for renewal days, and the time zones people may choose."""
from __future__ import annotations

import calendar
from datetime import date
from functools import lru_cache
from zoneinfo import available_timezones


@lru_cache(maxsize=1)
def timezones() -> tuple[str, ...]:
    """The time zones offered and accepted everywhere (preferences, Add New, scheduled pushdowns): the
    IANA "Area/Place" names and UTC, sorted."""
    return tuple(sorted(tz for tz in available_timezones() if "/" in tz or tz == "UTC"))


@lru_cache(maxsize=1)
def timezone_set() -> frozenset[str]:
    return frozenset(timezones())


def add_months(day: date, months: int, anchor_day: int | None = None) -> date:
    """`day` moved by `months`, on `anchor_day` (default: day's own), clamped to the month's end:
    an account created on the 31st renews on the 30th in April and on the 31st again in May."""
    anchor = anchor_day or day.day
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor, last))
