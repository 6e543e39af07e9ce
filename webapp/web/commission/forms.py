from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..forms import Form


class PaypalForm(Form):
    paypal_email = StringField(_l("PayPal e-mail"), validators=[DataRequired(_l("Enter your PayPal e-mail.")),
                                                                Length(max=254)])


class ReferralForm(Form):
    request_key = HiddenField()
    # Under Stripe the card fields below are removed and Stripe's form confirms a SetupIntent instead.
    setup_ref = HiddenField(validators=[Length(max=80)])
    state = HiddenField(validators=[Length(max=100)])
    name = StringField(_l("Account name"), validators=[DataRequired(_l("Choose an account name.")), Length(max=40)])
    client_name = StringField(_l("Your name or company"),
                              validators=[DataRequired(_l("Enter your name or your company's.")), Length(max=120)])
    client_email = StringField(_l("Contact e-mail"), validators=[DataRequired(_l("Enter your e-mail.")),
                                                                 Length(max=254)])
    tier = SelectField(_l("Plan"), validators=[DataRequired(_l("Choose a plan tier."))])
    term = SelectField(_l("Billing"), validators=[DataRequired(_l("Choose monthly or annual."))])
    contact_limit = SelectField(_l("Contacts"), coerce=int, validators=[DataRequired(_l("Choose a contact limit."))])
    number = StringField(_l("Card number"), validators=[DataRequired(_l("Enter the card number.")), Length(max=30)])
    exp_month = IntegerField(_l("Expiry month"), validators=[DataRequired(_l("Enter the expiry month."))])
    exp_year = IntegerField(_l("Expiry year"), validators=[DataRequired(_l("Enter the expiry year."))])
    cvc = StringField(_l("Security code (CVC)"), validators=[DataRequired(_l("Enter the security code.")),
                                                             Length(max=4)])
