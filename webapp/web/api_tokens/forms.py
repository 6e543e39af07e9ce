from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from ...services.api_tokens import NAME_MAX, SCOPE_LABELS
from ...services.webhooks import DESCRIPTION_MAX, URL_MAX
from ..forms import Form


class TokenForm(Form):
    name = StringField(_l("Token name"), validators=[DataRequired(_l("Give the token a name.")),
                                                     Length(max=NAME_MAX)])
    scope = SelectField(_l("Access"), choices=list(SCOPE_LABELS.items()), default="read_write",
                        validators=[DataRequired(_l("Choose read only, or read and write."))])
    expires_on = DateField(_l("Expires after (optional)"), validators=[Optional()],
                           description=_l("The last day it works, in UTC. Leave it empty for a token that does not "
                                          "expire."))


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


class WebhookForm(Form):
    """A webhook endpoint: where events are sent and which ones. The event checkboxes are the service's
    EVENT_LABELS, given by the view (`event_labels`), so the form names no event itself."""

    # Required, https, public, which events: the service's rules (webhooks.url_problem, _events_problem), told
    # for every field at once; the form only bounds what the browser sends.
    url = StringField(_l("Endpoint URL"), validators=[Length(max=URL_MAX)], filters=[_stripped],
                      description=_l("An https address of your own system, for example "
                                     "https://crm.example.com/hooks/agencyhq."))
    description = StringField(_l("Description (optional)"), validators=[Optional(), Length(max=DESCRIPTION_MAX)],
                              filters=[_stripped])
    events = SelectMultipleField(_l("Events to send"))

    def __init__(self, *args, event_labels: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.events.choices = [(kind, str(text)) for kind, text in event_labels.items()]


class WebhookEnabledForm(Form):
    """Turning an endpoint on or off: the one hidden field its button posts."""

    enabled = HiddenField(validators=[AnyOf(["yes", "no"])])
