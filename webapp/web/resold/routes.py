"""The Resold tab: the dashboard's home. One URL holds the whole view (R1-R4, R11)."""
import time

from flask import request, session, url_for

from ...services import hosts, resold
from ..decorators import agency_required, can, current_scope, permission_required
from ..rendering import render, wants_fragment
from .blueprint import bp
from .rows import render_rows, row_of

# Counting an agency's paid accounts takes about 20 ms at 100 000 accounts (SQLite and PostgreSQL),
# too much for every fragment: the session keeps its last count for a minute.
PAID_COUNT_KEY = "resold_paid"
PAID_COUNT_SECONDS = 60


@bp.route("/")
@agency_required
@permission_required("view")
def index():
    scope = current_scope()
    view = resold.View.from_args(request.args)
    result = resold.page(scope, view)
    fragment = wants_fragment()
    # The summary is on the full page; a fragment needs the discount only to price its rows.
    summary = _discount_summary(scope, reuse_count=fragment) if not fragment or result.rows else None
    # One url_for for the whole table: building it per row costs more than the page query.
    account_path = url_for("accounts.show", account_id=0)[:-1]
    rows_html = render_rows([
        row_of(a, price_cents=resold.price_after_discount(a, summary.discount_percent),
               login_url=hosts.account_login_url(a), account_path=account_path,
               then_price_cents=resold.price_after_discount(a, summary.discount_percent, at_renewal=True)
               if a.pending_plan_tier else None)
        for a in result.rows], may_manage=can("manage_accounts"), may_charge=can("charge"))
    steps = None if fragment else resold.first_steps(scope)
    return render("resold/index.html", "resold/_results.html", page=result, view=result.view,
                  summary=summary, rows_html=rows_html, is_fragment=fragment, plan_types=resold.PLAN_TYPES,
                  results_path=url_for("resold.index"), first_steps=steps)


def _discount_summary(scope, *, reuse_count: bool) -> resold.Summary:
    """R10: the full page counts; a fragment reuses the session's count while it is under a minute old."""
    cached = session.get(PAID_COUNT_KEY)
    if reuse_count and cached and time.time() - cached[1] < PAID_COUNT_SECONDS:
        return resold.summary(scope, cached[0])
    summary = resold.summary(scope)
    session[PAID_COUNT_KEY] = [summary.paid_accounts, time.time()]
    return summary


@bp.after_app_request
def _forget_paid_count(response):
    """Whatever this session changes (adding, renewing, cancelling an account, changing its plan...)
    may change the paid-account count, so its next fragment counts again instead of pricing rows
    at a stale discount. Changes made elsewhere (the API, a colleague, the renewal jobs) show
    within the minute."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and PAID_COUNT_KEY in session:
        session.pop(PAID_COUNT_KEY)
    return response
