from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Form


class PasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your current password.")), Length(max=200)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password.")), Length(max=200)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[DataRequired(_l("Repeat the new password.")), Length(max=200)])


class PreferencesForm(Form):
    language = SelectField(_l("Language"), validators=[DataRequired()])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])


class NameForm(Form):
    name = StringField(_l("Your name"), validators=[DataRequired(_l("Enter your name.")), Length(max=120)])


class EmailForm(Form):
    email = StringField(_l("New e-mail"), validators=[DataRequired(_l("Enter the new e-mail.")), Length(max=254)])


class TwoFactorForm(Form):
    code = StringField(_l("Code from the app"), validators=[DataRequired(_l("Enter the 6-digit code the app shows.")),
                                                           Length(max=20)])


class NoticeSettingsForm(Form):
    """The agency's notification settings; the e-mail and the language are checked by the service."""

    notice_email = StringField(_l("Send agency notices to"), validators=[Optional(), Length(max=254)])
    notice_language = SelectField(_l("Language of agency notices"), validate_choice=False)  # the service checks it
    notify_receipts = BooleanField(_l("Renewal receipts"))
    receipt_digest = BooleanField(_l("A daily digest instead of receipts when more than 5 accounts renew the same day"))
    notify_upcoming = BooleanField(_l("Upcoming annual renewals, 7 days before"))


class ButtonForm(Form):
    """A POST button: only its CSRF token."""
