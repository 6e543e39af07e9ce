"""The agency's reply to a report. The form only parses: the rules (required, at most 5 000 characters,
only an open report) are the reports service's."""
from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField

from ..forms import Form


class AcknowledgeForm(Form):
    reply = TextAreaField(_l("Your reply to support"), render_kw={"rows": 5, "maxlength": 5000})
