"""Every idempotency key, in one place. A key names something that must happen once: an invoice, a
charge at the gateway, a ledger entry, an operation, an e-mail. The same key twice finds the first
one (a unique column, or the gateway's own idempotency), so a retry, a double click or a worker killed
mid-way never does anything twice. A format here must never change for something already made."""
from __future__ import annotations

import uuid
from datetime import date


def fresh() -> str:
    """A key for a request that carries none of its own: each such request is its own attempt."""
    return uuid.uuid4().hex


# ---- invoices (one per key; a renewal also one per account and period) --------------------------------

def signup_invoice(agency_id: int, request_key: str) -> str:
    return f"signup:{agency_id}:{request_key}"


def referral_invoice(agency_id: int, request_key: str) -> str:
    return f"referral:{agency_id}:{request_key}"


def another_try(key: str) -> str:
    """A new payment for a request whose earlier try was declined (its invoice is void)."""
    return f"{key}:{fresh()[:8]}"


def upgrade_invoice(account_id: int, request_key: str) -> str:
    return f"upgrade:{account_id}:{request_key}"


def trial_to_paid_invoice(account_id: int, request_key: str) -> str:
    return f"trial-to-paid:{account_id}:{request_key}"


def reactivation_invoice(account_id: int, request_key: str) -> str:
    return f"reactivation:{account_id}:{request_key}"


def renewal_invoice(account_id: int, period_start: date) -> str:
    return f"renewal:{account_id}:{period_start.isoformat()}"


def prepaid_invoice(agency_id: int) -> str:
    return f"prepaid:{agency_id}:{fresh()}"


def pack_invoice(kind: str, agency_id: int) -> str:
    return f"{kind}-pack:{agency_id}:{fresh()}"


def api_credits_invoice(request_key: str) -> str:
    return f"api-credits:{request_key}"


# ---- the gateway (it answers a repeated key with its first answer) -------------------------------------

def _attempt_suffix(attempt: int) -> str:
    """Keys of the first attempt at an invoice have no suffix (as they always had); a retry's carry its number."""
    return "" if attempt == 1 else f":attempt-{attempt}"


def charge(invoice_key: str, attempt: int) -> str:
    return f"{invoice_key}:attempt-{attempt}"


def authorization(invoice_id: int, attempt: int) -> str:
    return f"auth:invoice:{invoice_id}{_attempt_suffix(attempt)}"


def authorization_release(invoice_id: int, attempt: int) -> str:
    return f"void:invoice:{invoice_id}{_attempt_suffix(attempt)}"


def refund(invoice_id: int) -> str:
    return f"refund:invoice:{invoice_id}"


def card_token(owner: str) -> str:
    """Saving a card: each save is its own (`owner` is the agency, or the sign-up's invoice key)."""
    return f"tokenize:{owner}"


def card_setup(owner: str) -> str:
    """A card form under a processor that collects the card (Stripe's SetupIntent, and its Customer)."""
    return f"setup:{owner}"


def payout(agency_id: int, month: str) -> str:
    """C3: one payout per (agency, month), at the payout service and as our operation."""
    return f"payout:{agency_id}:{month}"


# ---- credit ledgers (one entry per key) -----------------------------------------------------------------

def prepaid_spent(invoice_id: int, attempt: int) -> str:
    return f"prepaid:invoice:{invoice_id}{_attempt_suffix(attempt)}"


def prepaid_returned(entry_id: int) -> str:
    return f"refund:{entry_id}"


def purchase_invoice(kind: str, agency_id: int, request_key: str) -> str:
    """A purchase of credit confirmed with this request key: a second press of Confirm is the same invoice."""
    return f"{kind}-buy:{agency_id}:{request_key}"[:80]


def credit_move(agency_id: int, request_key: str) -> str:
    """One move of credit between the pool and accounts (two ledger entries: :out and :in)."""
    return f"move:{agency_id}:{request_key}"[:72]


def credit_bought(invoice_id: int) -> str:
    return f"purchase:{invoice_id}"


# ---- operations (one per key) -------------------------------------------------------------------------

def provisioning(account_id: int) -> str:
    return f"provision:{account_id}"


def renewal(account_id: int, period_start: date) -> str:
    return f"renew:{account_id}:{period_start.isoformat()}"


def renewal_retry(invoice_id: int, attempts: int) -> str:
    return f"retry:{invoice_id}:{attempts}"


def email_delivery(email_id: int) -> str:
    return f"email:{email_id}"


def password_reset_request() -> str:
    return f"password-reset:{fresh()}"


def branding_run(agency_id: int) -> str:
    return f"apply-branding:{agency_id}:{fresh()}"


def pushdown_publish(pushdown_id: int, publish_count: int) -> str:
    return f"pushdown:{pushdown_id}:publish:{publish_count}"


# ---- e-mails (one per key) ----------------------------------------------------------------------------

def password_reset_email(operation_id: int) -> str:
    return f"password-reset:{operation_id}"


def account_ready_email(account_id: int) -> str:
    return f"account-ready:{account_id}"


def renewal_notice(what: str, invoice_id: int, attempts: int) -> str:
    return f"renewal-{what}:{invoice_id}:{attempts}"


def receipt_email(invoice_id: int) -> str:
    return f"receipt:{invoice_id}"


def payout_email(payout_id: int) -> str:
    return f"payout-paid:{payout_id}"


def ticket_opened_email(ticket_id: int) -> str:
    return f"contact-opened:{ticket_id}"


def transfer_confirmation_email(request_id: int) -> str:
    return f"transfer-confirm:{request_id}"


def request_decided_email(request_id: int) -> str:
    return f"request-decided:{request_id}"


def agency_notice(what: str, agency) -> str:
    """An agency's owner told of a change of its state (approved, rejected, suspended, reactivated): once
    per change."""
    return f"agency-{what}:{agency.id}:{agency.state_changed_at:%Y%m%d%H%M%S%f}"


def notice(kind: str, subject: str | int, period: object = "") -> str:
    """N2: a notice is keyed by its kind, what it is about and the period it is for (a trial's end day, an
    invoice, a payout's try): a second sweep, a retry or two workers at once find the first e-mail."""
    return f"notice:{kind}:{subject}:{period}"
