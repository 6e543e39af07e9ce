"""Probes for a load balancer or an orchestrator: /healthz (the process answers) and /readyz (it can
reach its database and Redis). They answer on any Host, carry no session and need no login."""
from .blueprint import bp
from . import routes  # noqa: F401  (their views register on bp)

__all__ = ["bp"]
