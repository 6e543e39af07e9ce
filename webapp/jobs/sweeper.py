"""The sweeper: every SWEEP_INTERVAL seconds one process re-enqueues the operations whose job was lost
and runs the periodic tasks of webapp/jobs/registry.py. With several workers, a Redis lock per interval
makes the pass run once across all of them."""
from __future__ import annotations

import logging
import threading

from flask import current_app

from ..adapters.queue import TRANSPORT_ERRORS
from ..extensions import db
from ..services import operations

log = logging.getLogger("agencyhq.sweeper")
LOCK_KEY = "agencyhq:sweeper:lock"


def sweep() -> int:
    """One pass, in the current app context: lost operations go back to the queue, then every periodic
    task runs (one failing does not stop the others). Returns how many operations were re-enqueued."""
    sent = operations.requeue_lost()
    for task in current_app.extensions["periodic_tasks"]:
        try:
            task()
        except Exception:  # one failing task must not stop the others
            db.session.rollback()
            log.exception("periodic task %s failed", task.__name__)
    return sent


def run_once(app) -> int | None:
    """One pass if this process wins the interval's lock; None if another process has it."""
    queue = app.extensions["job_queue"]
    interval = app.config["SWEEP_INTERVAL"]
    try:
        won = queue.connection.set(LOCK_KEY, b"1", nx=True, ex=max(1, interval - 1))
    except TRANSPORT_ERRORS:
        won = True  # Redis down: sweep anyway; jobs cannot be enqueued but nothing is harmed
    if not won:
        return None
    with app.app_context():
        try:
            return sweep()
        except Exception:
            log.exception("sweeper pass failed")
            return 0
        finally:
            db.session.remove()


def start_in_thread(app, stop: threading.Event | None = None) -> threading.Thread:
    """Runs passes until `stop` (also kept as app.extensions["sweeper_stop"]) is set."""
    stop = stop or threading.Event()
    app.extensions["sweeper_stop"] = stop

    def loop():
        while not stop.is_set():
            run_once(app)
            stop.wait(app.config["SWEEP_INTERVAL"])

    thread = threading.Thread(target=loop, name="agencyhq-sweeper", daemon=True)
    thread.start()
    return thread
