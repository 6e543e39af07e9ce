"""The hosted account's own pages, on its host: its branded login and its overview."""
from flask import abort, current_app, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user

from ...models import AccountUser
from ...services import account_billing, accounts, audit, auth, billing_history, branding, client_auth
from ...services.errors import ValidationFailed
from ...services.validation import EmailAddress
from ..decorators import account_admin_required, current_actor
from ..forms import apply_errors
from ..signin import sign_in, sign_out
from . import billing as billing_page
from .blueprint import bp
from .forms import AccountLoginForm, ChangePasswordForm, ForgotForm, LanguageForm, NewPasswordForm


@bp.app_context_processor
def brand_context():
    account = g.get("account")
    if account is None:
        return {}
    brand = branding.of_account(account)
    return {"brand": brand, "signed_in_by": session.get("signed_in_by"),
            "own_billing": account_billing.pays_its_own_way(account)}


@bp.before_request
def language_picker():
    """Read first, before anything is translated: whether this account's pages may follow its client's choice
    of language (i18n.account_locale)."""
    g.language_picker = branding.offers_language_picker(g.get("account"))


@bp.before_request
def login_as_session():
    """A10: a session the agency opened ends with a `login_as_ended` record however it ends: past its
    lifetime (this request signs it out) or when its user was signed out elsewhere (a new password)."""
    by = session.get("signed_in_by")
    if not by:
        return None
    signed_in = isinstance(current_user, AccountUser) and current_user.is_authenticated
    if signed_in and not client_auth.login_as_session_over(by):
        return None
    client_auth.end_login_as(g.account, by, request.remote_addr, "expired" if signed_in else "signed_out")
    sign_out()
    if not signed_in:
        return None
    flash(_("The session your agency opened has ended. Log in to continue."), "info")
    return redirect(url_for("client.login"))


# What a closed account still serves: its logo (the closed page shows it) and logging out.
OPEN_WHEN_CLOSED = {"client.logo", "client.brand_css", "client.logout"}


@bp.before_request
def closed_account():
    """A7, B8: an expired or disabled account shows its client a branded page saying so, never the app."""
    reason = accounts.closed_reason(g.get("account"))
    if reason is None or request.endpoint in OPEN_WHEN_CLOSED:
        return None
    if billing_page.open_when_closed(g.account, request.endpoint):
        return None  # issue 22: its client reaches its Billing page to pay, and only that
    return render_template("client/closed.html", reason=reason, contact=branding.support_contact(g.account)), 403


@bp.route("/app/login", methods=["GET", "POST"])
def login():
    by_agency = session.get("signed_in_by")
    # Signed in by the agency, the form is still offered: logging in with a password replaces that session.
    if isinstance(current_user, AccountUser) and current_user.is_authenticated and not by_agency:
        return redirect(_home())
    form = AccountLoginForm()
    status = 200
    if form.validate_on_submit():
        result = client_auth.login(g.account, form.username.data, form.password.data, request.remote_addr,
                                   request.user_agent.string)
        if result.outcome == "ok":
            if by_agency:
                client_auth.end_login_as(g.account, by_agency, request.remote_addr, "replaced_by_login")
            sign_in(result.user)  # replaces the agency's session, if it was one
            return redirect(_home(), code=303)
        if result.outcome in ("locked", "throttled"):
            # W4: the seed's "Failed Attempt" message, with a Back link to the login page.
            return render_template("client/failed_attempt.html", outcome=result.outcome), 429
        form.password.errors.append(_("Wrong username or password."))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("client/login.html", form=form, by_agency=by_agency, languages=_language_form()), status


def _language_form() -> LanguageForm | None:
    if not g.language_picker:
        return None
    form = LanguageForm(formdata=None, lang=get_locale().language)
    form.lang.choices = list(current_app.config["ACCOUNT_LANGUAGES"].items())
    return form


@bp.route("/app/language", methods=["POST"])
def choose_language():
    """Issue 26: the client's choice of language, kept in the session for this visit; offered only when the
    agency's branding allows it."""
    if not g.language_picker:
        abort(404)
    form = LanguageForm()
    form.lang.choices = list(current_app.config["ACCOUNT_LANGUAGES"].items())
    if form.validate_on_submit():
        session["client_language"] = form.lang.data
    return redirect(url_for("client.login"), code=303)


