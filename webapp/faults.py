"""Crash points for fault tests: `AGENCYHQ_CRASH_AT=name[,name]` makes the process kill itself
with SIGKILL (as `kill -9` would) when it reaches that point. With AGENCYHQ_CRASH_ONCE_FILE set,
it crashes only the first time (the file marks that it happened). Unset in production: a no-op."""
from __future__ import annotations

import os
import signal


def point(name: str) -> None:
    wanted = os.environ.get("AGENCYHQ_CRASH_AT")
    if not wanted or name not in wanted.split(","):
        return
    marker = os.environ.get("AGENCYHQ_CRASH_ONCE_FILE")
    if marker:
        if os.path.exists(marker):
            return
        with open(marker, "w") as fh:
            fh.write(name)
    os.kill(os.getpid(), signal.SIGKILL)
