"""Everything an agency user can change from the dashboard, and the API endpoint that does the same over
the same service (X1: the API "does what the dashboard does"). tests/test_api_parity.py walks the
dashboard's URL map and fails when a state-changing endpoint of an agency area is in neither table."""
from __future__ import annotations

from .areas import AREAS

# The blueprints an agency's team works in. The others are not the agency's dashboard: sign-in and
# sign-up (auth), one's own login settings (myaccount), the hosted account's own pages (client), the
# support console (support), a referral's sign-up page and the card processor's incoming webhooks.
AGENCY_BLUEPRINTS = ("accounts", "api_tokens", "billing", "commission", "contact", "pushdown", "reports", "team",
                     "whitelabel")

# routes.py's twins.
CORE = {
    "accounts.new": "api.create_account",
    "accounts.cancel": "api.cancel",
    "accounts.change_plan": "api.change_plan",
    "accounts.disable": "api.disable",
    "accounts.enable": "api.enable",
    "accounts.extend_trial": "api.extend_trial",
    "accounts.login_as": "api.login_link",
    "accounts.resume": "api.resume",
    "accounts.retry": "api.retry_provisioning",
    "accounts.save_details": "api.update_account",
    "accounts.send_reset": "api.password_reset",
    "billing.move": "api.move_credits",
}

# Deliberately dashboard-only, each with its reason.
EXCEPTIONS = {
    "accounts.dismiss_credentials": "Hides the generated password on the dashboard's account page once it has "
                                    "been read; the API gives it once in the provisioning operation's answer and "
                                    "has nothing to hide afterwards.",
    "accounts.confirm_transfer": "The account's admin confirms a transfer from the link e-mailed to them, without "
                                 "signing in: it is the client's step, not the agency's, so a token cannot do it. "
                                 "The agency asks for it with POST /transfers and follows it with GET /transfers.",
    "api_tokens.create": "A token cannot make tokens: a leaked token must not be able to mint fresh ones that "
                         "outlive its revocation. Tokens are made by a signed-in person on the Agency API page.",
    "api_tokens.revoke": "Revoked by a signed-in person on the Agency API page (or `flask revoke-api-token`), for "
                         "the same reason tokens are made there.",
    "contact.index": "Writing to AgencyHQ's support is a conversation between people, on the Contact page.",
    "contact.messages": "The replies of a support conversation, as above.",
    "pushdown.steps_fragment": "Re-renders the automation editor's steps as the person edits them (an htmx "
                               "fragment); the API sends the whole automation at once.",
    "pushdown.open_parent": "Opens the parent account in the browser as its admin (a session cookie); the API "
                            "reads and writes the parent's automations directly.",
    "whitelabel.templates_live_preview": "Renders a template as it is typed (an htmx fragment); nothing is saved.",
    "billing.profile": "The card is typed only into the card processor's own form (Stripe Elements, or the sandbox's "
                       "page), never sent through AgencyHQ's API: the API reads the card on file (brand, last 4, "
                       "expiry) at GET /billing/profile.",
    "commission.referral_signup": "The public sign-up page of an agency's referral link, filled in by a new client, "
                                  "not by the agency: the API lists the accounts it created (GET /commission/referred).",
    "team.accept": "Accepting an invitation is done by the person invited, signing in as themselves (a password, "
                   "2FA): it cannot be done with the agency's token. Invitations are made and revoked through the API.",
    "team.transfer": "Handing the agency to another Owner asks for the Owner's password again (re-authentication) "
                     "on the Team page; a token cannot prove who holds it.",
}


def twins() -> dict[str, str]:
    table = dict(CORE)
    for area in AREAS:
        overlap = set(table) & set(area.TWINS)
        if overlap:
            raise RuntimeError(f"{area.__name__}: {sorted(overlap)} already have a twin")
        table.update(area.TWINS)
    return table
