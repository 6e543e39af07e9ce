"""A hosted account in the dashboard: Add New, its page, and what can be done to it (A1-A10)."""
from functools import lru_cache, partial

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response as htmx_response
from flask_login import current_user
from markupsafe import Markup, escape

from ...catalog import get_catalog
from ...services import accounts, billing, billing_history, dates, hosts, provisioning, reports, support
from ...services.errors import ServiceError, ValidationFailed
from ..decorators import agency_required, current_actor, current_scope, permission_required
from ..filters import format_date, label, money
from ..forms import add_untold, apply_errors, submit
from .. import plan_change
from ..rendering import render, wants_fragment
from .blueprint import bp
from .forms import DetailsForm, DomainForm, NewAccountForm


def _plan_choices(form, term=None):
    catalog = get_catalog()
    form.tier.choices = [(t.key, label("tier", t.key)) for t in catalog.tiers]
    form.term.choices = [(k, label("term", k)) for k in ("monthly", "annual", "trial")]
    limits = catalog.contact_limits
    if (term or form.term.data) == "trial":
        limits = [c for c in limits if c <= catalog.trial["max_contacts"]]
    form.contact_limit.choices = [(str(c), f"{c:,}") for c in limits]


def _new_form():
    form = NewAccountForm()
    _plan_choices(form)
    form.language.choices = list(accounts.LANGUAGES.items())
    return form


@bp.route("/accounts/new", methods=["GET", "POST"])
@agency_required
@permission_required("view")
def new():
    form = _new_form()
    if request.method == "GET":
        form.request_key.data = accounts.new_request_key()
        form.language.data, form.timezone.data = "en", current_user.timezone
        form.tier.data, form.term.data, form.contact_limit.data = "plus", "monthly", "1000"
        form.notification_email.data = current_user.email
    status = 200
    if form.validate_on_submit():
        try:
            account, _op = accounts.create(current_user.agency_id, _new_account(form), actor=current_actor(),
                                           request_key=form.request_key.data or accounts.new_request_key())
        except ValidationFailed as exc:
            apply_errors(form, exc)
            status = 422
        except billing.PaymentDeclined as exc:
            form.form_errors.append(_("The payment was declined: %(reason)s Nothing was charged and no account was "
                                      "created.", reason=exc.message))
            # The declined attempt's invoice is void: the next press is a new attempt, with a new key.
            form.request_key.data, status = accounts.new_request_key(), 402
        except ServiceError as exc:
            form.form_errors.append(exc.message)
            form.request_key.data, status = accounts.new_request_key(), exc.status
        else:
            return redirect(url_for("accounts.show", account_id=account.id), code=303)
    elif request.method == "POST":
        status = 422
        # The form's checks leave out the service's (name taken or reserved, time zone, plan).
        add_untold(form, lambda: accounts.validate_new(_new_account(form)))
    return render("accounts/new.html", form=form, quote=_quote(form),
                  timezone_options=_timezone_options()), status


def _new_account(form) -> accounts.NewAccount:
    return accounts.NewAccount(
        name=form.name.data or "", custom_domain=form.custom_domain.data or "", client_name=form.client_name.data or "",
        client_email=form.client_email.data or "", notification_email=form.notification_email.data or "",
        language=form.language.data or "", timezone=(form.timezone.data or "").strip(), tier=form.tier.data or "",
        term=form.term.data or "", contact_limit=form.contact_limit.data)


@lru_cache(maxsize=1)
def _timezone_options() -> Markup:
    """The time-zone datalist's <option>s, built once: 600 of them cost each form 2 ms to render."""
    return Markup("".join(f'<option value="{escape(tz)}">' for tz in dates.timezones()))


def _quote(form):
    try:
        return accounts.quote(current_user.agency_id, form.tier.data, form.term.data, form.contact_limit.data)
    except ValidationFailed:
        return None


@bp.route("/accounts/name-check")
@agency_required
@permission_required("view")
def name_check():
    """A1: availability as you type, with the reason."""
    name = request.args.get("name", "")
    problem = accounts.name_problem(name) if name else None
    return render("accounts/_name_check.html", name=name, problem=problem)


