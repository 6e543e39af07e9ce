"""The support console's side of Contact support (S3): open tickets of every agency, the same live
chat as the agency's, and "Close ticket" (audited)."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_htmx import make_response as htmx_response
from flask_login import current_user

from ...extensions import db
from ...models import Agency
from ...services import contact
from ...services.errors import Conflict
from ..contact import chat
from ..decorators import current_actor, support_required
from ..rendering import render, wants_fragment
from .blueprint import bp

SIDE = chat.Side(page="support.contact_ticket", messages="support.contact_messages",
                 template="support/contact_ticket.html")


def _agency_name(ticket):
    agency = db.session.get(Agency, ticket.agency_id) if ticket.agency_id else None
    return agency.name if agency else None


@bp.route("/support/contact")
@support_required
def contact_tickets():
    status = "closed" if request.args.get("status") == "closed" else "open"
    return render("support/contact_tickets.html", rows=contact.console_tickets(status), status=status)


@bp.route("/support/contact/<ticket_id>")
@support_required
def contact_ticket(ticket_id):
    ticket = contact.staff_ticket(ticket_id)
    return render(SIDE.template, **chat.page_context(ticket, SIDE, agency_name=_agency_name(ticket)))


@bp.route("/support/contact/<ticket_id>/messages", methods=["GET", "POST"])
@support_required
def contact_messages(ticket_id):
    ticket = contact.staff_ticket(ticket_id)
    if request.method == "POST":
        return chat.send(ticket, SIDE, agency_name=_agency_name(ticket))
    return chat.poll(ticket, SIDE, agency_name=_agency_name(ticket))


@bp.route("/support/contact/<ticket_id>/close", methods=["POST"])
@support_required
def close_contact(ticket_id):
    ticket = contact.staff_ticket(ticket_id)
    try:
        contact.close_ticket(ticket, current_user, current_actor())
    except Conflict as exc:
        flash(exc.message, "warning")
    else:
        flash(_("Ticket %(id)s is closed.", id=ticket.id), "success")
    target = url_for("support.contact_ticket", ticket_id=ticket.id)
    return htmx_response(redirect=target) if wants_fragment() else redirect(target, code=303)
