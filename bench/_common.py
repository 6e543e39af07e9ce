"""Shared by the benchmarks: a fresh database per backend, timing and percentiles."""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

# The worker and web processes a benchmark starts refuse to run on no key (issue 17): one for the run.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(samples_ms: list[float]) -> dict:
    return {"p50": percentile(samples_ms, 50), "p95": percentile(samples_ms, 95),
            "mean": statistics.fmean(samples_ms) if samples_ms else float("nan")}


def timed(fn, runs: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


@contextmanager
def fresh_database(kind: str, postgres_url: str | None = None):
    """Yields a SQLAlchemy URL of an empty database of `kind` ("sqlite" or "postgresql"), removed after."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="agencyhq-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    base = sa.engine.make_url(postgres_url or os.environ.get("DATABASE_URL")
                              or "postgresql://postgres@127.0.0.1:5432/postgres")
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    name = f"agencyhq_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_app(database_url: str, **overrides):
    from webapp import create_app
    from webapp.config import Config
    settings = dict(SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=None, EMBEDDED_WORKER=False,
                    ARGON2_PARAMS=(1, 1024, 1), TESTING=True, PLATFORM_DOMAIN="localhost")
    settings.update(overrides)
    app = create_app(Config, **settings)
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int, workdir: str) -> subprocess.Popen:
    """A private redis-server on `port` (nothing kept on disk), once it answers."""
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.exceptions.RedisError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")

