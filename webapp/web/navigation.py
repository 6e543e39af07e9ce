"""The top navigation and the side menu (R9). An entry shows once its page exists, and only to the
roles in the team whose permission it names (services/permissions.py; None: every agency user)."""
from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l

from .decorators import can

TOP_NAV = [
    (_l("Resold"), "resold.index", "agency", "view"),
    (_l("Automations"), "pushdown.index", "agency", "library"),
    (_l("Commission"), "commission.index", "agency", "view"),
    (_l("Support console"), "support.index", "support", None),
]

SIDE_MENU = [
    (_l("Reports"), "reports.index", "view"),
    (_l("Billing profile"), "billing.profile", "billing"),
    (_l("Billing history"), "billing.history", "billing"),
    (_l("Prepaid credit"), "billing.prepaid", "charge"),
    (_l("SMS credits"), "billing.sms", "charge"),
    (_l("Compatibility credits"), "billing.compatibility", "charge"),
    (_l("Account default settings"), "whitelabel.defaults", "library"),
    (_l("Team"), "team.index", "team"),
    (_l("Common questions"), "help.faq", None),
    (_l("Agency API"), "api_tokens.index", "api_tokens"),
    (_l("Contact support"), "contact.index", None),
    (_l("My account"), "myaccount.index", None),
]


# Pages reached from a menu entry that keep that entry lit.
PARENT_PAGE = {
    "billing.invoice": "billing.history", "billing.invoice_print": "billing.history",
    "billing.save_details": "billing.profile",
    "whitelabel.templates_index": "whitelabel.defaults", "whitelabel.templates_new": "whitelabel.defaults",
    "whitelabel.templates_show": "whitelabel.defaults",
    "contact.ticket": "contact.index", "contact.messages": "contact.index",
    "support.contact_ticket": "support.contact_tickets", "support.contact_messages": "support.contact_tickets",
    "api_tokens.documentation": "api_tokens.index", "api_tokens.create": "api_tokens.index",
    "api_tokens.webhook_show": "api_tokens.index", "api_tokens.webhook_create": "api_tokens.index",
    "api_tokens.webhook_update": "api_tokens.index",
    "support.agency": "support.agencies",
    "team.invite": "team.index",
    "reports.show": "reports.index", "support.report": "support.reports", "support.new_report": "support.reports",
    "myaccount.notices": "myaccount.index", "myaccount.save_notices": "myaccount.index",
}
# Dashboard areas under each top-navigation tab.
SECTIONS = {"resold.index": {"resold", "accounts", "billing", "myaccount", "help", "contact", "api_tokens", "team",
                            "reports"}}


def _exists(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def register(app) -> None:
    @app.context_processor
    def navigation():
        def top_nav(role):
            return [(label, ep) for label, ep, who, permission in TOP_NAV
                    if who == role and _exists(ep) and (permission is None or can(permission))]

        def side_menu():
            """The entries of R9 the user's role may use; those whose page has not landed yet come
            without a link."""
            return [(label, ep, _exists(ep)) for label, ep, permission in SIDE_MENU
                    if permission is None or can(permission)]

        def is_active(endpoint):
            current = request.endpoint or ""
            return current == endpoint or PARENT_PAGE.get(current) == endpoint

        def is_section(endpoint):
            """Top navigation: the tab whose area the page belongs to."""
            current = (request.endpoint or "").split(".")[0]
            return current in SECTIONS.get(endpoint, {endpoint.split(".")[0]})

        return {"top_nav": top_nav, "side_menu": side_menu, "is_active": is_active, "is_section": is_section,
                "url_exists": _exists, "can": can}
