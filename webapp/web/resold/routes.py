"""The Resold tab: the dashboard's home. One URL holds the whole view (R1-R4, R11)."""
import time

from flask import request, session, url_for

from ...services import hosts, resold
from ..decorators import agency_required, current_scope
from ..rendering import render, wants_fragment
from . import bp


@bp.route("/")
@agency_required
def index():
    scope = current_scope()
    view = resold.View.from_args(request.args)
    result = resold.page(scope, view)
    fragment = wants_fragment()
    # The summary is on the full page. A fragment needs the discount only to price its rows: it
    # reuses the session's paid-account count if it is under a minute old instead of counting again.
    summary = None
    cached = session.get("resold_paid")
    if fragment and result.rows and cached and time.time() - cached[1] < 60:
        summary = resold.summary(scope, cached[0])
    elif not fragment or result.rows:
        summary = resold.summary(scope)
        session["resold_paid"] = [summary.paid_accounts, time.time()]
    prices = {a.id: resold.price_after_discount(a, summary.discount_percent) for a in result.rows}
    login_urls = {a.id: hosts.account_login_url(a) for a in result.rows}
    # One url_for for the whole table: building it per row costs more than the page query.
    account_path = url_for("accounts.show", account_id=0)[:-1]
    return render("resold/index.html", "resold/_results.html", page=result, view=result.view,
                  summary=summary, prices=prices, login_urls=login_urls, is_fragment=fragment,
                  account_path=account_path,
                  plan_types=resold.PLAN_TYPES)
