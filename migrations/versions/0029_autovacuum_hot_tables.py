"""Autovacuum settings for the Resold tab's tables on PostgreSQL (issue 25): after a renewal sweep moved
50 000 of 300 000 accounts, PostgreSQL's defaults (a VACUUM once a fifth of a table has changed) left the
table unvacuumed, and the tab's deep pages ran at 40 % of their speed (bench/after_sweep.py). Here
hosted_accounts is vacuumed and analyzed once 2 % of it changed; account_counts, a few rows that every
account change updates, once it has 1 000 dead row versions. Where autovacuum is off, the sweeper's
maintenance task (services/maintenance.py) does the same. Nothing on SQLite.

Revision ID: 0029
Revises: 0028
"""
from alembic import op


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

SETTINGS = {
    "hosted_accounts": "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02, "
                       "autovacuum_vacuum_insert_scale_factor = 0.02",
    "account_counts": "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000",
}
NAMES = {
    "hosted_accounts": "autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor, "
                       "autovacuum_vacuum_insert_scale_factor",
    "account_counts": "autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, settings in SETTINGS.items():
        op.execute(f"ALTER TABLE {table} SET ({settings})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, names in NAMES.items():
        op.execute(f"ALTER TABLE {table} RESET ({names})")
