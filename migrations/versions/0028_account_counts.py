"""Account counters (issue 25): account_counts holds how many of an agency's accounts there are of each kind,
status and term, kept by triggers on hosted_accounts in the transaction that changes them, so the Resold tab's
counts and the discount's paid accounts read a few rows instead of counting the agency's accounts.

Triggers, not the app, keep them: accounts change status, term, kind and agency in many places, through the
ORM, Core UPDATEs and bulk statements, and every one of them passes through the table. Accounts without an
agency (detached, A4) are not counted. A row that falls to zero is kept (at most 4 kinds x 5 statuses x
3 terms per agency): a counter row is never deleted while another transaction may be adding to it.

SQLite: row-level triggers (writers are serialised by the database lock). PostgreSQL: statement-level
triggers over the statement's transition tables, adding one aggregated delta per counter row with
INSERT ... ON CONFLICT DO UPDATE in key order. Two transactions adding to one row wait for each other's
row lock and add up (read committed re-reads the committed row); taking the rows in key order keeps two
statements from locking them crosswise. A row-level trigger would update a counter row once per account:
a sweep expiring 50 000 accounts in one statement would write one row 100 000 times in one transaction,
whose versions nothing can prune before the commit (82 s measured on PostgreSQL 15); aggregated, it is
one write per counter row.

hosted_accounts is not rebuilt here (no batch mode on SQLite: that drops the triggers on the table, these
and the search index's of revision 0002). A later batch rebuild of hosted_accounts must create the
triggers below again, as 0010 does for the search index's.

Revision ID: 0028
Revises: 0027
"""
import sqlalchemy as sa
from alembic import op


revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

KEY = "agency_id, kind, status, plan_term"
BACKFILL = (f"INSERT INTO account_counts ({KEY}, n) SELECT {KEY}, count(*) FROM hosted_accounts "
            f"WHERE agency_id IS NOT NULL GROUP BY {KEY}")

# The counted columns changed: one account leaves its old row and joins its new one.
_CHANGED = ("old.agency_id IS NOT new.agency_id OR old.kind IS NOT new.kind OR old.status IS NOT new.status "
            "OR old.plan_term IS NOT new.plan_term")
_ADD_NEW = (f"INSERT INTO account_counts ({KEY}, n) VALUES (new.agency_id, new.kind, new.status, new.plan_term, 1) "
            f"ON CONFLICT ({KEY}) DO UPDATE SET n = n + 1;")
_TAKE_OLD = ("UPDATE account_counts SET n = n - 1 WHERE agency_id = old.agency_id AND kind = old.kind "
             "AND status = old.status AND plan_term = old.plan_term;")
SQLITE_TRIGGERS = [
    "CREATE TRIGGER account_counts_ai AFTER INSERT ON hosted_accounts WHEN new.agency_id IS NOT NULL "
    f"BEGIN {_ADD_NEW} END",
    "CREATE TRIGGER account_counts_ad AFTER DELETE ON hosted_accounts WHEN old.agency_id IS NOT NULL "
    f"BEGIN {_TAKE_OLD} END",
    "CREATE TRIGGER account_counts_au_old AFTER UPDATE OF agency_id, kind, status, plan_term ON hosted_accounts "
    f"WHEN old.agency_id IS NOT NULL AND ({_CHANGED}) BEGIN {_TAKE_OLD} END",
    "CREATE TRIGGER account_counts_au_new AFTER UPDATE OF agency_id, kind, status, plan_term ON hosted_accounts "
    f"WHEN new.agency_id IS NOT NULL AND ({_CHANGED}) BEGIN {_ADD_NEW} END",
]
SQLITE_TRIGGER_NAMES = ("account_counts_ai", "account_counts_ad", "account_counts_au_old", "account_counts_au_new")


def _pg_delta(sign: str, rows: str) -> str:
    return f"SELECT {KEY}, {sign}1 AS d FROM {rows} WHERE agency_id IS NOT NULL"


# One function for the three statement triggers; each names only the transition tables it has.
POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION account_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO account_counts ({KEY}, n)
        SELECT {KEY}, sum(d) FROM ({_pg_delta('+', 'new_rows')}) AS deltas
        GROUP BY {KEY} ORDER BY {KEY}
        ON CONFLICT ({KEY}) DO UPDATE SET n = account_counts.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO account_counts ({KEY}, n)
        SELECT {KEY}, sum(d) FROM ({_pg_delta('-', 'old_rows')}) AS deltas
        GROUP BY {KEY} ORDER BY {KEY}
        ON CONFLICT ({KEY}) DO UPDATE SET n = account_counts.n + excluded.n;
    ELSE
        -- Every UPDATE of hosted_accounts comes here (a trigger with transition tables cannot name its
        -- columns); one that changes no counted column nets to nothing and writes nothing.
        INSERT INTO account_counts ({KEY}, n)
        SELECT {KEY}, sum(d) FROM ({_pg_delta('-', 'old_rows')} UNION ALL {_pg_delta('+', 'new_rows')}) AS deltas
        GROUP BY {KEY} HAVING sum(d) <> 0 ORDER BY {KEY}
        ON CONFLICT ({KEY}) DO UPDATE SET n = account_counts.n + excluded.n;
    END IF;
    RETURN NULL;
END
$$
"""
POSTGRESQL_RESET = """
CREATE FUNCTION account_counts_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM account_counts;
    RETURN NULL;
END
$$
"""
POSTGRESQL_TRIGGERS = [
    "CREATE TRIGGER account_counts_ai AFTER INSERT ON hosted_accounts REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION account_counts_apply()",
    "CREATE TRIGGER account_counts_au AFTER UPDATE ON hosted_accounts "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION account_counts_apply()",
    "CREATE TRIGGER account_counts_ad AFTER DELETE ON hosted_accounts REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION account_counts_apply()",
    # TRUNCATE fires no row or statement delete triggers: the counters go with the accounts.
    "CREATE TRIGGER account_counts_truncate AFTER TRUNCATE ON hosted_accounts "
    "FOR EACH STATEMENT EXECUTE FUNCTION account_counts_reset()",
]
POSTGRESQL_TRIGGER_NAMES = ("account_counts_ai", "account_counts_au", "account_counts_ad", "account_counts_truncate")


def upgrade():
    op.create_table(
        'account_counts',
        sa.Column('agency_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('plan_term', sa.String(length=20), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('agency_id', 'kind', 'status', 'plan_term', name=op.f('pk_account_counts')),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # No account changes between the count below and the triggers taking over (the migration's
        # transaction holds the lock to its commit).
        op.execute("LOCK TABLE hosted_accounts IN SHARE ROW EXCLUSIVE MODE")
        op.execute(POSTGRESQL_FUNCTION)
        op.execute(POSTGRESQL_RESET)
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(BACKFILL)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name in POSTGRESQL_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON hosted_accounts")
        op.execute("DROP FUNCTION IF EXISTS account_counts_apply()")
        op.execute("DROP FUNCTION IF EXISTS account_counts_reset()")
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('account_counts')
