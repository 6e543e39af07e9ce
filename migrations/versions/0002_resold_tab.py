"""Resold tab: search text, a trigram index for substring search, one covering index per sort key.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# SQLite: an FTS5 trigram index over search_text, kept in step with hosted_accounts by triggers,
# serves LIKE '%abc%' from an index (SQLite >= 3.34).
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE hosted_accounts_fts USING fts5(search_text, content='hosted_accounts', "
    "content_rowid='id', tokenize='trigram')",
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


def upgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.String(length=800), nullable=False, server_default=''))
        batch_op.drop_index(batch_op.f('ix_hosted_accounts_agency_id'))
        batch_op.drop_index(batch_op.f('ix_hosted_accounts_agency_status'))
        batch_op.create_index('ix_hosted_accounts_resold_count', ['agency_id', 'kind', 'status', 'plan_term'], unique=False)
        batch_op.create_index('ix_hosted_accounts_resold_created', ['agency_id', 'kind', 'created_at', 'id', 'status', 'plan_term'], unique=False)
        batch_op.create_index('ix_hosted_accounts_resold_expires', ['agency_id', 'kind', 'period_end', 'id', 'status', 'plan_term'], unique=False)
        batch_op.create_index('ix_hosted_accounts_resold_name', ['agency_id', 'kind', 'name', 'status', 'plan_term'], unique=False)
        batch_op.create_index('ix_hosted_accounts_resold_size', ['agency_id', 'kind', 'contact_limit', 'id', 'status', 'plan_term'], unique=False)
    # Accounts made before this revision: the same text the app computes (ASCII lower-casing).
    op.execute("UPDATE hosted_accounts SET search_text = lower(name || char(10) || client_name || char(10) || "
               "client_email || coalesce(char(10) || custom_domain, ''))"
               if op.get_bind().dialect.name == "sqlite" else
               "UPDATE hosted_accounts SET search_text = lower(name || chr(10) || client_name || chr(10) || "
               "client_email || coalesce(chr(10) || custom_domain, ''))")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_hosted_accounts_search_trgm ON hosted_accounts "
                   "USING gin (search_text gin_trgm_ops)")
    elif op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_hosted_accounts_search_trgm")
    elif op.get_bind().dialect.name == "sqlite":
        for name in ("hosted_accounts_fts_ai", "hosted_accounts_fts_ad", "hosted_accounts_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS hosted_accounts_fts")
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_hosted_accounts_resold_size')
        batch_op.drop_index('ix_hosted_accounts_resold_name')
        batch_op.drop_index('ix_hosted_accounts_resold_expires')
        batch_op.drop_index('ix_hosted_accounts_resold_created')
        batch_op.drop_index('ix_hosted_accounts_resold_count')
        batch_op.create_index(batch_op.f('ix_hosted_accounts_agency_status'), ['agency_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_hosted_accounts_agency_id'), ['agency_id'], unique=False)
        batch_op.drop_column('search_text')