@bp.route("/accounts/price")
@agency_required
@permission_required("view")
def price():
    """A1: the list price and the discounted price, as the plan changes. Also refreshes the
    contact-limit choices when the term changes (trials go up to the trial limit)."""
    form = _new_form()
    form.tier.data, form.term.data = request.args.get("tier"), request.args.get("term")
    form.contact_limit.data = request.args.get("contact_limit")
    _plan_choices(form, form.term.data)
    if form.contact_limit.data not in [c for c, _l in form.contact_limit.choices]:
        form.contact_limit.data = form.contact_limit.choices[0][0]
    return render("accounts/_price.html", quote=_quote(form), form=form, oob=True)


@bp.route("/accounts/<account_id>")
@agency_required
@permission_required("view")
def show(account_id):
    account = current_scope().account(account_id)
    operation = _provisioning(account)
    plan_form = plan_change.choice_form(account, {})
    domain_form = DomainForm(prefix="domain", data={"domain": account.custom_domain or ""})
    return _no_store(render("accounts/show.html", account=account, operation=operation,
                            credentials=provisioning.credentials_of(account, operation),
                            languages=accounts.LANGUAGES, resumable=accounts.resumable(account),
                            login_url=hosts.account_login_url(account),
                            balances=billing_history.account_balances(account),
                            sms_problem=billing.receivable_problem(account, "sms"), plan_form=plan_form,
                            domain_form=domain_form,
                            cname_target=accounts.cname_target(account), queue_up=_queue_up(operation),
                            steps=provisioning.STEP_LABELS,
                            reports=reports.for_account(current_scope(), account, actor=current_actor())))


@bp.route("/accounts/<account_id>/menu")
@agency_required
@permission_required("view")
def row_menu(account_id):
    """The Resold row's ⋯ menu, which the row fetches when it opens (htmx); a browser without JavaScript
    follows the row's link to the account's page, where every action is."""
    account = current_scope().account(account_id)
    account_url = url_for("accounts.show", account_id=account.id)
    if not wants_fragment():
        response = redirect(account_url)
        response.vary.add("HX-Request")
        return response
    return render("resold/_row_menu.html", "resold/_row_menu.html", account=account, account_url=account_url)


def _no_store(response):
    """The account page and its progress show the generated password until it is dismissed: no cache
    (the browser's, a proxy's, Back after logging out) may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _queue_up(operation) -> bool:
    """Whether the job queue answers, asked only when it matters: an operation still waiting for a
    worker says the queue is down (a Redis round trip on every view and every poll otherwise)."""
    if operation is None or operation.status != "queued":
        return True
    return current_app.extensions["job_queue"].ping()


def _provisioning(account):
    return provisioning.operation_of(account)


@bp.route("/accounts/<account_id>/progress")
@agency_required
@permission_required("view")
def progress(account_id):
    """The progress fragment the account page polls until provisioning ends."""
    account = current_scope().account(account_id)
    operation = _provisioning(account)
    if not wants_fragment():
        return redirect(url_for("accounts.show", account_id=account.id))
    if operation is None or operation.done:
        # Done: the whole page changes (the status badge, Login, Change plan, the credentials), so
        # htmx reloads it rather than swapping the panel under a heading that still says Provisioning.
        response = make_response("", 200)
        response.headers["HX-Refresh"] = "true"
        return response
    return _no_store(render("accounts/_progress.html", account=account, operation=operation, credentials=None,
                            queue_up=_queue_up(operation), steps=provisioning.STEP_LABELS))


@bp.route("/accounts/<account_id>/retry", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def retry(account_id):
    account = current_scope().account(account_id)
    try:
        accounts.retry_provisioning(account, current_actor())
    except ServiceError as exc:  # a second press, or a stale page: a message, not an error page
        flash(exc.message, "info")
    return redirect(url_for("accounts.show", account_id=account.id), code=303)


def _change_page(account, form, *, quote=None, status=200, request_key=None, problem=None):
    if problem:
        form.form_errors.append(problem)
    return render("accounts/change.html", "accounts/_change_preview.html", account=account, form=form, quote=quote,
                  confirm=plan_change.confirm_form("plan", quote, request_key)), status


@bp.route("/accounts/<account_id>/change")
@agency_required
@permission_required("charge")
def change(account_id):
    """"Change your account" (A5, A7, A8): choose the plan, see what it charges today and at each renewal, then
    confirm. An expired account's Renew leads here, its last plan shown priced."""
    account = current_scope().account(account_id)
    return plan_change.show(account, actor=current_actor(), page=partial(_change_page, account))


