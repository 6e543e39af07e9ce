"""Billing pages (B1, B3, B4, B6, B7): the card, credit, and every invoice."""
import json

from datetime import datetime, timezone

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ...catalog import get_catalog
from ...extensions import db
from ...models import HostedAccount, Invoice
from ...services import (billing, billing_details, billing_history, credits, invoice_documents, invoice_text, keys,
                         quotes, renewals)
from ...services.errors import ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, current_scope, permission_required, recent_login_required
from ..filters import money, number
from ..forms import add_untold, apply_errors, submit
from ..rendering import render, wants_fragment
from .blueprint import bp
from .forms import BillingDetailsForm, CardForm, MoveForm, PackForm, PrepaidForm, ProcessorCardForm


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
        # Every field's problem in one answer: the card checks beside the form's own.
        add_untold(form, lambda: billing.validate_card(form.number.data, form.exp_month.data, form.exp_year.data,
                                                       form.cvc.data))
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


def _account_by_name(name: str, field: str = "account") -> HostedAccount:
    account = db.session.scalar(current_scope().accounts().where(HostedAccount.name == (name or "").strip().lower()))
    if account is None:
        raise ValidationFailed(_("No account of yours has that name."), {field: _("No account of yours has that name.")})
    return account


def _optional_account(name: str | None, field: str = "account") -> HostedAccount | None:
    return _account_by_name(name, field) if (name or "").strip() else None


KIND_PAGES = {"sms": "billing/sms.html", "compatibility": "billing/compatibility.html",
              "prepaid": "billing/prepaid.html"}


def _buy_form(kind: str, source=None):
    """The purchase form: from the query string for a preview (no CSRF: it changes nothing), or the POST."""
    catalog = get_catalog()
    form_class = PrepaidForm if kind == "prepaid" else PackForm
    form = form_class(source, meta={"csrf": False}) if source is not None else form_class()
    if kind == "prepaid":
        form.amount.choices = [(a, money(a)) for a in catalog.prepaid_amounts_cents]
    else:
        packs = catalog.sms_packs if kind == "sms" else catalog.compatibility_packs
        form.pack.choices = [(p.key, f"{p.credits:,} · {money(p.price_cents)}") for p in packs]
    return form


def _preview(kind: str, form):
    """The quote of the purchase the form describes (raises ValidationFailed, NotFound)."""
    account = _optional_account(form.account.data)
    agency_id = current_user.agency_id
    if kind == "prepaid":
        return billing.preview_prepaid(agency_id, form.amount.data, account=account)
    return billing.preview_pack(agency_id, account, kind, form.pack.data)


def _credit_page(kind: str, *, form=None, quote=None, move_form=None, status: int = 200):
    agency_id = current_user.agency_id
    form = form or _buy_form(kind)
    if quote is not None:
        form.quote.data = quote.token
        form.request_key.data = form.request_key.data or keys.fresh()
    move_form = move_form or MoveForm(prefix="move", formdata=None)
    move_form.request_key.data = move_form.request_key.data or keys.fresh()
    move_form.kind.data = kind
    catalog = get_catalog()
    return render(KIND_PAGES[kind], kind=kind, form=form, quote=quote, move_form=move_form,
                  pool=billing.balance(agency_id, kind),
                  packs=catalog.sms_packs if kind == "sms" else catalog.compatibility_packs,
                  assigned=billing_history.assigned_balances(current_scope(), kind),
                  entries=billing_history.ledger(current_scope(), kind)), status


