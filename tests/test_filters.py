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


def test_form_messages_of_wtforms_are_translated_and_read_once_per_locale(app):
    """Form (webapp/web/forms.py) keeps WTForms' catalogue per locale: Flask-WTF read and parsed it on
    every request that showed a form."""
    from wtforms import IntegerField

    from webapp.web import forms

    class AmountForm(forms.Form):
        amount = IntegerField()

    app.config["WTF_CSRF_ENABLED"] = False
    forms._WTFORMS_TRANSLATIONS.clear()
    messages = {}
    for lang in ("fr", "en", "fr"):
        with app.test_request_context("/api/v1/x", method="POST", data={"amount": "abc"},
                                      headers={"Accept-Language": lang}):
            form = AmountForm()
            assert not form.validate()
            messages.setdefault(lang, []).append(form.amount.errors[0])
    assert messages["fr"] == ["N'est pas un entier valide."] * 2
    assert messages["en"] == ["Not a valid integer value."]
    assert sorted(forms._WTFORMS_TRANSLATIONS) == ["en", "fr"]


def test_every_form_uses_the_app_form_class():
    """A form made straight from FlaskForm would read WTForms' catalogue on every request again."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1] / "webapp"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "FlaskForm" in p.read_text() and p.name != "forms.py" or
                 (p.name == "forms.py" and p.parent.name != "web" and "FlaskForm" in p.read_text())]
    assert offenders == []