@bp.route("/app/login-as")
def login_as():
    """A10: the dashboard's one-minute single-use link, exchanged on this account's own host."""
    admin, opener = accounts.redeem_login_as(g.account, request.args.get("token", ""), request.remote_addr)
    if admin is None:
        return render_template("client/login_as_failed.html"), 403
    if session.get("signed_in_by"):  # a second link opened in the same browser replaces the first session
        client_auth.end_login_as(g.account, session["signed_in_by"], request.remote_addr, "replaced_by_login_as")
    sign_in(admin, opened_by=opener)
    session["signed_in_by"] = client_auth.login_as_session(opener)
    return redirect(_home(), code=303)


def _home() -> str:
    """Where a login lands: the overview, or the Billing page of an account closed until its client pays."""
    if accounts.closed_reason(g.account) and billing_page.open_when_closed(g.account, "client.billing"):
        return url_for("client.billing")
    return url_for("client.overview")


@bp.route("/app/logout", methods=["POST"])
def logout():
    by = session.get("signed_in_by")
    if by and isinstance(current_user, AccountUser) and current_user.is_authenticated:
        client_auth.end_login_as(g.account, by, request.remote_addr, "logout")
    sign_out()
    return redirect(url_for("client.login"), code=303)


@bp.route("/app/")
@account_admin_required
def overview():
    return render_template("client/overview.html", account=g.account,
                           balances=billing_history.account_balances(g.account))


@bp.route("/app/forgot", methods=["GET", "POST"])
def forgot():
    """W5: the same answer whether or not the e-mail is the account's."""
    form = ForgotForm()
    # A text that is not an e-mail address is refused by the field, not answered "a link is on its way".
    if form.validate_on_submit(extra_validators={"email": [EmailAddress()]}):
        client_auth.request_reset(g.account, form.email.data, actor=client_auth._actor(request.remote_addr, g.account))
        return render_template("client/forgot.html", form=form, sent=True)
    return render_template("client/forgot.html", form=form, sent=False), 200 if request.method == "GET" else 422


@bp.route("/app/reset/<token>", methods=["GET", "POST"])
def reset(token):
    form = NewPasswordForm()
    if client_auth.reset_token_user(g.account, token) is None:
        return render_template("client/reset.html", form=form, invalid=True), 410
    if form.validate_on_submit():
        try:
            client_auth.reset_password(g.account, token, form.new_password.data, form.confirm_password.data,
                                       request.remote_addr)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        else:
            flash(_("Your password was changed. Log in with it."), "success")
            return redirect(url_for("client.login"), code=303)
    return render_template("client/reset.html", form=form, invalid=False)


@bp.route("/app/settings", methods=["GET", "POST"])
@account_admin_required
def settings():
    """W7 (and W6: signed in by the agency, no current password is asked)."""
    form = ChangePasswordForm()
    by_agency = bool(session.get("signed_in_by"))
    status = 200
    if form.validate_on_submit():
        try:
            if by_agency:
                by = session["signed_in_by"]
                client_auth.set_password_by_agency(
                    current_user, form.new_password.data, form.confirm_password.data,
                    audit.Actor(f"user:{by['user_id']}", by["label"], request.remote_addr, by.get("agency_id")))
            else:
                auth.change_password(current_user, current=form.current_password.data or "",
                                     new=form.new_password.data, confirm=form.confirm_password.data,
                                     actor=current_actor())
        except ValidationFailed as exc:
            apply_errors(form, exc)
            status = 422
        else:
            login_user(current_user._get_current_object())  # this session follows the new epoch
            flash(_("The password was changed. Other sessions were logged out."), "success")
            return redirect(url_for("client.settings"), code=303)
    elif request.method == "POST":
        status = 422
    return render_template("client/settings.html", form=form, by_agency=by_agency), status


@bp.route("/app/brand.css")
def brand_css():
    """The account's colours (W1: primary and accent) as a style sheet: the pages' policy allows no inline
    style. The link carries the branding's version, so a change shows at once while an unchanged one stays cached."""
    response = make_response(branding.site_css(branding.of_account(g.account)))
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.route("/app/logo")
def logo():
    """The account's logo, for its branded pages (no login needed: the login page shows it)."""
    from ..whitelabel.routes import logo_response
    return logo_response(branding.of_account(g.account))
