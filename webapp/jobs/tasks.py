"""What RQ runs. Only ids travel through Redis; everything else is read from the database. A job runs
in the worker's app (python worker.py, the embedded worker and tests all hold one), in a context of its
own so it gets a fresh database session."""
from __future__ import annotations

import logging

from flask import current_app

from ..extensions import db
from ..services import operations, renewals, webhooks

log = logging.getLogger("agencyhq.jobs")


def run_operation(operation_id: int) -> str:
    with current_app._get_current_object().app_context():
        try:
            status = operations.run(int(operation_id))
            log.info("job operation_id=%s status=%s", operation_id, status)
            return status
        finally:
            db.session.remove()


def run_renewal_batch(operation_ids: list[int]) -> dict:
    """Many due renewals in one job (the sweeper's batches); see services.renewals.renew_batch."""
    with current_app._get_current_object().app_context():
        try:
            outcome = renewals.renew_batch([int(i) for i in operation_ids])
            log.info("job renewal_batch size=%s outcome=%s", len(operation_ids), outcome)
            return outcome
        finally:
            db.session.remove()


def run_webhook_delivery(delivery_id: int) -> str:
    """One try of one webhook delivery (services.webhooks.deliver)."""
    with current_app._get_current_object().app_context():
        try:
            status = webhooks.deliver(int(delivery_id))
            log.info("job webhook_delivery delivery_id=%s status=%s", delivery_id, status)
            return status
        finally:
            db.session.remove()
