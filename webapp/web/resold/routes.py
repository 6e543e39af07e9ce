"""The Resold tab: the dashboard's home."""
from ...services import resold
from ..decorators import agency_required, current_scope
from ..rendering import render
from . import bp


@bp.route("/")
@agency_required
def index():
    scope = current_scope()
    summary = resold.summary(scope)
    rows = resold.first_page(scope)
    return render("resold/index.html", "resold/_table.html", summary=summary, rows=rows)
