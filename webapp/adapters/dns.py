"""DNS look-ups (A9): real queries with dnspython. Tests answer them from a DNS server they start
on loopback; in production the system's resolver (or DNS_NAMESERVERS) is asked."""
from __future__ import annotations

import dns.exception
import dns.resolver


class LookupFailed(Exception):
    """The lookup could not be answered: `reason` is "timeout" (no server answered in time) or
    "error" (the servers answered with an error, such as SERVFAIL)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


def cname_targets(host: str, nameservers: list[str] | None = None, timeout: float = 3.0) -> list[str]:
    """The CNAME targets of `host`, lower-case without the final dot; [] when there is none."""
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = []
        for server in nameservers:
            address, _, port = server.partition(":")
            resolver.nameservers.append(address)
            if port:
                resolver.port = int(port)
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(host, "CNAME")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.Timeout as exc:
        raise LookupFailed("timeout", str(exc)) from exc
    except dns.resolver.NoNameservers as exc:
        raise LookupFailed("error", str(exc)) from exc
    return [record.target.to_text().rstrip(".").lower() for record in answer]
