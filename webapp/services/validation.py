"""Checks shared by forms, the JSON API and services, so a rule lives in one place."""
from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l


def text_problem(value) -> str | None:
    """Why a text cannot be stored, or None: a NUL character (PostgreSQL refuses it in text), or
    characters with no UTF-8 form (a lone surrogate such as "\\ud800", which JSON can carry)."""
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return str(_l("This text cannot be stored: it contains a NUL character."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return str(_l("This text cannot be stored: it contains characters that are not valid Unicode."))
    return None


def text_problems(**values) -> dict[str, str]:
    """{field: problem} for the texts among `values` that cannot be stored."""
    return {name: problem for name, value in values.items() if (problem := text_problem(value))}


def email_problem(address: str) -> str | None:
    """Why an e-mail address is refused, or None. No DNS look-up: only its shape. Test domains
    (.test, .localhost) are accepted unless ALLOW_TEST_EMAIL_DOMAINS is off (production)."""
    if text_problem(address):
        return text_problem(address)
    try:
        validate_email(address or "", check_deliverability=False,
                       test_environment=current_app.config.get("ALLOW_TEST_EMAIL_DOMAINS", True))
    except EmailNotValidError:
        return str(_l("Enter a valid e-mail address."))
    return None


class EmailAddress:
    """The WTForms validator on top of email_problem."""

    def __call__(self, form, field):
        from wtforms.validators import ValidationError
        problem = email_problem(field.data)
        if problem:
            raise ValidationError(problem)


HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def is_hex_color(value) -> bool:
    """A brand colour as #rrggbb (what the branding form accepts, and all an e-mail's style ever gets)."""
    return isinstance(value, str) and HEX_COLOR.match(value) is not None
