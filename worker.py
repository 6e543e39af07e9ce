"""`python worker.py`: an RQ worker for AgencyHQ's jobs, with RQ's scheduler and the sweeper
(both as threads of this process).

Run as many as you like against one REDIS_URL and DATABASE_URL; the sweeper's Redis lock makes
each of its passes run once across them."""
from __future__ import annotations

import logging
import os
import sys
import threading

from webapp import create_app
from webapp.jobs import scheduler, sweeper
from webapp.runtime import settle_heap


# On a machine it shares with web processes, a worker yields the CPU to them: pages are waited for by a
# person, jobs by nobody in particular (issue 10's load test: jobs took a fifth of the CPU, and every
# page queued behind them). WORKER_NICE=0 keeps the normal priority.
DEFAULT_NICE = 10


def lower_priority() -> int:
    """Adds WORKER_NICE to this process's niceness; returns the niceness now in force."""
    try:
        step = int(os.environ.get("WORKER_NICE", DEFAULT_NICE))
    except ValueError:
        step = DEFAULT_NICE
    return os.nice(max(0, min(step, 19)))


def main() -> int:
    lower_priority()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app()
    settle_heap()
    if not app.config.get("REDIS_URL"):
        print("REDIS_URL is not set: without it jobs run inside the web process (the embedded queue).",
              file=sys.stderr)
        return 2
    queue = app.extensions["job_queue"]
    sweeper.start_in_thread(app)
    # The scheduler is a thread, not RQ's forked child: it must not outlive a worker killed with -9.
    stop_scheduler = threading.Event()
    scheduler.start_in_thread(queue, stop_scheduler)
    try:
        with app.app_context():
            worker = queue.worker(name=os.environ.get("WORKER_NAME"))
            worker.work(with_scheduler=False, logging_level=os.environ.get("LOG_LEVEL", "INFO"))
    finally:
        stop_scheduler.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
