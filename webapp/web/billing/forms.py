from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ...services import billing_details
from ..forms import Form


class CardForm(Form):
    # No name attribute is ever logged and the number is never stored: it goes to the gateway only.
    number = StringField(_l("Card number"), validators=[DataRequired(_l("Enter the card number.")), Length(max=30)])
    exp_month = IntegerField(_l("Expiry month"), validators=[DataRequired(_l("Enter the expiry month."))])
    exp_year = IntegerField(_l("Expiry year"), validators=[DataRequired(_l("Enter the expiry year."))])
    cvc = StringField(_l("Security code (CVC)"), validators=[DataRequired(_l("Enter the security code.")), Length(max=4)])


class ProcessorCardForm(Form):
    """The card saved by the processor's own form (Stripe.js): only its setup and our state come here."""

    setup_ref = HiddenField(validators=[DataRequired(_l("Enter the card in the card form first.")), Length(max=80)])
    state = HiddenField(validators=[DataRequired(_l("Enter the card in the card form first.")), Length(max=100)])


class PrepaidForm(Form):
    amount = SelectField(_l("Amount"), coerce=int, validators=[DataRequired(_l("Choose an amount."))])
    account = StringField(_l("Assign to one account (optional)"), validators=[Optional(), Length(max=40)])


class PackForm(Form):
    account = StringField(_l("Account"), validators=[DataRequired(_l("Enter the account's name.")), Length(max=40)])
    pack = SelectField(_l("Pack"), validators=[DataRequired(_l("Choose a pack."))])


class BillingDetailsForm(Form):
    """B4: who the invoices are made out to. services/billing_details checks it again for every caller."""

    legal_name = StringField(_l("Legal name"), validators=[
        DataRequired(_l("Enter the agency's legal name, as registered.")), Length(max=200)])
    address_line1 = StringField(_l("Address"), validators=[
        DataRequired(_l("Enter the street address.")), Length(max=200)])
    address_line2 = StringField(_l("Address, second line (optional)"), validators=[Optional(), Length(max=200)])
    postal_code = StringField(_l("Postal code"), validators=[Optional(), Length(max=20)])
    city = StringField(_l("City"), validators=[DataRequired(_l("Enter the city.")), Length(max=100)])
    # Any code is posted on to the service, which says "choose a country from the list" by the field.
    country = SelectField(_l("Country"), validators=[DataRequired(_l("Choose the country."))],
                          validate_choice=False)
    tax_id = StringField(_l("Tax id or VAT number (optional)"),
                         validators=[Optional(), Length(max=billing_details.LIMITS["tax_id"])])
