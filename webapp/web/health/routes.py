import sqlalchemy as sa
from flask import current_app, jsonify

from ...extensions import csrf, db
from .blueprint import bp


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", with its reason
        db.session.rollback()
        checks["database"] = f"error: {exc.__class__.__name__}"
    queue = current_app.extensions["job_queue"]
    if queue.embedded:
        checks["redis"] = "not used (embedded queue)"
    else:
        try:
            queue.connection.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    ready = all(v == "ok" or v.startswith("not used") for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503


csrf.exempt(bp)
