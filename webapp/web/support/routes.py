"""The support console (S6): request queues, any account by search, the audit log."""
from flask import abort, flash, make_response, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...services import accounts, audit, contact, support
from ...services.errors import NotFound, ServiceError, ValidationFailed
from ...services.scope import parse_page
from ..decorators import current_actor, support_required
from ..rendering import render
from .blueprint import bp
from .forms import LoginAsForm


def _index(*, login_as: dict | None = None, decision: dict | None = None, status: int = 200):
    """The console; `login_as` is a refused "Log in" ({"account_id", "reason", "error"}) to show again,
    `decision` a refused decision on a request ({"request_id", "error"})."""
    kind = request.args.get("kind") if request.args.get("kind") in support.QUEUE_KINDS else None
    q = (request.args.get("q") or "")[:100]
    filters = {"action": (request.args.get("action") or "")[:60], "account": (request.args.get("account") or "")[:40],
               "since": (request.args.get("since") or "")[:10]}
    requests = support.queue(kind, parse_page(request.args.get("page")))
    events = support.audit_log(**filters, page=parse_page(request.args.get("audit_page")))
    response = render("support/index.html", requests=requests, agency_names=support.agency_names(requests.rows),
                      kind=kind, q=q, found=support.search_accounts(q),
                      events=events, event_accounts=audit.account_names(events.rows), action_label=audit.action_label,
                      filters=filters, here=request.args.to_dict(),
                      actions=support.audit_actions(), kinds=support.QUEUE_KINDS,
                      open_contacts=contact.open_ticket_count(), login_as=login_as or {}, decision=decision or {})
    response.status_code = status
    return response


@bp.route("/support")
@support_required
def index():
    return _index()


@bp.route("/support/accounts/<account_id>/login-as", methods=["POST"])
@support_required
def login_as(account_id):
    """A10 "the agency (and support)": opens any hosted account as its admin, with a reason that is
    audited and e-mailed to the agency. The search it came from (q) is kept for a refusal."""
    form = LoginAsForm()
    reason = form.reason.data or ""
    try:
        if not form.validate_on_submit():
            raise ValidationFailed(" ".join(form.reason.errors) or _("Say why you are logging in."),
                                   {"reason": " ".join(form.reason.errors)})
        link = accounts.support_login_as_link(account_id, current_user, reason, current_actor())
    except ValidationFailed as exc:
        return _index(login_as={"account_id": str(account_id), "reason": reason,
                                "error": exc.fields.get("reason") or exc.message}, status=422)
    except NotFound:
        raise
    except ServiceError as exc:
        return _index(login_as={"account_id": str(account_id), "reason": reason, "error": exc.message}, status=409)
    response = redirect(link, code=303)
    response.headers["Cache-Control"] = "no-store"  # the single-use token is in the Location
    return response


@bp.route("/support/requests/<request_id>/decide", methods=["POST"])
@support_required
def decide(request_id):
    approve = request.form.get("decision") == "approve"
    try:
        decided = support.decide(request_id, approve=approve, reason=request.form.get("reason", "")[:500],
                                 staff=current_user, actor=current_actor())
    except ValidationFailed as exc:
        # A rejection without a reason: said by the reason field of that request.
        return _index(decision={"request_id": str(request_id), "error": exc.message},
                      status=422)
    except NotFound:
        raise
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
    status = request.args.get("status", "")
    status = status if status in support.OUTBOX_STATUSES else ""
    response = render("support/outbox.html", emails=support.outbox(status=status or None), mask=support.mask_secrets,
                      status=status, statuses=support.OUTBOX_STATUSES)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/support/outbox/<email_id>")
@support_required
def outbox_email(email_id):
    response = render("support/outbox_email.html", email=support.open_outbox_email(email_id, current_actor()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/support/outbox/<email_id>/html")
@support_required
def outbox_email_html(email_id):
    """The HTML part as its reader's mail client gets it, in a sandbox: no script, no form, nothing
    fetched but its images (a logo), so an e-mail's content can do nothing in the console."""
    email = support.open_outbox_email(email_id, current_actor())
    if not email.body_html:
        abort(404)
    response = make_response(email.body_html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = ("sandbox; default-src 'none'; img-src https: http: data:; "
                                                   "style-src 'unsafe-inline'")
    response.headers["Cache-Control"] = "no-store"
    return response
