"""The job transport: RQ over Redis when REDIS_URL is set, over an in-process fakeredis otherwise.
Operation rows in the database are the truth; losing a message here only delays work (the sweeper
enqueues it again)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

import redis
import rq
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger("agencyhq.queue")

TRANSPORT_ERRORS = (redis.exceptions.RedisError, OSError)


class ProcessWorker(rq.SimpleWorker):
    """`python worker.py`'s worker: RQ's SimpleWorker, whose command channel (`rq` CLI's shutdown and
    stop-job) is listened to by a thread that wakes every second instead of every 60. redis-py 8.2's
    PubSubWorkerThread.stop() joins that thread without a timeout, and RQ's teardown (a stop, a restart of
    the loop) waited for the thread's 60 s wait to end."""

    def subscribe(self):
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=1, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)


class ThreadWorker(rq.SimpleWorker):
    """A SimpleWorker that can run outside the main thread: no signal handlers, and job
    time-outs by timer instead of SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        pass

    def subscribe(self):
        """No command channel: a worker inside this process takes no `rq` commands. Its listener thread made
        every teardown (each drain() of the tests) wait up to 60 s under redis-py 8.2, whose
        PubSubWorkerThread.stop() joins the thread; without it a drain() also costs no connection and thread."""


class JobQueue:
    """`jobs` names the functions a worker runs ({"operation": run_operation, ...}, given by
    webapp/jobs/registry.py): callers ask for a job by its name, never by a dotted path."""

    def __init__(self, redis_url: str | None, name: str, *, jobs: dict[str, Callable], socket_timeout: float = 10):
        if "operation" not in jobs:
            raise ValueError("a job queue needs the 'operation' job")
        self.jobs = dict(jobs)
        self.embedded = not redis_url
        self.redis_url = redis_url
        if redis_url:
            # Enqueueing answers within the timeout or fails (the sweeper enqueues it again): a page never
            # hangs on a Redis that does not answer.
            self.connection = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=socket_timeout)
        else:
            import fakeredis
            self.connection = fakeredis.FakeStrictRedis(server=fakeredis.FakeServer())
        self.queue = rq.Queue(name, connection=self.connection)
        self._threads: list[threading.Thread] = []

    def enqueue_operation(self, operation_id: int) -> bool:
        """Hands the operation to a worker; False when the transport is down (the sweeper retries)."""
        try:
            self.queue.enqueue(self.jobs["operation"], operation_id, job_timeout=900, result_ttl=600,
                               failure_ttl=86400)
            return True
        except TRANSPORT_ERRORS as exc:
            log.warning("enqueue of operation %s failed: %s", operation_id, exc)
            return False

    def enqueue_operations(self, operation_ids: list[int]) -> bool:
        """Many at once, in one Redis round trip (the sweeper hands out thousands of renewals)."""
        if not operation_ids:
            return True
        try:
            with self.connection.pipeline() as pipe:
                self.queue.enqueue_many([rq.Queue.prepare_data(self.jobs["operation"], (op_id,), timeout=900,
                                                               result_ttl=600, failure_ttl=86400)
                                         for op_id in operation_ids], pipeline=pipe)
                pipe.execute()
            return True
        except TRANSPORT_ERRORS as exc:
            log.warning("enqueue of %s operations failed: %s", len(operation_ids), exc)
            return False

    def enqueue_calls(self, job: str, argument_lists: list[tuple]) -> bool:
        """Several jobs of one named kind in one Redis round trip (the sweeper's renewal batches)."""
        if not argument_lists:
            return True
        function = self.jobs[job]
        try:
            with self.connection.pipeline() as pipe:
                self.queue.enqueue_many([rq.Queue.prepare_data(function, args, timeout=900, result_ttl=600,
                                                               failure_ttl=86400) for args in argument_lists],
                                        pipeline=pipe)
                pipe.execute()
            return True
        except TRANSPORT_ERRORS as exc:
            log.warning("enqueue of %s %s jobs failed: %s", len(argument_lists), job, exc)
            return False

    def ping(self) -> bool:
        try:
            return bool(self.connection.ping())
        except TRANSPORT_ERRORS:
            return False

    def worker(self, *, in_thread: bool = False, name: str | None = None) -> rq.Worker:
        cls = ThreadWorker if in_thread else ProcessWorker
        if self.embedded:
            return cls([self.queue], connection=self.connection, name=name)
        # A connection of its own, without the enqueue timeout: the worker waits for jobs with a
        # blocking pop of up to RQ's dequeue timeout (405 s), and RQ gives its sockets a longer timeout
        # than that. On the shared 10 s connection an idle `python worker.py` timed out after 10 s and
        # quit (issue 10). The health check finds a connection that died while idle (Redis restarted).
        connection = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=30)
        return cls([rq.Queue(self.queue.name, connection=connection)], connection=connection, name=name)

    def drain(self) -> None:
        """Runs every queued job in this thread, then returns (tests, seeding, benchmarks)."""
        self.worker(in_thread=True).work(burst=True, logging_level="WARNING")

    def start_in_thread(self, app) -> None:
        """The embedded worker: a daemon thread in the web process running jobs as they come."""
        if self._threads:
            return

        def work():
            with app.app_context():
                self.worker(in_thread=True).work(burst=False, logging_level="WARNING")

        thread = threading.Thread(target=work, name="agencyhq-embedded-worker", daemon=True)
        thread.start()
        self._threads.append(thread)
