"""The forms only parse: the rules (required, at most 5 000 characters, own account) are the
contact service's, so the views and any other caller refuse the same things."""
from flask_babel import lazy_gettext as _l
from wtforms import StringField, TextAreaField

from ..forms import Form


class TicketForm(Form):
    subject = StringField(_l("Subject"))
    message = TextAreaField(_l("Message"), render_kw={"rows": 6})
    account = StringField(_l("About one of your accounts (optional)"))


class ChatForm(Form):
    body = TextAreaField(_l("Your message"), render_kw={"rows": 3})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="chat", **kwargs)
