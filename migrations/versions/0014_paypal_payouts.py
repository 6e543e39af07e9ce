"""PayPal Payouts beside the sandbox (issue 20, C3): a payout remembers its batch at the payout service
(PayPal's payout_batch_id and item, the item's status as last seen, when it was checked), which try it
is (a new batch only after a failed one), and when it is tried again.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('batch_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('item_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('item_status', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('checked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_payouts_status', ['status'])


def downgrade():
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index('ix_payouts_status')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('checked_at')
        batch_op.drop_column('item_status')
        batch_op.drop_column('item_id')
        batch_op.drop_column('batch_id')
        batch_op.drop_column('attempt')
