"""The on-demand TLS proxy's question (Caddy's `on_demand_tls { ask ... }`): may a certificate be obtained
for ?domain=<host>? 200 when the app serves that host, 404 otherwise, the same empty body either way: no
login, no session, no write, one indexed query, and no throttle of its own (a 429 would refuse a
certificate; the proxy limits how often it asks)."""
from flask import request

from ...services import domain_checks
from .blueprint import bp


@bp.get("/tls/ask")
def tls_ask():
    served = domain_checks.serves(request.args.get("domain", ""))
    return "", 200 if served else 404, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
