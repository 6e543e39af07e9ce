"""What RQ runs. Only ids travel through Redis; everything else is read from the database."""
from __future__ import annotations

import logging

from flask import current_app, has_app_context

log = logging.getLogger("agencyhq.jobs")
_app = None


def _get_app():
    """The running app, or one made from the environment (a bare `rq worker` process)."""
    global _app
    if has_app_context():
        return current_app._get_current_object()
    if _app is None:
        from .. import create_app
        _app = create_app()
    return _app


def run_operation(operation_id: int) -> str:
    from ..extensions import db
    from ..services import operations
    # A context of its own: the job gets a fresh database session and never touches the caller's.
    with _get_app().app_context():
        try:
            status = operations.run(int(operation_id))
            log.info("job operation_id=%s status=%s", operation_id, status)
            return status
        finally:
            db.session.remove()


def run_renewal_batch(operation_ids: list[int]) -> dict:
    """Many due renewals in one job (the sweeper's batches); see services.renewals.renew_batch."""
    from ..extensions import db
    from ..services import renewals
    with _get_app().app_context():
        try:
            outcome = renewals.renew_batch([int(i) for i in operation_ids])
            log.info("job renewal_batch size=%s outcome=%s", len(operation_ids), outcome)
            return outcome
        finally:
            db.session.remove()
