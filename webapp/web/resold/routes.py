"""The Resold tab: the dashboard's home. One URL holds the whole view (R1-R4, R11)."""
from flask import request, url_for

from ...catalog import get_catalog
from ...services import hosts, resold
from ..decorators import agency_required, can, current_scope, permission_required
from ..rendering import render, wants_fragment
from .blueprint import bp
from .rows import render_rows, row_of

@bp.route("/")
@agency_required
@permission_required("view")
def index():
    scope = current_scope()
    view = resold.View.from_args(request.args)
    # The agency's counters, read once: the view's total and the paid accounts of the discount (issue 25).
    counts = resold.counts(scope)
    result = resold.page(scope, view, known=counts, light=True)
    fragment = wants_fragment()
    # The summary is on the full page; a fragment needs the discount only to price its rows.
    # R10: the paid accounts are read from the counters (issue 25), so every answer prices at today's discount.
    summary = resold.summary(scope, counts.paid()) if not fragment or result.rows else None
    # One url_for for the whole table: building it per row costs more than the page query.
    account_path = url_for("accounts.show", account_id=0)[:-1]
    login_url, catalog = hosts.login_urls(), get_catalog()  # read once for the page's rows
    rows_html = render_rows([
        row_of(a, price_cents=resold.price_after_discount(a, summary.discount_percent, catalog=catalog),
               login_url=login_url(a), account_path=account_path,
               then_price_cents=resold.price_after_discount(a, summary.discount_percent, at_renewal=True,
                                                            catalog=catalog)
               if a.pending_plan_tier else None)
        for a in result.rows], may_manage=can("manage_accounts"), may_charge=can("charge"))
    steps = None if fragment else resold.first_steps(scope)
    return render("resold/index.html", "resold/_results.html", page=result, view=result.view,
                  summary=summary, rows_html=rows_html, is_fragment=fragment, plan_types=resold.PLAN_TYPES,
                  results_path=url_for("resold.index"), first_steps=steps)
