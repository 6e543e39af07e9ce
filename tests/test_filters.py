"""Template filters: the memoised date-time formatting says exactly what babel says."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
import pytz
from babel import Locale, dates
from flask import g

from webapp.web import filters


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Pacific/Kiritimati", "Asia/Kolkata"])
def test_format_datetime_matches_babel_across_zones_daylight_saving_and_formats(app, locale, zone):
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # Random instants over two years, and the minutes around this zone's daylight-saving changes.
    instants = [start + timedelta(seconds=rng.randrange(2 * 365 * 86400)) for _ in range(300)]
    instants += [start + timedelta(days=d, hours=h, minutes=m) for d in (67, 68, 69, 88, 89, 305, 306, 307)
                 for h in range(24) for m in (0, 29, 59)]
    tz = pytz.timezone(zone)
    with app.test_request_context():
        g._viewer = (Locale.parse(locale), tz, {})
        for fmt in ("short", "medium", "long"):
            for instant in instants:
                expected = dates.format_datetime(instant, fmt, tzinfo=tz, locale=locale)
                assert filters.format_datetime(instant, fmt) == expected, (instant, fmt)
                naive = instant.replace(tzinfo=None)  # read from SQLite: UTC without its zone
                assert filters.format_datetime(naive, fmt) == expected, (naive, fmt)
    with app.test_request_context():
        assert filters.format_datetime(None) == "—"
