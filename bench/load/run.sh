#!/usr/bin/env bash
# The load test of issue 10: starts the stack (PostgreSQL database, a private Redis, gunicorn, job
# workers), runs 200 locust users for 10 minutes with a worker, a web process and Redis killed halfway,
# stops everything it started, and prints per-endpoint p50/p95, errors, throughput and the checks.
#   bash bench/load/run.sh                      # 200 users, 600 s
#   bash bench/load/run.sh --users 50 --seconds 60 --no-faults
# Needs: .venv with the bench extra (pip install -e '.[bench]'), PostgreSQL (DATABASE_URL or
# postgresql://postgres@127.0.0.1:5432/postgres) and redis-server on the PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" -c "import locust" 2>/dev/null || "$PY" -m pip install -q -e '.[bench]'
exec "$PY" bench/load/run.py --users 200 --seconds 600 "$@"
