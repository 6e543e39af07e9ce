from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from ...models.automations import TRIGGER_KINDS
from ..forms import Form

TRIGGER_CHOICES = [SelectChoice("subscribes", _l("A contact subscribes to a list")),
                   SelectChoice("tag_added", _l("A tag is added")),
                   SelectChoice("date_based", _l("A date is reached (birthday, anniversary...)")),
                   SelectChoice("form_submitted", _l("A form is submitted"))]
assert {c.value for c in TRIGGER_CHOICES} == set(TRIGGER_KINDS)


class AutomationForm(Form):
    """P1: the automation's name and trigger; the steps are parsed by `parse_steps`."""
    name = StringField(_l("Name"))
    trigger_kind = SelectField(_l("Starts when"), choices=TRIGGER_CHOICES, validate_choice=False)
    trigger_value = StringField(_l("Which list, tag, date field or form"))


class PublishForm(Form):
    """P3: activation, then publish now, schedule, or keep as a draft."""
    activation = RadioField(_l("Activation"), choices=[
        SelectChoice("none", _l("Do not activate")), SelectChoice("at", _l("Activate at a date and time")),
        SelectChoice("on_push", _l("Activate as soon as it is pushed"))], default="none", validate_choice=False)
    activate_date = StringField(_l("Activation date"), render_kw={"type": "date"})
    activate_time = StringField(_l("Activation time"), render_kw={"type": "time"})
    activate_tz = StringField(_l("Activation time zone"))
    publish_date = StringField(_l("Publish date"), render_kw={"type": "date"})
    publish_time = StringField(_l("Publish time"), render_kw={"type": "time"})
    publish_tz = StringField(_l("Publish time zone"))
