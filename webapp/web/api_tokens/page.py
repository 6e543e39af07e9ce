"""The Agency API page as a whole (tokens, webhooks), drawn by its GET and by the POSTs that answer with it
(a new token's or a new endpoint's secret is shown in that answer, once)."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from ...services import api_tokens, hosts, webhooks
from ..decorators import current_scope
from ..rendering import render
from .forms import TokenForm, WebhookForm


def event_name(kind: str) -> str:
    if kind == webhooks.TEST_EVENT:
        return _("Test event")
    return str(webhooks.EVENT_LABELS.get(kind, kind))


def event_names(kinds) -> list[str]:
    return [event_name(kind) for kind in kinds or ()]


def webhook_form(*args, **kwargs) -> WebhookForm:
    return WebhookForm(*args, event_labels=webhooks.EVENT_LABELS, **kwargs)


def page(form=None, created=None, *, webhook_form_=None, webhook_created=None, status=200):
    scope = current_scope()
    response = render("api_tokens/index.html", form=form or TokenForm(formdata=None), tokens=api_tokens.tokens(scope),
                      created=created, creators=api_tokens.creators(scope), scope_labels=api_tokens.SCOPE_LABELS,
                      expired=api_tokens.expired, last_day=api_tokens.last_day,
                      api_base=hosts.dashboard_url(current_app.extensions["openapi"]["servers"][0]["url"]),
                      endpoints=webhooks.list_endpoints(scope),
                      webhook_form=webhook_form_ or webhook_form(formdata=None),
                      created_webhook=webhook_created, event_names=event_names)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
