"""Billing pages (B1, B3, B4, B6, B7): the card, credit, and every invoice."""
import csv
import io
import json

from datetime import datetime, timezone

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ...catalog import get_catalog
from ...extensions import db
from ...models import HostedAccount, Invoice
from ...services import billing, billing_details, billing_history, invoice_documents, renewals
from ...services.errors import ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, current_scope, permission_required, recent_login_required
from ..filters import money
from ..forms import apply_errors, submit
from ..rendering import render, wants_fragment
from .blueprint import bp
from .forms import BillingDetailsForm, CardForm, PackForm, PrepaidForm, ProcessorCardForm


def _purchase(form, buy):
    """Runs a purchase; its refusals land on the form. Returns the invoice (or None) and a status."""
    try:
        return buy(), 303
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return None, 422
    except billing.PaymentDeclined as exc:
        form.form_errors.append(_("The payment was declined: %(reason)s Nothing was charged.", reason=exc.message))
        return None, 402


def _card_saved(unpaid: int):
    flash(_("Your card was saved. Every resold account is charged to it."), "success")
    if unpaid:
        flash(ngettext("%(num)d unpaid renewal is being charged to this card now.",
                       "%(num)d unpaid renewals are being charged to this card now.", unpaid), "info")
    return redirect(url_for("billing.profile"), code=303)


@bp.route("/profile", methods=["GET", "POST"])
@agency_required
@permission_required("billing")
@recent_login_required  # asked before the card is typed, so it is not typed twice
def profile():
    if billing.gateway().collects_card:
        return _processor_profile()
    form = CardForm()
    status = 200
    if form.validate_on_submit():
        unpaid = renewals.unpaid_renewals(current_user.agency_id)  # what saving the card tries again (B8)
        try:
            billing.save_card(current_user.agency_id, number=form.number.data, exp_month=form.exp_month.data,
                              exp_year=form.exp_year.data, cvc=form.cvc.data, actor=current_actor())
        except ValidationFailed as exc:
            apply_errors(form, exc)
            status = 422
        else:
            return _card_saved(unpaid)
    elif request.method == "POST":
        status = 422
    form.number.data = form.cvc.data = ""  # never echo a card number back
    return _profile_page(form, status=status)


def _details_form(*, posted: bool = False, details=None) -> BillingDetailsForm:
    """The posted details form, or a fresh one showing the saved details (if any)."""
    if posted:
        form = BillingDetailsForm()
    else:
        form = BillingDetailsForm(formdata=None, data=billing_details.snapshot(details) or {})
    form.country.choices = [("", _("Choose a country"))] + [(c.code, c.name) for c in billing_details.countries()]
    return form


def _profile_page(card_form, *, details_form=None, status=200, setup=False, saved=False, details_post=False):
    """The Billing profile: the card, and the billing details every invoice is made out to. An htmx post of
    the details gets their section back alone; everything else, the whole page."""
    agency_id = current_user.agency_id
    details = billing_details.details_of(agency_id)
    context = {"form": card_form, "card": billing.card_of(agency_id),
               "details_form": details_form or _details_form(details=details),
               "details": details, "details_saved": saved}
    if setup is not False:
        context["setup"] = setup
    response = render("billing/profile.html", "billing/_billing_details.html" if details_post else None, **context)
    response.status_code = status
    return response


@bp.route("/profile/details", methods=["POST"])
@agency_required
@permission_required("billing")
def save_details():
    form = _details_form(posted=True)
    values = {name: form[name].data for name in billing_details.FIELDS}
    result = submit(form, lambda: billing_details.save(current_actor(), current_user.agency_id, **values),
                    check=lambda: billing_details.validate(values))
    if result.done and wants_fragment():
        return _profile_page(None, details_form=_details_form(details=result.value), saved=True, details_post=True)
    if result.done:
        flash(_("The billing details were saved. Invoices issued from now on carry them."), "success")
        return redirect(url_for("billing.profile"), code=303)
    # htmx swaps no 4xx answer: the section comes back in place (200) with the errors; nothing was written.
    if wants_fragment():
        return _profile_page(None, details_form=form, status=200, details_post=True)
    if billing.gateway().collects_card:
        return _processor_profile(details_form=form, status=result.status)
    card_form = CardForm(formdata=None)
    return _profile_page(card_form, details_form=form, status=result.status)