@bp.route("/accounts/<account_id>/plan", methods=["POST"])
@agency_required
@permission_required("charge")
def change_plan(account_id):
    """The confirming press: charged only if the figures shown are still today's (else shown anew)."""
    account = current_scope().account(account_id)
    result, again = plan_change.confirm(
        account, prefix="plan", actor=current_actor(), page=partial(_change_page, account),
        declined=lambda reason: _("The payment was declined: %(reason)s Nothing was charged and the plan was not "
                                  "changed.", reason=reason))
    if again is not None:
        return again
    if result["change"] == "downgrade":
        flash(_("The new plan starts at the next renewal, on %(day)s.", day=format_date(result["effective"])),
              "success")
    else:
        invoice = result.get("invoice")
        flash(_("The plan was changed. Charged now: %(amount)s.",
                amount=money(invoice.total_cents if invoice else 0)), "success")
    return redirect(url_for("accounts.show", account_id=account.id) + "#plan", code=303)


@bp.route("/accounts/<account_id>/cancel", methods=["GET", "POST"])
@agency_required
@permission_required("manage_accounts")
def cancel(account_id):
    account = current_scope().account(account_id)
    if request.method == "GET":  # the confirmation page, for browsers without JavaScript
        return render("accounts/cancel.html", account=account)
    try:
        accounts.cancel(account, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("%(name)s is cancelled. It will not renew and stays usable until %(day)s.", name=account.name,
                day=format_date(account.period_end)), "success")
    target = url_for("accounts.show", account_id=account.id)
    return htmx_response(redirect=target) if wants_fragment() else redirect(target, code=303)


