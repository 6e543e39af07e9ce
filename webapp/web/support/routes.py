"""The support console (S6): request queues, any account by search, the audit log."""
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import contact, support
from ...services.errors import ServiceError
from ...services.scope import parse_page
from ..decorators import current_actor, support_required
from ..rendering import render
from .blueprint import bp


@bp.route("/support")
@support_required
def index():
    kind = request.args.get("kind") if request.args.get("kind") in support.QUEUE_KINDS else None
    q = (request.args.get("q") or "")[:100]
    filters = {"action": (request.args.get("action") or "")[:60], "account": (request.args.get("account") or "")[:40],
               "since": (request.args.get("since") or "")[:10]}
    return render("support/index.html", requests=support.queue(kind, parse_page(request.args.get("page"))),
                  kind=kind, q=q, found=support.search_accounts(q),
                  events=support.audit_log(**filters, page=parse_page(request.args.get("audit_page"))),
                  filters=filters, here=request.args.to_dict(),
                  actions=support.audit_actions(), kinds=support.QUEUE_KINDS,
                  open_contacts=contact.open_ticket_count())


@bp.route("/support/requests/<request_id>/decide", methods=["POST"])
@support_required
def decide(request_id):
    approve = request.form.get("decision") == "approve"
    try:
        decided = support.decide(request_id, approve=approve, reason=request.form.get("reason", "")[:500],
                                 staff=current_user, actor=current_actor())
    except ServiceError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Request %(id)s %(status)s.", id=decided.id, status=decided.status), "success")
    return redirect(url_for("support.index"), code=303)


@bp.route("/support/outbox")
@support_required
def outbox():
    """Every e-mail the platform sent or keeps (without SMTP_HOST, as with `make run`, they stay here).
    The tokens of their links are hidden here; opening one e-mail shows it in full and is audited."""
    response = render("support/outbox.html", emails=support.outbox(), mask=support.mask_secrets)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/support/outbox/<email_id>")
@support_required
def outbox_email(email_id):
    response = render("support/outbox_email.html", email=support.open_outbox_email(email_id, current_actor()))
    response.headers["Cache-Control"] = "no-store"
    return response
