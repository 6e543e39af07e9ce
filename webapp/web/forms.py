"""Form helpers shared by the areas."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from babel import support
from flask import current_app, request
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path

from ..services.errors import ServiceError, ValidationFailed
from ..services.validation import text_problem

# WTForms' own messages ("Not a valid integer value.") per locale, read once per process. Flask-WTF
# reads and parses the catalogue again on every request that shows a form (3 % of the account page's CPU).
_WTFORMS_TRANSLATIONS: dict[str, support.Translations] = {}


class Form(FlaskForm):
    """Every form of the app: Flask-WTF's CSRF and translations, the catalogue kept per locale."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            locale = str(get_locale() or "en")
            translations = _WTFORMS_TRANSLATIONS.get(locale)
            if translations is None:
                translations = _WTFORMS_TRANSLATIONS[locale] = support.Translations.load(
                    messages_path(), [locale], domain="wtforms")
            return translations

    def validate(self, extra_validators=None) -> bool:
        """The form's own checks, and on every text field the one every service relies on: nothing the
        database cannot store (a NUL character) goes further, whatever the field."""
        valid = super().validate(extra_validators)
        for field in self:
            problem = text_problem(field.data)
            if problem:
                field.errors = [*field.errors, problem]
                valid = False
        return valid


def apply_errors(form: Form, exc: ValidationFailed) -> None:
    """Shows a service's field errors next to the form's fields; the rest as form errors."""
    for name, message in exc.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)
    if not exc.fields:
        form.form_errors.append(exc.message)


@dataclass(frozen=True)
class Submission:
    """How a form view's POST went: `done` with the service's answer in `value`, or not, with the status
    the page is shown with (200 when nothing was posted, 422 (or the service's 409) when refused)."""

    done: bool
    status: int = 200
    value: Any = None


def add_untold(form: Form, check: Callable[[], Any]) -> None:
    """After the form's own checks failed: the service's checks of the same input (`check` writes nothing and
    raises ValidationFailed), said by the fields the form found nothing wrong with, so that a person fixes
    everything in one go instead of meeting the service's objections on the next try."""
    try:
        check()
    except ValidationFailed as exc:
        untold = {name: message for name, message in exc.fields.items()
                  if not getattr(getattr(form, name, None), "errors", None)}
        if untold:
            apply_errors(form, ValidationFailed(exc.message, untold))


def submit(form: Form, action: Callable[[], Any], *, refusals: type[ServiceError] = ValidationFailed,
           check: Callable[[], Any] | None = None) -> Submission:
    """The form views' one pattern: on a POST, the form's own checks, then the service (`action`); what
    the service refuses is shown by the fields (apply_errors). `check`: the service's checks alone, run
    when the form's fail (add_untold)."""
    if request.method != "POST":
        return Submission(False, 200)
    if not form.validate_on_submit():
        if check is not None:
            add_untold(form, check)
        return Submission(False, 422)
    try:
        return Submission(True, 303, action())
    except refusals as exc:
        apply_errors(form, exc)
        return Submission(False, exc.status if exc.status in (409, 422) else 422)
