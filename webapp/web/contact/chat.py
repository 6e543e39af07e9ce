"""The live chat of a contact ticket (S3), one implementation for both sides: the agency's ticket
page and the support console's. The page polls every 2 s for the lines after the last one it shows;
a line sent comes back through the same fragment, so none is shown twice."""
from __future__ import annotations

from dataclasses import dataclass

from flask import redirect, render_template, request, url_for
from flask_htmx import make_response as htmx_response
from flask_login import current_user

from ...services import contact
from ...services.errors import Conflict, ValidationFailed
from ..forms import apply_errors
from ..rendering import render, wants_fragment
from .forms import ChatForm


@dataclass(frozen=True)
class Side:
    """Where one side's chat lives: its ticket page and the URL that polls and takes new lines."""

    page: str  # endpoint of the ticket page
    messages: str  # endpoint: GET ?after=<id> polls, POST sends
    template: str  # the ticket page's template


def page_context(ticket, side: Side, form: ChatForm | None = None, **extra) -> dict:
    lines = contact.transcript(ticket)
    return {"ticket": ticket, "lines": lines, "after": lines[-1].id if lines else 0, "side": side,
            "chat_form": form or ChatForm(formdata=None), **extra}


def _news(ticket, side: Side, after: int, **extra):
    """The lines after `after`, a poller asking for the ones after them, and the closed notice once closed."""
    lines = contact.transcript(ticket, after, limit=contact.POLL_LIMIT)
    return render("contact/_news.html", ticket=ticket, lines=lines, after=lines[-1].id if lines else after,
                  side=side, **extra)


def poll(ticket, side: Side, **page_extra):
    if not wants_fragment():  # the URL opened on its own: the whole conversation
        return render(side.template, **page_context(ticket, side, **page_extra))
    after = contact.parse_after(request.args.get("after"))
    if ticket.status == "open" and not contact.transcript(ticket, after, limit=1):
        response = htmx_response("", 204)  # nothing new: htmx leaves the page as it is
        response.vary.add("HX-Request")
        return response
    return _news(ticket, side, after)


def send(ticket, side: Side, **page_extra):
    form = ChatForm()
    status = 422
    if form.validate_on_submit():  # the CSRF token; the rules are the service's
        try:
            contact.post_message(ticket, current_user, form.body.data)
        except ValidationFailed as exc:
            apply_errors(form, exc)
        except Conflict as exc:
            form.form_errors.append(exc.message)
            status = 409
        else:
            if not wants_fragment():
                return redirect(url_for(side.page, ticket_id=ticket.id) + "#chat", code=303)
            fresh = ChatForm(formdata=None)
            fresh.body.render_kw = dict(fresh.body.render_kw or {}, autofocus=True)  # keep typing
            return _news(ticket, side, contact.parse_after(request.form.get("after")), fresh_form=fresh)
    if wants_fragment():
        # htmx swaps no 4xx answer: the form comes back in place with its error; nothing was written.
        html = render_template("contact/_chat_form.html", ticket=ticket, side=side, chat_form=form)
        return htmx_response(html, retarget="#chat-form-area", reswap="outerHTML")
    return render(side.template, **page_context(ticket, side, form, **page_extra)), status
