"""Probes for a load balancer or an orchestrator: /healthz (the process answers) and /readyz (it can
reach its database and Redis); and /tls/ask, the on-demand TLS proxy's question (tls.py). They answer
on any Host, carry no session and need no login."""
from .blueprint import bp
from . import routes, tls  # noqa: F401  (their views register on bp)

__all__ = ["bp"]
