"""Account flows (issue 22): credentials shown once, cancel and resume, disabled by the agency.

The generated admin password of a new account is shown for 24 hours after provisioning at most
(hosted_accounts.credentials_until), then erased from the provisioning operation's result. Passwords kept
before this release get the same treatment here: still shown if their account was provisioned less than
24 hours ago and is open, erased otherwise. Resume and "disabled by the agency" (disabled_reason 'agency')
need no new column.

Revision ID: 0019
Revises: 0018
"""
import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

KEPT = "credentials_until IS NOT NULL"
SHOWN_FOR = timedelta(hours=24)


def upgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credentials_until', sa.DateTime(), nullable=True))
    op.create_index('ix_hosted_accounts_credentials_until', 'hosted_accounts', ['credentials_until'],
                    sqlite_where=sa.text(KEPT), postgresql_where=sa.text(KEPT))
    _passwords_kept_before()


def _passwords_kept_before():
    bind = op.get_bind()
    operations = sa.table('operations', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                          sa.column('subject_type', sa.String), sa.column('subject_id', sa.Integer),
                          sa.column('agency_id', sa.Integer), sa.column('result', sa.JSON))
    accounts = sa.table('hosted_accounts', sa.column('id', sa.Integer), sa.column('agency_id', sa.Integer),
                        sa.column('status', sa.String), sa.column('cancelled_at', sa.DateTime),
                        sa.column('detached_at', sa.DateTime), sa.column('provisioned_at', sa.DateTime),
                        sa.column('credentials_until', sa.DateTime))
    rows = bind.execute(
        sa.select(operations.c.id, operations.c.agency_id, operations.c.result, accounts.c.id.label('account_id'),
                  accounts.c.agency_id.label('account_agency_id'), accounts.c.status, accounts.c.cancelled_at,
                  accounts.c.detached_at, accounts.c.provisioned_at)
        .select_from(operations.join(accounts, sa.and_(operations.c.subject_type == 'account',
                                                       operations.c.subject_id == accounts.c.id)))
        .where(operations.c.kind == 'provision_account',
               sa.cast(operations.c.result, sa.Text).contains('"password"'))).all()
    now = datetime.utcnow()  # stored naive UTC, as the app's UTCDateTime does
    for row in rows:
        result = row.result if isinstance(row.result, dict) else json.loads(row.result or "{}")
        if "password" not in result:
            continue
        open_ = (row.status in ('provisioning', 'active', 'disabled') and row.cancelled_at is None
                 and row.detached_at is None and row.agency_id == row.account_agency_id)
        # Still being set up: its activation restarts the 24 hours.
        until = row.provisioned_at + SHOWN_FOR if row.provisioned_at is not None else (
            now + SHOWN_FOR if row.status == 'provisioning' else None)
        if open_ and until is not None and until > now:
            bind.execute(sa.update(accounts).where(accounts.c.id == row.account_id).values(credentials_until=until))
        else:
            bind.execute(sa.update(operations).where(operations.c.id == row.id)
                         .values(result={k: v for k, v in result.items() if k != 'password'}))


def downgrade():
    op.drop_index('ix_hosted_accounts_credentials_until', table_name='hosted_accounts')
    # Plain ALTER TABLE ... DROP COLUMN (as 0018): a batch rebuild of hosted_accounts would drop the
    # search-index triggers of revision 0002.
    op.drop_column('hosted_accounts', 'credentials_until')
