"""The top navigation and the side menu (R9). An entry shows once its page exists."""
from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l

TOP_NAV = [
    (_l("Resold"), "resold.index", "agency"),
    (_l("Automations"), "pushdown.index", "agency"),
    (_l("Commission"), "commission.index", "agency"),
    (_l("Support console"), "support.index", "support"),
]

SIDE_MENU = [
    (_l("Billing profile"), "billing.profile"),
    (_l("Billing history"), "billing.history"),
    (_l("Prepaid credit"), "billing.prepaid"),
    (_l("SMS credits"), "billing.sms"),
    (_l("Compatibility credits"), "billing.compatibility"),
    (_l("Account default settings"), "whitelabel.defaults"),
    (_l("Common questions"), "help.faq"),
    (_l("Agency API"), "api_tokens.index"),
    (_l("Contact support"), "contact.index"),
    (_l("My account"), "myaccount.index"),
]


# Pages reached from a menu entry that keep that entry lit.
PARENT_PAGE = {
    "billing.invoice": "billing.history", "billing.invoice_print": "billing.history",
    "whitelabel.templates_index": "whitelabel.defaults", "whitelabel.templates_new": "whitelabel.defaults",
    "whitelabel.templates_show": "whitelabel.defaults",
    "contact.ticket": "contact.index", "contact.messages": "contact.index",
    "support.contact_ticket": "support.contact_tickets", "support.contact_messages": "support.contact_tickets",
    "api_tokens.documentation": "api_tokens.index", "api_tokens.create": "api_tokens.index",
    "support.agency": "support.agencies",
}
# Dashboard areas under each top-navigation tab.
SECTIONS = {"resold.index": {"resold", "accounts", "billing", "myaccount", "help", "contact", "api_tokens"}}


def _exists(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def register(app) -> None:
    @app.context_processor
    def navigation():
        def top_nav(role):
            return [(label, ep) for label, ep, who in TOP_NAV if who == role and _exists(ep)]

        def side_menu():
            """Every entry of R9; those whose page has not landed yet come without a link."""
            return [(label, ep, _exists(ep)) for label, ep in SIDE_MENU]

        def is_active(endpoint):
            current = request.endpoint or ""
            return current == endpoint or PARENT_PAGE.get(current) == endpoint

        def is_section(endpoint):
            """Top navigation: the tab whose area the page belongs to."""
            current = (request.endpoint or "").split(".")[0]
            return current in SECTIONS.get(endpoint, {endpoint.split(".")[0]})

        return {"top_nav": top_nav, "side_menu": side_menu, "is_active": is_active, "is_section": is_section,
                "url_exists": _exists}
