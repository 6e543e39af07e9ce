from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..forms import Form


class LoginForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail.")), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                         Length(max=200)])
    remember = BooleanField(_l("Keep me logged in on this computer"))


class ReauthForm(Form):
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                         Length(max=200)])
    code = StringField(_l("Code from your app, or a recovery code"), validators=[Length(max=20)])


class CodeForm(Form):
    code = StringField(_l("Code from your app, or a recovery code"),
                       validators=[DataRequired(_l("Enter the code.")), Length(max=20)])


class SignupForm(Form):
    # Lengths and shapes are the service's rules, told next to each field.
    agency_name = StringField(_l("Agency name"))
    name = StringField(_l("Your name"))
    email = EmailField(_l("Work e-mail"))
    password = PasswordField(_l("Password"))
    timezone = StringField(_l("Time zone"), default="Europe/Paris")
    language = SelectField(_l("Language"), validate_choice=False)


class EmailOnlyForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail.")), Length(max=254)])


class NewPasswordForm(Form):
    new_password = PasswordField(_l("New password"), validators=[Length(max=200)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[Length(max=200)])