@bp.route("/accounts/<account_id>/extend-trial", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def extend_trial(account_id):
    account = current_scope().account(account_id)
    try:
        result = accounts.extend_trial(account, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        if result["extended"]:
            flash(_("The trial now ends on %(day)s.", day=format_date(result["until"])), "success")
        else:
            flash(_("You have already extended this trial once: a request went to support, who will answer soon."),
                  "info")
    return redirect(url_for("accounts.show", account_id=account.id), code=303)


@bp.route("/accounts/<account_id>/domain", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def domain(account_id):
    account = current_scope().account(account_id)
    form = DomainForm(prefix="domain")
    try:
        if request.form.get("action") == "verify":
            accounts.verify_domain(account, current_actor())
            flash(_("%(domain)s is verified: the account now answers there.", domain=account.custom_domain), "success")
        else:
            accounts.set_domain(account, form.domain.data or "", current_actor())
            flash(_("Saved. Create the CNAME record below, then press Verify."), "success")
    except ServiceError as exc:
        flash(exc.message, "danger")
    return redirect(url_for("accounts.show", account_id=account.id) + "#domain", code=303)


@bp.route("/accounts/<account_id>/login-as", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def login_as(account_id):
    """A10: opens the hosted account as `admin`, on its own host, through a one-minute single-use link."""
    account = current_scope().account(account_id)
    try:
        link = accounts.login_as_link(account, current_user.id, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("accounts.show", account_id=account.id), code=303)
    return _no_store(redirect(link, code=303))  # the single-use token is in the Location


@bp.route("/accounts/<account_id>/credentials/dismiss", methods=["POST"])
@agency_required
@permission_required("view")
def dismiss_credentials(account_id):
    account = current_scope().account(account_id)
    if _provisioning(account) is None:
        abort(404)
    provisioning.dismiss_credentials(account, current_actor())  # a second press finds nothing left to erase
    return redirect(url_for("accounts.show", account_id=account.id), code=303)


# ---- issue 22: resume, the agency's own disable and enable, the client's details ----------------------------

def _back_to_account(account, anchor: str = ""):
    target = url_for("accounts.show", account_id=account.id)
    # htmx: no anchor, or a browser already on the page would only scroll, not load it again.
    return htmx_response(redirect=target) if wants_fragment() else redirect(target + anchor, code=303)


def _account_action(account_id, action, done, anchor: str):
    """A POST button of the account page: the service, then the page again with what happened (a refusal,
    such as a second press, is a message there, not an error page)."""
    account = current_scope().account(account_id)
    try:
        action(account, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(done(account), "success")
    return _back_to_account(account, anchor)


@bp.route("/accounts/<account_id>/resume", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def resume(account_id):
    return _account_action(account_id, accounts.resume, lambda a: _(
        "%(name)s is resumed: it renews on %(day)s as before. Nothing was charged.", name=a.name,
        day=format_date(a.period_end)), "#cancel")


@bp.route("/accounts/<account_id>/disable", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def disable(account_id):
    return _account_action(account_id, accounts.disable, lambda a: _(
        "%(name)s is disabled: its client sees a page saying so until you enable it. It keeps renewing on its "
        "day.", name=a.name), "#disable")


@bp.route("/accounts/<account_id>/enable", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def enable(account_id):
    return _account_action(account_id, accounts.enable, lambda a: _(
        "%(name)s is enabled again: its client can use it now.", name=a.name), "#disable")


def _details_form(account=None) -> DetailsForm:
    """The posted form (account None), or a fresh one showing the account's details."""
    if account is None:
        form = DetailsForm(prefix="details")
    else:
        form = DetailsForm(prefix="details", formdata=None,
                           data={name: getattr(account, name) for name in accounts.DETAIL_FIELDS})
    form.language.choices = list(accounts.LANGUAGES.items())
    return form


def _details_page(account, form, status: int = 200):
    response = render("accounts/details.html", "accounts/_details_form.html", account=account, form=form,
                      timezone_options=_timezone_options())
    response.status_code = status
    return response


@bp.route("/accounts/<account_id>/details")
@agency_required
@permission_required("manage_accounts")
def details(account_id):
    """Edit details: the whole page, or (htmx) the form in place of the account page's Client card."""
    account = current_scope().account(account_id)
    return _details_page(account, _details_form(account))


def _check_details(details) -> None:
    problems = accounts.details_problems(details)
    if problems:
        raise ValidationFailed(_("The details were not saved; see the fields marked."), problems)


@bp.route("/accounts/<account_id>/details", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def save_details(account_id):
    account = current_scope().account(account_id)
    form = _details_form()
    details = accounts.ClientDetails(**{name: (form[name].data or "").strip() for name in accounts.DETAIL_FIELDS})
    result = submit(form, lambda: accounts.update_details(account, details, current_actor()), refusals=ServiceError,
                    check=lambda: _check_details(details))
    if result.done:
        flash(_("The client's details were saved.") if result.value else _("Nothing was changed."), "success")
        return _back_to_account(account, "#client")
    # htmx swaps no 4xx answer: the form comes back in place (200) with its errors; nothing was written.
    return _details_page(account, form, 200 if wants_fragment() else result.status)




@bp.route("/accounts/<account_id>/detach", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def detach(account_id):
    """A4: ask support to make the account the client's own, standalone."""
    account = current_scope().account(account_id)
    try:
        support.request_detach(account, current_user, client_email=request.form.get("client_email", ""),
                               actor=current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Support has your request and will detach the account; you will get an e-mail."), "success")
    return redirect(url_for("accounts.show", account_id=account.id) + "#detach", code=303)


@bp.route("/accounts/transfer", methods=["GET", "POST"])
@agency_required
@permission_required("manage_accounts")
def transfer():
    """A3: bring an existing account under the agency."""
    status = 200
    errors = {}
    if request.method == "POST":
        try:
            support.request_transfer(current_user.agency_id, current_user,
                                     account_name=request.form.get("account_name", "")[:60],
                                     admin_email=request.form.get("admin_email", "")[:254], actor=current_actor())
        except ValidationFailed as exc:
            errors, status = exc.fields, 422
        else:
            flash(_("Request sent. If the address and the e-mail match an account, its admin gets a link to confirm; "
                    "then support moves it to you and you are told by e-mail."), "success")
            return redirect(url_for("accounts.transfer"), code=303)
    return render("accounts/transfer.html", errors=errors, values=request.form), status


@bp.route("/transfer/confirm/<token>", methods=["GET", "POST"])
def confirm_transfer(token):
    """A3: the account's admin confirms the transfer from the e-mailed link (no login needed)."""
    if request.method == "GET":
        return render("accounts/transfer_confirm.html", token=token, done=False)
    support.confirm_transfer(token)
    return render("accounts/transfer_confirm.html", token=token, done=True)


@bp.route("/accounts/<account_id>/send-reset", methods=["POST"])
@agency_required
@permission_required("manage_accounts")
def send_reset(account_id):
    """W6: the same reset e-mail the client would ask for, sent to the account's admin."""
    account = current_scope().account(account_id)
    from ...services import client_auth
    try:
        client_auth.agency_sends_reset(account, current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("A password reset e-mail went to the account's admin."), "success")
    return redirect(url_for("accounts.show", account_id=account.id), code=303)
