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


def test_formatted_values_are_shared_by_requests_of_one_locale_and_zone_only(app, monkeypatch):
    """The memo outlives a request (issue 10), so it must be keyed by the viewer's locale and zone."""
    instant = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
    seen = {}
    for lang, zone in [("en", "UTC"), ("fr", "Europe/Paris"), ("en", "Europe/Paris"), ("en", "UTC")]:
        monkeypatch.setattr(app.extensions["babel"], "locale_selector", lambda lang=lang: lang)
        monkeypatch.setattr(app.extensions["babel"], "timezone_selector", lambda zone=zone: zone)
        with app.test_request_context():
            text = (filters.format_datetime(instant, "short"), filters.label("status", "active"), filters.money(123456))
            expected = (dates.format_datetime(instant, "short", tzinfo=pytz.timezone(zone), locale=lang),
                        {"en": "Active", "fr": "Actif"}[lang], text[2])
            assert text == expected, (lang, zone)
            seen[(lang, zone)] = text
    assert seen[("fr", "Europe/Paris")][1] == "Actif" and "1 234,56" in seen[("fr", "Europe/Paris")][2].replace("\u202f", " ").replace("\xa0", " ")
    assert seen[("en", "UTC")][0] != seen[("en", "Europe/Paris")][0]  # 00:30 UTC is 01:30 in Paris
    assert {("en", "UTC"), ("fr", "Europe/Paris"), ("en", "Europe/Paris")} <= set(filters._SHARED)


def test_the_shared_memo_is_bounded(app, monkeypatch):
    monkeypatch.setattr(filters, "SHARED_LIMIT", 50)
    filters._SHARED.clear()
    for n in range(200):
        with app.test_request_context():
            filters.number(n)
    assert all(len(cache) <= 51 for cache in filters._SHARED.values())


def test_form_messages_of_wtforms_are_translated_and_read_once_per_locale(app, monkeypatch):
    """Form (webapp/web/forms.py) keeps WTForms' catalogue per locale: Flask-WTF read and parsed it on
    every request that showed a form."""
    from wtforms import IntegerField

    from webapp.web import forms

    class AmountForm(forms.Form):
        amount = IntegerField()

    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
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
    # Flask-WTF's switch still turns WTForms' translations off.
    monkeypatch.setitem(app.config, "WTF_I18N_ENABLED", False)
    with app.test_request_context("/api/v1/x", method="POST", data={"amount": "abc"},
                                  headers={"Accept-Language": "fr"}):
        form = AmountForm()
        assert not form.validate() and form.amount.errors == ["Not a valid integer value."]


def test_every_form_uses_the_app_form_class():
    """A form made straight from FlaskForm would read WTForms' catalogue on every request again."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1] / "webapp"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "FlaskForm" in p.read_text() and p.name != "forms.py" or
                 (p.name == "forms.py" and p.parent.name != "web" and "FlaskForm" in p.read_text())]
    assert offenders == []