def _processor_profile(details_form=None, status=200):
    """B1 with Stripe: Stripe's card form confirms a SetupIntent in the browser; only the setup's id and
    our single-use state are posted here, never the card."""
    form = ProcessorCardForm(formdata=None) if details_form is not None else ProcessorCardForm()
    if details_form is None and form.validate_on_submit():
        unpaid = renewals.unpaid_renewals(current_user.agency_id)
        try:
            billing.save_card_from_setup(current_user.agency_id, setup_ref=form.setup_ref.data,
                                         state=form.state.data, actor=current_actor())
        except ValidationFailed as exc:
            form.form_errors.append(exc.fields.get("number") or str(exc))
            status = 422
        else:
            return _card_saved(unpaid)
    elif details_form is None and request.method == "POST":
        status = 422
    try:
        setup = billing.start_card_setup(current_user.agency_id, actor=current_actor())
    except ServiceError as exc:
        setup = None
        form.form_errors.append(_("The card form could not be loaded: %(reason)s", reason=str(exc)))
        status = status if status != 200 else 503
    if setup is not None:
        form.setup_ref.data, form.state.data = setup.setup_ref, setup.state
    return _profile_page(form, details_form=details_form, status=status, setup=setup)


def _account_by_name(name: str) -> HostedAccount:
    account = db.session.scalar(current_scope().accounts().where(HostedAccount.name == (name or "").strip().lower()))
    if account is None:
        raise ValidationFailed(_("No account of yours has that name."), {"account": _("No account of yours has that name.")})
    return account


@bp.route("/prepaid", methods=["GET", "POST"])
@agency_required
@permission_required("charge")
def prepaid():
    catalog = get_catalog()
    form = PrepaidForm()
    form.amount.choices = [(a, money(a)) for a in catalog.prepaid_amounts_cents]
    status = 200
    if form.validate_on_submit():
        invoice, status = _purchase(form, lambda: billing.buy_prepaid(
            current_user.agency_id, form.amount.data, actor=current_actor(),
            account=_account_by_name(form.account.data) if form.account.data else None))
        if invoice is not None:
            flash(_("%(amount)s of prepaid credit added (invoice %(number)s).", amount=money(invoice.total_cents),
                    number=invoice.number), "success")
            return redirect(url_for("billing.prepaid"), code=303)
    elif request.method == "POST":
        status = 422
    agency_id = current_user.agency_id
    return render("billing/prepaid.html", form=form, pool=billing.balance(agency_id, "prepaid"),
                  assigned=billing_history.assigned_balances(current_scope(), "prepaid"),
                  entries=billing_history.ledger(current_scope(), "prepaid")), status


def _pack_page(kind: str, template: str):
    catalog = get_catalog()
    packs = catalog.sms_packs if kind == "sms" else catalog.compatibility_packs
    form = PackForm()
    form.pack.choices = [(p.key, f"{p.credits:,} · {money(p.price_cents)}") for p in packs]
    if request.method == "GET" and request.args.get("account"):
        form.account.data = request.args["account"]
    status = 200
    if form.validate_on_submit():
        invoice, status = _purchase(form, lambda: billing.buy_pack(
            current_user.agency_id, _account_by_name(form.account.data), kind, form.pack.data, actor=current_actor()))
        if invoice is not None:
            flash(_("Credits added to %(name)s (invoice %(number)s).", name=form.account.data.strip().lower(),
                    number=invoice.number), "success")
            return redirect(url_for(request.endpoint), code=303)
    elif request.method == "POST":
        status = 422
    return render(template, form=form, packs=packs,
                  assigned=billing_history.assigned_balances(current_scope(), kind)), status


