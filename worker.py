"""`python worker.py`: an RQ worker for AgencyHQ's jobs, with RQ's scheduler and the sweeper
(both as threads of this process).

Run as many as you like against one REDIS_URL and DATABASE_URL; the sweeper's Redis lock makes
each of its passes run once across them."""
from __future__ import annotations

import atexit
import faulthandler
import logging
import os
import signal
import sys
import threading
import time

from webapp import create_app, observability
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
    # `kill -USR1 <pid>` writes every thread's stack to stderr: where a worker that seems stuck is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app()  # logging for every module (LOG_LEVEL, LOG_FORMAT) and /metrics' series (issue 25)
    # Error reports of the jobs (Sentry's RQ integration), tagged as the worker's; on only with SENTRY_DSN.
    observability.init_sentry(app.config, component="worker")
    # Under `make prod` this process writes to the same metrics files as the web processes (PROMETHEUS_MULTIPROC_DIR).
    atexit.register(observability.mark_process_dead, os.getpid())
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
    name = os.environ.get("WORKER_NAME")
    try:
        with app.app_context():
            return work_until_stopped(lambda n: queue.worker(name=f"{name}-{n}" if name and n else name),
                                      logging_level=os.environ.get("LOG_LEVEL", "INFO"))
    finally:
        stop_scheduler.set()


log = logging.getLogger("agencyhq.worker")


def work_until_stopped(make_worker, *, logging_level: str = "INFO", pause: float = 1.0) -> int:
    """Runs RQ's work loop until the process is asked to stop (SIGTERM, SIGINT). RQ ends the loop on any
    error it does not expect: Redis restarting while a job ran ended one of the load test's two workers
    for good, and its jobs queued behind the other. A new loop starts after `pause`; the operation rows
    and the sweeper make sure nothing the old loop held is lost."""
    restarts = 0
    while True:
        worker = make_worker(restarts)
        worker.work(with_scheduler=False, logging_level=logging_level)
        if getattr(worker, "_stop_requested", False) or getattr(worker, "_shutdown_requested_date", None):
            return 0
        restarts += 1
        log.warning("worker loop ended without a stop request; starting it again (restart %s)", restarts)
        time.sleep(pause)


if __name__ == "__main__":
    raise SystemExit(main())
