"""The Agency API page's webhooks: the agency's endpoints, one endpoint's page (edit, enable or disable,
delete, send a test event) and its delivery log with Resend. Views parse and call services/webhooks.py,
which holds the rules (https, no private address, the events there are) and the transaction."""
from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_htmx import make_response as htmx_response

from ...services import webhooks
from ...services.errors import NotFound, ServiceError, ValidationFailed
from ...services.scope import parse_id
from ..decorators import agency_required, current_actor, current_scope, permission_required, recent_login_required
from ..forms import apply_errors
from ..rendering import render, wants_fragment
from .blueprint import bp
from .forms import WebhookEnabledForm
from .page import event_name, page, webhook_form

LOG_PAGE = 25
STATUS_LABELS = {"pending": _l("Waiting"), "sending": _l("Sending"), "succeeded": _l("Delivered"),
                 "failed": _l("Failed")}
# The badge colours the app already has (static/css/app.css), by delivery status.
STATUS_CLASS = {"pending": "provisioning", "sending": "provisioning", "succeeded": "active", "failed": "expired"}


@dataclass(frozen=True)
class Notice:
    """What an htmx answer says at the top of the log it replaces (a full page says it with a flash)."""

    text: str
    category: str = "success"


def _before() -> int | None:
    """The log page in the URL: deliveries older than this id; anything else is the newest page."""
    value = request.args.get("before")
    try:
        return parse_id(value) if value else None
    except ServiceError:
        return None


def _log_context(scope, endpoint, before: int | None, notice: Notice | None = None) -> dict:
    rows = webhooks.deliveries(scope, endpoint.id, limit=LOG_PAGE + 1, before_id=before)
    page, more = rows[:LOG_PAGE], len(rows) > LOG_PAGE
    return {"endpoint": endpoint, "deliveries": page, "before": before, "older": page[-1].id if more and page else None,
            # The newest page refreshes itself while a delivery is on its way, and stops when none is.
            "waiting": before is None and any(d.status in ("pending", "sending") for d in page),
            "notice": notice, "event_name": event_name, "status_labels": STATUS_LABELS, "status_class": STATUS_CLASS}


def _show_page(endpoint, form=None, toggle_form=None, status=200):
    scope = current_scope()
    if form is None:
        form = webhook_form(formdata=None, data={"url": endpoint.url, "description": endpoint.description,
                                                 "events": list(endpoint.events or [])})
    response = render("api_tokens/webhook.html", "api_tokens/_deliveries.html", form=form,
                      toggle_form=toggle_form or WebhookEnabledForm(formdata=None),
                      **_log_context(scope, endpoint, _before()))
    response.status_code = status
    return response


def _log_answer(endpoint_id, notice: Notice):
    """After Resend or Send test event: an htmx request gets the newest page of the log with the notice;
    a plain form post is sent back to the endpoint's page, the notice flashed (303)."""
    target = url_for("api_tokens.webhook_show", endpoint_id=endpoint_id)
    if not wants_fragment():
        flash(notice.text, notice.category)
        return redirect(target, code=303)
    scope = current_scope()
    endpoint = webhooks.get_endpoint(scope, endpoint_id)
    # The newest page answers, wherever the log was: the address says so (replaced, not a new history entry).
    response = htmx_response(render("api_tokens/_deliveries.html", **_log_context(scope, endpoint, None, notice)),
                             replace_url=target)
    response.vary.add("HX-Request")
    return response


@bp.route("/settings/api/webhooks", methods=["POST"])
@agency_required
@permission_required("api_tokens")
@recent_login_required
def webhook_create():
    """As with a token, the secret is in this answer and nowhere else: the page a POST answers with shows it once."""
    form = webhook_form()
    if not form.validate_on_submit():
        return page(webhook_form_=form, status=422)
    try:
        endpoint, secret = webhooks.create_endpoint(current_scope(), url=form.url.data,
                                                    events=list(form.events.data or []),
                                                    description=form.description.data or "", actor=current_actor())
    except ValidationFailed as exc:
        apply_errors(form, exc)
        return page(webhook_form_=form, status=422)
    return page(webhook_created={"endpoint": endpoint, "secret": secret}, status=201)