@bp.route("/sms", methods=["GET", "POST"])
@agency_required
@permission_required("charge")
def sms():
    return _pack_page("sms", "billing/sms.html")


@bp.route("/compatibility", methods=["GET", "POST"])
@agency_required
@permission_required("charge")
def compatibility():
    return _pack_page("compatibility", "billing/compatibility.html")


@bp.route("/account-names")
@agency_required
@permission_required("billing")
def account_names():
    """Suggestions for an account-name field (a datalist), as you type."""
    names = billing_history.account_name_suggestions(current_scope(), request.args.get("account", ""))
    return render_template("billing/_account_options.html", names=names)


@bp.route("/history")
@agency_required
@permission_required("billing")
def history():
    filters = billing_history.HistoryFilters.from_args(request.args)
    result = billing_history.invoices(current_scope(), filters)
    spend = billing_history.spend_by_month(current_scope())
    return render("billing/history.html", "billing/_invoices.html", filters=filters, result=result,
                  spend=spend, spend_json=json.dumps(spend), is_fragment=wants_fragment(),
                  this_month=datetime.now(timezone.utc).strftime("%Y-%m"))


@bp.route("/history.csv")
@agency_required
@permission_required("billing")
def history_csv():
    filters = billing_history.HistoryFilters.from_args(request.args)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["number", "date", "account", "kind", "status", "period_start", "period_end", "currency",
                     "list_price", "discount_percent", "discount", "total", "prepaid_applied", "charged_to_card",
                     "authorization", "issued_on"])
    for inv, account_name in billing_history.all_invoices(current_scope(), filters):
        writer.writerow([inv.number, inv.created_at.date().isoformat(), account_name or "", inv.kind, inv.status,
                         inv.period_start or "", inv.period_end or "", inv.currency,
                         _decimal(inv.list_price_cents), inv.discount_percent, _decimal(inv.discount_cents),
                         _decimal(inv.total_cents), _decimal(inv.prepaid_applied_cents),
                         _decimal(inv.card_charged_cents), inv.gateway_authorization_id or "",
                         inv.issued_at.date().isoformat() if inv.issued_at else ""])
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=agencyhq-invoices.csv"})


def _decimal(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}" if cents >= 0 else f"-{_decimal(-cents)}"


@bp.route("/invoices/<invoice_id>")
@agency_required
@permission_required("billing")
def invoice(invoice_id):
    inv = current_scope().get(Invoice, invoice_id)
    return render("billing/invoice.html", **invoice_documents.invoice_view(inv),
                  calls=billing_history.gateway_calls(inv), printable=False)


@bp.route("/invoices/<invoice_id>/print")
@agency_required
@permission_required("billing")
def invoice_print(invoice_id):
    inv = current_scope().get(Invoice, invoice_id)
    return render("billing/invoice_print.html", **invoice_documents.invoice_view(inv), agency=current_user.agency)


def _pdf_response(name: str, pdf: bytes) -> Response:
    response = Response(pdf, mimetype="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    response.vary.add("Accept-Language")  # in the viewer's language
    return response


@bp.route("/invoices/<invoice_id>.pdf")
@agency_required
@permission_required("billing")
def invoice_pdf(invoice_id):
    return _pdf_response(*invoice_documents.invoice_pdf(current_actor(), current_scope(), invoice_id))


@bp.route("/statement.pdf")
@agency_required
@permission_required("billing")
def statement_pdf():
    """A month's statement (?month=2026-11, UTC; this month when none is given)."""
    month = request.args.get("month") or datetime.now(timezone.utc).strftime("%Y-%m")
    if not billing_history.valid_month(month):
        abort(404)
    return _pdf_response(*invoice_documents.statement_pdf(current_actor(), current_scope(), month))
