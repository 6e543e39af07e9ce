"""The hosted account's own pages, on its host: its branded login and its overview."""
import sqlalchemy as sa
from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ...extensions import db
from ...models import AccountUser, Branding, CreditBalance
from ...services import accounts, audit, auth
from ..decorators import account_admin_required
from . import bp
from .forms import AccountLoginForm


@bp.app_context_processor
def branding():
    account = g.get("account")
    if account is None:
        return {}
    brand = db.session.scalar(sa.select(Branding).where(Branding.account_id == account.id))
    return {"brand": brand, "signed_in_by": session.get("signed_in_by")}


@bp.route("/app/login", methods=["GET", "POST"])
def login():
    if isinstance(current_user, AccountUser) and current_user.is_authenticated:
        return redirect(url_for("client.overview"))
    form = AccountLoginForm()
    status = 200
    if form.validate_on_submit():
        user = auth.authenticate_account_user(g.account, form.username.data, form.password.data)
        if user is not None:
            session.clear()
            login_user(user)
            return redirect(url_for("client.overview"), code=303)
        form.password.errors.append(_("Wrong username or password."))
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("client/login.html", form=form), status


@bp.route("/app/login-as")
def login_as():
    """A10: the dashboard's one-minute single-use link, exchanged on this account's own host."""
    admin, opener = accounts.redeem_login_as(g.account, request.args.get("token", ""), request.remote_addr)
    if admin is None:
        return render_template("client/login_as_failed.html"), 403
    session.clear()
    login_user(admin)
    session["signed_in_by"] = {"user_id": opener.id, "label": opener.email, "agency_id": opener.agency_id}
    return redirect(url_for("client.overview"), code=303)


@bp.route("/app/logout", methods=["POST"])
def logout():
    by = session.get("signed_in_by")
    if by and isinstance(current_user, AccountUser) and current_user.is_authenticated:
        audit.record(audit.Actor(f"user:{by['user_id']}", by["label"], request.remote_addr, by.get("agency_id")),
                     "login_as_ended", agency_id=g.account.agency_id, account_id=g.account.id)
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("client.login"), code=303)


@bp.route("/app/")
@account_admin_required
def overview():
    balances = {b.kind: b.balance for b in db.session.scalars(
        sa.select(CreditBalance).where(CreditBalance.account_id == g.account.id))}
    return render_template("client/overview.html", account=g.account, balances=balances)
