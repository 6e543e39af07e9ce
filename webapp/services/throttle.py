"""Counters that slow guessing down: failed sign-ins per address, reset e-mails per account, requests
per API token. They live in Flask-Limiter's storage (Redis with REDIS_URL, memory otherwise) and follow
its strategy, so every web process of a deployment counts together. A storage that cannot be reached
lets the request through: a limit protects, it must not take the site down."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import cached_property

from flask import current_app
from limits import RateLimitItem, parse

log = logging.getLogger("agencyhq.throttle")


@dataclass(frozen=True)
class Limit:
    """A named limit, such as Limit("dashboard-sign-in-failures", "20 per 15 minutes")."""

    name: str
    rule: str

    @cached_property
    def item(self) -> RateLimitItem:
        return parse(self.rule)


def rule(limit: int, seconds: int) -> str:
    return f"{int(limit)} per {int(seconds)} seconds"


def _strategy():
    return current_app.extensions["rate_limiter"].limiter


def retry_after(limit: Limit, key: str) -> int | None:
    """Seconds until `key` may go on when its limit is used up; None while it may."""
    try:
        strategy = _strategy()
        if strategy.test(limit.item, limit.name, key):
            return None
        return max(1, math.ceil(strategy.get_window_stats(limit.item, limit.name, key).reset_time - time.time()))
    except Exception as exc:  # noqa: BLE001 - fail open, loudly
        log.warning("limit %s not checked: %s", limit.name, exc)
        return None


def hit(limit: Limit, key: str) -> bool:
    """Counts one for `key`; False when that went past the limit."""
    try:
        return _strategy().hit(limit.item, limit.name, key)
    except Exception as exc:  # noqa: BLE001
        log.warning("limit %s not counted: %s", limit.name, exc)
        return True


@dataclass(frozen=True)
class Window:
    remaining: int
    reset_at: int  # Unix time


def window(limit: Limit, key: str) -> Window | None:
    try:
        stats = _strategy().get_window_stats(limit.item, limit.name, key)
    except Exception as exc:  # noqa: BLE001
        log.warning("limit %s not read: %s", limit.name, exc)
        return None
    return Window(stats.remaining, int(math.ceil(stats.reset_time)))
