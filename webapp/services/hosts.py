"""Which site a Host header names, and the address of each hosted account. Links sent to people
are always built from the stored account, never from the request's Host header."""
from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import HostedAccount


@dataclass(frozen=True)
class Site:
    kind: str  # "dashboard" or "account"
    account_id: int | None = None


DASHBOARD = Site("dashboard")


def _strip_port(host: str) -> str:
    host = (host or "").strip().lower().rstrip(".")
    if host.startswith("["):  # IPv6 literal
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")


def is_valid_host(host_header: str) -> bool:
    """A host name (labels of 1-63 letters, digits or inner hyphens, 253 at most), an IPv4 or a
    bracketed IPv6 literal, with an optional port 1-65535. Werkzeug blanks a Host with bad
    characters but passes one with an empty or too long label, on which it cannot build URLs."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        name, bracket, rest = host.partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if not bracket or (rest and port is None) or not _IPV6.fullmatch(name + bracket):
            return False
    else:
        name, sep, port = host.partition(":")
        port = port if sep else None
        name = name[:-1] if name.endswith(".") else name
        if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
            return False
    return port is None or (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535)


def resolve(host_header: str) -> Site | None:
    """The dashboard for the bare platform domain; a hosted account for <name>.<domain> or its
    verified custom domain; None (404) for anything else."""
    host = _strip_port(host_header)
    domain = current_app.config["PLATFORM_DOMAIN"]
    if host == domain:
        return DASHBOARD
    if host.endswith("." + domain):
        name = host[: -len(domain) - 1]
        if not name or "." in name:
            return None
        account_id = db.session.scalar(sa.select(HostedAccount.id).where(HostedAccount.name == name))
    else:
        account_id = db.session.scalar(sa.select(HostedAccount.id).where(
            HostedAccount.custom_domain == host, HostedAccount.custom_domain_verified_at.is_not(None)))
    return Site("account", account_id) if account_id else None


def _origin(host: str) -> str:
    cfg = current_app.config
    port = cfg.get("PUBLIC_PORT")
    scheme = cfg.get("PREFERRED_URL_SCHEME", "http")
    default = {"http": 80, "https": 443}.get(scheme)
    suffix = f":{port}" if port and int(port) != default else ""
    return f"{scheme}://{host}{suffix}"


def platform_host(account: HostedAccount) -> str:
    """The account's own host under the platform domain: also the target of its custom domain's CNAME (A9)."""
    return f"{account.name}.{current_app.config['PLATFORM_DOMAIN']}"


def account_host(account: HostedAccount) -> str:
    if account.custom_domain and account.custom_domain_verified_at:
        return account.custom_domain
    return platform_host(account)


def account_url(account: HostedAccount, path: str = "/") -> str:
    return _origin(account_host(account)) + path


def platform_url(account: HostedAccount, path: str = "/") -> str:
    return _origin(platform_host(account)) + path


def account_login_url(account: HostedAccount) -> str:
    return account_url(account, "/app/login")


def login_urls():
    """account_login_url for many accounts at once (a page of the Resold tab): the scheme and port are
    worked out once, the host of each account as account_host has it."""
    scheme, _, rest = _origin("").partition("://")
    prefix, suffix = f"{scheme}://", f"{rest}/app/login"  # rest: the ":port" when it is not the default
    return lambda account: prefix + account_host(account) + suffix


def dashboard_url(path: str = "/") -> str:
    return _origin(current_app.config["PLATFORM_DOMAIN"]) + path