@bp.route("/settings/api/webhooks/<endpoint_id>")
@agency_required
@permission_required("api_tokens")
def webhook_show(endpoint_id):
    return _show_page(webhooks.get_endpoint(current_scope(), parse_id(endpoint_id)))


@bp.route("/settings/api/webhooks/<endpoint_id>", methods=["POST"])
@agency_required
@permission_required("api_tokens")
@recent_login_required
def webhook_update(endpoint_id):
    """The edit form (url, description, events) and the Enable / Disable button (`enabled` alone) post here."""
    scope = current_scope()
    endpoint = webhooks.get_endpoint(scope, parse_id(endpoint_id))  # another agency's: 404 before anything
    if "url" in request.form or "events" in request.form:
        form = webhook_form()
        if not form.validate_on_submit():
            return _show_page(endpoint, form=form, status=422)
        try:
            webhooks.update_endpoint(scope, endpoint.id, url=form.url.data, events=list(form.events.data or []),
                                     description=form.description.data or "", actor=current_actor())
        except ValidationFailed as exc:
            apply_errors(form, exc)
            return _show_page(endpoint, form=form, status=422)
        flash(_("The endpoint is saved."), "success")
    else:
        toggle = WebhookEnabledForm()
        if not toggle.validate_on_submit():
            toggle.form_errors.append(_("Choose whether the endpoint is enabled."))
            return _show_page(endpoint, toggle_form=toggle, status=422)
        try:
            endpoint = webhooks.update_endpoint(scope, endpoint.id, enabled=toggle.enabled.data == "yes",
                                                actor=current_actor())
        except ValidationFailed as exc:
            apply_errors(toggle, exc)
            return _show_page(endpoint, toggle_form=toggle, status=422)
        flash(_("The endpoint is enabled: new events are sent to it.") if endpoint.enabled else
              _("The endpoint is disabled: no events are sent to it until you enable it again."), "success")
    return redirect(url_for("api_tokens.webhook_show", endpoint_id=endpoint.id), code=303)


@bp.route("/settings/api/webhooks/<endpoint_id>/delete", methods=["POST"])
@agency_required
@permission_required("api_tokens")
def webhook_delete(endpoint_id):
    scope = current_scope()
    endpoint = webhooks.get_endpoint(scope, parse_id(endpoint_id))
    url = endpoint.url
    webhooks.delete_endpoint(scope, endpoint.id, actor=current_actor())
    flash(_("The endpoint %(url)s is deleted: no more events are sent to it.", url=url), "success")
    target = url_for("api_tokens.index") + "#webhooks"
    return htmx_response(redirect=target) if wants_fragment() else redirect(target, code=303)


@bp.route("/settings/api/webhooks/<endpoint_id>/test", methods=["POST"])
@agency_required
@permission_required("api_tokens")
def webhook_test(endpoint_id):
    scope = current_scope()
    endpoint = webhooks.get_endpoint(scope, parse_id(endpoint_id))
    try:
        webhooks.send_test(scope, endpoint.id, actor=current_actor())
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return _log_answer(endpoint.id, Notice(exc.message, "danger"))
    return _log_answer(endpoint.id, Notice(_("A test event is on its way; its delivery appears below.")))


@bp.route("/settings/api/webhooks/<endpoint_id>/deliveries/<delivery_id>/resend", methods=["POST"])
@agency_required
@permission_required("api_tokens")
def webhook_resend(endpoint_id, delivery_id):
    scope = current_scope()
    endpoint = webhooks.get_endpoint(scope, parse_id(endpoint_id))
    if webhooks.get_delivery(scope, delivery_id).endpoint_id != endpoint.id:
        raise NotFound()  # the address names the endpoint: another one's delivery is not found here
    try:
        delivery = webhooks.resend(scope, parse_id(delivery_id), actor=current_actor())
    except ServiceError as exc:
        if exc.status == 404:
            raise
        return _log_answer(endpoint.id, Notice(exc.message, "danger"))
    return _log_answer(delivery.endpoint_id, Notice(_("Event %(id)s is sent again as a new delivery.",
                                                      id=delivery.event.public_id)))
