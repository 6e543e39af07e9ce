"""gunicorn settings for AgencyHQ's web processes (`make prod`, or `gunicorn -c gunicorn.conf.py`).

Run as many of these (on one machine or many) as you like against one DATABASE_URL and REDIS_URL,
beside any number of `python worker.py`: the web processes keep no state of their own."""
import multiprocessing
import os
import shutil
import tempfile

wsgi_app = "webapp:create_app()"
bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
# 2 threads: enough to overlap one request's database wait with another's Python; more queue behind the
# process's GIL. Under bench/load (2 cores) 4 processes x 2 threads answered the Resold fragment at
# p95 ~145 ms, 2 x 4 at ~230 ms and 4 x 1 at ~270 ms.
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = 30
graceful_timeout = 20
# One queue for all the processes. A process takes a connection only when one of its threads is free
# (worker_connections = threads) and closes it after the answer (keepalive = 0), so requests wait in the
# listening socket's backlog, which every process serves, never behind a busy process's slow request
# while another process idles. A proxy in front (nginx by default) opens a connection per request anyway.
# WEB_KEEPALIVE=5 keeps connections open for 5 s instead, for clients that connect directly.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "0"))
worker_connections = threads if keepalive == 0 else 1000
# Each worker process opens its own database pool after the fork.
preload_app = False
# Prometheus' multiprocess mode (issue 25): each process writes its counts to files in this directory and
# /metrics adds them up. `make prod` sets it for the web processes and the job workers alike (and empties it
# before they start); run alone, gunicorn makes one of its own. Set before any process imports the app.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="agencyhq-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
# The app logs one structured line per request itself (agencyhq.requests); no separate access log.
# This is the arbiter's logging; each worker's app sets its own (webapp/observability.py: one root handler,
# every logger propagating to it at LOG_LEVEL, LOG_FORMAT=json for JSON lines).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"format": "%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "kv", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def child_exit(server, worker):
    """A web process ended: its live gauges leave the metrics files (its counters stay counted)."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker):
    """The app is loaded in this worker: what it made at start-up stays, out of the collector's way."""
    from webapp.runtime import settle_heap
    settle_heap()
