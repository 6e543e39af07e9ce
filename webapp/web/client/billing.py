"""The Billing page of a hosted account that pays its own way (issue 22: a referred account, C1, or a
detached one, A4), on its own host, for its `admin`: the card, the invoices, change plan (a preview, then its
Confirm), cancel and resume. A resold account has no such page (404): its agency pays."""
from __future__ import annotations

from functools import partial

from flask import flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ...catalog import get_catalog
from ...services import account_billing, accounts, billing, invoice_documents, renewals
from ...services.errors import Forbidden, ServiceError, ValidationFailed
from ..billing.forms import CardForm, ProcessorCardForm
from ..decorators import account_admin_required
from ..filters import format_date, money
from .. import plan_change
from ..forms import apply_errors
from ..rendering import render, wants_fragment
from .blueprint import bp
from .library import _actor

# The Billing page stays open to the client of an account closed for want of payment (B8: disabled unpaid;
# A7: expired), so that it can add a card or renew: the rest of the app waits for that.
BILLING_ENDPOINTS = {"client.billing", "client.billing_card", "client.billing_plan", "client.billing_plan_confirm",
                     "client.billing_cancel", "client.billing_resume", "client.billing_invoice"}


def open_when_closed(account, endpoint: str | None) -> bool:
    """Whether `endpoint` still answers for this closed account: its Billing page (and logging in to reach
    it) when the account pays its own way and is closed for a reason its client can end by paying."""
    if not account_billing.pays_its_own_way(account):
        return False
    unpaid = account.status == "disabled" and account.disabled_reason in (None, "unpaid")
    if not (unpaid or account.status == "expired"):
        return False
    return endpoint in BILLING_ENDPOINTS | {"client.login", "client.forgot", "client.reset", "client.login_as"}


def _account():
    """The signed-in account, if it pays its own way (a resold one has no Billing page: 404), and only for its
    `admin`: another user of the account is told so."""
    account = account_billing.require_own_billing(g.account)
    if not session.get("signed_in_by") and getattr(current_user, "username", None) != "admin":
        raise Forbidden(_("Only the account's admin can see and change its billing. Ask them to sign in."))
    return account


def _by_agency() -> bool:
    """Signed in by the agency or support (A10): they see the page, only the client's admin pays."""
    return bool(session.get("signed_in_by"))


def _card_form(account):
    """The card form: AgencyHQ's own (the sandbox) or the processor's (Stripe.js), with its setup; None
    while the agency is signed in (it does not save the client's card)."""
    if _by_agency():
        return None, None
    if not billing.gateway().collects_card:
        form = CardForm(formdata=None)
        form.number.data = form.cvc.data = ""  # never echo a card number back
        return form, None
    form = ProcessorCardForm(formdata=None)
    try:
        setup = account_billing.start_card_setup(account, _actor())
    except ServiceError as exc:
        form.form_errors.append(_("The card form could not be loaded: %(reason)s", reason=exc.message))
        return form, None
    form.setup_ref.data, form.state.data = setup.setup_ref, setup.state
    return form, setup


def _page(account, *, card_form=None, setup=None, status: int = 200):
    if card_form is None:
        card_form, setup = _card_form(account)
    unpaid = account_billing.unpaid_renewal(account)
    response = render(
        "client/billing.html", account=account, card=account_billing.card_of(account), card_form=card_form,
        setup=setup, invoices=account_billing.invoices(account), unpaid=unpaid,
        unpaid_reason=renewals.CLIENT_DECLINE_REASONS.get(unpaid.decline_code) or billing.decline_reason(unpaid)
        if unpaid else None,
        plan_form=plan_change.choice_form(account, {}), by_agency=_by_agency(),
        renewal_cents=renewals.renewal_price_cents(account) if account.plan_term != "trial" else None,
        next_plan=renewals.next_renewal_plan(account), resumable=accounts.resumable(account),
        currency=get_catalog().currency)
    response.status_code = status
    return response


@bp.route("/app/billing", endpoint="billing")
@account_admin_required
def billing_page():
    return _page(_account())


