"""Checks shared by forms, the JSON API and services, so a rule lives in one place."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l


def email_problem(address: str) -> str | None:
    """Why an e-mail address is refused, or None. No DNS look-up: only its shape. Test domains
    (.test, .localhost) are accepted unless ALLOW_TEST_EMAIL_DOMAINS is off (production)."""
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
