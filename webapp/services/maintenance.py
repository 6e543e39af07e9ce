"""The Resold tab's tables kept quick after big changes (issue 25).

A renewal sweep that moves 50 000 accounts' periods leaves PostgreSQL 50 000 dead row versions and a
visibility map that no longer covers those pages: the tab's index-only scans read the heap again, and the
fragment ran at a fraction of its speed until a VACUUM. PostgreSQL's autovacuum would come (migration 0029
makes it come sooner on these tables), but only where it is on, and only after a fifth of a table changed
by default. The sweeper's pass therefore looks at each hot table's dead rows (pg_stat_user_tables, one cheap
query) and vacuums and analyzes a table that has more than its share, whatever the server's settings."""
from __future__ import annotations

import logging
import time

import sqlalchemy as sa
from flask import current_app

from ..extensions import db

log = logging.getLogger("agencyhq.maintenance")

# The tables the Resold tab reads on every answer.
HOT_TABLES = ("hosted_accounts", "account_counts")


def _limit(live: int) -> int:
    """Dead rows that call for a VACUUM: MAINTENANCE_DEAD_FRACTION of the live ones, at least
    MAINTENANCE_DEAD_ROWS (a small table's churn is pruned in place as it is read)."""
    cfg = current_app.config
    return max(cfg["MAINTENANCE_DEAD_ROWS"], int(live * cfg["MAINTENANCE_DEAD_FRACTION"]))


def vacuum_after_churn() -> list[str]:
    """Periodic (the sweeper): VACUUM (ANALYZE) each hot table with more dead rows than its limit. Returns the
    tables vacuumed. On SQLite nothing is needed: it has no visibility map, and rows are updated in place."""
    if db.session.get_bind().dialect.name != "postgresql":
        return []
    rows = db.session.execute(sa.text(
        "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
        {"tables": list(HOT_TABLES)}).all()
    db.session.commit()  # VACUUM runs outside any transaction, on a connection of its own
    done = []
    for name, live, dead in rows:
        if dead < _limit(live):
            continue
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'VACUUM (ANALYZE) "{name}"'))  # a name of HOT_TABLES, never input
        log.info("vacuumed table=%s dead_rows=%s live_rows=%s seconds=%.1f", name, dead, live,
                 time.perf_counter() - started)
        done.append(name)
    return done