@bp.route("/app/billing/card", methods=["POST"])
@account_admin_required
def billing_card():
    """Adds or replaces the client's card; its unpaid renewals are tried on it at once (B8)."""
    account = _account()
    actor = _actor()
    account_billing.require_billing_admin(account, actor)
    processor = billing.gateway().collects_card
    form = ProcessorCardForm() if processor else CardForm()
    if not form.validate_on_submit():
        if processor:
            card_form, setup = _card_form(account)
            card_form.form_errors.extend(e for errors in form.errors.values() for e in errors)
            return _page(account, card_form=card_form, setup=setup, status=422)
        form.number.data = form.cvc.data = ""
        return _page(account, card_form=form, status=422)
    try:
        if processor:
            saved = account_billing.save_card_from_setup(account, setup_ref=form.setup_ref.data, state=form.state.data,
                                                         actor=actor)
        else:
            saved = account_billing.save_card(account, number=form.number.data, exp_month=form.exp_month.data,
                                              exp_year=form.exp_year.data, cvc=form.cvc.data, actor=actor)
    except ValidationFailed as exc:
        if processor:
            card_form, setup = _card_form(account)
            card_form.form_errors.append(exc.fields.get("number") or exc.message)
            return _page(account, card_form=card_form, setup=setup, status=422)
        apply_errors(form, exc)
        form.number.data = form.cvc.data = ""
        return _page(account, card_form=form, status=422)
    flash(_("Your card was saved. This account's renewals are charged to it."), "success")
    if saved.retried:
        flash(ngettext("%(num)d unpaid renewal is being charged to this card now.",
                       "%(num)d unpaid renewals are being charged to this card now.", saved.retried), "info")
    return redirect(url_for("client.billing"), code=303)


# ---- change plan: a preview, then its Confirm ---------------------------------------------------------------

def _plan_page(account, form, *, quote=None, status=200, request_key=None, problem=None):
    if problem:
        form.form_errors.append(problem)
    response = render("client/billing_plan.html", "client/_plan_preview.html", account=account, form=form,
                      quote=quote, confirm=plan_change.confirm_form("confirm", quote, request_key),
                      card=account_billing.card_of(account), by_agency=_by_agency())
    # htmx swaps no 4xx answer: the preview comes back in place (200) with what is wrong.
    response.status_code = 200 if wants_fragment() else status
    return response


@bp.route("/app/billing/plan")
@account_admin_required
def billing_plan():
    """What the chosen plan charges today (to the client's card) and at each renewal; nothing is charged."""
    account = _account()
    account_billing.require_billing_admin(account, _actor())
    return plan_change.show(account, actor=_actor(), page=partial(_plan_page, account))


@bp.route("/app/billing/plan", methods=["POST"])
@account_admin_required
def billing_plan_confirm():
    """The confirming press: charged to the client's card only if the figures shown are still today's."""
    account = _account()
    account_billing.require_billing_admin(account, _actor())
    result, again = plan_change.confirm(
        account, prefix="confirm", actor=_actor(), page=partial(_plan_page, account),
        declined=lambda reason: _("Your card was declined: %(reason)s Nothing was charged and the plan was not "
                                  "changed.", reason=reason))
    if again is not None:
        return again
    if result["change"] == "downgrade":
        flash(_("The new plan starts at the next renewal, on %(day)s. Nothing was charged today.",
                day=format_date(result["effective"])), "success")
    else:
        invoice = result.get("invoice")
        flash(_("The plan was changed. Charged to your card now: %(amount)s.",
                amount=money(invoice.card_charged_cents if invoice else 0)), "success")
    return redirect(url_for("client.billing"), code=303)


# ---- A7: cancel and resume ------------------------------------------------------------------------------------

def _account_change(change, done_message):
    account = _account()
    try:
        change(account, _actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("client.billing") + "#cancel", code=303)
    flash(done_message(account), "success")
    return redirect(url_for("client.billing") + "#cancel", code=303)


@bp.route("/app/billing/cancel", methods=["POST"])
@account_admin_required
def billing_cancel():
    account_billing.require_billing_admin(_account(), _actor())
    return _account_change(accounts.cancel, lambda account: _(
        "The account is cancelled: it is not renewed again and stays usable until %(day)s.",
        day=format_date(account.period_end)))


@bp.route("/app/billing/resume", methods=["POST"])
@account_admin_required
def billing_resume():
    account_billing.require_billing_admin(_account(), _actor())
    return _account_change(accounts.resume, lambda account: _(
        "The cancellation is undone: the account renews on %(day)s.", day=format_date(account.period_end)))


# ---- its invoices ------------------------------------------------------------------------------------------

@bp.route("/app/billing/invoices/<invoice_id>")
@account_admin_required
def billing_invoice(invoice_id):
    """One of the account's own invoices with its lines, printable; another account's answers 404."""
    account = _account()
    invoice = account_billing.invoice(account, invoice_id)
    view = invoice_documents.invoice_view(invoice)
    if invoice.status == "failed" and invoice.decline_code in renewals.CLIENT_DECLINE_REASONS:
        view["status_note"] = str(renewals.CLIENT_DECLINE_REASONS[invoice.decline_code])
    return render_template("client/billing_invoice.html", **view)
