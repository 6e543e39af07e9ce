"""The support console's agencies: find one, and switch pushdown automations on or off (P10)."""
import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from ...extensions import db
from ...models import Agency
from ...services import pushdown
from ..decorators import current_actor, support_required
from ..rendering import render
from .blueprint import bp


@bp.route("/support/agencies")
@support_required
def agencies():
    q = (request.args.get("q") or "").strip()[:100]
    stmt = sa.select(Agency).order_by(Agency.name).limit(100)
    if q:
        stmt = stmt.where(sa.func.lower(Agency.name).contains(q.lower(), autoescape=True))
    return render("support/agencies.html", rows=db.session.scalars(stmt).all(), q=q)


@bp.route("/support/agencies/<agency_id>/franchise", methods=["POST"])
@support_required
def franchise(agency_id):
    enabled = request.form.get("enabled") == "1"
    agency = pushdown.set_franchise(agency_id, enabled, current_actor())
    flash(_("Pushdown automations are now on for %(name)s.", name=agency.name) if enabled else
          _("Pushdown automations are now off for %(name)s.", name=agency.name), "success")
    return redirect(url_for("support.agencies", q=request.form.get("q") or None), code=303)
