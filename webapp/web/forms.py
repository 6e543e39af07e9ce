"""Form helpers shared by the areas."""
from __future__ import annotations

from flask_wtf import FlaskForm

from ..services.errors import ValidationFailed


def apply_errors(form: FlaskForm, exc: ValidationFailed) -> None:
    """Shows a service's field errors next to the form's fields; the rest as form errors."""
    for name, message in exc.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + [message]
        else:
            form.form_errors.append(message)
    if not exc.fields:
        form.form_errors.append(exc.message)
