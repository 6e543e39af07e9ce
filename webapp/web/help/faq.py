"""Common questions (S1): the agency FAQ of seed 000, in our own words and about our product.

Kept as data: each entry says which page it talks about by endpoint name, and the page links it
only when that endpoint exists (pushdown, the API and commission land in their own time)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

MAX_QUERY = 100


@dataclass(frozen=True)
class Link:
    label: object  # a lazy string
    endpoint: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Question:
    slug: str  # the anchor on the page: /help#q-<slug>
    topic: str
    question: object
    answer: object  # paragraphs separated by a blank line
    links: tuple[Link, ...] = ()
    # The e-mails (mail kinds, templates/email/<kind>.*) the answer promises: tests/test_faq.py checks that
    # each exists and is sent, so the page says only what the platform does.
    notices: tuple[str, ...] = ()

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in str(self.answer).split("\n\n") if p.strip()]


TOPICS = {
    "accounts": _l("Resold accounts"),
    "plans": _l("Plans and trials"),
    "billing": _l("Billing and credits"),
    "branding": _l("White label"),
    "logins": _l("Logins and passwords"),
    "support": _l("Support"),
    "more": _l("Automations, API and commission"),
}

RESOLD = Link(_l("Resold tab"), "resold.index")

FAQ: tuple[Question, ...] = (
    # ---- resold accounts ---------------------------------------------------------------------------------
    Question("resold-tab", "accounts", _l("What is on the Resold tab?"), _l(
        "The Resold tab is your home page. It lists every hosted account you resell: search as you type by "
        "account name, client, e-mail or domain; filter by plan type (Trial, Monthly, Annual) and by status "
        "(Active by default, Expired or All); sort by name, plan size, creation date or expiry date.\n\n"
        "Above the list you see your current agency discount and how many paid accounts you have. The side "
        "menu leads to billing, credits, your default branding, these questions and support."),
        (RESOLD,)),
    Question("add-account", "accounts", _l("How do I add a new account for a client?"), _l(
        "On the Resold tab, press “Add New”. The account name becomes the address your client logs in at "
        "(the name followed by our domain); we tell you as you type whether it is free. You may also give a "
        "custom domain.\n\n"
        "The client's name and e-mail are required, but we never write to your client about the account. The notification "
        "e-mail is where we write to you about this account (billing, campaign approval, abuse, bounces): use "
        "an address you read. Pick the account's language and time zone, then the plan: tier, monthly, annual "
        "or trial, and contact limit. The price shown is the list price, before your discount."),
        (Link(_l("Add a new account"), "accounts.new"),)),
    Question("after-pay", "accounts", _l("What happens after “Add & Pay Now”, and how does my client get the "
                                         "login details?"), _l(
        "The first period is charged (nothing for a trial) and the account is set up in the background while "
        "the page shows the progress. You may close the browser, reload or go back: the work goes on and the "
        "result waits on the account's page.\n\n"
        "When it is ready you get the login address, the username (admin) and a generated password. Hand them "
        "to your client yourself: we never send them. Your client can change the password afterwards in the "
        "account's Settings."),
        (RESOLD,)),
    Question("transfer-in", "accounts", _l("Can I bring an existing account under my agency?"), _l(
        "Yes. On the Resold tab, choose “Transfer an account in” and give the account's address and its "
        "admin's e-mail. The admin gets an e-mail with a link to confirm; support then moves the account to "
        "you and you are told by e-mail. It is billed to you from its next renewal."),
        (Link(_l("Transfer an account in"), "accounts.transfer"),), ("transfer_confirm", "transfer_decided")),
    Question("delete-account", "accounts", _l("Can I delete an account from my dashboard?"), _l(
        "No, accounts cannot be deleted. You can cancel one so that it is not renewed, or ask support to "
        "detach it: it then becomes a standalone account owned and paid by your client, and leaves your list "
        "and your billing. Remove your branding from it first. The request is on the account's page, under "
        "“Detach to a standalone account”."),
        (RESOLD,), ("detach_decided",)),
    Question("cancel-account", "accounts", _l("How do I cancel an account?"), _l(
        "On the Resold tab, open the menu beside the account's “Login” button, choose “Change”, then “Cancel "
        "this account”. It is not renewed again; it stays usable until the end of the period already paid, "
        "then expires."),
        (RESOLD,)),
    # ---- plans and trials -------------------------------------------------------------------------------------
    Question("trials", "plans", _l("Can I create trial accounts?"), _l(
        "Yes, as many as you like: choose “Trial” as the billing when you add an account. A trial costs "
        "nothing, has the usual trial limits and can carry your branding. We write to you three days before a "
        "trial ends, and again when it has ended.\n\n"
        "Once a trial has expired, show Expired (or All) accounts on the Resold tab: the green “Renew” button "
        "opens “Change your account”, where you move it to a paid plan."),
        (Link(_l("Expired accounts"), "resold.index", {"status": "expired"}),), ("trial_ending", "trial_ended")),
    Question("extend-trial", "plans", _l("Can a trial be extended?"), _l(
        "Once, by yourself, with “Extend the trial” on the account's page. After that, the same button sends "
        "a request to support, who decide on a further extension; you are told of their decision by e-mail."),
        (RESOLD,), ("trial_extension_decided",)),
    Question("annual", "plans", _l("Can I resell annual plans?"), _l(
        "Yes. Choose “Annual” as the billing when you add the account or change its plan. An annual account "
        "renews once a year on its own day; everything else works as with monthly plans."),
        (Link(_l("Add a new account"), "accounts.new"),)),
    Question("change-plan", "plans", _l("How do I change an account's plan?"), _l(
        "Open the account (“Change” in its menu on the Resold tab) and pick the tier, the billing and the "
        "contact limit. The next page shows what it charges today (the pro-rata part, your discount, the "
        "prepaid credit spent and what goes to your card) and what each renewal costs after; nothing is charged "
        "until you press Confirm. An upgrade is charged at once, pro rata for the rest of the current period; a "
        "downgrade takes effect at the next renewal."),
        (RESOLD,)),
    # ---- billing and credits ------------------------------------------------------------------------------------
    Question("how-billed", "billing", _l("How am I billed?"), _l(
        "Every resold account is charged on its own renewal day, monthly or yearly, after your agency "
        "discount, to the one card of your billing profile. Paid and disabled accounts are both charged.\n\n"
        "We bill you, never your clients: charging them is up to you. If you would rather see one charge a "
        "month, buy prepaid credit at the start of the month to cover your renewals."),
        (Link(_l("Billing profile"), "billing.profile"), Link(_l("Prepaid credit"), "billing.prepaid"))),
    Question("card", "billing", _l("How do I see or change my card?"), _l(
        "Open “Billing profile” in the side menu. One card pays for every account you resell. We keep only "
        "its brand, its last four digits and its expiry date; the number itself goes to the payment "
        "processor."),
        (Link(_l("Billing profile"), "billing.profile"),)),
    Question("invoices", "billing", _l("Where are my past invoices?"), _l(
        "“Billing history” lists every invoice of your resold accounts with its lines: list price, discount, "
        "prepaid credit applied and the amount charged to your card. Filter by account or month, open an "
        "invoice to print it, or download the list as CSV."),
        (Link(_l("Billing history"), "billing.history"),)),
    Question("discount", "billing", _l("How does the agency discount work?"), _l(
        "The more paid accounts you have, the larger your discount, by tiers. Your current discount and the "
        "number of paid accounts are shown on the Resold tab; the discount applies to every charge and "
        "appears on each invoice."),
        (RESOLD,)),
    Question("prepaid", "billing", _l("What is prepaid credit?"), _l(
        "Credit you buy in advance, in fixed amounts, into your agency's pool; you can assign some of it to one "
        "account, move it between accounts and back to the pool. It is spent before your card on every charge "
        "(an account's own credit first, then the pool): renewals, upgrades, SMS and compatibility credits. When "
        "it runs out, your card is charged as usual.\n\n"
        "Each time prepaid credit is spent, an authorization of 1.00 is placed on your card and released at "
        "once; it is never captured."),
        (Link(_l("Prepaid credit"), "billing.prepaid"),)),
    Question("sms-compat", "billing", _l("How do I give SMS or compatibility credits to an account?"), _l(
        "Open “SMS credits” or “Compatibility credits” in the side menu and buy a pack into your pool (or "
        "straight for one account); then assign credits from the pool to accounts as they need them, move them "
        "between accounts or back to the pool. SMS credits go only to plans that can send SMS (Plus, "
        "Professional, Enterprise, and their trials), never to Lite, expired or disabled accounts. "
        "Compatibility credits let your clients preview their e-mails as Gmail, Outlook or a phone would "
        "show them."),
        (Link(_l("SMS credits"), "billing.sms"), Link(_l("Compatibility credits"), "billing.compatibility"))),
    # ---- white label ----------------------------------------------------------------------------------------------
    Question("branding", "branding", _l("How do I put my own brand on the accounts I resell?"), _l(
        "“Account default settings” holds your branding: product name, logo, colour, support e-mail and link, "
        "and the text of the login page. New accounts get it; “Update all existing hosted accounts” applies "
        "it to the ones you already have, except those with a branding of their own. One account can have its "
        "own branding through “White-label settings” in its menu.\n\n"
        "Rebranding hides our name, but a determined person may still trace technical details such as server "
        "addresses back to us. What you sell is your service around the platform: support, templates, advice."),
        (Link(_l("Account default settings"), "whitelabel.defaults"),)),
    Question("custom-domain", "branding", _l("Can an account answer at its own domain?"), _l(
        "Yes. On the account's page, under “Custom domain (CNAME)”, enter the domain, create the CNAME record "
        "shown there at the domain's provider, then press “Verify”. Once the record is found, the account's "
        "login page answers at that domain with your branding."),
        (RESOLD,)),
    # ---- logins -----------------------------------------------------------------------------------------------------
    Question("login-as", "logins", _l("Can I log in to my clients' accounts?"), _l(
        "Yes. The “Login” button of each account on the Resold tab opens it as its admin, without the "
        "password. Every such entry is written to the audit log."),
        (RESOLD,)),
    Question("forgot-locked", "logins", _l("My client forgot the password or is locked out. What now?"), _l(
        "On the account's login page, “Forgot?” sends a reset link to the admin's e-mail; the link works once "
        "and for 60 minutes, and carries the account's branding. You can also send that e-mail yourself from "
        "the account's page, or log in to the "
        "account and set a new password on its Settings page, then hand it over with the username admin.\n\n"
        "After five failed logins in a row the account's login is locked for five minutes: until then every "
        "attempt fails with “Failed attempt”, even with the right or a freshly reset password. Wait five "
        "minutes and try again."),
        (RESOLD,), ("client_password_reset",)),
    # ---- support ----------------------------------------------------------------------------------------------------
    Question("support-clients", "support", _l("Do you support my clients, and will they see our notices?"), _l(
        "You are your clients' first contact. If one of them reaches us anyway, we help as well as we can and "
        "copy you; billing questions are sent back to you.\n\n"
        "We do not write to your clients about their accounts: expiry and billing notices, abuse and bounce "
        "reports and any question about an account go to that account's notification e-mail, which is yours. "
        "A client gets only the e-mails it asks for itself, such as a password reset or the confirmation of a "
        "transfer, and they carry your branding, never our name."),
        (Link(_l("Contact support"), "contact.index"),), ("account_expired", "renewal_declined", "abuse_report")),
    Question("contact", "support", _l("How do I reach support?"), _l(
        "Open “Contact support” in the side menu and write your message, about one account or in general. It "
        "opens a ticket and e-mails our support team. Each ticket has its own page with a live chat: our "
        "answers appear there as they are written, each is also e-mailed to you with the ticket's link, and the "
        "whole conversation stays on the ticket."),
        (Link(_l("Contact support"), "contact.index"),), ("contact_ticket", "ticket_reply")),
    Question("notices", "support", _l("Which e-mails do you send me, and can I turn some off?"), _l(
        "About each account, to its notification e-mail: three days before a trial ends and when it has ended; "
        "when an account expires; a receipt for each paid renewal; seven days before an annual plan renews; "
        "when a renewal is declined and when an unpaid account is disabled; abuse and bounce reports; and when "
        "an account is transferred away from you or detached.\n\n"
        "About your agency, to the address of your notice settings (your owners when it is blank): failed "
        "commission payouts, the daily digest of renewals, and a webhook endpoint turned off after three days of "
        "failed deliveries. Support's replies to your tickets go to whoever opened the ticket.\n\n"
        "Under My account, “Notices” sets that address, the language of these e-mails, and the optional ones: "
        "receipts, one digest the next morning instead of receipts when more than five accounts renew the same "
        "day, and the annual renewal reminders. Declines, disabling, abuse reports and security notices cannot be "
        "turned off, nor can trial endings and expiries."),
        (Link(_l("Notices"), "myaccount.notices"),), ("trial_ending", "trial_ended", "account_expired", "renewal_receipt", "renewal_digest",
             "upcoming_renewal", "renewal_declined", "renewal_disabled", "abuse_report", "account_transferred_away",
             "detach_decided", "payout_failed", "ticket_reply", "webhook_disabled")),
    # ---- automations, API, commission ------------------------------------------------------------------------------
    Question("pushdown", "more", _l("What are pushdown automations?"), _l(
        "A feature for franchise partners. You build an automation in your parent account, then push it from "
        "the Automations tab to the sub-accounts you choose, one automation at a time. You choose whether it "
        "is activated at once, at a set date and time, or not at all, and “Activate all” or “Deactivate all” "
        "switches it for every sub-account that holds it. Editing the automation in the parent account "
        "changes no sub-account until you push it again."),
        (Link(_l("Automations"), "pushdown.index"),)),
    Question("api", "more", _l("Can I manage my accounts through an API?"), _l(
        "Yes. The “Agency API” page gives you tokens (read only, or read and write, with an expiry if you like) and "
        "the documentation of a JSON API that does what the dashboard does, under the same rules and your role. "
        "On the same page, webhooks tell your own systems what happened (an account provisioned, an invoice paid, "
        "a report opened...), signed, retried for three days, and listed for 30 days in the API's events."),
        (Link(_l("Agency API"), "api_tokens.index"),)),
    Question("commission", "more", _l("How does the commission programme work?"), _l(
        "The Commission tab gives you a referral link. Accounts that sign up through it are commission "
        "accounts: we bill the client directly, so you are not charged for them and the client sees its own "
        "expiry and billing notices, under your branding. You earn a commission on their payments, paid each month "
        "to the PayPal address of your commission settings; if a payout fails we tell you why."),
        (Link(_l("Commission"), "commission.index"),),
        ("commission_receipt", "account_expired", "upcoming_renewal", "commission_payout", "payout_failed")),
)


def fold(text: str) -> str:
    """Lower case without accents, so that “credit” finds “crédit”."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms_of(query: str) -> list[str]:
    return (query or "").split()[:10]


def search(query: str, entries=FAQ) -> list[Question]:
    """The entries whose question or answer (in the current language) contains every word of the
    query, case- and accent-insensitively; every entry for an empty query."""
    terms = [fold(t) for t in terms_of(query)]
    if not terms:
        return list(entries)
    found = []
    for entry in entries:
        text = fold(f"{entry.question}\n{entry.answer}")
        if all(t in text for t in terms):
            found.append(entry)
    return found


def by_topic(entries) -> list[tuple[object, list[Question]]]:
    """The entries grouped under their topic, topics in their usual order."""
    groups = [(title, [e for e in entries if e.topic == key]) for key, title in TOPICS.items()]
    return [(title, items) for title, items in groups if items]
