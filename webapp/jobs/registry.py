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
from ..services import (api_tokens, auth, billing, branding, client_auth, commission, mail, provisioning, pushdown,
                        reminders, renewals)
from ..services import domain_checks
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
)

# The functions RQ runs, by the names the queue is asked for.
JOBS = MappingProxyType({
    "operation": tasks.run_operation,
    "renewal_batch": tasks.run_renewal_batch,
})

BILLING_HOOKS = billing.Hooks(
    on_paid=MappingProxyType({
        "prepaid": billing.deliver_credit,
        "sms_pack": billing.deliver_credit,
        "compatibility_pack": billing.deliver_credit,
        "renewal": renewals.advance_period,
    }),
    after_paid=(commission.record_payment,),
    after_refund=(commission.reverse_payment,),
    on_card_saved=(renewals.retry_after_card_saved,),
)


def make_queue(redis_url: str | None, name: str, **options) -> JobQueue:
    """A job queue that knows this registry's job functions (RQ over Redis, or in-process without it)."""
    return JobQueue(redis_url, name, jobs=JOBS, **options)


def init_app(app: Flask) -> None:
    app.extensions["operation_handlers"] = OPERATIONS
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
