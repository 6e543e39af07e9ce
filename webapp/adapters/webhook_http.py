"""Sending one webhook over HTTP (issue 24), safely: the host is resolved here, every address it resolves
to is checked (no loopback, private, link-local, reserved, multicast or cloud-metadata address unless
allowed), and the connection is made to the checked address itself (the Host header and TLS's SNI and
certificate check keep the name), so a DNS answer that changes between the check and the connection
(DNS rebinding) cannot reach an inside address. No redirect is followed; at most 64 KB of the answer is
read, and the whole exchange has one deadline."""
from __future__ import annotations

import ipaddress
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_LENGTH = 1000
USER_AGENT = "AgencyHQ-Webhooks/1"

# Cloud metadata services (AWS, GCP, Azure: 169.254.169.254; AWS over IPv6: fd00:ec2::254). Both are
# link-local or private already; named so the refusal says what they are.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})

_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="agencyhq-webhook-dns")


class Refused(Exception):
    """The URL may not be called, in words; `code` says which rule refused it ("invalid", "scheme", "host",
    "credentials", "characters", "unresolved", or "address" with the `address` and its `kind`)."""

    def __init__(self, message: str, code: str, *, address: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.code, self.address, self.kind = code, address, kind


@dataclass(frozen=True)
class Outcome:
    """What one try gave: `ok` for a 2xx answer read in full; else `error` says why, in words."""
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None


ADDRESS_KINDS = {"metadata": "a cloud metadata address", "loopback": "a loopback address",
                 "link-local": "a link-local address", "multicast": "a multicast address",
                 "private": "a private address", "reserved": "a reserved address",
                 "unspecified": "an unspecified address", "non-public": "not a public address"}


def address_kind(address: str) -> str | None:
    """Which kind of inside address this is (a key of ADDRESS_KINDS), or None for a public one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "metadata"
    for test, kind in ((ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"),
                       (ip.is_multicast, "multicast"), (ip.is_private, "private"), (ip.is_reserved, "reserved"),
                       (ip.is_unspecified, "unspecified"), (not ip.is_global, "non-public")):
        if test:
            return kind
    return None


def address_problem(address: str) -> str | None:
    """Why a webhook may not be sent to this IP address, in words, or None for a public one."""
    kind = address_kind(address)
    return f"{address} is {ADDRESS_KINDS[kind]}" if kind else None


def check_url(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL, or Refused: https (http only when allowed), a host, no
    user name or password in it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"the URL is not valid ({exc})", "invalid") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_http and scheme == "http"):
        raise Refused("the URL must start with https://", "scheme")
    if not parts.hostname:
        raise Refused("the URL has no host name", "host")
    if parts.username is not None or parts.password is not None:
        raise Refused("the URL must not carry a user name or password", "credentials")
    if any(c.isspace() for c in url) or not url.isprintable():
        raise Refused("the URL must not contain spaces or control characters", "characters")
    return scheme, parts.hostname.lower().rstrip("."), port or (443 if scheme == "https" else 80)


def resolve(host: str, port: int, timeout: float) -> list[str]:
    """Every address `host` resolves to (an IP literal is itself), or Refused."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise Refused(f"the host name {host} could not be resolved within {timeout:g} s", "unresolved") from None
    except (OSError, UnicodeError):
        raise Refused(f"the host name {host} could not be resolved", "unresolved") from None
    addresses = list(dict.fromkeys(info[4][0].split("%")[0] for info in infos))
    if not addresses:
        raise Refused(f"the host name {host} could not be resolved", "unresolved")
    return addresses


def checked_addresses(host: str, port: int, *, allow_private: bool, timeout: float) -> list[str]:
    """The addresses to connect to; Refused when any of them is not public (unless allowed)."""
    addresses = resolve(host, port, timeout)
    if not allow_private:
        for address in addresses:
            kind = address_kind(address)
            if kind:
                what = ADDRESS_KINDS[kind]
                literal = address == host.strip("[]")
                message = f"{address} is {what}" if literal else f"{host} resolves to {address}, {what}"
                raise Refused(message, "address", address=address, kind=kind)
    return addresses


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_http: bool,
         allow_private: bool) -> Outcome:
    """POSTs `body` to `url` once, within `timeout` seconds in all (resolution, connection, answer)."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        scheme, host, port = check_url(url, allow_http=allow_http)
        addresses = checked_addresses(host, port, allow_private=allow_private, timeout=timeout)
    except Refused as exc:
        return Outcome(False, None, elapsed_ms(), f"Not sent: {exc}.", None)
    address = addresses[0]
    parts = urlsplit(url)
    netloc_ip = f"[{address}]" if ":" in address else address
    default_port = 443 if scheme == "https" else 80
    target = urlunsplit((scheme, f"{netloc_ip}:{port}", parts.path or "/", parts.query, ""))
    name = f"[{host}]" if ":" in host else host
    host_header = name if port == default_port else f"{name}:{port}"
    request_headers = {**headers, "Host": host_header, "User-Agent": USER_AGENT}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    remaining = max(0.05, timeout - (time.monotonic() - started))  # the resolution took part of it
    try:
        with httpx.Client(timeout=httpx.Timeout(remaining), follow_redirects=False, trust_env=False) as client:
            request = client.build_request("POST", target, content=body, headers=request_headers,
                                           extensions=extensions)
            response = client.send(request, stream=True)
            try:
                chunks, size, too_large = [], 0, False
                for chunk in response.iter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        too_large = True
                        break
                    if time.monotonic() - started > timeout:
                        raise httpx.ReadTimeout("deadline")
            finally:
                response.close()
    except httpx.TimeoutException:
        return Outcome(False, None, elapsed_ms(), f"Timed out: the receiver did not answer within {timeout:g} s.",
                       None)
    except httpx.HTTPError as exc:
        return Outcome(False, None, elapsed_ms(), f"Could not connect: {_first_line(exc)}.", None)
    latency = elapsed_ms()
    excerpt = b"".join(chunks)[:EXCERPT_LENGTH * 4].decode("utf-8", errors="replace")[:EXCERPT_LENGTH] or None
    code = response.status_code
    if too_large:
        return Outcome(False, code, latency, f"Response too large: the answer is longer than "
                                             f"{MAX_RESPONSE_BYTES // 1024} KB (HTTP {code}).", excerpt)
    if 300 <= code < 400:
        location = response.headers.get("location", "")[:300]
        return Outcome(False, code, latency, f"Redirect not followed: the receiver answered HTTP {code}"
                                             + (f" to {location}" if location else "") + ".", excerpt)
    if not 200 <= code < 300:
        return Outcome(False, code, latency, f"The receiver answered HTTP {code}.", excerpt)
    return Outcome(True, code, latency, None, excerpt)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
