"""The hosted account's own pages, on its host: its branded login and its overview."""
import sqlalchemy as sa
from flask import flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ...extensions import db
from ...models import AccountUser, Branding, CreditBalance
from ...services import auth
from ..decorators import account_admin_required
from . import bp
from .forms import AccountLoginForm


@bp.app_context_processor
def branding():
    account = g.get("account")
    if account is None:
        return {}
    brand = db.session.scalar(sa.select(Branding).where(Branding.account_id == account.id))
    return {"brand": brand}


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


@bp.route("/app/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("client.login"), code=303)


@bp.route("/app/")
@account_admin_required
def overview():
    balances = {b.kind: b.balance for b in db.session.scalars(
        sa.select(CreditBalance).where(CreditBalance.account_id == g.account.id))}
    return render_template("client/overview.html", account=g.account, balances=balances)
