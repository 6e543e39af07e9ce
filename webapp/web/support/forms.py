"""The support console's forms; the services check the rules and say which field is wrong."""
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SelectField, StringField, TextAreaField
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


class ReportForm(Form):
    """S6: an abuse or bounce report. The choices are not checked here: the reports service says which
    field is wrong, in its words, for every caller alike."""
    account = StringField(_l("Account (its address)"), validators=[Length(max=40)])
    kind = SelectField(_l("Kind"), choices=[("abuse", _l("Abuse")), ("bounce", _l("Bounces"))], validate_choice=False)
    severity = SelectField(_l("Severity"), choices=[("low", _l("Low")), ("medium", _l("Medium")), ("high", _l("High"))],
                           default="medium", validate_choice=False)
    description = TextAreaField(_l("What happened"), render_kw={"rows": 3, "maxlength": 2000})
    evidence = TextAreaField(_l("Evidence (the complaint, the bounces or the log lines)"),
                             render_kw={"rows": 8, "maxlength": 20000})
    sample_message = TextAreaField(_l("Sample message (optional)"), render_kw={"rows": 6, "maxlength": 50000})
