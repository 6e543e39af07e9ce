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
    """The purchase to preview (a GET: nothing changes) and, with its token, to confirm (a POST)."""
    amount = SelectField(_l("Amount"), coerce=int, validators=[DataRequired(_l("Choose an amount."))],
                         validate_choice=False)
    account = StringField(_l("For one account (optional: else into your pool)"),
                          validators=[Optional(), Length(max=40)])
    request_key = HiddenField()
    quote = HiddenField()


class PackForm(Form):
    account = StringField(_l("For one account (optional: else into your pool)"),
                          validators=[Optional(), Length(max=40)])
    pack = SelectField(_l("Pack"), validators=[DataRequired(_l("Choose a pack."))], validate_choice=False)
    request_key = HiddenField()
    quote = HiddenField()


class MoveForm(Form):
    """B3, B6, B7: credit from the pool to an account, between accounts, or back to the pool."""
    amount = StringField(_l("Amount to move"), validators=[DataRequired(_l("Enter how much to move.")), Length(max=20)])
    source = StringField(_l("From (an account's name, or empty for your pool)"),
                         validators=[Optional(), Length(max=40)])
    target = StringField(_l("To (an account's name, or empty for your pool)"),
                         validators=[Optional(), Length(max=40)])
    kind = HiddenField()
    request_key = HiddenField()


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
