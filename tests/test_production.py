"""Running at scale (issue 10, first part): health probes, one structured log line per request, and
the repo's gunicorn configuration serving the app from several real processes."""
from __future__ import annotations

import logging
import re
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .helpers import SUBPROCESS_SECRET_KEY

ROOT = Path(__file__).resolve().parents[1]


def test_healthz_answers_on_any_host_and_readyz_checks_the_database(client):
    for host in ("http://localhost", "http://10.1.2.3", "http://unknown.example"):
        assert client.get("/healthz", base_url=host).get_json() == {"status": "ok"}
    ready = client.get("/readyz", base_url="http://10.1.2.3")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"
    assert "Set-Cookie" not in ready.headers


def test_readyz_says_which_dependency_is_down(service_urls):
    from webapp import create_app
    from webapp.config import TestConfig
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=service_urls[0], REDIS_URL="redis://127.0.0.1:1/0")
    app.extensions["job_queue"].connection.connection_pool.connection_kwargs["socket_connect_timeout"] = 0.2
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready" and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_one_structured_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="agencyhq.requests"):
        client.get("/login")
        client.get("/nowhere")
    lines = [r.getMessage() for r in caplog.records if r.name == "agencyhq.requests"]
    assert len(lines) == 2
    assert re.match(r"request method=GET path=/login status=200 duration_ms=[\d.]+ cpu_ms=[\d.]+ endpoint=auth.login "
                    r"host=localhost htmx=0$", lines[0]), lines[0]
    assert "path=/nowhere status=404" in lines[1] and "endpoint=None" in lines[1]


def test_gunicorn_config_serves_the_app_from_several_processes(service_urls, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": service_urls[0], "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
           "WEB_THREADS": "2", "SECRET_KEY": SUBPROCESS_SECRET_KEY}
    if service_urls[1]:
        env["REDIS_URL"] = service_urls[1]
    else:
        env.pop("REDIS_URL", None)
    log = open(tmp_path / "gunicorn.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                assert time.time() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            assert r.status == 200
        request = urllib.request.Request(f"http://127.0.0.1:{port}/login", headers={"Host": f"localhost:{port}"})
        with urllib.request.urlopen(request, timeout=5) as r:
            assert r.status == 200 and b"AgencyHQ" in r.read()
            # One connection per request: a process takes one only when a thread is free (gunicorn.conf.py).
            assert r.headers["Connection"] == "close"
        # Each worker says so once its app is loaded (gunicorn.conf.py's post_worker_init).
        deadline = time.time() + 30
        while (tmp_path / "gunicorn.log").read_text().count("heap settled frozen_objects=") < 2:
            assert time.time() < deadline, (tmp_path / "gunicorn.log").read_text()[-2000:]
            time.sleep(0.2)
        text = (tmp_path / "gunicorn.log").read_text()
        assert text.count("Booting worker") == 2 and text.count("heap settled frozen_objects=") == 2
        assert "request method=GET path=/login status=200" in text and "pid=" in text
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_settle_heap_freezes_what_start_up_made_and_collects_young_objects_less_often(app):
    import gc

    from webapp.runtime import GC_YOUNG_THRESHOLD, settle_heap
    threshold = gc.get_threshold()
    try:
        frozen = settle_heap()
        # the app, its modules and mappers (a frozen object may be freed meanwhile: a log line, another thread)
        assert frozen > 10_000 and abs(gc.get_freeze_count() - frozen) < 1_000
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD and gc.get_threshold()[1:] == threshold[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
