"""A9: only a verified custom domain is unique platform-wide; an unverified one claims nothing, and the
account whose unverified claim was released (another account verified the domain) says so.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

VERIFIED = sa.text("custom_domain_verified_at IS NOT NULL")
# SQLite cannot drop a table constraint: batch mode rebuilds the table, which takes the triggers that keep
# the search index of revision 0002 in step with it, so they are made again.
SQLITE_TRIGGERS = [
    "DROP TRIGGER IF EXISTS hosted_accounts_fts_ai",
    "DROP TRIGGER IF EXISTS hosted_accounts_fts_ad",
    "DROP TRIGGER IF EXISTS hosted_accounts_fts_au",
    "CREATE TRIGGER hosted_accounts_fts_ai AFTER INSERT ON hosted_accounts BEGIN "
    "INSERT INTO hosted_accounts_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER hosted_accounts_fts_ad AFTER DELETE ON hosted_accounts BEGIN "
    "INSERT INTO hosted_accounts_fts(hosted_accounts_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER hosted_accounts_fts_au AFTER UPDATE OF search_text ON hosted_accounts BEGIN "
    "INSERT INTO hosted_accounts_fts(hosted_accounts_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO hosted_accounts_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO hosted_accounts_fts(hosted_accounts_fts) VALUES ('rebuild')",
]


def _rebuilt(change):
    """Runs a batch change of hosted_accounts. On SQLite the table is rebuilt: other tables refer to it,
    so foreign keys are off meanwhile (they can only be switched outside a transaction) and checked after."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        change(batch_op)
    if sqlite:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
        problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign keys broken by the rebuild of hosted_accounts: {problems[:5]}")
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    def change(batch_op):
        batch_op.drop_constraint('uq_hosted_accounts_custom_domain', type_='unique')
        batch_op.add_column(sa.Column('custom_domain_released', sa.String(length=253), nullable=True))
        batch_op.create_index('ix_hosted_accounts_custom_domain', ['custom_domain'], unique=False)
        batch_op.create_index('uq_hosted_accounts_verified_domain', ['custom_domain'], unique=True,
                              sqlite_where=VERIFIED, postgresql_where=VERIFIED)
    _rebuilt(change)


def downgrade():
    def change(batch_op):
        batch_op.drop_index('uq_hosted_accounts_verified_domain')
        batch_op.drop_index('ix_hosted_accounts_custom_domain')
        batch_op.drop_column('custom_domain_released')
        batch_op.create_unique_constraint('uq_hosted_accounts_custom_domain', ['custom_domain'])
    _rebuilt(change)
