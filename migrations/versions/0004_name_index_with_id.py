"""Resold tab: the name index carries the id, so a page sorted by name is read from the index
alone on PostgreSQL too (it has no implicit rowid).

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_hosted_accounts_resold_name')
        batch_op.create_index('ix_hosted_accounts_resold_name', ['agency_id', 'kind', 'name', 'id', 'status', 'plan_term'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('hosted_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_hosted_accounts_resold_name')
        batch_op.create_index('ix_hosted_accounts_resold_name', ['agency_id', 'kind', 'name', 'status', 'plan_term'],
                              unique=False)
