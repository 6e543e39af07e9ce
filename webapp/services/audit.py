"""Writing the audit log. The caller says who did it; nothing here reads the request."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import AuditEvent, HostedAccount


@dataclass(frozen=True)
class Actor:
    """Who is acting: "user:12", "account_user:3", "api_token:5" or "system"."""

    ref: str
    label: str
    ip: str | None = None
    agency_id: int | None = None
    # An agency user's role in the team (or an API token's creator's): what services.permissions allows.
    team_role: str | None = None

    @classmethod
    def system(cls) -> "Actor":
        return cls("system", "AgencyHQ")


def record(actor: Actor, action: str, *, agency_id: int | None = None, account_id: int | None = None,
           **detail) -> AuditEvent:
    """Adds an event to the session; it commits with the change it describes."""
    event = AuditEvent(actor=actor.ref, actor_label=actor.label[:254], action=action,
                       agency_id=agency_id if agency_id is not None else actor.agency_id,
                       account_id=account_id, ip=actor.ip, detail=detail)
    db.session.add(event)
    return event


# What each recorded action is called where people read the log (the support console): one table, so
# a new action without a name fails tests/test_papercuts.py instead of showing its key.
ACTION_LABELS = {
    "account_cancelled": _l("Account cancelled"),
    "account_card_saved": _l("Account's card saved"),
    "account_created": _l("Account created"),
    "account_details_changed": _l("Account details changed"),
    "account_disabled_abuse": _l("Account disabled for abuse"),
    "account_disabled_agency": _l("Account disabled by its agency"),
    "account_enabled_abuse": _l("Account re-enabled after abuse"),
    "account_enabled_agency": _l("Account re-enabled by its agency"),
    "account_renewed": _l("Account renewed"),
    "account_resumed": _l("Account resumed"),
    "agency_access_ended": _l("Agency access ended"),
    "agency_approved": _l("Agency approved"),
    "agency_created": _l("Agency created"),
    "agency_reactivated": _l("Agency reactivated"),
    "agency_rejected": _l("Agency rejected"),
    "agency_signed_up": _l("Agency signed up"),
    "agency_suspended": _l("Agency suspended"),
    "api_token_created": _l("API token created"),
    "api_token_revoked": _l("API token revoked"),
    "automation_deleted": _l("Automation deleted"),
    "automation_saved": _l("Automation saved"),
    "billing_card_saved": _l("Billing card saved"),
    "billing_details_saved": _l("Billing details saved"),
    "branding_defaults_saved": _l("Default branding saved"),
    "branding_overridden": _l("Account branding set"),
    "branding_reset": _l("Account branding reset"),
    "client_account_locked": _l("Client login locked"),
    "client_login_failed": _l("Client login failed"),
    "client_login_locked_out": _l("Client login refused (locked)"),
    "client_login_succeeded": _l("Client logged in"),
    "client_login_throttled": _l("Client login throttled"),
    "client_password_reset": _l("Client password reset"),
    "client_password_reset_requested": _l("Client password reset requested"),
    "client_password_reset_sent_by_agency": _l("Password reset sent to the client by the agency"),
    "client_password_reset_throttled": _l("Client password reset throttled"),
    "client_password_set_by_agency": _l("Client password set by the agency"),
    "commission_account_signed_up": _l("Referred account signed up"),
    "commission_paid_out": _l("Commission paid out"),
    "commission_paypal_email_set": _l("Commission PayPal address set"),
    "compatibility_credits_bought": _l("Compatibility credits bought"),
    "contact_ticket_closed": _l("Contact ticket closed"),
    "contact_ticket_opened": _l("Contact ticket opened"),
    "credentials_erased": _l("Login details erased"),
    "credit_moved": _l("Credit moved"),
    "custom_domain_failing": _l("Custom domain failing"),
    "custom_domain_registered": _l("Custom domain registered"),
    "custom_domain_released": _l("Custom domain released"),
    "custom_domain_restored": _l("Custom domain restored"),
    "custom_domain_set": _l("Custom domain set"),
    "custom_domain_stopped": _l("Custom domain stopped"),
    "custom_domain_verified": _l("Custom domain verified"),
    "detach_approved": _l("Detach approved"),
    "detach_rejected": _l("Detach rejected"),
    "detach_requested": _l("Detach requested"),
    "email_change_requested": _l("E-mail change requested"),
    "email_changed": _l("E-mail changed"),
    "franchise_disabled": _l("Franchise disabled"),
    "franchise_enabled": _l("Franchise enabled"),
    "invoice_dispute_updated": _l("Invoice dispute updated"),
    "invoice_disputed": _l("Invoice disputed"),
    "invoice_refunded_outside": _l("Invoice refunded outside AgencyHQ"),
    "login_as_ended": _l("Login-as ended"),
    "login_as_link": _l("Login-as link made"),
    "login_as_started": _l("Login-as started"),
    "name_changed": _l("Name changed"),
    "notice_settings_changed": _l("Notice settings changed"),
    "operation_retried": _l("Operation retried"),
    "outbox_email_opened": _l("Outbox e-mail opened"),
    "password_changed": _l("Password changed"),
    "password_link_created": _l("Password link made"),
    "password_reset": _l("Password reset"),
    "password_reset_requested": _l("Password reset requested"),
    "password_reset_throttled": _l("Password reset throttled"),
    "password_set": _l("Password set"),
    "plan_downgrade_scheduled": _l("Plan downgrade scheduled"),
    "plan_upgraded": _l("Plan upgraded"),
    "prepaid_bought": _l("Prepaid credit bought"),
    "provisioning_retried": _l("Set-up retried"),
    "pushdown_activated": _l("Pushdown activated"),
    "pushdown_created": _l("Pushdown created"),
    "pushdown_deactivated": _l("Pushdown deactivated"),
    "pushdown_deleted": _l("Pushdown deleted"),
    "pushdown_published": _l("Pushdown published"),
    "pushdown_retried": _l("Pushdown retried"),
    "pushdown_schedule_failed": _l("Scheduled pushdown failed"),
    "pushdown_scheduled": _l("Pushdown scheduled"),
    "pushdown_updated": _l("Pushdown updated"),
    "reauthentication_failed": _l("Password confirmation failed"),
    "report_acknowledged": _l("Report acknowledged"),
    "report_closed": _l("Report closed"),
    "report_filed": _l("Report filed"),
    "sign_in_code_asked": _l("Sign-in code asked"),
    "sign_in_code_failed": _l("Sign-in code failed"),
    "sign_in_code_throttled": _l("Sign-in code throttled"),
    "sign_in_email_locked": _l("Sign-in locked for an e-mail"),
    "sign_in_failed": _l("Sign-in failed"),
    "sign_in_locked_out": _l("Sign-in refused (locked)"),
    "sign_in_refused": _l("Sign-in refused"),
    "sign_in_succeeded": _l("Signed in"),
    "sign_in_throttled": _l("Sign-in throttled"),
    "signed_out_elsewhere": _l("Signed out elsewhere"),
    "signed_out_login": _l("Signed out a login"),
    "signup_email_confirmed": _l("Sign-up e-mail confirmed"),
    "sms_credits_bought": _l("SMS credits bought"),
    "support_login_as_link": _l("Support login-as link made"),
    "support_user_created": _l("Support user created"),
    "team_2fa_not_required": _l("Two-factor authentication no longer required"),
    "team_2fa_required": _l("Two-factor authentication required"),
    "team_invite_accepted": _l("Team invitation accepted"),
    "team_invite_revoked": _l("Team invitation revoked"),
    "team_member_invited": _l("Team member invited"),
    "team_member_removed": _l("Team member removed"),
    "team_ownership_transferred": _l("Ownership transferred"),
    "team_role_changed": _l("Team role changed"),
    "template_added": _l("Template added"),
    "template_deleted": _l("Template deleted"),
    "template_edited": _l("Template edited"),
    "template_imported": _l("Template imported"),
    "template_share_revoked": _l("Template sharing revoked"),
    "template_shared": _l("Template shared"),
    "transfer_approved": _l("Transfer approved"),
    "transfer_confirmed_by_client": _l("Transfer confirmed by the client"),
    "transfer_rejected": _l("Transfer rejected"),
    "transfer_requested": _l("Transfer requested"),
    "trial_converted": _l("Trial converted"),
    "trial_extended": _l("Trial extended"),
    "trial_extension_approved": _l("Trial extension approved"),
    "trial_extension_rejected": _l("Trial extension rejected"),
    "trial_extension_requested": _l("Trial extension requested"),
    "two_factor_disabled": _l("Two-factor authentication turned off"),
    "two_factor_enabled": _l("Two-factor authentication turned on"),
    "two_factor_recovery_codes_renewed": _l("Recovery codes renewed"),
    "two_factor_reset_by_support": _l("Two-factor authentication reset by support"),
    "webhook_delivery_resent": _l("Webhook delivery resent"),
    "webhook_endpoint_created": _l("Webhook endpoint added"),
    "webhook_endpoint_deleted": _l("Webhook endpoint deleted"),
    "webhook_endpoint_disabled": _l("Webhook endpoint disabled after 3 days of failures"),
    "webhook_endpoint_updated": _l("Webhook endpoint changed"),
    "webhook_test_sent": _l("Webhook test event sent"),
}


def action_label(action: str) -> str:
    """The action in words, in the reader's language; an unknown one (an old row) in plain words."""
    known = ACTION_LABELS.get(action)
    return str(known) if known is not None else action.replace("_", " ").capitalize()


def account_names(events) -> dict[int, str]:
    """{account id: name} for the accounts these events are about, in one query."""
    ids = {e.account_id for e in events if e.account_id}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(HostedAccount.id, HostedAccount.name).where(HostedAccount.id.in_(ids))).all())
