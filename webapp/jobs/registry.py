"""What AgencyHQ runs in the background, in one place: every operation kind and its handler, every
periodic task the sweeper runs, the named job functions RQ carries, and the billing hooks (what a
paid invoice delivers, what listens to payments, refunds and saved cards).

Nothing registers itself by being imported: `init_app` wires these tables into each app (as
app.extensions), so a second app in one process gets its own copy and nothing is wired twice. A new
operation kind does nothing until it is listed here."""
from __future__ import annotations

import threading
from types import MappingProxyType

from flask import Flask

from ..adapters.queue import JobQueue
from ..services import (agency_events, api_tokens, auth, billing, branding, client_auth, commission, mail,
                        provisioning, pushdown, reminders, renewals, webhooks)
from ..services import domain_checks, maintenance
from . import sweeper, tasks

# Operation kind -> handler(ctx). Each handler is made of idempotent steps (services/operations.py).
OPERATIONS = MappingProxyType({
    "provision_account": provisioning.provision_account,
    "deliver_email": mail.deliver_email,
    "send_password_reset": client_auth.send_password_reset,
    "send_dashboard_reset": auth.send_dashboard_reset,
    "renew_account": renewals.renew_account,
    "retry_renewal": renewals.retry_renewal,
    "apply_branding": branding.apply_branding,
    "publish_pushdown": pushdown.publish_operation,
    "commission_payout": commission.commission_payout,
})

# Operation kind -> what is told when one has failed for good (its last attempt), in the failing transaction.
ON_FAILED = MappingProxyType({
    "provision_account": agency_events.provisioning_failed,  # the account.provisioning_failed webhook
})

# What the services say happened (services/events.py) -> who is told: the webhooks' events.
EVENT_TELLERS = MappingProxyType({
    "account": agency_events.account,
    "accounts": agency_events.accounts,
    "credits_allocated": agency_events.credits_allocated,
    "pushdown": agency_events.pushdown,
    "report_opened": agency_events.report_opened,
    "payout": agency_events.payout,
    "invoices_paid": agency_events.invoices_paid,
    "invoice_payment_failed": agency_events.invoice_payment_failed,
    "invoice_refunded": agency_events.invoice_refunded,
})

# Run on every sweeper pass, in this order; each is idempotent and one failing does not stop the others.
PERIODIC = (
    renewals.sweep_renewals,
    renewals.sweep_commission_renewals,
    # N2: the calendar's notices (trial endings, annual renewals ahead, receipts and digests), keyed once.
    reminders.send_trial_endings,
    reminders.send_upcoming_renewals,
    reminders.send_receipts,
    commission.sweep_payouts,
    commission.check_payouts,  # the payouts PayPal is still processing
    pushdown.run_due,
    api_tokens.purge_idempotency_records,
    provisioning.erase_stale_credentials,  # A2: generated passwords past their 24 hours (or of closed accounts)
    domain_checks.check_domains,  # A9: verified custom domains re-checked daily, stopped after the grace
    webhooks.dispatch_due,  # issue 24: webhook retries whose time has come, lost jobs, workers killed mid-send
    webhooks.purge_events,  # issue 24: webhook events (and their deliveries) past their 30 days
    maintenance.vacuum_after_churn,  # issue 25: the Resold tab's tables vacuumed after a big sweep (PostgreSQL)
)

# The functions RQ runs, by the names the queue is asked for.
JOBS = MappingProxyType({
    "operation": tasks.run_operation,
    "renewal_batch": tasks.run_renewal_batch,
    # One try of one webhook delivery (issue 24): the WebhookDelivery row is the truth, the job carries its id.
    "webhook_delivery": tasks.run_webhook_delivery,
})

BILLING_HOOKS = billing.Hooks(
    on_paid=MappingProxyType({
        "prepaid": billing.deliver_credit,
        "sms_pack": billing.deliver_credit,
        "compatibility_pack": billing.deliver_credit,
        "renewal": renewals.advance_period,
    }),
    after_paid=(commission.record_payment, agency_events.invoice_paid),
    after_refund=(commission.reverse_payment,),
    after_declined=(agency_events.invoice_payment_failed,),
    after_refunded=(agency_events.invoice_refunded,),
    on_card_saved=(renewals.retry_after_card_saved,),
)


def make_queue(redis_url: str | None, name: str, **options) -> JobQueue:
    """A job queue that knows this registry's job functions (RQ over Redis, or in-process without it)."""
    return JobQueue(redis_url, name, jobs=JOBS, **options)


def init_app(app: Flask) -> None:
    app.extensions["operation_handlers"] = OPERATIONS
    app.extensions["operation_failure_hooks"] = ON_FAILED
    app.extensions["event_tellers"] = EVENT_TELLERS
    app.extensions["periodic_tasks"] = PERIODIC
    app.extensions["billing_hooks"] = BILLING_HOOKS
    app.extensions["job_queue"] = make_queue(app.config.get("REDIS_URL"), app.config["QUEUE_NAME"],
                                             socket_timeout=app.config["REDIS_SOCKET_TIMEOUT"])
    if not app.config.get("REDIS_URL") and app.config.get("EMBEDDED_WORKER"):
        app.before_request(_embedded_starter(app))


def _embedded_starter(app: Flask):
    """Without Redis (make run), the jobs run in a thread of the web process, with the sweeper in
    another. They start with the first request, not with the app: a CLI command (`flask db upgrade`)
    must not start workers."""
    lock, started = threading.Lock(), []

    def start():
        if started:
            return
        with lock:
            if started:
                return
            started.append(True)
            app.extensions["job_queue"].start_in_thread(app)
            sweeper.start_in_thread(app)
    return start
