from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..forms import Form


class AccountLoginForm(Form):
    username = StringField(_l("Username"), default="admin",
                           validators=[DataRequired(_l("Enter your username.")), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)])


class LanguageForm(Form):
    """Issue 26: the login page's language picker, when the agency's branding offers it."""
    lang = SelectField(_l("Language"), choices=[])


class ForgotForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter the account's e-mail.")), Length(max=254)])


class NewPasswordForm(Form):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(_l("Enter a new password.")), Length(max=200)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[DataRequired(_l("Repeat the new password.")), Length(max=200)])


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[Length(max=200)])


class ClientTemplateForm(Form):
    name = StringField(_l("Name"))  # lengths are the service's rules, told next to the field
    tags = StringField(_l("Tags (separated by commas)"))
    html = TextAreaField(_l("HTML"))


class ImportTemplateForm(Form):
    link = StringField(_l("Template share link"), validators=[Length(max=500)])
