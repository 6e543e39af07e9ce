"""A real card processor beside the sandbox (issue 20): the Stripe Customer a card is attached to; the card
forms shown under a processor that collects the card itself, each with a single-use state; the processor's
webhook events, each kept once; and what an invoice learns later from the processor (a refund made in its
dashboard, a dispute).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('billing_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gateway_customer_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_outside_cents', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('disputed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('dispute_status', sa.String(length=40), nullable=True))
    op.create_table(
        'card_setups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.Enum('agency_card', 'referral', name='card_setup_purpose', native_enum=False,
                                     create_constraint=True, length=11), nullable=False),
        sa.Column('gateway', sa.String(length=20), nullable=False),
        sa.Column('setup_ref', sa.String(length=80), nullable=False),
        sa.Column('customer_ref', sa.String(length=64), nullable=True),
        sa.Column('state_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('setup_ref'),
        sa.UniqueConstraint('state_hash'),
    )
    op.create_index('ix_card_setups_agency_id', 'card_setups', ['agency_id'])
    op.create_table(
        'gateway_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('event_id', sa.String(length=100), nullable=False),
        sa.Column('type', sa.String(length=80), nullable=False),
        sa.Column('invoice_id', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.String(length=200), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('provider', 'event_id'),
    )
    op.create_index('ix_gateway_events_invoice_id', 'gateway_events', ['invoice_id'])


def downgrade():
    op.drop_index('ix_gateway_events_invoice_id', table_name='gateway_events')
    op.drop_table('gateway_events')
    op.drop_index('ix_card_setups_agency_id', table_name='card_setups')
    op.drop_table('card_setups')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_column('dispute_status')
        batch_op.drop_column('disputed_at')
        batch_op.drop_column('refunded_outside_cents')
    with op.batch_alter_table('billing_profiles', schema=None) as batch_op:
        batch_op.drop_column('gateway_customer_id')