def _purchase_page(kind: str):
    """GET: the page, and with a purchase chosen, what it charges (prepaid credit first, then the card) and its
    Confirm. POST: the Confirm, charged only if those figures are still today's."""
    if request.method == "GET":
        if "pack" not in request.args and "amount" not in request.args:
            # Nothing chosen yet; an account page's link names who the credit is for (?account) or goes to (?to).
            form, move_form = _buy_form(kind), MoveForm(prefix="move", formdata=None)
            form.account.data = request.args.get("account", "")[:40]
            move_form.target.data = request.args.get("to", "")[:40]
            return _credit_page(kind, form=form, move_form=move_form)
        form = _buy_form(kind, request.args)
        if not form.validate():
            return _credit_page(kind, form=form, status=422)
        try:
            return _credit_page(kind, form=form, quote=_preview(kind, form))
        except ValidationFailed as exc:
            apply_errors(form, exc)
            return _credit_page(kind, form=form, status=422)
    form = _buy_form(kind)
    if not form.validate_on_submit():
        return _credit_page(kind, form=form, status=422)
    agency_id, key = current_user.agency_id, keys.purchase_invoice(kind, current_user.agency_id,
                                                                     form.request_key.data or keys.fresh())
    try:
        account = _optional_account(form.account.data)
        if kind == "prepaid":
            invoice = billing.buy_prepaid(agency_id, form.amount.data, account=account, actor=current_actor(),
                                          key=key, quote=form.quote.data or "")
        else:
            invoice = billing.buy_pack(agency_id, account, kind, form.pack.data, actor=current_actor(), key=key,
                                       quote=form.quote.data or "")
    except quotes.StaleQuote as exc:
        form.form_errors.append(exc.message)
        return _credit_page(kind, form=form, quote=exc.quote, status=409)
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return _credit_page(kind, form=form, status=422)
    except billing.PaymentDeclined as exc:
        form.form_errors.append(_("The payment was declined: %(reason)s Nothing was charged.", reason=exc.message))
        form.request_key.data = None  # the declined attempt's invoice is void: a new press is a new attempt
        return _credit_page(kind, form=form, status=402)
    except ServiceError as exc:
        form.form_errors.append(exc.message)
        return _credit_page(kind, form=form, status=exc.status)
    where = invoice_text.lines(invoice)[0]["label"]
    flash(_("Bought: %(what)s, %(amount)s (invoice %(number)s).", what=where, amount=money(invoice.total_cents),
            number=invoice.number), "success")
    return redirect(url_for(f"billing.{kind}"), code=303)


@bp.route("/prepaid", methods=["GET", "POST"])
@agency_required
@permission_required("charge")
def prepaid():
    return _purchase_page("prepaid")


@bp.route("/sms", methods=["GET", "POST"])
@agency_required
@permission_required("charge")
def sms():
    return _purchase_page("sms")


@bp.route("/compatibility", methods=["GET", "POST"])
@agency_required
@permission_required("charge")
def compatibility():
    return _purchase_page("compatibility")


@bp.route("/credits/move", methods=["POST"])
@agency_required
@permission_required("charge")
def move():
    """B3, B6, B7: assigns credit from the pool to an account, moves it between accounts or back."""
    form = MoveForm(prefix="move")
    kind = form.kind.data
    if kind not in KIND_PAGES:
        abort(404)
    if not form.validate_on_submit():
        return _credit_page(kind, move_form=form, status=422)
    try:
        amount = credits.parse_amount(kind, form.amount.data)
        source = _optional_account(form.source.data, "source")
        target = _optional_account(form.target.data, "target")
        result = credits.move(current_user.agency_id, kind, amount, source=source, target=target,
                              request_key=form.request_key.data or keys.fresh(), actor=current_actor())
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return _credit_page(kind, move_form=form, status=422)
    if not result["repeated"]:
        shown = money(amount) if kind == "prepaid" else number(amount)
        flash(_("Moved %(amount)s from %(source)s to %(target)s.", amount=shown,
                source=source.name if source else _("your pool"), target=target.name if target else _("your pool")),
              "success")
    return redirect(url_for(f"billing.{kind}") + "#move", code=303)


@bp.route("/account-names")
@agency_required
@permission_required("billing")
def account_names():
    """Suggestions for an account-name field (a datalist), as you type."""
    field = request.args.get("field", "account")
    typed = request.args.get(field if field in ("account", "move-source", "move-target") else "account", "")
    names = billing_history.account_name_suggestions(current_scope(), typed)
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
    name, text = invoice_documents.history_csv(current_actor(), current_scope(), filters)
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={name}"})


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
