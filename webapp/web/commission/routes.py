"""The Commission tab (C1-C3) and the public referral sign-up page /r/<code>."""
from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...catalog import get_catalog
from ...extensions import db
from ...models import HostedAccount
from ...services import billing, commission, provisioning
from ...services.errors import ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, permission_required
from ..forms import apply_errors, submit
from ..rendering import render
from .blueprint import bp
from .forms import PaypalForm, ReferralForm


def _tab(form: PaypalForm | None = None):
    agency = current_user.agency
    if form is None:
        form = PaypalForm(data={"paypal_email": agency.paypal_email or ""})
    return render("commission/index.html", agency=agency, form=form,
                  referral_url=commission.referral_url(agency),
                  accounts=commission.referred_accounts(agency.id), ledger=commission.ledger(agency.id),
                  payouts=commission.payout_history(agency.id), next_payout=commission.status_for(agency),
                  rate_bp=get_catalog().commission_rate_bp)


@bp.route("/commission", methods=["GET"])
@agency_required
@permission_required("view")
def index():
    return _tab()


@bp.route("/commission/settings", methods=["POST"])
@agency_required
@permission_required("billing")
def settings():
    form = PaypalForm()
    if submit(form, lambda: commission.set_paypal_email(current_user.agency_id, form.paypal_email.data,
                                                        actor=current_actor())).done:
        flash(_("Your PayPal e-mail was saved. Payouts go to it from now on."), "success")
        return redirect(url_for("commission.index"), code=303)
    return _tab(form), 422


# ---- the client's side: no login ---------------------------------------------------------------------

def _referral_form(formdata=True) -> ReferralForm:
    catalog = get_catalog()
    form = ReferralForm() if formdata else ReferralForm(formdata=None)
    form.tier.choices = [(t.key, t.label) for t in catalog.tiers]
    form.term.choices = [(k, catalog.terms[k]["label"]) for k in commission.SIGNUP_TERMS]
    form.contact_limit.choices = [(n, f"{n:,}") for n in catalog.contact_limits]
    if not form.request_key.data:
        form.request_key.data = commission.new_request_key()
    if billing.gateway().collects_card:
        for name in ("number", "exp_month", "exp_year", "cvc"):
            delattr(form, name)
    return form


def _card_setup(agency, form):
    """Under Stripe, a fresh card form (SetupIntent) for this referral page; None under the sandbox."""
    if not billing.gateway().collects_card:
        return None
    try:
        setup = billing.start_card_setup(agency.id, purpose="referral")
    except ServiceError as exc:
        form.form_errors.append(_("The card form could not be loaded: %(reason)s", reason=str(exc)))
        return False
    form.setup_ref.data, form.state.data = setup.setup_ref, setup.state
    return setup


def _signup_page(agency, form, code, status=200):
    setup = _card_setup(agency, form)
    if setup is False:
        setup, status = None, 503
    return render("commission/signup.html", agency=agency, form=form, code=code, catalog=get_catalog(),
                  setup=setup), status


@bp.route("/r/<code>", methods=["GET"])
def referral(code):
    agency = commission.agency_by_code(code)
    return _signup_page(agency, _referral_form(formdata=False), code)


@bp.route("/r/<code>", methods=["POST"])
def referral_signup(code):
    agency = commission.agency_by_code(code)
    form = _referral_form()
    if form.validate_on_submit():
        card = ({"setup_ref": form.setup_ref.data, "state": form.state.data} if billing.gateway().collects_card else
                {"number": form.number.data, "exp_month": form.exp_month.data, "exp_year": form.exp_year.data,
                 "cvc": form.cvc.data})
        data = commission.Referral(
            name=form.name.data, client_name=form.client_name.data, client_email=form.client_email.data,
            tier=form.tier.data, term=form.term.data, contact_limit=form.contact_limit.data, **card)
        try:
            account, op = commission.sign_up(code, data, request_key=form.request_key.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
            form.request_key.data = commission.new_request_key()  # the next try is a new payment
            if exc.fields and "number" in exc.fields and len(exc.fields) == 1:
                form.form_errors.append(exc.message)
        else:
            token = commission.issue_welcome_token(op)
            return redirect(url_for("commission.welcome", code=code, token=token), code=303)
    if not billing.gateway().collects_card:
        form.number.data = form.cvc.data = ""  # never echo a card number back
    return _signup_page(agency, form, code, 422)


@bp.route("/r/<code>/welcome/<token>", methods=["GET"])
def welcome(code, token):
    """Only the browser that signed up holds the token of its welcome page (the password is shown once)."""
    op = commission.welcome_operation(commission.agency_by_code(code), token)
    account = db.session.get(HostedAccount, op.subject_id)
    credentials = provisioning.read_credentials(op) if op.status == "succeeded" else None
    if credentials is not None and credentials["password"] is None:
        credentials = None
    response = render("commission/welcome.html", "commission/_welcome_status.html", account=account, op=op,
                      credentials=credentials, code=code, token=token)
    response.headers["Cache-Control"] = "no-store"
    return response
