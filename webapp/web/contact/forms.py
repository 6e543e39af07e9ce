"""The forms only parse: the rules (required, at most 5 000 characters, own account) are the
contact service's, so the views and any other caller refuse the same things."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField


class TicketForm(FlaskForm):
    subject = StringField(_l("Subject"))
    message = TextAreaField(_l("Message"), render_kw={"rows": 6})
    account = StringField(_l("About one of your accounts (optional)"))


class ChatForm(FlaskForm):
    body = TextAreaField(_l("Your message"), render_kw={"rows": 3})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="chat", **kwargs)
