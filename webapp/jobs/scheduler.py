"""RQ's scheduler (jobs enqueued for later, retries with a delay) as a thread of the worker.

RQ's own `with_scheduler=True` forks a child process for it; a worker killed with -9 leaves that
child running on its own, holding the scheduler lock, for as long as the machine is up. As a
thread it dies with its worker, and the lock (60 s) passes to another worker's thread."""
from __future__ import annotations

import logging
import threading

from rq.scheduler import RQScheduler

from ..adapters.queue import TRANSPORT_ERRORS

log = logging.getLogger("agencyhq.scheduler")


def start_in_thread(queue, stop: threading.Event, interval: int = 1) -> threading.Thread:
    """Moves due scheduled jobs of `queue` (a JobQueue) into it while this process holds the lock."""
    scheduler = RQScheduler([queue.queue.name], connection=queue.connection, interval=interval)
    names = {queue.queue.name}

    def tick():
        if scheduler.acquired_locks != names:
            scheduler.acquire_locks()
        if scheduler.acquired_locks:
            scheduler.heartbeat()
            scheduler.enqueue_scheduled_jobs()

    def loop():
        while not stop.is_set():
            try:
                tick()
            except TRANSPORT_ERRORS as exc:
                log.warning("scheduler: Redis unreachable (%s); trying again", exc)
            except Exception:
                log.exception("scheduler pass failed")
            stop.wait(interval)
        try:
            scheduler.release_locks()
        except TRANSPORT_ERRORS:
            pass

    thread = threading.Thread(target=loop, name="agencyhq-scheduler", daemon=True)
    thread.start()
    return thread
