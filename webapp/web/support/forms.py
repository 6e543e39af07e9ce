"""The support console's forms; the services check the rules and say which field is wrong."""
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import Length

from ..forms import Form


class NewAgencyForm(Form):
    # The names are the service's field names, so its messages land beside the right field.
    agency_name = StringField(_l("Agency name"), validators=[Length(max=120)])
    email = EmailField(_l("Owner's e-mail"), validators=[Length(max=254)])
    name = StringField(_l("Owner's name (optional)"), validators=[Length(max=120)])


class ReasonForm(Form):
    """Reject, suspend, log into an account: the reason is told to the agency and kept in the audit log."""
    reason = TextAreaField(_l("Reason"), validators=[Length(max=500)])


class LoginAsForm(Form):
    reason = StringField(_l("Reason"), validators=[Length(max=500)])
