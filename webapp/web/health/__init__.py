"""Probes for a load balancer or an orchestrator: /healthz (the process answers) and /readyz (it can
reach its database and Redis). They answer on any Host, carry no session and need no login."""
from flask import Blueprint

bp = Blueprint("health", __name__)

from . import routes  # noqa: E402,F401
