from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ...services.validation import EmailAddress
from ..forms import Form
from ..plan_change import PlanFields


class ClientFields:
    """The client's details: asked at Add New, editable afterwards, with the same checks."""
    client_name = StringField(_l("Client name"), validators=[DataRequired(_l("Enter the client's name.")), Length(max=120)])
    client_email = EmailField(_l("Client e-mail"), validators=[
        DataRequired(_l("Enter the client's e-mail.")), EmailAddress(), Length(max=254)])
    notification_email = EmailField(_l("Notification e-mail"), validators=[
        DataRequired(_l("Enter where we should write about this account.")),
        EmailAddress(), Length(max=254)])
    language = SelectField(_l("Language"), validators=[DataRequired()])
    timezone = StringField(_l("Time zone"), validators=[DataRequired(_l("Choose a time zone.")), Length(max=64)])


class NewAccountForm(PlanFields, ClientFields, Form):
    name = StringField(_l("Account name"), validators=[DataRequired(_l("Enter the account's name.")), Length(max=40)])
    custom_domain = StringField(_l("Custom domain (optional)"), validators=[Optional(), Length(max=253)])
    request_key = HiddenField()


class DetailsForm(ClientFields, Form):
    pass


class DomainForm(Form):
    domain = StringField(_l("Custom domain"), validators=[Optional(), Length(max=253)])
