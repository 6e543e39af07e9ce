"""An invoice keeps the gateway's code of its last decline, so the decline is told in the reader's language
by its code rather than by matching the gateway's English message.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('invoices', sa.Column('decline_code', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('decline_code')
