"""Every model, importable from one place. Models import nothing of services or web."""
from .accounts import AccountCount, AccountUser, HostedAccount
from .agencies import Agency, User
from .audit import AuditEvent
from .automations import Automation, AutomationVersion, Pushdown, PushdownCopy
from .base import utcnow
from .billing import (BillingProfile, CardSetup, CreditBalance, CreditEntry, GatewayCall, GatewayEvent, Invoice,
                      InvoiceLine)
from .branding import Branding
from .invoicing import BillingDetails, InvoiceNumberCounter
from .commission import CommissionEntry, Payout
from .mail import OutboundEmail
from .operations import Operation
from .reports import AbuseReport
from .sessions import LoginSession, SignInFailures
from .support import SupportMessage, SupportRequest
from .templates import EmailTemplate, TemplateShareLink
from .tokens import ApiIdempotencyRecord, ApiToken, LoginAsToken, PasswordResetToken, RecoveryCode, UserLink
from .webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "AbuseReport", "AccountCount", "AccountUser", "Agency", "ApiIdempotencyRecord", "ApiToken", "AuditEvent", "Automation",
    "AutomationVersion", "BillingDetails", "BillingProfile", "Branding", "CardSetup", "CommissionEntry", "CreditBalance",
    "CreditEntry", "EmailTemplate", "GatewayCall", "GatewayEvent", "HostedAccount", "Invoice", "InvoiceLine", "InvoiceNumberCounter",
    "LoginAsToken", "LoginSession", "Operation", "OutboundEmail", "PasswordResetToken", "Payout", "Pushdown",
    "PushdownCopy", "RecoveryCode", "SignInFailures", "SupportMessage", "SupportRequest", "TemplateShareLink", "User", "UserLink",
    "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "WebhookEvent", "utcnow",
]
