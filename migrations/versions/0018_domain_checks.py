"""Custom domains kept honest (issue 22, A9): verified domains re-checked daily, flagged, and stopped after a grace.

Per hosted account: the last daily check of its verified domain, since when it does not point at the
platform and what its CNAME says, when it stops (or stopped) serving, and the domain that stopped.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

COLUMNS = ('custom_domain_checked_at', 'custom_domain_failing_since', 'custom_domain_found',
           'custom_domain_stopped', 'custom_domain_stops_at')


def upgrade():
    # Plain ALTER TABLE ... ADD COLUMN on both databases: nothing else of hosted_accounts changes.
    op.add_column('hosted_accounts', sa.Column('custom_domain_checked_at', sa.DateTime(), nullable=True))
    op.add_column('hosted_accounts', sa.Column('custom_domain_failing_since', sa.DateTime(), nullable=True))
    op.add_column('hosted_accounts', sa.Column('custom_domain_found', sa.String(length=600), nullable=True))
    op.add_column('hosted_accounts', sa.Column('custom_domain_stopped', sa.String(length=253), nullable=True))
    op.add_column('hosted_accounts', sa.Column('custom_domain_stops_at', sa.DateTime(), nullable=True))


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ too): a batch rebuild of hosted_accounts would take the
    # search-index triggers of revision 0002 with it, and none of these columns is indexed or constrained.
    for name in reversed(COLUMNS):
        op.drop_column('hosted_accounts', name)
