"""What RQ runs. Only ids travel through Redis; everything else is read from the database."""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import current_app, has_app_context

log = logging.getLogger("agencyhq.jobs")


@contextmanager
def _app_context():
    if has_app_context():
        yield current_app
        return
    from .. import create_app
    app = create_app()
    with app.app_context():
        yield app


def run_operation(operation_id: int) -> str:
    from ..extensions import db
    from ..services import operations
    with _app_context():
        try:
            status = operations.run(int(operation_id))
            log.info("job operation_id=%s status=%s", operation_id, status)
            return status
        finally:
            db.session.remove()
