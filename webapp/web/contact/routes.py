"""Contact support (S3): open a ticket (support is e-mailed), see your agency's tickets, and talk
with support in each ticket's live chat."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import contact
from ..decorators import agency_required, current_actor, current_scope
from ..forms import submit
from ..rendering import render
from . import chat
from .blueprint import bp
from .forms import TicketForm

SIDE = chat.Side(page="contact.ticket", messages="contact.messages", template="contact/ticket.html")


@bp.route("/contact", methods=["GET", "POST"])
@agency_required
def index():
    form = TicketForm()
    status = 200
    if request.method == "GET" and request.args.get("account"):
        form.account.data = request.args["account"][:40]
    # The form checks the CSRF token; the rules are the service's.
    sent = submit(form, lambda: contact.open_ticket(current_scope(), current_user, subject=form.subject.data,
                                                    message=form.message.data, account_name=form.account.data,
                                                    actor=current_actor()))
    if sent.done:
        flash(_("Ticket %(id)s is open and support has been e-mailed. You can chat with them here.",
                id=sent.value.id), "success")
        return redirect(url_for("contact.ticket", ticket_id=sent.value.id), code=303)
    status = sent.status
    return render("contact/index.html", form=form, tickets=contact.agency_tickets(current_scope())), status


@bp.route("/contact/<ticket_id>")
@agency_required
def ticket(ticket_id):
    ticket = contact.agency_ticket(current_scope(), ticket_id)
    return render(SIDE.template, **chat.page_context(ticket, SIDE))


@bp.route("/contact/<ticket_id>/messages", methods=["GET", "POST"])
@agency_required
def messages(ticket_id):
    """GET: the lines after ?after= (polled every 2 s). POST: a new line."""
    ticket = contact.agency_ticket(current_scope(), ticket_id)
    if request.method == "POST":
        return chat.send(ticket, SIDE)
    return chat.poll(ticket, SIDE)
