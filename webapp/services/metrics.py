"""Prometheus metrics (issue 25): what the running system does, scraped at /metrics (webapp.observability).

The series are defined here, once per process, and the services count with the small functions below at the
places where things happen. Labels are bounded: endpoint names (never paths), operation kinds, outcomes.
Under gunicorn (and the workers `make prod` starts beside it) PROMETHEUS_MULTIPROC_DIR is set before anything
imports prometheus_client: every process writes its counts there and /metrics adds them up. The queue's depth and
its oldest waiting operation are not counted but read from the operation rows at each scrape (QueueCollector)."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("agencyhq.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)

HTTP_REQUESTS = Counter("agencyhq_http_requests", "Requests answered, by endpoint (Flask's name), method and status.",
                        ["endpoint", "method", "status"])
HTTP_LATENCY = Histogram("agencyhq_http_request_duration_seconds", "Time to answer a request, by endpoint and status.",
                         ["endpoint", "status"], buckets=LATENCY_BUCKETS)

OPERATIONS_CREATED = Counter("agencyhq_operations_created", "Operations created, by kind.", ["kind"])
OPERATIONS_STARTED = Counter("agencyhq_operations_started", "Operation runs started (attempts), by kind.", ["kind"])
OPERATIONS_SUCCEEDED = Counter("agencyhq_operations_succeeded", "Operations that succeeded, by kind.", ["kind"])
OPERATIONS_FAILED = Counter("agencyhq_operations_failed", "Operations that failed for good, by kind.", ["kind"])
OPERATIONS_RETRIED = Counter("agencyhq_operations_retried", "Operation runs that ended in a retry later, by kind.",
                             ["kind"])
OPERATION_WAIT = Histogram("agencyhq_operation_wait_seconds",
                           "From an operation being due (created, or its retry time) to a worker starting it.",
                           ["kind"], buckets=JOB_BUCKETS)
OPERATION_RUN = Histogram("agencyhq_operation_run_seconds", "Time one run of an operation took, by kind and outcome.",
                          ["kind", "outcome"], buckets=JOB_BUCKETS)

RENEWALS = Counter("agencyhq_renewals", "Renewal charges: charged, declined, or unavailable (processor down).",
                   ["outcome"])
EMAILS = Counter("agencyhq_emails", "E-mail deliveries: sent (SMTP), local (no SMTP_HOST), failed, retry.",
                 ["outcome"])
WEBHOOK_DELIVERIES = Counter("agencyhq_webhook_deliveries", "Webhook delivery tries, by outcome.", ["outcome"])
WEBHOOK_LATENCY = Histogram("agencyhq_webhook_delivery_duration_seconds", "Time one webhook delivery try took.",
                            ["outcome"], buckets=LATENCY_BUCKETS)
LOGIN_FAILURES = Counter("agencyhq_login_failures",
                         "Failed sign-ins, by site (dashboard, client) and reason (wrong, locked, throttled, code).",
                         ["site", "reason"])
LOCKOUTS = Counter("agencyhq_lockouts", "Sign-in lockouts started (five failures in a row), by site.", ["site"])


def _safe(fn):
    """A metric must never break what it counts."""
    def wrapper(*args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            log.warning("metric %s not counted: %s", fn.__name__, exc)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_safe
def request_answered(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    name = endpoint or "unmatched"  # a 404 on no route: one label, whatever the path was
    HTTP_REQUESTS.labels(name, method if method in _METHODS else "OTHER", str(status)).inc()
    HTTP_LATENCY.labels(name, str(status)).observe(max(0.0, seconds))


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@_safe
def operations_created(kind: str, count: int = 1) -> None:
    if count > 0:
        OPERATIONS_CREATED.labels(kind).inc(count)


def _aware(moment):
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@_safe
def operation_started(op) -> None:
    """A worker claimed `op` (its started_at just written): counts the start and how long it waited."""
    OPERATIONS_STARTED.labels(op.kind).inc()
    due = max(filter(None, [_aware(op.created_at), _aware(op.run_after)]), default=None)
    started = _aware(op.started_at) or datetime.now(timezone.utc)
    if due is not None:
        OPERATION_WAIT.labels(op.kind).observe(max(0.0, (started - due).total_seconds()))


@_safe
def operation_ended(kind: str, outcome: str, seconds: float, count: int = 1) -> None:
    """One run ended: succeeded, failed (for good) or queued (to retry later)."""
    counter = {"succeeded": OPERATIONS_SUCCEEDED, "failed": OPERATIONS_FAILED,
               "queued": OPERATIONS_RETRIED}.get(outcome)
    if counter is None:
        return
    counter.labels(kind).inc(count)
    label = "retry" if outcome == "queued" else outcome
    for _ in range(count):
        OPERATION_RUN.labels(kind, label).observe(max(0.0, seconds))


@_safe
def renewal(outcome: str, count: int = 1) -> None:
    """charged, declined or unavailable."""
    if count > 0:
        RENEWALS.labels(outcome).inc(count)


@_safe
def email(outcome: str) -> None:
    """sent, local, failed or retry."""
    EMAILS.labels(outcome).inc()


@_safe
def webhook_delivery(outcome: str, seconds: float | None = None) -> None:
    """One try of one webhook delivery ended, called by services.webhooks.deliver once per try with the status
    its _record gives: "succeeded" (the receiver took it), "pending" (it did not: tried again later), "failed"
    (given up); `seconds` is the try's latency."""
    outcome = str(outcome)[:40]
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    if seconds is not None:
        WEBHOOK_LATENCY.labels(outcome).observe(max(0.0, seconds))


@_safe
def login_failed(site: str, reason: str) -> None:
    LOGIN_FAILURES.labels(site, reason).inc()


@_safe
def lockout(site: str) -> None:
    LOCKOUTS.labels(site).inc()


class Timer:
    """`with Timer() as t: ...; t.seconds`"""

    def __enter__(self):
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        return False


class QueueCollector:
    """The job queue as the operation rows say at scrape time (needs an app context): how many operations are due
    and waiting, how long the oldest has waited, how many are running and failed, and the sweeper's last pass."""

    def collect(self):
        from . import queue_status
        try:
            status = queue_status.queue_status()
        except Exception as exc:  # noqa: BLE001 - a scrape answers what it can
            log.warning("queue status not read: %s", exc)
            return
        depth = GaugeMetricFamily("agencyhq_queue_depth", "Operations due and waiting for a worker.", labels=["kind"])
        for kind, count in sorted(status.waiting_by_kind.items()):
            depth.add_metric([kind], count)
        yield depth
        yield GaugeMetricFamily("agencyhq_queue_oldest_waiting_seconds",
                                "Age of the oldest operation due and waiting (0 when none).",
                                value=status.oldest_waiting_seconds)
        yield GaugeMetricFamily("agencyhq_operations_running", "Operations running now.", value=status.running)
        yield GaugeMetricFamily("agencyhq_operations_failed_now",
                                "Operations in the failed state (to look at or retry).",
                                value=status.failed)
        if status.last_sweep is not None:
            yield GaugeMetricFamily("agencyhq_sweeper_last_pass_timestamp_seconds",
                                    "When the sweeper last made a pass (Unix time).",
                                    value=status.last_sweep.at.timestamp())
