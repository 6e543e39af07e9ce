"""The Resold tab's tables after a big sweep (issue 25): the sweeper's maintenance task vacuums a hot table
once its dead rows pass their share (PostgreSQL), and migration 0029 sets autovacuum to come sooner there.
bench/after_sweep.py measures what it is for: deep pages at 40 % of their speed after a 50 000-account
sweep, back to 100 % after the VACUUM."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import sqlalchemy as sa

from webapp.jobs import registry
from webapp.models import HostedAccount
from webapp.services import maintenance

from .helpers import make_account, make_agency

MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0029_autovacuum_hot_tables.py"


def _dead_rows(db, table: str) -> int:
    return db.session.scalar(sa.text("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = :t"), {"t": table})


def _wait_for_statistics(db, table: str, at_least: int) -> None:
    """The statistics are written by the updating backend at its next idle moment (about a second)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        db.session.commit()
        if (_dead_rows(db, table) or 0) >= at_least:
            return
        time.sleep(0.2)
    raise AssertionError(f"the statistics never counted {at_least} dead rows of {table}")


def test_the_sweeper_runs_the_maintenance_on_every_pass():
    assert maintenance.vacuum_after_churn in registry.PERIODIC


def test_a_table_past_its_dead_rows_is_vacuumed_and_one_below_is_left_alone(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "MAINTENANCE_DEAD_ROWS", 30)
    monkeypatch.setitem(app.config, "MAINTENANCE_DEAD_FRACTION", 0.0)
    agency, _ = make_agency()
    ids = [make_account(agency, f"swept-{i}").id for i in range(60)]
    db.session.commit()
    if db.engine.dialect.name != "postgresql":
        # SQLite updates rows in place and has no visibility map: nothing to do, nothing done.
        assert maintenance.vacuum_after_churn() == []
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM hosted_accounts"))  # what earlier tests left behind is not this test's
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id.in_(ids[:10]))
                       .values(period_end=HostedAccount.period_end))
    _wait_for_statistics(db, "hosted_accounts", 10)
    assert "hosted_accounts" not in maintenance.vacuum_after_churn()  # 10 dead rows: under the 30
    # A sweep's worth: every account's period moves on.
    db.session.execute(sa.update(HostedAccount).where(HostedAccount.id.in_(ids)).values(period_start=sa.func.current_date()))
    _wait_for_statistics(db, "hosted_accounts", 40)
    assert "hosted_accounts" in maintenance.vacuum_after_churn()
    vacuumed = db.session.execute(sa.text(
        "SELECT n_dead_tup, last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'hosted_accounts'")).one()
    assert vacuumed.n_dead_tup == 0 and vacuumed.last_vacuum is not None and vacuumed.last_analyze is not None


def test_the_migration_sets_autovacuum_on_the_hot_tables(db):
    spec = importlib.util.spec_from_file_location("m0029", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    # The tables autovacuum comes sooner to are the ones the sweeper's maintenance watches.
    assert tuple(migration.SETTINGS) == tuple(migration.NAMES) == maintenance.HOT_TABLES
    if db.engine.dialect.name != "postgresql":
        return  # SQLite has no autovacuum: the migration does nothing there
    options = dict(db.session.execute(sa.text(
        "SELECT relname, reloptions FROM pg_class WHERE relname IN ('hosted_accounts', 'account_counts')")).all())
    assert "autovacuum_vacuum_scale_factor=0.02" in options["hosted_accounts"]
    assert "autovacuum_analyze_scale_factor=0.02" in options["hosted_accounts"]
    assert "autovacuum_vacuum_threshold=1000" in options["account_counts"]
